// Reading a job's live tokens from its assigned miner, for its client (the gateway, aitbc submit
// --stream): GET <endpoint>/v1/jobs/:id/stream, a signed request (node/streamAuth.ts). The client
// connects only to the endpoint the assigned miner lists on chain, http or https only, follows no redirect, and bounds the bytes it reads
// and the time it waits. The miner answers NDJSON: {"token": "..."} lines, then {"end": true}
// when its run ended (or {"error": "..."}).
import { signStreamRequest } from './streamAuth.ts'
import type { SigningKey } from './core/crypto.ts'

export const MAX_STREAM_BYTES = 4 * 1024 * 1024

export type MinerStreamEnd = { kind: 'end' } | { kind: 'closed', why: string } | { kind: 'unreachable', why: string } | { kind: 'not_yet', why: string }

/** How long a reader asks again while the miner has no stream of the job yet (it may not have seen its assignment). */
export const NOT_YET_RETRY_MS = 200

/** The stream URL of a listed endpoint, or null when the endpoint is not a plain http(s) URL. */
export function streamUrl (endpoint: string | null, jobId: string): string | null {
  if (endpoint === null || endpoint === '') return null
  let u: URL
  try { u = new URL(endpoint) } catch { return null }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '') return null
  const base = u.href.endsWith('/') ? u.href.slice(0, -1) : u.href
  return `${base}/v1/jobs/${encodeURIComponent(jobId)}/stream`
}

/**
 * readMinerStream, asked again while the miner answers 404 (it has not yet taken up the job it
 * was assigned) until `stillWaiting` says no (the job is final: the miner would have it by now).
 */
export async function readMinerStreamWhenReady (
  url: string, key: SigningKey, chainId: string, jobId: string, deadline: number, onToken: (t: string) => void, stillWaiting: () => Promise<boolean>, signal?: AbortSignal,
): Promise<MinerStreamEnd> {
  for (let tries = 0; ; tries++) {
    const end = await readMinerStream(url, key, chainId, jobId, deadline, onToken, signal)
    if (end.kind !== 'not_yet') return end
    if (Date.now() + NOT_YET_RETRY_MS > deadline || signal?.aborted === true || (tries > 0 && !(await stillWaiting()))) return { kind: 'unreachable', why: 'the miner has no stream of this job' }
    await new Promise(resolve => setTimeout(resolve, NOT_YET_RETRY_MS))
  }
}

/**
 * Reads the miner's stream, calling onToken for each token; resolves how it ended: 'end' (the
 * miner's end line), 'closed' (the connection ended or broke without it, or sent something
 * else), 'unreachable' (no 200 answer: refused, 403, a redirect, a timeout before the answer),
 * 'not_yet' (404: the miner holds no stream of the job, yet or any more).
 */
export async function readMinerStream (
  url: string, key: SigningKey, chainId: string, jobId: string, deadline: number, onToken: (t: string) => void, signal?: AbortSignal,
): Promise<MinerStreamEnd> {
  const ms = Math.max(1, deadline - Date.now())
  const timeout = AbortSignal.timeout(ms)
  const sig = signal === undefined ? timeout : AbortSignal.any([timeout, signal])
  let res: Response
  try {
    res = await fetch(url, { headers: { ...signStreamRequest(key, chainId, jobId), accept: 'application/x-ndjson' }, redirect: 'error', signal: sig })
  } catch (e) {
    return { kind: 'unreachable', why: (e as Error).message }
  }
  if (res.status === 404) {
    await res.body?.cancel().catch(() => {})
    return { kind: 'not_yet', why: 'the miner has no stream of this job (HTTP 404)' }
  }
  if (res.status !== 200 || res.body === null) {
    await res.body?.cancel().catch(() => {})
    return { kind: 'unreachable', why: `the miner answered HTTP ${res.status}` }
  }
  const reader = res.body.getReader()
  const dec = new TextDecoder('utf-8')
  let buf = ''
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > MAX_STREAM_BYTES) return { kind: 'closed', why: `the miner's stream passed ${MAX_STREAM_BYTES} bytes` }
      buf += dec.decode(value, { stream: true })
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim()
        buf = buf.slice(nl + 1)
        if (line === '') continue
        let msg: unknown
        try { msg = JSON.parse(line) } catch { return { kind: 'closed', why: 'the miner sent a line that is not JSON' } }
        if (msg === null || typeof msg !== 'object') return { kind: 'closed', why: 'the miner sent a line that is not an object' }
        const o = msg as Record<string, unknown>
        if (typeof o.token === 'string') { onToken(o.token); continue }
        if (o.end === true) return { kind: 'end' }
        if (typeof o.error === 'string') return { kind: 'closed', why: `the miner's run failed: ${o.error.slice(0, 200)}` }
        return { kind: 'closed', why: 'the miner sent a line of no known kind' }
      }
    }
    return { kind: 'closed', why: 'the miner closed the stream before its end line' }
  } catch (e) {
    return { kind: 'closed', why: `the miner's stream broke: ${(e as Error).message}` }
  } finally {
    reader.cancel().catch(() => {})
  }
}
