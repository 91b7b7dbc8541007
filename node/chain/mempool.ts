// The mempool: the same checks as block execution (applyTx in 'check' mode) against the pending
// state, i.e. the committed state plus every tx already accepted. Several txs per sender in
// nonce order; bounded by count and bytes; re-checked after every block, evicting txs the block
// made invalid.
import { EventEmitter } from 'node:events'
import { decodeTx, type Tx } from '../core/tx.ts'
import { TxError, type TxErrorCode } from '../core/errors.ts'
import { sha256, toHexUpper } from '../core/crypto.ts'
import { applyTx, type BlockContext, type TxResult } from '../core/transition.ts'
import { Overlay } from '../core/state.ts'
import type { Chain, CommittedBlock } from './chain.ts'
import type { Logger } from '../logger.ts'

export interface MempoolOptions { maxTxs: number, maxBytes: number }
export const DEFAULT_MEMPOOL: MempoolOptions = { maxTxs: 50_000, maxBytes: 64 * 1024 * 1024 }

export interface MempoolEvents {
  /** source: 'rpc' for txs a client sent here (to gossip), 'p2p' for txs a peer gossiped. */
  added: [Tx, 'rpc' | 'p2p']
  evicted: [Tx, TxError]
}

/** Txs that failed permanently, remembered by hash. */
export const MAX_REMEMBERED_REJECTS = 10_000

export class Mempool extends EventEmitter<MempoolEvents> {
  private readonly txs = new Map<string, Tx>()
  private readonly rejects = new Map<string, { code: TxErrorCode, message: string }>()
  /** Decodings (each with a signature check) done by add(): what a flood of resends costs. */
  verifications = 0
  private bytes = 0
  private pending!: Overlay

  constructor (private readonly opts: MempoolOptions, private readonly chain: Chain, private readonly log: Logger) {
    super()
    this.setMaxListeners(1000)
    this.reset()
    chain.on('block', b => this.onBlock(b))
  }

  get size (): number { return this.txs.size }
  get sizeBytes (): number { return this.bytes }
  has (hash: string): boolean { return this.txs.has(hash) }
  get (hash: string): Tx | undefined { return this.txs.get(hash) }
  /** The txs in arrival order (nonce order per sender). */
  list (limit = Infinity): Tx[] {
    const out: Tx[] = []
    for (const t of this.txs.values()) { if (out.length >= limit) break; out.push(t) }
    return out
  }

  /** The next nonce of an account counting the txs waiting here (what a client should sign next). */
  pendingNonce (address: string): number { return this.pending.account(address)?.nonce ?? 0 }

  private checkContext (): BlockContext {
    return { chainId: this.chain.chainId, height: this.chain.height + 1, time: this.chain.meta.lastBlockTime, proposer: '', randomness: new Uint8Array(0) }
  }

  private reset (): void { this.pending = new Overlay(this.chain.state) }

  /**
   * Checks a raw tx (CheckTx) without adding it. Throws TxError.
   */
  check (bytes: Uint8Array): { tx: Tx, result: TxResult } {
    const tx = this.decode(bytes)
    const scratch = new Overlay(this.pending)
    return { tx, result: applyTx(scratch, tx, this.checkContext(), 'check') }
  }

  private decode (bytes: Uint8Array): Tx {
    this.checkSize(bytes)
    return decodeTx(bytes)
  }

  private checkSize (bytes: Uint8Array): void {
    const max = this.chain.params.maxTxBytes
    if (bytes.length > max) throw new TxError('TX_TOO_LARGE', `transaction is ${bytes.length} bytes, max_tx_bytes is ${max}`).asPermanent()
    if (bytes.length === 0) throw new TxError('TX_DECODE', 'not a transaction: empty').asPermanent()
  }

  /** Keeps a permanently failed tx's answer by its hash (bounded: the oldest go first). */
  private rememberReject (hash: string, e: TxError): void {
    this.rejects.set(hash, { code: e.code, message: e.message })
    if (this.rejects.size > MAX_REMEMBERED_REJECTS) this.rejects.delete(this.rejects.keys().next().value as string)
  }

  /**
   * Adds a raw tx after the full check. Throws TxError (full, duplicate, invalid). What is known
   * by its hash is answered before any signature is checked: a tx already here or committed, or
   * one that failed permanently before (a resend of a known-bad tx costs a hash, not a verify).
   */
  add (bytes: Uint8Array, source: 'rpc' | 'p2p' = 'rpc'): { tx: Tx, result: TxResult } {
    this.checkSize(bytes)
    const hash = toHexUpper(sha256(bytes))
    if (this.txs.has(hash)) throw new TxError('TX_IN_MEMPOOL', `tx ${hash} is already in the mempool`)
    const known = this.rejects.get(hash)
    if (known !== undefined) throw new TxError(known.code, known.message).asPermanent()
    if (this.chain.store.txCommittedSync(hash)) throw new TxError('TX_ALREADY_COMMITTED', `tx ${hash} is already in a block`)
    if (this.txs.size >= this.opts.maxTxs || this.bytes + bytes.length > this.opts.maxBytes) {
      throw new TxError('MEMPOOL_FULL', `mempool is full (${this.txs.size} txs, ${this.bytes} bytes; limits ${this.opts.maxTxs} txs, ${this.opts.maxBytes} bytes): try again later`)
    }
    let tx: Tx
    let result: TxResult
    try {
      this.verifications++
      tx = decodeTx(bytes)
      result = applyTx(this.pending, tx, this.checkContext(), 'check')
    } catch (e) {
      if (e instanceof TxError && e.permanent) this.rememberReject(hash, e)
      throw e
    }
    this.txs.set(tx.hash, tx)
    this.bytes += tx.bytes.length
    this.emit('added', tx, source)
    return { tx, result }
  }

  /** After a block: drop its txs, rebuild the pending state and re-check the rest in order. */
  private onBlock (b: CommittedBlock): void {
    for (const tx of b.txs) {
      const t = this.txs.get(tx.hash)
      if (t !== undefined) { this.txs.delete(tx.hash); this.bytes -= t.bytes.length }
    }
    this.reset()
    if (this.txs.size === 0) return
    const ctx = this.checkContext()
    for (const [hash, tx] of this.txs) {
      try {
        applyTx(this.pending, tx, ctx, 'check')
      } catch (e) {
        if (!(e instanceof TxError)) throw e
        this.txs.delete(hash)
        this.bytes -= tx.bytes.length
        this.log.debug({ tx: hash, code: e.code, reason: e.message }, 'evicted tx after re-check')
        this.emit('evicted', tx, e)
      }
    }
  }
}
