// The index changes one block makes, computed without I/O. The block's events are taken in chain
// order, finalize_block events first (expiry, unbonding and slashing run before the txs), then
// each tx's; every event names the accounts in its attributes (their records changed, and a tx
// is listed under each), then its event indexer (eventIndexers.ts) does what its kind does. The
// txs' records, the jobs' status index, the block record, the chart figures (chainStats.ts), the
// counters and the indexed height follow. IndexWriter writes the result in one batch.
import { Buffer } from 'node:buffer'
import { decodeTx, txToJSON, type Tx } from '../node/core/tx.ts'
import { summarizeTx } from '../node/core/txs/registry.ts'
import { addressFromBytes, fromHex, isAddress } from '../node/core/crypto.ts'
import { JOB_STATUSES } from '../node/core/state.ts'
import type { EventAttributeJSON, EventJSON, JobStatusName } from '../node/client.ts'
import { KEY, type DirtyKind } from './keys.ts'
import type { StoreOp } from './store.ts'
import type { BlockData } from './nodeSource.ts'
import type { ChainPoint, JobRecord } from './jobRecord.ts'
import { EVENT_INDEXERS, type Attributes, type TxInBlock } from './eventIndexers.ts'
import { ChainStatsBuilder, statKeysToRead, type StatsBefore } from './chainStats.ts'

export type IndexErrorCode = 'INDEX_GAP' | 'INDEX_CHAIN_MISMATCH' | 'INDEX_BAD_BLOCK'

export class IndexError extends Error {
  constructor (readonly code: IndexErrorCode, message: string) { super(message); this.name = 'IndexError' }
}

export interface IndexedPoint { height: number, hash: string, time: string }
export interface ChainInfo { chain_id: string, initial_height: number, genesis_time: string, /** absent in indexes written before it was kept */ max_num_predict?: number }

export interface Counts { txs: number, jobs: number, by_status: Record<JobStatusName, number> }

/** An event as the index stores it: the node's EventJSON without the `index` flags. */
export interface StoredEventJSON { type: string, attributes: Array<Omit<EventAttributeJSON, 'index'>> }

/** A block as stored in the index. */
export interface BlockRecord {
  height: string
  hash: string
  time: string
  chain_id: string
  proposer_address: string
  proposer: string
  num_txs: number
  last_block_hash: string
  app_hash: string
  data_hash: string
  jobs_submitted: number
  tx_types: Record<string, number>
  finalize_events: StoredEventJSON[]
}

/** A transaction as stored in the index. */
export interface TxRecord {
  hash: string
  height: string
  index: number
  time: string
  type: string
  sender: string | null
  nonce: string | null
  fee: string | null
  body: unknown
  code: number
  log: string
  events: StoredEventJSON[]
  job_id: string | null
  receipt_id: string | null
  /** One line for people, from the tx type's module (absent in indexes written before it existed). */
  summary?: string
}

/** Where the index stands before a block. */
export interface IndexState {
  chain: ChainInfo
  indexed: IndexedPoint
  counts: Counts
  /** Miners' prices as their register_miner and update_miner txs set them. */
  minerPrices: ReadonlyMap<string, string>
}

export interface BlockIndexResult {
  /** What the block writes, except the refresher's marks. */
  ops: StoreOp[]
  /** Records the block changed, to read again from the node. */
  dirty: Array<{ kind: DirtyKind, id: string }>
  point: IndexedPoint
  counts: Counts
  /** Miner prices the block set. */
  prices: Map<string, string>
  /** Each change to a job, in chain order. */
  changes: JobRecord[]
  block: BlockRecord
}

export function emptyCounts (): Counts {
  return { txs: 0, jobs: 0, by_status: Object.fromEntries(JOB_STATUSES.map(s => [s, 0])) as Record<JobStatusName, number> }
}

export function attributesOf (e: EventJSON): Attributes {
  const o: Record<string, string> = {}
  for (const a of e.attributes) o[a.key] = a.value
  return o
}

function storedEvent (e: EventJSON): StoredEventJSON {
  return { type: e.type, attributes: e.attributes.map(x => ({ key: x.key, value: x.value })) }
}

/** The jobs the block's events change: read them from the index and pass them to indexBlock. */
export function jobsToRead (d: BlockData): string[] {
  const ids = new Set<string>()
  for (const e of [...d.finalizeEvents, ...d.txResults.flatMap(r => r.events)]) {
    if (EVENT_INDEXERS.get(e.type)?.readsJob !== true) continue
    const id = attributesOf(e).job_id
    if (id !== undefined) ids.add(id)
  }
  return [...ids]
}

/**
 * The chart figures' keys the block reads: its minute, and the totals and minute of every miner
 * its events name or its jobs (`jobs`, from jobsToRead) are assigned to.
 */
export function statsToRead (d: BlockData, jobs: ReadonlyMap<string, JobRecord>): string[] {
  const miners = new Set<string>()
  for (const e of [...d.finalizeEvents, ...d.txResults.flatMap(r => r.events)]) {
    const m = attributesOf(e).miner
    if (m !== undefined && m !== '') miners.add(m)
  }
  for (const j of jobs.values()) if (j.miner !== null) miners.add(j.miner)
  return statKeysToRead(d.header.time, [...miners].sort())
}

/** Throws unless `d` is the block after `s.indexed`, on the index's chain, and whole. */
export function checkNextBlock (d: BlockData, s: IndexState): void {
  const h = d.height
  if (h !== s.indexed.height + 1) throw new IndexError('INDEX_GAP', `block ${h} is not the next one (indexed up to ${s.indexed.height})`)
  if (d.header.chain_id !== s.chain.chain_id) throw new IndexError('INDEX_CHAIN_MISMATCH', `block ${h} is on chain "${d.header.chain_id}", the index follows "${s.chain.chain_id}"`)
  if (s.indexed.hash !== '' && d.header.last_block_id.hash !== s.indexed.hash) {
    throw new IndexError('INDEX_CHAIN_MISMATCH', `block ${h} follows ${d.header.last_block_id.hash}, but the index holds block ${s.indexed.height} as ${s.indexed.hash}`)
  }
  if (d.txResults.length !== d.txs.length) throw new IndexError('INDEX_BAD_BLOCK', `block ${h} has ${d.txs.length} txs but ${d.txResults.length} results`)
}

/**
 * The index changes of block `d`, the next one after `s`. `jobs` holds the indexed jobs that
 * jobsToRead(d) names (those the index has); `stats`, the chart figures statsToRead names.
 * Throws IndexError.
 */
export function indexBlock (d: BlockData, s: IndexState, jobs: ReadonlyMap<string, JobRecord>, stats: StatsBefore): BlockIndexResult {
  checkNextBlock(d, s)
  const b = new BlockIndex(d, s, jobs, stats)
  const atBlock: ChainPoint = { height: d.height, time: d.header.time, txHash: null }
  for (const e of d.finalizeEvents) b.event(e, null, atBlock)
  for (let i = 0; i < d.txs.length; i++) b.tx(i)
  return b.finish()
}

/** The changes of one block as they accumulate; event indexers act through its methods. */
export class BlockIndex {
  readonly height: number
  readonly time: string
  private readonly ops: StoreOp[] = []
  private readonly counts: Counts
  private readonly prices = new Map<string, string>()
  private readonly jobs: Map<string, JobRecord>
  /** Each changed job as the index held it before this block (null: the block creates it). */
  private readonly before = new Map<string, JobRecord | null>()
  private readonly changes: JobRecord[] = []
  private readonly accounts = new Set<string>()
  private readonly miners = new Set<string>()
  private readonly txTypes: Record<string, number> = {}
  private jobsSubmitted = 0
  private readonly stats: ChainStatsBuilder

  /** The chain's max_num_predict (a job without num_predict gets it). */
  get maxNumPredict (): number { return this.s.chain.max_num_predict ?? 4096 }

  constructor (private readonly d: BlockData, private readonly s: IndexState, jobs: ReadonlyMap<string, JobRecord>, stats: StatsBefore) {
    this.height = d.height
    this.time = d.header.time
    this.stats = new ChainStatsBuilder(d.height, d.header.time, s.indexed.time, stats)
    this.counts = { txs: s.counts.txs, jobs: s.counts.jobs, by_status: { ...s.counts.by_status } }
    this.jobs = new Map(jobs)
  }

  // ---- for event indexers ----

  put (key: string, value: unknown): void { this.ops.push({ type: 'put', key, value }) }

  /** The job `id` as it stands at this point of the block; `what` (the event) is for the error. */
  job (id: string, what: string): JobRecord {
    const j = this.jobs.get(id)
    if (j === undefined) throw this.bad(`${what} names job ${id}, which the index does not hold`)
    return j
  }

  /** A job the block creates: counted and listed (all jobs, by client). */
  addJob (j: JobRecord): void {
    this.counts.jobs++
    this.jobsSubmitted++
    this.before.set(j.job_id, null)
    this.changeJob(j)
    this.put(KEY.jobAll(j.position, j.job_id), '')
    this.put(KEY.jobByClient(j.client, j.position, j.job_id), '')
  }

  /** A new state of a job, in chain order. */
  changeJob (j: JobRecord): void {
    const prev = this.jobs.get(j.job_id)
    if (prev !== undefined) {
      this.counts.by_status[prev.status]--
      if (!this.before.has(j.job_id)) this.before.set(j.job_id, prev)
    }
    this.counts.by_status[j.status]++
    this.stats.jobChanged(prev ?? null, j)
    this.jobs.set(j.job_id, j)
    this.changes.push(j)
  }

  /** The account's record changed; in a tx, the tx is listed under it. */
  nameAccount (address: string | undefined, tx: TxInBlock | null): void {
    if (address === undefined || address === '') return
    if (tx !== null) tx.named.add(address)
    else this.accounts.add(address)
  }

  /** The miner's record changed. */
  minerChanged (address: string | undefined): void {
    if (address !== undefined && address !== '') this.miners.add(address)
  }

  /** The miner's stake is set (registration) or moved (stake, unstake; a slash also counts as slashed). */
  stakeChanged (miner: string | undefined, change: { set?: bigint, add?: bigint, slashed?: bigint }): void {
    if (miner !== undefined && miner !== '') this.stats.stakeChanged(miner, change)
  }

  /** The miner's price as of this point of the block (for a job assigned to it). */
  priceOf (miner: string): string | null { return this.prices.get(miner) ?? this.s.minerPrices.get(miner) ?? null }

  setPrice (miner: string, pricePerSecond: string): void { this.prices.set(miner, pricePerSecond) }

  /** An IndexError for a block that does not make sense. */
  bad (message: string): IndexError { return new IndexError('INDEX_BAD_BLOCK', `block ${this.height}: ${message}`) }

  // ---- for indexBlock ----

  event (e: EventJSON, tx: TxInBlock | null, at: ChainPoint): void {
    for (const a of e.attributes) if (a.value.startsWith('aitbc1') && isAddress(a.value)) this.nameAccount(a.value, tx)
    EVENT_INDEXERS.get(e.type)?.index(attributesOf(e), { block: this, tx, at })
  }

  /** Tx `i` of the block (the chain checked its signature): its events, its record, its accounts' lists. */
  tx (i: number): void {
    const h = this.height
    const r = this.d.txResults[i]
    let tx: Tx
    try { tx = decodeTx(new Uint8Array(Buffer.from(this.d.txs[i], 'base64')), { verify: false }) } catch { throw this.bad(`tx ${i} does not decode`) }
    const t: TxInBlock = { tx, index: i, named: new Set([tx.sender]), jobId: null, receiptId: null }
    const at: ChainPoint = { height: h, time: this.time, txHash: tx.hash }
    for (const e of r.events) this.event(e, t, at)
    for (const a of t.named) {
      this.accounts.add(a)
      this.put(KEY.accountTx(a, h, i), tx.hash)
    }
    const json = txToJSON(tx)
    const rec: TxRecord = {
      hash: tx.hash,
      height: String(h),
      index: i,
      time: this.time,
      type: tx.type,
      sender: tx.sender,
      nonce: json.nonce as string,
      fee: json.fee as string,
      body: json.body,
      summary: summarizeTx(tx),
      code: r.code,
      log: r.log,
      events: r.events.map(storedEvent),
      job_id: t.jobId,
      receipt_id: t.receiptId,
    }
    this.put(KEY.tx(tx.hash), rec)
    this.put(KEY.txAt(h, i), tx.hash)
    this.txTypes[tx.type] = (this.txTypes[tx.type] ?? 0) + 1
  }

  finish (): BlockIndexResult {
    const d = this.d
    const h = this.height
    const proposer = addressFromBytes(fromHex(d.header.proposer_address))
    if (d.txs.length > 0) this.accounts.add(proposer) // fees
    this.counts.txs += d.txs.length
    const dirty: BlockIndexResult['dirty'] = []
    // Jobs: the record and its status index.
    for (const [id, prev] of this.before) {
      const j = this.jobs.get(id) as JobRecord
      if (prev !== null && prev.status !== j.status) this.ops.push({ type: 'del', key: KEY.jobByStatus(prev.status, j.position, id) })
      if (prev === null || prev.status !== j.status) this.put(KEY.jobByStatus(j.status, j.position, id), '')
      this.put(KEY.job(id), j)
      dirty.push({ kind: 'job', id })
    }
    for (const a of this.accounts) dirty.push({ kind: 'account', id: a })
    for (const a of this.miners) dirty.push({ kind: 'miner', id: a })
    for (const [a, p] of this.prices) this.put(KEY.minerPrice(a), p)
    // The block, the counters and the indexed height.
    const block: BlockRecord = {
      height: String(h),
      hash: d.hash,
      time: this.time,
      chain_id: d.header.chain_id,
      proposer_address: d.header.proposer_address,
      proposer,
      num_txs: d.txs.length,
      last_block_hash: d.header.last_block_id.hash,
      app_hash: d.header.app_hash,
      data_hash: d.header.data_hash,
      jobs_submitted: this.jobsSubmitted,
      tx_types: this.txTypes,
      finalize_events: d.finalizeEvents.map(storedEvent),
    }
    const point: IndexedPoint = { height: h, hash: d.hash, time: this.time }
    this.put(KEY.block(h), block)
    this.put(KEY.blockByHash(d.hash), h)
    this.ops.push(...this.stats.finish(d.txs.length).ops)
    this.put(KEY.counts, this.counts)
    this.put(KEY.indexed, point)
    return { ops: this.ops, dirty, point, counts: this.counts, prices: this.prices, changes: this.changes, block }
  }
}
