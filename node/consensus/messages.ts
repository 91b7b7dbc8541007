// Consensus wire messages (gossip on the consensus topic) and block-sync messages: positional
// msgpack tuples, decoded strictly (any malformed message is a ConsensusMessageError, which the
// network counts against the peer that sent it).
import { pack, unpack } from '../core/codec.ts'
import { blockHash, bodyMismatch, decodeBlock, proposalSignBytes, voteSignBytes, VOTE_PRECOMMIT, VOTE_PREVOTE, type Block } from '../core/block.ts'
import { bytesEqual, toHexUpper } from '../core/crypto.ts'

export const MSG_PROPOSAL = 1
export const MSG_VOTE = 2

export class ConsensusMessageError extends Error {
  constructor (message: string) { super(message); this.name = 'ConsensusMessageError' }
}

export interface SignedVote {
  type: number // VOTE_PREVOTE | VOTE_PRECOMMIT
  height: number
  round: number
  blockHash: Uint8Array // empty = nil
  timestamp: number
  validator: Uint8Array // 20-byte address
  signature: Uint8Array
}

export interface SignedProposal {
  height: number
  round: number
  polRound: number
  blockBytes: Uint8Array
  block: Block
  hash: string
  timestamp: number
  validator: Uint8Array
  signature: Uint8Array
}

export function voteTuple (v: SignedVote): unknown[] {
  return [MSG_VOTE, v.type, v.height, v.round, v.blockHash, v.timestamp, v.validator, v.signature]
}
export function encodeVote (v: SignedVote): Uint8Array { return pack(voteTuple(v)) }
export function encodeProposal (p: SignedProposal): Uint8Array {
  return pack([MSG_PROPOSAL, p.height, p.round, p.polRound, p.blockBytes, p.timestamp, p.validator, p.signature])
}

function isInt (v: unknown, min = 0): v is number { return typeof v === 'number' && Number.isSafeInteger(v) && v >= min }
function isBytes (v: unknown, len?: number): v is Uint8Array { return v instanceof Uint8Array && (len === undefined || v.length === len) }
function u8 (b: Uint8Array): Uint8Array { return new Uint8Array(b.buffer, b.byteOffset, b.byteLength) }

export function voteFromTuple (t: unknown): SignedVote {
  if (!Array.isArray(t) || t.length !== 8 || t[0] !== MSG_VOTE) throw new ConsensusMessageError('not a vote')
  const [, type, height, round, hash, ts, validator, sig] = t
  if (type !== VOTE_PREVOTE && type !== VOTE_PRECOMMIT) throw new ConsensusMessageError('bad vote type')
  if (!isInt(height, 1) || !isInt(round) || !isInt(ts)) throw new ConsensusMessageError('bad vote height, round or time')
  if (!isBytes(hash) || (hash.length !== 0 && hash.length !== 32)) throw new ConsensusMessageError('bad vote block hash')
  if (!isBytes(validator, 20) || !isBytes(sig, 64)) throw new ConsensusMessageError('bad vote validator or signature')
  return { type, height, round, blockHash: u8(hash), timestamp: ts, validator: u8(validator), signature: u8(sig) }
}

export type ConsensusMessage = { kind: 'proposal', p: SignedProposal } | { kind: 'vote', v: SignedVote }

export function decodeConsensusMessage (bytes: Uint8Array): ConsensusMessage {
  let t: unknown
  try { t = unpack(bytes) } catch (e) { throw new ConsensusMessageError(`not msgpack: ${(e as Error).message}`) }
  if (!Array.isArray(t)) throw new ConsensusMessageError('not a tuple')
  if (t[0] === MSG_VOTE) return { kind: 'vote', v: voteFromTuple(t) }
  if (t[0] !== MSG_PROPOSAL || t.length !== 8) throw new ConsensusMessageError('unknown consensus message')
  const [, height, round, polRound, blockBytes, ts, validator, sig] = t
  if (!isInt(height, 1) || !isInt(round) || !isInt(polRound, -1) || !isInt(ts)) throw new ConsensusMessageError('bad proposal height, round or time')
  if (!isBytes(blockBytes) || !isBytes(validator, 20) || !isBytes(sig, 64)) throw new ConsensusMessageError('bad proposal fields')
  let block: Block
  try { block = decodeBlock(u8(blockBytes)) } catch (e) { throw new ConsensusMessageError(`proposal block does not decode: ${(e as Error).message}`) }
  if (block.header.height !== height) throw new ConsensusMessageError('proposal height differs from its block')
  // The signature covers the header's hash only: a relay must not be able to swap the body under it.
  const mismatch = bodyMismatch(block)
  if (mismatch !== null) throw new ConsensusMessageError(`proposal block: ${mismatch}`)
  return { kind: 'proposal', p: { height, round, polRound, blockBytes: u8(blockBytes), block, hash: toHexUpper(blockHash(block.header)), timestamp: ts, validator: u8(validator), signature: u8(sig) } }
}

export function voteBytesToSign (chainId: string, v: Omit<SignedVote, 'signature' | 'validator'>): Uint8Array {
  return voteSignBytes(chainId, v.type, v.height, v.round, v.blockHash, v.timestamp)
}
export function proposalBytesToSign (chainId: string, p: { height: number, round: number, hash: Uint8Array, polRound: number, timestamp: number }): Uint8Array {
  return proposalSignBytes(chainId, p.height, p.round, p.hash, p.polRound, p.timestamp)
}

/** Two votes by one validator for one height, round and type on different blocks. */
export function isDuplicateVote (a: SignedVote, b: SignedVote): boolean {
  return a.type === b.type && a.height === b.height && a.round === b.round && bytesEqual(a.validator, b.validator) && !bytesEqual(a.blockHash, b.blockHash)
}

// ---- block sync ----
export const SYNC_STATUS = 1
export const SYNC_BLOCKS = 2

export function encodeSyncRequest (r: { kind: 'status' } | { kind: 'blocks', from: number, count: number }): Uint8Array {
  return pack(r.kind === 'status' ? [SYNC_STATUS] : [SYNC_BLOCKS, r.from, r.count])
}

export function decodeSyncRequest (b: Uint8Array): { kind: 'status' } | { kind: 'blocks', from: number, count: number } {
  let t: unknown
  try { t = unpack(b) } catch { throw new ConsensusMessageError('sync request is not msgpack') }
  if (!Array.isArray(t)) throw new ConsensusMessageError('sync request is not a tuple')
  if (t[0] === SYNC_STATUS && t.length === 1) return { kind: 'status' }
  if (t[0] === SYNC_BLOCKS && t.length === 3 && isInt(t[1], 1) && isInt(t[2], 1)) return { kind: 'blocks', from: t[1], count: Math.min(t[2], 500) }
  throw new ConsensusMessageError('unknown sync request')
}
