// A job as the coordinator indexes it, from the chain's txs and events alone (pure, no I/O): the
// node's aitbc_job answer (JobJSON, the type the node's RPC returns), plus its timeline and its
// position. Each apply* function mirrors one change the chain makes to a job; jobView is the one
// mapping from that record to what the REST API and the job WebSocket serve.
import { formatAitbc } from '../node/core/amount.ts'
import { sha256, toHex } from '../node/core/crypto.ts'
import type { Tx, TxBody } from '../node/core/tx.ts'
import { jobSeed } from '../node/core/txs/submitJob.ts'
import type { JobJSON, JobStatusName, ReceiptJSON } from '../node/client.ts'

export type TimelineStep = 'submitted' | 'assigned' | 'verifying' | 'completed' | 'failed' | 'rejected' | 'cancelled' | 'expired'

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
    client_pubkey: toHex(tx.senderPubkey),
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
    sealed_result: null,
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

/** The assign event's terms: whether the job is checked, the stake it locks, the miner's prices (absent from older events). */
export interface AssignTerms { checked?: string, stake_lock?: string, price_per_second?: string, price_in?: string, price_out?: string }

export function applyAssign (j: JobRecord, miner: string, pricePerSecond: string | null, at: ChainPoint, t: AssignTerms = {}): JobRecord {
  const price = (v: string | undefined): string | null => v === undefined || v === '' ? null : v
  return {
    ...j,
    status: 'assigned',
    miner,
    price_per_second: t.price_per_second ?? pricePerSecond,
    price_in: price(t.price_in),
    price_out: price(t.price_out),
    checked: t.checked === undefined ? false : t.checked === 'true',
    stake_lock: t.stake_lock ?? '0',
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

// ---- verification (node/core/verification.ts): each change as its event gives it ----

type VerificationView = NonNullable<JobJSON['verification']>
type RunView = VerificationView['verifiers'][number]

function withVerification (j: JobRecord, f: (v: VerificationView) => VerificationView): JobRecord {
  if (j.verification === null) return j
  return { ...j, verification: f(j.verification) }
}
function withRun (j: JobRecord, miner: string, f: (r: RunView) => RunView): JobRecord {
  return withVerification(j, v => ({ ...v, verifiers: v.verifiers.map(r => r.miner === miner ? f(r) : r) }))
}
function newRuns (miners: string, at: ChainPoint): RunView[] {
  return miners === '' ? [] : miners.split(',').map(m => ({ miner: m, assigned_height: String(at.height), committed: false, committed_height: null, revealed: false, outcome: null, paid: '0', slashed: '0' }))
}

/** commit_result by the job's miner: its metrics and sealed result; the verification opens (sample next block). */
export function applyMinerCommit (j: JobRecord, body: Extract<TxBody, { type: 'commit_result' }>, receiptId: string, commitment: string, bill: string, at: ChainPoint): JobRecord {
  return {
    ...j,
    receipt_id: receiptId,
    sealed_result: body.sealed === null ? null : Buffer.from(body.sealed).toString('base64'),
    metrics: {
      compute_ms: body.metrics.computeMs, prompt_tokens: body.metrics.promptTokens, completion_tokens: body.metrics.completionTokens,
      prompt_eval_ms: body.details?.promptEvalMs ?? null, eval_ms: body.details?.evalMs ?? null, first_token_ms: body.details?.firstTokenMs ?? null, load_ms: body.details?.loadMs ?? null,
    },
    model_digest_used: body.details?.modelDigest ?? null,
    done_reason: body.details?.doneReason ?? null,
    verification: {
      commitment, committed_height: String(at.height), bill, sampled: null, phase: 'sample', phase_height: String(at.height),
      miner_revealed: false, outcome: null, similarity: null, verifiers: [],
    },
  }
}

/** sample (block begin): unchecked (the miner reveals) or checked by the verifiers drawn. */
export function applySample (j: JobRecord, sampled: boolean, verifiers: string, at: ChainPoint): JobRecord {
  const next = withVerification(j, v => ({ ...v, sampled, phase: sampled ? 'commit' : 'reveal', phase_height: String(at.height), verifiers: newRuns(verifiers, at) }))
  if (!sampled) return next
  return { ...next, status: 'verifying', timeline: [...j.timeline, entry('verifying', 'verifying', at)] }
}

/** redraw (block begin): verifiers drawn in place of silent ones; the commit phase starts again. */
export function applyRedraw (j: JobRecord, verifiers: string, at: ChainPoint): JobRecord {
  return withVerification(j, v => ({ ...v, phase_height: String(at.height), verifiers: [...v.verifiers, ...newRuns(verifiers, at)] }))
}

/** commit_result by a verifier. */
export function applyVerifierCommit (j: JobRecord, verifier: string, at: ChainPoint): JobRecord {
  return withRun(j, verifier, r => ({ ...r, committed: true, committed_height: String(at.height) }))
}

/** verification_phase: every verifier committed (or the silent ones were dropped): the reveals open. */
export function applyVerificationPhase (j: JobRecord, phase: VerificationView['phase'], at: ChainPoint): JobRecord {
  return withVerification(j, v => ({ ...v, phase, phase_height: String(at.height) }))
}

/** verifier_silent: a verifier that did not act before its phase's deadline. */
export function applyVerifierSilent (j: JobRecord, verifier: string, slashed: string): JobRecord {
  return withRun(j, verifier, r => ({ ...r, outcome: 'silent', slashed }))
}

/** reveal_result: the miner's text (the job's result) or a verifier's. */
export function applyReveal (j: JobRecord, revealer: string, body: Extract<TxBody, { type: 'reveal_result' }>): JobRecord {
  if (revealer === j.miner) {
    const next = withVerification(j, v => ({ ...v, miner_revealed: true }))
    return { ...next, result: body.result, result_hash: toHex(sha256(new TextEncoder().encode(body.result))) }
  }
  return withRun(j, revealer, r => ({ ...r, revealed: true }))
}

/** verifier_result: a verifier's part in the verdict. */
export function applyVerifierResult (j: JobRecord, verifier: string, outcome: string, paid: string, slashed: string): JobRecord {
  return withRun(j, verifier, r => ({ ...r, outcome: outcome === '' ? null : outcome as RunView['outcome'], paid, slashed }))
}

/** verdict: the job settles, completed (pass, unchecked) or rejected (fail, no majority). */
export function applyVerdict (j: JobRecord, a: { outcome: string, paid: string, refund: string, slashed: string, similarity: string }, at: ChainPoint): JobRecord {
  const outcome = a.outcome as NonNullable<VerificationView['outcome']>
  const status: JobStatusName = outcome === 'pass' || outcome === 'unchecked' ? 'completed' : 'rejected'
  const next = withVerification(j, v => ({ ...v, phase: 'done', outcome, similarity: a.similarity === '' ? null : Number(a.similarity) }))
  return {
    ...next,
    status,
    verified: outcome === 'pass' ? true : outcome === 'fail' ? false : null,
    paid: a.paid,
    cost: a.paid,
    refund: a.refund,
    slashed: a.slashed,
    settle_tx: at.txHash,
    settled_height: String(at.height),
    completed_at: at.time,
    timeline: [...j.timeline, entry(status === 'completed' ? 'completed' : 'rejected', status, at, j.miner ?? undefined)],
  }
}
