// Block production for a single validator (SPEC 5): a block at least every block_time_ms while
// there is work (txs in the mempool, pending or assigned jobs), an empty block every
// empty_block_interval_ms otherwise. The proposer signs its proposal and its precommit through
// the PrivValidator, so the block carries the same commit a BFT network would give it. The
// multi-validator consensus engine replaces this class and reuses buildBlock.
import { Overlay } from '../core/state.ts'
import { applyTx, assignableJobs, beginBlock, type BlockContext, type BlockExecution, type TxResult } from '../core/transition.ts'
import { TxError } from '../core/errors.ts'
import { signTx, type Tx } from '../core/tx.ts'
import {
  blockHash, commitHash, dataHash, proposalSignBytes, validatorsHash, voteSignBytes, VOTE_PRECOMMIT, BLOCK_ID_FLAG_COMMIT, EMPTY_HASH,
  type Block, type Commit, type Header,
} from '../core/block.ts'
import { fromHex, addressBytesFromPubkey } from '../core/crypto.ts'
import { PrivValidator, STEP_PRECOMMIT, STEP_PROPOSE } from './privval.ts'
import type { Chain } from './chain.ts'
import type { Mempool } from './mempool.ts'
import type { Logger } from '../logger.ts'

export interface BuiltBlock { block: Block, exec: BlockExecution }

/** Builds (proposes) the next block from the mempool, adding the assigns the draw requires. */
export function buildBlock (chain: Chain, mempool: Mempool, pv: PrivValidator, time: number, lastCommit: Commit | null): BuiltBlock {
  const meta = chain.meta
  const height = meta.height + 1
  const prevBlockHash = meta.lastBlockHash === '' ? new Uint8Array(0) : fromHex(meta.lastBlockHash)
  const ctx: BlockContext = { chainId: chain.chainId, height, time, proposer: pv.key.address, prevBlockHash }
  const overlay = new Overlay(chain.state)
  const beginEvents = beginBlock(overlay, ctx)
  const txs: Tx[] = []
  const txResults: TxResult[] = []
  const p = chain.params
  let bytes = 0
  for (const tx of mempool.list(p.maxBlockTxs)) {
    if (bytes + tx.bytes.length > p.maxBlockBytes) break
    try {
      txResults.push(applyTx(overlay, tx, ctx, 'deliver'))
      txs.push(tx)
      bytes += tx.bytes.length
    } catch (e) {
      if (!(e instanceof TxError)) throw e // invalid now (the mempool's re-check evicts it after this block)
    }
  }
  for (const { job, miner } of assignableJobs(overlay, prevBlockHash)) {
    const nonce = overlay.account(pv.key.address)?.nonce ?? 0
    const tx = signTx(pv.key, { chainId: chain.chainId, nonce, fee: 0n, body: { type: 'assign', jobId: job.id, miner: miner.address } })
    txResults.push(applyTx(overlay, tx, ctx, 'deliver'))
    txs.push(tx)
  }
  const txBytes = txs.map(t => t.bytes)
  const vh = validatorsHash(chain.validators)
  const header: Header = {
    chainId: chain.chainId,
    height,
    time,
    lastBlockHash: prevBlockHash,
    lastCommitHash: commitHash(lastCommit),
    dataHash: dataHash(txBytes),
    validatorsHash: vh,
    nextValidatorsHash: vh,
    consensusHash: EMPTY_HASH,
    appHash: chain.appHashAfter(overlay.changes()),
    lastResultsHash: fromHex(meta.lastResultsHash),
    evidenceHash: EMPTY_HASH,
    proposerAddress: addressBytesFromPubkey(pv.key.publicKey),
  }
  return { block: { header, txs: txBytes, evidence: [], lastCommit }, exec: { overlay, txs, txResults, beginEvents } }
}

export interface ProducerOptions { now?: () => number }

export class SoloProducer {
  private timer: NodeJS.Timeout | null = null
  private producing = false
  private stopped = true
  private lastBlockAt = 0
  private lastCommit: Commit | null = null
  private readonly now: () => number

  constructor (private readonly chain: Chain, private readonly mempool: Mempool, private readonly pv: PrivValidator, private readonly log: Logger, opts: ProducerOptions = {}) {
    this.now = opts.now ?? Date.now
    const vals = chain.validators
    if (vals.length !== 1 || !pv.sameAs(vals[0].pubKey)) {
      throw new Error('this node runs a single validator: the genesis must list exactly this node\'s validator key (multi-validator consensus is not in this build)')
    }
    this.onTx = this.onTx.bind(this)
  }

  async start (): Promise<void> {
    this.stopped = false
    if (this.chain.height >= this.chain.genesis.initialHeight) this.lastCommit = (await this.chain.store.getCommit(this.chain.height)) ?? null
    this.lastBlockAt = this.now()
    this.mempool.on('added', this.onTx)
    this.schedule()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.mempool.off('added', this.onTx)
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    while (this.producing) await new Promise(resolve => this.chain.once('block', resolve))
  }

  private hasWork (): boolean { return this.mempool.size > 0 || this.chain.state.openJobs.size > 0 }

  private onTx (): void {
    if (this.producing || this.stopped) return
    this.schedule()
  }

  private schedule (): void {
    if (this.stopped) return
    if (this.timer !== null) clearTimeout(this.timer)
    const p = this.chain.params
    const due = this.lastBlockAt + (this.hasWork() ? p.blockTimeMs : p.emptyBlockIntervalMs)
    this.timer = setTimeout(() => { this.timer = null; void this.produce() }, Math.max(0, due - this.now()))
  }

  private async produce (): Promise<void> {
    if (this.producing || this.stopped) return
    this.producing = true
    try {
      const time = Math.max(this.now(), this.chain.meta.lastBlockTime + 1)
      const { block, exec } = buildBlock(this.chain, this.mempool, this.pv, time, this.lastCommit)
      const h = block.header.height
      const hash = blockHash(block.header)
      const cid = this.chain.chainId
      // A height signed before but never committed (a crash, a failed write) moves to the next round.
      const last = this.pv.lastSigned
      const round = last.height === h ? last.round + 1 : 0
      this.pv.sign(h, round, STEP_PROPOSE, proposalSignBytes(cid, h, round, hash, -1, time))
      const sig = this.pv.sign(h, round, STEP_PRECOMMIT, voteSignBytes(cid, VOTE_PRECOMMIT, h, round, hash, time))
      const commit: Commit = { height: h, round, blockHash: hash, signatures: [{ blockIdFlag: BLOCK_ID_FLAG_COMMIT, validatorAddress: addressBytesFromPubkey(this.pv.key.publicKey), timestamp: time, signature: sig }] }
      await this.chain.commitBlock(block, commit, exec)
      this.lastCommit = commit
      this.lastBlockAt = this.now()
      this.log.debug({ height: h, txs: block.txs.length }, 'committed block')
    } catch (e) {
      this.log.error({ err: e }, 'block production failed')
      this.lastBlockAt = this.now()
    } finally {
      this.producing = false
      this.schedule()
    }
  }
}
