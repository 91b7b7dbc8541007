// Signed requests for a job's live token stream (the miner's GET /v1/jobs/:id/stream): only the
// job's client may read it. The client signs, with the ed25519 key that signed its submit_job,
//
//   msgpack(["AITBC/stream/v1", chain_id, job_id, timestamp_ms])
//
// and sends X-Aitbc-Pubkey (hex), X-Aitbc-Timestamp (decimal ms) and X-Aitbc-Signature (hex).
// The miner accepts it when the timestamp is within STREAM_AUTH_WINDOW_MS of its clock, the key is
// the job's client_pubkey on chain and the signature verifies. A captured request replays only
// within the window and only for that job, chain and reader (it reveals nothing the reader could
// not read anyway). Not consensus code: it reads the clock.
import { pack } from 'msgpackr'
import { fromHex, toHex, verifySignature, type SigningKey } from './core/crypto.ts'

export const STREAM_AUTH_DOMAIN = 'AITBC/stream/v1'
export const STREAM_AUTH_WINDOW_MS = 60_000

export const STREAM_HEADERS = { pubkey: 'x-aitbc-pubkey', timestamp: 'x-aitbc-timestamp', signature: 'x-aitbc-signature' } as const

export function streamAuthBytes (chainId: string, jobId: string, timestampMs: number): Uint8Array {
  return new Uint8Array(pack([STREAM_AUTH_DOMAIN, chainId, jobId, timestampMs]))
}

/** The headers of a signed stream request. */
export function signStreamRequest (key: SigningKey, chainId: string, jobId: string, nowMs: number = Date.now()): Record<string, string> {
  const ts = Math.floor(nowMs)
  return {
    [STREAM_HEADERS.pubkey]: toHex(key.publicKey).toLowerCase(),
    [STREAM_HEADERS.timestamp]: String(ts),
    [STREAM_HEADERS.signature]: toHex(key.sign(streamAuthBytes(chainId, jobId, ts))).toLowerCase(),
  }
}

export type StreamAuthFailure = 'missing' | 'malformed' | 'stale' | 'not_client' | 'bad_signature'

/** Checks a stream request's headers against the job's client key; null when it may read. */
export function checkStreamRequest (
  headers: Record<string, string | string[] | undefined>, chainId: string, jobId: string, clientPubkeyHex: string | null, nowMs: number,
): StreamAuthFailure | null {
  const get = (h: string): string | undefined => { const v = headers[h]; return typeof v === 'string' ? v : undefined }
  const pub = get(STREAM_HEADERS.pubkey)
  const ts = get(STREAM_HEADERS.timestamp)
  const sig = get(STREAM_HEADERS.signature)
  if (pub === undefined || ts === undefined || sig === undefined) return 'missing'
  if (!/^[0-9a-fA-F]{64}$/.test(pub) || !/^\d{1,16}$/.test(ts) || !/^[0-9a-fA-F]{128}$/.test(sig)) return 'malformed'
  const t = Number(ts)
  if (Math.abs(nowMs - t) > STREAM_AUTH_WINDOW_MS) return 'stale'
  if (clientPubkeyHex === null || pub.toLowerCase() !== clientPubkeyHex.toLowerCase()) return 'not_client'
  if (!verifySignature(fromHex(pub), streamAuthBytes(chainId, jobId, t), fromHex(sig))) return 'bad_signature'
  return null
}
