// The block executor, as CometBFT's state/execution.go: one place that builds a proposal,
// validates a block and executes it, used by the proposer, by consensus validation, by block sync
// and by the test simulator, so that they cannot disagree. Pure: it reads a ChainView (the
// committed state and what is known of the last block) and returns executions; committing them
// (disk, memory, events) is the caller's part.
import { BlockError, TxError } from './errors.ts'
import { decodeTx, signTx, type Tx } from './tx.ts'
import { addressBytesFromPubkey, addressFromPubkey, bytesEqual, sha256, sha256Once, toHexUpper, type SigningKey } from './crypto.ts'
import { pack } from './codec.ts'
import { Overlay, encodeChangeSet, type StateReader } from './state.ts'
import { applyTx, beginBlock, checkEvidence, type BlockContext, type TxResult, type AbciEvent } from './transition.ts'
import { assignableJobs } from './draw.ts'
import { beaconAlpha, beaconRandomness, needsBeacon } from './txs/beacon.ts'
import { txTypeDef } from './txs/registry.ts'
import {
  blockHash, commitHash, dataHash, evidenceHash, encodeBlock, nextAppHash, validatorsHash, verifyCommit, EMPTY_HASH,
  type Block, type Commit, type Header, type Validator,
} from './block.ts'
import type { LastBlock } from '../../genesis/state.ts'

/** What the executor reads of the chain. */
export interface ChainView {
  chainId: string
  initialHeight: number
  /** The set that signs the next block (its header's validators_hash). */
  validators: readonly Validator[]
  /** The set that signed the last block (its commit is the next block's last_commit); absent: `validators`. */
  lastValidators?: readonly Validator[]
  /** The set of the block after the next (the next header's next_validators_hash); absent: `validators`. */
  nextValidators?: readonly Validator[]
  /** The committed state after `last`. */
  state: StateReader
  last: LastBlock
}

/** A block executed against a view: its writes (uncommitted), decoded txs, results and begin-block events. */
export interface BlockExecution {
  overlay: Overlay
  txs: Tx[]
  txResults: TxResult[]
  beginEvents: AbciEvent[]
}

export interface ProposedBlock { block: Block, exec: BlockExecution }

export interface ProposalInput {
  /** The proposer's validator key: it signs the assigns, its account gets the fees. */
  signer: SigningKey
  /** Block time, ms since the epoch (the proposer's clock; at least the last block's time + 1). */
  time: number
  /** The commit of the last block (null at the first block). */
  lastCommit: Commit | null
  /** Candidate txs in order (the mempool's); those no longer valid are left out. */
  txs: Iterable<Tx>
  /** Candidate duplicate-vote evidence; only valid, new offences go in. */
  evidence?: Uint8Array[]
  /** Told of each candidate tx left out because it is no longer valid (it may throw to abandon the proposal). */
  onTxRejected?: (tx: Tx, err: TxError) => void
}

export interface ValidateOptions {
  /** The block's last_commit was verified already (block sync certifies each commit once). */
  lastCommitVerified?: boolean
  /** A tx already decoded and verified (e.g. from the mempool), looked up by its hash: skips a signature check. */
  knownTx?: (hash: string) => Tx | undefined
  /** The address of the validator that signed the proposal: the header must name it as proposer. */
  proposer?: Uint8Array
}

/** The hash of the consensus params in every header (they are fixed by the genesis: the hash of nothing). */
export const CONSENSUS_HASH = EMPTY_HASH

/** Hash of a block's tx results: the next header's last_results_hash. */
export function resultsHash (results: TxResult[]): Uint8Array {
  return sha256(pack(results.map(r => [r.code, r.log])))
}

/** The app hash after applying an execution's writes on top of the view's state. */
export function appHashAfter (view: ChainView, exec: BlockExecution): Uint8Array {
  return nextAppHash(view.last.appHash, encodeChangeSet(exec.overlay.changes()))
}

/** What is known of the last block once `block` (executed as `exec`) is committed. */
export function lastBlockAfter (block: Block, exec: BlockExecution): LastBlock {
  return { height: block.header.height, hash: blockHash(block.header), time: block.header.time, appHash: block.header.appHash, resultsHash: resultsHash(exec.txResults) }
}

/** A block's context; `randomness` is the block's beacon output (executeBlock sets it from the block), else the chain's. */
function contextFor (view: ChainView, height: number, time: number, proposer: string, evidence: Uint8Array[], lastCommit: Commit | null, randomness: Uint8Array = view.state.beacon()): BlockContext {
  return { chainId: view.chainId, height, time, proposer, randomness, evidence, validators: [...view.validators], lastCommit, lastValidators: view.lastValidators ?? view.validators }
}

/** The proposer's beacon for the next block (null when the block draws nothing and so carries none). */
export function proposeBeacon (st: StateReader, signer: SigningKey, height: number, chainId: string): { tx: Tx, randomness: Uint8Array } | null {
  if (!needsBeacon(st)) return null
  const proof = signer.vrfProve(beaconAlpha(st.beacon(), height, chainId))
  const tx = signTx(signer, { chainId, nonce: st.account(signer.address)?.nonce ?? 0, fee: 0n, body: { type: 'beacon', proof } })
  const randomness = beaconRandomness(st, tx, height, chainId)
  if (randomness === null) throw new Error('a beacon this node made does not verify')
  return { tx, randomness }
}

/** Most pieces of evidence a block may carry. */
export const MAX_EVIDENCE_PER_BLOCK = 50
/** An upper bound of an assign tx's encoded size (a 50-character chain id, the largest nonce). */
export const MAX_ASSIGN_TX_BYTES = 320

/** Bytes msgpack spends on the header of a bin of n bytes. */
function binOverhead (n: number): number { return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5 }

/** Builds the next block: the still-valid candidate txs within the block limits, then the assigns the draw requires, then the header. */
export function createProposal (view: ChainView, input: ProposalInput): ProposedBlock {
  const p = view.state.params
  const height = view.last.height + 1
  const time = input.time
  if (!Number.isSafeInteger(time) || time <= view.last.time) throw new BlockError('BLOCK_BAD_TIME', `cannot propose block ${height} at time ${time}: it must be a safe integer after the last block's time ${view.last.time}`)
  const proposer = input.signer.address
  const probe = contextFor(view, height, time, proposer, [], input.lastCommit)
  // Only evidence that is valid and new (each offence once) goes in.
  const seen = new Set<string>()
  const evidence = (input.evidence ?? []).filter(e => {
    if (seen.size >= MAX_EVIDENCE_PER_BLOCK) return false
    const r = checkEvidence(view.state, e, probe)
    if (typeof r === 'string' || seen.has(`${r.address}:${r.offence}`)) return false
    seen.add(`${r.address}:${r.offence}`)
    return true
  })
  // The beacon, when the block draws, is its first tx; its output seeds the block's draws.
  const beacon = proposeBeacon(view.state, input.signer, height, view.chainId)
  const ctx = contextFor(view, height, time, proposer, evidence, input.lastCommit, beacon?.randomness)
  const overlay = new Overlay(view.state)
  const beginEvents = beginBlock(overlay, ctx)
  const txs: Tx[] = []
  const txResults: TxResult[] = []
  // The block's size with no txs, its header at its largest (hashes are fixed-size, the integers at most 9 bytes), plus the txs array's header at its largest.
  let size = emptyBlockSize(view, input.lastCommit, evidence)
  if (beacon !== null) {
    txResults.push(applyTx(overlay, beacon.tx, ctx, 'deliver'))
    txs.push(beacon.tx)
    size += binOverhead(beacon.tx.bytes.length) + beacon.tx.bytes.length
  }
  const fits = (bytes: number): boolean => txs.length < p.maxBlockTxs && size + binOverhead(bytes) + bytes <= p.maxBlockBytes
  // Assigns first, drawn from the state at the start of the block: no tx of this block (a
  // proposer's own stake, say) can change a draw.
  for (const a of proposeAssigns(overlay, ctx, input.signer, () => fits(MAX_ASSIGN_TX_BYTES))) {
    txs.push(a.tx)
    txResults.push(a.result)
    size += binOverhead(a.tx.bytes.length) + a.tx.bytes.length
  }
  for (const tx of input.txs) {
    if (!fits(tx.bytes.length)) break
    if (txTypeDef(tx.type).proposerOnly === true) continue
    try {
      txResults.push(applyTx(overlay, tx, ctx, 'deliver'))
      txs.push(tx)
      size += binOverhead(tx.bytes.length) + tx.bytes.length
    } catch (e) {
      if (!(e instanceof TxError)) throw e
      input.onTxRejected?.(tx, e) // no longer valid (the mempool's re-check evicts it after this block)
    }
  }
  const exec: BlockExecution = { overlay, txs, txResults, beginEvents }
  const txBytes = txs.map(t => t.bytes)
  const header = headerOf(view, { height, time, lastCommit: input.lastCommit, evidence, txBytes, appHash: appHashAfter(view, exec), proposerAddress: addressBytesFromPubkey(input.signer.publicKey) })
  return { block: { header, txs: txBytes, evidence, lastCommit: input.lastCommit }, exec }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER

/** A block's encoded size without its txs: its header at its largest (hashes are fixed-size, the integers at most 9 bytes), plus the txs array's header at its largest. */
function emptyBlockSize (view: ChainView, lastCommit: Commit | null, evidence: Uint8Array[]): number {
  const header = headerOf(view, { height: MAX_SAFE, time: MAX_SAFE, lastCommit, evidence, txBytes: [], appHash: EMPTY_HASH, proposerAddress: new Uint8Array(20) })
  return encodeBlock({ header, txs: [], evidence, lastCommit }).length + 4
}

interface HeaderParts { height: number, time: number, lastCommit: Commit | null, evidence: Uint8Array[], txBytes: Uint8Array[], appHash: Uint8Array, proposerAddress: Uint8Array }

function headerOf (view: ChainView, x: HeaderParts): Header {
  const vh = validatorsHash([...view.validators])
  const nvh = validatorsHash([...(view.nextValidators ?? view.validators)])
  return {
    chainId: view.chainId,
    height: x.height,
    time: x.time,
    lastBlockHash: view.last.hash,
    lastCommitHash: commitHash(x.lastCommit),
    dataHash: dataHash(x.txBytes),
    validatorsHash: vh,
    nextValidatorsHash: nvh,
    consensusHash: CONSENSUS_HASH,
    appHash: x.appHash,
    lastResultsHash: view.last.resultsHash,
    evidenceHash: evidenceHash(x.evidence),
    proposerAddress: x.proposerAddress,
  }
}

/**
 * The proposer's assigns: one signed assign for every job the draw can place now, each applied
 * to `overlay` before the next is drawn (a miner's capacity fills as it goes).
 */
export function proposeAssigns (overlay: Overlay, ctx: BlockContext, signer: SigningKey, room: () => boolean = () => true): Array<{ tx: Tx, result: TxResult }> {
  const out: Array<{ tx: Tx, result: TxResult }> = []
  for (const { job, miner } of assignableJobs(overlay, ctx.randomness)) {
    if (!room()) break
    const nonce = overlay.account(signer.address)?.nonce ?? 0
    const tx = signTx(signer, { chainId: ctx.chainId, nonce, fee: 0n, body: { type: 'assign', jobId: job.id, miner: miner.address } })
    out.push({ tx, result: applyTx(overlay, tx, ctx, 'deliver') })
  }
  return out
}

/**
 * Checks a block against the view and executes it, as every validator does: the header's links
 * and hashes, the last commit's signatures, then every tx (one that fails makes the block
 * invalid), the assigns the draw requires, and the app hash. Throws BlockError.
 */
export function validateBlock (view: ChainView, block: Block, opts: ValidateOptions = {}): BlockExecution {
  const h = block.header
  const fail = (code: ConstructorParameters<typeof BlockError>[0], message: string): never => { throw new BlockError(code, message) }
  if (h.chainId !== view.chainId) fail('BLOCK_WRONG_CHAIN', 'wrong chain id')
  if (h.height !== view.last.height + 1) fail('BLOCK_WRONG_HEIGHT', `height ${h.height}, expected ${view.last.height + 1}`)
  if (!bytesEqual(h.lastBlockHash, view.last.hash)) fail('BLOCK_WRONG_PARENT', 'last_block_id is not our last block')
  const p = view.state.params
  const size = encodeBlock(block).length
  if (size > p.maxBlockBytes) fail('BLOCK_TOO_LARGE', `block is ${size} bytes, max_block_bytes is ${p.maxBlockBytes}`)
  if (block.txs.length > p.maxBlockTxs) fail('BLOCK_TOO_LARGE', `block holds ${block.txs.length} txs, max_block_txs is ${p.maxBlockTxs}`)
  if (block.evidence.length > MAX_EVIDENCE_PER_BLOCK) fail('BLOCK_BAD_EVIDENCE', `block carries ${block.evidence.length} pieces of evidence, at most ${MAX_EVIDENCE_PER_BLOCK}`)
  if (!bytesEqual(h.lastCommitHash, commitHash(block.lastCommit))) fail('BLOCK_BAD_HASH', 'last_commit_hash does not match last_commit')
  if (h.height > view.initialHeight && opts.lastCommitVerified !== true) {
    if (block.lastCommit === null) fail('BLOCK_BAD_COMMIT', 'missing last_commit')
    const err = verifyCommit(view.chainId, [...(view.lastValidators ?? view.validators)], block.lastCommit as Commit, h.height - 1, view.last.hash)
    if (err !== null) fail('BLOCK_BAD_COMMIT', `last_commit: ${err}`)
  }
  // How far the time may be from the validators' clocks is the consensus engine's check (it
  // prevotes nil on an untimely proposal); the state transition, the same on every node at any
  // time, checks that it advances.
  if (h.time <= view.last.time) fail('BLOCK_BAD_TIME', 'block time does not advance')
  if (!bytesEqual(h.dataHash, dataHash(block.txs))) fail('BLOCK_BAD_HASH', 'data_hash does not match the txs')
  if (!bytesEqual(h.evidenceHash, evidenceHash(block.evidence))) fail('BLOCK_BAD_HASH', 'evidence_hash does not match the evidence')
  if (!bytesEqual(h.validatorsHash, validatorsHash([...view.validators]))) fail('BLOCK_BAD_HASH', 'validators_hash does not match the set of this height')
  if (!bytesEqual(h.nextValidatorsHash, validatorsHash([...(view.nextValidators ?? view.validators)]))) fail('BLOCK_BAD_HASH', 'next_validators_hash does not match the set of the next height')
  if (!bytesEqual(h.consensusHash, CONSENSUS_HASH)) fail('BLOCK_BAD_HASH', 'consensus_hash does not match the consensus params')
  if (!bytesEqual(h.lastResultsHash, view.last.resultsHash)) fail('BLOCK_BAD_HASH', 'last_results_hash does not match')
  const proposer = view.validators.find(v => bytesEqual(v.address, h.proposerAddress))
  if (proposer === undefined) fail('BLOCK_BAD_PROPOSER', 'proposer is not a validator')
  if (opts.proposer !== undefined && !bytesEqual(opts.proposer, h.proposerAddress)) fail('BLOCK_BAD_PROPOSER', 'proposer_address is not the validator that signed the proposal')
  const decoded: Tx[] = []
  for (const [i, b] of block.txs.entries()) {
    try {
      decoded.push(opts.knownTx?.(toHexUpper(sha256Once(b))) ?? decodeTx(b))
    } catch (e) {
      if (e instanceof TxError) fail('BLOCK_BAD_TX', `a tx does not decode: tx ${i}: ${e.message}`)
      throw e
    }
  }
  const ctx = contextFor(view, h.height, h.time, addressFromPubkey((proposer as Validator).pubKey), block.evidence, block.lastCommit)
  // The assigns open the block (after its beacon). Every assignable job must be assigned, unless
  // the assigns alone leave no room for one more (then the rest wait): no other tx can take their place.
  const k = decoded.findIndex((t, i) => t.type !== 'assign' && !(i === 0 && t.type === 'beacon'))
  const prefix = k === -1 ? decoded.length : k
  const prefixSize = emptyBlockSize(view, block.lastCommit, block.evidence) +
    block.txs.slice(0, prefix).reduce((s, b) => s + binOverhead(b.length) + b.length, 0)
  const room = prefixSize + binOverhead(MAX_ASSIGN_TX_BYTES) + MAX_ASSIGN_TX_BYTES <= p.maxBlockBytes && prefix < p.maxBlockTxs
  const exec = executeBlock(view.state, block.txs, ctx, decoded, { assignAll: room })
  if (!bytesEqual(appHashAfter(view, exec), h.appHash)) fail('BLOCK_BAD_HASH', 'app_hash does not match the executed state')
  return exec
}

/**
 * Executes a block's transactions against `base`: its beacon (the block's randomness: it replaces
 * ctx.randomness), begin-block work, each tx (a tx that fails makes the block invalid), then
 * (unless the block is full) the check that the proposer assigned every job it could.
 * Throws BlockError.
 */
export function executeBlock (base: StateReader, txBytes: Uint8Array[], ctx0: BlockContext, decoded?: Tx[], opts: { assignAll?: boolean } = {}): BlockExecution {
  const decodeAt = (i: number): Tx => {
    try {
      return decoded?.[i] ?? decodeTx(txBytes[i])
    } catch (e) {
      if (e instanceof TxError) throw new BlockError('BLOCK_BAD_TX', `tx ${i} is invalid: ${e.code}: ${e.message}`)
      throw e
    }
  }
  // A block carries a beacon, first, exactly when its start has something to draw for.
  const first = txBytes.length > 0 ? decodeAt(0) : undefined
  const hasBeacon = first?.type === 'beacon'
  const needs = needsBeacon(base)
  if (needs && !hasBeacon) throw new BlockError('BLOCK_BEACON', `block ${ctx0.height} has jobs or checks to draw for: its first tx must be the proposer's beacon`)
  if (!needs && hasBeacon) throw new BlockError('BLOCK_BEACON', `block ${ctx0.height} draws nothing: it carries no beacon`)
  let ctx = ctx0
  if (hasBeacon) {
    const r = beaconRandomness(base, first as Tx, ctx0.height, ctx0.chainId)
    if (r === null) throw new BlockError('BLOCK_BAD_TX', 'tx 0 is invalid: BAD_BEACON: the beacon proof does not verify under its signer key for this height and randomness')
    ctx = { ...ctx0, randomness: r }
  }
  const overlay = new Overlay(base)
  const beginEvents = beginBlock(overlay, ctx)
  const txs: Tx[] = []
  const txResults: TxResult[] = []
  let assigning = true
  for (let i = 0; i < txBytes.length; i++) {
    const tx = i === 0 && first !== undefined ? first : decodeAt(i)
    if (tx.type === 'beacon' && i > 0) throw new BlockError('BLOCK_BEACON', `tx ${i} is a beacon: a block's beacon is its first tx`)
    if (tx.type === 'beacon') {
      // its signer is checked against the proposer by its handler
    } else if (assigning && tx.type !== 'assign') {
      assigning = false
      checkAllAssigned(overlay, ctx, opts)
    } else if (!assigning && tx.type === 'assign') {
      throw new BlockError('BLOCK_BAD_TX', `tx ${i} is an assign after other txs: the assigns open the block`)
    }
    try {
      txResults.push(applyTx(overlay, tx, ctx, 'deliver'))
      txs.push(tx)
    } catch (e) {
      if (e instanceof TxError) throw new BlockError('BLOCK_BAD_TX', `tx ${i} is invalid: ${e.code}: ${e.message}`)
      throw e
    }
  }
  if (assigning) checkAllAssigned(overlay, ctx, opts)
  return { overlay, txs, txResults, beginEvents }
}

/** After the assigns: no job the draw could place may be left (unless the block had no room for another assign). */
function checkAllAssigned (overlay: Overlay, ctx: BlockContext, opts: { assignAll?: boolean }): void {
  if (opts.assignAll === false) return
  const left = assignableJobs(overlay, ctx.randomness).next()
  if (left.done !== true) throw new BlockError('BLOCK_UNASSIGNED_JOB', `the proposer left job ${left.value.job.id} unassigned although ${left.value.miner.address} can take it`)
}
