// validator_stake: the operator bonds more of its own tokens to its validator (more power from
// two blocks on).
import { asAmount, asArr } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { checkPositive, needFunds, aitbc, type TxTypeDef } from './txType.ts'
import { getValidator } from './validatorUnbond.ts'

export interface ValidatorStakeBody { type: 'validator_stake', amount: bigint }

export const validatorStake: TxTypeDef<'validator_stake', ValidatorStakeBody> = {
  type: 'validator_stake',
  description: "bonds more of the operator's tokens to its validator",
  signer: 'the operator',
  decode (v) {
    const b = asArr(v, 1, 'body')
    return { type: 'validator_stake', amount: asAmount(b[0], 'amount') }
  },
  encode: b => [b.amount],
  summary: b => `bond ${aitbc(b.amount)} to the validator`,
  checkStatic: b => checkPositive(b.amount),
  apply ({ st, tx, body: b, spendable, ctx, events }) {
    const v = getValidator(st, tx.sender)
    if (v.tombstoned) throw new TxError('TOMBSTONED', `validator ${v.address} is tombstoned for double signing: it can never validate again`)
    needFunds(spendable + tx.fee, b.amount + tx.fee, `a bond of ${b.amount} uaitbc plus the fee`)
    events.push(ev('validator_stake', { validator: v.address, operator: tx.sender, amount: b.amount, power_height: ctx.height + 2 }))
    return {
      delta: -b.amount,
      apply: () => {
        st.setValidatorBond({ ...v, stake: v.stake + b.amount })
        st.addTotal('bonded', b.amount)
      },
    }
  },
}
