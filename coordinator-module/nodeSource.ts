// What the coordinator reads from its node, over the node's JSON-RPC only: single calls
// (NodeClient), JSON-RPC batches (at most 10 calls, the node's limit), blocks with their results
// by height range (`blockchain` for the headers, `block` for blocks with txs, `block_results`),
// and the `tm.event='NewBlock'` WebSocket subscription turned into the same BlockData.
import WebSocket from 'ws'
import { NodeClient, RpcClientError, RpcNetworkError } from '../node/rpc/client.ts'
import type { RpcMethodName, RpcParams, RpcResult } from '../node/rpc/types.ts'

export const MAX_BATCH = 10

export interface EventJSON { type: string, attributes: Array<{ key: string, value: string }> }
export interface TxResultJSON { code: number, log: string, codespace?: string, events: EventJSON[] }

/** One block as the indexer needs it, however it was obtained. */
export interface BlockData {
  height: number
  hash: string
  header: {
    chain_id: string
    height: string
    time: string
    last_block_id: { hash: string }
    app_hash: string
    data_hash: string
    proposer_address: string
    [k: string]: unknown
  }
  /** base64 tx bytes, in block order. */
  txs: string[]
  txResults: TxResultJSON[]
  finalizeEvents: EventJSON[]
}

export interface BatchCall { method: string, params: Record<string, unknown> }
export type BatchAnswer = { ok: true, result: any } | { ok: false, error: RpcClientError }

export class NodeSource {
  readonly client: NodeClient
  private id = 0

  constructor (readonly url: string, private readonly timeoutMs = 30_000) {
    this.client = new NodeClient(url, { retries: 0, timeoutMs })
  }

  async call<M extends RpcMethodName> (method: M, params?: RpcParams<M>): Promise<RpcResult<M>> {
    return await this.client.call(method, params)
  }

  /** One HTTP request of up to MAX_BATCH calls; answers in the calls' order. */
  async batch (calls: BatchCall[]): Promise<BatchAnswer[]> {
    if (calls.length === 0) return []
    if (calls.length > MAX_BATCH) throw new Error(`a batch holds at most ${MAX_BATCH} calls`)
    const ids = calls.map(() => ++this.id)
    let res: Response
    try {
      res = await fetch(this.client.url + '/', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(calls.map((c, i) => ({ jsonrpc: '2.0', id: ids[i], method: c.method, params: c.params }))),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (e) {
      const err = e as any
      throw new RpcNetworkError(`cannot reach the node at ${this.client.url}: ${String(err?.cause?.code ?? err?.cause?.message ?? err?.message ?? e)}`)
    }
    const text = await res.text()
    let body: any
    try { body = JSON.parse(text) } catch { throw new RpcClientError(`the node answered HTTP ${res.status} with non-JSON: ${text.slice(0, 200)}`) }
    if (!Array.isArray(body)) {
      const msg = body?.error?.message ?? 'not a batch answer'
      throw new RpcClientError(`the node refused a batch: ${String(msg)}`, body?.error?.code)
    }
    const byId = new Map<number, any>(body.map((r: any) => [r.id, r]))
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

  /** The node's latest height (0 before the first block). */
  async latestHeight (): Promise<number> {
    const s = await this.call('status')
    return Number(s.sync_info.latest_block_height)
  }

  /**
   * Blocks from..to (inclusive, at most 20: one `blockchain` page), with their results, in
   * height order. Throws when the node lacks one of them.
   */
  async blocks (from: number, to: number): Promise<BlockData[]> {
    if (to < from) return []
    if (to - from >= 20) throw new Error('at most 20 blocks at a time')
    const chain = await this.call('blockchain', { minHeight: String(from), maxHeight: String(to) })
    const metas = new Map<number, any>()
    for (const m of chain.block_metas as any[]) metas.set(Number(m.header.height), m)
    const calls: BatchCall[] = []
    const slots: Array<{ h: number, kind: 'block' | 'results' }> = []
    for (let h = from; h <= to; h++) {
      const meta = metas.get(h)
      if (meta === undefined) throw new RpcClientError(`the node has no block at height ${h} (blockchain answered up to ${String(chain.last_height)})`)
      calls.push({ method: 'block_results', params: { height: String(h) } })
      slots.push({ h, kind: 'results' })
      if (Number(meta.num_txs) > 0) {
        calls.push({ method: 'block', params: { height: String(h) } })
        slots.push({ h, kind: 'block' })
      }
    }
    const answers = await this.batchAll(calls)
    const results = new Map<number, any>()
    const blocks = new Map<number, any>()
    answers.forEach((a, i) => {
      const s = slots[i]
      if (!a.ok) throw new RpcClientError(`${s.kind === 'block' ? 'block' : 'block_results'} ${s.h}: ${a.error.message}`, a.error.code)
      ;(s.kind === 'block' ? blocks : results).set(s.h, a.result)
    })
    const out: BlockData[] = []
    for (let h = from; h <= to; h++) {
      const meta = metas.get(h)
      const r = results.get(h)
      const b = blocks.get(h)
      const txs: string[] = b === undefined ? [] : (b.block.data.txs ?? [])
      if (b !== undefined && b.block_id.hash !== meta.block_id.hash) throw new RpcClientError(`block ${h} changed between two reads`)
      out.push({
        height: h,
        hash: meta.block_id.hash,
        header: meta.header,
        txs,
        txResults: r.txs_results ?? [],
        finalizeEvents: r.finalize_block_events ?? [],
      })
    }
    return out
  }

  /**
   * Subscribes to NewBlock events over the node's /websocket. Resolves once the node confirmed
   * the subscription (or rejects after timeoutMs); then `onBlock` gets each block and `onClose`
   * is called once when the connection ends for any reason. A ping every pingMs that gets no
   * pong by the next one ends a connection that went silent.
   */
  async subscribeBlocks (onBlock: (b: BlockData) => void, onClose: (reason: string) => void, opts: { timeoutMs?: number, pingMs?: number } = {}): Promise<{ close: () => void }> {
    const wsUrl = this.client.url.replace(/^http/, 'ws') + '/websocket'
    const ws = new WebSocket(wsUrl, { handshakeTimeout: opts.timeoutMs ?? 5000 })
    let closed = false
    let alive = true
    let ping: NodeJS.Timeout | undefined
    const end = (reason: string): void => {
      if (closed) return
      closed = true
      if (ping !== undefined) clearInterval(ping)
      try { ws.terminate() } catch {}
      onClose(reason)
    }
    return await new Promise((resolve, reject) => {
      let confirmed = false
      const timer = setTimeout(() => { if (!confirmed) { reject(new RpcNetworkError(`no answer to subscribe from ${wsUrl}`)); end('subscribe timed out') } }, opts.timeoutMs ?? 5000)
      ws.on('open', () => {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'aitbc-coordinator', method: 'subscribe', params: { query: "tm.event='NewBlock'" } }))
      })
      ws.on('pong', () => { alive = true })
      ws.on('message', (data) => {
        let msg: any
        try { msg = JSON.parse(data.toString()) } catch { return }
        if (msg.id !== 'aitbc-coordinator') return
        if (msg.error !== undefined) {
          clearTimeout(timer)
          reject(new RpcClientError(String(msg.error.message), msg.error.code))
          end('subscribe refused')
          return
        }
        if (!confirmed) {
          confirmed = true
          clearTimeout(timer)
          ping = setInterval(() => {
            if (!alive) { end('no pong'); return }
            alive = false
            try { ws.ping() } catch {}
          }, opts.pingMs ?? 15_000)
          ping.unref()
          resolve({ close: () => end('closed by the coordinator') })
          return
        }
        const v = msg.result?.data?.value
        if (v?.block !== undefined) onBlock(blockDataFromEvent(v))
      })
      ws.on('error', (e) => {
        if (!confirmed) { clearTimeout(timer); reject(new RpcNetworkError(`cannot open ${wsUrl}: ${String((e as any)?.code ?? e.message)}`)) }
        end(`error: ${e.message}`)
      })
      ws.on('close', () => end('connection closed'))
    })
  }
}

export function blockDataFromEvent (v: any): BlockData {
  return {
    height: Number(v.block.header.height),
    hash: v.block_id.hash,
    header: v.block.header,
    txs: v.block.data.txs ?? [],
    txResults: v.result_finalize_block?.tx_results ?? [],
    finalizeEvents: v.result_finalize_block?.events ?? [],
  }
}
