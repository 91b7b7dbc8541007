// A job as the coordinator indexes it, from the chain's txs and events alone (pure, no I/O): the
// node's aitbc_job answer (JobJSON, the type the node's RPC returns), plus its timeline and its
// position. Each apply* function mirrors one change the chain makes to a job; jobView is the one
// mapping from that record to what the REST API and the job WebSocket serve.
import { formatAitbc } from '../node/core/amount.ts'
import { toHex } from '../node/core/crypto.ts'
import type { Tx, TxBody } from '../node/core/tx.ts'
import { jobSeed } from '../node/core/txs/submitJob.ts'
import type { JobJSON, JobStatusName, ReceiptJSON } from '../node/client.ts'

export type TimelineStep = 'submitted' | 'assigned' | 'completed' | 'failed' | 'cancelled' | 'expired'

export interface TimelineEntry {
  step: TimelineStep
  status: JobStatusName
  height: string
  time: string
  /** null for an expiry: the chain expires jobs inside block execution, with no tx. */
  tx_hash: string | null
  miner?: string
}

/** Where a change happened. */
export interface ChainPoint { height: number, time: string, txHash: string | null }

/** What the index adds to the node's job. */
export interface IndexedJobFields {
  /** "<height>:<index>" of the submit_job tx, zero-padded: the job's sort key. */
  position: string
  timeline: TimelineEntry[]
}

/** The job as the index holds it: the node's fields, as the chain's events give them, then the index's own. */
export type JobRecord = JobJSON & IndexedJobFields

/** The job as GET /v1/jobs/:id, the job lists and /v1/ws serve it. */
export type JobView = JobJSON & { cost_aitbc: string | null, max_fee_aitbc: string, timeline: TimelineEntry[] }

function entry (step: TimelineStep, status: JobStatusName, at: ChainPoint, miner?: string): TimelineEntry {
  const e: TimelineEntry = { step, status, height: String(at.height), time: at.time, tx_hash: at.txHash }
  if (miner !== undefined) e.miner = miner
  return e
}

/** The job a submit_job tx creates. */
export function newJob (jobId: string, tx: Tx, body: Extract<TxBody, { type: 'submit_job' }>, at: ChainPoint & { txHash: string }, position: string, maxNumPredict: number): JobRecord {
  return {
    job_id: jobId,
    status: 'pending',
    client: tx.sender,
    model: body.model,
    kind: body.messages == null ? 'prompt' : 'chat',
    prompt: body.prompt,
    messages: body.messages == null ? null : body.messages.map(m => ({ ...m })),
    options: { temperature: body.options.temperature, num_predict: body.options.numPredict, seed: body.options.seed },
    seed: jobSeed(jobId, body.options.seed),
    num_predict: body.options.numPredict ?? maxNumPredict,
    max_fee: body.maxFee.toString(),
    max_price_per_second: body.maxPricePerSecond === null ? null : body.maxPricePerSecond.toString(),
    max_price_in: body.maxPriceIn == null ? null : body.maxPriceIn.toString(),
    max_price_out: body.maxPriceOut == null ? null : body.maxPriceOut.toString(),
    model_digest: body.modelDigest ?? null,
    checked: null,
    verified: null,
    stake_lock: '0',
    miner: null,
    price_per_second: null,
    price_in: null,
    price_out: null,
    model_digest_used: null,
    done_reason: null,
    verification: null,
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
    metrics: {
      compute_ms: body.metrics.computeMs, prompt_tokens: body.metrics.promptTokens, completion_tokens: body.metrics.completionTokens,
      prompt_eval_ms: body.details?.promptEvalMs ?? null, eval_ms: body.details?.evalMs ?? null, first_token_ms: body.details?.firstTokenMs ?? null, load_ms: body.details?.loadMs ?? null,
    },
    model_digest_used: body.details?.modelDigest ?? null,
    done_reason: body.details?.doneReason ?? null,
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

/** The node's fields of an indexed job (its JobJSON), without what the index adds. */
export function nodeFieldsOf (j: JobRecord): JobJSON {
  const { position: _position, timeline: _timeline, ...job } = j
  return job
}

/** The job as served: its JobJSON fields in the record's (the node's) order, then the coordinator's additions. */
export function jobView (j: JobRecord): JobView {
  const job = nodeFieldsOf(j)
  return {
    ...job,
    cost_aitbc: job.cost === null ? null : formatAitbc(BigInt(job.cost)),
    max_fee_aitbc: formatAitbc(BigInt(job.max_fee)),
    timeline: j.timeline,
  }
}

/**
 * The indexed job with the node's aitbc_job answer laid over it when both are at the same status
 * (same stage: the node is the authority); else the job as indexed.
 */
export function withNodeRecord (j: JobRecord, node: JobJSON | undefined): JobRecord {
  if (node === undefined || node.status !== j.status) return j
  return { ...j, ...node, position: j.position, timeline: j.timeline }
}

/** aitbc_receipt's answer for a job that has a receipt. */
export function receiptView (j: JobJSON): ReceiptJSON {
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
export function recordMismatches (j: JobRecord, node: JobJSON): string[] {
  if (node.status !== j.status) return []
  const indexed = nodeFieldsOf(j)
  const nodeRecord: Record<string, unknown> = { ...node }
  return Object.entries(indexed).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(nodeRecord[k])).map(([k]) => k)
}
