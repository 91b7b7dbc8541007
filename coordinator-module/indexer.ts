// The chain follower: catch-up by height (`blockchain` + `block` + `block_results`, in pages of
// 20 blocks, the next page fetched while this one is written) after a start, a restart or a
// dropped connection, plus the `tm.event='NewBlock'` subscription for new blocks (used as they
// come when they are next in line, else as a hint of the node's height). A `status` poll covers a
// subscription that went quiet.
//
// Each block is written in one atomic batch together with the indexed height, after checking
// that it is the next one and that it extends the last block indexed, so a restart resumes
// where the last batch left off and no block is ever indexed twice.
//
// Jobs are indexed from block_results' events (finalize_block_events first: they run before the
// txs) and the txs' decoded bodies; accounts, miners and jobs that changed are marked for the
// Refresher, which reads their records from the node.
import { EventEmitter } from 'node:events'
import { Buffer } from 'node:buffer'
import type { Logger } from '../node/logger.ts'
import { RpcNetworkError } from '../node/rpc/client.ts'
import { decodeTx, jobIdFromTxHash, txToJSON, type Tx, type TxBody } from '../node/core/tx.ts'
import { addressFromBytes, fromHex, isAddress } from '../node/core/crypto.ts'
import { parseGenesis } from '../genesis/genesis.ts'
import { JOB_STATUSES, type JobStatus } from '../node/core/state.ts'
import { KEY, position } from './keys.ts'
import type { CoordinatorStore, StoreOp } from './store.ts'
import type { BlockData, EventJSON, NodeSource } from './nodeSource.ts'
import type { CoordinatorMetrics } from './metrics.ts'
import type { Refresher } from './refresher.ts'
import { newJob, applyAssign, applyCancel, applyReceipt, applyExpire, type JobRecord, type ChainPoint } from './jobRecord.ts'

export type IndexErrorCode = 'INDEX_GAP' | 'INDEX_CHAIN_MISMATCH' | 'INDEX_BAD_BLOCK'

export class IndexError extends Error {
  constructor (readonly code: IndexErrorCode, message: string) { super(message); this.name = 'IndexError' }
}

export interface IndexedPoint { height: number, hash: string, time: string }
export interface ChainInfo { chain_id: string, initial_height: number, genesis_time: string }

export interface Counts { txs: number, jobs: number, by_status: Record<JobStatus, number> }

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
  finalize_events: EventJSON[]
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
  events: EventJSON[]
  job_id: string | null
  receipt_id: string | null
}

export interface IndexerOptions {
  /** Status poll (lag, a quiet subscription). Default 2000 ms. */
  pollMs?: number
  reconnectMinMs?: number
  reconnectMaxMs?: number
}

export interface IndexerModules { store: CoordinatorStore, source: NodeSource, refresher: Refresher, metrics: CoordinatorMetrics, logger: Logger }

export interface IndexerStatus {
  chain_id: string | null
  indexed_height: number
  indexed_hash: string
  indexed_time: string | null
  node_height: number | null
  lag: number | null
  node_reachable: boolean
  subscribed: boolean
  catching_up: boolean
  error: { code: string, message: string } | null
}

const PAGE = 20
const MAX_LIVE_BLOCKS = 200
const JOB_EVENTS = new Set(['assign', 'cancel_job', 'record_receipt', 'expire_job'])
const MINER_EVENTS = new Set(['register_miner', 'update_miner', 'stake', 'unstake', 'unbond', 'slash', 'assign', 'record_receipt', 'expire_job'])

function attrs (e: EventJSON): Record<string, string> {
  const o: Record<string, string> = {}
  for (const a of e.attributes) o[a.key] = a.value
  return o
}

function emptyCounts (): Counts {
  return { txs: 0, jobs: 0, by_status: Object.fromEntries(JOB_STATUSES.map(s => [s, 0])) as Record<JobStatus, number> }
}

/**
 * Events: 'job' (JobRecord, after the batch that changed it is written; one per change, in chain
 * order), 'block' (BlockRecord), 'error' is never emitted (errors are in status()).
 */
export class Indexer extends EventEmitter {
  private chain: ChainInfo | null = null
  private indexed: IndexedPoint = { height: 0, hash: '', time: '' }
  private counts: Counts = emptyCounts()
  private readonly minerPrices = new Map<string, string>()
  private nodeHeight: number | null = null
  private target = 0
  private nodeReachable = false
  private subscribed = false
  private sub: { close: () => void } | null = null
  private subGen = 0
  private reconnectMs: number
  private reconnectTimer: NodeJS.Timeout | null = null
  private pollTimer: NodeJS.Timeout | null = null
  private readonly live = new Map<number, BlockData>()
  private prefetch: { from: number, to: number, blocks: Promise<BlockData[]> } | null = null
  private stopped = true
  private applying: Promise<void> | null = null
  private wakeLoop: (() => void) | null = null
  private fatal: IndexError | null = null
  /** The node was checked to follow the index's chain (once per start). */
  private verified = false
  private lastError: { code: string, message: string } | null = null
  private heightWaiters: Array<{ height: number, resolve: () => void }> = []

  constructor (private readonly opts: IndexerOptions, private readonly m: IndexerModules) {
    super()
    this.reconnectMs = opts.reconnectMinMs ?? 250
  }

  get indexedHeight (): number { return this.indexed.height }
  get chainInfo (): ChainInfo | null { return this.chain }
  get countsNow (): Counts { return this.counts }

  status (): IndexerStatus {
    const lag = this.nodeHeight === null ? null : Math.max(0, this.nodeHeight - this.indexed.height)
    return {
      chain_id: this.chain?.chain_id ?? null,
      indexed_height: this.indexed.height,
      indexed_hash: this.indexed.hash,
      indexed_time: this.indexed.time === '' ? null : this.indexed.time,
      node_height: this.nodeHeight,
      lag,
      node_reachable: this.nodeReachable,
      subscribed: this.subscribed,
      catching_up: lag !== null && lag > 1,
      error: this.fatal !== null ? { code: this.fatal.code, message: this.fatal.message } : this.lastError,
    }
  }

  /** Loads the index's position, then follows the node in the background. */
  async start (): Promise<void> {
    const s = this.m.store
    this.chain = await s.get<ChainInfo>(KEY.chain) ?? null
    this.indexed = await s.get<IndexedPoint>(KEY.indexed) ?? { height: 0, hash: '', time: '' }
    this.counts = await s.get<Counts>(KEY.counts) ?? emptyCounts()
    this.minerPrices.clear()
    for (const [k, v] of await s.entries<string>(KEY.minerPricePrefix)) this.minerPrices.set(k.slice(KEY.minerPricePrefix.length), v)
    this.m.metrics.indexHeight.set(this.indexed.height)
    this.verified = false
    this.fatal = null
    this.stopped = false
    void this.run()
    this.connect()
    this.pollTimer = setInterval(() => { void this.poll() }, this.opts.pollMs ?? 2000)
    this.pollTimer.unref()
    void this.poll()
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.pollTimer !== null) clearInterval(this.pollTimer)
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer)
    this.subGen++
    this.sub?.close()
    this.sub = null
    this.subscribed = false
    this.wakeLoop?.()
    // The loop ends at its next check; a block being written is finished first. A request to
    // the node still in flight is left to time out: nothing is written after it.
    await this.applying
    for (const w of this.heightWaiters.splice(0)) w.resolve()
  }

  /** Resolves once the index reaches `height` (or the indexer stops). */
  async reached (height: number): Promise<void> {
    if ((this.chain !== null && this.indexed.height >= height) || this.stopped) return
    await new Promise<void>(resolve => this.heightWaiters.push({ height, resolve }))
  }

  /** Asks the node for its height now and waits until the index reaches it. */
  async catchUp (): Promise<number> {
    const h = await this.m.source.latestHeight()
    this.onNodeHeight(h)
    await this.reached(h)
    if (this.fatal !== null) throw this.fatal
    return h
  }

  // ---- following the node ----

  private onNodeHeight (h: number): void {
    this.nodeReachable = true
    if (this.nodeHeight === null || h > this.nodeHeight) this.nodeHeight = h
    if (h > this.target) this.target = h
    this.updateLag()
    this.wakeLoop?.()
  }

  private updateLag (): void {
    if (this.nodeHeight !== null) {
      this.m.metrics.nodeHeight.set(this.nodeHeight)
      this.m.metrics.lagBlocks.set(Math.max(0, this.nodeHeight - this.indexed.height))
    }
  }

  private async poll (): Promise<void> {
    try {
      const h = await this.m.source.latestHeight()
      // A node that went back (its data was wiped) is reported, not followed.
      this.nodeHeight = h
      if (h < this.indexed.height && this.fatal === null) this.lastError = { code: 'NODE_BEHIND', message: `the node is at height ${h}, below the index (${this.indexed.height}); run \`aitbc coordinator rebuild\` if its chain was reset` }
      else if (this.lastError?.code === 'NODE_BEHIND') this.lastError = null
      this.onNodeHeight(h)
    } catch (e) {
      this.nodeReachable = false
      this.m.metrics.nodeErrors.inc({ op: 'status' })
    }
  }

  private connect (): void {
    if (this.stopped) return
    const gen = ++this.subGen
    this.m.source.subscribeBlocks(
      (b) => { if (gen === this.subGen) this.onLiveBlock(b) },
      (reason) => {
        if (gen !== this.subGen || this.stopped) return
        this.subscribed = false
        this.sub = null
        this.m.metrics.subscribed.set(0)
        this.m.logger.warn({ reason }, 'the NewBlock subscription dropped; reconnecting')
        this.scheduleReconnect()
      },
    ).then((sub) => {
      if (gen !== this.subGen || this.stopped) { sub.close(); return }
      this.sub = sub
      this.subscribed = true
      this.m.metrics.subscribed.set(1)
      this.reconnectMs = this.opts.reconnectMinMs ?? 250
      this.m.logger.info({ node: this.m.source.url }, 'subscribed to new blocks')
      void this.poll() // what was missed while disconnected is caught up by height
    }, (e: unknown) => {
      if (gen !== this.subGen || this.stopped) return
      this.nodeReachable = false
      this.m.metrics.nodeErrors.inc({ op: 'subscribe' })
      this.m.logger.debug({ err: (e as Error).message }, 'cannot subscribe to new blocks')
      this.scheduleReconnect()
    })
  }

  private scheduleReconnect (): void {
    if (this.stopped || this.reconnectTimer !== null) return
    const ms = this.reconnectMs
    this.reconnectMs = Math.min(ms * 2, this.opts.reconnectMaxMs ?? 5000)
    this.reconnectTimer = setTimeout(() => { this.reconnectTimer = null; this.connect() }, ms)
  }

  private onLiveBlock (b: BlockData): void {
    if (b.height > this.indexed.height && this.live.size < MAX_LIVE_BLOCKS) this.live.set(b.height, b)
    this.onNodeHeight(b.height)
  }

  private async run (): Promise<void> {
    let backoff = 250
    while (!this.stopped) {
      try {
        if (this.fatal !== null) { await this.idle(); continue }
        if (this.chain !== null && !this.verified) { await this.verifyChain(); continue }
        if (this.chain === null) {
          const p = this.initFromGenesis()
          this.applying = p
          try { await p } finally { this.applying = null }
          continue
        }
        if (this.indexed.height < this.target) {
          await this.step()
          backoff = 250
          this.lastError = null
          continue
        }
        await this.idle()
      } catch (e) {
        if (e instanceof IndexError && e.code !== 'INDEX_GAP') {
          this.fatal = e
          this.m.logger.error({ code: e.code, err: e.message }, 'indexing stopped: run `aitbc coordinator rebuild` if the node now follows another chain')
          for (const w of this.heightWaiters.splice(0)) w.resolve()
          continue
        }
        const err = e as Error
        this.lastError = { code: e instanceof RpcNetworkError ? 'NODE_UNREACHABLE' : 'INDEX_RETRY', message: err.message }
        if (e instanceof RpcNetworkError) this.nodeReachable = false
        this.m.metrics.nodeErrors.inc({ op: 'catch_up' })
        this.m.logger.warn({ err: err.message, retry_ms: backoff }, 'catch-up failed; retrying')
        this.prefetch = null
        await this.idle(backoff)
        backoff = Math.min(backoff * 2, 5000)
      }
    }
  }

  /** Waits for work (a new height, stop), at most `ms` when given. */
  private async idle (ms?: number): Promise<void> {
    await new Promise<void>(resolve => {
      const t = ms === undefined ? undefined : setTimeout(resolve, ms)
      this.wakeLoop = () => { if (t !== undefined) clearTimeout(t); resolve() }
    })
    this.wakeLoop = null
  }

  /** Indexes the next block (from the subscription) or the next page of blocks (by height). */
  private async step (): Promise<void> {
    const next = this.indexed.height + 1
    for (const h of this.live.keys()) if (h < next) this.live.delete(h)
    const liveBlock = this.live.get(next)
    if (liveBlock !== undefined) {
      this.live.delete(next)
      await this.apply(liveBlock)
      return
    }
    const to = Math.min(this.target, next + PAGE - 1)
    let blocks: BlockData[]
    if (this.prefetch !== null && this.prefetch.from === next) {
      const p = this.prefetch
      this.prefetch = null
      blocks = await p.blocks
    } else {
      this.prefetch = null
      blocks = await this.m.source.blocks(next, to)
    }
    const last = blocks.length === 0 ? next - 1 : blocks[blocks.length - 1].height
    if (last < this.target) {
      const from = last + 1
      const upTo = Math.min(this.target, from + PAGE - 1)
      const pre = this.m.source.blocks(from, upTo)
      pre.catch(() => {}) // awaited (and its error handled) when its turn comes
      this.prefetch = { from, to: upTo, blocks: pre }
    }
    for (const b of blocks) {
      if (this.stopped) return
      await this.apply(b)
    }
  }

  // ---- indexing ----

  /** An index that exists must be of the node's chain: same chain id, same block at its height. */
  private async verifyChain (): Promise<void> {
    const chain = this.chain as ChainInfo
    const status = await this.m.source.call('status')
    if (status.node_info.network !== chain.chain_id) {
      throw new IndexError('INDEX_CHAIN_MISMATCH', `the node follows chain "${String(status.node_info.network)}" but the index holds "${chain.chain_id}"`)
    }
    const h = this.indexed.height
    if (h >= chain.initial_height && Number(status.sync_info.latest_block_height) >= h) {
      const r = await this.m.source.call('blockchain', { minHeight: String(h), maxHeight: String(h) })
      const hash = r.block_metas[0]?.block_id?.hash
      if (hash !== this.indexed.hash) throw new IndexError('INDEX_CHAIN_MISMATCH', `the node's block ${h} is ${String(hash)}, the index holds ${this.indexed.hash}`)
    }
    this.verified = true
  }

  private async initFromGenesis (): Promise<void> {
    const doc = (await this.m.source.call('genesis')).genesis
    const g = parseGenesis(doc)
    if (this.stopped) return
    const info: ChainInfo = { chain_id: g.chainId, initial_height: g.initialHeight, genesis_time: g.genesisTime }
    await this.m.store.exclusive(async () => {
      const ops: StoreOp[] = [
        { type: 'put', key: KEY.chain, value: info },
        { type: 'put', key: KEY.indexed, value: { height: g.initialHeight - 1, hash: '', time: '' } },
        { type: 'put', key: KEY.counts, value: emptyCounts() },
      ]
      const accounts = new Set<string>([...g.accounts.map(a => a.address), ...g.validators.map(v => v.accountAddress), ...g.miners.map(x => x.address)])
      for (const a of accounts) ops.push(this.m.refresher.mark('account', a))
      for (const mi of g.miners) {
        ops.push(this.m.refresher.mark('miner', mi.address))
        ops.push({ type: 'put', key: KEY.minerPrice(mi.address), value: mi.pricePerSecond.toString() })
      }
      await this.m.store.write(ops)
      for (const mi of g.miners) this.minerPrices.set(mi.address, mi.pricePerSecond.toString())
    })
    this.chain = info
    this.indexed = { height: g.initialHeight - 1, hash: '', time: '' }
    this.counts = emptyCounts()
    this.m.refresher.poke()
    this.resolveWaiters()
    this.m.logger.info({ chain_id: g.chainId }, 'new index: following the chain from its genesis')
  }

  /** Writes one block, the next after the indexed height, in one batch. */
  private async apply (d: BlockData): Promise<void> {
    if (this.stopped) return
    const p = this.applyNow(d)
    this.applying = p
    try { await p } finally { this.applying = null }
  }

  private async applyNow (d: BlockData): Promise<void> {
    const started = process.hrtime.bigint()
    const out = await this.m.store.exclusive(async () => await this.build(d))
    this.indexed = out.point
    this.counts = out.counts
    for (const [a, p] of out.prices) this.minerPrices.set(a, p)
    this.m.refresher.poke()
    this.m.metrics.indexHeight.set(d.height)
    this.m.metrics.blocksIndexed.inc()
    this.m.metrics.txsIndexed.inc(d.txs.length)
    this.m.metrics.blockIndexSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9)
    if (this.nodeHeight === null || d.height > this.nodeHeight) this.nodeHeight = d.height
    this.updateLag()
    for (const j of out.changes) this.emit('job', j)
    this.emit('block', out.block)
    this.resolveWaiters()
  }

  private resolveWaiters (): void {
    const still: typeof this.heightWaiters = []
    for (const w of this.heightWaiters) { if (w.height <= this.indexed.height) w.resolve(); else still.push(w) }
    this.heightWaiters = still
  }

  private async build (d: BlockData): Promise<{ point: IndexedPoint, counts: Counts, prices: Map<string, string>, changes: JobRecord[], block: BlockRecord }> {
    const chain = this.chain as ChainInfo
    const h = d.height
    if (h !== this.indexed.height + 1) throw new IndexError('INDEX_GAP', `block ${h} is not the next one (indexed up to ${this.indexed.height})`)
    if (d.header.chain_id !== chain.chain_id) throw new IndexError('INDEX_CHAIN_MISMATCH', `block ${h} is on chain "${d.header.chain_id}", the index follows "${chain.chain_id}"`)
    if (this.indexed.hash !== '' && d.header.last_block_id.hash !== this.indexed.hash) {
      throw new IndexError('INDEX_CHAIN_MISMATCH', `block ${h} follows ${d.header.last_block_id.hash}, but the index holds block ${this.indexed.height} as ${this.indexed.hash}`)
    }
    if (d.txResults.length !== d.txs.length) throw new IndexError('INDEX_BAD_BLOCK', `block ${h} has ${d.txs.length} txs but ${d.txResults.length} results`)
    const time = d.header.time
    const ops: StoreOp[] = []
    const counts: Counts = { txs: this.counts.txs, jobs: this.counts.jobs, by_status: { ...this.counts.by_status } }
    const prices = new Map<string, string>()
    const priceOf = (a: string): string | null => prices.get(a) ?? this.minerPrices.get(a) ?? null
    const jobs = new Map<string, JobRecord>()
    const before = new Map<string, JobRecord | null>()
    const changes: JobRecord[] = []
    const dirtyAccounts = new Set<string>()
    const dirtyMiners = new Set<string>()
    const dirtyJobs = new Set<string>()

    // Decode the txs (the chain checked their signatures) and load the jobs the events touch.
    const txs: Array<Tx | null> = d.txs.map(b64 => { try { return decodeTx(new Uint8Array(Buffer.from(b64, 'base64')), { verify: false }) } catch { return null } })
    const referenced = new Set<string>()
    for (const e of [...d.finalizeEvents, ...d.txResults.flatMap(r => r.events)]) {
      if (JOB_EVENTS.has(e.type)) { const id = attrs(e).job_id; if (id !== undefined) referenced.add(id) }
    }
    const ids = [...referenced]
    const loaded = await this.m.store.getMany<JobRecord>(ids.map(KEY.job))
    ids.forEach((id, i) => { const j = loaded[i]; if (j !== undefined) { jobs.set(id, j); before.set(id, j) } })

    const getJob = (id: string, what: string): JobRecord => {
      const j = jobs.get(id)
      if (j === undefined) throw new IndexError('INDEX_BAD_BLOCK', `block ${h}: ${what} names job ${id}, which the index does not hold`)
      return j
    }
    const change = (j: JobRecord): void => {
      const prev = jobs.get(j.job_id)
      if (prev !== undefined) counts.by_status[prev.status]--
      counts.by_status[j.status]++
      jobs.set(j.job_id, j)
      dirtyJobs.add(j.job_id)
      changes.push(j)
    }
    const touch = (e: EventJSON, into: Set<string>): void => {
      for (const a of e.attributes) if (a.value.startsWith('aitbc1') && isAddress(a.value)) into.add(a.value)
    }

    // 1. Block-begin work (it runs before the block's txs): expiry, unbonding, slashing.
    for (const e of d.finalizeEvents) {
      const a = attrs(e)
      touch(e, dirtyAccounts)
      if (MINER_EVENTS.has(e.type) && a.miner !== undefined && a.miner !== '') dirtyMiners.add(a.miner)
      if (e.type === 'expire_job') change(applyExpire(getJob(a.job_id, 'expire_job'), a.refund, a.slashed, { height: h, time, txHash: null }))
    }

    // 2. The txs, in order.
    const proposer = addressFromBytes(fromHex(d.header.proposer_address))
    let jobsSubmitted = 0
    const txTypes: Record<string, number> = {}
    for (let i = 0; i < d.txs.length; i++) {
      const tx = txs[i]
      const r = d.txResults[i]
      const hash = tx?.hash ?? ''
      if (tx === null) throw new IndexError('INDEX_BAD_BLOCK', `block ${h}: tx ${i} does not decode`)
      const at: ChainPoint & { txHash: string } = { height: h, time, txHash: hash }
      const named = new Set<string>([tx.sender])
      const body = tx.body
      if (body.type === 'transfer') named.add(body.to)
      if (body.type === 'assign') named.add(body.miner)
      let jobId: string | null = null
      let receiptId: string | null = null
      for (const e of r.events) {
        const a = attrs(e)
        touch(e, named)
        if (MINER_EVENTS.has(e.type) && a.miner !== undefined && a.miner !== '') dirtyMiners.add(a.miner)
        switch (e.type) {
          case 'submit_job': {
            jobId = a.job_id
            if (jobId !== jobIdFromTxHash(hash)) throw new IndexError('INDEX_BAD_BLOCK', `block ${h}: submit_job event names ${jobId}, the tx makes ${jobIdFromTxHash(hash)}`)
            const j = newJob(jobId, tx, at, position(h, i))
            counts.jobs++
            jobsSubmitted++
            before.set(jobId, null)
            change(j)
            ops.push({ type: 'put', key: KEY.jobAll(j.position, jobId), value: '' })
            ops.push({ type: 'put', key: KEY.jobByClient(j.client, j.position, jobId), value: '' })
            break
          }
          case 'assign': {
            jobId = a.job_id
            const j = getJob(a.job_id, 'assign')
            change(applyAssign(j, a.miner, priceOf(a.miner), at))
            ops.push({ type: 'put', key: KEY.jobByMiner(a.miner, j.position, j.job_id), value: '' })
            break
          }
          case 'cancel_job':
            jobId = a.job_id
            change(applyCancel(getJob(a.job_id, 'cancel_job'), a.refund, at))
            break
          case 'record_receipt': {
            jobId = a.job_id
            receiptId = a.receipt_id
            if (body.type !== 'record_receipt') throw new IndexError('INDEX_BAD_BLOCK', `block ${h}: a record_receipt event on a ${tx.type} tx`)
            change(applyReceipt(getJob(a.job_id, 'record_receipt'), body, a.receipt_id, a.paid, a.refund, at))
            ops.push({ type: 'put', key: KEY.receipt(a.receipt_id), value: a.job_id })
            break
          }
          case 'register_miner':
          case 'update_miner': {
            const b = body as Extract<TxBody, { type: 'register_miner' }> | Extract<TxBody, { type: 'update_miner' }>
            if (b.pricePerSecond !== null) prices.set(tx.sender, b.pricePerSecond.toString())
            break
          }
        }
      }
      if (tx.type === 'cancel_job' && jobId === null) jobId = (body as Extract<TxBody, { type: 'cancel_job' }>).jobId
      for (const a of named) {
        dirtyAccounts.add(a)
        ops.push({ type: 'put', key: KEY.accountTx(a, h, i), value: hash })
      }
      const j = txToJSON(tx)
      const rec: TxRecord = {
        hash,
        height: String(h),
        index: i,
        time,
        type: tx.type,
        sender: tx.sender,
        nonce: j.nonce as string,
        fee: j.fee as string,
        body: j.body,
        code: r.code,
        log: r.log,
        events: r.events.map(e => ({ type: e.type, attributes: e.attributes.map(x => ({ key: x.key, value: x.value })) })),
        job_id: jobId,
        receipt_id: receiptId,
      }
      ops.push({ type: 'put', key: KEY.tx(hash), value: rec })
      ops.push({ type: 'put', key: KEY.txAt(h, i), value: hash })
      txTypes[tx.type] = (txTypes[tx.type] ?? 0) + 1
    }
    if (d.txs.length > 0) dirtyAccounts.add(proposer) // fees
    counts.txs += d.txs.length

    // 3. Jobs: the record and its status index.
    for (const [id, j] of jobs) {
      if (!dirtyJobs.has(id)) continue
      const prev = before.get(id)
      if (prev !== null && prev !== undefined && prev.status !== j.status) ops.push({ type: 'del', key: KEY.jobByStatus(prev.status, j.position, id) })
      if (prev === null || prev === undefined || prev.status !== j.status) ops.push({ type: 'put', key: KEY.jobByStatus(j.status, j.position, id), value: '' })
      ops.push({ type: 'put', key: KEY.job(id), value: j })
      ops.push(this.m.refresher.mark('job', id))
    }
    for (const a of dirtyAccounts) ops.push(this.m.refresher.mark('account', a))
    for (const a of dirtyMiners) ops.push(this.m.refresher.mark('miner', a))
    for (const [a, p] of prices) ops.push({ type: 'put', key: KEY.minerPrice(a), value: p })

    // 4. The block, the counters and the indexed height, in the same batch.
    const block: BlockRecord = {
      height: String(h),
      hash: d.hash,
      time,
      chain_id: d.header.chain_id,
      proposer_address: d.header.proposer_address,
      proposer,
      num_txs: d.txs.length,
      last_block_hash: d.header.last_block_id.hash,
      app_hash: d.header.app_hash,
      data_hash: d.header.data_hash,
      jobs_submitted: jobsSubmitted,
      tx_types: txTypes,
      finalize_events: d.finalizeEvents.map(e => ({ type: e.type, attributes: e.attributes.map(x => ({ key: x.key, value: x.value })) })),
    }
    const point: IndexedPoint = { height: h, hash: d.hash, time }
    ops.push({ type: 'put', key: KEY.block(h), value: block })
    ops.push({ type: 'put', key: KEY.blockByHash(d.hash), value: h })
    ops.push({ type: 'put', key: KEY.counts, value: counts })
    ops.push({ type: 'put', key: KEY.indexed, value: point })
    await this.m.store.write(ops)
    return { point, counts, prices, changes, block }
  }
}
