// The generator library of the fuzz run: odd values (numbers at the edges, NaN-ish and
// unicode strings, deep and huge structures), JSON text that JSON.stringify cannot write
// (1e999, -0, deep nesting, broken syntax), and mutations of valid encodings at three levels:
// JSON values, bytes, and msgpack tuples (one element replaced, dropped, added or retyped).
import { pack, unpack } from '../../node/core/codec.ts'
import type { Rng } from './rng.ts'

// ------------------------------------------------------------------ numbers and strings

export const EDGE_NUMBERS: readonly number[] = [
  0, -0, 1, -1, 2, 7, 19, 20, 21, 99, 100, 101, 255, 256, 1000, 10_000, 65_535, 65_536,
  2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53 - 1),
  2 ** 64, 1e21, 1e300, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 0.5, 1.5, -0.0001, 1e-7, 3.14159,
]

/** Number-like texts, as parameters and query strings carry them. */
export const NUMBER_TEXTS: readonly string[] = [
  'NaN', 'Infinity', '-Infinity', 'infinity', '1e999', '-1e999', '-0', '0x10', '0b11', '0o7', '1_000', ' 1', '1 ', '+1',
  '01', '00000000000000000001', '1.', '.1', '1e2', '1E+2', '0.0', '١٢٣', '１２', '9'.repeat(400), '-' + '9'.repeat(30),
  '18446744073709551616', '9007199254740993', '-9007199254740993', '4294967296', '1,5', '1/2', 'true', 'null', '',
]

export const ODD_STRINGS: readonly string[] = [
  '', ' ', '\u0000', '\u0000abc', 'abc\u0000', '\ud800', '\udfff', '\ud83d', '😀', '👨‍👩‍👧‍👦', 'e\u0301', '\u202e' + 'abc',
  '\ufeff', '\ufffe', '\uffff', 'ß', 'İ', 'Ω', '𝟘𝟙', 'ﷺ', '\r\n', '\t', '\\', '"', "'", '`', '%00', '%ZZ', '%', '%2e%2e%2f',
  '../../../../etc/passwd', 'C:\\Windows', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf',
  '${7*7}', '{{7*7}}', '%s%s%s%n', "'; DROP TABLE x; --", '<script>alert(1)</script>', 'null', 'undefined', 'true', 'false',
  '[]', '{}', '0x', '0x0', '0xzz', 'AND', 'EXISTS', 'CONTAINS', 'tm.event', "tm.event='NewBlock'", 'aitbc1', 'job_', 'receipt_',
]

export function edgeNumber (rng: Rng): number {
  return rng.weighted([
    [6, () => rng.pick(EDGE_NUMBERS)],
    [2, () => rng.pick(EDGE_NUMBERS) * rng.pick([-1, 1]) + rng.pick([-1, 0, 1])],
    [1, () => rng.range(-1000, 1000)],
    [1, () => (rng.float() - 0.5) * 10 ** rng.range(0, 30)],
  ] as const)()
}

/** A random string of some alphabet: ASCII, control characters, any code unit, astral characters. */
export function randomString (rng: Rng, maxLen = 64): string {
  const n = rng.length(maxLen)
  const alphabet = rng.int(4)
  let s = ''
  for (let i = 0; i < n; i++) {
    if (alphabet === 0) s += String.fromCharCode(rng.range(0x20, 0x7e))
    else if (alphabet === 1) s += String.fromCharCode(rng.int(0x20))
    else if (alphabet === 2) s += String.fromCharCode(rng.int(0x10000))
    else s += String.fromCodePoint(rng.range(0x10000, 0x10ffff))
  }
  return s
}

export function oddString (rng: Rng): string {
  return rng.weighted([
    [5, () => rng.pick(ODD_STRINGS)],
    [3, () => rng.pick(NUMBER_TEXTS)],
    [3, () => randomString(rng)],
    [1, () => rng.pick(['a', '0', '😀', '\u0000', '%']).repeat(rng.pick([100, 1025, 4097, 10_000, 100_000]))],
  ] as const)()
}

/** A string changed a little: a character replaced, inserted, dropped or case-flipped, cut, doubled, wrapped. */
export function mutateString (rng: Rng, s: string): string {
  const i = s.length === 0 ? 0 : rng.int(s.length)
  return rng.weighted([
    [3, () => s.slice(0, i) + String.fromCharCode(rng.range(0x20, 0x7e)) + s.slice(i + 1)],
    [2, () => s.slice(0, i) + rng.pick(ODD_STRINGS) + s.slice(i)],
    [2, () => s.slice(0, i) + s.slice(i + 1)],
    [1, () => s.slice(0, i)],
    [1, () => s.toUpperCase()],
    [1, () => s + s],
    [1, () => ` ${s} `],
    [1, () => `"${s}"`],
    [1, () => `0x${s}`],
    [1, () => s.repeat(rng.range(2, 200))],
  ] as const)()
}

// ------------------------------------------------------------------ JSON

/** A JSON token written as is (JSON.stringify cannot write 1e999, -0 or a 10,000-deep array). */
export class RawJson { constructor (readonly text: string) {} }

/** JSON text of a value that may hold RawJson tokens; keys in insertion order, duplicates allowed through RawJson. */
export function jsonText (v: unknown): string {
  if (v instanceof RawJson) return v.text
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${jsonText(x)}`).join(',')}}`
  if (v === undefined) return 'null'
  return JSON.stringify(v) ?? 'null'
}

export function deepJson (rng: Rng): RawJson {
  const depth = rng.pick([50, 500, 5000, 20_000, 100_000])
  const [open, close] = rng.pick([['[', ']'], ['{"a":', '}'], ['[{"a":', '}]']])
  return new RawJson(open.repeat(depth) + rng.pick(['1', '"x"', 'null', '[]']) + close.repeat(depth))
}

/** Any JSON value, odd more often than not. */
export function oddJson (rng: Rng, depth = 0): unknown {
  return rng.oneOf<unknown>([
    [4, () => edgeNumber(rng)],
    [4, () => oddString(rng)],
    [2, () => new RawJson(rng.pick(['1e999', '-1e999', '-0', '1E400', '0.000000000000000000000000000001', '123456789012345678901234567890', '-0.0', '1e-400']))],
    [1, () => rng.pick([true, false, null])],
    [depth < 3 ? 2 : 0, () => Array.from({ length: rng.length(20) }, () => oddJson(rng, depth + 1))],
    [depth < 3 ? 2 : 0, () => Object.fromEntries(Array.from({ length: rng.length(8) }, () => [rng.chance(0.5) ? rng.pick(ODD_STRINGS) : randomString(rng, 12), oddJson(rng, depth + 1)]))],
    [depth === 0 ? 1 : 0, () => deepJson(rng)],
    [depth === 0 ? 1 : 0, () => Array.from({ length: rng.pick([1000, 10_000, 60_000]) }, () => rng.int(10))],
  ])
}

/** A JSON value changed: a valid one mutated by its type, or replaced by an odd one. */
export function mutateJson (rng: Rng, v: unknown): unknown {
  if (rng.chance(0.3)) return oddJson(rng)
  if (typeof v === 'string') return rng.chance(0.8) ? mutateString(rng, v) : (Number.isFinite(Number(v)) && v !== '' ? Number(v) : [v])
  if (typeof v === 'number') return rng.oneOf<unknown>([[3, () => v + rng.pick([-1, 1, 0.5, 2 ** 53])], [2, () => String(v)], [1, () => -v], [1, () => [v]], [1, () => ({ v })]])
  if (typeof v === 'boolean') return rng.pick([!v, String(v), Number(v), [v]])
  return oddJson(rng)
}

/** JSON text broken: cut, a byte flipped, a token inserted, quotes or brackets unbalanced, a BOM, comments, trailing commas. */
export function breakJsonText (rng: Rng, text: string): string {
  const i = text.length === 0 ? 0 : rng.int(text.length)
  return rng.weighted([
    [3, () => text.slice(0, i)],
    [2, () => text.slice(0, i) + String.fromCharCode(rng.int(128)) + text.slice(i + 1)],
    [2, () => text.slice(0, i) + rng.pick(['"', '{', '}', '[', ']', ',', ':', '\\', '\u0000', 'NaN', 'undefined', '//c\n', '/*', "'"]) + text.slice(i)],
    [1, () => '\ufeff' + text],
    [1, () => text.replace(/}$/, ',}')],
    [1, () => text + text],
    [1, () => text.replace(/"/g, "'")],
    [1, () => rng.pick(['', ' ', 'null', '1', '"x"', 'true', '[', '{', '[]', '{}', '[[]]', '[null]', '[1,2,3]'])],
    [1, () => randomString(rng, 200)],
  ] as const)()
}

// ------------------------------------------------------------------ bytes and msgpack

export function mutateBytes (rng: Rng, b: Uint8Array): Uint8Array {
  const out = Uint8Array.from(b)
  const i = b.length === 0 ? 0 : rng.int(b.length)
  return rng.weighted([
    [4, () => { if (out.length > 0) out[i] ^= 1 << rng.int(8); return out }],
    [2, () => { if (out.length > 0) out[i] = rng.pick([0x00, 0xff, 0x7f, 0x80, 0xc0, 0xc1, 0xcf, 0xd3, 0xdc, 0xdd, 0xde, 0xc4, 0xc6, 0xd9, 0xdb]); return out }],
    [2, () => out.subarray(0, i)],
    [1, () => concat(out.subarray(0, i), rng.bytes(rng.length(64)), out.subarray(i))],
    [1, () => concat(out.subarray(0, i), out.subarray(Math.min(out.length, i + rng.range(1, 16))))],
    [1, () => concat(out, rng.bytes(rng.range(1, 8)))],
    [1, () => concat(out, out)],
    [1, () => { for (let k = 0; k < rng.range(2, 10) && out.length > 0; k++) out[rng.int(out.length)] = rng.int(256); return out }],
  ] as const)()
}

export function randomBytes (rng: Rng, max = 2048): Uint8Array { return rng.bytes(rng.length(max)) }

/** A msgpack value of any type, odd more often than not (also what a strict decoder refuses: maps, floats for integers, NaN). */
export function oddMsgValue (rng: Rng, depth = 0): unknown {
  return rng.oneOf<unknown>([
    [4, () => edgeNumber(rng)],
    [2, () => rng.pick([NaN, Infinity, -Infinity, -0, 2n ** 64n - 1n, -(2n ** 63n), 2n ** 53n + 1n, 0n, -1n])],
    [2, () => oddString(rng)],
    [2, () => rng.bytes(rng.pick([0, 1, 19, 20, 21, 31, 32, 33, 63, 64, 65, rng.length(300)]))],
    [1, () => rng.pick([null, true, false, undefined])],
    [depth < 3 ? 2 : 0, () => Array.from({ length: rng.length(12) }, () => oddMsgValue(rng, depth + 1))],
    [depth < 2 ? 1 : 0, () => ({ [rng.pick(['a', '__proto__', 'constructor', '0'])]: oddMsgValue(rng, depth + 1) })],
  ])
}

/** msgpack bytes of a deep nest of arrays (a recursive decoder's stack). */
export function deepMsgpack (rng: Rng): Uint8Array {
  const depth = rng.pick([10, 100, 1000, 100_000])
  const b = new Uint8Array(depth + 1).fill(0x91) // fixarray of one element, nested
  b[depth] = 0xc0
  return b
}

/**
 * A msgpack tuple mutated structurally: one element (at any depth) replaced by an odd value or
 * retyped, dropped, duplicated, or an element appended; falls back to a byte mutation when the
 * bytes are not a tuple.
 */
export function mutateMsgpack (rng: Rng, bytes: Uint8Array): Uint8Array {
  let v: unknown
  try { v = unpack(bytes) } catch { return mutateBytes(rng, bytes) }
  if (!Array.isArray(v) || rng.chance(0.2)) return mutateBytes(rng, bytes)
  const t = v as unknown[]
  // descend into nested tuples sometimes (a tx inside a batch, a body inside a tx)
  let target = t
  while (target.length > 0 && rng.chance(0.3)) {
    const inner = target[rng.int(target.length)]
    if (inner instanceof Uint8Array && rng.chance(0.5)) {
      const idx = target.indexOf(inner)
      target[idx] = mutateMsgpack(rng, inner)
      return safePack(t) ?? mutateBytes(rng, bytes)
    }
    if (!Array.isArray(inner)) break
    target = inner
  }
  const i = target.length === 0 ? 0 : rng.int(target.length)
  rng.weighted([
    [5, () => { target[i] = oddMsgValue(rng) }],
    [2, () => { target[i] = retype(rng, target[i]) }],
    [1, () => { target.splice(i, 1) }],
    [1, () => { target.push(oddMsgValue(rng)) }],
    [1, () => { target.splice(i, 0, target[i]) }],
  ] as const)()
  return safePack(t) ?? mutateBytes(rng, bytes)
}

function retype (rng: Rng, x: unknown): unknown {
  if (typeof x === 'number') return rng.pick([x + 0.5, -x - 1, BigInt(Math.trunc(x)) * 2n ** 32n, String(x), x * 2 ** 40, [x]])
  if (typeof x === 'bigint') return rng.pick([Number(x) + 0.5, -x, x * 2n ** 64n > 2n ** 64n - 1n ? 2n ** 64n - 1n : x * 2n, String(x)])
  if (x instanceof Uint8Array) return rng.pick([Buffer.from(x).toString('hex'), x.subarray(0, Math.max(0, x.length - 1)), concat(x, Uint8Array.of(0)), [x]])
  if (typeof x === 'string') return rng.pick([new TextEncoder().encode(x), mutateString(rng, x), x.length])
  return oddMsgValue(rng)
}

export function safePack (v: unknown): Uint8Array | undefined {
  try { return pack(v) } catch { return undefined }
}

export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
