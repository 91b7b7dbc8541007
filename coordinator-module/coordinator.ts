// The coordinator's composition root: the one place that builds and wires the store, the node
// client and block source, the index writer, the indexer, the refresher, the job feed and the
// HTTP API.
import { mkdirSync } from 'node:fs'
import { NodeClient, type Logger } from '../node/client.ts'
import { CoordinatorStore } from './store.ts'
import { NodeSource } from './nodeSource.ts'
import { createCoordinatorMetrics, type CoordinatorMetrics } from './metrics.ts'
import { Refresher } from './refresher.ts'
import { IndexWriter } from './indexWriter.ts'
import { Indexer, type IndexerStatus } from './indexer.ts'
import { IndexReader } from './indexReader.ts'
import { JobFeed } from './jobFeed.ts'
import { createApi } from './api.ts'
import { MempoolSampler } from './mempoolSampler.ts'
import { SeriesReader } from './statsSeries.ts'
import { jobView, type JobRecord } from './jobRecord.ts'
import { ApiKeyStore } from './gateway/apiKeyStore.ts'
import { Gateway } from './gateway/gateway.ts'
import { Keyring } from '../cli/keyring.ts'
import { parseAitbc } from '../node/core/amount.ts'

/** Per-request deadline of the coordinator's calls to its node; no retries (the loops retry). */
const NODE_TIMEOUT_MS = 30_000

export const DEFAULT_COORDINATOR_HOST = '127.0.0.1'
export const DEFAULT_COORDINATOR_PORT = 8000
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 60
/** max_fee of each gateway job, and the daily cap of a new API key (the sum of its jobs' max_fee). */
export const DEFAULT_GATEWAY_MAX_FEE = parseAitbc('1')
export const DEFAULT_GATEWAY_DAILY_CAP = parseAitbc('100')
export const DEFAULT_GATEWAY_TIMEOUT_MS = 300_000

export interface CoordinatorOptions {
  nodeUrl: string
  dataDir: string
  host?: string
  /** Default 8000; 0 picks a free port. */
  port?: number
  /** Keyring key names the gateway signs with: each gets an API key if it has none (a missing keyring key is made). */
  gatewayKeys?: string[]
  /** $AITBC_HOME of the keyring with the gateway's signing keys (default $AITBC_HOME). */
  keyringHome?: string
  /** max_fee of each gateway job, uaitbc. */
  gatewayMaxFee?: bigint
  /** Daily spend cap of the API keys made now, uaitbc (0: none). */
  gatewayDailyCap?: bigint
  /** How long a gateway request waits for its job. */
  gatewayTimeoutMs?: number
  /** Gateway requests poll the node this often. Default 200 ms. */
  gatewayPollMs?: number
  /** Requests per minute per API key. Default 60. */
  rateLimitPerMinute?: number
  logger: Logger
  /** Node status poll. Default 2000 ms. */
  pollMs?: number
  /** Process metrics (CPU, memory, event loop) on /metrics. Default false (tests run several coordinators). */
  defaultMetrics?: boolean
  /** How often the node's mempool size is sampled for the explorer's chart. Default 2000 ms. */
  mempoolSampleMs?: number
}

export interface RunningCoordinator {
  url: string
  indexer: Indexer
  refresher: Refresher
  metrics: CoordinatorMetrics
  status: () => IndexerStatus
  stop: () => Promise<void>
  /** API keys made at this start (shown once, never stored): the keyring key, its address, the key. */
  newApiKeys: Array<{ name: string, address: string, apiKey: string }>
  /** Keyring keys made at this start (to be funded). */
  newSigningKeys: Array<{ name: string, address: string }>
  keys: ApiKeyStore
}

interface Parts { store: CoordinatorStore, client: NodeClient, metrics: CoordinatorMetrics, refresher: Refresher, indexer: Indexer }

async function build (o: { nodeUrl: string, dataDir: string, logger: Logger, pollMs?: number, defaultMetrics?: boolean }): Promise<Parts> {
  mkdirSync(o.dataDir, { recursive: true })
  const store = await CoordinatorStore.open(o.dataDir)
  const client = new NodeClient(o.nodeUrl, { retries: 0, timeoutMs: NODE_TIMEOUT_MS })
  const source = new NodeSource({}, { client })
  const metrics = createCoordinatorMetrics({ defaultMetrics: o.defaultMetrics })
  const refresher = new Refresher({}, { store, client, metrics, logger: o.logger })
  const writer = new IndexWriter({ store, refresher })
  const indexer = new Indexer({ pollMs: o.pollMs }, { client, source, writer, metrics, logger: o.logger })
  return { store, client, metrics, refresher, indexer }
}

export async function startCoordinator (o: CoordinatorOptions): Promise<RunningCoordinator> {
  const { store, client, metrics, refresher, indexer } = await build(o)
  const reader = new IndexReader({ store, indexer })
  const mempool = new MempoolSampler({ everyMs: o.mempoolSampleMs }, { client, height: () => indexer.status().node_height ?? indexer.indexedHeight })
  const series = new SeriesReader({ store, indexer, mempool })
  const feed = new JobFeed({ metrics, logger: o.logger, snapshot: async (id) => await reader.job(id) })
  indexer.on('job', (j: JobRecord) => feed.publish(jobView(j)))
  const keys = new ApiKeyStore(store)
  const newApiKeys: RunningCoordinator['newApiKeys'] = []
  const newSigningKeys: RunningCoordinator['newSigningKeys'] = []
  try {
    await keys.load()
    const keyring = new Keyring(o.keyringHome)
    for (const name of o.gatewayKeys ?? []) {
      if (!keyring.has(name)) newSigningKeys.push({ name, address: keyring.add(name).address })
      const address = keyring.get(name).address
      if (keys.forName(name).length === 0) newApiKeys.push({ name, address, apiKey: (await keys.create(name, address, o.gatewayDailyCap ?? DEFAULT_GATEWAY_DAILY_CAP)).apiKey })
    }
  } catch (e) {
    await store.close().catch(() => {})
    throw e
  }
  const gateway = new Gateway(
    { maxFee: o.gatewayMaxFee ?? DEFAULT_GATEWAY_MAX_FEE, timeoutMs: o.gatewayTimeoutMs ?? DEFAULT_GATEWAY_TIMEOUT_MS, pollMs: o.gatewayPollMs ?? 200, keyringHome: o.keyringHome },
    { client, keys, logger: o.logger },
  )
  const app = createApi(
    { rateLimitPerMinute: o.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE },
    { reader, series, indexer, refresher, client, feed, metrics, logger: o.logger, keys, gateway },
  )
  let stopped = false
  const stopAll = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    mempool.stop()
    feed.close()
    await app.close()
    await indexer.stop()
    await refresher.stop()
    await store.close()
  }
  try {
    await refresher.load()
    await indexer.start()
    refresher.start()
    mempool.start()
    await app.listen({ host: o.host ?? DEFAULT_COORDINATOR_HOST, port: o.port ?? DEFAULT_COORDINATOR_PORT })
  } catch (e) {
    await stopAll().catch(() => {})
    throw e
  }
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : o.port
  const host = o.host ?? DEFAULT_COORDINATOR_HOST
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${String(port)}`
  o.logger.info({ url, node: o.nodeUrl, data: o.dataDir, indexed_height: indexer.indexedHeight, api_keys: keys.size }, 'coordinator listening')
  return { url, indexer, refresher, metrics, status: () => indexer.status(), stop: stopAll, newApiKeys, newSigningKeys, keys }
}

export interface RebuildSummary { height: number, txs: number, jobs: number, seconds: number }

/** Wipes the index at dataDir and indexes the node's chain again from its first block. */
export async function rebuildIndex (o: { nodeUrl: string, dataDir: string, logger: Logger }): Promise<RebuildSummary> {
  const started = Date.now()
  const { store, client, refresher, indexer } = await build(o)
  try {
    await client.latestHeight() // a clear error before anything is wiped when the node is down
    await store.clear()
    await refresher.load()
    await indexer.start()
    refresher.start()
    const height = await indexer.catchUp()
    await refresher.idle()
    const c = indexer.countsNow
    return { height, txs: c.txs, jobs: c.jobs, seconds: (Date.now() - started) / 1000 }
  } finally {
    await indexer.stop()
    await refresher.stop()
    await store.close()
  }
}
