// Block-begin work for validators: punishing double signing (slash, jail, tombstone), tracking
// missed precommits over the downtime window from each block's last_commit (jail and slash for
// downtime), and returning unbonded validator stake to operators. Pure; the set changes that
// follow take effect two blocks later (the chain computes the sets from the state).
import { ev, type AbciEvent } from './events.ts'
import { BLOCK_ID_FLAG_COMMIT, type Commit, type Validator } from './block.ts'
import { toHexUpper } from './crypto.ts'
import { credit } from './txs/txType.ts'
import type { Overlay, ValidatorBond } from './state.ts'

/** A jail that never ends (a tombstoned validator's). */
export const JAILED_FOREVER = Number.MAX_SAFE_INTEGER

function cut (x: bigint, ppm: number): bigint { return x * BigInt(ppm) / 1_000_000n }

/**
 * Slashes `fractionPpm` of a validator's bond and of the unbonding entries it started at or after
 * `sinceHeight` (burned); returns the record after and the amount taken. Writes the totals, not the record.
 */
export function slashValidator (st: Overlay, v: ValidatorBond, sinceHeight: number, fractionPpm: number): { v: ValidatorBond, amount: bigint } {
  const fromStake = cut(v.stake, fractionPpm)
  let fromUnbonding = 0n
  const unbonding = v.unbonding.map(u => {
    if (u.height < sinceHeight) return u
    const c = cut(u.amount, fractionPpm)
    fromUnbonding += c
    return { ...u, amount: u.amount - c }
  }).filter(u => u.amount > 0n)
  st.addTotal('bonded', -fromStake)
  st.addTotal('unbonding', -fromUnbonding)
  st.addTotal('burned', fromStake + fromUnbonding)
  return { v: { ...v, stake: v.stake - fromStake, unbonding, slashed: v.slashed + fromStake + fromUnbonding }, amount: fromStake + fromUnbonding }
}

/** Double signing punished: slash_fraction of what was at stake at the offence, jailed for good, tombstoned. */
export function punishDoubleSign (st: Overlay, address: string, offence: string, offenceHeight: number): AbciEvent[] {
  const before = st.validatorBond(address)
  if (before === undefined) return []
  // Evidence against a tombstoned validator changes nothing: one incident is punished once (as CometBFT).
  if (before.tombstoned) return []
  // Stake unbonded in block O-1 still voted at O (set changes take effect two blocks later): it is slashed too.
  const { v, amount } = slashValidator(st, before, offenceHeight - 1, st.params.slashFractionPpm)
  st.setValidatorBond({ ...v, offences: [...v.offences, offence], jailedUntil: JAILED_FOREVER, tombstoned: true, missed: [] })
  const events = [ev('slash', { validator: address, amount, reason: 'duplicate_vote', offence })]
  if (!before.tombstoned) events.push(ev('tombstone', { validator: address, operator: before.operator }))
  return events
}

/**
 * Missed precommits: each validator of the last block's set whose precommit the last_commit lacks
 * misses that height; one missing more than downtime_max_missed of the last downtime_window
 * heights it was in the set for is jailed (out of the set two blocks later) and loses
 * downtime_slash_fraction of its bond. A jailed or tombstoned validator is not tracked.
 */
export function trackDowntime (st: Overlay, height: number, lastCommit: Commit | null | undefined, lastValidators: readonly Validator[] | undefined): AbciEvent[] {
  if (lastCommit == null || lastValidators === undefined) return []
  const p = st.params
  const signedHeight = lastCommit.height
  const signed = new Set<string>()
  for (const s of lastCommit.signatures) if (s.blockIdFlag === BLOCK_ID_FLAG_COMMIT) signed.add(toHexUpper(s.validatorAddress))
  const events: AbciEvent[] = []
  for (const val of lastValidators) {
    const id = toHexUpper(val.address)
    const v = st.validatorBond(id)
    if (v === undefined || v.tombstoned || v.jailedUntil !== null) continue
    const kept = v.missed.filter(h => h > signedHeight - p.downtimeWindow)
    const missed = signed.has(id) ? kept : [...kept, signedHeight]
    if (missed.length > p.downtimeMaxMissed) {
      // Stake unbonded since the height before the last miss still had power there: slashed too.
      const { v: after, amount } = slashValidator(st, v, signedHeight - 1, p.downtimeSlashFractionPpm)
      const jailedUntil = height + p.jailBlocks
      st.setValidatorBond({ ...after, missed: [], jailedUntil })
      events.push(ev('jail', { validator: id, operator: v.operator, reason: 'downtime', missed: missed.length, window: p.downtimeWindow, jailed_until: jailedUntil }))
      if (amount > 0n) events.push(ev('slash', { validator: id, amount, reason: 'downtime' }))
    } else if (missed.length !== v.missed.length) {
      st.setValidatorBond({ ...v, missed })
    }
  }
  return events
}

/** Unbonded validator stake whose time has come returns to the operators. */
export function releaseValidatorUnbonding (st: Overlay, height: number): AbciEvent[] {
  const events: AbciEvent[] = []
  for (const a of st.validatorAddresses()) {
    const v = st.validatorBond(a)
    if (v === undefined || v.unbonding.length === 0) continue
    const due = v.unbonding.filter(u => u.releaseHeight <= height)
    if (due.length === 0) continue
    const amount = due.reduce((s, u) => s + u.amount, 0n)
    st.setValidatorBond({ ...v, unbonding: v.unbonding.filter(u => u.releaseHeight > height) })
    st.addTotal('unbonding', -amount)
    credit(st, v.operator, amount)
    events.push(ev('validator_unbonded', { validator: a, operator: v.operator, amount }))
  }
  return events
}
