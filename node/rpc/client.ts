// The node's JSON-RPC client, for the CLI, the miner, the coordinator and other programs. Every
// method is typed by RpcMethods (node/rpc/types.ts), the same types the server's handlers
// return. HTTP calls retry network errors only, with exponential backoff; batches go in one
// request of at most MAX_BATCH calls; subscriptions confirm within a deadline and detect a
// silent connection by ping/pong.
import WebSocket from 'ws'
import { toBase64 } from '../core/crypto.ts'
import type {
  AccountResult, BroadcastTxCommitResult, BroadcastTxResult, JobJSON, JobsResult, MinerJSON, ParamsResult, ReceiptJSON, ResultTx,
  RpcMethodName, RpcMethods, RpcParams, RpcResult, StatusResult, SubscriptionEvent,
} from './types.ts'

export class RpcClientError extends Error {
  constructor (message: string, readonly code?: number, readonly data?: unknown) { super(message); this.name = 'RpcClientError' }
}
export class RpcNetworkError extends Error {
  constructor (message: string) { super(message); this.name = 'RpcNetworkError' }
}

export interface RpcClientOptions {
  /** Retries of a call after a network error (default 3). */
  retries?: number
  /** First backoff; each retry doubles it (default 200 ms). */
  backoffMs?: number
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number
}

/** The node's limit on calls in one JSON-RPC batch. */
export const MAX_BATCH = 10

export type BatchCall = { [M in RpcMethodName]: { method: M, params: RpcParams<M> } }[RpcMethodName]
export type BatchAnswer<T = unknown> = { ok: true, result: T } | { ok: false, error: RpcClientError }

export interface SubscribeOptions {
  /** Deadline for the connection and the node's confirmation (default 10 s). */
  timeoutMs?: number
  /** A ping every pingMs that gets no pong by the next one ends the subscription (default 15 s). */
  pingMs?: number
}

export interface Subscription {
  /** Ends the subscription (onClose is called with reason "closed"). */
  close: () => void
}

interface RpcAnswer { id?: unknown, result?: unknown, error?: { code?: number, message?: string, data?: unknown } }

export class NodeClient {
  private id = 0
  readonly url: string
  constructor (url: string, private readonly opts: RpcClientOptions = {}) {
    this.url = url.replace(/\/+$/, '')
  }

  /** One JSON-RPC call; RpcClientError carries the node's error code and message. */
  async call<M extends RpcMethodName> (method: M, params?: RpcParams<M>): Promise<RpcResult<M>> {
    const body = await this.post({ jsonrpc: '2.0', id: ++this.id, method, params: params ?? {} }) as RpcAnswer
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RpcClientError(`the node at ${this.url} answered ${method} with something that is not a JSON-RPC answer`)
    if (body.error !== undefined) throw new RpcClientError(String(body.error.message ?? 'unknown error'), body.error.code, body.error.data)
    return body.result as RpcResult<M>
  }

  /** Up to MAX_BATCH calls in one request; the answers come in the calls' order. */
  async batch (calls: BatchCall[]): Promise<BatchAnswer[]> {
    if (calls.length === 0) return []
    if (calls.length > MAX_BATCH) throw new Error(`a batch holds at most ${MAX_BATCH} calls`)
    const ids = calls.map(() => ++this.id)
    const body = await this.post(calls.map((c, i) => ({ jsonrpc: '2.0', id: ids[i], method: c.method, params: c.params })))
    if (!Array.isArray(body)) {
      const msg = (body as RpcAnswer | null)?.error?.message ?? 'not a batch answer'
      throw new RpcClientError(`the node refused a batch: ${String(msg)}`, (body as RpcAnswer | null)?.error?.code)
    }
    const byId = new Map<unknown, RpcAnswer>((body as RpcAnswer[]).map(r => [r?.id, r]))
    return ids.map(id => {
      const r = byId.get(id)
      if (r === undefined) return { ok: false, error: new RpcClientError('no answer in the batch') }
      if (r.error !== undefined) return { ok: false, error: new RpcClientError(String(r.error.message ?? 'unknown error'), r.error.code, r.error.data) }
      return { ok: true, result: r.result }
    })
  }

  /** Any number of calls, as batches of MAX_BATCH with at most `parallel` requests in flight. */
  async batchAll (calls: BatchCall[], parallel = 4): Promise<BatchAnswer[]> {
    const groups: BatchCall[][] = []
    for (let i = 0; i < calls.length; i += MAX_BATCH) groups.push(calls.slice(i, i + MAX_BATCH))
    const out: BatchAnswer[][] = new Array(groups.length)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < groups.length) {
        const g = next++
        out[g] = await this.batch(groups[g])
      }
    }
    await Promise.all(Array.from({ length: Math.min(parallel, groups.length) }, worker))
    return out.flat()
  }

  private async post (payload: unknown): Promise<unknown> {
    const retries = this.opts.retries ?? 3
    const backoff = this.opts.backoffMs ?? 200
    let lastErr: Error | undefined
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise(resolve => setTimeout(resolve, backoff * 2 ** (attempt - 1)))
      let res: Response
      try {
        res = await fetch(this.url + '/', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        })
      } catch (e) {
        lastErr = new RpcNetworkError(`cannot reach the node at ${this.url}: ${causeOf(e)}`)
        continue
      }
      const text = await res.text()
      try { return JSON.parse(text) } catch { throw new RpcClientError(`the node at ${this.url} answered HTTP ${res.status} with non-JSON: ${text.slice(0, 200)}`) }
    }
    throw lastErr ?? new RpcNetworkError('request failed')
  }

  // ---- the calls programs make most ----

  async status (): Promise<StatusResult> { return await this.call('status') }
  async params (): Promise<ParamsResult> { return await this.call('aitbc_params') }
  async account (address: string): Promise<AccountResult> { return await this.call('aitbc_account', { address }) }
  async job (jobId: string): Promise<JobJSON> { return await this.call('aitbc_job', { job_id: jobId }) }
  async jobs (q: RpcParams<'aitbc_jobs'> = {}): Promise<JobsResult> { return await this.call('aitbc_jobs', q) }
  async miner (address: string): Promise<MinerJSON> { return await this.call('aitbc_miner', { address }) }
  async receipt (id: string): Promise<ReceiptJSON> { return await this.call('aitbc_receipt', { id }) }
  async tx (hash: string): Promise<ResultTx> { return await this.call('tx', { hash }) }

  /** The latest height (0 before the first block). */
  async latestHeight (): Promise<number> { return Number((await this.status()).sync_info.latest_block_height) }

  async broadcastSync (tx: Uint8Array): Promise<BroadcastTxResult> {
    return await this.call('broadcast_tx_sync', { tx: toBase64(tx) })
  }

  async broadcastCommit (tx: Uint8Array): Promise<BroadcastTxCommitResult> {
    return await this.call('broadcast_tx_commit', { tx: toBase64(tx) })
  }

  /** Waits until a tx is in a block (polls `tx`), up to timeoutMs. */
  async waitTx (hash: string, timeoutMs = 30_000, pollMs = 250): Promise<ResultTx> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        return await this.tx(hash)
      } catch (e) {
        if (!(e instanceof RpcClientError) || !/not found/.test(e.message)) throw e
      }
      if (Date.now() > deadline) throw new RpcNetworkError(`tx ${hash} was not committed within ${timeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, pollMs))
    }
  }

  /**
   * Subscribes to events matching a CometBFT query over the node's /websocket. Resolves once the
   * node has confirmed the subscription; rejects when it refuses, when the socket cannot open or
   * closes first, or after timeoutMs. After that, `onEvent` gets each event and `onClose` is
   * called exactly once when the subscription ends for any reason (including close()).
   */
  async subscribe<D = SubscriptionEvent['data']> (query: string, onEvent: (e: SubscriptionEvent<D>) => void, onClose?: (reason: string) => void, opts: SubscribeOptions = {}): Promise<Subscription> {
    const wsUrl = this.url.replace(/^http/, 'ws') + '/websocket'
    const timeoutMs = opts.timeoutMs ?? 10_000
    const ws = new WebSocket(wsUrl, { handshakeTimeout: timeoutMs })
    const subId = `sub-${++this.id}`
    return await new Promise((resolve, reject) => {
      let confirmed = false
      let ended = false
      let alive = true
      let ping: NodeJS.Timeout | undefined
      const end = (reason: string, err?: Error): void => {
        if (ended) return
        ended = true
        clearTimeout(timer)
        if (ping !== undefined) clearInterval(ping)
        try { ws.terminate() } catch {}
        if (!confirmed) reject(err ?? new RpcNetworkError(`subscription to ${wsUrl} ended before the node confirmed it: ${reason}`))
        else onClose?.(reason)
      }
      const timer = setTimeout(() => end('timeout', new RpcNetworkError(`no answer to subscribe from ${wsUrl} within ${timeoutMs} ms`)), timeoutMs)
      ws.on('open', () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: subId, method: 'subscribe', params: { query } })))
      ws.on('pong', () => { alive = true })
      ws.on('message', (data) => {
        let msg: RpcAnswer
        try { msg = JSON.parse(data.toString()) } catch { return }
        if (msg.id !== subId) return
        if (msg.error !== undefined) { end('refused', new RpcClientError(String(msg.error.message), msg.error.code)); return }
        if (!confirmed) {
          confirmed = true
          clearTimeout(timer)
          ping = setInterval(() => {
            if (!alive) { end('no pong'); return }
            alive = false
            try { ws.ping() } catch {}
          }, opts.pingMs ?? 15_000)
          ping.unref()
          resolve({ close: () => end('closed') })
          return
        }
        const r = msg.result as SubscriptionEvent<D> | undefined
        if (r?.data !== undefined) onEvent(r)
      })
      ws.on('error', (e) => end(`error: ${e.message}`, new RpcNetworkError(`cannot open ${wsUrl}: ${causeOf(e)}`)))
      ws.on('close', () => end('connection closed'))
    })
  }
}

export type { RpcMethods }

function causeOf (e: unknown): string {
  const err = e as any
  return String(err?.cause?.code ?? err?.cause?.message ?? err?.code ?? err?.message ?? e)
}
