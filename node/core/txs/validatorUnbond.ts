// validator_unbond: the operator starts unbonding part or all of its validator's stake; the power
// falls two blocks later, the tokens return to the operator after unbonding_blocks (longer than
// the evidence max age, so a slash for an earlier offence still reaches them).
import { asAmount, asArr } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import type { StateReader, ValidatorBond } from '../state.ts'
import { activeSet, validatorOfOperator } from '../validatorSet.ts'
import { checkPositive, aitbc, type TxTypeDef } from './txType.ts'

export interface ValidatorUnbondBody { type: 'validator_unbond', amount: bigint }

export function getValidator (st: StateReader, operator: string): ValidatorBond {
  const v = validatorOfOperator(st, operator)
  if (v === undefined) throw new TxError('VALIDATOR_NOT_FOUND', `${operator} operates no validator`)
  return v
}

export const validatorUnbond: TxTypeDef<'validator_unbond', ValidatorUnbondBody> = {
  type: 'validator_unbond',
  description: "starts unbonding part or all of the validator's stake; the tokens return to the operator after unbonding_blocks",
  signer: 'the operator',
  decode (v) {
    const b = asArr(v, 1, 'body')
    return { type: 'validator_unbond', amount: asAmount(b[0], 'amount') }
  },
  encode: b => [b.amount],
  summary: b => `unbond ${aitbc(b.amount)} from the validator`,
  checkStatic: b => checkPositive(b.amount),
  apply ({ st, tx, body: b, ctx, events }) {
    const v = getValidator(st, tx.sender)
    if (b.amount > v.stake) throw new TxError('INVALID_AMOUNT', `unbond of ${b.amount} uaitbc exceeds the validator's bond of ${v.stake} uaitbc`)
    const releaseHeight = ctx.height + st.params.unbondingBlocks
    const after: ValidatorBond = { ...v, stake: v.stake - b.amount, unbonding: [...v.unbonding, { amount: b.amount, releaseHeight, height: ctx.height }] }
    // Refused only when it would empty a set that has power now (a jailed or tombstoned sole validator may still leave).
    if (activeSet(st, after).length === 0 && activeSet(st).length > 0) throw new TxError('VALIDATOR_SET_EMPTY', 'this unbond would leave no validator with power: the chain would stop')
    events.push(ev('validator_unbond', { validator: v.address, operator: tx.sender, amount: b.amount, release_height: releaseHeight, power_height: ctx.height + 2 }))
    return {
      delta: 0n,
      apply: () => {
        st.setValidatorBond(after)
        st.addTotal('bonded', -b.amount)
        st.addTotal('unbonding', b.amount)
      },
    }
  },
}
