// reveal_result: a party of a checked job shows the result it committed to (the salt and the
// text), once reveals are open: for the miner after the sample drew no check, or for everyone
// once every verifier has committed. When the last reveal is in, the verdict follows.
import { asArr, asBin, asJobId, asStr } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { sha256, toHex, utf8Bytes } from '../crypto.ts'
import { allRevealed, resultCommitment, settle } from '../verification.ts'
import type { Job } from '../state.ts'
import { byteLen, getJob, type TxTypeDef } from './txType.ts'

export interface RevealResultBody { type: 'reveal_result', jobId: string, salt: Uint8Array, result: string }

export const revealResult: TxTypeDef<'reveal_result', RevealResultBody> = {
  type: 'reveal_result',
  description: 'reveals the result a miner or verifier committed to (salt and text); the last reveal settles the job',
  signer: "the job's miner or a verifier that committed",
  decode (v) {
    const b = asArr(v, 3, 'body')
    return { type: 'reveal_result', jobId: asJobId(b[0], 'job_id'), salt: asBin(b[1], 32, 'salt'), result: asStr(b[2], 'result') }
  },
  encode: b => [b.jobId, b.salt, b.result],
  summary: b => `${b.jobId} result revealed`,
  checkStatic (b, params) {
    if (byteLen(b.result) > params.maxResultBytes) throw new TxError('RESULT_TOO_LARGE', `result is ${byteLen(b.result)} bytes, max_result_bytes is ${params.maxResultBytes}`)
  },
  apply ({ st, tx, body: b, ctx, events }) {
    const j = getJob(st, b.jobId)
    const v = j.verification
    if (v == null || v.phase === 'done') throw new TxError(v == null ? 'NOT_ASSIGNED_MINER' : 'JOB_ALREADY_SETTLED', `job ${j.id} has no open verification`)
    if (v.phase !== 'reveal') throw new TxError('JOB_NOT_PENDING', `job ${j.id} does not take reveals yet (${v.phase === 'sample' ? 'its sample is drawn in the next block' : 'its verifiers are still committing'}): reveal nothing before then`)
    const commitment = resultCommitment(j.id, tx.sender, b.salt, b.result)
    let next: Job
    if (tx.sender === j.miner) {
      if (v.minerRevealed) throw new TxError('JOB_ALREADY_SETTLED', `the miner of job ${j.id} revealed already`)
      if (commitment !== v.commitment) throw new TxError('RESULT_HASH_MISMATCH', 'salt and result do not match the commitment')
      next = { ...j, result: b.result, resultHash: toHex(sha256(utf8Bytes(b.result))), verification: { ...v, minerRevealed: true } }
    } else {
      const run = v.runs.find(r => r.miner === tx.sender)
      if (run === undefined || run.commitment === null || run.outcome === 'silent') throw new TxError('NOT_ASSIGNED_MINER', `${tx.sender} has no commitment to reveal for job ${j.id}`)
      if (run.result !== null) throw new TxError('JOB_ALREADY_SETTLED', `${tx.sender} revealed for job ${j.id} already`)
      if (commitment !== run.commitment) throw new TxError('RESULT_HASH_MISMATCH', 'salt and result do not match the commitment')
      next = { ...j, verification: { ...v, runs: v.runs.map(r => r.miner === tx.sender ? { ...r, result: b.result } : r) } }
    }
    events.push(ev('reveal_result', { job_id: j.id, revealer: tx.sender }))
    return {
      delta: 0n,
      apply: () => {
        st.setJob(next)
        if (allRevealed(next.verification!)) settle(st, next, ctx, events, tx.hash, false)
      },
    }
  },
}
