// Consensus gossip: publishing our own proposal and votes, sending them again to peers that
// (re)connect and while a height stalls (as CometBFT's reactor gossips votes to peers that lack
// them: what lets rounds line up again after a restart or a healed split), and holding messages
// for the next heights until the engine gets there.
import type { Logger } from '../logger.ts'
import type { ConsensusNetwork } from './network.ts'

/** Messages of future heights held at most (all peers together). */
export const MAX_FUTURE_MSGS = 20_000
/** How far ahead a message's height may be to be held. */
export const MAX_FUTURE_HEIGHTS = 2

interface Held { height: number, data: Uint8Array, from: string }

export class ConsensusGossip {
  /** Our own proposal and votes at this height. */
  private mine: Uint8Array[] = []
  private future: Held[] = []

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

  /** Holds a message for a later height; false when it is too far ahead or the buffer is full. */
  hold (current: number, height: number, data: Uint8Array, from: string): boolean {
    if (height > current + MAX_FUTURE_HEIGHTS || this.future.length >= MAX_FUTURE_MSGS) return false
    this.future.push({ height, data, from })
    return true
  }

  /** A new height begins: forgets our messages of the last one and returns the messages held for this one (older ones are dropped). */
  enterHeight (height: number): Array<{ data: Uint8Array, from: string }> {
    this.mine = []
    const now = this.future.filter(m => m.height === height)
    this.future = this.future.filter(m => m.height > height)
    return now
  }
}
