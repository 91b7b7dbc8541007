// The client's caps on a miner's prices, which `aitbc submit` never leaves unlimited: each cap the
// user does not give defaults from the prices listed on the network right now, by one rule.
//
// Among the active miners that list the model (and the pinned digest, when the job pins one):
//   max_price_in / max_price_out   the highest price_in / price_out among those that bill by
//                                  tokens (a missing one of the two counts as 0); 0 when none does;
//   max_price_per_second           the highest price_per_second among those that bill by the
//                                  second; the chain's default_price_per_second when none does.
// So every miner serving the model now can take the job, and none that asks more than the most
// expensive of them can. max_fee still bounds the bill.
import type { MinerJSON } from '../node/rpc/types.ts'

export interface PriceCaps { maxPriceIn: bigint, maxPriceOut: bigint, maxPricePerSecond: bigint }

export interface CapsGiven { maxPriceIn?: bigint, maxPriceOut?: bigint, maxPricePerSecond?: bigint }

export interface DefaultedCaps {
  caps: PriceCaps
  /** The caps that were defaulted (not given): 'in', 'out', 'per_second'. */
  defaulted: Array<'in' | 'out' | 'per_second'>
  /** The miners the defaults were read from. */
  servedBy: number
}

/** Whether a miner bills by tokens (it lists a price per million input or output tokens). */
export function billsByTokens (m: Pick<MinerJSON, 'price_in' | 'price_out'>): boolean { return m.price_in !== null || m.price_out !== null }

/** The active miners that can serve the model (with the pinned digest, when given). */
export function servingMiners (miners: MinerJSON[], model: string, digest: string | null): MinerJSON[] {
  return miners.filter(m => m.active && m.models.includes(model) && (digest === null || m.model_info.some(i => i.name === model && i.digest === digest)))
}

const max = (xs: bigint[], none: bigint): bigint => xs.length === 0 ? none : xs.reduce((a, b) => a > b ? a : b)

/** The caps of a job: those given, the others by the rule above. */
export function priceCaps (given: CapsGiven, miners: MinerJSON[], model: string, digest: string | null, defaultPricePerSecond: bigint): DefaultedCaps {
  const serving = servingMiners(miners, model, digest)
  const byTokens = serving.filter(billsByTokens)
  const bySecond = serving.filter(m => !billsByTokens(m))
  const defaulted: DefaultedCaps['defaulted'] = []
  const pick = (v: bigint | undefined, which: 'in' | 'out' | 'per_second', fallback: () => bigint): bigint => {
    if (v !== undefined) return v
    defaulted.push(which)
    return fallback()
  }
  return {
    caps: {
      maxPriceIn: pick(given.maxPriceIn, 'in', () => max(byTokens.map(m => BigInt(m.price_in ?? '0')), 0n)),
      maxPriceOut: pick(given.maxPriceOut, 'out', () => max(byTokens.map(m => BigInt(m.price_out ?? '0')), 0n)),
      maxPricePerSecond: pick(given.maxPricePerSecond, 'per_second', () => max(bySecond.map(m => BigInt(m.price_per_second)), defaultPricePerSecond)),
    },
    defaulted,
    servedBy: serving.length,
  }
}
