// record_receipt: the assigned miner settles its job, completed (paid for the time it used,
// capped by the chain's own clock and by max_fee; the rest refunded) or failed (full refund).
import { asArr, asArrRange, asBin, asJobId, asSmall, asStr, opt, optUint, trimTrailing, uint } from '../fields.ts'
import type { MsgValue } from '../codec.ts'
import type { ReceiptDetails } from '../state.ts'
import { DIGEST_RE } from './submitJob.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { receiptIdFromTxHash } from '../ids.ts'
import { sha256, toHex, utf8Bytes } from '../crypto.ts'
import { isOpen } from '../state.ts'
import { billOf } from '../billing.ts'
import { byteLen, credit, getJob, getMiner, type TxTypeDef } from './txType.ts'

export interface ReceiptMetrics { computeMs: number, promptTokens: number, completionTokens: number }
export interface RecordReceiptBody {
  type: 'record_receipt'
  jobId: string
  status: 'completed' | 'failed'
  result: string
  resultHash: Uint8Array
  metrics: ReceiptMetrics
  error: string | null
  /** Ollama's report: the digest run, done_reason, durations (an optional trailing element). */
  details?: ReceiptDetails | null
}

const MAX_DONE_REASON_BYTES = 64

export const MAX_ERROR_BYTES = 4096

export const recordReceipt: TxTypeDef<'record_receipt', RecordReceiptBody> = {
  type: 'record_receipt',
  description: "settles an assigned job with its result: completed pays the miner for the time used (at most max_fee) and refunds the rest; failed refunds everything",
  signer: 'the assigned miner',
  decode (v) {
    const b = asArrRange(v, 6, 7, 'body')
    const status = asStr(b[1], 'status')
    if (status !== 'completed' && status !== 'failed') throw new TxError('INVALID_FIELD', `status must be "completed" or "failed", got "${status.slice(0, 40)}"`)
    const m = asArr(b[4], 3, 'metrics')
    return {
      type: 'record_receipt',
      jobId: asJobId(b[0], 'job_id'),
      status,
      result: asStr(b[2], 'result'),
      resultHash: asBin(b[3], 32, 'result_hash'),
      metrics: { computeMs: asSmall(m[0], 'compute_ms'), promptTokens: asSmall(m[1], 'prompt_tokens'), completionTokens: asSmall(m[2], 'completion_tokens') },
      error: opt(b[5], x => asStr(x, 'error')),
      details: opt(b[6], decodeDetails),
    }
  },
  encode: b => trimTrailing([b.jobId, b.status, b.result, b.resultHash, [uint(b.metrics.computeMs), uint(b.metrics.promptTokens), uint(b.metrics.completionTokens)], b.error,
    b.details == null ? null : encodeDetails(b.details)], 6),
  summary: b => `${b.jobId} ${b.status}`,
  checkStatic (b, params) {
    if (byteLen(b.result) > params.maxResultBytes) throw new TxError('RESULT_TOO_LARGE', `result is ${byteLen(b.result)} bytes, max_result_bytes is ${params.maxResultBytes}`)
    if (toHex(sha256(utf8Bytes(b.result))) !== toHex(b.resultHash)) throw new TxError('RESULT_HASH_MISMATCH', 'result_hash is not the sha256 of result')
    if (b.error !== null && byteLen(b.error) > MAX_ERROR_BYTES) throw new TxError('INVALID_FIELD', `error is longer than ${MAX_ERROR_BYTES} bytes`)
    if (b.status === 'completed' && b.error !== null) throw new TxError('INVALID_FIELD', 'a completed receipt carries no error')
    if (b.details != null) checkDetails(b.details)
  },
  apply ({ st, tx, body: b, ctx, events }) {
    const j = getJob(st, b.jobId)
    if (!isOpen(j.status)) throw new TxError('JOB_ALREADY_SETTLED', `job ${j.id} is already ${j.status}`)
    if (j.status !== 'assigned') throw new TxError('NOT_ASSIGNED_MINER', `job ${j.id} is not assigned to any miner yet`)
    if (j.miner !== tx.sender) throw new TxError('NOT_ASSIGNED_MINER', `job ${j.id} is assigned to ${j.miner}, not ${tx.sender}`)
    if (j.verification !== null) throw new TxError('JOB_ALREADY_SETTLED', `job ${j.id}: its miner committed to a result; it settles by reveal_result`)
    if (j.checked && b.status === 'completed') throw new TxError('INVALID_FIELD', `job ${j.id} is checked: a completed result goes through commit_result, then reveal_result`)
    const m = getMiner(st, tx.sender)
    const paid = b.status === 'completed' ? billOf(j, b.metrics, ctx.time - (j.assignedTime ?? ctx.time)) : 0n
    const refund = j.maxFee - paid
    const receiptId = receiptIdFromTxHash(tx.hash)
    events.push(ev('record_receipt', { receipt_id: receiptId, job_id: j.id, miner: tx.sender, client: j.client, status: b.status, paid, refund }))
    return {
      delta: paid,
      apply: () => {
        st.setJob({
          ...j, status: b.status, receiptId, settleTxHash: tx.hash, result: b.result, resultHash: toHex(b.resultHash), metrics: { ...b.metrics }, details: b.details ?? null, error: b.error,
          paid, refund, settledHeight: ctx.height, settledTime: ctx.time,
        })
        const completed = b.status === 'completed'
        // Reputation rises only when a result passes a check: an unchecked completion leaves it.
        st.setMiner({
          ...m,
          activeJobs: m.activeJobs - 1,
          locked: m.locked - j.stakeLock,
          jobsCompleted: m.jobsCompleted + (completed ? 1 : 0),
          jobsFailed: m.jobsFailed + (completed ? 0 : 1),
          earned: m.earned + paid,
        })
        st.addTotal('escrow', -j.maxFee)
        if (refund > 0n) credit(st, j.client, refund)
      },
    }
  },
}

export function decodeDetails (v: MsgValue): ReceiptDetails {
  const t = asArrRange(v, 0, 6, 'details')
  return {
    modelDigest: opt(t[0], x => asStr(x, 'details.model_digest')),
    doneReason: opt(t[1], x => asStr(x, 'details.done_reason')),
    promptEvalMs: opt(t[2], x => asSmall(x, 'details.prompt_eval_ms')),
    evalMs: opt(t[3], x => asSmall(x, 'details.eval_ms')),
    firstTokenMs: opt(t[4], x => asSmall(x, 'details.first_token_ms')),
    loadMs: opt(t[5], x => asSmall(x, 'details.load_ms')),
  }
}

export function encodeDetails (d: ReceiptDetails): unknown[] {
  return [d.modelDigest, d.doneReason, optUint(d.promptEvalMs), optUint(d.evalMs), optUint(d.firstTokenMs), optUint(d.loadMs)]
}

export function checkDetails (d: ReceiptDetails): void {
  if (d.modelDigest !== null && !DIGEST_RE.test(d.modelDigest)) throw new TxError('INVALID_FIELD', 'details.model_digest must be 64 lower-case hex digits')
  if (d.doneReason !== null && byteLen(d.doneReason) > MAX_DONE_REASON_BYTES) throw new TxError('INVALID_FIELD', `details.done_reason must be at most ${MAX_DONE_REASON_BYTES} bytes`)
}
