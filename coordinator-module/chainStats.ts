// The figures the explorer's charts and GET /v1/stats/series draw, kept by the index with each
// block (pure, no I/O): one record per block (txs, interval, jobs settled by outcome, their
// latencies), one per minute of chain time (the same, summed, latencies as a histogram), and per
// miner its running totals, one record per minute and one per change (a job it ran settled or
// was sampled for verification, its stake moved). BlockIndex feeds a ChainStatsBuilder as the
// block's events are indexed; its ops go into the block's batch. Windows then read a bounded
// number of keys: at most one per block or per minute.
//
// Job statuses are open strings: pending, assigned and verifying are open; completed, failed,
// rejected, cancelled and expired are final, and so is any other status once the job has a
// completion time.
import type { JobRecord } from './jobRecord.ts'
import { KEY } from './keys.ts'
import type { StoreOp } from './store.ts'

export const OPEN_STATUSES: ReadonlySet<string> = new Set(['pending', 'assigned', 'verifying'])
export const FINAL_STATUSES: readonly string[] = ['completed', 'failed', 'rejected', 'cancelled', 'expired']
const FINAL = new Set(FINAL_STATUSES)
export const VERIFYING: string = 'verifying'

/** The job has reached its outcome (its status is final). */
export function isSettled (j: { status: string, completed_at: string | null }): boolean {
  return FINAL.has(j.status) || (!OPEN_STATUSES.has(j.status) && j.completed_at !== null)
}

export const MINUTE_MS = 60_000
export function minuteOf (timeMs: number): number { return Math.floor(timeMs / MINUTE_MS) }

// ---- latency histogram: log buckets 5% wide, so a percentile read from it is within 5% ----

const HIST_BASE = 1.05
const LOG_BASE = Math.log(HIST_BASE)

/** Counts by bucket: bucket i holds values in (1.05^(i-1), 1.05^i] ms. */
export interface Histogram { n: number, buckets: Record<string, number> }

export function emptyHistogram (): Histogram { return { n: 0, buckets: {} } }

export function histogramBucket (ms: number): number { return ms <= 1 ? 0 : Math.ceil(Math.log(ms) / LOG_BASE - 1e-9) }

export function addToHistogram (h: Histogram, ms: number): Histogram {
  const b = String(histogramBucket(ms))
  return { n: h.n + 1, buckets: { ...h.buckets, [b]: (h.buckets[b] ?? 0) + 1 } }
}

/** The q-quantile (0 < q <= 1, nearest rank) of the histogram: its bucket's upper bound, ms; null when empty. */
export function histogramQuantile (h: Histogram, q: number): number | null {
  if (h.n === 0) return null
  const rank = Math.max(1, Math.ceil(q * h.n))
  const keys = Object.keys(h.buckets).map(Number).sort((a, b) => a - b)
  let seen = 0
  for (const k of keys) {
    seen += h.buckets[String(k)]
    if (seen >= rank) return Math.round(HIST_BASE ** k)
  }
  return Math.round(HIST_BASE ** keys[keys.length - 1])
}

/** The q-quantile (nearest rank) of ascending values; null when empty. */
export function quantile (sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]
}

// ---- the records ----

/** One block's figures (KEY.statBlock). */
export interface BlockStat {
  height: number
  time: string
  txs: number
  /** Milliseconds since the block before; null for the first block the index holds. */
  interval_ms: number | null
  /** Jobs that reached their outcome in this block, by status. */
  jobs: Record<string, number>
  /** Submit-to-settle times (ms of chain time) of the jobs settled with a receipt in this block, ascending. */
  latencies_ms: number[]
}

/** One minute's figures (KEY.statMinute): its blocks' figures summed. */
export interface MinuteStat {
  minute: number
  first_height: number
  last_height: number
  last_time: string
  blocks: number
  txs: number
  interval_sum_ms: number
  intervals: number
  jobs: Record<string, number>
  latency: Histogram
}

/** What a miner's jobs and stake add up to (amounts in uaitbc, as decimal strings). */
export interface MinerCounters {
  /** Jobs that reached their outcome, by status. */
  outcomes: Record<string, number>
  /** Jobs sampled for verification (that entered `verifying`). */
  sampled: number
  /** Sampled jobs that then completed. */
  verified: number
  /** Completion tokens and generation time of the completed jobs that report both. */
  tokens: number
  generation_ms: number
  /** Time to first token, over the completed jobs that report it. */
  first_token_ms_sum: number
  first_token_n: number
  earned: string
  slashed: string
}

/** A miner's running totals (KEY.minerTotals), as of the last block that changed them. */
export interface MinerTotals extends MinerCounters {
  stake: string
  height: number
}

/** A miner's minute (KEY.minerMinute): what the minute added, and the stake and totals at its end. */
export interface MinerMinute extends MinerCounters {
  minute: number
  last_height: number
  last_time: string
  stake: string
  earned_total: string
  slashed_total: string
}

/** One change of a miner (KEY.minerEvent). */
export interface MinerEvent {
  height: number
  time: string
  kind: 'job' | 'stake'
  job_id?: string
  /** The job's new status: its outcome, or `verifying`. */
  status?: string
  /** A settled job that had been sampled for verification. */
  sampled?: boolean
  tokens_per_s?: number | null
  first_token_ms?: number | null
  paid?: string
  /** After this change. */
  stake: string
  earned_total: string
  slashed_total: string
}

function emptyCounters (): MinerCounters {
  return { outcomes: {}, sampled: 0, verified: 0, tokens: 0, generation_ms: 0, first_token_ms_sum: 0, first_token_n: 0, earned: '0', slashed: '0' }
}

export function emptyMinerTotals (): MinerTotals { return { ...emptyCounters(), stake: '0', height: 0 } }

/** What a receipt tells of the generation: tokens per second and time to first token, when it says. */
export function receiptSpeed (metrics: unknown): { tokens: number, generationMs: number, tokensPerS: number | null, firstTokenMs: number | null } {
  const m = (metrics ?? {}) as Record<string, unknown>
  const num = (v: unknown): number | null => typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null
  const tokens = num(m.completion_tokens) ?? 0
  // The generation time when the receipt has it (Ollama's eval duration), else the whole compute time.
  const ms = num(m.eval_ms) ?? num(m.compute_ms) ?? 0
  return {
    tokens,
    generationMs: ms,
    tokensPerS: tokens > 0 && ms > 0 ? Math.round(tokens / ms * 1000 * 100) / 100 : null,
    firstTokenMs: num(m.first_token_ms),
  }
}

/** Keys a block's stats read before it is indexed: its minute, and each named miner's totals and minute. */
export function statKeysToRead (blockTime: string, miners: Iterable<string>): string[] {
  const minute = minuteOf(Date.parse(blockTime))
  const keys = [KEY.statMinute(minute)]
  for (const a of miners) keys.push(KEY.minerTotals(a), KEY.minerMinute(a, minute))
  return keys
}

/** The stored records statKeysToRead named (undefined: none yet). */
export interface StatsBefore {
  minute?: MinuteStat
  minerTotals: ReadonlyMap<string, MinerTotals>
  minerMinutes: ReadonlyMap<string, MinerMinute>
}

export function statsBefore (keys: string[], values: unknown[]): StatsBefore {
  const minerTotals = new Map<string, MinerTotals>()
  const minerMinutes = new Map<string, MinerMinute>()
  let minute: MinuteStat | undefined
  keys.forEach((k, i) => {
    const v = values[i]
    if (v === undefined) return
    if (k.startsWith(KEY.statMinutePrefix)) minute = v as MinuteStat
    else if (k.startsWith(KEY.minerTotalsPrefix)) minerTotals.set(k.slice(KEY.minerTotalsPrefix.length), v as MinerTotals)
    else if (k.startsWith(KEY.minerMinuteAllPrefix)) minerMinutes.set(k.slice(KEY.minerMinuteAllPrefix.length, k.lastIndexOf(':')), v as MinerMinute)
  })
  return { minute, minerTotals, minerMinutes }
}

const add = (a: string, b: bigint): string => (BigInt(a) + b).toString()

/** Accumulates one block's figures while its events are indexed. */
export class ChainStatsBuilder {
  private readonly timeMs: number
  private readonly minute: number
  private readonly jobs: Record<string, number> = {}
  private readonly latencies: number[] = []
  private readonly totals = new Map<string, MinerTotals>()
  private readonly minuteAdds = new Map<string, MinerCounters>()
  private readonly events: Array<{ miner: string, e: MinerEvent }> = []

  constructor (
    private readonly height: number,
    private readonly time: string,
    private readonly previousTime: string,
    private readonly before: StatsBefore,
  ) {
    this.timeMs = Date.parse(time)
    this.minute = minuteOf(this.timeMs)
  }

  private minerTotals (a: string): MinerTotals {
    let t = this.totals.get(a)
    if (t === undefined) {
      const b = this.before.minerTotals.get(a)
      t = b === undefined ? emptyMinerTotals() : { ...b, outcomes: { ...b.outcomes } }
      this.totals.set(a, t)
    }
    return t
  }

  private minerMinuteAdds (a: string): MinerCounters {
    let c = this.minuteAdds.get(a)
    if (c === undefined) { c = emptyCounters(); this.minuteAdds.set(a, c) }
    return c
  }

  private event (miner: string, e: Omit<MinerEvent, 'height' | 'time' | 'stake' | 'earned_total' | 'slashed_total'>): void {
    const t = this.minerTotals(miner)
    this.events.push({ miner, e: { height: this.height, time: this.time, ...e, stake: t.stake, earned_total: t.earned, slashed_total: t.slashed } })
  }

  /** A job changed, from `prev` (null: the block creates it) to `next`. */
  jobChanged (prev: JobRecord | null, next: JobRecord): void {
    if (prev !== null && prev.status === next.status) return
    const miner = next.miner
    if (next.status === VERIFYING && miner !== null) {
      for (const c of [this.minerTotals(miner), this.minerMinuteAdds(miner)]) c.sampled++
      this.event(miner, { kind: 'job', job_id: next.job_id, status: VERIFYING })
      return
    }
    if (!isSettled(next) || (prev !== null && isSettled(prev))) return
    this.jobs[next.status] = (this.jobs[next.status] ?? 0) + 1
    if (next.receipt_id !== null) {
      const ms = this.timeMs - Date.parse(next.submitted_at)
      if (Number.isFinite(ms)) this.latencies.push(Math.max(0, ms))
    }
    if (miner === null) return
    const wasSampled = next.timeline.some(t => String(t.status) === VERIFYING) || prev?.status === VERIFYING
    const speed = next.status === 'completed' ? receiptSpeed(next.metrics) : null
    const paid = BigInt(next.paid ?? '0')
    for (const c of [this.minerTotals(miner), this.minerMinuteAdds(miner)]) {
      c.outcomes[next.status] = (c.outcomes[next.status] ?? 0) + 1
      if (wasSampled && next.status === 'completed') c.verified++
      if (speed !== null && speed.tokensPerS !== null) { c.tokens += speed.tokens; c.generation_ms += speed.generationMs }
      if (speed !== null && speed.firstTokenMs !== null) { c.first_token_ms_sum += speed.firstTokenMs; c.first_token_n++ }
      c.earned = add(c.earned, paid)
    }
    this.event(miner, {
      kind: 'job',
      job_id: next.job_id,
      status: next.status,
      sampled: wasSampled,
      tokens_per_s: speed?.tokensPerS ?? null,
      first_token_ms: speed?.firstTokenMs ?? null,
      paid: paid.toString(),
    })
  }

  /** A miner's stake is set (registration) or moved (stake, unstake, slash: `slashed`). */
  stakeChanged (miner: string, change: { set?: bigint, add?: bigint, slashed?: bigint }): void {
    const t = this.minerTotals(miner)
    if (change.set !== undefined) t.stake = change.set.toString()
    if (change.add !== undefined) t.stake = add(t.stake, change.add)
    if (change.slashed !== undefined) {
      t.stake = add(t.stake, -change.slashed)
      t.slashed = add(t.slashed, change.slashed)
      const m = this.minerMinuteAdds(miner)
      m.slashed = add(m.slashed, change.slashed)
    }
    this.event(miner, { kind: 'stake' })
  }

  /** The block's figures as ops for its batch. */
  finish (txs: number): { ops: StoreOp[], block: BlockStat } {
    const ops: StoreOp[] = []
    const prevMs = this.previousTime === '' ? NaN : Date.parse(this.previousTime)
    const interval = Number.isFinite(prevMs) ? Math.max(0, this.timeMs - prevMs) : null
    const latencies = [...this.latencies].sort((a, b) => a - b)
    const block: BlockStat = { height: this.height, time: this.time, txs, interval_ms: interval, jobs: { ...this.jobs }, latencies_ms: latencies }
    ops.push({ type: 'put', key: KEY.statBlock(this.height), value: block })

    const b = this.before.minute
    const m: MinuteStat = b !== undefined && b.minute === this.minute
      ? { ...b, jobs: { ...b.jobs } }
      : { minute: this.minute, first_height: this.height, last_height: this.height, last_time: this.time, blocks: 0, txs: 0, interval_sum_ms: 0, intervals: 0, jobs: {}, latency: emptyHistogram() }
    m.last_height = this.height
    m.last_time = this.time
    m.blocks++
    m.txs += txs
    if (interval !== null) { m.interval_sum_ms += interval; m.intervals++ }
    for (const [s, n] of Object.entries(this.jobs)) m.jobs[s] = (m.jobs[s] ?? 0) + n
    for (const ms of latencies) m.latency = addToHistogram(m.latency, ms)
    ops.push({ type: 'put', key: KEY.statMinute(this.minute), value: m })

    for (const [a, t] of this.totals) {
      t.height = this.height
      ops.push({ type: 'put', key: KEY.minerTotals(a), value: t })
      const adds = this.minuteAdds.get(a) ?? emptyCounters()
      const prev = this.before.minerMinutes.get(a)
      const base: MinerCounters = prev !== undefined && prev.minute === this.minute ? prev : emptyCounters()
      const mm: MinerMinute = {
        ...sumCounters(base, adds),
        minute: this.minute,
        last_height: this.height,
        last_time: this.time,
        stake: t.stake,
        earned_total: t.earned,
        slashed_total: t.slashed,
      }
      ops.push({ type: 'put', key: KEY.minerMinute(a, this.minute), value: mm })
    }
    this.events.forEach(({ miner, e }, i) => ops.push({ type: 'put', key: KEY.minerEvent(miner, this.height, i), value: e }))
    return { ops, block }
  }
}

function sumCounters (a: MinerCounters, b: MinerCounters): MinerCounters {
  const outcomes = { ...a.outcomes }
  for (const [s, n] of Object.entries(b.outcomes)) outcomes[s] = (outcomes[s] ?? 0) + n
  return {
    outcomes,
    sampled: a.sampled + b.sampled,
    verified: a.verified + b.verified,
    tokens: a.tokens + b.tokens,
    generation_ms: a.generation_ms + b.generation_ms,
    first_token_ms_sum: a.first_token_ms_sum + b.first_token_ms_sum,
    first_token_n: a.first_token_n + b.first_token_n,
    earned: (BigInt(a.earned) + BigInt(b.earned)).toString(),
    slashed: (BigInt(a.slashed) + BigInt(b.slashed)).toString(),
  }
}

/** A miner's figures for people: rates in percent of its settled jobs, speeds, verification. */
export interface MinerPerformance {
  settled: number
  success_rate: number | null
  failure_rate: number | null
  expiry_rate: number | null
  /** Sampled jobs that passed verification, percent; null with no samples. */
  verification_rate: number | null
  verification_samples: number
  tokens_per_s: number | null
  /** null until receipts report it. */
  first_token_ms: number | null
}

const pct = (n: number, of: number): number | null => of === 0 ? null : Math.round(n / of * 10000) / 100

export function minerPerformance (c: MinerCounters): MinerPerformance {
  const settled = Object.values(c.outcomes).reduce((s, n) => s + n, 0)
  return {
    settled,
    success_rate: pct(c.outcomes.completed ?? 0, settled),
    failure_rate: pct((c.outcomes.failed ?? 0) + (c.outcomes.rejected ?? 0), settled),
    expiry_rate: pct(c.outcomes.expired ?? 0, settled),
    verification_rate: pct(c.verified, c.sampled),
    verification_samples: c.sampled,
    tokens_per_s: c.tokens > 0 && c.generation_ms > 0 ? Math.round(c.tokens / c.generation_ms * 1000 * 100) / 100 : null,
    first_token_ms: c.first_token_n === 0 ? null : Math.round(c.first_token_ms_sum / c.first_token_n),
  }
}
