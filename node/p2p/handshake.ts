// The /aitbc/handshake/1 message and its checks. Pure: no I/O.
// Wire: one length-prefixed JSON object {chainId, genesisHash, height}.

export const HANDSHAKE_PROTOCOL = '/aitbc/handshake/1'
export const HANDSHAKE_MAX_BYTES = 4096

export interface HandshakeStatus { chainId: string, genesisHash: string, height: number }

export type HandshakeCheck =
  | { ok: true, status: HandshakeStatus }
  | { ok: false, code: 'MALFORMED' | 'CHAIN_ID_MISMATCH' | 'GENESIS_MISMATCH', reason: string }

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

export function encodeHandshake (s: HandshakeStatus): Uint8Array {
  return enc.encode(JSON.stringify({ chainId: s.chainId, genesisHash: s.genesisHash, height: s.height }))
}

/** Decodes a peer's handshake and compares it with ours. Never throws. */
export function checkHandshake (bytes: Uint8Array, ours: { chainId: string, genesisHash: string }): HandshakeCheck {
  let v: unknown
  try {
    v = JSON.parse(dec.decode(bytes))
  } catch {
    return { ok: false, code: 'MALFORMED', reason: 'handshake is not UTF-8 JSON' }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, code: 'MALFORMED', reason: 'handshake is not an object' }
  const { chainId, genesisHash, height } = v as Record<string, unknown>
  if (typeof chainId !== 'string' || chainId.length > 128) return { ok: false, code: 'MALFORMED', reason: 'handshake chainId is not a string' }
  if (typeof genesisHash !== 'string' || genesisHash.length > 256) return { ok: false, code: 'MALFORMED', reason: 'handshake genesisHash is not a string' }
  if (typeof height !== 'number' || !Number.isSafeInteger(height) || height < 0) return { ok: false, code: 'MALFORMED', reason: 'handshake height is not a non-negative integer' }
  if (chainId !== ours.chainId) return { ok: false, code: 'CHAIN_ID_MISMATCH', reason: `chain id ${JSON.stringify(chainId)} differs from ours ${JSON.stringify(ours.chainId)}` }
  if (genesisHash.toLowerCase() !== ours.genesisHash.toLowerCase()) return { ok: false, code: 'GENESIS_MISMATCH', reason: `genesis hash ${genesisHash} differs from ours ${ours.genesisHash}` }
  return { ok: true, status: { chainId, genesisHash, height } }
}
