// assign: the block's proposer gives a pending job to the miner the deterministic draw picks.
import { asAddress, asArr, asJobId } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { drawMiner } from '../draw.ts'
import { stakeLockFor, willCheck } from '../verification.ts'
import { getJob, type TxTypeDef } from './txType.ts'

export interface AssignBody { type: 'assign', jobId: string, miner: string }

export const assign: TxTypeDef<'assign', AssignBody> = {
  type: 'assign',
  description: 'gives a pending job to the miner that the draw picks; made by the block proposer inside its block',
  signer: "the block's proposer (validator key)",
  proposerOnly: true,
  decode (v) {
    const b = asArr(v, 2, 'body')
    return { type: 'assign', jobId: asJobId(b[0], 'job_id'), miner: asAddress(b[1], 'miner') }
  },
  encode: b => [b.jobId, b.miner],
  summary: b => `${b.jobId} to ${b.miner}`,
  checkStatic: () => {},
  apply ({ st, tx, body: b, ctx, events }) {
    if (tx.sender !== ctx.proposer) throw new TxError('NOT_PROPOSER', `assign must be signed by the block proposer ${ctx.proposer}, not ${tx.sender}`)
    const j = getJob(st, b.jobId)
    if (j.status !== 'pending') throw new TxError('JOB_NOT_PENDING', `job ${j.id} is ${j.status}; only a pending job can be assigned`)
    const chosen = drawMiner(st, j, ctx.randomness)
    if (chosen === null) throw new TxError('WRONG_ASSIGNMENT', `no miner is eligible for job ${j.id}`)
    if (chosen.address !== b.miner) throw new TxError('WRONG_ASSIGNMENT', `assign names ${b.miner} but the draw for ${j.id} picks ${chosen.address}`)
    const checked = willCheck(st, j, chosen)
    const stakeLock = checked ? stakeLockFor(st.params, j.maxFee) : 0n
    events.push(ev('assign', {
      job_id: j.id, miner: chosen.address, client: j.client, model: j.model, checked: String(checked), stake_lock: stakeLock,
      price_per_second: chosen.pricePerSecond, price_in: chosen.priceIn ?? '', price_out: chosen.priceOut ?? '',
    }))
    return {
      delta: 0n,
      apply: () => {
        st.setJob({ ...j, status: 'assigned', checked, stakeLock, miner: chosen.address, pricePerSecond: chosen.pricePerSecond, priceIn: chosen.priceIn, priceOut: chosen.priceOut, assignedHeight: ctx.height, assignedTime: ctx.time, assignTxHash: tx.hash })
        st.setMiner({ ...chosen, activeJobs: chosen.activeJobs + 1, locked: chosen.locked + stakeLock })
      },
    }
  },
}
