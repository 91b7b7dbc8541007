// TEST ONLY (AITBC_TEST_BYZANTINE=double-prevote): a validator that, after each prevote, also
// signs a conflicting prevote for another block, bypassing the PrivValidator, so that tests can
// see evidence and slashing at work. Never enabled unless that variable is set.
import { sha256 } from '../core/crypto.ts'
import type { SigningKey } from '../core/crypto.ts'
import { encodeVote, voteBytesToSign, type SignedVote } from './messages.ts'
import type { ConsensusGossip } from './gossip.ts'

export class DoublePrevoter {
  constructor (private readonly key: SigningKey, private readonly chainId: string, private readonly gossip: ConsensusGossip) {}

  afterPrevote (v: SignedVote): void {
    const other = sha256(new Uint8Array([...v.blockHash, ...Buffer.from(String(v.timestamp))]))
    const w: SignedVote = { ...v, blockHash: other, signature: this.key.sign(voteBytesToSign(this.chainId, { ...v, blockHash: other })) }
    this.gossip.publish(encodeVote(w))
  }
}
