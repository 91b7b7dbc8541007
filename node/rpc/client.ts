// A JSON-RPC client of the node for the CLI, the miner and the coordinator: HTTP with retries
// (network errors only, exponential backoff) and typed helpers for the AITBC methods.
import WebSocket from 'ws'
import { toBase64 } from '../core/crypto.ts'

export class RpcClientError extends Error {
  constructor (message: string, readonly code?: number, readonly data?: unknown) { super(message); this.name = 'RpcClientError' }
}
export class RpcNetworkError extends Error {
  constructor (message: string) { super(message); this.name = 'RpcNetworkError' }
}

export interface RpcClientOptions { retries?: number, backoffMs?: number, timeoutMs?: number }

export class NodeClient {
  private id = 0
  readonly url: string
  constructor (url: string, private readonly opts: RpcClientOptions = {}) {
    this.url = url.replace(/\/+$/, '')
  }

  async call<T = any> (method: string, params: Record<string, unknown> = {}): Promise<T> {
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
          body: JSON.stringify({ jsonrpc: '2.0', id: ++this.id, method, params }),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        })
      } catch (e) {
        lastErr = new RpcNetworkError(`cannot reach the node at ${this.url}: ${causeOf(e)}`)
        continue
      }
      const text = await res.text()
      let body: any
      try { body = JSON.parse(text) } catch { throw new RpcClientError(`the node at ${this.url} answered HTTP ${res.status} with non-JSON: ${text.slice(0, 200)}`) }
      if (body.error !== undefined) throw new RpcClientError(String(body.error.message ?? 'unknown error'), body.error.code, body.error.data)
      return body.result as T
    }
    throw lastErr ?? new RpcNetworkError('request failed')
  }

  async broadcastSync (tx: Uint8Array): Promise<{ code: number, log: string, hash: string }> {
    return await this.call('broadcast_tx_sync', { tx: toBase64(tx) })
  }

  async broadcastCommit (tx: Uint8Array): Promise<any> {
    return await this.call('broadcast_tx_commit', { tx: toBase64(tx) })
  }

  async account (address: string): Promise<{ address: string, balance: string, nonce: string, pending_nonce: string, bonded: string, unbonding: string }> {
    return await this.call('aitbc_account', { address })
  }

  async job (jobId: string): Promise<any> { return await this.call('aitbc_job', { job_id: jobId }) }
  async params (): Promise<any> { return await this.call('aitbc_params') }
  async status (): Promise<any> { return await this.call('status') }

  /** Waits until a tx is in a block (polls `tx`), up to timeoutMs. */
  async waitTx (hash: string, timeoutMs = 30_000, pollMs = 250): Promise<any> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        return await this.call('tx', { hash })
      } catch (e) {
        if (!(e instanceof RpcClientError) || !/not found/.test(e.message)) throw e
      }
      if (Date.now() > deadline) throw new RpcNetworkError(`tx ${hash} was not committed within ${timeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, pollMs))
    }
  }

  /** Opens a WebSocket subscription; `onEvent` gets each event's result. */
  subscribe (query: string, onEvent: (result: any) => void, onClose?: (err?: Error) => void): Promise<{ close: () => void }> {
    const wsUrl = this.url.replace(/^http/, 'ws') + '/websocket'
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl)
      const subId = 1
      let opened = false
      ws.on('open', () => {
        opened = true
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: subId, method: 'subscribe', params: { query } }))
      })
      ws.on('message', (data) => {
        let msg: any
        try { msg = JSON.parse(data.toString()) } catch { return }
        if (msg.id !== subId) return
        if (msg.error !== undefined) { reject(new RpcClientError(msg.error.message, msg.error.code)); ws.close(); return }
        if (msg.result?.query === undefined) { resolve({ close: () => ws.close() }); return }
        onEvent(msg.result)
      })
      ws.on('error', (e) => { if (!opened) reject(new RpcNetworkError(`cannot open ${wsUrl}: ${causeOf(e)}`)) })
      ws.on('close', () => onClose?.())
    })
  }
}

function causeOf (e: unknown): string {
  const err = e as any
  return String(err?.cause?.code ?? err?.cause?.message ?? err?.code ?? err?.message ?? e)
}
