// The validator set from stake: voting power = bonded stake / power_reduction; the active set is
// the top max_validators by power (ties: the lower consensus address first) among validators
// neither jailed nor tombstoned. A set computed from the state after block H signs from H+2
// (CometBFT's rule; the chain keeps the sets by height). Pure.
import { ed25519 } from '@noble/curves/ed25519.js'
import { pack } from './codec.ts'
import { concatBytes, fromHex, utf8Bytes } from './crypto.ts'
import type { Validator } from './block.ts'
import type { StateReader, ValidatorBond, ValidatorStatus } from './state.ts'
import type { Params } from './params.ts'

export function powerOf (v: Pick<ValidatorBond, 'stake'>, p: Pick<Params, 'powerReduction'>): number {
  return Number(v.stake / p.powerReduction)
}

/** Whether a validator may be in the active set (its power, its standing). */
export function isEligible (v: ValidatorBond, p: Params): boolean {
  return !v.tombstoned && v.jailedUntil === null && powerOf(v, p) > 0
}

/**
 * The active set the state gives: the top max_validators by power, ordered by power (highest
 * first) then address. `override` stands in for one record (to test a change before it is made).
 */
export function activeSet (st: StateReader, override?: ValidatorBond): Validator[] {
  const p = st.params
  const all: ValidatorBond[] = []
  for (const a of st.validatorAddresses()) {
    const v = override?.address === a ? override : st.validatorBond(a)
    if (v !== undefined && isEligible(v, p)) all.push(v)
  }
  if (override !== undefined && st.validatorBond(override.address) === undefined && isEligible(override, p)) all.push(override)
  // Ties at the cut are broken by power, then the lower address (not by stake below one unit of power).
  const power = new Map(all.map(v => [v.address, powerOf(v, p)]))
  all.sort((x, y) => (power.get(y.address) ?? 0) - (power.get(x.address) ?? 0) || (x.address < y.address ? -1 : x.address > y.address ? 1 : 0))
  return all.slice(0, p.maxValidators).map(v => ({ address: fromHex(v.address), pubKey: v.pubKey, power: powerOf(v, p), name: v.moniker }))
}

/** The validator an account operates, if any. */
export function validatorOfOperator (st: StateReader, operator: string): ValidatorBond | undefined {
  for (const a of st.validatorAddresses()) {
    const v = st.validatorBond(a)
    if (v?.operator === operator) return v
  }
  return undefined
}

/** The validator whose consensus key is `pubKey`, if any. */
export function validatorOfKey (st: StateReader, address: string): ValidatorBond | undefined {
  return st.validatorBond(address)
}

/** What people read of a validator's standing; `inSet`: whether it is in the current set. */
export function statusOf (v: ValidatorBond, inSet: boolean): ValidatorStatus {
  if (v.tombstoned) return 'tombstoned'
  if (v.jailedUntil !== null) return 'jailed'
  return inSet ? 'bonded' : 'unbonding'
}

const POP_DOMAIN = utf8Bytes('AITBC/validator-pop/v1')

/**
 * What a consensus key signs to prove that its holder means it to validate for `operator` on
 * `chainId` (create_validator's proof of possession): domain-separated from votes, proposals and
 * txs, so no other signature by the key can be replayed as one.
 */
export function possessionMessage (chainId: string, operator: string, pubKey: Uint8Array): Uint8Array {
  return concatBytes(POP_DOMAIN, pack([chainId, operator, pubKey]))
}

/** True when 32 bytes are the canonical encoding of an ed25519 point of large order (a usable public key). */
export function isValidConsensusKey (pub: Uint8Array): boolean {
  if (pub.length !== 32) return false
  try {
    const pt = ed25519.Point.fromBytes(pub, false)
    if (pt.isSmallOrder()) return false
    return Buffer.from(pt.toBytes()).equals(Buffer.from(pub))
  } catch {
    return false
  }
}
