// update_miner: changes a miner's listing (models, prices, capacity, active, and the optional
// terms of listing.ts); a nil field is left as it is.
import { asAmount, asBool, asSmall, asStrList, opt, trimTrailing, uint } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { checkCapacity, checkModels, getMiner, type TxTypeDef } from './txType.ts'
import { anyTerm, asTermsArr, bareModelInfo, checkTerms, decodeTerms, encodeTerms, type ListingTerms } from './listing.ts'

export interface UpdateMinerBody extends ListingTerms { type: 'update_miner', models: string[] | null, pricePerSecond: bigint | null, capacity: number | null, active: boolean | null }

export const updateMiner: TxTypeDef<'update_miner', UpdateMinerBody> = {
  type: 'update_miner',
  description: "changes the sender's miner listing: models, prices, capacity, active, model details, endpoint",
  signer: 'the miner',
  decode (v) {
    const b = asTermsArr(v, 4, 'body')
    return {
      type: 'update_miner',
      models: opt(b[0], x => asStrList(x, 'models')),
      pricePerSecond: opt(b[1], x => asAmount(x, 'price_per_second')),
      capacity: opt(b[2], x => asSmall(x, 'capacity')),
      active: opt(b[3], x => asBool(x, 'active')),
      ...decodeTerms(b, 4),
    }
  },
  encode: b => trimTrailing([b.models, b.pricePerSecond, b.capacity === null ? null : uint(b.capacity), b.active, ...encodeTerms(b)], 4),
  summary: () => 'miner listing updated',
  checkStatic (b, params) {
    if (b.models === null && b.pricePerSecond === null && b.capacity === null && b.active === null && !anyTerm(b)) throw new TxError('INVALID_FIELD', 'update_miner changes nothing')
    if (b.models !== null) checkModels(b.models)
    if (b.capacity !== null) checkCapacity(b.capacity)
    checkTerms(b, b.models, params.maxNumPredict)
  },
  apply ({ st, tx, body: b, events }) {
    const m = getMiner(st, tx.sender)
    if (b.capacity !== null && b.capacity < m.activeJobs) {
      throw new TxError('MINER_BUSY', `capacity ${b.capacity} is below the ${m.activeJobs} job(s) assigned to this miner; lower it after they settle`)
    }
    // A checked job's verifiers come from the class of its miner's model and digest: while checked
    // jobs hold its stake, a miner cannot move out of that class (and leave a lie with nobody to check it).
    if ((b.models !== null || b.modelInfo != null) && m.locked > 0n) {
      throw new TxError('MINER_BUSY', 'models and model_info stay as they are while checked jobs hold locked stake; change them after those jobs settle')
    }
    events.push(ev('update_miner', { miner: tx.sender }))
    const models = b.models ?? m.models
    return {
      delta: 0n,
      apply: () => st.setMiner({
        ...m,
        models,
        modelInfo: b.modelInfo ?? (b.models === null ? m.modelInfo : bareModelInfo(models)),
        pricePerSecond: b.pricePerSecond ?? m.pricePerSecond,
        priceIn: b.priceIn ?? m.priceIn,
        priceOut: b.priceOut ?? m.priceOut,
        maxNumPredict: b.maxNumPredict ?? m.maxNumPredict,
        endpoint: b.endpoint ?? m.endpoint,
        capacity: b.capacity ?? m.capacity,
        active: b.active ?? m.active,
      }),
    }
  },
}
