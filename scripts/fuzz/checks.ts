// What the fuzz run holds the node to, for each answer: no HTTP 5xx; every JSON-RPC error has a
// standard code and a short message that names nothing inside the node (no stack trace, no
// source path, no JavaScript error text); no internal error (-32603) for any input at all, but CometBFT's broadcast_tx_commit timeout.
import { ROOT } from '../../test/helpers/procs.ts'
import { Violations } from '../soak/util.ts'

export type FuzzViolationKind = 'crash' | 'http-5xx' | 'bad-error' | 'internal-error' | 'bad-answer' | 'transport' | 'liveness' | 'memory' | 'node-log' | 'p2p'

export class FuzzViolations extends Violations<FuzzViolationKind> {}

/** JSON-RPC 2.0's codes and its server-error range. */
function standardCode (c: unknown): boolean {
  return typeof c === 'number' && Number.isInteger(c) && ([-32700, -32600, -32601, -32602, -32603].includes(c) || (c <= -32000 && c >= -32099))
}

const LEAKS: ReadonlyArray<[RegExp, string]> = [
  [/\n\s*at\s/, 'a stack trace'],
  [/\bat\s+\S+\s+\(?\S+:\d+:\d+\)?/, 'a stack frame'],
  [/node_modules|file:\/\/|\.ts:\d+|\.[cm]?js:\d+/, 'a source path'],
  [new RegExp(ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the node\'s install path'],
  [/\b(TypeError|RangeError|ReferenceError|InternalError)\b|Cannot read propert|is not a function|is not iterable|Maximum call stack/, 'a JavaScript error'],
  [/\b(LEVEL_|ECONNREFUSED|ENOENT|EACCES)\b/, 'an internal error code'],
]

/** Why a text names internals, or null. */
export function leak (text: string): string | null {
  for (const [re, what] of LEAKS) if (re.test(text)) return what
  return null
}

export interface AnswerProblem { kind: FuzzViolationKind, message: string }

/** Checks a JSON-RPC answer (an object, a batch of them, or anything else a server sent). */
export function checkRpcAnswer (body: unknown): AnswerProblem | null {
  if (Array.isArray(body)) {
    for (const b of body) { const p = checkRpcAnswer(b); if (p !== null) return p }
    return null
  }
  if (body === null || typeof body !== 'object') return { kind: 'bad-answer', message: `not a JSON-RPC answer: ${String(body).slice(0, 80)}` }
  const o = body as Record<string, unknown>
  if (o.error === undefined) return o.result === undefined ? { kind: 'bad-answer', message: 'neither result nor error' } : null
  const e = o.error as Record<string, unknown> | null
  if (e === null || typeof e !== 'object') return { kind: 'bad-error', message: 'error is not an object' }
  if (!standardCode(e.code)) return { kind: 'bad-error', message: `error code ${String(e.code)} is not a JSON-RPC code` }
  if (typeof e.message !== 'string' || e.message.length === 0) return { kind: 'bad-error', message: `error ${String(e.code)} has no message` }
  if (e.message.length > 2000) return { kind: 'bad-error', message: `error message of ${e.message.length} characters` }
  const text = e.message + (e.data === undefined ? '' : ' ' + safeText(e.data))
  const l = leak(text)
  if (l !== null) return { kind: 'bad-error', message: `error ${String(e.code)} shows ${l}: ${text.slice(0, 300)}` }
  // CometBFT's own answer when broadcast_tx_commit gives up waiting (a tx with a future nonce now
  // waits in the mempool's queue, so a fuzzed nonce ahead of the sender's ends this way): not a fault.
  if (e.code === -32603 && /^Internal error: timed out waiting for tx [0-9A-F]{64} to be included in a block$/.test(e.message)) return null
  if (e.code === -32603) return { kind: 'internal-error', message: `internal error: ${e.message.slice(0, 200)}` }
  return null
}

/** A non-JSON-RPC body (a 404 page, a 413) must not name internals either. */
export function checkOtherBody (text: string): AnswerProblem | null {
  const l = leak(text)
  return l === null ? null : { kind: 'bad-error', message: `answer shows ${l}: ${text.slice(0, 300)}` }
}

function safeText (v: unknown): string {
  try { return JSON.stringify(v)?.slice(0, 2000) ?? '' } catch { return '' }
}
