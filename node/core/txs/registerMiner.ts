// register_miner: bonds stake and lists the sender as a miner of some models, at a price per
// second or per million tokens. Optional trailing fields: model details, token prices, the most
// tokens per job, a public endpoint (listing.ts).
import { asAmount, asSmall, asStrList, trimTrailing, uint } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { newMiner } from '../state.ts'
import { checkCapacity, checkModels, needFunds, type TxTypeDef, aitbc } from './txType.ts'
import { asTermsArr, bareModelInfo, checkTerms, decodeTerms, encodeTerms, type ListingTerms } from './listing.ts'

export interface RegisterMinerBody extends ListingTerms { type: 'register_miner', models: string[], pricePerSecond: bigint, capacity: number, stake: bigint }

export const registerMiner: TxTypeDef<'register_miner', RegisterMinerBody> = {
  type: 'register_miner',
  description: 'bonds stake and lists the sender as a miner of some models, at a price per second or per million tokens',
  signer: 'the miner',
  decode (v) {
    const b = asTermsArr(v, 4, 'body')
    return { type: 'register_miner', models: asStrList(b[0], 'models'), pricePerSecond: asAmount(b[1], 'price_per_second'), capacity: asSmall(b[2], 'capacity'), stake: asAmount(b[3], 'stake'), ...decodeTerms(b, 4) }
  },
  encode: b => trimTrailing([b.models, b.pricePerSecond, uint(b.capacity), b.stake, ...encodeTerms(b)], 4),
  summary: b => `miner for ${b.models.join(', ')}, stake ${aitbc(b.stake)}`,
  checkStatic (b, params) {
    checkModels(b.models)
    checkCapacity(b.capacity)
    checkTerms(b, b.models, params.maxNumPredict)
  },
  apply ({ st, tx, body: b, spendable, ctx, events }) {
    if (st.miner(tx.sender) !== undefined) throw new TxError('MINER_EXISTS', `${tx.sender} is already a registered miner (use update_miner or stake)`)
    if (b.stake < st.params.minMinerStake) throw new TxError('STAKE_TOO_LOW', `stake ${b.stake} uaitbc is below min_miner_stake ${st.params.minMinerStake} uaitbc`)
    needFunds(spendable + tx.fee, b.stake + tx.fee, `stake of ${b.stake} uaitbc plus the fee`)
    events.push(ev('register_miner', { miner: tx.sender, models: b.models.join(','), stake: b.stake, price_per_second: b.pricePerSecond, capacity: b.capacity }))
    return {
      delta: -b.stake,
      apply: () => {
        st.setMiner(newMiner({
          address: tx.sender, models: [...b.models], modelInfo: b.modelInfo ?? bareModelInfo(b.models), pricePerSecond: b.pricePerSecond, capacity: b.capacity, stake: b.stake,
          priceIn: b.priceIn ?? null, priceOut: b.priceOut ?? null, maxNumPredict: b.maxNumPredict ?? null, endpoint: b.endpoint ?? null, registeredHeight: ctx.height,
        }))
        st.addTotal('bonded', b.stake)
      },
    }
  },
}
