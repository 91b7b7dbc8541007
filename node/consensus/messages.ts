// Consensus wire messages (gossip on the consensus topic) and block-sync messages: positional
// msgpack tuples, decoded strictly (any malformed message is a ConsensusMessageError, which the
// network counts against the peer that sent it).
import { pack, unpack } from '../core/codec.ts'
import { blockHash, bodyMismatch, commitHash, decodeBlock, encodeBlock, evidenceHash, proposalSignBytes, voteSignBytes, EMPTY_HASH, VOTE_PRECOMMIT, VOTE_PREVOTE, type Block } from '../core/block.ts'
import { bytesEqual, sha256, sha256Once, sha256All, toHexUpper } from '../core/crypto.ts'

export const MSG_PROPOSAL = 1
export const MSG_VOTE = 2
/** A proposal that carries its block's tx hashes instead of its txs (peers hold most of them already). */
export const MSG_PROPOSAL_TX_HASHES = 3
/** Tx hashes one proposal may carry (a block holds fewer: max_block_txs and max_block_bytes bound it). */
export const MAX_PROPOSAL_TX_HASHES = 100_000

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
  /** The block's encoding when it arrived as such (encodeProposal encodes the block otherwise). */
  blockBytes?: Uint8Array
  block: Block
  hash: string
  timestamp: number
  validator: Uint8Array
  signature: Uint8Array
}

/**
 * A proposal as sent on the wire with tx hashes: the block without its txs (the "skeleton": its
 * header, evidence and last commit) and the hashes of its txs in order. The skeleton's data_hash
 * is checked against the hashes at decoding, so any tx bytes whose sha256 is a listed hash are the
 * block's; the receiver takes them from its mempool and fetches the rest from the peer that sent it.
 */
export interface TxHashProposal extends Omit<SignedProposal, 'block' | 'blockBytes'> {
  skeleton: Block
  txHashes: Uint8Array[]
}

export function voteTuple (v: SignedVote): unknown[] {
  return [MSG_VOTE, v.type, v.height, v.round, v.blockHash, v.timestamp, v.validator, v.signature]
}
export function encodeVote (v: SignedVote): Uint8Array { return pack(voteTuple(v)) }
export function encodeProposal (p: SignedProposal): Uint8Array {
  return pack([MSG_PROPOSAL, p.height, p.round, p.polRound, p.blockBytes ?? encodeBlock(p.block), p.timestamp, p.validator, p.signature])
}

/** The proposal with tx hashes for a signed proposal (what a proposer publishes). */
export function encodeTxHashProposal (p: SignedProposal): Uint8Array {
  const skeleton = encodeBlock({ ...p.block, txs: [] })
  return pack([MSG_PROPOSAL_TX_HASHES, p.height, p.round, p.polRound, skeleton, p.block.txs.map(t => sha256(t)), p.timestamp, p.validator, p.signature])
}

/**
 * The full proposal once every tx of a proposal with hashes is at hand (txs[i] must hash to
 * txHashes[i]; a ConsensusMessageError says which does not).
 */
export function completeProposal (c: TxHashProposal, txs: Uint8Array[]): SignedProposal {
  if (txs.length !== c.txHashes.length) throw new ConsensusMessageError(`${txs.length} txs for ${c.txHashes.length} hashes`)
  for (const [i, t] of txs.entries()) if (!bytesEqual(sha256Once(t), c.txHashes[i])) throw new ConsensusMessageError(`tx ${i} does not hash to the proposal's tx hash`)
  const block: Block = { ...c.skeleton, txs }
  const { skeleton: _s, txHashes: _h, ...rest } = c
  return { ...rest, block }
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

export type ConsensusMessage = { kind: 'proposal', p: SignedProposal } | { kind: 'tx-hashes', c: TxHashProposal } | { kind: 'vote', v: SignedVote }

export function decodeConsensusMessage (bytes: Uint8Array): ConsensusMessage {
  let t: unknown
  try { t = unpack(bytes) } catch (e) { throw new ConsensusMessageError(`not msgpack: ${(e as Error).message}`) }
  if (!Array.isArray(t)) throw new ConsensusMessageError('not a tuple')
  if (t[0] === MSG_VOTE) return { kind: 'vote', v: voteFromTuple(t) }
  if (t[0] === MSG_PROPOSAL_TX_HASHES) return { kind: 'tx-hashes', c: txHashProposalFromTuple(t) }
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

function txHashProposalFromTuple (t: unknown[]): TxHashProposal {
  if (t.length !== 9) throw new ConsensusMessageError('bad proposal with tx hashes')
  const [, height, round, polRound, skeletonBytes, hashes, ts, validator, sig] = t
  if (!isInt(height, 1) || !isInt(round) || !isInt(polRound, -1) || !isInt(ts)) throw new ConsensusMessageError('bad proposal height, round or time')
  if (!isBytes(skeletonBytes) || !isBytes(validator, 20) || !isBytes(sig, 64)) throw new ConsensusMessageError('bad proposal fields')
  if (!Array.isArray(hashes) || hashes.length > MAX_PROPOSAL_TX_HASHES || !hashes.every(h => isBytes(h, 32))) throw new ConsensusMessageError('bad proposal tx hashes')
  let skeleton: Block
  try { skeleton = decodeBlock(u8(skeletonBytes)) } catch (e) { throw new ConsensusMessageError(`proposal block does not decode: ${(e as Error).message}`) }
  if (skeleton.txs.length !== 0) throw new ConsensusMessageError('a proposal with tx hashes carries no txs')
  if (skeleton.header.height !== height) throw new ConsensusMessageError('proposal height differs from its block')
  const txHashes = (hashes as Uint8Array[]).map(u8)
  // The header commits to the hashes (data_hash is sha256 over them): checked before anything is fetched.
  const data = txHashes.length === 0 ? EMPTY_HASH : sha256All(txHashes)
  if (!bytesEqual(skeleton.header.dataHash, data)) throw new ConsensusMessageError('proposal block: data_hash does not match the tx hashes')
  if (!bytesEqual(skeleton.header.evidenceHash, evidenceHash(skeleton.evidence))) throw new ConsensusMessageError('proposal block: evidence_hash does not match the evidence')
  if (!bytesEqual(skeleton.header.lastCommitHash, commitHash(skeleton.lastCommit))) throw new ConsensusMessageError('proposal block: last_commit_hash does not match last_commit')
  return { height, round, polRound, skeleton, txHashes, hash: toHexUpper(blockHash(skeleton.header)), timestamp: ts, validator: u8(validator), signature: u8(sig) }
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
/** The txs of a proposal by hash (a receiver of a proposal with tx hashes fetches what it lacks). */
export const SYNC_TXS = 3
/** Hashes one txs request may name. */
export const MAX_TXS_REQUEST = 10_000

export type SyncRequest = { kind: 'status' } | { kind: 'blocks', from: number, count: number } | { kind: 'txs', hashes: Uint8Array[] }

export function encodeSyncRequest (r: SyncRequest): Uint8Array {
  return pack(r.kind === 'status' ? [SYNC_STATUS] : r.kind === 'blocks' ? [SYNC_BLOCKS, r.from, r.count] : [SYNC_TXS, r.hashes])
}

/** The answer to a txs request: for each hash asked, in order, its tx bytes, or null when not held; it may stop early (size). */
export function decodeTxsAnswer (b: Uint8Array): Array<Uint8Array | null> {
  let t: unknown
  try { t = unpack(b) } catch { throw new ConsensusMessageError('txs answer is not msgpack') }
  if (!Array.isArray(t) || !t.every(x => x === null || isBytes(x))) throw new ConsensusMessageError('txs answer is not a list of txs')
  return t.map(x => x === null ? null : u8(x as Uint8Array))
}

export function decodeSyncRequest (b: Uint8Array): SyncRequest {
  let t: unknown
  try { t = unpack(b) } catch { throw new ConsensusMessageError('sync request is not msgpack') }
  if (!Array.isArray(t)) throw new ConsensusMessageError('sync request is not a tuple')
  if (t[0] === SYNC_STATUS && t.length === 1) return { kind: 'status' }
  if (t[0] === SYNC_BLOCKS && t.length === 3 && isInt(t[1], 1) && isInt(t[2], 1)) return { kind: 'blocks', from: t[1], count: Math.min(t[2], 500) }
  if (t[0] === SYNC_TXS && t.length === 2 && Array.isArray(t[1]) && t[1].length <= MAX_TXS_REQUEST && t[1].every(h => isBytes(h, 32))) return { kind: 'txs', hashes: (t[1] as Uint8Array[]).map(u8) }
  throw new ConsensusMessageError('unknown sync request')
}
