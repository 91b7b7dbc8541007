// Where transactions come in (RPC broadcasts and gossip): the mempool's checks by hash first
// (no signature check for a tx already here, committed or known bad), a decode without the
// signature, the signature on the VerifyPool's workers (batched), then the mempool's admission
// on the main thread. One path for every source, as the mempool's add() (which verifies inline).
import { decodeTx, type Tx } from '../core/tx.ts'
import { TxError } from '../core/errors.ts'
import type { Mempool, AddResult } from './mempool.ts'
import type { VerifyPool } from './verifyPool.ts'
import type { Logger } from '../logger.ts'

export class TxIntake {
  /** Txs whose signature is being checked, by hash: a second copy meanwhile is TX_IN_MEMPOOL. */
  private readonly inflight = new Set<string>()

  constructor (private readonly mempool: Mempool, private readonly pool: VerifyPool, private readonly log: Logger) {}

  /**
   * The checks that need no signature and no state: size, hash (duplicate, committed, known bad,
   * full), decoding. Throws TxError; returns the decoded tx, its signature not yet checked.
   */
  precheck (bytes: Uint8Array): Tx {
    const hash = this.mempool.precheck(bytes)
    if (this.inflight.has(hash)) throw new TxError('TX_IN_MEMPOOL', `tx ${hash} is already in the mempool (its signature is being checked)`)
    let tx: Tx
    try {
      tx = decodeTx(bytes, { verify: false })
    } catch (e) {
      if (e instanceof TxError && e.permanent) this.mempool.rememberReject(hash, e)
      throw e
    }
    this.mempool.checkNonceEarly(tx)
    return tx
  }

  /** Checks the signature of a prechecked tx, then admits it to the mempool. Rejects with TxError. */
  async complete (tx: Tx, source: 'rpc' | 'p2p'): Promise<AddResult> {
    this.inflight.add(tx.hash)
    let ok: boolean
    try {
      this.mempool.verifications++
      ok = await this.pool.verify(tx.senderPubkey, tx.signBytes, tx.signature)
    } finally {
      this.inflight.delete(tx.hash)
    }
    if (!ok) {
      const e = new TxError('BAD_SIGNATURE', 'signature does not verify for sender_pubkey').asPermanent()
      this.mempool.rememberReject(tx.hash, e)
      throw e
    }
    return this.mempool.admit(tx, source)
  }

  /** The whole check and admission. Rejects with TxError. */
  async submit (bytes: Uint8Array, source: 'rpc' | 'p2p' = 'rpc'): Promise<AddResult> {
    return await this.complete(this.precheck(bytes), source)
  }

  /**
   * broadcast_tx_async: the checks by hash and the decoding answer at once (thrown); the
   * signature and the state check finish later. A tx that fails them is logged and remembered
   * by hash (Mempool.dropped, what `tx` answers for it): never dropped silently.
   */
  submitAsync (bytes: Uint8Array): Tx {
    const tx = this.precheck(bytes)
    this.complete(tx, 'rpc').catch((e: unknown) => {
      if (!(e instanceof TxError)) { this.log.error({ err: e, tx: tx.hash }, 'async broadcast failed'); return }
      this.mempool.rememberDrop(tx.hash, e)
      this.log.info({ tx: tx.hash, sender: tx.sender, nonce: tx.nonce, code: e.code, reason: e.message }, 'async broadcast refused by the mempool check')
    })
    return tx
  }
}
