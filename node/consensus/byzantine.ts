// TEST ONLY: byzantine behaviours for the attack tests, chosen by AITBC_TEST_BYZANTINE (never set
// outside tests). Each one is what a faulty or hostile validator could do; the honest validators
// must keep committing identical blocks.
//   double-prevote      after each prevote, also signs a conflicting one (equivocation)
//   time-warp           dates its proposals 61 s ahead (would expire assigned jobs, slash miners)
//   oversized-proposal  proposes blocks over max_block_bytes (padded with a junk transaction)
//   lying-sync          tells peers it is 1000 blocks ahead and serves no block
//   future-flood        floods gossip with unsigned votes for the next height
//   gossip-replay       gossips the same invalid transactions over and over
import { pack } from '../core/codec.ts'
import { dataHash, VOTE_PREVOTE, type Block } from '../core/block.ts'
import { sha256, type SigningKey } from '../core/crypto.ts'
import { MAX_BLOCK_BYTES } from '../core/params.ts'
import { signTx } from '../core/tx.ts'
import { encodeVote, voteBytesToSign, type SignedVote } from './messages.ts'
import type { ConsensusGossip } from './gossip.ts'
import type { ConsensusNetwork } from './network.ts'

export const BYZANTINE_MODES = ['double-prevote', 'time-warp', 'oversized-proposal', 'lying-sync', 'future-flood', 'gossip-replay'] as const
export type ByzantineMode = typeof BYZANTINE_MODES[number]

export function parseByzantineMode (s: string | undefined): ByzantineMode | null {
  if (s === undefined || s === '') return null
  if (!(BYZANTINE_MODES as readonly string[]).includes(s)) throw new Error(`AITBC_TEST_BYZANTINE="${s}" is not a test mode (${BYZANTINE_MODES.join(', ')})`)
  return s as ByzantineMode
}

/** What the engine asks of a byzantine validator, per mode. */
export class Byzantine {
  private flood: NodeJS.Timeout | null = null

  constructor (readonly mode: ByzantineMode, private readonly m: { key: SigningKey, chainId: string, gossip: ConsensusGossip, net: ConsensusNetwork | null }) {}

  describe (): string {
    return `TEST-ONLY BYZANTINE MODE ${this.mode}: this validator misbehaves on purpose`
  }

  /** double-prevote: a second, conflicting prevote, signed without the PrivValidator's protection. */
  afterPrevote (v: SignedVote): void {
    if (this.mode !== 'double-prevote') return
    const other = sha256(new Uint8Array([...v.blockHash, ...Buffer.from(String(v.timestamp))]))
    const w: SignedVote = { ...v, blockHash: other, signature: this.m.key.sign(voteBytesToSign(this.m.chainId, { ...v, blockHash: other })) }
    this.m.gossip.publish(encodeVote(w))
  }

  /** time-warp and oversized-proposal: the block it proposes instead of the honest one. */
  tamper (block: Block): Block {
    if (this.mode === 'time-warp') return { ...block, header: { ...block.header, time: block.header.time + 61_000 } }
    if (this.mode === 'oversized-proposal') {
      // Over any max_block_bytes a genesis may set, still under what one gossip message carries.
      const txs = [...block.txs, new Uint8Array(MAX_BLOCK_BYTES + 256 * 1024).fill(0x61)]
      return { ...block, txs, header: { ...block.header, dataHash: dataHash(txs) } }
    }
    return block
  }

  /** lying-sync: the height it claims to peers. */
  claimedHeight (height: number): number { return this.mode === 'lying-sync' ? height + 1000 : height }
  /** lying-sync: whether it serves the blocks it claims. */
  get servesBlocks (): boolean { return this.mode !== 'lying-sync' }

  /** future-flood and gossip-replay: start their background noise for the height after `height()`. */
  start (height: () => number): void {
    if (this.m.net === null) return
    const net = this.m.net
    if (this.mode === 'future-flood') {
      this.flood = setInterval(() => {
        for (let i = 0; i < 200; i++) {
          const v: SignedVote = { type: VOTE_PREVOTE, height: height() + 2, round: i % 40, blockHash: new Uint8Array(32).fill(i % 251), timestamp: Date.now(), validator: new Uint8Array(20).fill(i % 7), signature: new Uint8Array(64).fill(i % 13) }
          void net.publish('consensus', encodeVote(v)).catch(() => {})
        }
      }, 50)
    }
    if (this.mode === 'gossip-replay') {
      // Well-formed transfers with a flipped signature bit: each costs a signature check, once.
      const bad = Array.from({ length: 50 }, (_, i) => {
        const b = new Uint8Array(signTx(this.m.key, { chainId: this.m.chainId, nonce: 1_000_000 + i, fee: 1000n, body: { type: 'transfer', to: this.m.key.address, amount: 1n } }).bytes)
        b[b.length - 1] ^= 1
        return b
      })
      this.flood = setInterval(() => { void net.publish('txs', pack(bad)).catch(() => {}) }, 20)
    }
  }

  stop (): void { if (this.flood !== null) clearInterval(this.flood) }
}
