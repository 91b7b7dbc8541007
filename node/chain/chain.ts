// The committed chain: the state in memory, block commit in one atomic batch, and the event bus
// (NewBlock, Tx) that the RPC subscriptions and the mempool follow. Consensus and block sync hand
// it executed blocks (node/core/executor.ts); it knows nothing of how they were agreed.
import { EventEmitter } from 'node:events'
import { encodeAccount, encodeJob, encodeMiner, encodeTotals, encodeValidatorBond, isOpen, MemState, type ChangeSet, type Job, type Totals } from '../core/state.ts'
import { encodeBlock, encodeCommit, validatorsHash, type Block, type Commit, type Validator } from '../core/block.ts'
import { bytesEqual, fromHex, toHexUpper } from '../core/crypto.ts'
import { unpack } from '../core/codec.ts'
import { activeSet } from '../core/validatorSet.ts'
import { lastBlockAfter, type BlockExecution, type ChainView } from '../core/executor.ts'
import type { Genesis } from '../../genesis/genesis.ts'
import { genesisState, type LastBlock } from '../../genesis/state.ts'
import type { AbciEvent, TxResult } from '../core/transition.ts'
import type { Tx } from '../core/tx.ts'
import { ChainStore, type BatchOp, type ChainMeta } from './store.ts'
import { KEY, SCHEMA_VERSION } from './keys.ts'
import { JobCounters } from './jobIndex.ts'
import type { Logger } from '../logger.ts'

export interface CommittedBlock {
  block: Block
  hash: string
  commit: Commit
  txs: Tx[]
  txResults: TxResult[]
  beginEvents: AbciEvent[]
}

export interface ChainEvents {
  block: [CommittedBlock]
}

const MAX_INDEXED_VALUE = 128

/** Composite event keys of a tx result, for indexing and for query matching. */
export function txEventMap (events: AbciEvent[], height: number, hash: string): Map<string, string[]> {
  const m = new Map<string, string[]>()
  const add = (k: string, v: string): void => { const a = m.get(k); if (a === undefined) m.set(k, [v]); else a.push(v) }
  add('tm.event', 'Tx')
  add('tx.height', String(height))
  add('tx.hash', hash)
  for (const e of events) for (const a of e.attributes) add(`${e.type}.${a.key}`, a.value)
  return m
}

export class Chain extends EventEmitter<ChainEvents> {
  state!: MemState
  meta!: ChainMeta
  /** The set that signed the last block, the set of the next block, and of the one after (CometBFT's last, current and next sets). */
  lastValidators: Validator[] = []
  validators: Validator[] = []
  nextValidators: Validator[] = []
  private last!: LastBlock
  /** The counts of the job lists (aitbc_jobs' total_count), kept with the indexes. */
  readonly jobCounters: JobCounters

  constructor (readonly genesis: Genesis, readonly store: ChainStore, private readonly log: Logger) {
    super()
    this.setMaxListeners(1000)
    this.jobCounters = new JobCounters(k => store.getNumberSync(k))
  }

  get chainId (): string { return this.genesis.chainId }
  get height (): number { return this.meta.height }
  get params (): Genesis['params'] { return this.genesis.params }

  /** Opens the committed state, or writes the genesis state on first start. */
  async init (): Promise<void> {
    const meta = this.store.getMeta()
    this.state = new MemState(this.genesis.params, id => this.store.getJobSync(id))
    if (meta !== undefined) {
      if (meta.genesisHash !== this.genesis.hash) throw new Error(`the data folder holds chain ${meta.chainId} with genesis ${meta.genesisHash}, not this genesis (${this.genesis.hash})`)
      if ((meta.schema ?? 1) !== SCHEMA_VERSION) throw new Error(`the data folder was written by another version of aitbc (layout ${meta.schema ?? 1}, this one reads ${SCHEMA_VERSION}): remove its data folder and let the node sync again (on a devnet: aitbc devnet --fresh)`)
      const loaded = await this.store.loadState()
      this.state.load(loaded.accounts, loaded.miners, loaded.openJobs, this.store.getTotals() as Totals, loaded.bonds, this.store.getBeacon())
      this.setMeta(meta)
      const first = this.genesis.initialHeight
      this.lastValidators = await this.validatorsFromStore(Math.max(first, meta.height))
      this.validators = await this.validatorsFromStore(meta.height + 1)
      this.nextValidators = await this.validatorsFromStore(meta.height + 2)
      this.log.info({ height: meta.height, appHash: meta.appHash, validators: this.validators.length }, 'loaded committed state')
      return
    }
    const g = this.genesis
    const { changes, last } = genesisState(g)
    this.state.apply(changes)
    this.setMeta({
      schema: SCHEMA_VERSION,
      chainId: g.chainId, genesisHash: g.hash, height: last.height, lastBlockHash: '', lastBlockTime: last.time,
      appHash: toHexUpper(last.appHash), lastResultsHash: toHexUpper(last.resultsHash),
    })
    // The genesis set signs the first two heights.
    const set = activeSet(this.state)
    this.lastValidators = set
    this.validators = set
    this.nextValidators = set
    const ops = this.stateOps(changes)
    ops.push(ChainStore.put(KEY.meta, this.meta), ChainStore.put(KEY.genesis, JSON.stringify(g.json)), ChainStore.put(KEY.validatorSet(g.initialHeight), encodeValidatorSet(set)))
    await this.store.write(ops)
    this.log.info({ chainId: g.chainId, appHash: this.meta.appHash }, 'initialised state from genesis')
  }

  private stateOps (c: ChangeSet): BatchOp[] {
    const ops: BatchOp[] = []
    for (const [a, acc] of c.accounts) ops.push(ChainStore.put(KEY.account(a), encodeAccount(acc)))
    for (const [a, m] of c.miners) ops.push(ChainStore.put(KEY.miner(a), encodeMiner(m)))
    for (const [a, v] of c.bonds) ops.push(ChainStore.put(KEY.validatorBond(a), encodeValidatorBond(v)))
    for (const j of c.jobs.values()) {
      // Only an open job changes: a settled one is final.
      const before: Job | undefined = this.state.openJobs.get(j.id)
      ops.push(ChainStore.put(KEY.job(j.id), encodeJob(j)))
      if (isOpen(j.status)) ops.push(ChainStore.put(KEY.openJob(j.id), 1))
      else if (before !== undefined) ops.push({ type: 'del', key: KEY.openJob(j.id) })
      ops.push(...this.jobCounters.ops(before, j))
      if (j.receiptId !== null && before?.receiptId !== j.receiptId) ops.push(ChainStore.put(KEY.receipt(j.receiptId), j.id))
    }
    ops.push(ChainStore.put(KEY.totals, encodeTotals(c.totals)))
    if (c.beacon !== undefined) ops.push(ChainStore.put(KEY.beacon, c.beacon))
    return ops
  }

  private setMeta (meta: ChainMeta): void {
    this.meta = meta
    this.last = {
      height: meta.height,
      hash: meta.lastBlockHash === '' ? new Uint8Array(0) : fromHex(meta.lastBlockHash),
      time: meta.lastBlockTime,
      appHash: fromHex(meta.appHash),
      resultsHash: fromHex(meta.lastResultsHash),
    }
  }

  /** What the block executor reads: the committed state and the last block. */
  view (): ChainView {
    return { chainId: this.chainId, initialHeight: this.genesis.initialHeight, validators: this.validators, lastValidators: this.lastValidators, nextValidators: this.nextValidators, state: this.state, last: this.last }
  }

  /** The sets this node holds in memory: heights height..height+2. */
  validatorsAtSync (h: number): Validator[] | undefined {
    const top = this.meta.height
    if (h === top + 1) return this.validators
    if (h === top + 2) return this.nextValidators
    if (h === top && h >= this.genesis.initialHeight) return this.lastValidators
    return undefined
  }

  /** The validator set of any height from the first to height + 2 (undefined beyond). */
  async validatorsAt (h: number): Promise<Validator[] | undefined> {
    if (!Number.isSafeInteger(h) || h < this.genesis.initialHeight || h > this.meta.height + 2) return undefined
    return this.validatorsAtSync(h) ?? await this.validatorsFromStore(h)
  }

  private async validatorsFromStore (h: number): Promise<Validator[]> {
    const [k] = await this.store.keys(KEY.validatorSetPrefix, { lte: KEY.validatorSet(h), reverse: true, limit: 1 })
    if (k === undefined) throw new Error(`no validator set stored at or below height ${h}`)
    return decodeValidatorSet(await this.store.get(k) as Uint8Array)
  }

  /**
   * Writes an executed, committed block (block, commit, results, indexes, state) in one atomic
   * batch, then updates the in-memory state and announces it.
   */
  async commitBlock (block: Block, commit: Commit, exec: BlockExecution, opts: { sync?: boolean } = {}): Promise<CommittedBlock> {
    const h = block.header.height
    if (h !== this.meta.height + 1) throw new Error(`commitBlock: height ${h} does not follow ${this.meta.height}`)
    const last = lastBlockAfter(block, exec)
    const hash = toHexUpper(last.hash)
    const changes = exec.overlay.changes()
    const ops = this.stateOps(changes)
    ops.push({ type: 'put', key: KEY.block(h), value: encodeBlock(block) })
    ops.push(ChainStore.put(KEY.blockByHash(hash), h))
    ops.push({ type: 'put', key: KEY.commit(h), value: encodeCommit(commit) })
    ops.push(ChainStore.put(KEY.results(h), { txResults: exec.txResults, beginEvents: exec.beginEvents }))
    exec.txs.forEach((tx, i) => {
      ops.push(ChainStore.put(KEY.tx(tx.hash), [h, i]))
      for (const e of exec.txResults[i].events) {
        for (const a of e.attributes) {
          if (a.value.length > 0 && a.value.length <= MAX_INDEXED_VALUE) ops.push(ChainStore.put(KEY.txEvent(`${e.type}.${a.key}`, a.value, h, i), 1))
        }
      }
    })
    for (const e of exec.beginEvents) {
      for (const a of e.attributes) {
        if (a.value.length > 0 && a.value.length <= MAX_INDEXED_VALUE) ops.push(ChainStore.put(KEY.blockEvent(`${e.type}.${a.key}`, a.value, h), 1))
      }
    }
    const meta: ChainMeta = {
      ...this.meta,
      height: h,
      lastBlockHash: hash,
      lastBlockTime: last.time,
      appHash: toHexUpper(last.appHash),
      lastResultsHash: toHexUpper(last.resultsHash),
    }
    ops.push(ChainStore.put(KEY.meta, meta))
    // The set block h's changes give signs from h+2; it is never empty (no one eligible: the set goes on).
    const computed = activeSet(exec.overlay)
    const after = computed.length === 0 ? this.nextValidators : computed
    const changed = !bytesEqual(validatorsHash(after), validatorsHash(this.nextValidators))
    if (changed) ops.push(ChainStore.put(KEY.validatorSet(h + 2), encodeValidatorSet(after)))
    await this.store.write(ops, opts.sync ?? true)
    this.state.apply(changes)
    this.setMeta(meta)
    this.lastValidators = this.validators
    this.validators = this.nextValidators
    this.nextValidators = after
    if (changed) this.log.info({ height: h + 2, validators: after.length, power: after.reduce((s, v) => s + v.power, 0) }, 'validator set changes')
    const committed: CommittedBlock = { block, hash, commit, txs: exec.txs, txResults: exec.txResults, beginEvents: exec.beginEvents }
    this.emit('block', committed)
    return committed
  }

  /** Supply terms recomputed from every record (slow; for tests and aitbc_supply?verify). */
  recomputeTotals (): Omit<Totals, 'supply' | 'burned'> {
    let escrow = 0n; let bonded = 0n; let unbonding = 0n
    for (const j of this.state.openJobs.values()) escrow += j.maxFee
    for (const v of this.state.bonds.values()) {
      bonded += v.stake
      for (const u of v.unbonding) unbonding += u.amount
    }
    for (const m of this.state.miners.values()) {
      bonded += m.stake
      for (const u of m.unbonding) unbonding += u.amount
    }
    return { balances: this.state.sumBalances(), escrow, bonded, unbonding }
  }
}

function encodeValidatorSet (vals: Validator[]): unknown[] { return vals.map(v => [v.address, v.pubKey, v.power, v.name]) }
function decodeValidatorSet (b: Uint8Array): Validator[] {
  return unpack<Array<[Uint8Array, Uint8Array, number, string]>>(b).map(([address, pubKey, power, name]) => ({ address: new Uint8Array(address), pubKey: new Uint8Array(pubKey), power, name }))
}
