// unjail: the operator of a validator jailed for downtime brings it back (into the set two blocks
// later) once jail_blocks have passed; a validator tombstoned for double signing never comes back.
import { asArr } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { powerOf } from '../validatorSet.ts'
import { getValidator } from './validatorUnbond.ts'
import type { TxTypeDef } from './txType.ts'

export interface UnjailBody { type: 'unjail' }

export const unjail: TxTypeDef<'unjail', UnjailBody> = {
  type: 'unjail',
  description: 'brings a validator jailed for downtime back into the set after jail_blocks',
  signer: 'the operator',
  decode (v) {
    asArr(v, 0, 'body')
    return { type: 'unjail' }
  },
  encode: () => [],
  summary: () => 'unjail the validator',
  checkStatic: () => {},
  apply ({ st, tx, ctx, events }) {
    const v = getValidator(st, tx.sender)
    if (v.tombstoned) throw new TxError('TOMBSTONED', `validator ${v.address} is tombstoned for double signing: it can never be unjailed`)
    if (v.jailedUntil === null) throw new TxError('NOT_JAILED', `validator ${v.address} is not jailed`)
    if (ctx.height < v.jailedUntil) throw new TxError('VALIDATOR_JAILED', `validator ${v.address} is jailed until height ${v.jailedUntil} (this is height ${ctx.height})`)
    if (powerOf(v, st.params) < 1) throw new TxError('STAKE_TOO_LOW', `validator ${v.address} has a bond of ${v.stake} uaitbc, below power_reduction ${st.params.powerReduction}: bond more first (validator_stake)`)
    events.push(ev('unjail', { validator: v.address, operator: tx.sender, power_height: ctx.height + 2 }))
    return { delta: 0n, apply: () => { st.setValidatorBond({ ...v, jailedUntil: null, missed: [] }) } }
  },
}
