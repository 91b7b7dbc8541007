// The signed votes of one height, as CometBFT's HeightVoteSet: the first vote of each validator
// per type and round, every distinct signed vote (for building the commit), and equivocations
// (a second, different vote), which become evidence and are counted once, as the algorithm
// counts messages, up to a bound.
import { toHexUpper } from '../core/crypto.ts'
import { isDuplicateVote, type SignedVote } from './messages.ts'

/** Conflicting votes counted per height, beyond which they only feed evidence. */
export const MAX_EQUIVOCATIONS = 1000

export type VoteOutcome =
  | { kind: 'new' }
  | { kind: 'known' }
  | { kind: 'equivocation', first: SignedVote, counted: boolean }

export class HeightVotes {
  /** Every signed vote counted: `${type}:${round}:${validator}:${value}`. */
  private readonly signed = new Map<string, SignedVote>()
  /** The first vote of each validator per type and round. */
  private readonly first = new Map<string, SignedVote>()
  private equivocations = 0

  /** Records a verified vote; says whether it is new, a repeat, or a second different vote (then `counted` says whether it still counts). */
  add (v: SignedVote): VoteOutcome {
    const id = toHexUpper(v.validator)
    const slot = `${v.type}:${v.round}:${id}`
    const key = `${slot}:${valueOf(v)}`
    const first = this.first.get(slot)
    if (first === undefined) {
      this.first.set(slot, v)
      this.signed.set(key, v)
      return { kind: 'new' }
    }
    if (!isDuplicateVote(first, v)) return { kind: 'known' }
    if (this.signed.has(key) || this.equivocations++ > MAX_EQUIVOCATIONS) return { kind: 'equivocation', first, counted: false }
    this.signed.set(key, v)
    return { kind: 'equivocation', first, counted: true }
  }

  /** The signed vote of a validator (upper hex address) for a value at a type and round. */
  get (type: number, round: number, validator: string, value: string | null): SignedVote | undefined {
    return this.signed.get(`${type}:${round}:${validator}:${value}`)
  }
}

/** A vote's value: the block hash (upper hex), or null for nil. */
export function valueOf (v: SignedVote): string | null { return v.blockHash.length === 0 ? null : toHexUpper(v.blockHash) }
