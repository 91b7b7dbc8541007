// Strikes counted against peers, forgiven one at a time every `decayMs` so that a long-lived
// honest peer with a rare bad message never reaches the threshold. Pure: the caller passes the
// time, nothing here runs a timer.
export class StrikeBook {
  private readonly book = new Map<string, { count: number, since: number }>()

  constructor (private readonly decayMs: number) {}

  get (peer: string, now: number): number {
    const e = this.book.get(peer)
    if (e === undefined) return 0
    const forgiven = this.decayMs > 0 ? Math.floor((now - e.since) / this.decayMs) : 0
    if (forgiven > 0) {
      e.count -= forgiven
      e.since += forgiven * this.decayMs
      if (e.count <= 0) { this.book.delete(peer); return 0 }
    }
    return e.count
  }

  /** Adds one strike and returns the new count. */
  add (peer: string, now: number): number {
    const count = this.get(peer, now) + 1
    const e = this.book.get(peer)
    if (e === undefined) this.book.set(peer, { count, since: now })
    else e.count = count
    return count
  }

  clear (peer: string): void { this.book.delete(peer) }
}
