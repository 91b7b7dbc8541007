// Parameter parsing for RPC methods: each failure is a JSON-RPC -32602 naming the parameter.
import { isAddress } from '../core/crypto.ts'

export class RpcError extends Error {
  constructor (readonly code: number, message: string, readonly data?: unknown) { super(message); this.name = 'RpcError' }
}
export const PARSE_ERROR = -32700
export const INVALID_REQUEST = -32600
export const METHOD_NOT_FOUND = -32601
export const INVALID_PARAMS = -32602
export const INTERNAL_ERROR = -32603

export function invalid (message: string): RpcError { return new RpcError(INVALID_PARAMS, `Invalid params: ${message}`) }

export type Params = Record<string, unknown>

/** Positional params become named by the method's parameter list (CometBFT accepts both). */
export function namedParams (raw: unknown, names: string[]): Params {
  if (raw === undefined || raw === null) return {}
  if (Array.isArray(raw)) {
    if (raw.length > names.length) throw invalid(`too many positional params (${raw.length}), expected at most ${names.length}: ${names.join(', ')}`)
    const o: Params = {}
    raw.forEach((v, i) => { o[names[i]] = v })
    return o
  }
  if (typeof raw !== 'object') throw invalid('params must be an object or an array')
  for (const k of Object.keys(raw)) if (!names.includes(k)) throw invalid(`unknown param ${shown(k)}; this method takes: ${names.length > 0 ? names.join(', ') : 'no params'}`)
  return raw as Params
}

function present (v: unknown): boolean { return v !== undefined && v !== null && v !== '' }

/** A client's value for an error message: bounded, and never JSON.stringify of a structure
 * (a deeply nested one overflows the stack). */
export function shown (v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? v.slice(0, 80) + '...' : v)
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v)
  return Array.isArray(v) ? 'an array' : `a value of type ${typeof v}`
}

export function optInt (p: Params, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = p[name]
  if (!present(v)) return undefined
  const s = typeof v === 'number' ? String(v) : v
  if (typeof s !== 'string' || !/^-?\d+$/.test(s)) throw invalid(`${name} must be an integer, got ${shown(v)}`)
  const n = Number(s)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalid(`${name} must be from ${min} to ${max}, got ${s.length > 40 ? shown(s) : s}`)
  return n
}

export function reqString (p: Params, name: string, maxLen = 4096): string {
  const v = p[name]
  if (typeof v !== 'string' || v.length === 0) throw invalid(`${name} is required (a non-empty string)`)
  if (v.length > maxLen) throw invalid(`${name} is longer than ${maxLen} characters`)
  return v
}

export function optString (p: Params, name: string, maxLen = 4096): string | undefined {
  return present(p[name]) ? reqString(p, name, maxLen) : undefined
}

export function optBool (p: Params, name: string): boolean | undefined {
  const v = p[name]
  if (!present(v)) return undefined
  if (v === true || v === 'true') return true
  if (v === false || v === 'false') return false
  throw invalid(`${name} must be true or false`)
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Bytes from base64 (JSON-RPC) or 0x-hex (URI style). */
export function reqBytes (p: Params, name: string, maxBytes: number): Uint8Array {
  const v = reqString(p, name, Math.ceil(maxBytes * 4 / 3) + 8)
  if (/^0x[0-9a-fA-F]*$/.test(v) && v.length % 2 === 0) return new Uint8Array(Buffer.from(v.slice(2), 'hex'))
  if (!B64.test(v)) throw invalid(`${name} is not valid base64`)
  const b = new Uint8Array(Buffer.from(v, 'base64'))
  if (b.length > maxBytes) throw invalid(`${name} is ${b.length} bytes, more than ${maxBytes}`)
  return b
}

/** A 32-byte hash as upper-case hex, from hex (with or without 0x) or base64. */
export function reqHash (p: Params, name: string): string {
  const v = reqString(p, name, 100)
  const hex = v.startsWith('0x') ? v.slice(2) : v
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return hex.toUpperCase()
  if (B64.test(v)) {
    const b = Buffer.from(v, 'base64')
    if (b.length === 32) return b.toString('hex').toUpperCase()
  }
  throw invalid(`${name} must be a 32-byte hash in hex or base64, got ${JSON.stringify(v.slice(0, 80))}`)
}

export function reqAddress (p: Params, name: string): string {
  const v = reqString(p, name, 200)
  if (!isAddress(v)) throw invalid(`${name} "${v.slice(0, 100)}" is not a valid aitbc address`)
  return v
}

export function optAddress (p: Params, name: string): string | undefined {
  return present(p[name]) ? reqAddress(p, name) : undefined
}

export function paging (p: Params, defPer = 30, maxPer = 100): { page: number, perPage: number } {
  const page = optInt(p, 'page', 1) ?? 1
  const perPage = optInt(p, 'per_page', 1, maxPer) ?? defPer
  return { page, perPage }
}
