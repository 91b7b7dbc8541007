// TxQueue: the miner's own transactions, sent one at a time so that consecutive txs of one key
// get consecutive nonces (the chain accepts a key's txs only in nonce order). Each send reads the account's pending_nonce (which counts the
// key's txs already in the mempool), signs and broadcasts (broadcast_tx_sync); a send starts only
// when the previous one has been accepted or refused, so two sends never sign the same nonce.
import { RpcClientError, signTx, TxCode, type NodeClient, type SigningKey, type TxBody } from '../node/client.ts'

/** The node refused the transaction at CheckTx: `code` is the numeric TxCode, `log` its reason. */
export class TxRefusedError extends Error {
  constructor (readonly txType: string, readonly code: number, readonly log: string) {
    super(`${txType} refused by the node (code ${code}): ${log}`)
    this.name = 'TxRefusedError'
  }
}

/** A tx that was accepted into the mempool but not committed (evicted, or its nonce used by another tx). */
export class TxDroppedError extends Error {
  constructor (readonly hash: string, message: string) { super(message); this.name = 'TxDroppedError' }
}

export interface SentTx { hash: string, nonce: number }

export class TxQueue {
  private tail: Promise<unknown> = Promise.resolve()

  constructor (
    private readonly client: NodeClient,
    private readonly key: SigningKey,
    private readonly chainId: string,
    private readonly fee: bigint,
  ) {}

  /** Signs `body` with the next nonce and broadcasts it, after every earlier send has finished. */
  send (body: TxBody): Promise<SentTx> {
    const run = async (): Promise<SentTx> => await this.sendNow(body)
    const p = this.tail.then(run, run)
    this.tail = p.catch(() => {})
    return p
  }

  private async sendNow (body: TxBody): Promise<SentTx> {
    for (let attempt = 0; ; attempt++) {
      const acct = await this.client.account(this.key.address)
      const nonce = Number(acct.pending_nonce)
      const tx = signTx(this.key, { chainId: this.chainId, nonce, fee: this.fee, body })
      const res = await this.client.broadcastSync(tx.bytes)
      // A retried broadcast of the same bytes (lost answer) finds its tx already there.
      if (res.code === TxCode.OK || res.code === TxCode.TX_IN_MEMPOOL || res.code === TxCode.TX_ALREADY_COMMITTED) return { hash: tx.hash, nonce }
      // Another sender of this key (or a block between our read and the broadcast) moved the nonce: read it again.
      if ((res.code === TxCode.NONCE_USED || res.code === TxCode.NONCE_SKIPPED) && attempt < 3) continue
      throw new TxRefusedError(body.type, res.code, res.log)
    }
  }

  /**
   * Waits until a sent tx is in a block and returns its height. Throws TxDroppedError when the tx is
   * no longer in the mempool and was not committed (the node evicted it after a block made it
   * invalid), or an Error after timeoutMs.
   */
  async waitCommitted (sent: SentTx, timeoutMs: number, pollMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      // Account first, then the tx: a tx committed between the two reads is found by the second.
      const acct = await this.client.account(this.key.address)
      try {
        const r = await this.client.tx(sent.hash)
        if (r.tx_result.code !== 0) throw new TxRefusedError('tx', r.tx_result.code, r.tx_result.log)
        return Number(r.height)
      } catch (e) {
        if (!(e instanceof RpcClientError) || !/not found/.test(e.message)) throw e
      }
      if (Number(acct.pending_nonce) <= sent.nonce || Number(acct.nonce) > sent.nonce) {
        throw new TxDroppedError(sent.hash, `tx ${sent.hash} (nonce ${sent.nonce}) was dropped from the mempool without being committed`)
      }
      if (Date.now() > deadline) throw new Error(`tx ${sent.hash} was not committed within ${timeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, pollMs))
    }
  }
}
