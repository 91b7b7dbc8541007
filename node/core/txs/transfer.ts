// transfer: moves tokens from the sender to another account.
import { asAddress, asAmount, asArr } from '../fields.ts'
import { ev } from '../events.ts'
import { checkPositive, credit, needFunds, type TxTypeDef, aitbc } from './txType.ts'

export interface TransferBody { type: 'transfer', to: string, amount: bigint }

export const transfer: TxTypeDef<'transfer', TransferBody> = {
  type: 'transfer',
  description: 'moves tokens to another account',
  signer: 'any account',
  decode (v) {
    const b = asArr(v, 2, 'body')
    return { type: 'transfer', to: asAddress(b[0], 'to'), amount: asAmount(b[1], 'amount') }
  },
  encode: b => [b.to, b.amount],
  summary: b => `${aitbc(b.amount)} to ${b.to}`,
  checkStatic: b => checkPositive(b.amount),
  apply ({ st, tx, body: b, spendable, events }) {
    needFunds(spendable + tx.fee, b.amount + tx.fee, `transfer of ${b.amount} uaitbc plus the fee`)
    events.push(ev('transfer', { sender: tx.sender, recipient: b.to, amount: b.amount }))
    return { delta: -b.amount, apply: () => credit(st, b.to, b.amount) }
  },
}
