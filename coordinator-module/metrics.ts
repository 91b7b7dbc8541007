// Prometheus metrics of the coordinator (GET /metrics), on a registry of its own so that two
// coordinators in one process (tests) do not share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface CoordinatorMetrics {
  registry: Registry
  /** Last block written to the index. */
  indexHeight: Gauge
  /** The node's latest height, as last heard. */
  nodeHeight: Gauge
  /** nodeHeight - indexHeight. */
  lagBlocks: Gauge
  blocksIndexed: Counter
  txsIndexed: Counter
  /** Wall time of indexing one block (decode, build, write). */
  blockIndexSeconds: Histogram
  /** Records (account, miner, job) waiting to be fetched again from the node. */
  refreshPending: Gauge
  refreshed: Counter<'kind'>
  /** Indexed jobs whose fields differ from the node's aitbc_job at the same status. */
  recordMismatches: Counter
  nodeErrors: Counter<'op'>
  subscribed: Gauge
  httpRequests: Counter<'method' | 'route' | 'status'>
  httpSeconds: Histogram<'method' | 'route'>
  wsClients: Gauge
  wsSubscriptions: Gauge
  wsPushes: Counter
  rateLimited: Counter
  gatewayStreams: Counter
}

export function createCoordinatorMetrics (opts: { defaultMetrics?: boolean } = {}): CoordinatorMetrics {
  const registry = new Registry()
  const registers = [registry]
  if (opts.defaultMetrics === true) collectDefaultMetrics({ register: registry, prefix: 'aitbc_coordinator_' })
  const m: CoordinatorMetrics = {
    registry,
    indexHeight: new Gauge({ name: 'aitbc_coordinator_index_height', help: 'Height of the last block in the index', registers }),
    nodeHeight: new Gauge({ name: 'aitbc_coordinator_node_height', help: 'Latest height of the node, as last heard', registers }),
    lagBlocks: new Gauge({ name: 'aitbc_coordinator_lag_blocks', help: 'Blocks the index is behind the node', registers }),
    blocksIndexed: new Counter({ name: 'aitbc_coordinator_blocks_indexed_total', help: 'Blocks indexed by this process', registers }),
    txsIndexed: new Counter({ name: 'aitbc_coordinator_txs_indexed_total', help: 'Transactions indexed by this process', registers }),
    blockIndexSeconds: new Histogram({ name: 'aitbc_coordinator_block_index_seconds', help: 'Time to index one block', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers }),
    refreshPending: new Gauge({ name: 'aitbc_coordinator_refresh_pending', help: 'Account, miner and job records waiting to be read again from the node', registers }),
    refreshed: new Counter({ name: 'aitbc_coordinator_records_refreshed_total', help: 'Records read again from the node, by kind', labelNames: ['kind'], registers }),
    recordMismatches: new Counter({ name: 'aitbc_coordinator_job_record_mismatches_total', help: 'Jobs indexed from events that differ from the node\'s aitbc_job at the same status', registers }),
    nodeErrors: new Counter({ name: 'aitbc_coordinator_node_errors_total', help: 'Failed requests to the node, by operation', labelNames: ['op'], registers }),
    subscribed: new Gauge({ name: 'aitbc_coordinator_subscribed', help: '1 while the NewBlock subscription is open', registers }),
    httpRequests: new Counter({ name: 'aitbc_coordinator_http_requests_total', help: 'HTTP requests, by method, route and status code', labelNames: ['method', 'route', 'status'], registers }),
    httpSeconds: new Histogram({ name: 'aitbc_coordinator_http_request_duration_seconds', help: 'HTTP request latency, by method and route', labelNames: ['method', 'route'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers }),
    wsClients: new Gauge({ name: 'aitbc_coordinator_ws_clients', help: 'Open /v1/ws connections', registers }),
    wsSubscriptions: new Gauge({ name: 'aitbc_coordinator_ws_subscriptions', help: 'Job subscriptions on /v1/ws', registers }),
    wsPushes: new Counter({ name: 'aitbc_coordinator_ws_pushes_total', help: 'Job updates pushed on /v1/ws', registers }),
    rateLimited: new Counter({ name: 'aitbc_coordinator_rate_limited_total', help: 'Write requests refused with 429', registers }),
    gatewayStreams: new Counter({ name: 'aitbc_coordinator_gateway_streams_total', help: 'Gateway streams by how their text came: the miner\'s live tokens (miner), the chain\'s result after an unreachable or broken miner stream (chain), an error chunk (error)', labelNames: ['source'], registers }),
  }
  for (const kind of ['account', 'miner', 'job']) m.refreshed.inc({ kind }, 0)
  return m
}
