// Slashing a miner: a share of what it had at stake when the offence began — its bonded stake and
// the unbonding entries it started since (as the Cosmos SDK slashes unbonding delegations made
// after an infraction), so that unstaking with jobs in hand does not dodge a slash. Burned.
import type { Miner, Overlay } from './state.ts'

export interface Slash { stake: bigint, unbonding: bigint, total: bigint }

/**
 * Takes `fractionPpm` of the miner's stake and of each unbonding entry started at or after
 * `sinceHeight`, and at least `atLeast` in all when there is that much (from the stake first);
 * writes the miner and the totals. Returns what was taken.
 */
export function slashMiner (st: Overlay, m: Miner, sinceHeight: number, fractionPpm: number, atLeast = 0n): { miner: Miner, slash: Slash } {
  const cut = (x: bigint): bigint => x * BigInt(fractionPpm) / 1_000_000n
  let fromStake = cut(m.stake)
  let fromUnbonding = 0n
  const unbonding = m.unbonding.map(u => {
    if (u.height < sinceHeight) return u
    const c = cut(u.amount)
    fromUnbonding += c
    return { ...u, amount: u.amount - c }
  })
  if (fromStake + fromUnbonding < atLeast) fromStake = atLeast - fromUnbonding > m.stake ? m.stake : atLeast - fromUnbonding
  const total = fromStake + fromUnbonding
  const miner: Miner = { ...m, stake: m.stake - fromStake, unbonding: unbonding.filter(u => u.amount > 0n), slashed: m.slashed + total }
  st.setMiner(miner)
  st.addTotal('bonded', -fromStake)
  st.addTotal('unbonding', -fromUnbonding)
  st.addTotal('burned', total)
  return { miner, slash: { stake: fromStake, unbonding: fromUnbonding, total } }
}
