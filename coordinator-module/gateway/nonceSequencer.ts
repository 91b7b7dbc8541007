// Nonces for the gateway's accounts: each signed tx takes max(the node's pending_nonce, the next
// nonce handed out here), under a per-account lock held from reading the nonce to the end of the
// broadcast, so concurrent requests of one account never sign the same nonce. A broadcast the node
// refuses gives its nonce back (the next request re-reads pending_nonce).

export class NonceSequencer {
  private readonly next = new Map<string, number>()
  private readonly locks = new Map<string, Promise<void>>()

  constructor (private readonly pendingNonce: (address: string) => Promise<number>) {}

  /** Runs f(nonce) alone for this account; f returns whether the nonce was used (accepted by the node). */
  async withNonce<T> (address: string, f: (nonce: number) => Promise<{ used: boolean, value: T }>): Promise<T> {
    const prev = this.locks.get(address) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>(resolve => { release = resolve })
    const chained = prev.then(() => mine)
    this.locks.set(address, chained)
    try {
      await prev
      const pending = await this.pendingNonce(address)
      const local = this.next.get(address) ?? 0
      const nonce = Math.max(pending, local)
      const r = await f(nonce)
      if (r.used) this.next.set(address, nonce + 1)
      else this.next.delete(address)
      return r.value
    } catch (e) {
      this.next.delete(address)
      throw e
    } finally {
      release()
      if (this.locks.get(address) === chained) this.locks.delete(address)
    }
  }
}
