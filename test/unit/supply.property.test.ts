// Property test of the supply invariant (docs/protocol.md section 3): random blocks of random transactions of every
// type from a handful of keys, valid and invalid, with random time steps that sometimes pass the
// timeouts. After every block: supply holds, the totals equal sums recomputed from the records,
// capacity is respected, and a settled job never changes again.
import { expect } from 'chai'
import fc from 'fast-check'
import { sha256, utf8Bytes } from '../../node/core/crypto.ts'
import { pack } from '../../node/core/codec.ts'
import { TxError } from '../../node/core/errors.ts'
import { Overlay, encodeChangeSet, encodeJob, isOpen, type Job, type Totals } from '../../node/core/state.ts'
import { applyTx, type BlockContext } from '../../node/core/transition.ts'
import { drawMiner } from '../../node/core/draw.ts'
import { executeBlock } from '../../node/core/executor.ts'
import { jobIdFromTxHash, signTx, type Tx, type TxBody } from '../../node/core/tx.ts'
import { ChainSim, keyOf, body } from '../helpers/chainSim.ts'
import type { SigningKey } from '../../node/core/crypto.ts'

const NUM_RUNS = 250
const MIN_FEE = 1000n
const MODELS = ['a', 'b', 'c']
/** Jobs mostly for 'a' (two miners at genesis), some for 'b' (one) and 'c' (none unless one registers). */
const JOB_MODELS = ['a', 'a', 'a', 'a', 'b', 'b', 'c']

const V = keyOf('prop-validator')
const C1 = keyOf('prop-client1')
const C2 = keyOf('prop-client2')
const M1 = keyOf('prop-miner1')
const M2 = keyOf('prop-miner2')
const M3 = keyOf('prop-miner3') // not a miner at genesis; may register
const P = keyOf('prop-poor')
const KEYS: SigningKey[] = [V, C1, C2, M1, M2, M3, P]

function newSim (): ChainSim {
  return new ChainSim({
    validator: V,
    accounts: [
      { key: V, balance: 1_000_000n }, { key: C1, balance: 40_000_000n }, { key: C2, balance: 15_000_000n },
      { key: M1, balance: 5_000_000n }, { key: M2, balance: 5_000_000n }, { key: M3, balance: 8_000_000n }, { key: P, balance: 3000n },
    ],
    miners: [
      { key: M1, models: ['a'], pricePerSecond: 1000n, capacity: 3, stake: 3_000_000n },
      { key: M2, models: ['a', 'b'], pricePerSecond: 2500n, capacity: 2, stake: 4_000_000n },
    ],
    params: {
      min_fee: String(MIN_FEE), min_miner_stake: '1000000', slash_fraction: '0.1', unbonding_blocks: 2,
      assign_timeout_s: 5, job_timeout_s: 8, max_prompt_bytes: 32, max_result_bytes: 32,
    },
    checkInvariants: false, // checked below, with more
  })
}

// ---- random intents, made concrete against the state at the time they are applied ----
interface Common { from: number, minerKey: boolean, nonce: 'ok' | 'used' | 'skip', fee: 'min' | 'low' | 'more', wrongChain: boolean }
type Intent = Common & (
  | { k: 'transfer', to: number, amount: bigint }
  | { k: 'register', models: string[], stake: bigint, price: bigint, capacity: number }
  | { k: 'update', models: string[] | null, price: bigint | null, capacity: number | null, active: boolean | null }
  | { k: 'stake' | 'unstake', amount: bigint }
  | { k: 'submit', model: number, promptLen: number, maxFee: bigint, maxPrice: bigint | null }
  | { k: 'cancel', job: number, byClient: boolean }
  | { k: 'assign', job: number, byProposer: boolean, useDraw: boolean, miner: number }
  | { k: 'receipt', job: number, byAssigned: boolean, status: 'completed' | 'failed', computeMs: number, resultLen: number, badHash: boolean }
)

const amount = (max: bigint): fc.Arbitrary<bigint> => fc.oneof(fc.bigInt({ min: 0n, max }), fc.constantFrom(0n, 1n, 1_000_000n))
const models = fc.subarray(MODELS, { minLength: 0, maxLength: 3 })
const common = fc.record({
  from: fc.nat({ max: KEYS.length - 1 }),
  nonce: fc.oneof({ weight: 14, arbitrary: fc.constant('ok' as const) }, { weight: 1, arbitrary: fc.constant('used' as const) }, { weight: 1, arbitrary: fc.constant('skip' as const) }),
  fee: fc.oneof({ weight: 10, arbitrary: fc.constant('min' as const) }, { weight: 1, arbitrary: fc.constant('more' as const) }, { weight: 1, arbitrary: fc.constant('low' as const) }),
})
// a wrong chain id is rare: 1 in 40
// miner operations (register, update, stake, unstake) come from a miner key 4 times in 5
const commonArb: fc.Arbitrary<Common> = fc.tuple(common, fc.nat({ max: 39 }), fc.nat({ max: 4 })).map(([c, r, m]) => ({ ...c, wrongChain: r === 0, minerKey: m < 4 }))

const specific: fc.Arbitrary<Omit<Intent, keyof Common>> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('transfer' as const), to: fc.nat({ max: KEYS.length - 1 }), amount: amount(20_000_000n) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('register' as const), models, stake: amount(6_000_000n), price: fc.bigInt({ min: 0n, max: 5000n }), capacity: fc.nat({ max: 4 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('update' as const),
      models: fc.option(models, { freq: 3 }),
      price: fc.option(fc.bigInt({ min: 0n, max: 5000n }), { freq: 2 }),
      capacity: fc.option(fc.nat({ max: 4 }), { freq: 2 }),
      active: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('stake' as const, 'unstake' as const), amount: amount(5_000_000n) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('submit' as const), model: fc.nat({ max: JOB_MODELS.length - 1 }), promptLen: fc.nat({ max: 36 }),
      maxFee: amount(3_000_000n), maxPrice: fc.option(fc.bigInt({ min: 0n, max: 3000n }), { freq: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('cancel' as const), job: fc.nat(), byClient: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('assign' as const), job: fc.nat(), byProposer: fc.boolean(), useDraw: fc.boolean(), miner: fc.nat({ max: KEYS.length - 1 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('receipt' as const), job: fc.nat(), byAssigned: fc.constantFrom(true, true, true, true, false),
      status: fc.constantFrom('completed' as const, 'completed' as const, 'failed' as const), computeMs: fc.nat({ max: 12_000 }),
      resultLen: fc.oneof({ weight: 9, arbitrary: fc.nat({ max: 32 }) }, { weight: 1, arbitrary: fc.integer({ min: 33, max: 40 }) }), badHash: fc.constantFrom(false, false, false, false, false, false, false, false, false, true),
    }),
  },
)
const intent: fc.Arbitrary<Intent> = fc.tuple(commonArb, specific).map(([c, s]) => ({ ...c, ...s }) as Intent)
const blockArb = fc.record({
  /** Valid submits for model 'a' at the start of the block, to push miners to capacity. */
  burst: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 6 }) }),
  dt: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 3000 }) }, { weight: 2, arbitrary: fc.integer({ min: 3000, max: 9000 }) }, { weight: 1, arbitrary: fc.integer({ min: 9000, max: 30_000 }) }),
  txs: fc.array(intent, { maxLength: 16 }),
})
const runArb = fc.array(blockArb, { minLength: 1, maxLength: 30 })

const UNKNOWN_JOB = 'job_ffffffffffffffff'

/** Turns an intent into a signed tx against the current overlay. */
function build (sim: ChainSim, ov: Overlay, ctx: BlockContext, known: string[], it: Intent, seq: number): Tx {
  const minerOp = it.k === 'register' || it.k === 'update' || it.k === 'stake' || it.k === 'unstake'
  let key = minerOp && it.minerKey ? [M1, M2, M3][it.from % 3] : KEYS[it.from]
  // a job from the pool (else any known job), now and then one that does not exist
  const pickJob = (n: number, pool: string[] = known): string => {
    const from = pool.length > 0 ? pool : known
    return from.length === 0 || n % 16 === 15 ? UNKNOWN_JOB : from[n % from.length]
  }
  let b: TxBody
  switch (it.k) {
    case 'transfer': b = body.transfer(KEYS[it.to].address, it.amount); break
    case 'register': b = body.register(it.models, it.stake, it.price, it.capacity); break
    case 'update': b = { type: 'update_miner', models: it.models, pricePerSecond: it.price, capacity: it.capacity, active: it.active }; break
    case 'stake': b = body.stake(it.amount); break
    case 'unstake': b = body.unstake(it.amount); break
    case 'submit': b = body.submit(JOB_MODELS[it.model], `p${seq} `.padEnd(it.promptLen, 'x').slice(0, it.promptLen), it.maxFee, it.maxPrice); break
    case 'cancel': {
      const id = pickJob(it.job)
      const j = ov.job(id)
      if (it.byClient && j !== undefined) key = KEYS.find(k => k.address === j.client) ?? key
      b = body.cancel(id)
      break
    }
    case 'assign': {
      const pending = known.filter(id => ov.job(id)?.status === 'pending')
      const id = pickJob(it.job, pending)
      const j = ov.job(id)
      const drawn = j !== undefined ? drawMiner(ov, j, ctx.randomness) : null
      if (it.byProposer) key = V
      b = body.assign(id, it.useDraw && drawn !== null ? drawn.address : KEYS[it.miner].address)
      break
    }
    case 'receipt': {
      const assigned = known.filter(id => ov.job(id)?.status === 'assigned')
      const id = pickJob(it.job, it.byAssigned ? assigned : known)
      const j = ov.job(id)
      if (it.byAssigned && j?.miner != null) key = KEYS.find(k => k.address === j.miner) ?? key
      const result = 'r'.repeat(it.resultLen)
      b = body.receipt(id, it.status, result, it.computeMs, it.badHash ? { resultHash: sha256(utf8Bytes(result + '!')) } : {})
      break
    }
  }
  const next = (ov.account(key.address) ?? { nonce: 0 }).nonce
  // 'used' on a fresh account (nothing used yet) skips instead
  const nonce = it.nonce === 'ok' ? next : it.nonce === 'used' && next > 0 ? next - 1 - (seq % next) : next + 1 + (seq % 3)
  const fee = b.type === 'assign' ? (it.fee === 'more' ? MIN_FEE : 0n) : it.fee === 'min' ? MIN_FEE : it.fee === 'low' ? MIN_FEE - 1n : MIN_FEE + 777n
  return signTx(key, { chainId: it.wrongChain ? 'other-chain' : sim.chainId, nonce, fee, body: b })
}

interface Snapshot { accounts: Map<string, unknown>, miners: Map<string, unknown>, jobs: Map<string, unknown>, totals: Totals, pending: string[], assigned: string[] }
function snapshot (ov: Overlay): Snapshot {
  return { accounts: new Map(ov.accounts), miners: new Map(ov.miners), jobs: new Map(ov.jobs), totals: { ...ov.totals() }, pending: [...ov.pendingJobIds()], assigned: [...ov.assignedJobIds()] }
}
function sameMap (a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): boolean {
  if (a.size !== b.size) return false
  for (const [k, v] of a) if (b.get(k) !== v) return false
  return true
}
function unchanged (s: Snapshot, ov: Overlay): boolean {
  return sameMap(s.accounts, ov.accounts) && sameMap(s.miners, ov.miners) && sameMap(s.jobs, ov.jobs) &&
    JSON.stringify(s.totals, (_k, v) => typeof v === 'bigint' ? v.toString() : v) === JSON.stringify(ov.totals(), (_k, v) => typeof v === 'bigint' ? v.toString() : v) &&
    s.pending.join() === [...ov.pendingJobIds()].join() && s.assigned.join() === [...ov.assignedJobIds()].join()
}

function errorOf (f: () => void): TxError | null {
  try { f(); return null } catch (e) {
    if (e instanceof TxError) return e
    throw e
  }
}

interface Stats { txs: number, accepted: Record<string, number>, rejected: Record<string, number>, codes: Record<string, number>, statuses: Record<string, number>, slashed: number, unbonded: number, blocks: number }
const stats: Stats = { txs: 0, accepted: {}, rejected: {}, codes: {}, statuses: {}, slashed: 0, unbonded: 0, blocks: 0 }
const bump = (o: Record<string, number>, k: string): void => { o[k] = (o[k] ?? 0) + 1 }

const BURST: Intent = { k: 'submit', from: 1, minerKey: false, nonce: 'ok', fee: 'min', wrongChain: false, model: 0, promptLen: 12, maxFee: 200_000n, maxPrice: null }

function runChain (blocks: Array<{ burst: number, dt: number, txs: Intent[] }>): void {
  const sim = newSim()
  const known: string[] = []
  const settled = new Map<string, string>()
  let seq = 0
  for (const blk of blocks) {
    const { overlay: ov, ctx, beginEvents, beacon } = sim.begin({ dt: blk.dt })
    stats.slashed += beginEvents.filter(e => e.type === 'slash').length
    stats.unbonded += beginEvents.filter(e => e.type === 'unbond').length
    const accepted: Tx[] = beacon === null ? [] : [beacon.tx]
    const run = (it: Intent): void => {
      const tx = build(sim, ov, ctx, known, it, seq++)
      stats.txs++
      // the mempool path agrees with the block path (assign aside, which is block-only)
      const checkErr = errorOf(() => applyTx(new Overlay(ov), tx, ctx, 'check'))
      const snap = snapshot(ov)
      const err = errorOf(() => applyTx(ov, tx, ctx, 'deliver'))
      // an assign never passes 'check'; checks before the handler (chain id, fee, nonce) fail alike
      if (tx.type === 'assign') expect(checkErr?.code).to.be.oneOf(['ASSIGN_ONLY_IN_BLOCK', err?.code])
      else expect(checkErr?.code, `check vs deliver for ${tx.type}`).to.equal(err?.code)
      if (err === null) {
        accepted.push(tx)
        bump(stats.accepted, tx.type)
        if (tx.body.type === 'submit_job') known.push(jobIdFromTxHash(tx.hash))
      } else {
        bump(stats.rejected, tx.type)
        bump(stats.codes, err.code)
        expect(unchanged(snap, ov), `rejected ${tx.type} (${err.code}) wrote state`).to.equal(true)
      }
    }
    // The assigns open the block, drawn from its starting state: the generated ones (most are
    // refused), then the proposer's for the jobs still assignable; then the other txs.
    for (const it of blk.txs.filter(i => i.k === 'assign')) run(it)
    accepted.push(...sim.assignAll(ov, ctx))
    for (const it of [...Array(blk.burst).fill(BURST) as Intent[], ...blk.txs.filter(i => i.k !== 'assign')]) run(it)
    // every validator re-executing the proposer's block gets the same changes
    const all = accepted
    const ex = executeBlock(sim.mem, all.map(t => t.bytes), ctx, all)
    expect(Buffer.from(encodeChangeSet(ex.overlay.changes())).equals(Buffer.from(encodeChangeSet(ov.changes())))).to.equal(true)
    sim.commit(ov, ctx)
    stats.blocks++
    checkAfterBlock(sim, known, settled)
  }
}

function checkAfterBlock (sim: ChainSim, known: string[], settled: Map<string, string>): void {
  const t = sim.mem.totals()
  expect(t.supply).to.equal(sim.supply)
  sim.assertInvariants() // supplyHolds, totals == recomputed sums, 0 <= activeJobs <= capacity and == its assigned jobs
  for (const id of known) {
    const j = sim.mem.job(id) as Job
    expect(j, id).to.not.equal(undefined)
    if (isOpen(j.status)) {
      expect(settled.has(id), `settled job ${id} reopened`).to.equal(false)
      expect(sim.mem.openJobs.get(id)).to.equal(j)
      continue
    }
    const bytes = Buffer.from(pack(encodeJob(j))).toString('hex')
    const before = settled.get(id)
    if (before !== undefined) {
      expect(bytes, `settled job ${id} changed`).to.equal(before)
      continue
    }
    settled.set(id, bytes)
    bump(stats.statuses, j.status)
    expect(sim.mem.openJobs.has(id)).to.equal(false)
    expect((j.paid as bigint) + (j.refund as bigint)).to.equal(j.maxFee)
    expect(j.settledHeight).to.equal(sim.height)
    if (j.status === 'completed') {
      const chainMs = (j.settledTime as number) - (j.assignedTime as number)
      const due = BigInt(Math.min(j.metrics?.computeMs as number, chainMs)) * (j.pricePerSecond as bigint) / 1000n
      expect(j.paid).to.equal(due < j.maxFee ? due : j.maxFee)
    } else {
      expect(j.paid).to.equal(0n)
    }
    if (j.status === 'expired' && j.miner !== null) expect(j.slashed).to.be.a('bigint')
  }
}

describe('supply invariant (property)', function () {
  this.timeout(120_000)

  it(`holds over random blocks of random transactions (${NUM_RUNS} chains)`, () => {
    fc.assert(fc.property(runArb, runChain), { numRuns: NUM_RUNS })
    // the generator reached every corner it is meant to
    if (process.env.PROP_STATS !== undefined) console.log(JSON.stringify(stats, null, 1))
    expect(stats.txs).to.be.greaterThan(2000)
    for (const type of ['transfer', 'register_miner', 'update_miner', 'stake', 'unstake', 'submit_job', 'cancel_job', 'assign', 'record_receipt']) {
      expect(stats.rejected[type] ?? 0, `rejected ${type}`).to.be.greaterThan(0)
      if (type !== 'assign') expect(stats.accepted[type] ?? 0, `accepted ${type}`).to.be.greaterThan(0)
    }
    for (const s of ['completed', 'failed', 'cancelled', 'expired']) expect(stats.statuses[s] ?? 0, `jobs ${s}`).to.be.greaterThan(0)
    expect(stats.slashed, 'slashes').to.be.greaterThan(0)
    expect(stats.unbonded, 'unbondings').to.be.greaterThan(0)
    for (const c of ['NONCE_USED', 'NONCE_SKIPPED', 'FEE_TOO_LOW', 'WRONG_CHAIN_ID', 'INSUFFICIENT_FUNDS', 'JOB_ALREADY_SETTLED', 'NOT_ASSIGNED_MINER', 'WRONG_ASSIGNMENT']) {
      expect(stats.codes[c] ?? 0, c).to.be.greaterThan(0)
    }
  })
})
