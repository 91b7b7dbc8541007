// unstake: starts unbonding part of a miner's stake; it returns after unbonding_blocks.
import { asAmount, asArr } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { checkPositive, getMiner, type TxTypeDef, aitbc } from './txType.ts'

export interface UnstakeBody { type: 'unstake', amount: bigint }

export const unstake: TxTypeDef<'unstake', UnstakeBody> = {
  type: 'unstake',
  description: "starts unbonding part of the miner's stake; the tokens return after unbonding_blocks",
  signer: 'the miner',
  decode (v) {
    const b = asArr(v, 1, 'body')
    return { type: 'unstake', amount: asAmount(b[0], 'amount') }
  },
  encode: b => [b.amount],
  summary: b => `unstake ${aitbc(b.amount)}`,
  checkStatic: b => checkPositive(b.amount),
  apply ({ st, tx, body: b, ctx, events }) {
    const m = getMiner(st, tx.sender)
    if (b.amount > m.stake) throw new TxError('INVALID_AMOUNT', `unstake of ${b.amount} uaitbc exceeds the bonded stake of ${m.stake} uaitbc`)
    if (b.amount > m.stake - m.locked) throw new TxError('STAKE_TOO_LOW', `${m.locked} uaitbc of the stake is locked for checked jobs in hand; at most ${m.stake - m.locked} uaitbc can be unstaked now`)
    if (m.activeJobs > 0 && m.stake - b.amount < st.params.minMinerStake) {
      throw new TxError('STAKE_TOO_LOW', `cannot unbond below min_miner_stake while ${m.activeJobs} job(s) are assigned to this miner`)
    }
    const releaseHeight = ctx.height + st.params.unbondingBlocks
    events.push(ev('unstake', { miner: tx.sender, amount: b.amount, release_height: releaseHeight }))
    return {
      delta: 0n,
      apply: () => {
        st.setMiner({ ...m, stake: m.stake - b.amount, unbonding: [...m.unbonding, { amount: b.amount, releaseHeight, height: ctx.height }] })
        st.addTotal('bonded', -b.amount)
        st.addTotal('unbonding', b.amount)
      },
    }
  },
}
