// The chart series (GET /v1/stats/series, the explorer's charts): each metric over a window of
// the last N blocks (one point per block, or per miner change) or the last N minutes (one point
// per minute), read from the figures the index writes with each block (chainStats.ts), except the
// mempool, sampled from the node (mempoolSampler.ts). A window reads at most one key per block or
// per minute, and a series has at most MAX_SERIES_POINTS points.
import { ApiError, parseAddress, type IndexPosition } from './indexReader.ts'
import { KEY, pad } from './keys.ts'
import type { CoordinatorStore } from './store.ts'
import type { MempoolSample } from './mempoolSampler.ts'
import {
  FINAL_STATUSES, MINUTE_MS, VERIFYING, histogramQuantile, minuteOf, quantile,
  type BlockStat, type MinerEvent, type MinerMinute, type MinerTotals, type MinuteStat,
} from './chainStats.ts'

export const MAX_SERIES_POINTS = 1500
export const MAX_WINDOW_BLOCKS = 1500
export const MAX_WINDOW_MINUTES = 1440
/** The windows the explorer offers. */
export const WINDOWS = ['100b', '1h', '24h'] as const
export const DEFAULT_WINDOW = '1h'

interface MetricDef { unit: string, miner: boolean, description: string }

/** Every metric, its unit (of `value`) and what a point is. */
export const METRICS: Readonly<Record<string, MetricDef>> = {
  'tx-per-s': { unit: 'tx/s', miner: false, description: 'committed transactions per second (txs over the block intervals of the point)' },
  'block-interval': { unit: 's', miner: false, description: 'time from the previous block (a minute: the mean)' },
  mempool: { unit: 'txs', miner: false, description: 'transactions in the node\'s mempool, sampled every 2 s (a minute: the largest sample)' },
  jobs: { unit: 'jobs', miner: false, description: 'jobs that reached their outcome, with by_outcome' },
  'job-latency': { unit: 's', miner: false, description: 'submit-to-settle time (chain time) of jobs settled with a receipt: value p50, with p95 and count' },
  'miner-tokens-per-s': { unit: 'tokens/s', miner: true, description: 'completion tokens per second of generation (the receipt\'s eval_ms, else compute_ms)' },
  'miner-first-token': { unit: 'ms', miner: true, description: 'time to first token (the receipt\'s first_token_ms; no points until receipts carry it)' },
  'miner-rates': { unit: '%', miner: true, description: 'success rate over the window so far, with failure_rate, expiry_rate, verification_rate (null without samples), settled and samples' },
  'miner-earnings': { unit: 'AITBC', miner: true, description: 'total earned, with paid (a job) or earned (a minute)' },
  'miner-stake': { unit: 'AITBC', miner: true, description: 'bonded stake, with slashed_total' },
}

export type SeriesWindow = { name: string, kind: 'blocks', blocks: number } | { name: string, kind: 'minutes', minutes: number }

export interface SeriesPoint { t: string, height: number, value: number, [extra: string]: unknown }

export interface Series {
  metric: string
  window: string
  unit: string
  /** What one point is: a block, a minute, a mempool sample, or one change of the miner. */
  resolution: 'block' | 'minute' | 'sample' | 'change'
  /** The window's span: its first and last block's times (a block window) or its first minute and now. */
  from: string | null
  to: string | null
  /** null: the figures cover the whole chain; else the first height they cover (an index written before they existed). */
  figures_from_height: number | null
  points: SeriesPoint[]
}

// ---- input checks ----

export function parseMetric (v: unknown): string {
  if (typeof v !== 'string' || !Object.hasOwn(METRICS, v)) {
    throw new ApiError(400, 'BAD_METRIC', `metric must be one of ${Object.keys(METRICS).join(', ')}${typeof v === 'string' ? ` (not "${v.slice(0, 40)}")` : ''}`)
  }
  return v
}

/** `<n>b` (blocks, up to 1500), `<n>m`, `<n>h` or `<n>d` (up to 24 hours). */
export function parseWindow (v: unknown): SeriesWindow {
  if (v === undefined || v === '') return parseWindow(DEFAULT_WINDOW)
  const m = typeof v === 'string' ? /^([0-9]{1,9})(b|m|h|d)$/.exec(v) : null
  if (m === null) throw new ApiError(400, 'BAD_WINDOW', `window must be a number of blocks (100b) or of minutes, hours or days (90m, 1h, 24h, 1d), not "${String(v).slice(0, 40)}"`)
  const n = Number(m[1])
  if (n < 1) throw new ApiError(400, 'BAD_WINDOW', 'window must be at least one block or one minute')
  if (m[2] === 'b') {
    if (n > MAX_WINDOW_BLOCKS) throw new ApiError(400, 'WINDOW_TOO_LARGE', `window ${String(v)} is too large: at most ${MAX_WINDOW_BLOCKS} blocks`)
    return { name: String(v), kind: 'blocks', blocks: n }
  }
  const minutes = n * (m[2] === 'm' ? 1 : m[2] === 'h' ? 60 : 1440)
  if (minutes > MAX_WINDOW_MINUTES) throw new ApiError(400, 'WINDOW_TOO_LARGE', `window ${String(v)} is too large: at most 24 hours (24h, 1440m)`)
  return { name: String(v), kind: 'minutes', minutes }
}

/** The query of a series request: metric, window and (for miner-* metrics, and only for them) miner. */
export function parseSeriesQuery (q: Record<string, unknown>): { metric: string, window: SeriesWindow, miner?: string } {
  const metric = parseMetric(q.metric)
  const window = parseWindow(q.window)
  if (METRICS[metric].miner) {
    if (q.miner === undefined || q.miner === '') throw new ApiError(400, 'BAD_REQUEST', `metric ${metric} needs miner=<address>`)
    return { metric, window, miner: parseAddress(q.miner, 'miner') }
  }
  if (q.miner !== undefined) throw new ApiError(400, 'BAD_REQUEST', `miner= is only for the miner-* metrics, not ${metric}`)
  return { metric, window }
}

// ---- reading ----

export interface SeriesReaderModules {
  store: CoordinatorStore
  indexer: IndexPosition & { readonly statsFrom: number | null }
  /** The mempool samples; null: none (the mempool series is empty). */
  mempool: { since: (fromMs: number, fromHeight?: number) => MempoolSample[] } | null
  now?: () => number
}

const iso = (ms: number): string => new Date(ms).toISOString()
const round = (v: number, digits = 3): number => { const f = 10 ** digits; return Math.round(v * f) / f }
const aitbc = (u: string): number => Number(BigInt(u)) / 1e6
const sum = (o: Record<string, number>): number => Object.values(o).reduce((s, n) => s + n, 0)
function byOutcome (jobs: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(FINAL_STATUSES.map(s => [s, 0]))
  for (const [s, n] of Object.entries(jobs)) out[s] = (out[s] ?? 0) + n
  return out
}

/** At most `max` points: consecutive groups merged by `merge`. */
function bounded<T> (items: T[], max: number, merge: (group: T[]) => T): T[] {
  if (items.length <= max) return items
  const k = Math.ceil(items.length / max)
  const out: T[] = []
  for (let i = 0; i < items.length; i += k) out.push(merge(items.slice(i, i + k)))
  return out
}

export class SeriesReader {
  private readonly now: () => number

  constructor (private readonly m: SeriesReaderModules) {
    this.now = m.now ?? Date.now
  }

  async series (metric: string, window: SeriesWindow, miner?: string): Promise<Series> {
    const def = METRICS[metric]
    const figuresFrom = this.m.indexer.statsFrom
    const initial = this.m.indexer.chainInfo?.initial_height ?? 1
    const base = { metric, window: window.name, unit: def.unit, figures_from_height: figuresFrom !== null && figuresFrom > initial ? figuresFrom : null }
    if (def.miner) {
      if (miner === undefined) throw new ApiError(400, 'BAD_REQUEST', `metric ${metric} needs miner=<address>`)
      if (await this.store.get(KEY.minerTotals(miner)) === undefined && await this.store.get(KEY.miner(miner)) === undefined) {
        throw new ApiError(404, 'NOT_FOUND', `${miner} is not a registered miner`)
      }
      return { ...base, ...await this.minerSeries(metric, window, miner) }
    }
    if (metric === 'mempool') return { ...base, ...await this.mempool(window) }
    if (window.kind === 'blocks') {
      const { stats, from, to } = await this.blockStats(window.blocks)
      return { ...base, resolution: 'block', from, to, points: stats.flatMap(s => blockPoint(metric, s)) }
    }
    const { minutes, from, to } = await this.minuteStats(window.minutes)
    return { ...base, resolution: 'minute', from, to, points: minutes.flatMap(s => minutePoint(metric, s)) }
  }

  private get store (): CoordinatorStore { return this.m.store }

  /** The first height of a window of the last `n` blocks. */
  private firstHeight (n: number): number {
    const initial = this.m.indexer.chainInfo?.initial_height ?? 1
    return Math.max(initial, this.m.indexer.indexedHeight - n + 1)
  }

  private async blockStats (n: number): Promise<{ stats: BlockStat[], from: string | null, to: string | null }> {
    const first = this.firstHeight(n)
    const stats = (await this.store.entries<BlockStat>(KEY.statBlockPrefix, { gt: KEY.statBlock(first - 1), limit: n })).map(([, v]) => v)
    return { stats, from: stats[0]?.time ?? null, to: stats[stats.length - 1]?.time ?? null }
  }

  /** The window's minutes: the last `n` up to now (or the latest block's time, if that is later), none before the chain's genesis. */
  private span (n: number): { start: number, endMs: number } {
    const latest = Date.parse(this.m.indexer.status().indexed_time ?? '')
    const endMs = Math.max(this.now(), Number.isNaN(latest) ? 0 : latest)
    const genesis = Date.parse(this.m.indexer.chainInfo?.genesis_time ?? '')
    const start = minuteOf(endMs) - n + 1
    return { start: Number.isNaN(genesis) ? start : Math.min(minuteOf(endMs), Math.max(start, minuteOf(genesis))), endMs }
  }

  private async minuteStats (n: number): Promise<{ minutes: MinuteStat[], from: string, to: string }> {
    const { start, endMs } = this.span(n)
    const minutes = (await this.store.entries<MinuteStat>(KEY.statMinutePrefix, { gt: KEY.statMinute(start - 1), limit: n })).map(([, v]) => v)
    return { minutes, from: iso(start * MINUTE_MS), to: iso(endMs) }
  }

  private async mempool (window: SeriesWindow): Promise<Pick<Series, 'resolution' | 'from' | 'to' | 'points'>> {
    const source = this.m.mempool
    if (window.kind === 'blocks') {
      const first = this.firstHeight(window.blocks)
      const samples = source === null ? [] : source.since(0, first)
      const points = bounded(samples.map(s => ({ t: iso(s.t), height: s.height, value: s.value })), MAX_SERIES_POINTS,
        g => g.reduce((a, b) => b.value >= a.value ? b : a))
      return { resolution: 'sample', from: points[0]?.t ?? null, to: points[points.length - 1]?.t ?? null, points }
    }
    const { start, endMs } = this.span(window.minutes)
    const samples = source === null ? [] : source.since(start * MINUTE_MS)
    const byMinute = new Map<number, MempoolSample[]>()
    for (const s of samples) {
      const k = minuteOf(s.t)
      const list = byMinute.get(k)
      if (list === undefined) byMinute.set(k, [s]); else list.push(s)
    }
    const points: SeriesPoint[] = [...byMinute].map(([k, list]) => ({
      t: iso(k * MINUTE_MS),
      height: list[list.length - 1].height,
      value: Math.max(...list.map(s => s.value)),
      mean: round(list.reduce((a, s) => a + s.value, 0) / list.length, 2),
      samples: list.length,
    }))
    return { resolution: 'minute', from: iso(start * MINUTE_MS), to: iso(endMs), points }
  }

  private async minerSeries (metric: string, window: SeriesWindow, miner: string): Promise<Pick<Series, 'resolution' | 'from' | 'to' | 'points'>> {
    const totals = await this.store.get<MinerTotals>(KEY.minerTotals(miner))
    const anchored = metric === 'miner-earnings' || metric === 'miner-stake'
    if (window.kind === 'blocks') {
      const first = this.firstHeight(window.blocks)
      const prefix = KEY.minerEventPrefix(miner)
      const events = (await this.store.entries<MinerEvent>(prefix, { gt: prefix + pad(first), reverse: true, limit: MAX_SERIES_POINTS })).map(([, v]) => v).reverse()
      let points = minerEventPoints(metric, events)
      const firstBlock = (await this.store.get<BlockStat>(KEY.statBlock(first)))
      const from = firstBlock?.time ?? null
      const to = this.m.indexer.status().indexed_time
      if (anchored) {
        // The totals as the window starts and as it ends, so that a flat stretch still shows.
        const before = (await this.store.entries<MinerEvent>(prefix, { lt: prefix + pad(first), reverse: true, limit: 1 })).map(([, v]) => v)[0]
        const start = before ?? (totals !== undefined && events.length === 0 ? { stake: totals.stake, earned_total: totals.earned, slashed_total: totals.slashed } : undefined)
        if (start !== undefined && from !== null) points = [anchorPoint(metric, from, first, start), ...points]
        if (totals !== undefined && to !== null) points = [...points, anchorPoint(metric, to, this.m.indexer.indexedHeight, { stake: totals.stake, earned_total: totals.earned, slashed_total: totals.slashed })]
        points = points.slice(-MAX_SERIES_POINTS)
      }
      return { resolution: 'change', from, to, points }
    }
    const { start, endMs } = this.span(window.minutes)
    const prefix = KEY.minerMinutePrefix(miner)
    const minutes = (await this.store.entries<MinerMinute>(prefix, { gt: KEY.minerMinute(miner, start - 1), limit: window.minutes })).map(([, v]) => v)
    let points = minerMinutePoints(metric, minutes)
    if (anchored) {
      const before = (await this.store.entries<MinerMinute>(prefix, { lt: KEY.minerMinute(miner, start), reverse: true, limit: 1 })).map(([, v]) => v)[0]
      const startTotals = before ?? (totals !== undefined && minutes.length === 0 ? { stake: totals.stake, earned_total: totals.earned, slashed_total: totals.slashed } : undefined)
      if (startTotals !== undefined) points = [anchorPoint(metric, iso(start * MINUTE_MS), before?.last_height ?? totals?.height ?? 0, startTotals), ...points]
      if (totals !== undefined) points = [...points, anchorPoint(metric, iso(endMs), this.m.indexer.indexedHeight, { stake: totals.stake, earned_total: totals.earned, slashed_total: totals.slashed })]
      points = points.slice(-MAX_SERIES_POINTS)
    }
    return { resolution: 'minute', from: iso(start * MINUTE_MS), to: iso(endMs), points }
  }
}

// ---- points ----

function blockPoint (metric: string, s: BlockStat): SeriesPoint[] {
  const at = { t: s.time, height: s.height }
  switch (metric) {
    case 'tx-per-s':
      return s.interval_ms === null || s.interval_ms <= 0 ? [] : [{ ...at, value: round(s.txs / (s.interval_ms / 1000), 2), txs: s.txs }]
    case 'block-interval':
      return s.interval_ms === null ? [] : [{ ...at, value: round(s.interval_ms / 1000) }]
    case 'jobs':
      return [{ ...at, value: sum(s.jobs), by_outcome: byOutcome(s.jobs) }]
    case 'job-latency': {
      const p50 = quantile(s.latencies_ms, 0.5)
      const p95 = quantile(s.latencies_ms, 0.95)
      return p50 === null || p95 === null ? [] : [{ ...at, value: round(p50 / 1000), p95: round(p95 / 1000), count: s.latencies_ms.length }]
    }
  }
  return []
}

function minutePoint (metric: string, s: MinuteStat): SeriesPoint[] {
  const at = { t: iso(s.minute * MINUTE_MS), height: s.last_height }
  switch (metric) {
    case 'tx-per-s':
      return s.interval_sum_ms <= 0 ? [] : [{ ...at, value: round(s.txs / (s.interval_sum_ms / 1000), 2), txs: s.txs, blocks: s.blocks }]
    case 'block-interval':
      return s.intervals === 0 ? [] : [{ ...at, value: round(s.interval_sum_ms / s.intervals / 1000), blocks: s.blocks }]
    case 'jobs':
      return [{ ...at, value: sum(s.jobs), by_outcome: byOutcome(s.jobs) }]
    case 'job-latency': {
      const p50 = histogramQuantile(s.latency, 0.5)
      const p95 = histogramQuantile(s.latency, 0.95)
      return p50 === null || p95 === null ? [] : [{ ...at, value: round(p50 / 1000), p95: round(p95 / 1000), count: s.latency.n }]
    }
  }
  return []
}

/** Running rates over the points so far. */
class RunningRates {
  settled = 0
  completed = 0
  failed = 0
  expired = 0
  samples = 0
  verified = 0

  add (outcomes: Record<string, number>, sampled: number, verified: number): void {
    for (const [s, n] of Object.entries(outcomes)) {
      this.settled += n
      if (s === 'completed') this.completed += n
      else if (s === 'failed' || s === 'rejected') this.failed += n
      else if (s === 'expired') this.expired += n
    }
    this.samples += sampled
    this.verified += verified
  }

  point (t: string, height: number): SeriesPoint | null {
    if (this.settled === 0 && this.samples === 0) return null
    const pct = (n: number, of: number): number | null => of === 0 ? null : round(n / of * 100, 2)
    return {
      t,
      height,
      value: pct(this.completed, this.settled) ?? 0,
      failure_rate: pct(this.failed, this.settled),
      expiry_rate: pct(this.expired, this.settled),
      verification_rate: pct(this.verified, this.samples),
      settled: this.settled,
      samples: this.samples,
    }
  }
}

function anchorPoint (metric: string, t: string, height: number, x: { stake: string, earned_total: string, slashed_total: string }): SeriesPoint {
  return metric === 'miner-stake'
    ? { t, height, value: aitbc(x.stake), slashed_total: aitbc(x.slashed_total), anchor: true }
    : { t, height, value: aitbc(x.earned_total), anchor: true }
}

function minerEventPoints (metric: string, events: MinerEvent[]): SeriesPoint[] {
  const out: SeriesPoint[] = []
  const rates = new RunningRates()
  for (const e of events) {
    const at = { t: e.time, height: e.height }
    switch (metric) {
      case 'miner-tokens-per-s':
        if (e.tokens_per_s !== undefined && e.tokens_per_s !== null) out.push({ ...at, value: e.tokens_per_s, job_id: e.job_id })
        break
      case 'miner-first-token':
        if (e.first_token_ms !== undefined && e.first_token_ms !== null) out.push({ ...at, value: e.first_token_ms, job_id: e.job_id })
        break
      case 'miner-rates': {
        if (e.kind !== 'job' || e.status === undefined) break
        if (e.status === VERIFYING) rates.add({}, 1, 0)
        else rates.add({ [e.status]: 1 }, 0, e.sampled === true && e.status === 'completed' ? 1 : 0)
        const p = rates.point(e.time, e.height)
        if (p !== null) out.push({ ...p, job_id: e.job_id })
        break
      }
      case 'miner-earnings':
        out.push({ ...at, value: aitbc(e.earned_total), paid: e.paid === undefined ? null : aitbc(e.paid) })
        break
      case 'miner-stake':
        out.push({ ...at, value: aitbc(e.stake), slashed_total: aitbc(e.slashed_total) })
        break
    }
  }
  return out
}

function minerMinutePoints (metric: string, minutes: MinerMinute[]): SeriesPoint[] {
  const out: SeriesPoint[] = []
  const rates = new RunningRates()
  for (const m of minutes) {
    const at = { t: iso(m.minute * MINUTE_MS), height: m.last_height }
    switch (metric) {
      case 'miner-tokens-per-s':
        if (m.tokens > 0 && m.generation_ms > 0) out.push({ ...at, value: round(m.tokens / m.generation_ms * 1000, 2), tokens: m.tokens })
        break
      case 'miner-first-token':
        if (m.first_token_n > 0) out.push({ ...at, value: Math.round(m.first_token_ms_sum / m.first_token_n), jobs: m.first_token_n })
        break
      case 'miner-rates': {
        rates.add(m.outcomes, m.sampled, m.verified)
        const p = rates.point(at.t, at.height)
        if (p !== null) out.push(p)
        break
      }
      case 'miner-earnings':
        out.push({ ...at, value: aitbc(m.earned_total), earned: aitbc(m.earned) })
        break
      case 'miner-stake':
        out.push({ ...at, value: aitbc(m.stake), slashed_total: aitbc(m.slashed_total), slashed: aitbc(m.slashed) })
        break
    }
  }
  return out
}
