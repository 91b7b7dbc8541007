// CommitRevealReporter against a small fake chain (the job's verification phases as the chain
// moves them), a fake TxQueue, an in-memory store and a fake clock: the commitment is the chain's
// formula over a fresh salt and the text, saved before it is sent; the reveal waits for the
// reveal phase and sends the same salt and text; the salt is forgotten once revealed; and the
// ways it ends: unchecked, passed, rejected, as a verifier, refused, too late, a hard stop, and a
// restart that resumes from what was saved.
import { expect } from 'chai'
import { silentLogger } from '../../node/logger.ts'
import { fromHex, resultCommitment, toHex, TxCode, type AccountResult, type JobJSON, type TxBody, type VerificationJSON, type VerifierRunJSON } from '../../node/client.ts'
import { publicKeyFromSeed } from '../../node/core/crypto.ts'
import { CommitRevealReporter, myPart, revealOpen, verificationOver, type CheckedResult } from '../../miner/commitRevealReporter.ts'
import type { InferenceJob } from '../../miner/inferenceJob.ts'
import type { StoredResult } from '../../miner/resultStore.ts'
import { TxRefusedError, type SentTx } from '../../miner/txQueue.ts'
import { FakeClock, flush } from '../helpers/fakeClock.ts'

const ME = 'aitbc1me'
const MINER = 'aitbc1miner'
const V2 = 'aitbc1v2'
const JOB = 'job_00000000000000c1'
const SALT = new Uint8Array(32).fill(7)
const TIMEOUT_S = 10
/** The client's ed25519 public key the miner seals to (any valid key). */
const CLIENT_KEY = toHex(publicKeyFromSeed(new Uint8Array(32).fill(9)))

type Scenario = 'unsampled' | 'pass' | 'fail'

function baseJob (over: Partial<JobJSON> = {}): JobJSON {
  return {
    job_id: JOB, status: 'assigned', client: 'aitbc1client', client_pubkey: CLIENT_KEY, model: 'm', kind: 'prompt', prompt: 'p', messages: null, options: { temperature: null, num_predict: null, seed: null },
    seed: 1, num_predict: 32, max_fee: '1000000', max_price_per_second: null, max_price_in: null, max_price_out: null, model_digest: null, checked: true, verified: null, stake_lock: '2000000',
    miner: ME, price_per_second: '0', price_in: '1', price_out: '1', model_digest_used: null, done_reason: null, verification: null, result: null, result_hash: null, sealed_result: null, error: null, receipt_id: null, metrics: null,
    cost: null, paid: null, refund: null, slashed: null, submit_tx: 'AA', submitted_height: '1', submitted_at: '2025-01-01T00:00:00Z',
    assign_tx: 'BB', assigned_height: '2', assigned_at: '2025-01-01T00:00:00Z', settle_tx: null, settled_height: null, completed_at: null, ...over,
  }
}

function verification (over: Partial<VerificationJSON> = {}): VerificationJSON {
  return { commitment: '', committed_height: '3', bill: '100', sampled: null, phase: 'sample', phase_height: '3', miner_revealed: false, outcome: null, similarity: null, verifiers: [], ...over }
}

function run (miner: string, over: Partial<VerifierRunJSON> = {}): VerifierRunJSON {
  return { miner, assigned_height: '4', committed: false, committed_height: null, revealed: false, outcome: null, paid: '0', slashed: '0', ...over }
}

/**
 * The chain as this miner sees it: a tx it sends takes effect at the next read of the job; each
 * read after that moves the verification one step along its scenario (the sample, the other
 * verifiers' commitments, the verdict).
 */
class FakeChain {
  job: JobJSON
  sent: TxBody[] = []
  /** Per send: 'ok', a TxRefusedError, or 'network'. */
  sends: Array<'ok' | TxRefusedError | 'network'> = []
  log: string[] = []
  private pending: TxBody[] = []
  private nonce = 0

  constructor (job: JobJSON, private readonly scenario: Scenario, private readonly role: 'miner' | 'verifier') { this.job = job }

  readonly txs = {
    send: async (body: TxBody): Promise<SentTx> => {
      const how = this.sends.shift() ?? 'ok'
      if (how === 'network') throw new Error('cannot reach the node')
      if (how instanceof TxRefusedError) throw how
      this.log.push(`send ${body.type}`)
      this.sent.push(body)
      this.pending.push(body)
      return { hash: `H${this.sent.length}`, nonce: this.nonce++ }
    },
  }

  readonly node = {
    account: async (): Promise<AccountResult> => ({ address: ME, balance: '0', balance_aitbc: '0', nonce: String(this.nonce - 1), bonded: '0', unbonding: '0', pending_nonce: String(this.nonce + 1) }),
    job: async (): Promise<JobJSON> => { this.step(); return structuredClone(this.job) },
    call: async (_m: string, p: { height: string }) => ({ header: { time: new Date(Date.parse('2025-01-01T00:00:00Z') + Number(p.height) * 200).toISOString() } }) as any,
  }

  private step (): void {
    const j = this.job
    const v = j.verification
    for (const b of this.pending.splice(0)) this.apply(b)
    if (v === null || v.phase === 'done') return
    if (v.phase === 'sample') {
      if (this.scenario === 'unsampled') { v.sampled = false; v.phase = 'reveal'; v.phase_height = '4'; return }
      v.sampled = true; v.phase = 'commit'; v.phase_height = '4'; j.status = 'verifying'
      v.verifiers = [run(V2), run('aitbc1v3')]
      return
    }
    if (v.phase === 'commit' && this.role === 'miner') {
      for (const r of v.verifiers) { r.committed = true; r.committed_height = '5' }
      v.phase = 'reveal'; v.phase_height = '5'
    }
    if (v.phase === 'reveal') this.maybeSettle()
  }

  private apply (b: TxBody): void {
    const j = this.job
    if (b.type === 'commit_result') {
      if (this.role === 'miner') j.verification = verification({ commitment: toHex(b.commitment) })
      else {
        const v = j.verification as VerificationJSON
        const mine = v.verifiers.find(r => r.miner === ME) as VerifierRunJSON
        mine.committed = true
        if (v.verifiers.every(r => r.committed)) { v.phase = 'reveal'; v.phase_height = '6' }
      }
    } else if (b.type === 'reveal_result') {
      const v = j.verification as VerificationJSON
      if (this.role === 'miner') v.miner_revealed = true
      else (v.verifiers.find(r => r.miner === ME) as VerifierRunJSON).revealed = true
      this.maybeSettle()
    }
  }

  private maybeSettle (): void {
    const j = this.job
    const v = j.verification as VerificationJSON
    const minerIn = this.role === 'verifier' || v.miner_revealed
    const meIn = this.role === 'miner' || v.verifiers.some(r => r.miner === ME && r.revealed)
    if (!minerIn || !meIn) return
    v.phase = 'done'
    v.outcome = this.scenario === 'unsampled' ? 'unchecked' : this.scenario
    j.status = this.scenario === 'fail' ? 'rejected' : 'completed'
    j.settled_height = '7'
    for (const r of v.verifiers) { r.revealed = true; r.outcome = 'agree' }
  }
}

class MemStore {
  readonly entries = new Map<string, StoredResult>()
  constructor (private readonly log: string[]) {}
  save (r: StoredResult): void { this.log.push('save'); this.entries.set(r.jobId, structuredClone(r)) }
  remove (jobId: string): void { this.log.push('remove'); this.entries.delete(jobId) }
}

describe('miner CommitRevealReporter', () => {
  let clock: FakeClock

  beforeEach(() => { clock = new FakeClock(Date.parse('2025-01-01T00:00:01Z')) })

  function setup (scenario: Scenario, role: 'miner' | 'verifier', job?: JobJSON) {
    const chain = new FakeChain(job ?? baseJob(), scenario, role)
    const store = new MemStore(chain.log)
    const reporter = new CommitRevealReporter(
      { address: ME, maxResultBytes: 16, blockTimeMs: 200, jobTimeoutS: TIMEOUT_S, digestOf: () => 'f'.repeat(64) },
      { node: chain.node, txs: chain.txs, store, logger: silentLogger(), clock, salt: () => SALT },
    )
    return { chain, store, reporter }
  }

  function inference (role: 'miner' | 'verifier', over: Partial<InferenceJob> = {}): InferenceJob {
    return { id: JOB, role, model: 'm', prompt: 'p', messages: null, options: {}, checked: true, clientKey: CLIENT_KEY, assignedAt: '2025-01-01T00:00:00Z', deadlineMs: Date.parse('2025-01-01T00:00:10Z'), ...over }
  }
  const completed = { kind: 'completed' as const, result: 'the honest answer', computeMs: 40, promptTokens: 3, completionTokens: 4, details: { doneReason: 'stop', promptEvalMs: 1, evalMs: 2, firstTokenMs: 3, loadMs: 0 } }

  /** Runs the reporter to its end, moving the fake clock along. */
  async function finish (p: Promise<CheckedResult>): Promise<CheckedResult> {
    let out: CheckedResult | undefined
    void p.then(r => { out = r })
    for (let i = 0; i < 400 && out === undefined; i++) await clock.advance(100)
    expect(out, 'the reporter ended').to.not.equal(undefined)
    return out as CheckedResult
  }

  const cases: Array<[string, Scenario, CheckedResult['outcome'], VerificationJSON['outcome']]> = [
    ['not sampled: reveals alone and is paid unchecked', 'unsampled', 'completed', 'unchecked'],
    ['sampled and passed: reveals after the verifiers commit', 'pass', 'completed', 'pass'],
    ['sampled and failed: the job is rejected', 'fail', 'rejected', 'fail'],
  ]
  for (const [what, scenario, outcome, verdict] of cases) {
    it(`as the miner, ${what}`, async () => {
      const { chain, store, reporter } = setup(scenario, 'miner')
      const r = await finish(reporter.report(inference('miner'), completed))
      expect(r).to.deep.include({ outcome, verdict })
      // Saved before sent; forgotten once revealed.
      expect(chain.log).to.deep.equal(['save', 'send commit_result', 'send reveal_result', 'remove'])
      expect(store.entries.size).to.equal(0)
      const text = 'the honest answe' // cut to max_result_bytes (16)
      const [commit, reveal] = chain.sent as [TxBody & { type: 'commit_result' }, TxBody & { type: 'reveal_result' }]
      expect(toHex(commit.commitment)).to.equal(resultCommitment(JOB, ME, SALT, text))
      expect(commit.metrics).to.deep.equal({ computeMs: 40, promptTokens: 3, completionTokens: 4 })
      expect(commit.details).to.deep.equal({ modelDigest: 'f'.repeat(64), doneReason: 'stop', promptEvalMs: 1, evalMs: 2, firstTokenMs: 3, loadMs: 0 })
      expect(reveal).to.deep.equal({ type: 'reveal_result', jobId: JOB, salt: SALT, result: text })
    })
  }

  it('as a verifier: commits in the commit phase, reveals once every verifier has committed', async () => {
    const job = baseJob({ status: 'verifying', miner: MINER, verification: verification({ commitment: 'c'.repeat(64), sampled: true, phase: 'commit', phase_height: '4', verifiers: [run(ME), run(V2, { committed: true })] }) })
    const { chain, store, reporter } = setup('pass', 'verifier', job)
    const r = await finish(reporter.report(inference('verifier', { deadlineMs: Date.parse('2025-01-01T00:00:10.800Z') }), completed))
    expect(r).to.deep.include({ outcome: 'verified', verdict: 'pass' })
    expect(chain.sent.map(b => b.type)).to.deep.equal(['commit_result', 'reveal_result'])
    expect(toHex((chain.sent[0] as TxBody & { type: 'commit_result' }).commitment)).to.equal(resultCommitment(JOB, ME, SALT, 'the honest answe'))
    expect(store.entries.size).to.equal(0)
  })

  it('a commitment the node refuses is lost, and its salt forgotten', async () => {
    const { chain, store, reporter } = setup('pass', 'miner')
    chain.sends = [new TxRefusedError('commit_result', TxCode.INVALID_FIELD, 'job is not checked')]
    const r = await finish(reporter.report(inference('miner'), completed))
    expect(r.outcome).to.equal('lost')
    expect(chain.sent).to.deep.equal([])
    expect(store.entries.size).to.equal(0)
  })

  it('retries a send the node did not answer', async () => {
    const { chain, reporter } = setup('unsampled', 'miner')
    chain.sends = ['network', 'network']
    const r = await finish(reporter.report(inference('miner'), completed))
    expect(r.outcome).to.equal('completed')
    expect(chain.sent.map(b => b.type)).to.deep.equal(['commit_result', 'reveal_result'])
  })

  it('sends nothing once the deadline has passed', async () => {
    const { chain, reporter } = setup('pass', 'miner')
    const r = await finish(reporter.report(inference('miner', { deadlineMs: clock.now() - 1 }), completed))
    expect(r.outcome).to.equal('lost')
    expect(chain.sent).to.deep.equal([])
  })

  it('a hard stop ends it where it is and keeps the salt for the next start', async () => {
    const job = baseJob()
    const { chain, store, reporter } = setup('pass', 'miner', job)
    // The verifiers never commit: the miner waits for the reveal phase.
    const stuck = new FakeChain(job, 'pass', 'verifier')
    chain.node.job = async () => { const j = await stuck.node.job(); if (chain.sent.length > 0) j.verification = verification({ commitment: toHex((chain.sent[0] as any).commitment), sampled: true, phase: 'commit' }); return j }
    let out: CheckedResult | undefined
    void reporter.report(inference('miner'), completed).then(r => { out = r })
    await clock.advance(1000)
    expect(chain.sent.map(b => b.type)).to.deep.equal(['commit_result'])
    expect(out).to.equal(undefined)
    reporter.force()
    await clock.advance(200)
    expect(out?.outcome).to.equal('abandoned')
    expect(store.entries.size).to.equal(1)
  })

  it('resume(): reveals a saved commitment once reveals are open', async () => {
    const text = 'saved text'
    const commitment = resultCommitment(JOB, ME, SALT, text)
    const job = baseJob({ verification: verification({ commitment, sampled: false, phase: 'reveal', phase_height: '4' }) })
    const { chain, store, reporter } = setup('unsampled', 'miner', job)
    const entry: StoredResult = { jobId: JOB, role: 'miner', committer: ME, salt: toHex(SALT), text, commitment, storedAt: '2025-01-01T00:00:00Z' }
    store.entries.set(JOB, entry)
    const r = await finish(reporter.resume(entry))
    expect(r).to.deep.include({ outcome: 'completed', verdict: 'unchecked' })
    expect(chain.sent).to.deep.equal([{ type: 'reveal_result', jobId: JOB, salt: fromHex(toHex(SALT)), result: text }])
    expect(store.entries.size).to.equal(0)
  })

  const resumeEnds: Array<[string, JobJSON, CheckedResult['outcome']]> = [
    ['the commitment never reached the chain', baseJob(), 'lost'],
    ['the job is over', baseJob({ status: 'completed', verification: verification({ phase: 'done', outcome: 'pass', miner_revealed: true }) }), 'completed'],
  ]
  for (const [what, job, outcome] of resumeEnds) {
    it(`resume(): forgets a saved commitment when ${what}`, async () => {
      const { chain, store, reporter } = setup('pass', 'miner', job)
      const entry: StoredResult = { jobId: JOB, role: 'miner', committer: ME, salt: toHex(SALT), text: 't', commitment: 'c', storedAt: '2025-01-01T00:00:00Z' }
      store.entries.set(JOB, entry)
      const r = await finish(reporter.resume(entry))
      expect(r.outcome).to.equal(outcome)
      expect(chain.sent).to.deep.equal([])
      expect(store.entries.size).to.equal(0)
    })
  }

  it('myPart / revealOpen / verificationOver read the job for either role', async () => {
    await flush()
    const commitPhase = baseJob({ status: 'verifying', verification: verification({ phase: 'commit', verifiers: [run(V2, { committed: true })] }) })
    expect(myPart(commitPhase, 'miner', ME)).to.deep.equal({ committed: true, revealed: false, silent: false })
    expect(myPart(commitPhase, 'verifier', V2)).to.deep.equal({ committed: true, revealed: false, silent: false })
    expect(revealOpen(commitPhase, 'miner', ME)).to.equal(false)
    const reveal = baseJob({ status: 'verifying', verification: verification({ phase: 'reveal', verifiers: [run(V2, { committed: true }), run('aitbc1v3', { outcome: 'silent' })] }) })
    expect(revealOpen(reveal, 'miner', ME)).to.equal(true)
    expect(revealOpen(reveal, 'verifier', V2)).to.equal(true)
    expect(revealOpen(reveal, 'verifier', 'aitbc1v3')).to.equal(false)
    expect(revealOpen(reveal, 'miner', 'aitbc1someoneelse')).to.equal(false)
    expect(verificationOver(reveal)).to.equal(false)
    expect(verificationOver(baseJob({ status: 'expired' }))).to.equal(true)
    expect(verificationOver(baseJob({ verification: verification({ phase: 'done' }) }))).to.equal(true)
  })
})
