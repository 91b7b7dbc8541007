// AssignmentFollower against a fake node: the subscription queries, the assign and sample events
// it reads, and that a job heard of by subscription and by catch-up listing (at start, on
// connect, later) is handed on once: as an assignment while it is still assigned to this miner
// and not yet committed, as a verification while this miner is one of its verifiers that has not
// committed in its commit phase.
import { expect } from 'chai'
import { silentLogger } from '../../node/logger.ts'
import { RpcClientError, type JobJSON, type JobsResult, type SubscriptionEvent, type TxEventData, type EventJSON, type Subscription, type VerificationJSON, type VerifierRunJSON } from '../../node/client.ts'
import { AssignmentFollower, assignedJobIds, isVerifierDuty, sampledJobIds, type AssignedJob, type AssignmentSource } from '../../miner/assignmentFollower.ts'

const ME = 'aitbc1me'
const OTHER = 'aitbc1other'
const jobId = (i: number): string => `job_${i.toString(16).padStart(16, '0')}`

function jobJSON (id: string, over: Partial<JobJSON> = {}): JobJSON {
  return {
    job_id: id, status: 'assigned', client: 'aitbc1client', client_pubkey: null, model: 'llama3.2:latest', kind: 'prompt', prompt: 'hi', messages: null, options: { temperature: null, num_predict: null, seed: null },
    seed: 7, num_predict: 4096, max_fee: '1000000', max_price_per_second: null, max_price_in: null, max_price_out: null, model_digest: null, checked: false, verified: null, stake_lock: '0',
    miner: ME, price_per_second: '100', price_in: null, price_out: null, model_digest_used: null, done_reason: null, verification: null, result: null, result_hash: null, sealed_result: null, error: null, receipt_id: null, metrics: null,
    cost: null, paid: null, refund: null, slashed: null, submit_tx: 'AA', submitted_height: '1', submitted_at: '2025-01-01T00:00:00Z',
    assign_tx: 'BB', assigned_height: '1', assigned_at: '2025-01-01T00:00:01Z', settle_tx: null, settled_height: null, completed_at: null,
    ...over,
  }
}

function txEvent (events: EventJSON[]): SubscriptionEvent<TxEventData> {
  return {
    query: '',
    data: { type: 'tendermint/event/Tx', value: { TxResult: { height: '5', index: 0, tx: '', result: { code: 0, data: null, log: '', info: '', gas_wanted: '0', gas_used: '0', events, codespace: '' } } } },
    events: {},
  }
}
const assign = (miner: string, id: string): EventJSON => ({ type: 'assign', attributes: [{ key: 'job_id', value: id, index: true }, { key: 'miner', value: miner, index: true }] })

/** The node as the follower sees it: a job table, a listing of assigned jobs, one subscription at a time. */
class FakeNode {
  readonly jobsById = new Map<string, JobJSON>()
  /** Job ids whose aitbc_job read fails (as a node that does not answer). */
  readonly unreadable = new Set<string>()
  readonly queries: string[] = []
  readonly listings: Array<Record<string, unknown>> = []
  jobReads = 0
  /** The open subscriptions, by query. */
  private readonly subs = new Map<string, { onEvent: (e: SubscriptionEvent<any>) => void, onClose?: (reason: string) => void }>()

  async subscribe<D> (query: string, onEvent: (e: SubscriptionEvent<D>) => void, onClose?: (reason: string) => void): Promise<Subscription> {
    this.queries.push(query)
    this.subs.set(query, { onEvent: onEvent as (e: SubscriptionEvent<any>) => void, onClose })
    return { close: () => { const s = this.subs.get(query); this.subs.delete(query); s?.onClose?.('closed') } }
  }

  /** A tx event to the assignment subscription. */
  emit (e: SubscriptionEvent<TxEventData>): void { for (const [q, s] of this.subs) if (q.startsWith("tm.event='Tx'")) s.onEvent(e) }
  /** A block event to the sample subscription. */
  emitBlock (e: SubscriptionEvent): void { for (const [q, s] of this.subs) if (q.startsWith("tm.event='NewBlockHeader'")) s.onEvent(e) }

  async jobs (q: { miner?: string, status?: string, page?: string | number, per_page?: string | number } = {}): Promise<JobsResult> {
    this.listings.push(q)
    const all = [...this.jobsById.values()].filter(j => (q.miner === undefined || j.miner === q.miner) && j.status === q.status)
    const per = Number(q.per_page ?? 30)
    const page = Number(q.page ?? 1)
    return { jobs: all.slice((page - 1) * per, page * per), total_count: String(all.length), page: String(page), per_page: String(per) }
  }

  async job (id: string): Promise<JobJSON> {
    this.jobReads++
    const j = this.jobsById.get(id)
    if (this.unreadable.has(id)) throw new Error('cannot reach the node')
    if (j === undefined) throw new RpcClientError(`job ${id} not found`)
    return j
  }
}

describe('miner AssignmentFollower', () => {
  let node: FakeNode
  let handed: Array<{ id: string, source: AssignmentSource }>
  let follower: AssignmentFollower | undefined

  function follow (): AssignmentFollower {
    follower = new AssignmentFollower({ address: ME, pollIntervalMs: 0 }, {
      node, logger: silentLogger(), onAssigned: (job: AssignedJob, source) => handed.push({ id: job.job_id, source }),
    })
    return follower
  }

  beforeEach(() => { node = new FakeNode(); handed = [] })
  afterEach(async () => { await follower?.stop(); follower = undefined })

  it('subscribes to this miner\'s assignments and lists its assigned jobs, page by page', async () => {
    for (let i = 1; i <= 150; i++) node.jobsById.set(jobId(i), jobJSON(jobId(i)))
    node.jobsById.set(jobId(151), jobJSON(jobId(151), { miner: OTHER }))
    const f = follow()
    await f.start()
    await f.idle()
    expect(node.queries).to.deep.equal([`tm.event='Tx' AND assign.miner='${ME}'`])
    expect(f.subscribed).to.equal(true)
    expect(node.listings.every(q => q.miner === ME && q.status === 'assigned')).to.equal(true)
    expect(node.listings.map(q => q.page)).to.include.members(['1', '2'])
    expect(handed.map(h => h.id).sort()).to.deep.equal(Array.from({ length: 150 }, (_, i) => jobId(i + 1)).sort())
    // Listed at connect and again at start: each job once.
    expect(new Set(handed.map(h => h.id)).size).to.equal(handed.length)
  })

  it('reads the jobs assigned to this miner from a tx event, ignoring other miners and other events', () => {
    const ids = assignedJobIds(txEvent([
      { type: 'message', attributes: [{ key: 'action', value: 'record_receipt', index: true }] },
      assign(OTHER, jobId(1)),
      assign(ME, jobId(2)),
      assign(ME, jobId(2)),
      assign(ME, 'not-a-job-id'),
      { type: 'assign', attributes: [{ key: 'miner', value: ME, index: true }] },
      assign(ME, jobId(3)),
    ]), ME)
    expect(ids).to.deep.equal([jobId(2), jobId(3)])
  })

  it('hands on a job heard of by event and again by catch-up listing once', async () => {
    const f = follow()
    await f.start()
    node.jobsById.set(jobId(7), jobJSON(jobId(7)))
    node.emit(txEvent([assign(ME, jobId(7))]))
    node.emit(txEvent([assign(ME, jobId(7))]))
    await f.catchUp('poll')
    await f.idle()
    await f.catchUp('poll')
    node.emit(txEvent([assign(ME, jobId(7))]))
    await f.idle()
    expect(handed).to.deep.equal([{ id: jobId(7), source: 'event' }])
    expect(node.jobReads, 'the event\'s job is read back once').to.equal(1)
  })

  it('hands on a job listed first and then heard of by event once, without reading it back', async () => {
    node.jobsById.set(jobId(8), jobJSON(jobId(8)))
    const f = follow()
    await f.start()
    node.emit(txEvent([assign(ME, jobId(8))]))
    await f.idle()
    expect(handed.map(h => h.id)).to.deep.equal([jobId(8)])
    expect(['connect', 'start']).to.include(handed[0].source)
    expect(node.jobReads).to.equal(0)
  })

  it('forgets a job it could not read back, so the next listing hands it on', async () => {
    const f = follow()
    await f.start()
    node.jobsById.set(jobId(9), jobJSON(jobId(9)))
    node.unreadable.add(jobId(9))
    node.emit(txEvent([assign(ME, jobId(9))]))
    await f.idle()
    expect(handed).to.deep.equal([])
    node.unreadable.delete(jobId(9))
    await f.catchUp('poll')
    await f.idle()
    expect(handed).to.deep.equal([{ id: jobId(9), source: 'poll' }])
  })

  it('does not hand on a job that is no longer assigned to this miner when read back', async () => {
    const f = follow()
    await f.start()
    node.jobsById.set(jobId(10), jobJSON(jobId(10), { status: 'completed', settle_tx: 'CC' }))
    node.jobsById.set(jobId(11), jobJSON(jobId(11), { miner: OTHER }))
    node.emit(txEvent([assign(ME, jobId(10)), assign(ME, jobId(11))]))
    await f.idle()
    expect(handed).to.deep.equal([])
  })

  it('does not hand on a job assigned to this miner whose result it has committed already', async () => {
    const f = follow()
    await f.start()
    node.jobsById.set(jobId(13), jobJSON(jobId(13), { checked: true, verification: verification() }))
    node.emit(txEvent([assign(ME, jobId(13))]))
    await f.catchUp('poll')
    await f.idle()
    expect(handed).to.deep.equal([])
  })

  it('markSeen: a job this process takes up another way (a saved commitment) is never handed on', async () => {
    node.jobsById.set(jobId(14), jobJSON(jobId(14)))
    const f = follow()
    f.markSeen([jobId(14)])
    await f.start()
    await f.idle()
    expect(handed).to.deep.equal([])
  })

  it('stop() closes the subscription and ends the reconnect loop', async () => {
    const f = follow()
    await f.start()
    expect(f.subscribed).to.equal(true)
    await f.stop()
    expect(f.subscribed).to.equal(false)
    node.jobsById.set(jobId(12), jobJSON(jobId(12)))
    node.emit(txEvent([assign(ME, jobId(12))]))
    expect(handed).to.deep.equal([])
    expect(node.queries).to.have.length(1)
  })
})

function verification (over: Partial<VerificationJSON> = {}): VerificationJSON {
  return { commitment: 'c'.repeat(64), committed_height: '3', bill: '1', sampled: true, phase: 'commit', phase_height: '4', miner_revealed: false, outcome: null, similarity: null, verifiers: [], ...over }
}
const vrun = (miner: string, over: Partial<VerifierRunJSON> = {}): VerifierRunJSON => ({ miner, assigned_height: '4', committed: false, committed_height: null, revealed: false, outcome: null, paid: '0', slashed: '0', ...over })

function blockEvent (samples: Array<[string, string]>): SubscriptionEvent {
  return {
    query: '',
    data: { type: 'tendermint/event/NewBlockHeader', value: { header: {} as never } },
    events: { 'tm.event': ['NewBlockHeader'], 'sample.job_id': samples.map(x => x[0]), 'sample.sampled': samples.map(() => 'true'), 'sample.verifiers': samples.map(x => x[1]) },
  }
}

describe('miner AssignmentFollower: verifier duties', () => {
  let node: FakeNode
  let assigned: string[]
  let verify: Array<{ id: string, source: AssignmentSource }>
  let follower: AssignmentFollower | undefined

  function follow (): AssignmentFollower {
    follower = new AssignmentFollower({ address: ME, pollIntervalMs: 0 }, {
      node, logger: silentLogger(), onAssigned: job => assigned.push(job.job_id), onVerify: (job, source) => verify.push({ id: job.job_id, source }),
    })
    return follower
  }
  const duty = (i: number, over: Partial<VerificationJSON> = {}, job: Partial<JobJSON> = {}): JobJSON =>
    jobJSON(jobId(i), { status: 'verifying', miner: OTHER, checked: true, verification: verification({ verifiers: [vrun(ME), vrun('aitbc1v2')], ...over }), ...job })

  beforeEach(() => { node = new FakeNode(); assigned = []; verify = [] })
  afterEach(async () => { await follower?.stop(); follower = undefined })

  it('subscribes to the blocks whose sample draws this miner, besides its assignments', async () => {
    const f = follow()
    await f.start()
    expect(node.queries).to.have.members([`tm.event='Tx' AND assign.miner='${ME}'`, `tm.event='NewBlockHeader' AND sample.verifiers CONTAINS '${ME}'`, `tm.event='NewBlockHeader' AND redraw.verifiers CONTAINS '${ME}'`])
    expect(f.subscribed).to.equal(true)
    expect(node.listings.some(q => q.status === 'verifying' && q.miner === undefined)).to.equal(true)
  })

  it('sampledJobIds: the jobs whose verifiers include this miner, one job_id and one verifiers value per sample event', () => {
    const cases: Array<[Array<[string, string]>, string[]]> = [
      [[[jobId(1), `${ME},aitbc1v2`]], [jobId(1)]],
      [[[jobId(1), 'aitbc1v2,aitbc1v3'], [jobId(2), `aitbc1v3,${ME}`]], [jobId(2)]],
      // A verifier whose address contains ours is not us (CONTAINS matched it).
      [[[jobId(3), `${ME}x`]], []],
      [[['not-a-job', ME]], []],
      [[], []],
    ]
    for (const [samples, want] of cases) expect(sampledJobIds(blockEvent(samples), ME), JSON.stringify(samples)).to.deep.equal(want)
    // a redraw (a verifier drawn later) reads its own event's attributes
    const redraw: SubscriptionEvent = { query: '', data: { type: 'tendermint/event/NewBlockHeader', value: { header: {} as never } }, events: { 'tm.event': ['NewBlockHeader'], 'redraw.job_id': [jobId(4)], 'redraw.verifiers': [ME] } }
    expect(sampledJobIds(redraw, ME, 'redraw')).to.deep.equal([jobId(4)])
    expect(sampledJobIds(redraw, ME)).to.deep.equal([])
  })

  it('isVerifierDuty: only a verifying job in its commit phase where this miner has not committed', () => {
    const cases: Array<[string, JobJSON, boolean]> = [
      ['drawn, not committed', duty(1), true],
      ['committed already', duty(1, { verifiers: [vrun(ME, { committed: true })] }), false],
      ['counted silent', duty(1, { verifiers: [vrun(ME, { outcome: 'silent' })] }), false],
      ['reveal phase', duty(1, { phase: 'reveal' }), false],
      ['not drawn', duty(1, { verifiers: [vrun('aitbc1v2')] }), false],
      ['settled', duty(1, { phase: 'done' }, { status: 'completed' }), false],
      ['no verification', jobJSON(jobId(1)), false],
    ]
    for (const [what, job, want] of cases) expect(isVerifierDuty(job, ME), what).to.equal(want)
  })

  it('hands on a duty heard of by a sample event once, and one listed at start', async () => {
    node.jobsById.set(jobId(20), duty(20))
    const f = follow()
    await f.start()
    await f.idle()
    node.jobsById.set(jobId(21), duty(21))
    node.jobsById.set(jobId(22), duty(22, { verifiers: [vrun('aitbc1v2')] }))
    node.emitBlock(blockEvent([[jobId(21), `${ME},aitbc1v2`], [jobId(22), `aitbc1v2,${ME}`]]))
    node.emitBlock(blockEvent([[jobId(21), `${ME},aitbc1v2`]]))
    await f.idle()
    await f.catchUp('poll')
    await f.idle()
    expect(verify.map(v => v.id).sort()).to.deep.equal([jobId(20), jobId(21)])
    expect(verify.find(v => v.id === jobId(21))?.source).to.equal('event')
    expect(assigned).to.deep.equal([])
  })
})
