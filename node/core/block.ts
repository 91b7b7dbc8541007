// Blocks, votes and commits, CometBFT-shaped. Every signed or hashed thing is a positional tuple
// packed by msgpackr. Consensus code uses these types without knowing what the txs mean.
import { pack, unpack } from './codec.ts'
import { concatBytes, sha256, sha256Once, sha256All, sha256Concat, utf8Bytes, verifySignature, addressBytesFromPubkey, bytesEqual, toHexUpper } from './crypto.ts'

export interface Header {
  chainId: string
  height: number
  /** ms since the epoch */
  time: number
  lastBlockHash: Uint8Array
  lastCommitHash: Uint8Array
  dataHash: Uint8Array
  validatorsHash: Uint8Array
  nextValidatorsHash: Uint8Array
  consensusHash: Uint8Array
  appHash: Uint8Array
  lastResultsHash: Uint8Array
  evidenceHash: Uint8Array
  proposerAddress: Uint8Array
}

export const BLOCK_ID_FLAG_ABSENT = 1
export const BLOCK_ID_FLAG_COMMIT = 2
export const BLOCK_ID_FLAG_NIL = 3

export interface CommitSig { blockIdFlag: number, validatorAddress: Uint8Array, timestamp: number, signature: Uint8Array }
export interface Commit { height: number, round: number, blockHash: Uint8Array, signatures: CommitSig[] }

export interface Block {
  header: Header
  txs: Uint8Array[]
  evidence: Uint8Array[]
  lastCommit: Commit | null
}

export interface Validator { address: Uint8Array, pubKey: Uint8Array, power: number, name: string }

export const VOTE_PREVOTE = 1
export const VOTE_PRECOMMIT = 2
export const PROPOSAL_TYPE = 32

const VOTE_DOMAIN = utf8Bytes('AITBC/vote/v1')
const PROPOSAL_DOMAIN = utf8Bytes('AITBC/proposal/v1')
export const EMPTY_HASH = sha256(new Uint8Array(0))

export function headerTuple (h: Header): unknown[] {
  return [h.chainId, h.height, h.time, h.lastBlockHash, h.lastCommitHash, h.dataHash, h.validatorsHash, h.nextValidatorsHash, h.consensusHash, h.appHash, h.lastResultsHash, h.evidenceHash, h.proposerAddress]
}
/** A malformed block or commit (from a peer: never trusted before it is checked). */
export class BlockDecodeError extends Error {
  constructor (message: string) { super(message); this.name = 'BlockDecodeError' }
}

function fail (message: string): never { throw new BlockDecodeError(message) }

/** A safe non-negative integer, however msgpack wrote it (fixint, uint, int64, whole float64). */
function int (v: unknown, what: string): number {
  if (typeof v === 'bigint') {
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} is out of range`)
    return Number(v)
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} is not a non-negative safe integer`)
  return v
}
function bin (v: unknown, what: string, ...lengths: number[]): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(`${what} is not binary`)
  if (lengths.length > 0 && !lengths.includes(v.length)) fail(`${what} is ${v.length} bytes, expected ${lengths.join(' or ')}`)
  return u8(v)
}
function arr (v: unknown, what: string, len?: number): unknown[] {
  if (!Array.isArray(v)) fail(`${what} is not an array`)
  if (len !== undefined && v.length !== len) fail(`${what} has ${v.length} elements, expected ${len}`)
  return v
}

function headerFromTuple (v: unknown): Header {
  const t = arr(v, 'header', 13)
  if (typeof t[0] !== 'string' || t[0].length > 50) fail('header chain_id is not a string of at most 50 characters')
  return {
    chainId: t[0], height: int(t[1], 'header height'), time: int(t[2], 'header time'),
    lastBlockHash: bin(t[3], 'last_block_hash', 0, 32), lastCommitHash: bin(t[4], 'last_commit_hash', 32), dataHash: bin(t[5], 'data_hash', 32),
    validatorsHash: bin(t[6], 'validators_hash', 32), nextValidatorsHash: bin(t[7], 'next_validators_hash', 32), consensusHash: bin(t[8], 'consensus_hash', 32),
    appHash: bin(t[9], 'app_hash', 32), lastResultsHash: bin(t[10], 'last_results_hash', 32), evidenceHash: bin(t[11], 'evidence_hash', 32),
    proposerAddress: bin(t[12], 'proposer_address', 20),
  }
}
function u8 (b: Uint8Array): Uint8Array { return new Uint8Array(b.buffer, b.byteOffset, b.byteLength) }

export function blockHash (h: Header): Uint8Array { return sha256(pack(headerTuple(h))) }

export function commitTuple (c: Commit): unknown[] {
  return [c.height, c.round, c.blockHash, c.signatures.map(s => [s.blockIdFlag, s.validatorAddress, s.timestamp, s.signature])]
}
/** Most signatures a commit may list (far above any validator set this chain allows). */
export const MAX_COMMIT_SIGNATURES = 10_000

function commitFromTuple (v: unknown): Commit {
  const t = arr(v, 'commit', 4)
  const sigs = arr(t[3], 'commit signatures')
  if (sigs.length > MAX_COMMIT_SIGNATURES) fail(`commit lists ${sigs.length} signatures`)
  return {
    height: int(t[0], 'commit height'),
    round: int(t[1], 'commit round'),
    blockHash: bin(t[2], 'commit block hash', 32),
    signatures: sigs.map((x, i) => {
      const s = arr(x, `commit signature ${i}`, 4)
      const flag = int(s[0], `commit signature ${i} flag`)
      if (flag !== BLOCK_ID_FLAG_ABSENT && flag !== BLOCK_ID_FLAG_COMMIT && flag !== BLOCK_ID_FLAG_NIL) fail(`commit signature ${i} has block_id_flag ${flag}`)
      return { blockIdFlag: flag, validatorAddress: bin(s[1], `commit signature ${i} validator`, 20), timestamp: int(s[2], `commit signature ${i} timestamp`), signature: bin(s[3], `commit signature ${i}`, 0, 64) }
    }),
  }
}
export function commitHash (c: Commit | null): Uint8Array { return c === null ? EMPTY_HASH : sha256(pack(commitTuple(c))) }

export function encodeCommit (c: Commit): Uint8Array { return pack(commitTuple(c)) }
/** Decodes a commit, checking every field's type and size (BlockDecodeError). */
export function decodeCommit (b: Uint8Array): Commit { return commitFromTuple(unpackOrFail(b, 'commit')) }

function unpackOrFail (b: Uint8Array, what: string): unknown {
  try { return unpack(b) } catch (e) { fail(`${what} is not msgpack: ${(e as Error).message}`) }
}

export function encodeBlock (b: Block): Uint8Array {
  return pack([headerTuple(b.header), b.txs, b.evidence, b.lastCommit === null ? null : commitTuple(b.lastCommit)])
}
/** Decodes a block, checking every field's type and size (BlockDecodeError); what it means is validateBlock's. */
export function decodeBlock (bytes: Uint8Array): Block {
  const t = arr(unpackOrFail(bytes, 'block'), 'block', 4)
  return {
    header: headerFromTuple(t[0]),
    txs: arr(t[1], 'block txs').map((x, i) => bin(x, `tx ${i}`)),
    evidence: arr(t[2], 'block evidence').map((x, i) => bin(x, `evidence ${i}`)),
    lastCommit: t[3] === null ? null : commitFromTuple(t[3]),
  }
}

/** sha256 over the tx hashes in order (empty: sha256 of nothing). */
export function dataHash (txs: Uint8Array[]): Uint8Array {
  return txs.length === 0 ? EMPTY_HASH : sha256All(txs.map(t => sha256Once(t)))
}

export function evidenceHash (evidence: Uint8Array[]): Uint8Array { return evidence.length === 0 ? EMPTY_HASH : dataHash(evidence) }

/**
 * Why a block's body (txs, evidence, last commit) is not the one its header commits to, or null.
 * A block's hash is its header's: without this, a copy with the same header, hash and proposal
 * signature could carry any other body.
 */
export function bodyMismatch (b: Block): string | null {
  if (!bytesEqual(b.header.dataHash, dataHash(b.txs))) return 'data_hash does not match the txs'
  if (!bytesEqual(b.header.evidenceHash, evidenceHash(b.evidence))) return 'evidence_hash does not match the evidence'
  if (!bytesEqual(b.header.lastCommitHash, commitHash(b.lastCommit))) return 'last_commit_hash does not match last_commit'
  return null
}

export function validatorsHash (vals: Validator[]): Uint8Array {
  return sha256(pack(vals.map(v => [v.address, v.pubKey, v.power])))
}

export function validatorFromPubkey (pubKey: Uint8Array, power: number, name: string): Validator {
  return { address: addressBytesFromPubkey(pubKey), pubKey, power, name }
}

export function voteSignBytes (chainId: string, type: number, height: number, round: number, blockHash: Uint8Array, timestamp: number): Uint8Array {
  return concatBytes(VOTE_DOMAIN, pack([chainId, type, height, round, blockHash, timestamp]))
}
export function proposalSignBytes (chainId: string, height: number, round: number, blockHash: Uint8Array, polRound: number, timestamp: number): Uint8Array {
  return concatBytes(PROPOSAL_DOMAIN, pack([chainId, PROPOSAL_TYPE, height, round, blockHash, polRound, timestamp]))
}

export function totalPower (vals: Validator[]): number { return vals.reduce((s, v) => s + v.power, 0) }

/**
 * Verifies that `commit` carries precommits for `blockHash` from more than 2/3 of the power of
 * `vals`. Returns an error message, or null when the commit is good.
 */
export function verifyCommit (chainId: string, vals: Validator[], commit: Commit, height: number, hash: Uint8Array): string | null {
  if (commit.height !== height) return `commit is for height ${commit.height}, expected ${height}`
  if (!bytesEqual(commit.blockHash, hash)) return 'commit is for another block'
  let power = 0
  const seen = new Set<string>()
  for (const s of commit.signatures) {
    if (s.blockIdFlag !== BLOCK_ID_FLAG_COMMIT) continue
    const v = vals.find(x => bytesEqual(x.address, s.validatorAddress))
    if (v === undefined) return `commit signature from unknown validator ${toHexUpper(s.validatorAddress)}`
    const id = toHexUpper(v.address)
    if (seen.has(id)) return `validator ${id} signed the commit twice`
    seen.add(id)
    if (!verifySignature(v.pubKey, voteSignBytes(chainId, VOTE_PRECOMMIT, height, commit.round, hash, s.timestamp), s.signature)) return `bad commit signature from ${id}`
    power += v.power
  }
  if (power * 3 <= totalPower(vals) * 2) return `commit has ${power} of ${totalPower(vals)} voting power, needs more than 2/3`
  return null
}

/** The app hash chain: state after block h = sha256(app hash after h-1 || sha256(changes of h)). */
export function nextAppHash (prev: Uint8Array, changes: Uint8Array): Uint8Array {
  return sha256Concat(prev, sha256(changes))
}
