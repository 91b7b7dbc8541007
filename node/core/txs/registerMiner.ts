// register_miner: bonds stake and lists the sender as a miner of some models.
import { asAmount, asArr, asSmall, asStrList, uint } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { REPUTATION_INITIAL } from '../state.ts'
import { checkCapacity, checkModels, needFunds, type TxTypeDef, aitbc } from './txType.ts'

export interface RegisterMinerBody { type: 'register_miner', models: string[], pricePerSecond: bigint, capacity: number, stake: bigint }

export const registerMiner: TxTypeDef<'register_miner', RegisterMinerBody> = {
  type: 'register_miner',
  description: 'bonds stake and lists the sender as a miner of some models, at a price per second',
  signer: 'the miner',
  decode (v) {
    const b = asArr(v, 4, 'body')
    return { type: 'register_miner', models: asStrList(b[0], 'models'), pricePerSecond: asAmount(b[1], 'price_per_second'), capacity: asSmall(b[2], 'capacity'), stake: asAmount(b[3], 'stake') }
  },
  encode: b => [b.models, b.pricePerSecond, uint(b.capacity), b.stake],
  summary: b => `miner for ${b.models.join(', ')}, stake ${aitbc(b.stake)}`,
  checkStatic (b) {
    checkModels(b.models)
    checkCapacity(b.capacity)
  },
  apply ({ st, tx, body: b, spendable, ctx, events }) {
    if (st.miner(tx.sender) !== undefined) throw new TxError('MINER_EXISTS', `${tx.sender} is already a registered miner (use update_miner or stake)`)
    if (b.stake < st.params.minMinerStake) throw new TxError('STAKE_TOO_LOW', `stake ${b.stake} uaitbc is below min_miner_stake ${st.params.minMinerStake} uaitbc`)
    needFunds(spendable + tx.fee, b.stake + tx.fee, `stake of ${b.stake} uaitbc plus the fee`)
    events.push(ev('register_miner', { miner: tx.sender, models: b.models.join(','), stake: b.stake, price_per_second: b.pricePerSecond, capacity: b.capacity }))
    return {
      delta: -b.stake,
      apply: () => {
        st.setMiner({
          address: tx.sender, models: [...b.models], pricePerSecond: b.pricePerSecond, capacity: b.capacity, stake: b.stake, unbonding: [], active: true,
          reputation: REPUTATION_INITIAL, activeJobs: 0, jobsCompleted: 0, jobsFailed: 0, jobsExpired: 0, earned: 0n, slashed: 0n, registeredHeight: ctx.height,
        })
        st.addTotal('bonded', b.stake)
      },
    }
  },
}
