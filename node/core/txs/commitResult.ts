// commit_result: a miner commits to the result of a checked job without showing it — by its
// assigned miner when it finished the run, or by a verifier drawn to re-run it. The commitment is
// sha256("AITBC/result/v1" || job id || committer || salt || sha256(text)): salted and bound to
// its committer, so nobody can copy it; the texts come later (reveal_result), once every
// verifier has committed.
import { asArr, asArrRange, asBin, asBytes, asJobId, asSmall, opt, trimTrailing, uint } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { toHex } from '../crypto.ts'
import { receiptIdFromTxHash } from '../ids.ts'
import { billOf } from '../billing.ts'
import { closeCommitPhase, committeeDone, openVerification } from '../verification.ts'
import type { ReceiptDetails } from '../state.ts'
import { getJob, getMiner, type TxTypeDef } from './txType.ts'
import { decodeDetails, encodeDetails, checkDetails, type ReceiptMetrics } from './recordReceipt.ts'

export interface CommitResultBody {
  type: 'commit_result'
  jobId: string
  commitment: Uint8Array
  metrics: ReceiptMetrics
  /** The miner's salt and text sealed to the client (node/sealedResult.ts); null for a verifier. */
  sealed: Uint8Array | null
  details?: ReceiptDetails | null
}

/** What a seal adds to its text: ephemeral key, salt, tag. */
const SEAL_OVERHEAD = 80

export const commitResult: TxTypeDef<'commit_result', CommitResultBody> = {
  type: 'commit_result',
  description: 'commits to the result of a checked job (a salted hash): by its miner when done, or by a verifier that re-ran it',
  signer: "the job's miner, or a verifier drawn for it",
  decode (v) {
    const b = asArrRange(v, 4, 5, 'body')
    const m = asArr(b[2], 3, 'metrics')
    return {
      type: 'commit_result',
      jobId: asJobId(b[0], 'job_id'),
      commitment: asBin(b[1], 32, 'commitment'),
      metrics: { computeMs: asSmall(m[0], 'compute_ms'), promptTokens: asSmall(m[1], 'prompt_tokens'), completionTokens: asSmall(m[2], 'completion_tokens') },
      sealed: opt(b[3], x => asBytes(x, 'sealed')),
      details: opt(b[4], decodeDetails),
    }
  },
  encode: b => trimTrailing([b.jobId, b.commitment, [uint(b.metrics.computeMs), uint(b.metrics.promptTokens), uint(b.metrics.completionTokens)], b.sealed, b.details == null ? null : encodeDetails(b.details)], 4),
  summary: b => `${b.jobId} result committed`,
  checkStatic (b, params) {
    if (b.details != null) checkDetails(b.details)
    if (b.sealed !== null && (b.sealed.length < SEAL_OVERHEAD || b.sealed.length > params.maxResultBytes + SEAL_OVERHEAD)) {
      throw new TxError('RESULT_TOO_LARGE', `sealed must be ${SEAL_OVERHEAD} to max_result_bytes + ${SEAL_OVERHEAD} (${params.maxResultBytes + SEAL_OVERHEAD}) bytes, got ${b.sealed.length}`)
    }
  },
  apply ({ st, tx, body: b, ctx, events }) {
    const j = getJob(st, b.jobId)
    const commitment = toHex(b.commitment)
    if (j.status === 'assigned' && j.miner === tx.sender) {
      if (!j.checked) throw new TxError('INVALID_FIELD', `job ${j.id} is not checked: its miner settles it with record_receipt`)
      if (j.verification !== null) throw new TxError('JOB_ALREADY_SETTLED', `job ${j.id}: its miner committed already`)
      if (b.sealed === null) throw new TxError('INVALID_FIELD', `the miner's commit_result for job ${j.id} must carry its result sealed to the client`)
      const m = getMiner(st, tx.sender)
      const bill = billOf(j, b.metrics, ctx.time - (j.assignedTime ?? ctx.time))
      events.push(ev('commit_result', { job_id: j.id, committer: tx.sender, role: 'miner', receipt_id: receiptIdFromTxHash(tx.hash), commitment, bill }))
      return {
        delta: 0n,
        apply: () => {
          st.setJob({ ...j, metrics: { ...b.metrics }, details: b.details ?? null, sealed: b.sealed, receiptId: receiptIdFromTxHash(tx.hash), verification: openVerification(commitment, bill, ctx) })
          st.setMiner({ ...m, activeJobs: m.activeJobs - 1 })
        },
      }
    }
    const v = j.verification
    const run = v?.runs.find(r => r.miner === tx.sender)
    if (j.status !== 'verifying' || v == null || run === undefined) throw new TxError('NOT_ASSIGNED_MINER', `${tx.sender} is neither the miner of job ${j.id} (while it is assigned) nor one of its verifiers`)
    if (v.phase !== 'commit') throw new TxError('JOB_NOT_PENDING', `job ${j.id} is past its commit phase`)
    if (run.commitment !== null) throw new TxError('JOB_ALREADY_SETTLED', `${tx.sender} committed for job ${j.id} already`)
    if (run.outcome === 'silent') throw new TxError('JOB_NOT_PENDING', `${tx.sender} missed its commit deadline for job ${j.id} and was replaced`)
    if (b.sealed !== null) throw new TxError('INVALID_FIELD', 'a verifier seals nothing: sealed must be null')
    const vm = getMiner(st, tx.sender)
    events.push(ev('commit_result', { job_id: j.id, committer: tx.sender, role: 'verifier', receipt_id: '', commitment, bill: '' }))
    return {
      delta: 0n,
      apply: () => {
        const runs = v.runs.map(r => r.miner === tx.sender ? { ...r, commitment, committedHeight: ctx.height, metrics: { ...b.metrics } } : r)
        const next = { ...j, verification: { ...v, runs } }
        st.setJob(next)
        st.setMiner({ ...vm, activeJobs: vm.activeJobs - 1 })
        // A full committee that has committed opens the reveals; a short one waits for its deadline (or its missing verifiers).
        if (committeeDone(next.verification)) closeCommitPhase(st, next, ctx, events, false)
      },
    }
  },
}
