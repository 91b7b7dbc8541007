// cancel_job: the client withdraws a pending job and gets its max_fee back.
import { asArr, asJobId } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { getJob, type TxTypeDef } from './txType.ts'

export interface CancelJobBody { type: 'cancel_job', jobId: string }

export const cancelJob: TxTypeDef<'cancel_job', CancelJobBody> = {
  type: 'cancel_job',
  description: 'withdraws a pending job; its max_fee is refunded in full',
  signer: "the job's client",
  decode (v) {
    const b = asArr(v, 1, 'body')
    return { type: 'cancel_job', jobId: asJobId(b[0], 'job_id') }
  },
  encode: b => [b.jobId],
  summary: b => `cancel ${b.jobId}`,
  checkStatic: () => {},
  apply ({ st, tx, body: b, ctx, events }) {
    const j = getJob(st, b.jobId)
    if (j.client !== tx.sender) throw new TxError('NOT_JOB_CLIENT', `only the job's client ${j.client} can cancel ${j.id}`)
    if (j.status !== 'pending') throw new TxError('JOB_NOT_PENDING', `job ${j.id} is ${j.status}; only a pending job can be cancelled`)
    events.push(ev('cancel_job', { job_id: j.id, client: j.client, refund: j.maxFee }))
    return {
      delta: j.maxFee,
      apply: () => {
        st.setJob({ ...j, status: 'cancelled', refund: j.maxFee, paid: 0n, settleTxHash: tx.hash, settledHeight: ctx.height, settledTime: ctx.time })
        st.addTotal('escrow', -j.maxFee)
      },
    }
  },
}
