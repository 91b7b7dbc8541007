// Waits for a tx to be committed (broadcast_tx_commit) or evicted, with a deadline.
import type { Chain, CommittedBlock } from '../chain/chain.ts'
import type { Mempool } from '../chain/mempool.ts'
import type { TxError } from '../core/errors.ts'
import type { TxResult } from '../core/transition.ts'
import { RpcError, INTERNAL_ERROR } from './params.ts'

export type TxOutcome = { kind: 'committed', height: number, index: number, result: TxResult } | { kind: 'evicted', error: TxError }

interface Waiter { resolve: (o: TxOutcome) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }

export class TxWatcher {
  private readonly waiters = new Map<string, Waiter[]>()
  private count = 0

  constructor (chain: Chain, mempool: Mempool, private readonly maxWaiters = 20_000) {
    chain.on('block', b => this.onBlock(b))
    mempool.on('evicted', (tx, err) => this.settle(tx.hash, { kind: 'evicted', error: err }))
  }

  watch (hash: string, timeoutMs: number): { promise: Promise<TxOutcome>, cancel: () => void } {
    if (this.count >= this.maxWaiters) throw new RpcError(INTERNAL_ERROR, 'Internal error: too many broadcast_tx_commit requests waiting; use broadcast_tx_sync and poll')
    let waiter!: Waiter
    const promise = new Promise<TxOutcome>((resolve, reject) => {
      waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.remove(hash, waiter)
          reject(new RpcError(INTERNAL_ERROR, `Internal error: timed out waiting for tx ${hash} to be included in a block`))
        }, timeoutMs),
      }
    })
    const list = this.waiters.get(hash)
    if (list === undefined) this.waiters.set(hash, [waiter]); else list.push(waiter)
    this.count++
    return { promise, cancel: () => { clearTimeout(waiter.timer); this.remove(hash, waiter) } }
  }

  private remove (hash: string, w: Waiter): void {
    const list = this.waiters.get(hash)
    if (list === undefined) return
    const i = list.indexOf(w)
    if (i < 0) return
    list.splice(i, 1)
    this.count--
    if (list.length === 0) this.waiters.delete(hash)
  }

  private settle (hash: string, o: TxOutcome): void {
    const list = this.waiters.get(hash)
    if (list === undefined) return
    this.waiters.delete(hash)
    this.count -= list.length
    for (const w of list) { clearTimeout(w.timer); w.resolve(o) }
  }

  private onBlock (b: CommittedBlock): void {
    if (this.count === 0) return
    b.txs.forEach((tx, i) => this.settle(tx.hash, { kind: 'committed', height: b.block.header.height, index: i, result: b.txResults[i] }))
  }
}
