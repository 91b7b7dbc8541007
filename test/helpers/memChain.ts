// A chain in memory with a real validator set, on the node's own pieces: the genesis state
// (genesisState), blocks built by the block executor (createProposal) and checked by it
// (validateBlock, last commit included), commits signed by the validators' keys, committed to a
// MemState. No clock, no disk: block times and signers come from the caller. Used by the golden
// vector script, the executor tests and the fake application of the engine tests.
import { SigningKey, sha256, utf8Bytes, bytesEqual } from '../../node/core/crypto.ts'
import { MemState } from '../../node/core/state.ts'
import { activeSet } from '../../node/core/validatorSet.ts'
import {
  blockHash, voteSignBytes, BLOCK_ID_FLAG_ABSENT, BLOCK_ID_FLAG_COMMIT, VOTE_PRECOMMIT,
  type Block, type Commit, type Validator,
} from '../../node/core/block.ts'
import { createProposal, lastBlockAfter, validateBlock, type BlockExecution, type ChainView, type ProposedBlock } from '../../node/core/executor.ts'
import { genesisState, type LastBlock } from '../../genesis/state.ts'
import type { Genesis } from '../../genesis/genesis.ts'
import type { Tx } from '../../node/core/tx.ts'

/** A deterministic key per name (its seed is sha256 of a fixed prefix and the name). */
export function seedOf (name: string): Uint8Array { return sha256(utf8Bytes('aitbc-memchain-key/' + name)) }
export function keyNamed (name: string): SigningKey { return new SigningKey(seedOf(name)) }

/** One precommit of a commit: who signed and the vote's timestamp. */
export interface CommitSigner { key: SigningKey, timestamp: number }

/**
 * The commit of `block` at `round` as the engine writes it: one entry per validator in genesis
 * order, a signed precommit for those in `signers`, absent for the others.
 */
export function signCommit (chainId: string, validators: readonly Validator[], block: Block, round: number, signers: CommitSigner[]): Commit {
  const hash = blockHash(block.header)
  const height = block.header.height
  return {
    height,
    round,
    blockHash: hash,
    signatures: validators.map(v => {
      const s = signers.find(x => bytesEqual(x.key.publicKey, v.pubKey))
      if (s === undefined) return { blockIdFlag: BLOCK_ID_FLAG_ABSENT, validatorAddress: v.address, timestamp: 0, signature: new Uint8Array(0) }
      return { blockIdFlag: BLOCK_ID_FLAG_COMMIT, validatorAddress: v.address, timestamp: s.timestamp, signature: s.key.sign(voteSignBytes(chainId, VOTE_PRECOMMIT, height, round, hash, s.timestamp)) }
    }),
  }
}

export interface CommittedMemBlock { block: Block, exec: BlockExecution, commit: Commit | null }

export class MemChain {
  readonly mem: MemState
  /** The sets of the last, the next and the one after the next height (as the node's Chain keeps them). */
  lastValidators: Validator[]
  validators: Validator[]
  nextValidators: Validator[]
  last: LastBlock
  /** Committed blocks in height order, each with the commit that certified it (if given). */
  readonly blocks: CommittedMemBlock[] = []

  constructor (readonly genesis: Genesis) {
    const { changes, last } = genesisState(genesis)
    this.mem = new MemState(genesis.params)
    this.mem.apply(changes)
    this.last = last
    const set = activeSet(this.mem)
    this.lastValidators = set
    this.validators = set
    this.nextValidators = set
  }

  get chainId (): string { return this.genesis.chainId }
  get height (): number { return this.last.height }

  view (): ChainView {
    return { chainId: this.chainId, initialHeight: this.genesis.initialHeight, validators: this.validators, lastValidators: this.lastValidators, nextValidators: this.nextValidators, state: this.mem, last: this.last }
  }

  /** The commit stored for the last block (null before the first). */
  get lastCommit (): Commit | null { return this.blocks.at(-1)?.commit ?? null }

  /** Builds the next block from exactly these txs (a tx that is not valid throws its TxError). */
  propose (signer: SigningKey, time: number, txs: Tx[], o: { evidence?: Uint8Array[], lastCommit?: Commit | null } = {}): ProposedBlock {
    return createProposal(this.view(), { signer, time, lastCommit: o.lastCommit !== undefined ? o.lastCommit : this.lastCommit, txs, evidence: o.evidence, onTxRejected: (_tx, e) => { throw e } })
  }

  /** Validates a block as every validator does (last commit verified) and returns its execution. */
  validate (block: Block): BlockExecution { return validateBlock(this.view(), block) }

  /** Commits an executed block (with the commit that certified it, for the next block's last_commit). */
  commit (block: Block, exec: BlockExecution, commit: Commit | null): void {
    if (block.header.height !== this.last.height + 1) throw new Error(`block ${block.header.height} does not follow ${this.last.height}`)
    const computed = activeSet(exec.overlay)
    this.mem.apply(exec.overlay.changes())
    this.last = lastBlockAfter(block, exec)
    this.lastValidators = this.validators
    this.validators = this.nextValidators
    this.nextValidators = computed.length === 0 ? this.nextValidators : computed
    this.blocks.push({ block, exec, commit })
  }
}
