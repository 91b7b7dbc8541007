// What consensus needs of the application, and nothing more (CometBFT's ABCI seam): consensus
// orders opaque blocks; the application builds them, validates them and commits them. The engine
// never sees what a transaction means or a database key.
import type { Block, Commit, Validator } from '../core/block.ts'

/** A block with the application's verdict; the application keeps what it needs to commit it. */
export interface ValidatedBlock {
  readonly block: Block
  /** null when the block is valid; otherwise why not. */
  readonly error: string | null
}

export interface ProposeRequest {
  /** Block time, ms since the epoch: the proposer's clock (validators check it against theirs). */
  time: number
  /** The commit of the last block (null at the first block). */
  lastCommit: Commit | null
  /** Duplicate-vote evidence to include (the application keeps only what is valid and new). */
  evidence: Uint8Array[]
}

export interface ConsensusApp {
  /**
   * Block sync: checks the signatures of these blocks' transactions and commits ahead of their
   * validation, in parallel (the validation then finds them checked). Optional; the answers are
   * the same without it.
   */
  prepare?: (blocks: Block[], commits: Commit[]) => Promise<void>
  readonly chainId: string
  readonly initialHeight: number
  /** The validator set of the next height (it changes at height boundaries). */
  readonly validators: readonly Validator[]
  /**
   * The set of a height the application knows without I/O (at least the last, the next and the
   * one after); undefined otherwise. Absent: `validators` for every height (a fixed set).
   */
  validatorsAt?: (height: number) => readonly Validator[] | undefined
  /** How far a fresh proposal's time may be from this validator's clock when it arrives. */
  readonly synchrony: { precisionMs: number, messageDelayMs: number }
  /** Pacing: a block at least every blockTimeMs while there is work, every emptyBlockIntervalMs otherwise. */
  readonly pacing: { blockTimeMs: number, emptyBlockIntervalMs: number }
  /** The last committed height (initialHeight - 1 before the first block). */
  height: () => number
  /** Time of the last committed block (the genesis time before the first). */
  lastBlockTime: () => number
  /** Whether a block is needed soon (transactions waiting, or state that time must advance). */
  hasWork: () => boolean
  /** Calls f whenever new work arrives (so that an idle height can start early). */
  onWork: (f: () => void) => void
  offWork: (f: () => void) => void
  /**
   * A transaction held for the next blocks (the mempool's, ready or queued), as bytes, by its
   * hash (sha256, upper hex): what a proposal with tx hashes is filled from. Optional; without
   * it every tx of another validator's proposal is fetched from the peer that relayed it.
   */
  txBytes?: (hash: string) => Uint8Array | undefined
  /** Builds the next block. */
  propose: (req: ProposeRequest) => ValidatedBlock
  /**
   * Checks a block for the next height by executing it. `lastCommitVerified`: its last_commit was
   * checked already; `proposer`: the address of the validator whose signed proposal carried it.
   */
  validate: (block: Block, opts?: { lastCommitVerified?: boolean, proposer?: Uint8Array }) => ValidatedBlock
  /** Commits a valid block with the commit that decided it; `sync: false` lets a batch of synced blocks share one fsync. */
  commit: (v: ValidatedBlock, commit: Commit, opts?: { sync?: boolean }) => Promise<void>
  /** Stored blocks and commits, as bytes, for block sync. */
  blockBytes: (height: number) => Promise<Uint8Array | undefined>
  commitBytes: (height: number) => Promise<Uint8Array | undefined>
  /** The stored commit of a height. */
  commitAt: (height: number) => Promise<Commit | undefined>
}
