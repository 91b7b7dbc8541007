// The chart figures the coordinator's index keeps with each block (chainStats.ts) and the series
// served from them (GET /v1/stats/series, GET /v1/stats/chart), on hand-made blocks in a
// temporary LevelDB with a fixed clock and a fake mempool sampler (no node, no process): the
// per-block and per-minute figures, a miner's totals, stake and earnings, verification, the value
// of every metric in every window, bounds, a reopened store, and every kind of bad input.
import { ApiKeyStore } from '../../coordinator-module/gateway/apiKeyStore.ts'
import { Gateway } from '../../coordinator-module/gateway/gateway.ts'
import { expect } from 'chai'
import { sha256, utf8Bytes, type SigningKey } from '../../node/core/crypto.ts'
import { jobIdFromTxHash, receiptIdFromTxHash, signTx, type Tx, type TxBody } from '../../node/core/tx.ts'
import { NodeClient, silentLogger, type EventJSON } from '../../node/client.ts'
import { BlockMaker, ev, genesisOf, openTestIndex, UNIT_GENESIS_TIME, type TestIndex } from '../helpers/blockData.ts'
import { keyOf } from '../helpers/chainSim.ts'
import {
  ChainStatsBuilder, addToHistogram, emptyHistogram, histogramQuantile, minerPerformance, quantile, receiptSpeed,
  type BlockStat, type MinerTotals, type MinuteStat,
} from '../../coordinator-module/chainStats.ts'
import { METRICS, MAX_SERIES_POINTS, SeriesReader, parseWindow, type Series } from '../../coordinator-module/statsSeries.ts'
import { MempoolSampler } from '../../coordinator-module/mempoolSampler.ts'
import { renderChartSvg } from '../../coordinator-module/chartSvg.ts'
import { createApi } from '../../coordinator-module/api.ts'
import { Indexer } from '../../coordinator-module/indexer.ts'
import { NodeSource } from '../../coordinator-module/nodeSource.ts'
import { JobFeed } from '../../coordinator-module/jobFeed.ts'
import { createCoordinatorMetrics } from '../../coordinator-module/metrics.ts'
import { KEY } from '../../coordinator-module/keys.ts'
import type { JobRecord } from '../../coordinator-module/jobRecord.ts'

const MODEL = 'llama3.2:1b'
const STAKE = 100_000_000n
const validator = keyOf('stats-validator')
const alice = keyOf('stats-alice')
const bob = keyOf('stats-bob')
const T0 = Date.parse(UNIT_GENESIS_TIME)
const at = (s: number): string => new Date(T0 + s * 1000).toISOString()

/** Signed txs with the events the chain emits for them. */
class Signer {
  private readonly nonces = new Map<string, number>()
  tx (k: SigningKey, b: TxBody, events: EventJSON[], fee = 1000n): { tx: Tx, events: EventJSON[] } {
    const nonce = this.nonces.get(k.address) ?? 0
    this.nonces.set(k.address, nonce + 1)
    const tx = signTx(k, { chainId: 'aitbc-unit', nonce, fee, body: b })
    return { tx, events: [ev('message', { action: tx.type, sender: tx.sender }), ...events] }
  }

  submit (prompt: string): { tx: Tx, events: EventJSON[], jobId: string } {
    const nonce = this.nonces.get(alice.address) ?? 0
    const b: TxBody = { type: 'submit_job', model: MODEL, prompt, options: { temperature: null, numPredict: 12, seed: 3 }, maxFee: 1_000_000n, maxPricePerSecond: null }
    const jobId = jobIdFromTxHash(signTx(alice, { chainId: 'aitbc-unit', nonce, fee: 1000n, body: b }).hash)
    return { ...this.tx(alice, b, [ev('submit_job', { job_id: jobId, client: alice.address, model: MODEL, max_fee: 1_000_000n })]), jobId }
  }

  assign (jobId: string): { tx: Tx, events: EventJSON[] } {
    return this.tx(validator, { type: 'assign', jobId, miner: bob.address }, [ev('assign', { job_id: jobId, miner: bob.address, client: alice.address, model: MODEL })], 0n)
  }

  receipt (jobId: string, status: 'completed' | 'failed', paid: bigint, computeMs = 1500): { tx: Tx, events: EventJSON[] } {
    const result = status === 'completed' ? 'An answer.' : ''
    const nonce = this.nonces.get(bob.address) ?? 0
    const b: TxBody = { type: 'record_receipt', jobId, status, result, resultHash: sha256(utf8Bytes(result)), metrics: { computeMs, promptTokens: 3, completionTokens: 5 }, error: status === 'failed' ? 'crashed' : null }
    const receiptId = receiptIdFromTxHash(signTx(bob, { chainId: 'aitbc-unit', nonce, fee: 1000n, body: b }).hash)
    return this.tx(bob, b, [ev('record_receipt', { receipt_id: receiptId, job_id: jobId, miner: bob.address, client: alice.address, status, paid, refund: 1_000_000n - paid })])
  }
}

const genesis = genesisOf({
  validator,
  accounts: [{ address: alice.address, balance: 10n ** 12n }, { address: bob.address, balance: 10n ** 12n }],
  miners: [{ address: bob.address, models: [MODEL], pricePerSecond: 25_000n, capacity: 4, stake: STAKE }],
})

/** A fake sampler: fixed samples. */
function fakeMempool (samples: Array<{ t: number, height: number, value: number }>): MempoolSampler {
  const s = new MempoolSampler({ capacity: 10_000 }, { client: new NodeClient('http://127.0.0.1:9', { retries: 0, timeoutMs: 100 }), height: () => 0 })
  for (const x of samples) s.add(x)
  return s
}

interface Fixture { idx: TestIndex, indexer: Indexer, jobs: Record<string, string> }

/**
 * Six blocks: three jobs submitted (t=1 s), two assigned (2 s), one completed and one failed
 * (4 s); a minute later (64 s) the third expires unassigned and bob stakes 10 AITBC more; a job
 * submitted and cancelled (65 s); one submitted and assigned (66 s) that expires with a slash of
 * 5 AITBC (126 s).
 */
async function buildChain (): Promise<Fixture> {
  const idx = await openTestIndex()
  await idx.writer.init(genesis)
  const chain = new BlockMaker(validator)
  const s = new Signer()
  const j1 = s.submit('one'); const j2 = s.submit('two'); const j3 = s.submit('three')
  await idx.writer.write(chain.next([j1, j2, j3]))
  await idx.writer.write(chain.next([s.assign(j1.jobId), s.assign(j2.jobId)]))
  await idx.writer.write(chain.next([s.receipt(j1.jobId, 'completed', 37_500n), s.receipt(j2.jobId, 'failed', 0n, 300)], { dtMs: 2000 }))
  await idx.writer.write(chain.next([s.tx(bob, { type: 'stake', amount: 10_000_000n }, [ev('stake', { miner: bob.address, amount: 10_000_000n })])], {
    dtMs: 60_000,
    finalize: [ev('expire_job', { job_id: j3.jobId, client: alice.address, stage: 'pending', refund: 1_000_000n, miner: '', slashed: 0 })],
  }))
  const j4 = s.submit('four')
  await idx.writer.write(chain.next([j4, s.tx(alice, { type: 'cancel_job', jobId: j4.jobId }, [ev('cancel_job', { job_id: j4.jobId, client: alice.address, refund: 1_000_000n })])]))
  const j5 = s.submit('five')
  await idx.writer.write(chain.next([j5, s.assign(j5.jobId)]))
  await idx.writer.write(chain.next([], {
    dtMs: 60_000,
    finalize: [
      ev('expire_job', { job_id: j5.jobId, client: alice.address, stage: 'assigned', refund: 1_000_000n, miner: bob.address, slashed: 5_000_000n }),
      ev('slash', { miner: bob.address, amount: 5_000_000n, reason: 'job_expired', job_id: j5.jobId }),
    ],
  }))
  const logger = silentLogger()
  const client = new NodeClient('http://127.0.0.1:9', { retries: 0, timeoutMs: 100 })
  const indexer = new Indexer({}, { client, source: new NodeSource({}, { client }), writer: idx.writer, metrics: createCoordinatorMetrics(), logger })
  return { idx, indexer, jobs: { j1: j1.jobId, j2: j2.jobId, j3: j3.jobId, j4: j4.jobId, j5: j5.jobId } }
}

const LAST_BLOCK_MS = T0 + 126_000

describe('coordinator: chart figures kept with each block', () => {
  let f: Fixture
  before(async () => { f = await buildChain() })
  after(async () => { await f.idx.destroy() })

  it('per block: txs, the interval from the block before, jobs settled by outcome, submit-to-settle latencies of the jobs with a receipt', async () => {
    const blocks = (await f.idx.store.entries<BlockStat>(KEY.statBlockPrefix)).map(([, v]) => v)
    expect(blocks.map(b => [b.height, b.time, b.txs, b.interval_ms, b.jobs, b.latencies_ms])).to.deep.equal([
      [1, at(1), 3, null, {}, []],
      [2, at(2), 2, 1000, {}, []],
      [3, at(4), 2, 2000, { completed: 1, failed: 1 }, [3000, 3000]],
      [4, at(64), 1, 60_000, { expired: 1 }, []],
      [5, at(65), 2, 1000, { cancelled: 1 }, []],
      [6, at(66), 2, 1000, {}, []],
      [7, at(126), 0, 60_000, { expired: 1 }, []],
    ])
  })

  it('per minute of chain time: the blocks of the minute summed, latencies in a histogram', async () => {
    const minutes = (await f.idx.store.entries<MinuteStat>(KEY.statMinutePrefix)).map(([, v]) => v)
    const m0 = Math.floor(T0 / 60_000)
    expect(minutes.map(m => [m.minute - m0, m.first_height, m.last_height, m.blocks, m.txs, m.interval_sum_ms, m.intervals, m.jobs, m.latency.n])).to.deep.equal([
      [0, 1, 3, 3, 7, 3000, 2, { completed: 1, failed: 1 }, 2],
      [1, 4, 6, 3, 5, 62_000, 3, { expired: 1, cancelled: 1 }, 0],
      [2, 7, 7, 1, 0, 60_000, 1, { expired: 1 }, 0],
    ])
    expect(histogramQuantile(minutes[0].latency, 0.5)).to.be.within(3000, 3150)
  })

  it('per miner: outcomes, tokens per second, earnings, stake moved by stake and slash', async () => {
    const t = await f.idx.store.get<MinerTotals>(KEY.minerTotals(bob.address))
    expect(t).to.deep.include({ outcomes: { completed: 1, failed: 1, expired: 1 }, sampled: 0, verified: 0, tokens: 5, generation_ms: 1500, first_token_n: 0, earned: '37500', slashed: '5000000', stake: '105000000', height: 7 })
    expect(minerPerformance(t!)).to.deep.equal({
      settled: 3, success_rate: 33.33, failure_rate: 33.33, expiry_rate: 33.33, verification_rate: null, verification_samples: 0, tokens_per_s: 3.33, first_token_ms: null,
    })
    // The miner views carry them, beside the node's record (as the refresher stores it).
    const nodeRecord = {
      address: bob.address, models: [MODEL], price_per_second: '25000', capacity: 4, stake: '105000000', unbonding: [], active: true, reputation: 9000,
      active_jobs: 0, jobs_completed: 1, jobs_failed: 1, jobs_expired: 1, earned: '37500', slashed: '5000000', registered_height: '0',
    }
    await f.idx.store.write([{ type: 'put', key: KEY.miner(bob.address), value: nodeRecord }])
    expect((await f.idx.reader.miner(bob.address))?.performance).to.deep.equal(minerPerformance(t!))
    expect((await f.idx.reader.miners()).map(m => m.performance.tokens_per_s)).to.deep.equal([3.33])
    const events = (await f.idx.store.entries<any>(KEY.minerEventPrefix(bob.address))).map(([, v]) => [v.height, v.kind, v.status ?? null, v.stake, v.earned_total, v.slashed_total])
    expect(events).to.deep.equal([
      [3, 'job', 'completed', '100000000', '37500', '0'],
      [3, 'job', 'failed', '100000000', '37500', '0'],
      [4, 'stake', null, '110000000', '37500', '0'],
      [7, 'job', 'expired', '110000000', '37500', '0'],
      [7, 'stake', null, '105000000', '37500', '5000000'],
    ])
  })

  it('verification: sampled jobs (verifying) that complete count as verified, rejected ones do not; rejected is a failure', () => {
    const job = (id: string, status: string, o: Partial<JobRecord> = {}): JobRecord => ({
      job_id: id, status, miner: bob.address, submitted_at: at(0), receipt_id: null, paid: null, completed_at: null, metrics: null, timeline: [], ...o,
    } as unknown as JobRecord)
    const b = new ChainStatsBuilder(9, at(10), at(9), { minerTotals: new Map(), minerMinutes: new Map() })
    b.jobChanged(job('a', 'assigned'), job('a', 'verifying'))
    b.jobChanged(job('a', 'verifying'), job('a', 'completed', { receipt_id: 'r', paid: '10', completed_at: at(10), metrics: { compute_ms: 2000, prompt_tokens: 1, completion_tokens: 40, eval_ms: 1000, first_token_ms: 120 } as any }))
    b.jobChanged(job('b', 'assigned'), job('b', 'verifying'))
    b.jobChanged(job('b', 'verifying'), job('b', 'rejected', { receipt_id: 'r2', paid: '0', completed_at: at(10) }))
    // A status this code does not know, with a completion time: an outcome all the same.
    b.jobChanged(job('c', 'assigned'), job('c', 'disputed', { completed_at: at(10) }))
    const { ops, block } = b.finish(0)
    expect(block.jobs).to.deep.equal({ completed: 1, rejected: 1, disputed: 1 })
    const totals = ops.find(o => o.type === 'put' && o.key === KEY.minerTotals(bob.address)) as { value: MinerTotals }
    const p = minerPerformance(totals.value)
    expect(p).to.deep.include({ settled: 3, verification_samples: 2, verification_rate: 50, success_rate: 33.33, failure_rate: 33.33, tokens_per_s: 40, first_token_ms: 120 })
  })

  it('tokens per second from eval_ms when the receipt has it, else compute_ms; time to first token only when reported', () => {
    expect(receiptSpeed({ compute_ms: 2000, completion_tokens: 50 })).to.deep.equal({ tokens: 50, generationMs: 2000, tokensPerS: 25, firstTokenMs: null })
    expect(receiptSpeed({ compute_ms: 2000, completion_tokens: 50, eval_ms: 500, first_token_ms: 90 })).to.deep.equal({ tokens: 50, generationMs: 500, tokensPerS: 100, firstTokenMs: 90 })
    expect(receiptSpeed(null).tokensPerS).to.equal(null)
    expect(receiptSpeed({ compute_ms: 0, completion_tokens: 5 }).tokensPerS).to.equal(null)
  })

  it('percentiles: exact per block (nearest rank), within 5% from a minute\'s histogram', () => {
    expect(quantile([], 0.5)).to.equal(null)
    expect(quantile([10, 20, 30, 40], 0.5)).to.equal(20)
    expect(quantile([10, 20, 30, 40], 0.95)).to.equal(40)
    let h = emptyHistogram()
    const values: number[] = []
    let x = 7
    for (let i = 0; i < 2000; i++) { x = (x * 48271) % 2147483647; const v = 50 + x % 90_000; values.push(v); h = addToHistogram(h, v) }
    values.sort((a, b) => a - b)
    for (const q of [0.5, 0.95]) {
      const exact = quantile(values, q) as number
      expect(Math.abs((histogramQuantile(h, q) as number) - exact) / exact, `q${q}`).to.be.below(0.05)
    }
  })

  it('a reopened store serves the same series (the figures are in the index)', async () => {
    const series = new SeriesReader({ store: f.idx.store, indexer: f.indexer, mempool: null, now: () => LAST_BLOCK_MS })
    const before = await series.series('jobs', parseWindow('1h'))
    await f.idx.close()
    const re = await openTestIndex(f.idx.dir)
    try {
      const client = new NodeClient('http://127.0.0.1:9', { retries: 0, timeoutMs: 100 })
      const indexer = new Indexer({}, { client, source: new NodeSource({}, { client }), writer: re.writer, metrics: createCoordinatorMetrics(), logger: silentLogger() })
      const again = new SeriesReader({ store: re.store, indexer, mempool: null, now: () => LAST_BLOCK_MS })
      expect(await again.series('jobs', parseWindow('1h'))).to.deep.equal(before)
    } finally {
      await re.close()
      f.idx = await openTestIndex(f.idx.dir)
      const client = new NodeClient('http://127.0.0.1:9', { retries: 0, timeoutMs: 100 })
      f.indexer = new Indexer({}, { client, source: new NodeSource({}, { client }), writer: f.idx.writer, metrics: createCoordinatorMetrics(), logger: silentLogger() })
    }
  })
})

describe('coordinator: the mempool sampler and an index older than the figures', () => {
  it('keeps the last `capacity` samples of num_unconfirmed_txs; a failed read leaves a gap', async () => {
    let answer: number | Error = 4
    let now = 1000
    const client = { call: async () => { if (answer instanceof Error) throw answer; return { n_txs: String(answer), total: String(answer), total_bytes: '0', txs: null } } }
    const s = new MempoolSampler({ capacity: 3 }, { client: client as any, height: () => now / 1000, now: () => now })
    for (const v of [4, 5, 6, 7]) { answer = v; await s.sample(); now += 1000 }
    answer = new Error('node down')
    await s.sample()
    expect(s.size).to.equal(3)
    expect(s.since(0)).to.deep.equal([{ t: 2000, height: 2, value: 5 }, { t: 3000, height: 3, value: 6 }, { t: 4000, height: 4, value: 7 }])
    expect(s.since(3000).map(x => x.value)).to.deep.equal([6, 7])
    expect(s.since(0, 4).map(x => x.value)).to.deep.equal([7])
  })

  it('an index written before the figures existed says from which height it has them', async () => {
    const idx = await openTestIndex()
    try {
      await idx.writer.init(genesis)
      const chain = new BlockMaker(validator)
      const s = new Signer()
      await idx.writer.write(chain.next([s.submit('old')]))
      await idx.writer.write(chain.next([]))
      await idx.store.write([{ type: 'del', key: KEY.statsMeta }])
      await idx.close()
      const re = await openTestIndex(idx.dir)
      try {
        expect(re.writer.statsFrom).to.equal(3)
        const client = new NodeClient('http://127.0.0.1:9', { retries: 0, timeoutMs: 100 })
        const indexer = new Indexer({}, { client, source: new NodeSource({}, { client }), writer: re.writer, metrics: createCoordinatorMetrics(), logger: silentLogger() })
        const series = new SeriesReader({ store: re.store, indexer, mempool: null, now: () => T0 + 2000 })
        expect((await series.series('jobs', parseWindow('100b'))).figures_from_height).to.equal(3)
      } finally {
        await re.destroy()
      }
    } finally {
      await idx.close()
    }
  })
})

describe('coordinator: series of every metric in every window', () => {
  let f: Fixture
  let series: SeriesReader
  const m0 = Math.floor(T0 / 60_000) * 60_000
  const minute = (k: number): string => new Date(m0 + k * 60_000).toISOString()
  before(async () => {
    f = await buildChain()
    const samples = [
      { t: T0 + 2_000, height: 2, value: 3 }, { t: T0 + 4_000, height: 3, value: 9 }, { t: T0 + 64_000, height: 4, value: 1 }, { t: T0 + 126_000, height: 7, value: 0 },
    ]
    series = new SeriesReader({ store: f.idx.store, indexer: f.indexer, mempool: fakeMempool(samples), now: () => LAST_BLOCK_MS })
  })
  after(async () => { await f.idx.destroy() })

  const get = async (metric: string, window: string, miner?: string): Promise<Series> => await series.series(metric, parseWindow(window), miner)
  const values = (s: Series): Array<[number | string, number]> => s.points.map(p => [s.resolution === 'minute' ? p.t : p.height, p.value])

  it('tx-per-s: txs over the block interval, per block and per minute', async () => {
    const b = await get('tx-per-s', '100b')
    expect(b).to.deep.include({ metric: 'tx-per-s', window: '100b', unit: 'tx/s', resolution: 'block', from: at(1), to: at(126), figures_from_height: null })
    expect(values(b)).to.deep.equal([[2, 2], [3, 1], [4, 0.02], [5, 2], [6, 2], [7, 0]])
    expect(values(await get('tx-per-s', '2b'))).to.deep.equal([[6, 2], [7, 0]])
    for (const w of ['1h', '24h']) expect(values(await get('tx-per-s', w)), w).to.deep.equal([[minute(0), 2.33], [minute(1), 0.08], [minute(2), 0]])
  })

  it('block-interval: seconds from the block before; a minute\'s mean', async () => {
    expect(values(await get('block-interval', '100b'))).to.deep.equal([[2, 1], [3, 2], [4, 60], [5, 1], [6, 1], [7, 60]])
    for (const w of ['1h', '24h']) expect(values(await get('block-interval', w)), w).to.deep.equal([[minute(0), 1.5], [minute(1), 20.667], [minute(2), 60]])
  })

  it('jobs: settled per block and per minute, by outcome', async () => {
    const b = await get('jobs', '100b')
    expect(values(b)).to.deep.equal([[1, 0], [2, 0], [3, 2], [4, 1], [5, 1], [6, 0], [7, 1]])
    expect(b.points[2].by_outcome).to.deep.equal({ completed: 1, failed: 1, rejected: 0, cancelled: 0, expired: 0 })
    const h = await get('jobs', '1h')
    expect(values(h)).to.deep.equal([[minute(0), 2], [minute(1), 2], [minute(2), 1]])
    expect(h.points[1].by_outcome).to.deep.include({ expired: 1, cancelled: 1 })
    expect(values(await get('jobs', '24h'))).to.deep.equal(values(h))
  })

  it('job-latency: p50 and p95 of the jobs settled with a receipt', async () => {
    const b = await get('job-latency', '100b')
    expect(b.points).to.deep.equal([{ t: at(4), height: 3, value: 3, p95: 3, count: 2 }])
    for (const w of ['1h', '24h']) {
      const s = await get('job-latency', w)
      expect(s.points.length, w).to.equal(1)
      expect(s.points[0].value).to.be.within(3, 3.15)
      expect(s.points[0].count).to.equal(2)
    }
  })

  it('mempool: the samples of the window\'s blocks; per minute, the largest', async () => {
    const b = await get('mempool', '100b')
    expect(b.resolution).to.equal('sample')
    expect(values(b)).to.deep.equal([[2, 3], [3, 9], [4, 1], [7, 0]])
    expect(values(await get('mempool', '5b'))).to.deep.equal([[3, 9], [4, 1], [7, 0]])
    for (const w of ['1h', '24h']) expect(values(await get('mempool', w)), w).to.deep.equal([[minute(0), 9], [minute(1), 1], [minute(2), 0]])
  })

  it('miner-tokens-per-s and miner-first-token (n/a until receipts report it)', async () => {
    expect(values(await get('miner-tokens-per-s', '100b', bob.address))).to.deep.equal([[3, 3.33]])
    for (const w of ['1h', '24h']) expect(values(await get('miner-tokens-per-s', w, bob.address))).to.deep.equal([[minute(0), 3.33]])
    for (const w of ['100b', '1h', '24h']) expect((await get('miner-first-token', w, bob.address)).points, w).to.deep.equal([])
  })

  it('miner-rates: success, failure, expiry and verification over the window so far', async () => {
    const b = await get('miner-rates', '100b', bob.address)
    expect(b.points.map(p => [p.height, p.value, p.failure_rate, p.expiry_rate, p.verification_rate, p.settled, p.samples])).to.deep.equal([
      [3, 100, 0, 0, null, 1, 0],
      [3, 50, 50, 0, null, 2, 0],
      [7, 33.33, 33.33, 33.33, null, 3, 0],
    ])
    for (const w of ['1h', '24h']) {
      const s = await get('miner-rates', w, bob.address)
      expect(s.points.map(p => [p.t, p.value, p.expiry_rate, p.settled])).to.deep.equal([[minute(0), 50, 0, 2], [minute(1), 50, 0, 2], [minute(2), 33.33, 33.33, 3]])
    }
  })

  it('miner-earnings and miner-stake: totals at each change, anchored at the window\'s ends', async () => {
    const e = await get('miner-earnings', '100b', bob.address)
    expect(e.points.map(p => [p.height, p.value, p.anchor ?? false])).to.deep.equal([[3, 0.0375, false], [3, 0.0375, false], [4, 0.0375, false], [7, 0.0375, false], [7, 0.0375, false], [7, 0.0375, true]])
    const st = await get('miner-stake', '100b', bob.address)
    expect(st.points.map(p => [p.height, p.value, p.slashed_total])).to.deep.equal([[3, 100, 0], [3, 100, 0], [4, 110, 0], [7, 110, 0], [7, 105, 5], [7, 105, 5]])
    // The last 2 blocks: the stake before them, then the changes in them.
    expect((await get('miner-stake', '2b', bob.address)).points.map(p => [p.height, p.value])).to.deep.equal([[6, 110], [7, 110], [7, 105], [7, 105]])
    for (const w of ['1h', '24h']) {
      const s = await get('miner-stake', w, bob.address)
      expect(s.points.map(p => [p.t, p.value])).to.deep.equal([[minute(0), 100], [minute(1), 110], [minute(2), 105], [new Date(LAST_BLOCK_MS).toISOString(), 105]])
      expect((await get('miner-earnings', w, bob.address)).points.map(p => p.value)).to.deep.equal([0.0375, 0.0375, 0.0375, 0.0375])
    }
  })

  it('windows are wall-clock minutes: an hour later the minute windows are empty, the block window is not', async () => {
    const later = new SeriesReader({ store: f.idx.store, indexer: f.indexer, mempool: null, now: () => LAST_BLOCK_MS + 3_600_000 })
    expect((await later.series('tx-per-s', parseWindow('1h'))).points).to.deep.equal([])
    expect((await later.series('tx-per-s', parseWindow('24h'))).points.length).to.equal(3)
    expect((await later.series('tx-per-s', parseWindow('100b'))).points.length).to.equal(6)
  })

  it('is bounded: at most 1500 points, however many samples or changes', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => ({ t: T0 + 126_000 - (5000 - i) * 10, height: 7, value: i % 50 }))
    const big = new SeriesReader({ store: f.idx.store, indexer: f.indexer, mempool: fakeMempool(many), now: () => LAST_BLOCK_MS })
    const s = await big.series('mempool', parseWindow('100b'))
    expect(s.points.length).to.be.at.most(MAX_SERIES_POINTS).and.above(1000)
    expect(Math.max(...s.points.map(p => p.value))).to.equal(49)
    expect(parseWindow('1500b')).to.deep.equal({ name: '1500b', kind: 'blocks', blocks: 1500 })
    expect(parseWindow('1d')).to.deep.equal({ name: '1d', kind: 'minutes', minutes: 1440 })
  })

  it('draws every metric as SVG whose data-points is the number of points', async () => {
    for (const metric of Object.keys(METRICS)) {
      for (const w of ['100b', '1h']) {
        const s = await get(metric, w, metric.startsWith('miner-') ? bob.address : undefined)
        const svg = renderChartSvg(s, { width: 360, height: 180 })
        expect(svg, metric).to.match(/^<svg [^>]*class="aitbc-chart"/)
        expect(svg.endsWith('</svg>')).to.equal(true)
        expect(svg).to.contain(`data-points="${s.points.length}"`)
        expect(svg).to.contain(`data-metric="${metric}"`)
        if (s.points.length === 0) expect(svg).to.match(/class="empty"/)
        else expect(svg).to.match(/<(polyline|circle|rect) class="(ln )?(c\d|completed|failed|expired|cancelled)/)
      }
    }
  })
})

describe('coordinator: GET /v1/stats/series and /v1/stats/chart', () => {
  let f: Fixture
  let app: ReturnType<typeof createApi>
  let feed: JobFeed
  before(async () => {
    f = await buildChain()
    const metrics = createCoordinatorMetrics()
    const logger = silentLogger()
    feed = new JobFeed({ metrics, logger, snapshot: async () => undefined })
    const series = new SeriesReader({ store: f.idx.store, indexer: f.indexer, mempool: fakeMempool([{ t: T0 + 4_000, height: 3, value: 2 }]), now: () => LAST_BLOCK_MS })
    const client = new NodeClient('http://127.0.0.1:9', { retries: 0, timeoutMs: 100 })
    const keys = new ApiKeyStore(f.idx.store)
    app = createApi({ rateLimitPerMinute: 60 }, {
      reader: f.idx.reader, series, indexer: f.indexer, refresher: f.idx.refresher,
      client, feed, metrics, logger, keys, gateway: new Gateway({ maxFee: 1n, timeoutMs: 1000, pollMs: 100 }, { client, keys, logger }),
    })
    await app.ready()
  })
  after(async () => {
    feed.close()
    await app.close()
    await f.idx.destroy()
  })

  const get = async (url: string): Promise<{ status: number, body: any, type: string }> => {
    const r = await app.inject({ method: 'GET', url })
    return { status: r.statusCode, body: r.headers['content-type']?.toString().startsWith('application/json') === true ? r.json() : r.body, type: String(r.headers['content-type']) }
  }

  it('answers every metric in every window with {t, height, value} points', async () => {
    for (const metric of Object.keys(METRICS)) {
      for (const window of ['100b', '1h', '24h']) {
        const miner = metric.startsWith('miner-') ? `&miner=${bob.address}` : ''
        const r = await get(`/v1/stats/series?metric=${metric}&window=${window}${miner}`)
        expect(r.status, `${metric} ${window}`).to.equal(200)
        expect(r.body).to.include({ metric, window, unit: METRICS[metric].unit })
        for (const p of r.body.points) {
          expect(p.t).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
          expect(p.height).to.be.a('number')
          expect(p.value).to.be.a('number')
        }
        if (metric !== 'miner-first-token') expect(r.body.points.length, `${metric} ${window}`).to.be.above(0)
      }
    }
    // The default window is the last hour.
    expect((await get('/v1/stats/series?metric=jobs')).body.window).to.equal('1h')
  })

  it('draws a chart as SVG', async () => {
    const r = await get('/v1/stats/chart?metric=tx-per-s&window=100b&width=420&height=160')
    expect(r.status).to.equal(200)
    expect(r.type).to.match(/^image\/svg\+xml/)
    expect(r.body).to.match(/^<svg [^>]*width="420" height="160"/)
    expect(r.body).to.contain('data-points="6"')
  })

  it('answers bad input with 400 {error, message}: unknown metric, malformed or too large window, miner misuse, bad sizes', async () => {
    const cases: Array<[string, number, string, RegExp?]> = [
      ['/v1/stats/series', 400, 'BAD_METRIC', /metric must be one of tx-per-s, block-interval, mempool, jobs, job-latency/],
      ['/v1/stats/series?metric=gas', 400, 'BAD_METRIC', /not "gas"/],
      ['/v1/stats/series?metric=jobs&metric=mempool', 400, 'BAD_METRIC'],
      ['/v1/stats/series?metric=jobs&window=1501b', 400, 'WINDOW_TOO_LARGE', /at most 1500 blocks/],
      ['/v1/stats/series?metric=jobs&window=25h', 400, 'WINDOW_TOO_LARGE', /at most 24 hours/],
      ['/v1/stats/series?metric=jobs&window=1441m', 400, 'WINDOW_TOO_LARGE'],
      ['/v1/stats/series?metric=jobs&window=2d', 400, 'WINDOW_TOO_LARGE'],
      ['/v1/stats/series?metric=jobs&window=99999999999h', 400, 'BAD_WINDOW'],
      ['/v1/stats/series?metric=jobs&window=0b', 400, 'BAD_WINDOW'],
      ['/v1/stats/series?metric=jobs&window=1.5h', 400, 'BAD_WINDOW'],
      ['/v1/stats/series?metric=jobs&window=-1h', 400, 'BAD_WINDOW'],
      ['/v1/stats/series?metric=jobs&window=week', 400, 'BAD_WINDOW'],
      ['/v1/stats/series?metric=jobs&window=1h&window=24h', 400, 'BAD_WINDOW'],
      ['/v1/stats/series?metric=miner-rates', 400, 'BAD_REQUEST', /needs miner=/],
      ['/v1/stats/series?metric=miner-rates&miner=xyz', 400, 'BAD_ADDRESS'],
      [`/v1/stats/series?metric=jobs&miner=${bob.address}`, 400, 'BAD_REQUEST', /only for the miner-\* metrics/],
      [`/v1/stats/series?metric=miner-rates&miner=${alice.address}`, 404, 'NOT_FOUND'],
      ['/v1/stats/chart?metric=nope', 400, 'BAD_METRIC'],
      ['/v1/stats/chart?metric=jobs&width=50', 400, 'BAD_REQUEST', /width must be an integer from 120 to 2400/],
      ['/v1/stats/chart?metric=jobs&height=abc', 400, 'BAD_REQUEST'],
      ['/v1/stats/chart?metric=jobs&window=3000b', 400, 'WINDOW_TOO_LARGE'],
    ]
    for (const [url, status, code, message] of cases) {
      const r = await get(url)
      expect(r.status, url).to.equal(status)
      expect(r.body.error, url).to.equal(code)
      expect(r.body.message, url).to.be.a('string').and.not.equal('')
      if (message !== undefined) expect(r.body.message, url).to.match(message)
    }
  })
})
