// The mempool: the same checks as block execution (applyTx in 'check' mode) against the pending
// state, i.e. the committed state plus every ready tx. Several txs per sender in nonce order;
// bounded by count and bytes; re-checked after every block, evicting txs the block made invalid.
// A tx whose nonce is ahead of its sender's pending nonce waits in a bounded queue of future
// nonces (per sender and in all) until the gap fills, then is promoted (and only then gossiped);
// it expires after `queueExpiryBlocks` blocks. docs/protocol.md 2.7.
import { EventEmitter } from 'node:events'
import { decodeTx, type Tx } from '../core/tx.ts'
import { TxError, type TxErrorCode } from '../core/errors.ts'
import { sha256Once, toHexUpper, verifySignature } from '../core/crypto.ts'
import { applyTx, checkTxStatic, type BlockContext, type TxResult } from '../core/transition.ts'
import { Overlay } from '../core/state.ts'
import type { Chain, CommittedBlock } from './chain.ts'
import type { Logger } from '../logger.ts'

export interface MempoolOptions {
  maxTxs: number
  maxBytes: number
  /** Future-nonce txs one sender may have waiting; also how far ahead of its pending nonce a nonce may be. */
  maxQueuedPerSender?: number
  /** Future-nonce txs waiting in all. */
  maxQueued?: number
  /** Blocks a future-nonce tx may wait before it is dropped (TX_EXPIRED). */
  queueExpiryBlocks?: number
}
export const DEFAULT_MEMPOOL: Required<MempoolOptions> = { maxTxs: 50_000, maxBytes: 64 * 1024 * 1024, maxQueuedPerSender: 64, maxQueued: 10_000, queueExpiryBlocks: 100 }

type Source = 'rpc' | 'p2p'

export interface MempoolEvents {
  /** A tx became ready (added, or promoted from the queue). source: 'rpc' for txs a client sent here (to gossip), 'p2p' for txs a peer gossiped. */
  added: [Tx, Source]
  /** A tx (ready or queued) left the mempool without a block: evicted after a re-check, or expired in the queue. */
  evicted: [Tx, TxError]
}

/** What add() did with a tx: ready (in the pending state, gossiped, proposable) or queued (waits for a lower nonce). */
export interface AddResult { tx: Tx, result: TxResult, queued: boolean }

/** Txs that failed permanently, remembered by hash. */
export const MAX_REMEMBERED_REJECTS = 10_000
/** Txs that left the mempool without a block (evicted, expired), remembered by hash so that a client can find out why. */
export const MAX_REMEMBERED_DROPS = 10_000

interface Queued { tx: Tx, source: Source, height: number }

export interface DroppedTx { code: TxErrorCode, message: string, height: number }

export class Mempool extends EventEmitter<MempoolEvents> {
  private readonly txs = new Map<string, Tx>()
  /** Future-nonce txs: sender → nonce → entry. */
  private readonly queues = new Map<string, Map<number, Queued>>()
  private readonly queuedByHash = new Map<string, Queued>()
  private readonly rejects = new Map<string, { code: TxErrorCode, message: string }>()
  private readonly drops = new Map<string, DroppedTx>()
  /** Decodings (each with a signature check) done by add(): what a flood of resends costs. */
  verifications = 0
  private bytes = 0
  private queuedBytes = 0
  private pending!: Overlay
  readonly opts: Required<MempoolOptions>

  constructor (opts: MempoolOptions, private readonly chain: Chain, private readonly log: Logger) {
    super()
    this.opts = { ...DEFAULT_MEMPOOL, ...opts }
    this.setMaxListeners(1000)
    this.reset()
    chain.on('block', b => this.onBlock(b))
  }

  /** Ready txs (those a proposal may take). */
  get size (): number { return this.txs.size }
  /** Future-nonce txs waiting in the queue. */
  get queuedSize (): number { return this.queuedByHash.size }
  /** Bytes of the ready txs. */
  get sizeBytes (): number { return this.bytes }
  get queuedBytesTotal (): number { return this.queuedBytes }
  /** True for a tx held here, ready or queued. */
  has (hash: string): boolean { return this.txs.has(hash) || this.queuedByHash.has(hash) }
  /** A ready tx (what a block's validation may take without another signature check). */
  get (hash: string): Tx | undefined { return this.txs.get(hash) }
  /** A held tx, ready or queued. */
  lookup (hash: string): { tx: Tx, queued: boolean } | undefined {
    const t = this.txs.get(hash)
    if (t !== undefined) return { tx: t, queued: false }
    const q = this.queuedByHash.get(hash)
    return q === undefined ? undefined : { tx: q.tx, queued: true }
  }

  /** Why a tx that was here left without a block (the last MAX_REMEMBERED_DROPS), or undefined. */
  dropped (hash: string): DroppedTx | undefined { return this.drops.get(hash) }

  /** The ready txs in arrival order (nonce order per sender). */
  list (limit = Infinity): Tx[] {
    const out: Tx[] = []
    for (const t of this.txs.values()) { if (out.length >= limit) break; out.push(t) }
    return out
  }

  /** The queued txs, by sender in nonce order. */
  listQueued (limit = Infinity): Tx[] {
    const out: Tx[] = []
    for (const q of this.queues.values()) {
      for (const n of [...q.keys()].sort((a, b) => a - b)) { if (out.length >= limit) return out; out.push((q.get(n) as Queued).tx) }
    }
    return out
  }

  /** The next nonce of an account counting the ready txs here (the gap a queued tx waits for). */
  pendingNonce (address: string): number { return this.pending.account(address)?.nonce ?? 0 }

  private checkContext (): BlockContext {
    return { chainId: this.chain.chainId, height: this.chain.height + 1, time: this.chain.meta.lastBlockTime, proposer: '', randomness: new Uint8Array(0) }
  }

  private reset (): void { this.pending = new Overlay(this.chain.state) }

  /**
   * Checks a raw tx (CheckTx) without adding it. Throws TxError. A future nonce that would be
   * queued answers code 0 with a log that says so.
   */
  check (bytes: Uint8Array): { tx: Tx, result: TxResult } {
    const tx = this.decode(bytes)
    const scratch = new Overlay(this.pending)
    try {
      return { tx, result: applyTx(scratch, tx, this.checkContext(), 'check') }
    } catch (e) {
      if (!(e instanceof TxError) || e.code !== 'NONCE_SKIPPED') throw e
      this.checkQueueable(tx)
      return { tx, result: { code: 0, log: this.queuedLog(tx, true), codespace: '', events: [] } }
    }
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
  rememberReject (hash: string, e: TxError): void {
    this.rejects.set(hash, { code: e.code, message: e.message })
    if (this.rejects.size > MAX_REMEMBERED_REJECTS) this.rejects.delete(this.rejects.keys().next().value as string)
  }

  /** Remembers why a tx left (or never entered: an async broadcast that failed its check) the mempool. */
  rememberDrop (hash: string, e: TxError): void {
    this.drops.delete(hash)
    this.drops.set(hash, { code: e.code, message: e.message, height: this.chain.height })
    if (this.drops.size > MAX_REMEMBERED_DROPS) this.drops.delete(this.drops.keys().next().value as string)
  }

  /**
   * What is decided by the bytes alone, before any signature check: the size, a tx held here
   * (ready or queued), one that failed permanently before, one already in a block, a full
   * mempool. Returns the tx hash. Throws TxError.
   */
  precheck (bytes: Uint8Array): string {
    this.checkSize(bytes)
    const hash = toHexUpper(sha256Once(bytes))
    this.precheckHash(hash, bytes.length)
    return hash
  }

  private precheckHash (hash: string, length: number): void {
    if (this.txs.has(hash)) throw new TxError('TX_IN_MEMPOOL', `tx ${hash} is already in the mempool`)
    if (this.queuedByHash.has(hash)) throw new TxError('TX_IN_MEMPOOL', `tx ${hash} is already in the mempool (queued for a lower nonce)`)
    const known = this.rejects.get(hash)
    if (known !== undefined) throw new TxError(known.code, known.message).asPermanent()
    if (this.txs.size >= this.opts.maxTxs || this.bytes + this.queuedBytes + length > this.opts.maxBytes) {
      throw new TxError('MEMPOOL_FULL', `mempool is full (${this.txs.size} txs, ${this.bytes + this.queuedBytes} bytes; limits ${this.opts.maxTxs} txs, ${this.opts.maxBytes} bytes): try again later`)
    }
  }

  /**
   * Before the signature check: a nonce below the pending nonce can never pass here. A tx
   * already in a block (a resend) answers TX_ALREADY_COMMITTED, another NONCE_USED; only
   * such a tx costs a database read (every tx in a block used its sender's nonce).
   */
  checkNonceEarly (tx: Tx): void {
    const pn = this.pendingNonce(tx.sender)
    if (tx.nonce >= pn) return
    if (this.chain.store.txCommittedSync(tx.hash)) throw new TxError('TX_ALREADY_COMMITTED', `tx ${tx.hash} is already in a block`)
    throw new TxError('NONCE_USED', `nonce ${tx.nonce} was already used; the next nonce of ${tx.sender} is ${pn}`)
  }

  /**
   * Adds a raw tx after the full check. Throws TxError (full, duplicate, invalid). What is known
   * by its hash is answered before any signature is checked: a tx already here or committed, or
   * one that failed permanently before (a resend of a known-bad tx costs a hash, not a verify).
   * A tx whose nonce is ahead of the pending nonce is queued (AddResult.queued).
   */
  add (bytes: Uint8Array, source: Source = 'rpc'): AddResult {
    const hash = this.precheck(bytes)
    let tx: Tx
    try {
      tx = decodeTx(bytes, { verify: false })
    } catch (e) {
      if (e instanceof TxError && e.permanent) this.rememberReject(hash, e)
      throw e
    }
    this.checkNonceEarly(tx)
    this.verifications++
    if (!verifySignature(tx.senderPubkey, tx.signBytes, tx.signature)) {
      const e = new TxError('BAD_SIGNATURE', 'signature does not verify for sender_pubkey').asPermanent()
      this.rememberReject(hash, e)
      throw e
    }
    return this.admit(tx, source)
  }

  /**
   * Admits a tx already decoded with its signature verified (the RPC intake verifies on a
   * worker pool): the hash checks again (another copy may have come in meanwhile), then the
   * state check. Throws TxError.
   */
  admit (tx: Tx, source: Source = 'rpc'): AddResult {
    this.precheckHash(tx.hash, tx.bytes.length)
    let result: TxResult
    try {
      result = applyTx(this.pending, tx, this.checkContext(), 'check')
    } catch (e) {
      if (e instanceof TxError && e.code === 'NONCE_SKIPPED') {
        this.enqueue(tx, source)
        return { tx, result: { code: 0, log: this.queuedLog(tx, false), codespace: '', events: [] }, queued: true }
      }
      if (e instanceof TxError && e.permanent) this.rememberReject(tx.hash, e)
      // Committed while its signature was checked (a block from another proposer): say so exactly.
      if (e instanceof TxError && e.code === 'NONCE_USED' && this.chain.store.txCommittedSync(tx.hash)) throw new TxError('TX_ALREADY_COMMITTED', `tx ${tx.hash} is already in a block`)
      throw e
    }
    this.insertReady(tx)
    this.emit('added', tx, source)
    this.promote(tx.sender)
    return { tx, result, queued: false }
  }

  private insertReady (tx: Tx): void {
    this.txs.set(tx.hash, tx)
    this.bytes += tx.bytes.length
  }

  private queuedLog (tx: Tx, wouldBe: boolean): string {
    const pn = this.pendingNonce(tx.sender)
    return `${wouldBe ? 'would be queued' : 'queued'}: nonce ${tx.nonce} waits for nonce ${pn} of ${tx.sender} (${tx.nonce - pn} ahead); ` +
      `it is proposed and gossiped once the nonces before it are here, and dropped (TX_EXPIRED) if that takes more than ${this.opts.queueExpiryBlocks} blocks`
  }

  /** The checks a future-nonce tx must pass to wait in the queue (static checks, caps, a duplicate nonce, the fees). Throws TxError. */
  private checkQueueable (tx: Tx): void {
    checkTxStatic(tx, this.chain.chainId, this.pending.params) // already passed inside applyTx; kept for requeues
    const pn = this.pendingNonce(tx.sender)
    const cap = this.opts.maxQueuedPerSender
    const q = this.queues.get(tx.sender)
    const other = q?.get(tx.nonce)
    if (other !== undefined) throw new TxError('TX_IN_MEMPOOL', `nonce ${tx.nonce} of ${tx.sender} is already queued by tx ${other.tx.hash}`)
    if (tx.nonce - pn > cap) {
      throw new TxError('MEMPOOL_QUEUE_FULL', `nonce ${tx.nonce} is ${tx.nonce - pn} ahead of the next nonce ${pn} of ${tx.sender}; at most ${cap} future nonces (up to ${pn + cap}) may wait: send the nonces before it first`)
    }
    if ((q?.size ?? 0) >= cap) throw new TxError('MEMPOOL_QUEUE_FULL', `${tx.sender} has ${cap} txs queued for lower nonces, the most one sender may have: send nonce ${pn} first`)
    if (this.queuedByHash.size >= this.opts.maxQueued) {
      throw new TxError('MEMPOOL_QUEUE_FULL', `the mempool's queue of future-nonce txs is full (${this.opts.maxQueued} txs): send nonce ${pn} of ${tx.sender} first, or try again later`)
    }
    const acc = this.pending.account(tx.sender)
    const balance = acc?.balance ?? 0n
    let fees = tx.fee
    if (q !== undefined) for (const e of q.values()) fees += e.tx.fee
    if (balance < fees) {
      throw new TxError('INSUFFICIENT_FUNDS', `${tx.sender} cannot pay the fees of its queued txs: they come to ${fees} uaitbc with this one, its balance after its pending txs is ${balance} uaitbc`)
    }
  }

  private enqueue (tx: Tx, source: Source): void {
    this.checkQueueable(tx)
    const e: Queued = { tx, source, height: this.chain.height }
    let q = this.queues.get(tx.sender)
    if (q === undefined) { q = new Map(); this.queues.set(tx.sender, q) }
    q.set(tx.nonce, e)
    this.queuedByHash.set(tx.hash, e)
    this.queuedBytes += tx.bytes.length
    this.log.debug({ tx: tx.hash, sender: tx.sender, nonce: tx.nonce }, 'queued future-nonce tx')
  }

  private unqueue (e: Queued): void {
    const q = this.queues.get(e.tx.sender)
    if (q?.get(e.tx.nonce) === e) {
      q.delete(e.tx.nonce)
      if (q.size === 0) this.queues.delete(e.tx.sender)
    }
    if (this.queuedByHash.delete(e.tx.hash)) this.queuedBytes -= e.tx.bytes.length
  }

  /** Moves a sender's queued txs whose turn has come into the pending state, in nonce order. */
  private promote (sender: string): void {
    const q = this.queues.get(sender)
    if (q === undefined) return
    const ctx = this.checkContext()
    for (;;) {
      const e = q.get(this.pendingNonce(sender))
      if (e === undefined) return
      this.unqueue(e)
      try {
        applyTx(this.pending, e.tx, ctx, 'check')
      } catch (err) {
        if (!(err instanceof TxError)) throw err
        this.drop(e.tx, err, 'queued tx failed its check when its turn came')
        return
      }
      this.insertReady(e.tx)
      this.emit('added', e.tx, e.source)
    }
  }

  private drop (tx: Tx, e: TxError, why: string): void {
    this.rememberDrop(tx.hash, e)
    this.log.info({ tx: tx.hash, sender: tx.sender, nonce: tx.nonce, code: e.code, reason: e.message }, why)
    this.emit('evicted', tx, e)
  }

  /**
   * After a block: drop its txs, rebuild the pending state and re-check the rest in order; a tx
   * left behind by an evicted one (NONCE_SKIPPED now) goes back to the queue. Then queued txs
   * whose nonce was used are dropped, those that waited too long expire, and the rest are
   * promoted where the gap filled.
   */
  private onBlock (b: CommittedBlock): void {
    for (const tx of b.txs) {
      const t = this.txs.get(tx.hash)
      if (t !== undefined) { this.txs.delete(tx.hash); this.bytes -= t.bytes.length }
      const q = this.queuedByHash.get(tx.hash)
      if (q !== undefined) this.unqueue(q)
    }
    this.reset()
    if (this.txs.size === 0 && this.queuedByHash.size === 0) return
    const ctx = this.checkContext()
    for (const [hash, tx] of this.txs) {
      try {
        applyTx(this.pending, tx, ctx, 'check')
      } catch (e) {
        if (!(e instanceof TxError)) throw e
        this.txs.delete(hash)
        this.bytes -= tx.bytes.length
        if (e.code === 'NONCE_SKIPPED') {
          try {
            this.enqueue(tx, 'p2p') // peers have it already: it is not gossiped again
            this.log.debug({ tx: hash, sender: tx.sender, nonce: tx.nonce }, 'tx behind an evicted one went back to the queue')
            continue
          } catch (qe) {
            if (!(qe instanceof TxError)) throw qe
            this.drop(tx, qe, 'evicted tx after re-check (it could not go back to the queue)')
            continue
          }
        }
        this.drop(tx, e, 'evicted tx after re-check')
      }
    }
    const height = b.block.header.height
    for (const [sender, q] of [...this.queues]) {
      const next = this.pendingNonce(sender)
      for (const e of [...q.values()]) {
        if (e.tx.nonce < next) {
          this.unqueue(e)
          this.drop(e.tx, new TxError('NONCE_USED', `nonce ${e.tx.nonce} was used while this tx waited in the queue; the next nonce of ${sender} is ${next}`), 'dropped queued tx whose nonce was used')
        } else if (height - e.height >= this.opts.queueExpiryBlocks) {
          this.unqueue(e)
          this.drop(e.tx, new TxError('TX_EXPIRED', `tx waited ${height - e.height} blocks in the queue for nonce ${next} of ${sender} (the limit is ${this.opts.queueExpiryBlocks} blocks); send the missing nonces, then this tx again`), 'queued tx expired')
        }
      }
      this.promote(sender)
    }
  }
}
