// The chain follower: catch-up by height (`blockchain` + `block` + `block_results`, in pages of
// 20 blocks, the next page fetched while this one is written) after a start, a restart or a
// dropped connection, plus the `tm.event='NewBlock'` subscription for new blocks (used as they
// come when they are next in line, else as a hint of the node's height). A `status` poll covers a
// subscription that went quiet.
//
// Blocks are written by IndexWriter, each in one atomic batch with the indexed height, after
// checking that it is the next one and that it extends the last block indexed, so a restart
// resumes where the last batch left off and no block is ever indexed twice. What each event does
// to the index is in eventIndexers.ts.
import { EventEmitter } from 'node:events'
import { RpcNetworkError, type Logger, type NodeClient, type Subscription } from '../node/client.ts'
import { parseGenesis } from '../genesis/genesis.ts'
import { MAX_BLOCKS_PER_READ, type BlockData, type NodeSource } from './nodeSource.ts'
import type { CoordinatorMetrics } from './metrics.ts'
import type { IndexWriter } from './indexWriter.ts'
import { IndexError, type ChainInfo, type Counts } from './blockIndex.ts'

export interface IndexerOptions {
  /** Status poll (lag, a quiet subscription). Default 2000 ms. */
  pollMs?: number
  reconnectMinMs?: number
  reconnectMaxMs?: number
}

export interface IndexerModules {
  client: Pick<NodeClient, 'call' | 'status' | 'latestHeight'>
  source: Pick<NodeSource, 'url' | 'blocks' | 'subscribeBlocks'>
  writer: IndexWriter
  metrics: CoordinatorMetrics
  logger: Logger
}

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

const PAGE = MAX_BLOCKS_PER_READ
const MAX_LIVE_BLOCKS = 200

/**
 * Events: 'job' (JobRecord, after the batch that changed it is written; one per change, in chain
 * order), 'block' (BlockRecord), 'error' is never emitted (errors are in status()).
 */
export class Indexer extends EventEmitter {
  private nodeHeight: number | null = null
  private target = 0
  private nodeReachable = false
  private subscribed = false
  private sub: Subscription | null = null
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

  get indexedHeight (): number { return this.m.writer.indexed.height }
  get chainInfo (): ChainInfo | null { return this.m.writer.chain }
  get countsNow (): Counts { return this.m.writer.counts }
  /** The first height whose chart figures the index holds. */
  get statsFrom (): number | null { return this.m.writer.statsFrom }

  status (): IndexerStatus {
    const indexed = this.m.writer.indexed
    const lag = this.nodeHeight === null ? null : Math.max(0, this.nodeHeight - indexed.height)
    return {
      chain_id: this.m.writer.chain?.chain_id ?? null,
      indexed_height: indexed.height,
      indexed_hash: indexed.hash,
      indexed_time: indexed.time === '' ? null : indexed.time,
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
    await this.m.writer.load()
    this.m.metrics.indexHeight.set(this.indexedHeight)
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
    if ((this.chainInfo !== null && this.indexedHeight >= height) || this.stopped) return
    await new Promise<void>(resolve => this.heightWaiters.push({ height, resolve }))
  }

  /** Asks the node for its height now and waits until the index reaches it. */
  async catchUp (): Promise<number> {
    const h = await this.m.client.latestHeight()
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
      this.m.metrics.lagBlocks.set(Math.max(0, this.nodeHeight - this.indexedHeight))
    }
  }

  private async poll (): Promise<void> {
    try {
      const h = await this.m.client.latestHeight()
      // A node that went back (its data was wiped) is reported, not followed.
      this.nodeHeight = h
      if (h < this.indexedHeight && this.fatal === null) this.lastError = { code: 'NODE_BEHIND', message: `the node is at height ${h}, below the index (${this.indexedHeight}); run \`aitbc coordinator rebuild\` if its chain was reset` }
      else if (this.lastError?.code === 'NODE_BEHIND') this.lastError = null
      this.onNodeHeight(h)
    } catch {
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
    if (b.height > this.indexedHeight && this.live.size < MAX_LIVE_BLOCKS) this.live.set(b.height, b)
    this.onNodeHeight(b.height)
  }

  private async run (): Promise<void> {
    let backoff = 250
    while (!this.stopped) {
      try {
        if (this.fatal !== null) { await this.idle(); continue }
        if (this.chainInfo !== null && !this.verified) { await this.verifyChain(); continue }
        if (this.chainInfo === null) {
          const p = this.initFromGenesis()
          this.applying = p
          try { await p } finally { this.applying = null }
          continue
        }
        if (this.indexedHeight < this.target) {
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
    const next = this.indexedHeight + 1
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
    const chain = this.chainInfo as ChainInfo
    const indexed = this.m.writer.indexed
    const status = await this.m.client.status()
    if (status.node_info.network !== chain.chain_id) {
      throw new IndexError('INDEX_CHAIN_MISMATCH', `the node follows chain "${status.node_info.network}" but the index holds "${chain.chain_id}"`)
    }
    const h = indexed.height
    if (h >= chain.initial_height && Number(status.sync_info.latest_block_height) >= h) {
      const r = await this.m.client.call('blockchain', { minHeight: String(h), maxHeight: String(h) })
      const hash = r.block_metas[0]?.block_id.hash
      if (hash !== indexed.hash) throw new IndexError('INDEX_CHAIN_MISMATCH', `the node's block ${h} is ${String(hash)}, the index holds ${indexed.hash}`)
    }
    this.verified = true
  }

  private async initFromGenesis (): Promise<void> {
    const g = parseGenesis((await this.m.client.call('genesis')).genesis)
    if (this.stopped) return
    await this.m.writer.init(g)
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
    const out = await this.m.writer.write(d)
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
    for (const w of this.heightWaiters) { if (w.height <= this.indexedHeight) w.resolve(); else still.push(w) }
    this.heightWaiters = still
  }
}
