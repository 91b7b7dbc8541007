// The node's Prometheus metrics (prom-client), declared in one place; names end with their unit.
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client'
import type { Chain } from './chain/chain.ts'
import type { Mempool } from './chain/mempool.ts'

export interface NodeMetrics {
  registry: Registry
  rpcRequests: Counter<'method' | 'outcome'>
  rpcSeconds: Histogram<'method'>
  consensusRounds: Counter<string>
  consensusTimeouts: Counter<'step'>
}

export function createNodeMetrics (chain: Chain, mempool: Mempool, peers: () => number): NodeMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'aitbc_node_process_' })
  new Gauge({ name: 'aitbc_node_height', help: 'Height of the latest committed block', registers: [registry], collect () { this.set(chain.height) } })
  new Gauge({ name: 'aitbc_node_mempool_txs', help: 'Transactions waiting in the mempool', registers: [registry], collect () { this.set(mempool.size) } })
  new Gauge({ name: 'aitbc_node_mempool_bytes', help: 'Bytes of the transactions waiting in the mempool', registers: [registry], collect () { this.set(mempool.sizeBytes) } })
  new Gauge({ name: 'aitbc_node_peers', help: 'Connected peers that passed the handshake', registers: [registry], collect () { this.set(peers()) } })
  new Gauge({ name: 'aitbc_node_open_jobs', help: 'Jobs pending or assigned', registers: [registry], collect () { this.set(chain.state.openJobs.size) } })
  const interval = new Histogram({ name: 'aitbc_node_block_interval_seconds', help: 'Time between consecutive block headers', buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [registry] })
  const txs = new Histogram({ name: 'aitbc_node_block_txs', help: 'Transactions per block', buckets: [0, 1, 10, 100, 1000, 5000, 10000], registers: [registry] })
  const committed = new Counter({ name: 'aitbc_node_txs_committed_total', help: 'Transactions committed', registers: [registry] })
  let lastTime = chain.meta.lastBlockTime
  chain.on('block', b => {
    interval.observe(Math.max(0, b.block.header.time - lastTime) / 1000)
    lastTime = b.block.header.time
    txs.observe(b.block.txs.length)
    committed.inc(b.block.txs.length)
  })
  return {
    registry,
    rpcRequests: new Counter({ name: 'aitbc_node_rpc_requests_total', help: 'JSON-RPC requests by method and outcome (ok or error)', labelNames: ['method', 'outcome'], registers: [registry] }),
    rpcSeconds: new Histogram({ name: 'aitbc_node_rpc_request_seconds', help: 'JSON-RPC handling time by method', labelNames: ['method'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15], registers: [registry] }),
    consensusRounds: new Counter({ name: 'aitbc_node_consensus_extra_rounds_total', help: 'Rounds beyond round 0 entered by consensus', registers: [registry] }),
    consensusTimeouts: new Counter({ name: 'aitbc_node_consensus_timeouts_total', help: 'Consensus timeouts that fired, by step', labelNames: ['step'], registers: [registry] }),
  }
}
