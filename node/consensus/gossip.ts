// Consensus gossip: publishing our own proposal and votes, sending them again to peers that
// (re)connect and while a height stalls (as CometBFT's reactor gossips votes to peers that lack
// them: what lets rounds line up again after a restart or a healed split), and holding messages
// for the next heights until the engine gets there.
import type { Logger } from '../logger.ts'
import type { ConsensusNetwork } from './network.ts'

/** Messages of future heights held at most (all peers together), and from one peer. */
export const MAX_FUTURE_MSGS = 20_000
export const MAX_FUTURE_MSGS_PER_PEER = 5_000
/** How far ahead a message's height may be to be held. */
export const MAX_FUTURE_HEIGHTS = 2

interface Held { height: number, data: Uint8Array, from: string, slot: string, receivedAt: number }

export class ConsensusGossip {
  /** Our own proposal and votes at this height. */
  private mine: Uint8Array[] = []
  private future: Held[] = []
  private readonly slots = new Set<string>()
  private readonly perPeer = new Map<string, number>()

  constructor (private readonly net: ConsensusNetwork | null, private readonly log: Logger) {}

  /** Publishes one of our messages and keeps it for regossip at this height. */
  publishOwn (msg: Uint8Array): void {
    this.mine.push(msg)
    void this.net?.publish('consensus', msg).catch(e => this.log.debug({ err: e }, 'publish failed'))
  }

  /** Publishes a message without keeping it. */
  publish (msg: Uint8Array): void {
    void this.net?.publish('consensus', msg).catch(() => {})
  }

  /** Sends our messages of this height again. */
  regossip (): void {
    if (this.net === null) return
    for (const m of this.mine) void this.net.publish('consensus', m).catch(() => {})
  }

  /**
   * Holds a (verified) message for a later height; false when it is too far ahead, when one for
   * the same slot (height, round, type, signer) is held already, or when the buffer is full, in
   * all or for this peer.
   */
  hold (current: number, height: number, data: Uint8Array, from: string, slot: string, receivedAt: number): boolean {
    if (height > current + MAX_FUTURE_HEIGHTS || this.future.length >= MAX_FUTURE_MSGS || this.slots.has(slot)) return false
    const fromPeer = this.perPeer.get(from) ?? 0
    if (fromPeer >= MAX_FUTURE_MSGS_PER_PEER) return false
    this.future.push({ height, data, from, slot, receivedAt })
    this.slots.add(slot)
    this.perPeer.set(from, fromPeer + 1)
    return true
  }

  /** How many messages are held for later heights. */
  get held (): number { return this.future.length }

  /** A new height begins: forgets our messages of the last one and returns the messages held for this one (older ones are dropped). */
  enterHeight (height: number): Array<{ data: Uint8Array, from: string, receivedAt: number }> {
    this.mine = []
    const now = this.future.filter(m => m.height === height)
    this.future = this.future.filter(m => m.height > height)
    this.slots.clear()
    this.perPeer.clear()
    for (const m of this.future) {
      this.slots.add(m.slot)
      this.perPeer.set(m.from, (this.perPeer.get(m.from) ?? 0) + 1)
    }
    return now
  }
}
