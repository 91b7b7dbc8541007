// Blocks, votes and commits, CometBFT-shaped. Every signed or hashed thing is a positional tuple
// packed by msgpackr. Consensus code uses these types without knowing what the txs mean.
import { pack, unpack } from './codec.ts'
import { concatBytes, sha256, sha256Concat, utf8Bytes, verifySignature, addressBytesFromPubkey, bytesEqual, toHexUpper } from './crypto.ts'

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
function headerFromTuple (t: any[]): Header {
  return { chainId: t[0], height: t[1], time: t[2], lastBlockHash: u8(t[3]), lastCommitHash: u8(t[4]), dataHash: u8(t[5]), validatorsHash: u8(t[6]), nextValidatorsHash: u8(t[7]), consensusHash: u8(t[8]), appHash: u8(t[9]), lastResultsHash: u8(t[10]), evidenceHash: u8(t[11]), proposerAddress: u8(t[12]) }
}
function u8 (b: Uint8Array): Uint8Array { return new Uint8Array(b.buffer, b.byteOffset, b.byteLength) }

export function blockHash (h: Header): Uint8Array { return sha256(pack(headerTuple(h))) }

export function commitTuple (c: Commit): unknown[] {
  return [c.height, c.round, c.blockHash, c.signatures.map(s => [s.blockIdFlag, s.validatorAddress, s.timestamp, s.signature])]
}
function commitFromTuple (t: any[]): Commit {
  return { height: t[0], round: t[1], blockHash: u8(t[2]), signatures: t[3].map((s: any[]) => ({ blockIdFlag: s[0], validatorAddress: u8(s[1]), timestamp: s[2], signature: u8(s[3]) })) }
}
export function commitHash (c: Commit | null): Uint8Array { return c === null ? EMPTY_HASH : sha256(pack(commitTuple(c))) }

export function encodeCommit (c: Commit): Uint8Array { return pack(commitTuple(c)) }
export function decodeCommit (b: Uint8Array): Commit { return commitFromTuple(unpack(b)) }

export function encodeBlock (b: Block): Uint8Array {
  return pack([headerTuple(b.header), b.txs, b.evidence, b.lastCommit === null ? null : commitTuple(b.lastCommit)])
}
export function decodeBlock (bytes: Uint8Array): Block {
  const t = unpack<any[]>(bytes)
  return { header: headerFromTuple(t[0]), txs: t[1].map(u8), evidence: t[2].map(u8), lastCommit: t[3] === null ? null : commitFromTuple(t[3]) }
}

/** sha256 over the tx hashes in order (empty: sha256 of nothing). */
export function dataHash (txs: Uint8Array[]): Uint8Array {
  return txs.length === 0 ? EMPTY_HASH : sha256Concat(...txs.map(t => sha256(t)))
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
