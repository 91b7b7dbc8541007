// The coordinator's job view (GET /v1/jobs/:id, the job lists, /v1/ws) from the node's JobJSON:
// every JobJSON field with its value and in its order, then cost_aitbc, max_fee_aitbc and the
// timeline, nothing else; the node's record laid over the indexed one at the same status; the
// mismatch check; the receipt view equal to the node's aitbc_receipt for the same job.
import { expect } from 'chai'
import { formatAitbc } from '../../node/core/amount.ts'
import { newJob, type Job } from '../../node/core/state.ts'
import { jobJSON, receiptJSON } from '../../node/rpc/format.ts'
import type { JobJSON } from '../../node/client.ts'
import { jobView, nodeFieldsOf, receiptView, recordMismatches, withNodeRecord, type JobRecord, type TimelineEntry } from '../../coordinator-module/jobRecord.ts'
import { keyOf } from '../helpers/chainSim.ts'

const T = Date.parse('2024-03-01T12:00:00.000Z')
const client = keyOf('view-client').address
const miner = keyOf('view-miner').address

/** A job as the node holds it, settled or not. */
function coreJob (o: Partial<Job> = {}): Job {
  return newJob({
    id: 'job_0123456789abcdef',
    txHash: 'A'.repeat(64),
    client,
    model: 'llama3.2:1b',
    prompt: 'Why is the sky blue?',
    options: { temperature: 0.5, numPredict: 64, seed: null },
    maxFee: 2_500_000n,
    maxPricePerSecond: 30_000n,
    status: 'completed',
    submittedHeight: 7,
    submittedTime: T,
    miner,
    pricePerSecond: 25_000n,
    assignedHeight: 8,
    assignedTime: T + 1000,
    assignTxHash: 'B'.repeat(64),
    receiptId: 'receipt_0123456789abcdef',
    settleTxHash: 'C'.repeat(64),
    result: 'Rayleigh scattering.',
    resultHash: 'ab'.repeat(32),
    metrics: { computeMs: 1500, promptTokens: 6, completionTokens: 4 },
    error: null,
    paid: 37_500n,
    refund: 2_462_500n,
    slashed: null,
    settledHeight: 9,
    settledTime: T + 2500,
    ...o,
  })
}

const timeline: TimelineEntry[] = [
  { step: 'submitted', status: 'pending', height: '7', time: new Date(T).toISOString(), tx_hash: 'A'.repeat(64) },
  { step: 'assigned', status: 'assigned', height: '8', time: new Date(T + 1000).toISOString(), tx_hash: 'B'.repeat(64), miner },
  { step: 'completed', status: 'completed', height: '9', time: new Date(T + 2500).toISOString(), tx_hash: 'C'.repeat(64), miner },
]

const record = (job: JobJSON): JobRecord => ({ ...job, position: '000000000007:000000000000', timeline })

describe('coordinator: the job view from the node\'s JobJSON', () => {
  it('is every JobJSON field, same values, same order, then cost_aitbc, max_fee_aitbc and the timeline', () => {
    const node = jobJSON(coreJob())
    const v = jobView(record(node))
    expect(Object.keys(v)).to.deep.equal([...Object.keys(node), 'cost_aitbc', 'max_fee_aitbc', 'timeline'])
    for (const [k, value] of Object.entries(node)) expect(v[k as keyof JobJSON], k).to.deep.equal(value)
    expect(v.cost_aitbc).to.equal(formatAitbc(37_500n))
    expect(v.max_fee_aitbc).to.equal(formatAitbc(2_500_000n))
    expect(v.timeline).to.deep.equal(timeline)
    expect(v).to.not.have.property('position')
    expect(nodeFieldsOf(record(node))).to.deep.equal(node)
  })

  it('has no cost in AITBC before the job is settled', () => {
    const node = jobJSON(coreJob({ status: 'pending', miner: null, pricePerSecond: null, assignedHeight: null, assignedTime: null, assignTxHash: null, receiptId: null, settleTxHash: null, result: null, resultHash: null, metrics: null, paid: null, refund: null, settledHeight: null, settledTime: null }))
    const v = jobView(record(node))
    expect([v.cost, v.cost_aitbc, v.max_fee_aitbc]).to.deep.equal([null, null, formatAitbc(2_500_000n)])
  })

  it('serves the node\'s record over the indexed one at the same status, the indexed one otherwise', () => {
    const indexed = record(jobJSON(coreJob()))
    const node: JobJSON = { ...nodeFieldsOf(indexed), result: 'The node says so.' }
    const merged = withNodeRecord(indexed, node)
    expect(merged.result).to.equal('The node says so.')
    expect([merged.position, merged.timeline]).to.deep.equal([indexed.position, indexed.timeline])
    expect(Object.keys(merged)).to.deep.equal(Object.keys(indexed))
    expect(recordMismatches(indexed, node)).to.deep.equal(['result'])
    expect(recordMismatches(indexed, nodeFieldsOf(indexed))).to.deep.equal([])

    // The node a stage ahead (its record read after a later block): the index's own stage is served.
    const ahead: JobJSON = { ...node, status: 'failed' }
    expect(withNodeRecord(indexed, ahead)).to.equal(indexed)
    expect(withNodeRecord(indexed, undefined)).to.equal(indexed)
    expect(recordMismatches(indexed, ahead)).to.deep.equal([])
  })

  it('gives the receipt aitbc_receipt answers for the same job', () => {
    for (const j of [coreJob(), coreJob({ status: 'failed', result: '', error: 'ollama: model crashed', paid: 0n, refund: 2_500_000n })]) {
      expect(receiptView(jobJSON(j)), j.status).to.deep.equal(receiptJSON(j))
    }
  })
})
