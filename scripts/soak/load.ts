// The soak load: transfers only, among accounts funded at genesis (so the supply is constant and
// every fee goes from a sender to a block proposer). Most accounts send JSON-RPC batches of
// broadcast_tx_sync to their home validator, at most `window` txs ahead of their committed
// nonce; one account per validator sends one broadcast_tx_commit at a time, and every height
// such an answer names is reported to the checker. A client whose validator is down or
// recovering moves to the next one that is up, reading its nonce there again. The mempool has
// no queue of future nonces, so every account keeps to one node at a time.
import { signTx, type Tx } from '../../node/core/tx.ts'
import type { SigningKey } from '../../node/core/crypto.ts'
import { toBase64 } from '../../node/core/crypto.ts'
import { RpcClientError, MAX_BATCH } from '../../node/rpc/client.ts'
import type { BroadcastTxResult } from '../../node/rpc/types.ts'
import { pickMember, type Member } from './members.ts'
import type { Stopper } from './util.ts'

export const FEE = 1000n
export const AMOUNT = 1000n

export interface LoadAccount { key: SigningKey, to: string, home: number, mode: 'batch' | 'commit' }

export interface LoadStats {
  /** broadcast_tx_sync answers with code 0. */
  accepted: number
  /** broadcast_tx_commit answers with a height. */
  commitAnswers: number
  /** Refusals by code name (NONCE_* and TX_IN_MEMPOOL are expected after a client moves node). */
  refused: Map<string, number>
  /** The first refusals that a move of node cannot explain. */
  unexpected: string[]
  /** Calls that failed on the network (the node was killed, or restarting). */
  networkErrors: number
  /** broadcast_tx_commit answered with an error (no block within the node's 10 s) or evicted. */
  commitMisses: number
}

/** Refusals that follow from a client moving node, or from a full mempool. */
const EXPECTED_REFUSALS = new Set(['NONCE_USED', 'NONCE_SKIPPED', 'TX_IN_MEMPOOL', 'TX_ALREADY_COMMITTED', 'MEMPOOL_FULL'])

/** Spreads `rate` txs a second over every caller: each takes its share before it sends. */
export class Pacer {
  private next = performance.now()
  constructor (private readonly rate: number, private readonly stop: Stopper) {}

  async take (n: number): Promise<void> {
    const now = performance.now()
    const at = Math.max(this.next, now - 1000) // at most one second of unused rate is caught up
    this.next = at + n * 1000 / this.rate
    await this.stop.pace(at - now)
  }
}

export class LoadGenerator {
  readonly stats: LoadStats = { accepted: 0, commitAnswers: 0, refused: new Map(), unexpected: [], networkErrors: 0, commitMisses: 0 }
  private readonly pacer: Pacer

  constructor (
    private readonly members: Member[],
    private readonly accounts: LoadAccount[],
    private readonly chainId: string,
    tps: number,
    private readonly window: number,
    private readonly stop: Stopper,
    private readonly onCommitAnswer: (hash: string, height: number, by: string) => void,
  ) {
    this.pacer = new Pacer(tps, stop)
  }

  async run (): Promise<void> {
    await Promise.all(this.accounts.map(async a => a.mode === 'batch' ? await this.batchSender(a) : await this.commitSender(a)))
  }

  private sign (a: LoadAccount, nonce: number): Tx {
    return signTx(a.key, { chainId: this.chainId, nonce, fee: FEE, body: { type: 'transfer', to: a.to, amount: AMOUNT } })
  }

  private refusal (a: LoadAccount, node: string, log: string): void {
    const name = /^([A-Z_]+):/.exec(log)?.[1] ?? 'OTHER'
    this.stats.refused.set(name, (this.stats.refused.get(name) ?? 0) + 1)
    if (!EXPECTED_REFUSALS.has(name) && this.stats.unexpected.length < 20) this.stats.unexpected.push(`${a.key.address} on ${node}: ${log}`)
  }

  /** A failed call: an RPC error is counted as a refusal, anything else as the node being away. */
  private failure (a: LoadAccount, node: string, e: unknown): void {
    if (e instanceof RpcClientError && !/non-JSON/.test(e.message)) this.refusal(a, node, `RPC_ERROR: ${e.message}`)
    else this.stats.networkErrors++
  }

  private async batchSender (a: LoadAccount): Promise<void> {
    let member: Member | undefined
    let nonce: number | null = null
    while (!this.stop.stopped) {
      const m = pickMember(this.members, a.home)
      if (m === undefined) { await this.stop.pace(200); continue }
      if (m !== member) { member = m; nonce = null }
      try {
        const acct = await m.loadClient.account(a.key.address)
        if (nonce === null) nonce = Number(acct.pending_nonce)
        if (nonce - Number(acct.nonce) >= this.window) { await this.stop.pace(100); continue } // pacing: the chain is behind
        await this.pacer.take(MAX_BATCH)
        if (this.stop.stopped) break
        const txs = Array.from({ length: MAX_BATCH }, (_, i) => this.sign(a, (nonce as number) + i))
        const answers = await m.loadClient.batch(txs.map(tx => ({ method: 'broadcast_tx_sync' as const, params: { tx: toBase64(tx.bytes) } })))
        let ok = 0
        for (const ans of answers) {
          if (ans.ok && (ans.result as BroadcastTxResult).code === 0) { ok++; continue }
          this.refusal(a, m.name, ans.ok ? (ans.result as BroadcastTxResult).log : `RPC_ERROR: ${ans.error.message}`)
          break
        }
        this.stats.accepted += ok
        if (ok === txs.length) nonce += ok
        else { nonce = null; if (ok === 0) await this.stop.pace(50) }
      } catch (e) {
        this.failure(a, m.name, e)
        nonce = null
        await this.stop.pace(100)
      }
    }
  }

  private async commitSender (a: LoadAccount): Promise<void> {
    let member: Member | undefined
    let nonce: number | null = null
    while (!this.stop.stopped) {
      const m = pickMember(this.members, a.home)
      if (m === undefined) { await this.stop.pace(200); continue }
      if (m !== member) { member = m; nonce = null }
      try {
        if (nonce === null) nonce = Number((await m.loadClient.account(a.key.address)).pending_nonce)
        await this.pacer.take(1)
        if (this.stop.stopped) break
        const tx = this.sign(a, nonce)
        const r = await m.loadClient.broadcastCommit(tx.bytes)
        if (r.check_tx.code !== 0) { this.refusal(a, m.name, r.check_tx.log); nonce = null; continue }
        if (r.height === '0') { this.stats.commitMisses++; nonce = null; continue }
        if (r.tx_result.code !== 0) this.refusal(a, m.name, `COMMITTED_WITH_ERROR: ${r.tx_result.log}`)
        this.stats.commitAnswers++
        this.onCommitAnswer(r.hash, Number(r.height), `broadcast_tx_commit on ${m.name}`)
        nonce++
      } catch (e) {
        if (e instanceof RpcClientError && /Timed out|timed out|timeout/i.test(e.message)) this.stats.commitMisses++
        else this.failure(a, m.name, e)
        nonce = null
        await this.stop.pace(100)
      }
    }
  }
}
