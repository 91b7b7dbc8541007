// Blocks as the coordinator's indexer reads them from its node, over the node's typed client
// (NodeClient) only: by height range (`blockchain` for the headers, then `block` for the blocks
// that hold txs and `block_results`, in JSON-RPC batches) and from the `tm.event='NewBlock'`
// subscription, both turned into the same BlockData.
import {
  RpcClientError,
  type BatchCall, type BlockMetaJSON, type BlockResultJSON, type BlockResultsResult, type EventJSON, type HeaderJSON, type NewBlockEventData,
  type NodeClient, type Subscription, type TxResultJSON,
} from '../node/client.ts'

/** One block as the indexer needs it, however it was obtained. */
export interface BlockData {
  height: number
  hash: string
  header: HeaderJSON
  /** base64 tx bytes, in block order. */
  txs: string[]
  txResults: TxResultJSON[]
  finalizeEvents: EventJSON[]
}

/** Blocks per `blocks()` call: one `blockchain` page. */
export const MAX_BLOCKS_PER_READ = 20

export interface NodeSourceOptions {
  /** Deadline for the subscription's confirmation (default 5 s). */
  subscribeTimeoutMs?: number
  /** Ping interval of the subscription (default 15 s). */
  pingMs?: number
}

export interface NodeSourceModules { client: NodeClient }

export class NodeSource {
  constructor (private readonly opts: NodeSourceOptions, private readonly m: NodeSourceModules) {}

  get url (): string { return this.m.client.url }

  /**
   * Blocks from..to (inclusive, at most MAX_BLOCKS_PER_READ), with their results, in height
   * order. Throws when the node lacks one of them.
   */
  async blocks (from: number, to: number): Promise<BlockData[]> {
    if (to < from) return []
    if (to - from >= MAX_BLOCKS_PER_READ) throw new Error(`at most ${MAX_BLOCKS_PER_READ} blocks at a time`)
    const chain = await this.m.client.call('blockchain', { minHeight: String(from), maxHeight: String(to) })
    const metas = new Map<number, BlockMetaJSON>()
    for (const meta of chain.block_metas) metas.set(Number(meta.header.height), meta)
    const calls: BatchCall[] = []
    const slots: Array<{ h: number, kind: 'block' | 'block_results' }> = []
    for (let h = from; h <= to; h++) {
      const meta = metas.get(h)
      if (meta === undefined) throw new RpcClientError(`the node has no block at height ${h} (blockchain answered up to ${chain.last_height})`)
      calls.push({ method: 'block_results', params: { height: String(h) } })
      slots.push({ h, kind: 'block_results' })
      if (Number(meta.num_txs) > 0) {
        calls.push({ method: 'block', params: { height: String(h) } })
        slots.push({ h, kind: 'block' })
      }
    }
    const answers = await this.m.client.batchAll(calls)
    const results = new Map<number, BlockResultsResult>()
    const blocks = new Map<number, BlockResultJSON>()
    answers.forEach((a, i) => {
      const s = slots[i]
      if (!a.ok) throw new RpcClientError(`${s.kind} ${s.h}: ${a.error.message}`, a.error.code)
      if (s.kind === 'block') blocks.set(s.h, a.result as BlockResultJSON)
      else results.set(s.h, a.result as BlockResultsResult)
    })
    const out: BlockData[] = []
    for (let h = from; h <= to; h++) {
      const meta = metas.get(h) as BlockMetaJSON
      const r = results.get(h) as BlockResultsResult
      const b = blocks.get(h)
      if (b !== undefined && b.block_id.hash !== meta.block_id.hash) throw new RpcClientError(`block ${h} changed between two reads`)
      out.push({
        height: h,
        hash: meta.block_id.hash,
        header: meta.header,
        txs: b?.block.data.txs ?? [],
        txResults: r.txs_results ?? [],
        finalizeEvents: r.finalize_block_events ?? [],
      })
    }
    return out
  }

  /**
   * Subscribes to NewBlock events. Resolves once the node confirmed the subscription (rejects
   * otherwise); then `onBlock` gets each block and `onClose` is called once when the
   * subscription ends for any reason, a connection gone silent (no pong) included.
   */
  async subscribeBlocks (onBlock: (b: BlockData) => void, onClose: (reason: string) => void): Promise<Subscription> {
    return await this.m.client.subscribe<NewBlockEventData>(
      "tm.event='NewBlock'",
      (e) => { if (e.data.value?.block !== undefined) onBlock(blockDataFromEvent(e.data)) },
      onClose,
      { timeoutMs: this.opts.subscribeTimeoutMs ?? 5000, pingMs: this.opts.pingMs ?? 15_000 },
    )
  }
}

/** The BlockData of a NewBlock event. */
export function blockDataFromEvent (e: NewBlockEventData): BlockData {
  const v = e.value
  return {
    height: Number(v.block.header.height),
    hash: v.block_id.hash,
    header: v.block.header,
    txs: v.block.data.txs ?? [],
    txResults: v.result_finalize_block?.tx_results ?? [],
    finalizeEvents: v.result_finalize_block?.events ?? [],
  }
}
