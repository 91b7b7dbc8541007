// Strict decoders for the fields of a transaction tuple. Each names the field it rejects: a
// float where an integer belongs, a negative or too large integer, a wrong type or length, an
// address or id in the wrong form. Used by the tx envelope and by every tx type's body codec.
import type { MsgValue } from './codec.ts'
import { isAddress } from './crypto.ts'
import { TxError } from './errors.ts'
import { MAX_AMOUNT } from './amount.ts'
import { JOB_ID_RE } from './ids.ts'

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * A uint for packing: msgpackr writes a JS number of 2^32 or more as a float64, which a strict
 * decoder refuses where an integer belongs; as a bigint it writes an int64. Smaller values keep
 * their shortest form.
 */
export function uint (n: number): number | bigint { return n < 0x1_0000_0000 ? n : BigInt(n) }

export function optUint (n: number | null): number | bigint | null { return n === null ? null : uint(n) }

export function bad (message: string): never { throw new TxError('TX_DECODE', message) }

export function asStr (v: MsgValue, what: string): string {
  if (typeof v !== 'string') bad(`${what} is not a string`)
  return v
}
export function asUint (v: MsgValue, what: string): bigint {
  if (typeof v === 'number') bad(`${what}: a float where an integer belongs`)
  if (typeof v !== 'bigint') bad(`${what} is not an integer`)
  if (v < 0n) bad(`${what}: negative integer where a uint belongs`)
  return v
}
/** A uaitbc amount: a uint that fits int64. */
export function asAmount (v: MsgValue, what: string): bigint {
  const a = asUint(v, what)
  if (a > MAX_AMOUNT) throw new TxError('INVALID_AMOUNT', `${what} overflows int64`)
  return a
}
/** A uint that is a safe JavaScript integer (counts, nonces, milliseconds). */
export function asSmall (v: MsgValue, what: string): number {
  const a = asUint(v, what)
  if (a > MAX_SAFE) bad(`${what} is too large`)
  return Number(a)
}
export function asBin (v: MsgValue, len: number, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`${what} is not binary`)
  if (v.length !== len) bad(`${what} is not ${len} bytes`)
  return v
}
/** Binary of any length (the caller bounds it). */
export function asBytes (v: MsgValue, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`${what} is not binary`)
  return v
}
export function asArr (v: MsgValue, len: number, what: string): MsgValue[] {
  if (!Array.isArray(v)) bad(`${what} is not an array`)
  if (v.length !== len) bad(`${what} has the wrong number of elements (${v.length}, expected ${len})`)
  return v
}

/**
 * A tuple that may carry trailing elements added by later versions of the protocol: at least
 * `min` and at most `max` elements; the absent trailing ones read as nil.
 */
export function asArrRange (v: MsgValue, min: number, max: number, what: string): MsgValue[] {
  if (!Array.isArray(v)) bad(`${what} is not an array`)
  if (v.length < min || v.length > max) bad(`${what} has the wrong number of elements (${v.length}, expected ${min === max ? min : `${min} to ${max}`})`)
  return Array.from({ length: max }, (_, i) => v[i] ?? null)
}

/** A tuple for packing without its trailing nils (a body with no new fields keeps its old bytes). */
export function trimTrailing (t: unknown[], min: number): unknown[] {
  let n = t.length
  while (n > min && (t[n - 1] === null || t[n - 1] === undefined)) n--
  return t.slice(0, n)
}
export function asBool (v: MsgValue, what: string): boolean {
  if (typeof v !== 'boolean') bad(`${what} is not a bool`)
  return v
}
/** nil, or the value decoded by f. */
export function opt<T> (v: MsgValue, f: (v: MsgValue) => T): T | null { return v === null ? null : f(v) }
/** A float64, or an integer within the safe range. */
export function asNumber (v: MsgValue, what: string): number {
  if (typeof v === 'bigint') {
    if (v > MAX_SAFE || v < -MAX_SAFE) bad(`${what} is out of range`)
    return Number(v)
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${what} is not a finite number`)
  return v
}
export function asStrList (v: MsgValue, what: string): string[] {
  if (!Array.isArray(v)) bad(`${what} is not an array`)
  return v.map((x, i) => asStr(x, `${what}[${i}]`))
}
export function asAddress (v: MsgValue, what: string): string {
  const s = asStr(v, what)
  if (!isAddress(s)) throw new TxError('INVALID_FIELD', `${what} "${s.slice(0, 100)}" is not a valid aitbc address`)
  return s
}
export function asJobId (v: MsgValue, what: string): string {
  const s = asStr(v, what)
  if (!JOB_ID_RE.test(s)) throw new TxError('INVALID_FIELD', `${what} "${s.slice(0, 100)}" is not a job id (job_ + 16 hex digits)`)
  return s
}
