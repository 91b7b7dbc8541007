// Writes the chain into the coordinator's index: its genesis once, then each block, the next
// after the indexed height, in one atomic batch together with the indexed height, the counters
// and the refresher's marks of the records it changed. A restart resumes where the last batch
// left off, and a block is never indexed twice: one that is not the next is refused whole.
import type { Genesis } from '../genesis/genesis.ts'
import { KEY } from './keys.ts'
import type { CoordinatorStore, StoreOp } from './store.ts'
import type { BlockData } from './nodeSource.ts'
import type { Refresher } from './refresher.ts'
import type { JobRecord } from './jobRecord.ts'
import { emptyMinerTotals, statsBefore, type MinerTotals } from './chainStats.ts'
import {
  IndexError, checkNextBlock, emptyCounts, indexBlock, jobsToRead, statsToRead, type BlockIndexResult, type ChainInfo, type Counts, type IndexedPoint, type IndexState,
} from './blockIndex.ts'

export interface IndexWriterModules { store: CoordinatorStore, refresher: Pick<Refresher, 'mark' | 'poke'> }

const NOTHING: IndexedPoint = Object.freeze({ height: 0, hash: '', time: '' })

export class IndexWriter {
  private chainNow: ChainInfo | null = null
  private indexedNow: IndexedPoint = NOTHING
  private countsNow: Counts = emptyCounts()
  private readonly minerPrices = new Map<string, string>()
  private statsFromNow: number | null = null

  constructor (private readonly m: IndexWriterModules) {}

  /** The chain the index follows; null before the genesis is written. */
  get chain (): ChainInfo | null { return this.chainNow }
  /** The last block written. */
  get indexed (): IndexedPoint { return this.indexedNow }
  get counts (): Counts { return this.countsNow }
  /** The first height whose chart figures the index holds (an index written before they existed starts later); null before the genesis. */
  get statsFrom (): number | null { return this.statsFromNow }

  /** Reads where the index stands from the store. */
  async load (): Promise<void> {
    const s = this.m.store
    this.chainNow = await s.get<ChainInfo>(KEY.chain) ?? null
    this.indexedNow = await s.get<IndexedPoint>(KEY.indexed) ?? NOTHING
    this.countsNow = await s.get<Counts>(KEY.counts) ?? emptyCounts()
    this.minerPrices.clear()
    for (const [k, v] of await s.entries<string>(KEY.minerPricePrefix)) this.minerPrices.set(k.slice(KEY.minerPricePrefix.length), v)
    const meta = await s.get<{ from_height: number }>(KEY.statsMeta)
    this.statsFromNow = meta?.from_height ?? null
    if (meta === undefined && this.chainNow !== null) {
      // An index written before the chart figures: they start with the next block (a rebuild fills them in).
      const value = { from_height: this.indexedNow.height + 1 }
      await s.exclusive(async () => { await s.write([{ type: 'put', key: KEY.statsMeta, value }]) })
      this.statsFromNow = value.from_height
    }
  }

  /** Starts the index of a chain at its genesis: accounts and miners to read, miners' prices. */
  async init (g: Genesis): Promise<void> {
    const info: ChainInfo = { chain_id: g.chainId, initial_height: g.initialHeight, genesis_time: g.genesisTime, max_num_predict: g.params.maxNumPredict }
    const point: IndexedPoint = { height: g.initialHeight - 1, hash: '', time: '' }
    await this.m.store.exclusive(async () => {
      const ops: StoreOp[] = [
        { type: 'put', key: KEY.chain, value: info },
        { type: 'put', key: KEY.indexed, value: point },
        { type: 'put', key: KEY.counts, value: emptyCounts() },
        { type: 'put', key: KEY.statsMeta, value: { from_height: g.initialHeight } },
      ]
      const accounts = new Set<string>([...g.accounts.map(a => a.address), ...g.validators.map(v => v.accountAddress), ...g.miners.map(x => x.address)])
      for (const a of accounts) ops.push(this.m.refresher.mark('account', a))
      for (const mi of g.miners) {
        ops.push(this.m.refresher.mark('miner', mi.address))
        ops.push({ type: 'put', key: KEY.minerPrice(mi.address), value: mi.pricePerSecond.toString() })
        const totals: MinerTotals = { ...emptyMinerTotals(), stake: mi.stake.toString(), height: point.height }
        ops.push({ type: 'put', key: KEY.minerTotals(mi.address), value: totals })
      }
      await this.m.store.write(ops)
      this.minerPrices.clear()
      for (const mi of g.miners) this.minerPrices.set(mi.address, mi.pricePerSecond.toString())
    })
    this.chainNow = info
    this.statsFromNow = g.initialHeight
    this.indexedNow = point
    this.countsNow = emptyCounts()
    this.m.refresher.poke()
  }

  /** Writes block `d`, the next one, in one batch. Throws IndexError (writing nothing) when it cannot. */
  async write (d: BlockData): Promise<BlockIndexResult> {
    const out = await this.m.store.exclusive(async () => {
      const chain = this.chainNow
      if (chain === null) throw new IndexError('INDEX_GAP', `block ${d.height} before the index knows its chain`)
      const state: IndexState = { chain, indexed: this.indexedNow, counts: this.countsNow, minerPrices: this.minerPrices }
      checkNextBlock(d, state)
      const ids = jobsToRead(d)
      const loaded = await this.m.store.getMany<JobRecord>(ids.map(KEY.job))
      const jobs = new Map<string, JobRecord>()
      ids.forEach((id, i) => { const j = loaded[i]; if (j !== undefined) jobs.set(id, j) })
      const statKeys = statsToRead(d, jobs)
      const stats = statsBefore(statKeys, await this.m.store.getMany(statKeys))
      const r = indexBlock(d, state, jobs, stats)
      await this.m.store.write([...r.ops, ...r.dirty.map(x => this.m.refresher.mark(x.kind, x.id))])
      this.indexedNow = r.point
      this.countsNow = r.counts
      for (const [a, p] of r.prices) this.minerPrices.set(a, p)
      return r
    })
    this.m.refresher.poke()
    return out
  }
}
