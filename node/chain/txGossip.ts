// Transaction gossip (CometBFT's mempool reactor): txs that clients sent to this node go to peers
// in batches (one message per few milliseconds rather than one per tx: per-message costs of
// gossipsub dominate otherwise); batches from peers go through the mempool's checks. A tx that
// can never be valid (malformed, bad signature, a failed static check) counts against the peer
// that sent it; one that fails on state (a nonce race, a full mempool) does not.
import { unpack, pack } from '../core/codec.ts'
import { TxError } from '../core/errors.ts'
import type { Tx } from '../core/tx.ts'
import type { ConsensusNetwork, Verdict } from '../consensus/network.ts'
import type { Mempool } from './mempool.ts'
import type { TxIntake } from './txIntake.ts'
import type { Logger } from '../logger.ts'

export const TX_BATCH_MAX = 2000
const TX_BATCH_BYTES = 1024 * 1024
const TX_BATCH_MS = 5

type TxNetwork = Pick<ConsensusNetwork, 'publish' | 'onGossip'>

export class TxGossip {
  private batch: Uint8Array[] = []
  private batchBytes = 0
  private flushTimer: NodeJS.Timeout | null = null
  private readonly onAdded = (tx: Tx, source: 'rpc' | 'p2p'): void => { if (source === 'rpc') this.queue(tx.bytes) }

  /** intake: signature checks on worker threads (then a batch's verdict comes when they are done); without it the mempool checks inline. */
  constructor (private readonly net: TxNetwork, private readonly mempool: Mempool, private readonly log: Logger, private readonly intake?: TxIntake) {}

  start (): void {
    this.net.onGossip('txs', data => this.onGossip(data))
    this.mempool.on('added', this.onAdded)
  }

  stop (): void {
    this.mempool.off('added', this.onAdded)
    this.flush()
  }

  private queue (bytes: Uint8Array): void {
    this.batch.push(bytes)
    this.batchBytes += bytes.length
    if (this.batch.length >= TX_BATCH_MAX || this.batchBytes >= TX_BATCH_BYTES) this.flush()
    else if (this.flushTimer === null) this.flushTimer = setTimeout(() => this.flush(), TX_BATCH_MS)
  }

  private flush (): void {
    if (this.flushTimer !== null) { clearTimeout(this.flushTimer); this.flushTimer = null }
    if (this.batch.length === 0) return
    const msg = pack(this.batch)
    this.batch = []
    this.batchBytes = 0
    void this.net.publish('txs', msg).catch(e => this.log.debug({ err: e }, 'publish txs failed'))
  }

  /** A batch of txs from a peer. */
  onGossip (data: Uint8Array): Verdict | Promise<Verdict> {
    let list: unknown
    try { list = unpack(data) } catch { return 'reject' }
    if (!Array.isArray(list) || list.length === 0 || list.length > TX_BATCH_MAX || !list.every(b => b instanceof Uint8Array)) return 'reject'
    if (this.intake !== undefined) return this.onGossipPooled(list as Uint8Array[], this.intake)
    let bad = false
    let added = 0
    for (const b of list as Uint8Array[]) {
      try {
        this.mempool.add(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), 'p2p')
        added++
      } catch (e) {
        if (!(e instanceof TxError)) continue
        if (e.permanent) bad = true
      }
    }
    return bad ? 'reject' : added > 0 ? 'accept' : 'ignore'
  }

  private async onGossipPooled (list: Uint8Array[], intake: TxIntake): Promise<Verdict> {
    let bad = false
    let added = 0
    const waits: Array<Promise<unknown>> = []
    const fail = (e: unknown): void => { if (e instanceof TxError && e.permanent) bad = true }
    for (const b of list) {
      try {
        const tx = intake.precheck(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
        waits.push(intake.complete(tx, 'p2p').then(() => { added++ }, fail))
      } catch (e) {
        if (!(e instanceof TxError)) continue
        fail(e)
      }
    }
    await Promise.all(waits)
    return bad ? 'reject' : added > 0 ? 'accept' : 'ignore'
  }
}
