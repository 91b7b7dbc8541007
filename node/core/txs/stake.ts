// stake: bonds more of the miner's tokens.
import { asAmount, asArr } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { MAX_AMOUNT } from '../amount.ts'
import { checkPositive, getMiner, needFunds, type TxTypeDef, aitbc } from './txType.ts'

export interface StakeBody { type: 'stake', amount: bigint }

export const stake: TxTypeDef<'stake', StakeBody> = {
  type: 'stake',
  description: "bonds more of the miner's tokens as stake",
  signer: 'the miner',
  decode (v) {
    const b = asArr(v, 1, 'body')
    return { type: 'stake', amount: asAmount(b[0], 'amount') }
  },
  encode: b => [b.amount],
  summary: b => `stake ${aitbc(b.amount)}`,
  checkStatic: b => checkPositive(b.amount),
  apply ({ st, tx, body: b, spendable, events }) {
    const m = getMiner(st, tx.sender)
    needFunds(spendable + tx.fee, b.amount + tx.fee, `stake of ${b.amount} uaitbc plus the fee`)
    if (m.stake + b.amount > MAX_AMOUNT) throw new TxError('INVALID_AMOUNT', 'stake would overflow int64')
    events.push(ev('stake', { miner: tx.sender, amount: b.amount }))
    return { delta: -b.amount, apply: () => { st.setMiner({ ...m, stake: m.stake + b.amount }); st.addTotal('bonded', b.amount) } }
  },
}
