// A job as the coordinator indexes it, from the chain's txs and events alone (pure, no I/O): the
// fields of the node's aitbc_job answer, in the same JSON form, plus its timeline and its
// position. Each apply* function mirrors one change the chain makes to a job.
import { formatAitbc } from '../node/core/amount.ts'
import { toHex } from '../node/core/crypto.ts'
import type { Tx, TxBody } from '../node/core/tx.ts'
import type { JobStatus } from '../node/core/state.ts'

export type TimelineStep = 'submitted' | 'assigned' | 'completed' | 'failed' | 'cancelled' | 'expired'

export interface TimelineEntry {
  step: TimelineStep
  status: JobStatus
  height: string
  time: string
  /** null for an expiry: the chain expires jobs inside block execution, with no tx. */
  tx_hash: string | null
  miner?: string
}

/** Where a change happened. */
export interface ChainPoint { height: number, time: string, txHash: string | null }

export interface JobRecord {
  job_id: string
  status: JobStatus
  client: string
  model: string
  prompt: string
  options: { temperature: number | null, num_predict: number | null, seed: number | null }
  max_fee: string
  max_price_per_second: string | null
  miner: string | null
  price_per_second: string | null
  result: string | null
  result_hash: string | null
  error: string | null
  receipt_id: string | null
  metrics: { compute_ms: number, prompt_tokens: number, completion_tokens: number } | null
  cost: string | null
  paid: string | null
  refund: string | null
  slashed: string | null
  submit_tx: string
  submitted_height: string
  submitted_at: string
  assign_tx: string | null
  assigned_height: string | null
  assigned_at: string | null
  settle_tx: string | null
  settled_height: string | null
  completed_at: string | null
  /** "<height>:<index>" of the submit_job tx, zero-padded: the job's sort key. */
  position: string
  timeline: TimelineEntry[]
}

/** The aitbc_job fields (what the node answers), in its order. */
export const NODE_JOB_FIELDS = [
  'job_id', 'status', 'client', 'model', 'prompt', 'options', 'max_fee', 'max_price_per_second', 'miner', 'price_per_second', 'result', 'result_hash',
  'error', 'receipt_id', 'metrics', 'cost', 'paid', 'refund', 'slashed', 'submit_tx', 'submitted_height', 'submitted_at', 'assign_tx', 'assigned_height',
  'assigned_at', 'settle_tx', 'settled_height', 'completed_at',
] as const

function entry (step: TimelineStep, status: JobStatus, at: ChainPoint, miner?: string): TimelineEntry {
  const e: TimelineEntry = { step, status, height: String(at.height), time: at.time, tx_hash: at.txHash }
  if (miner !== undefined) e.miner = miner
  return e
}

/** The job a submit_job tx creates. */
export function newJob (jobId: string, tx: Tx, at: ChainPoint & { txHash: string }, position: string): JobRecord {
  const b = tx.body as Extract<TxBody, { type: 'submit_job' }>
  return {
    job_id: jobId,
    status: 'pending',
    client: tx.sender,
    model: b.model,
    prompt: b.prompt,
    options: { temperature: b.options.temperature, num_predict: b.options.numPredict, seed: b.options.seed },
    max_fee: b.maxFee.toString(),
    max_price_per_second: b.maxPricePerSecond === null ? null : b.maxPricePerSecond.toString(),
    miner: null,
    price_per_second: null,
    result: null,
    result_hash: null,
    error: null,
    receipt_id: null,
    metrics: null,
    cost: null,
    paid: null,
    refund: null,
    slashed: null,
    submit_tx: at.txHash,
    submitted_height: String(at.height),
    submitted_at: at.time,
    assign_tx: null,
    assigned_height: null,
    assigned_at: null,
    settle_tx: null,
    settled_height: null,
    completed_at: null,
    position,
    timeline: [entry('submitted', 'pending', at)],
  }
}

export function applyAssign (j: JobRecord, miner: string, pricePerSecond: string | null, at: ChainPoint): JobRecord {
  return {
    ...j,
    status: 'assigned',
    miner,
    price_per_second: pricePerSecond,
    assign_tx: at.txHash,
    assigned_height: String(at.height),
    assigned_at: at.time,
    timeline: [...j.timeline, entry('assigned', 'assigned', at, miner)],
  }
}

export function applyCancel (j: JobRecord, refund: string, at: ChainPoint): JobRecord {
  return {
    ...j,
    status: 'cancelled',
    refund,
    paid: '0',
    cost: '0',
    settle_tx: at.txHash,
    settled_height: String(at.height),
    completed_at: at.time,
    timeline: [...j.timeline, entry('cancelled', 'cancelled', at)],
  }
}

export function applyReceipt (j: JobRecord, body: Extract<TxBody, { type: 'record_receipt' }>, receiptId: string, paid: string, refund: string, at: ChainPoint): JobRecord {
  return {
    ...j,
    status: body.status,
    receipt_id: receiptId,
    settle_tx: at.txHash,
    result: body.result,
    result_hash: toHex(body.resultHash),
    metrics: { compute_ms: body.metrics.computeMs, prompt_tokens: body.metrics.promptTokens, completion_tokens: body.metrics.completionTokens },
    error: body.error,
    paid,
    cost: paid,
    refund,
    settled_height: String(at.height),
    completed_at: at.time,
    timeline: [...j.timeline, entry(body.status, body.status, at, j.miner ?? undefined)],
  }
}

export function applyExpire (j: JobRecord, refund: string, slashed: string, at: ChainPoint): JobRecord {
  return {
    ...j,
    status: 'expired',
    paid: '0',
    cost: '0',
    refund,
    slashed,
    settled_height: String(at.height),
    completed_at: at.time,
    timeline: [...j.timeline, entry('expired', 'expired', at, j.miner ?? undefined)],
  }
}

/** The job as served: every aitbc_job field, then the coordinator's additions. */
export function jobView (j: JobRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of NODE_JOB_FIELDS) out[k] = j[k]
  out.cost_aitbc = j.cost === null ? null : formatAitbc(BigInt(j.cost))
  out.max_fee_aitbc = formatAitbc(BigInt(j.max_fee))
  out.timeline = j.timeline
  return out
}

/** aitbc_receipt's answer for a job that has a receipt. */
export function receiptView (j: JobRecord): Record<string, unknown> {
  return {
    receipt_id: j.receipt_id,
    job_id: j.job_id,
    miner: j.miner,
    client: j.client,
    status: j.status,
    result: j.result,
    result_hash: j.result_hash,
    error: j.error,
    metrics: j.metrics,
    paid: j.paid,
    refund: j.refund,
    tx_hash: j.settle_tx,
    height: j.settled_height,
    time: j.completed_at,
  }
}

/** Fields where the indexed job and the node's record differ (same status only: same stage). */
export function recordMismatches (j: JobRecord, node: Record<string, unknown>): string[] {
  if (node.status !== j.status) return []
  return NODE_JOB_FIELDS.filter(k => JSON.stringify(j[k]) !== JSON.stringify(node[k]))
}
