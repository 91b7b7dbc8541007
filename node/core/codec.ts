// Canonical bytes. Packing uses msgpackr on positional tuples; decoding of anything signed is a
// strict hand-written msgpack reader that keeps integers and floats apart (msgpackr turns 1.0
// into 1), refuses maps, extensions and trailing bytes, and reports the byte span of every
// element so that a verifier never re-encodes what was signed.
import { Packr } from 'msgpackr'

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, variableMapSize: true })

/** msgpack bytes of a value (tuples for anything signed or hashed; records for storage). */
export function pack (value: unknown): Uint8Array {
  const b = packr.pack(value)
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/** msgpackr decoding for trusted bytes (our own storage). */
export function unpack<T = unknown> (bytes: Uint8Array): T {
  return packr.unpack(bytes) as T
}

/** A strictly decoded msgpack value: integers are bigint, floats are number. */
export type MsgValue = null | boolean | bigint | number | string | Uint8Array | MsgValue[]

export class DecodeError extends Error {
  constructor (message: string) { super(message); this.name = 'DecodeError' }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
const MAX_DEPTH = 8

/** Decodes exactly one msgpack value filling all of `bytes`; returns it and, for a top-level array, each element's byte span. */
export function decodeStrict (bytes: Uint8Array): { value: MsgValue, spans: Array<[number, number]> } {
  const r = new Reader(bytes)
  const spans: Array<[number, number]> = []
  const value = r.read(0, spans)
  if (r.pos !== bytes.length) throw new DecodeError(`trailing bytes after the value (${bytes.length - r.pos} bytes)`)
  return { value, spans }
}

class Reader {
  pos = 0
  private readonly view: DataView
  constructor (private readonly b: Uint8Array) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  }

  private need (n: number): void {
    if (this.pos + n > this.b.length) throw new DecodeError('unexpected end of data')
  }

  private u8 (): number { this.need(1); return this.b[this.pos++] }
  private u16 (): number { this.need(2); const v = this.view.getUint16(this.pos); this.pos += 2; return v }
  private u32 (): number { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; return v }

  private bytes (n: number): Uint8Array {
    this.need(n)
    const v = this.b.subarray(this.pos, this.pos + n)
    this.pos += n
    return v
  }

  private str (n: number): string {
    try {
      return utf8.decode(this.bytes(n))
    } catch (e) {
      if (e instanceof DecodeError) throw e
      throw new DecodeError('string is not valid UTF-8')
    }
  }

  private arr (n: number, depth: number, spans?: Array<[number, number]>): MsgValue[] {
    if (depth >= MAX_DEPTH) throw new DecodeError('nesting too deep')
    if (n > this.b.length - this.pos) throw new DecodeError('array length exceeds the data')
    const out: MsgValue[] = new Array(n)
    for (let i = 0; i < n; i++) {
      const start = this.pos
      out[i] = this.read(depth + 1)
      spans?.push([start, this.pos])
    }
    return out
  }

  read (depth: number, spans?: Array<[number, number]>): MsgValue {
    const t = this.u8()
    if (t <= 0x7f) return BigInt(t)
    if (t >= 0xe0) return BigInt(t - 0x100)
    if (t >= 0xa0 && t <= 0xbf) return this.str(t & 0x1f)
    if (t >= 0x90 && t <= 0x9f) return this.arr(t & 0x0f, depth, spans)
    if (t >= 0x80 && t <= 0x8f) throw new DecodeError('maps are not allowed')
    switch (t) {
      case 0xc0: return null
      case 0xc2: return false
      case 0xc3: return true
      case 0xc4: return this.bytes(this.u8())
      case 0xc5: return this.bytes(this.u16())
      case 0xc6: return this.bytes(this.u32())
      case 0xca: { this.need(4); const v = this.view.getFloat32(this.pos); this.pos += 4; return v }
      case 0xcb: { this.need(8); const v = this.view.getFloat64(this.pos); this.pos += 8; return v }
      case 0xcc: return BigInt(this.u8())
      case 0xcd: return BigInt(this.u16())
      case 0xce: return BigInt(this.u32())
      case 0xcf: { this.need(8); const v = this.view.getBigUint64(this.pos); this.pos += 8; return v }
      case 0xd0: { this.need(1); const v = this.view.getInt8(this.pos); this.pos += 1; return BigInt(v) }
      case 0xd1: { this.need(2); const v = this.view.getInt16(this.pos); this.pos += 2; return BigInt(v) }
      case 0xd2: { this.need(4); const v = this.view.getInt32(this.pos); this.pos += 4; return BigInt(v) }
      case 0xd3: { this.need(8); const v = this.view.getBigInt64(this.pos); this.pos += 8; return v }
      case 0xd9: return this.str(this.u8())
      case 0xda: return this.str(this.u16())
      case 0xdb: return this.str(this.u32())
      case 0xdc: return this.arr(this.u16(), depth, spans)
      case 0xdd: return this.arr(this.u32(), depth, spans)
      case 0xde: case 0xdf: throw new DecodeError('maps are not allowed')
      default: throw new DecodeError(`msgpack type 0x${t.toString(16)} is not allowed`)
    }
  }
}
