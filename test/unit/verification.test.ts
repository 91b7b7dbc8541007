// Verification by re-execution, case by case on the pure core (node/core/verification.ts and the
// commit_result / reveal_result / update_miner rules): each verdict, each silence, and the
// attacks a review found (a miner moving out of its class, a replaced verifier committing late).
import { expect } from 'chai'
import type { SigningKey } from '../../node/core/crypto.ts'
import { TxError } from '../../node/core/errors.ts'
import { jobIdFromTxHash, type Tx } from '../../node/core/tx.ts'
import { ChainSim, body, keyOf } from '../helpers/chainSim.ts'

const MODEL = 'llama3'
const CLIENT = keyOf('vt-client')
const HONEST = 'Machine learning fits a model to examples and predicts on new data.'
const LIE = 'filler filler filler, nothing was computed for this answer at all'

function sim (miners: number, capacity = 2): { sim: ChainSim, keys: SigningKey[], key: (a: string) => SigningKey } {
  const keys = Array.from({ length: miners }, (_, i) => keyOf(`vt-miner-${i}`))
  const s = new ChainSim({
    accounts: [{ key: CLIENT, balance: 10n ** 12n }, ...keys.map(key => ({ key, balance: 10n ** 9n }))],
    miners: keys.map(key => ({ key, models: [MODEL], pricePerSecond: 20_000n, capacity, stake: 10n ** 9n })),
    params: { verification_rate: '1', job_timeout_s: 5, assign_timeout_s: 30 },
  })
  return { sim: s, keys, key: a => keys.find(k => k.address === a) as SigningKey }
}

/** A job submitted and assigned; returns its id and its miner's key. */
function assigned (t: ReturnType<typeof sim>): { id: string, miner: SigningKey } {
  const sub = t.sim.sign(CLIENT, body.submit(MODEL, 'What is machine learning?', 1_000_000n))
  t.sim.block([sub])
  t.sim.block([])
  const id = jobIdFromTxHash(sub.hash)
  return { id, miner: t.key(t.sim.job(id).miner as string) }
}

function refused (f: () => unknown): TxError {
  try { f() } catch (e) { if (e instanceof TxError) return e; throw e }
  throw new Error('expected a TxError')
}

describe('verification: verdicts and silences', () => {
  it('a committee short of verifiers (the others busy) is topped up when one is free, and its deadline restarts', () => {
    const t = sim(3, 1) // capacity 1 each
    const subs = ['first', 'second'].map(p => t.sim.sign(CLIENT, body.submit(MODEL, p, 1_000_000n)))
    t.sim.block(subs)
    t.sim.block([]) // both assigned, to two miners
    const [a, b] = subs.map(x => jobIdFromTxHash(x.hash))
    const minerA = t.key(t.sim.job(a).miner as string)
    const minerB = t.key(t.sim.job(b).miner as string)
    t.sim.block([t.sim.sign(minerA, body.commit(a, minerA.address, HONEST))])
    const out = t.sim.block([]) // A sampled: B's miner is busy, one verifier only
    let v = t.sim.job(a).verification
    expect(v?.runs.map(r => r.miner)).to.have.length(1)
    expect(v?.runs[0].miner).to.not.equal(minerB.address)
    expect(out.beginEvents.some(e => e.type === 'sample')).to.equal(true)
    const phaseTime = v?.phaseTime as number
    t.sim.block([t.sim.sign(minerB, body.commit(b, minerB.address, HONEST)), t.sim.sign(t.key(v?.runs[0].miner as string), body.commit(a, v?.runs[0].miner as string, HONEST, { sealed: null }))])
    expect(t.sim.job(a).verification?.phase, 'a committee of one waits').to.equal('commit')
    const top = t.sim.block([]) // B's miner is free now: drawn for A
    v = t.sim.job(a).verification
    expect(v?.runs.map(r => r.miner)).to.deep.equal([t.sim.job(a).verification?.runs[0].miner, minerB.address])
    expect(top.beginEvents.filter(e => e.type === 'redraw')).to.have.length(1)
    expect(v?.phaseTime).to.be.greaterThan(phaseTime)
    t.sim.block([t.sim.sign(minerB, body.commit(a, minerB.address, HONEST, { sealed: null }))])
    expect(t.sim.job(a).verification?.phase, 'a full committee that committed opens the reveals').to.equal('reveal')
  })

  it('a class of two and a lying miner: one verifier disagrees, no majority: the client is refunded, nobody is slashed', () => {
    const t = sim(2)
    const { id, miner } = assigned(t)
    t.sim.block([t.sim.sign(miner, body.commit(id, miner.address, LIE))])
    t.sim.block([]) // sampled: the other miner verifies
    const v = t.sim.job(id).verification?.runs ?? []
    expect(v).to.have.length(1)
    const verifier = t.key(v[0].miner)
    t.sim.block([t.sim.sign(verifier, body.commit(id, verifier.address, HONEST, { sealed: null }))])
    // a committee of one waits for a second verifier until its commit deadline, then the reveals open
    expect(t.sim.job(id).verification?.phase).to.equal('commit')
    t.sim.block([], { dt: 6000 })
    expect(t.sim.job(id).verification?.phase).to.equal('reveal')
    t.sim.block([t.sim.sign(miner, body.reveal(id, LIE)), t.sim.sign(verifier, body.reveal(id, HONEST))])
    const j = t.sim.job(id)
    expect(j.verification?.outcome).to.equal('no-majority')
    expect([j.status, j.paid, j.refund]).to.deep.equal(['rejected', 0n, 1_000_000n])
    for (const k of t.keys) expect(t.sim.miner(k.address).slashed, k.address).to.equal(0n)
  })

  it('a miner silent at its reveal fails: the client is refunded, the miner slashed, the agreeing verifiers paid from the slash', () => {
    const t = sim(3)
    const { id, miner } = assigned(t)
    t.sim.block([t.sim.sign(miner, body.commit(id, miner.address, HONEST))])
    t.sim.block([])
    const runs = t.sim.job(id).verification?.runs ?? []
    t.sim.block(runs.map(r => t.sim.sign(t.key(r.miner), body.commit(id, r.miner, HONEST, { sealed: null }))))
    t.sim.block(runs.map(r => t.sim.sign(t.key(r.miner), body.reveal(id, HONEST))))
    t.sim.block([], { dt: 6000 }) // the miner never reveals: past the reveal deadline
    const j = t.sim.job(id)
    expect(j.verification?.outcome).to.equal('fail')
    expect([j.status, j.paid, j.refund]).to.deep.equal(['rejected', 0n, 1_000_000n])
    expect(t.sim.miner(miner.address).slashed > 0n).to.equal(true)
    for (const r of runs) expect(t.sim.miner(r.miner).slashed).to.equal(0n)
    expect(j.verification?.runs.map(r => [r.outcome, r.paid > 0n])).to.deep.equal(runs.map(() => ['agree', true]))
  })

  it('a verifier replaced after its commit deadline cannot commit late (JOB_NOT_PENDING), and its slot is freed once', () => {
    const t = sim(4)
    const { id, miner } = assigned(t)
    t.sim.block([t.sim.sign(miner, body.commit(id, miner.address, HONEST))])
    t.sim.block([])
    const [late, onTime] = t.sim.job(id).verification?.runs ?? []
    t.sim.block([t.sim.sign(t.key(onTime.miner), body.commit(id, onTime.miner, HONEST, { sealed: null }))])
    t.sim.block([], { dt: 6000 }) // `late` is silent: slashed and replaced
    const runs = t.sim.job(id).verification?.runs ?? []
    expect(runs.map(r => r.outcome)).to.deep.equal(['silent', null, null])
    const activeBefore = t.sim.miner(late.miner).activeJobs
    const tx: Tx = t.sim.sign(t.key(late.miner), body.commit(id, late.miner, HONEST, { sealed: null }))
    const e = refused(() => t.sim.block([tx]))
    expect(e.code).to.equal('JOB_NOT_PENDING')
    expect(t.sim.miner(late.miner).activeJobs).to.equal(activeBefore)
  })

  it('while checked jobs hold its stake a miner cannot change its models or digests (MINER_BUSY); afterwards it can', () => {
    const t = sim(3)
    const { id, miner } = assigned(t)
    expect(t.sim.miner(miner.address).locked > 0n).to.equal(true)
    const moves = [
      body.update({ models: ['llama3', 'other'] }),
      { type: 'update_miner' as const, models: [MODEL], pricePerSecond: null, capacity: null, active: null, modelInfo: [{ name: MODEL, digest: 'ab'.repeat(32), quantization: null, parameterSize: null, contextLength: null }] },
    ]
    for (const b of moves) { const e = refused(() => t.sim.block([t.sim.sign(miner, b)])); expect(e.code, e.message).to.equal('MINER_BUSY') }
    // a price change is fine
    t.sim.block([t.sim.sign(miner, body.update({ pricePerSecond: 30_000n }))])
    // settle the job (unchecked path is not taken at rate 1: all reveal)
    t.sim.block([t.sim.sign(miner, body.commit(id, miner.address, HONEST))])
    t.sim.block([])
    const runs = t.sim.job(id).verification?.runs ?? []
    t.sim.block(runs.map(r => t.sim.sign(t.key(r.miner), body.commit(id, r.miner, HONEST, { sealed: null }))))
    t.sim.block([t.sim.sign(miner, body.reveal(id, HONEST)), ...runs.map(r => t.sim.sign(t.key(r.miner), body.reveal(id, HONEST)))])
    expect(t.sim.job(id).status).to.equal('completed')
    expect(t.sim.miner(miner.address).locked).to.equal(0n)
    t.sim.block([t.sim.sign(miner, moves[0])])
    expect(t.sim.miner(miner.address).models).to.deep.equal(['llama3', 'other'])
  })
})
