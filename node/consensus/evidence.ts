// Evidence of double signing, as CometBFT's evidence pool: two votes by one validator for one
// height, round and type on different blocks. The engine adds each equivocation it sees; the
// proposer includes pending evidence in its block (the application checks it and slashes); once a
// block carries it, it is no longer pending. Bounded: a flood of equivocations cannot grow it
// without limit.
import { pack } from '../core/codec.ts'
import { bytesEqual, toHexUpper } from '../core/crypto.ts'
import type { Block } from '../core/block.ts'
import type { SignedVote } from './messages.ts'

/** Most pieces of evidence kept pending; the oldest go first. */
export const MAX_PENDING_EVIDENCE = 1000
/** Most pieces of evidence a proposal carries. */
export const MAX_EVIDENCE_PER_BLOCK = 50

/** The canonical bytes of one duplicate vote: the pair ordered by block hash, each vote as a tuple. */
export function encodeDuplicateVote (a: SignedVote, b: SignedVote): Uint8Array {
  const [x, y] = toHexUpper(a.blockHash) < toHexUpper(b.blockHash) ? [a, b] : [b, a]
  return pack([voteEvidenceTuple(x), voteEvidenceTuple(y)])
}

function voteEvidenceTuple (v: SignedVote): unknown[] {
  return [v.type, v.height, v.round, v.blockHash, v.timestamp, v.validator, v.signature]
}

export class EvidencePool {
  private readonly pending: Uint8Array[] = []

  get size (): number { return this.pending.length }

  /** Adds the evidence of a duplicate vote; false when it was pending already. */
  addDuplicateVote (a: SignedVote, b: SignedVote): boolean {
    const e = encodeDuplicateVote(a, b)
    if (this.pending.some(x => bytesEqual(x, e))) return false
    this.pending.push(e)
    if (this.pending.length > MAX_PENDING_EVIDENCE) this.pending.shift()
    return true
  }

  /** Evidence for the next proposal (it stays pending until a committed block carries it). */
  forProposal (): Uint8Array[] { return this.pending.slice(0, MAX_EVIDENCE_PER_BLOCK) }

  /** The application left some offered evidence out of a proposal: it is invalid or punished already, so it goes. */
  onProposed (offered: Uint8Array[], block: Block): void {
    for (const e of offered) {
      if (block.evidence.some(x => bytesEqual(x, e))) continue
      const i = this.pending.findIndex(x => bytesEqual(x, e))
      if (i >= 0) this.pending.splice(i, 1)
    }
  }

  /** A block was committed: what it carries is no longer pending. */
  onCommitted (block: Block): void {
    for (const e of block.evidence) {
      const i = this.pending.findIndex(x => bytesEqual(x, e))
      if (i >= 0) this.pending.splice(i, 1)
    }
  }
}
