// JSON-RPC requests for the HTTP, URI and WebSocket surfaces: every method of node/rpc (and
// names that are not), each parameter from a valid value for its name, a mutation of one, or an
// odd value; positional or named; envelopes broken now and then; batches; broken JSON text.
import { METHODS } from '../../node/rpc/methods.ts'
import { JOB_STATUSES } from '../../node/core/state.ts'
import { toBase64, toHex } from '../../node/core/crypto.ts'
import { RawJson, breakJsonText, edgeNumber, jsonText, mutateJson, oddJson, oddString } from './gen.ts'
import type { Corpus } from './corpus.ts'
import type { Rng } from './rng.ts'

export const WS_METHODS: Record<string, string[]> = { subscribe: ['query'], unsubscribe: ['query'], unsubscribe_all: [] }
const ALL_METHODS: Record<string, string[]> = { ...Object.fromEntries(Object.entries(METHODS).map(([name, d]) => [name, d.params])), ...WS_METHODS }
export const METHOD_NAMES = Object.keys(ALL_METHODS)
const ODD_METHODS = ['', ' ', 'STATUS', 'status ', 'Status', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'rpc.discover', 'aitbc_', 'status\u0000', 'stätus', 'block/1', '../status']

/** A valid value for a parameter, by its name (what a careful client would send). */
export function validParam (rng: Rng, c: Corpus, name: string): unknown {
  const asText = (n: number): unknown => rng.chance(0.5) ? String(n) : n
  switch (name) {
    case 'height': case 'minHeight': case 'maxHeight': return asText(c.nearHeight(rng))
    case 'hash': return c.hash(rng)
    case 'prove': return rng.pick([true, false, 'true', 'false'])
    case 'page': return asText(rng.range(1, 3))
    case 'per_page': return asText(rng.pick([1, 10, 30, 100]))
    case 'limit': return asText(rng.pick([1, 30, 100]))
    case 'order_by': return rng.pick(['asc', 'desc'])
    case 'query': return c.query(rng)
    case 'tx': return rng.chance(0.8) ? toBase64(c.tx(rng)) : '0x' + toHex(c.tx(rng))
    case 'path': return rng.pick([`/account/${rng.pick(c.addresses)}`, `/job/${rng.pick(c.jobIds)}`, `/miner/${rng.pick(c.addresses)}`, `/receipt/receipt_${'0'.repeat(16)}`])
    case 'data': return toHex(rng.bytes(rng.int(40)))
    case 'address': case 'client': case 'miner': return rng.pick(c.addresses)
    case 'job_id': case 'id': return rng.pick(c.jobIds)
    case 'status': return rng.pick(JOB_STATUSES)
    case 'model': return rng.pick(['llama3.2:1b', 'qwen2.5:0.5b', 'x'])
    default: return oddJson(rng)
  }
}

function paramValue (rng: Rng, c: Corpus, name: string): unknown {
  return rng.weighted([
    [4, () => validParam(rng, c, name)],
    [3, () => mutateJson(rng, validParam(rng, c, name))],
    [3, () => oddJson(rng)],
  ] as const)()
}

export interface RpcCall { method: string, params: Record<string, unknown> }

/** A method and its parameters (named), most of them plausible. */
export function rpcCall (rng: Rng, c: Corpus, methods: readonly string[] = METHOD_NAMES): RpcCall {
  const method = rng.chance(0.03) ? rng.pick(ODD_METHODS) : rng.pick(methods)
  const names = Object.hasOwn(ALL_METHODS, method) ? ALL_METHODS[method] : []
  const params: Record<string, unknown> = {}
  for (const n of names) if (rng.chance(0.6)) params[n] = paramValue(rng, c, n)
  if (rng.chance(0.05)) params[rng.chance(0.5) ? oddString(rng) : 'unknown'] = oddJson(rng)
  return { method, params }
}

/** A whole JSON-RPC request as a JSON value (RawJson tokens allowed). */
export function rpcRequest (rng: Rng, c: Corpus, methods?: readonly string[]): unknown {
  const { method, params } = rpcCall(rng, c, methods)
  const names = Object.keys(params)
  const p: unknown = rng.weighted([
    [6, () => params],
    [2, () => names.length === 0 ? [] : Object.values(params)],
    [1, () => undefined],
    [1, () => oddJson(rng)],
  ] as const)()
  const req: Record<string, unknown> = { jsonrpc: '2.0', id: rng.int(1e6), method }
  if (p !== undefined) req.params = p
  if (rng.chance(0.15)) {
    rng.weighted([
      [2, () => { req.id = oddJson(rng) }],
      [1, () => { delete req.id }],
      [1, () => { req.jsonrpc = rng.pick(['1.0', '2', 2, null, '']) }],
      [1, () => { delete req.jsonrpc }],
      [1, () => { req.method = oddJson(rng) }],
      [1, () => { delete req.method }],
      [1, () => { req[rng.pick(['__proto__', 'extra', 'result', 'error'])] = oddJson(rng) }],
      [1, () => { req.id = new RawJson(rng.pick(['1e999', '-0', '1.5', '123456789012345678901234567890'])) }],
    ] as const)()
  }
  return req
}

/** The text of a POST body or WebSocket frame: one request, a batch, another JSON value, or broken JSON. */
export function rpcPayloadText (rng: Rng, c: Corpus, methods?: readonly string[]): string {
  const payload: unknown = rng.weighted([
    [80, () => rpcRequest(rng, c, methods)],
    [10, () => Array.from({ length: rng.pick([0, 1, 2, 5, 10, 11, 50]) }, () => rng.chance(0.9) ? rpcRequest(rng, c, methods) : oddJson(rng))],
    [4, () => oddJson(rng)],
  ] as const)()
  const text = jsonText(payload)
  return rng.chance(0.08) ? breakJsonText(rng, text) : text
}

/** A URI-style query value for a parameter: plain, quoted (as CometBFT's URI form takes strings), or odd. */
export function uriValue (rng: Rng, c: Corpus, name: string): string {
  const v = paramValue(rng, c, name)
  const s = typeof v === 'string' ? v : jsonText(v)
  return rng.weighted([
    [5, () => uriEncode(s)],
    [2, () => uriEncode(`"${s}"`)],
    [1, () => s.replace(/[^\x21-\x7e]/g, ch => uriEncode(ch))], // raw: only what HTTP cannot carry is escaped
    [1, () => rng.pick(['%', '%Z', '%ZZ', '%00', '%ff%fe', '%ED%A0%80', '%C0%AF', '+', '&', '=', '%26', '%3D', '[]', '[0]=1']) + uriEncode(String(edgeNumber(rng)))],
  ] as const)()
}

/** encodeURIComponent, except that a lone surrogate (which it refuses) goes out as its 3 raw bytes (%ED%A0%80: not UTF-8). */
export function uriEncode (s: string): string {
  let out = ''
  for (const ch of s) {
    const c = ch.charCodeAt(0)
    out += ch.length === 1 && c >= 0xd800 && c <= 0xdfff ? `%ED%${(0x80 + ((c >> 6) & 0x3f)).toString(16).toUpperCase()}%${(0x80 + (c & 0x3f)).toString(16).toUpperCase()}` : encodeURIComponent(ch)
  }
  return out
}
