// The block executor, as CometBFT's state/execution.go: one place that builds a proposal,
// validates a block and executes it, used by the proposer, by consensus validation, by block sync
// and by the test simulator, so that they cannot disagree. Pure: it reads a ChainView (the
// committed state and what is known of the last block) and returns executions; committing them
// (disk, memory, events) is the caller's part.
import { BlockError, TxError } from './errors.ts'
import { decodeTx, signTx, type Tx } from './tx.ts'
import { addressBytesFromPubkey, addressFromPubkey, bytesEqual, sha256, toHexUpper, type SigningKey } from './crypto.ts'
import { pack } from './codec.ts'
import { Overlay, encodeChangeSet, type StateReader } from './state.ts'
import { applyTx, beginBlock, checkEvidence, type BlockContext, type TxResult, type AbciEvent } from './transition.ts'
import { assignableJobs } from './draw.ts'
import {
  blockHash, commitHash, dataHash, nextAppHash, validatorsHash, verifyCommit, EMPTY_HASH,
  type Block, type Commit, type Header, type Validator,
} from './block.ts'
import type { LastBlock } from '../../genesis/state.ts'

/** What the executor reads of the chain. */
export interface ChainView {
  chainId: string
  initialHeight: number
  validators: readonly Validator[]
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
  /** Block time, ms since the epoch. */
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

function contextFor (view: ChainView, height: number, time: number, proposer: string, evidence: Uint8Array[]): BlockContext {
  return { chainId: view.chainId, height, time, proposer, prevBlockHash: view.last.hash, evidence, validators: [...view.validators] }
}

/** Builds the next block: the still-valid candidate txs within the block limits, then the assigns the draw requires, then the header. */
export function createProposal (view: ChainView, input: ProposalInput): ProposedBlock {
  const p = view.state.params
  const height = view.last.height + 1
  const proposer = input.signer.address
  const probe = contextFor(view, height, input.time, proposer, [])
  // Only evidence that is valid and new (each offence once) goes in.
  const seen = new Set<string>()
  const evidence = (input.evidence ?? []).filter(e => {
    const r = checkEvidence(view.state, e, probe)
    if (typeof r === 'string' || seen.has(`${r.address}:${r.offence}`)) return false
    seen.add(`${r.address}:${r.offence}`)
    return true
  })
  const ctx = contextFor(view, height, input.time, proposer, evidence)
  const overlay = new Overlay(view.state)
  const beginEvents = beginBlock(overlay, ctx)
  const txs: Tx[] = []
  const txResults: TxResult[] = []
  let bytes = 0
  for (const tx of input.txs) {
    if (txs.length >= p.maxBlockTxs || bytes + tx.bytes.length > p.maxBlockBytes) break
    try {
      txResults.push(applyTx(overlay, tx, ctx, 'deliver'))
      txs.push(tx)
      bytes += tx.bytes.length
    } catch (e) {
      if (!(e instanceof TxError)) throw e
      input.onTxRejected?.(tx, e) // no longer valid (the mempool's re-check evicts it after this block)
    }
  }
  for (const a of proposeAssigns(overlay, ctx, input.signer)) {
    txs.push(a.tx)
    txResults.push(a.result)
  }
  const exec: BlockExecution = { overlay, txs, txResults, beginEvents }
  const txBytes = txs.map(t => t.bytes)
  const vh = validatorsHash([...view.validators])
  const header: Header = {
    chainId: view.chainId,
    height,
    time: input.time,
    lastBlockHash: view.last.hash,
    lastCommitHash: commitHash(input.lastCommit),
    dataHash: dataHash(txBytes),
    validatorsHash: vh,
    nextValidatorsHash: vh,
    consensusHash: CONSENSUS_HASH,
    appHash: appHashAfter(view, exec),
    lastResultsHash: view.last.resultsHash,
    evidenceHash: evidenceHash(evidence),
    proposerAddress: addressBytesFromPubkey(input.signer.publicKey),
  }
  return { block: { header, txs: txBytes, evidence, lastCommit: input.lastCommit }, exec }
}

/**
 * The proposer's assigns: one signed assign for every job the draw can place now, each applied
 * to `overlay` before the next is drawn (a miner's capacity fills as it goes).
 */
export function proposeAssigns (overlay: Overlay, ctx: BlockContext, signer: SigningKey): Array<{ tx: Tx, result: TxResult }> {
  const out: Array<{ tx: Tx, result: TxResult }> = []
  for (const { job, miner } of assignableJobs(overlay, ctx.prevBlockHash)) {
    const nonce = overlay.account(signer.address)?.nonce ?? 0
    const tx = signTx(signer, { chainId: ctx.chainId, nonce, fee: 0n, body: { type: 'assign', jobId: job.id, miner: miner.address } })
    out.push({ tx, result: applyTx(overlay, tx, ctx, 'deliver') })
  }
  return out
}

function evidenceHash (evidence: Uint8Array[]): Uint8Array { return evidence.length === 0 ? EMPTY_HASH : dataHash(evidence) }

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
  if (h.time <= view.last.time) fail('BLOCK_BAD_TIME', 'block time does not advance')
  if (!bytesEqual(h.lastCommitHash, commitHash(block.lastCommit))) fail('BLOCK_BAD_HASH', 'last_commit_hash does not match last_commit')
  if (h.height > view.initialHeight && opts.lastCommitVerified !== true) {
    if (block.lastCommit === null) fail('BLOCK_BAD_COMMIT', 'missing last_commit')
    const err = verifyCommit(view.chainId, [...view.validators], block.lastCommit as Commit, h.height - 1, view.last.hash)
    if (err !== null) fail('BLOCK_BAD_COMMIT', `last_commit: ${err}`)
  }
  if (!bytesEqual(h.dataHash, dataHash(block.txs))) fail('BLOCK_BAD_HASH', 'data_hash does not match the txs')
  if (!bytesEqual(h.evidenceHash, evidenceHash(block.evidence))) fail('BLOCK_BAD_HASH', 'evidence_hash does not match the evidence')
  const vh = validatorsHash([...view.validators])
  if (!bytesEqual(h.validatorsHash, vh) || !bytesEqual(h.nextValidatorsHash, vh)) fail('BLOCK_BAD_HASH', 'validators_hash does not match')
  if (!bytesEqual(h.consensusHash, CONSENSUS_HASH)) fail('BLOCK_BAD_HASH', 'consensus_hash does not match the consensus params')
  if (!bytesEqual(h.lastResultsHash, view.last.resultsHash)) fail('BLOCK_BAD_HASH', 'last_results_hash does not match')
  const proposer = view.validators.find(v => bytesEqual(v.address, h.proposerAddress))
  if (proposer === undefined) fail('BLOCK_BAD_PROPOSER', 'proposer is not a validator')
  if (opts.proposer !== undefined && !bytesEqual(opts.proposer, h.proposerAddress)) fail('BLOCK_BAD_PROPOSER', 'proposer_address is not the validator that signed the proposal')
  const decoded: Tx[] = []
  for (const [i, b] of block.txs.entries()) {
    try {
      decoded.push(opts.knownTx?.(toHexUpper(sha256(b))) ?? decodeTx(b))
    } catch (e) {
      if (e instanceof TxError) fail('BLOCK_BAD_TX', `a tx does not decode: tx ${i}: ${e.message}`)
      throw e
    }
  }
  const ctx = contextFor(view, h.height, h.time, addressFromPubkey((proposer as Validator).pubKey), block.evidence)
  const exec = executeBlock(view.state, block.txs, ctx, decoded)
  if (!bytesEqual(appHashAfter(view, exec), h.appHash)) fail('BLOCK_BAD_HASH', 'app_hash does not match the executed state')
  return exec
}

/**
 * Executes a block's transactions against `base`: begin-block work, each tx (a tx that fails
 * makes the block invalid), then the check that the proposer assigned every job it could.
 * Throws BlockError.
 */
export function executeBlock (base: StateReader, txBytes: Uint8Array[], ctx: BlockContext, decoded?: Tx[]): BlockExecution {
  const overlay = new Overlay(base)
  const beginEvents = beginBlock(overlay, ctx)
  const txs: Tx[] = []
  const txResults: TxResult[] = []
  for (let i = 0; i < txBytes.length; i++) {
    try {
      const tx = decoded?.[i] ?? decodeTx(txBytes[i])
      txResults.push(applyTx(overlay, tx, ctx, 'deliver'))
      txs.push(tx)
    } catch (e) {
      if (e instanceof TxError) throw new BlockError('BLOCK_BAD_TX', `tx ${i} is invalid: ${e.code}: ${e.message}`)
      throw e
    }
  }
  const left = assignableJobs(overlay, ctx.prevBlockHash).next()
  if (left.done !== true) throw new BlockError('BLOCK_UNASSIGNED_JOB', `the proposer left job ${left.value.job.id} unassigned although ${left.value.miner.address} can take it`)
  return { overlay, txs, txResults, beginEvents }
}
