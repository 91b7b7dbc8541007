// update_miner: changes a miner's listing (models, price, capacity, active).
import { asAmount, asArr, asBool, asSmall, asStrList, opt, uint } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { checkCapacity, checkModels, getMiner, type TxTypeDef } from './txType.ts'

export interface UpdateMinerBody { type: 'update_miner', models: string[] | null, pricePerSecond: bigint | null, capacity: number | null, active: boolean | null }

export const updateMiner: TxTypeDef<'update_miner', UpdateMinerBody> = {
  type: 'update_miner',
  description: "changes the sender's miner listing: models, price per second, capacity, active",
  signer: 'the miner',
  decode (v) {
    const b = asArr(v, 4, 'body')
    return {
      type: 'update_miner',
      models: opt(b[0], x => asStrList(x, 'models')),
      pricePerSecond: opt(b[1], x => asAmount(x, 'price_per_second')),
      capacity: opt(b[2], x => asSmall(x, 'capacity')),
      active: opt(b[3], x => asBool(x, 'active')),
    }
  },
  encode: b => [b.models, b.pricePerSecond, b.capacity === null ? null : uint(b.capacity), b.active],
  summary: () => 'miner listing updated',
  checkStatic (b) {
    if (b.models === null && b.pricePerSecond === null && b.capacity === null && b.active === null) throw new TxError('INVALID_FIELD', 'update_miner changes nothing')
    if (b.models !== null) checkModels(b.models)
    if (b.capacity !== null) checkCapacity(b.capacity)
  },
  apply ({ st, tx, body: b, events }) {
    const m = getMiner(st, tx.sender)
    if (b.capacity !== null && b.capacity < m.activeJobs) {
      throw new TxError('MINER_BUSY', `capacity ${b.capacity} is below the ${m.activeJobs} job(s) assigned to this miner; lower it after they settle`)
    }
    events.push(ev('update_miner', { miner: tx.sender }))
    return {
      delta: 0n,
      apply: () => st.setMiner({
        ...m,
        models: b.models ?? m.models,
        pricePerSecond: b.pricePerSecond ?? m.pricePerSecond,
        capacity: b.capacity ?? m.capacity,
        active: b.active ?? m.active,
      }),
    }
  },
}
