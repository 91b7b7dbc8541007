// The REST API on 8000, the job WebSocket (/v1/ws), /health, /metrics and the block
// explorer's static files. Reads come from the index; POST /v1/jobs relays to the node.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import { readFileSync } from 'node:fs'
import { repoPath } from '../node/paths.ts'
import { Buffer } from 'node:buffer'
import { join } from 'node:path'
import { decodeTx, jobIdFromTxHash } from '../node/core/tx.ts'
import { TxError } from '../node/core/errors.ts'
import { addressFromBytes, fromHex } from '../node/core/crypto.ts'
import { RpcClientError, RpcNetworkError, type BroadcastTxResult, type Logger, type NodeClient, type ValidatorsResult, type CommitResult } from '../node/client.ts'
import {
  ApiError, parseAddress, parseHash, parseHeight, parseJobId, parseLimit, parseStatus, decodeCursor, type IndexReader,
} from './indexReader.ts'
import type { Indexer } from './indexer.ts'
import type { Refresher } from './refresher.ts'
import type { CoordinatorMetrics } from './metrics.ts'
import type { JobFeed } from './jobFeed.ts'
import { RateLimiter } from './rateLimiter.ts'
import { parseSeriesQuery, type SeriesReader } from './statsSeries.ts'
import { renderChartSvg } from './chartSvg.ts'
import type { ApiKeyStore } from './gateway/apiKeyStore.ts'
import type { Gateway } from './gateway/gateway.ts'
import { GatewayError } from './gateway/openAiError.ts'
import { parseCompletionRequest } from './gateway/requests.ts'
import { authorize, registerGatewayRoutes } from './gateway/routes.ts'

export const MAX_BODY_BYTES = 1024 * 1024
const EXPLORER_DIR = repoPath('coordinator-module', 'explorer')
const EXPLORER_FILES: Record<string, string> = {
  '/': 'index.html',
  '/explorer/app.js': 'app.js',
  '/explorer/style.css': 'style.css',
}
const CONTENT_TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' }
/** A relayed job not yet in a block is answered as pending for this long. */
const RELAYED_TTL_MS = 10 * 60_000

export interface ApiOptions {
  /** Requests per minute per API key (token bucket) on the write and gateway endpoints. */
  rateLimitPerMinute: number
}

export interface ApiModules {
  reader: IndexReader
  series: SeriesReader
  indexer: Indexer
  refresher: Refresher
  client: Pick<NodeClient, 'url' | 'call' | 'batchAll'>
  feed: JobFeed
  metrics: CoordinatorMetrics
  logger: Logger
  /** The API keys (gateway/apiKeyStore.ts); none: POST /v1/jobs relays signed txs without a key. */
  keys: ApiKeyStore
  gateway: Gateway
}

interface RelayedJob { job_id: string, status: 'pending', client: string, model: string, submitted_at: string, tx_hash: string, in_block: false, at: number }

/** A chart's size in pixels: an integer in [min, max], or the default when absent. */
function parseSize (v: unknown, what: string, dflt: number, min: number, max: number): number {
  if (v === undefined || v === '') return dflt
  if (typeof v !== 'string' || !/^\d{1,5}$/.test(v) || Number(v) < min || Number(v) > max) throw new ApiError(400, 'BAD_REQUEST', `${what} must be an integer from ${min} to ${max} (pixels)`)
  return Number(v)
}

export function createApi (opts: ApiOptions, m: ApiModules): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES, routerOptions: { maxParamLength: 200 } })
  const limiter = new RateLimiter(opts.rateLimitPerMinute)
  const onRateLimited = (): void => { m.metrics.rateLimited.inc() }
  const relayed = new Map<string, RelayedJob>()
  m.indexer.on('job', (j: { job_id: string }) => { relayed.delete(j.job_id) })
  let validatorsCache: { at: number, value: unknown } | null = null

  app.setErrorHandler((err: any, _req, reply) => {
    if (err instanceof ApiError) {
      void reply.code(err.status).send({ error: err.code, message: err.message, ...err.extra })
      return
    }
    if (err instanceof GatewayError) {
      const code = err.status === 401 ? 'UNAUTHORIZED' : err.status === 429 ? 'RATE_LIMITED' : err.code.toUpperCase()
      void reply.code(err.status).headers(err.headers).send({ error: code, message: err.message, param: err.param })
      return
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500
    if (status >= 400 && status < 500) {
      const fst = String(err.code ?? '')
      const code = fst.startsWith('FST_ERR_CTP_INVALID_JSON') || fst === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError ? 'BAD_JSON'
        : fst === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'BODY_TOO_LARGE'
          : fst === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST'
      const message = code === 'BAD_JSON'
        ? (fst === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'the body is empty; send a JSON object' : 'the body is not valid JSON')
        : String(err.message)
      void reply.code(status).send({ error: code, message })
      return
    }
    m.logger.error({ err: err?.message, stack: err?.stack }, 'request failed')
    void reply.code(500).send({ error: 'INTERNAL', message: 'internal error' })
  })
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0].slice(0, 200)}` })
  })
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions?.url ?? 'unmatched'
    m.metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) })
    m.metrics.httpSeconds.observe({ method: req.method, route }, reply.elapsedTime / 1000)
  })

  /** With API keys made, writes need one (X-Api-Key or Authorization: Bearer) and are rate limited per key. */
  const requireKey = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (m.keys.size === 0) return
    authorize({ keys: m.keys, limiter, onRateLimited }, req, reply)
  }

  // ---- health and metrics ----

  app.get('/health', async (_req, reply) => {
    const s = m.indexer.status()
    const ok = s.node_reachable && !['INDEX_CHAIN_MISMATCH', 'INDEX_BAD_BLOCK', 'NODE_BEHIND'].includes(s.error?.code ?? '')
    return await reply.code(ok ? 200 : 503).send({
      status: !ok ? 'degraded' : s.catching_up ? 'catching_up' : 'ok',
      node: s.node_reachable ? 'reachable' : 'unreachable',
      node_url: m.client.url,
      chain_id: s.chain_id,
      indexed_height: s.indexed_height,
      node_height: s.node_height,
      lag: s.lag,
      subscribed: s.subscribed,
      refresh_pending: m.refresher.pending,
      error: s.error,
    })
  })

  app.get('/metrics', async (_req, reply) => {
    return await reply.header('content-type', m.metrics.registry.contentType).send(await m.metrics.registry.metrics())
  })

  // ---- jobs ----

  app.post('/v1/jobs', async (req, reply) => {
    const body: unknown = req.body
    if (body !== null && typeof body === 'object' && !Array.isArray(body) && (body as { type?: unknown }).type === 'inference') {
      // The original design's body: the gateway signs it with the key's account.
      const entry = authorize({ keys: m.keys, limiter, onRateLimited }, req, reply)
      const s = await m.gateway.submit(entry, parseCompletionRequest(body))
      const submittedAt = new Date().toISOString()
      relayed.set(s.jobId, { job_id: s.jobId, status: 'pending', client: s.signer.key.address, model: s.model, submitted_at: submittedAt, tx_hash: s.txHash, in_block: false, at: Date.now() })
      return await reply.code(202).send({ job_id: s.jobId, status: 'pending', submitted_at: submittedAt, tx_hash: s.txHash, client: s.signer.key.address })
    }
    await requireKey(req, reply)
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'BAD_REQUEST', 'the body must be a JSON object {"tx": "<base64 signed submit_job>"}')
    const b64 = (body as { tx?: unknown }).tx
    if (typeof b64 !== 'string' || b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new ApiError(400, 'BAD_REQUEST', '"tx" must be the signed submit_job transaction as standard base64')
    let tx
    try {
      tx = decodeTx(new Uint8Array(Buffer.from(b64, 'base64')))
    } catch (e) {
      if (e instanceof TxError) throw new ApiError(400, e.code, `invalid transaction: ${e.message}`)
      throw e
    }
    if (tx.type !== 'submit_job') throw new ApiError(400, 'NOT_SUBMIT_JOB', `this endpoint relays submit_job transactions; this one is ${tx.type}`)
    let r: BroadcastTxResult
    try {
      r = await m.client.call('broadcast_tx_sync', { tx: b64 })
    } catch (e) {
      if (e instanceof RpcNetworkError) { m.metrics.nodeErrors.inc({ op: 'broadcast' }); throw new ApiError(502, 'NODE_UNREACHABLE', e.message) }
      if (e instanceof RpcClientError) throw new ApiError(400, 'TX_REFUSED', `the node refused the transaction: ${e.message}`)
      throw e
    }
    if (r.code !== 0) {
      const code = /^([A-Z_]+):/.exec(r.log)?.[1] ?? String(r.code)
      const status = code === 'MEMPOOL_FULL' ? 503 : ['TX_IN_MEMPOOL', 'TX_ALREADY_COMMITTED', 'NONCE_USED'].includes(code) ? 409 : 422
      throw new ApiError(status, 'TX_REFUSED', `the node refused the transaction: ${r.log}`, { code, node_code: r.code })
    }
    const jobId = jobIdFromTxHash(tx.hash)
    const submittedAt = new Date().toISOString()
    const model = (tx.body as { model: string }).model
    relayed.set(jobId, { job_id: jobId, status: 'pending', client: tx.sender, model, submitted_at: submittedAt, tx_hash: tx.hash, in_block: false, at: Date.now() })
    for (const [id, j] of relayed) if (Date.now() - j.at > RELAYED_TTL_MS) relayed.delete(id)
    return await reply.code(202).send({ job_id: jobId, status: 'pending', submitted_at: submittedAt, tx_hash: tx.hash })
  })

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (req) => {
    const id = parseJobId(req.params.id)
    const j = await m.reader.job(id)
    if (j !== undefined) return j
    const r = relayed.get(id)
    if (r !== undefined) { const { at: _, ...view } = r; return view }
    throw new ApiError(404, 'NOT_FOUND', `job ${id} not found`)
  })

  app.get('/v1/jobs', async (req) => {
    const q = req.query as Record<string, unknown>
    return await m.reader.jobs({
      client: q.client === undefined ? undefined : parseAddress(q.client, 'client'),
      miner: q.miner === undefined ? undefined : parseAddress(q.miner, 'miner'),
      status: q.status === undefined ? undefined : parseStatus(q.status),
      limit: parseLimit(q.limit),
      cursor: decodeCursor('job', q.cursor),
    })
  })

  app.get<{ Params: { id: string } }>('/v1/receipts/:id', async (req) => await m.reader.receipt(String(req.params.id)))

  // ---- miners, accounts, validators ----

  app.get('/v1/miners', async (req) => {
    const q = req.query as Record<string, unknown>
    if (q.model !== undefined && (typeof q.model !== 'string' || q.model.length === 0 || q.model.length > 128)) throw new ApiError(400, 'BAD_REQUEST', 'model must be a model name')
    const miners = await m.reader.miners(q.model as string | undefined)
    return { miners, total: miners.length }
  })

  app.get<{ Params: { address: string } }>('/v1/miners/:address', async (req) => {
    const a = parseAddress(req.params.address)
    const v = await m.reader.miner(a)
    if (v === undefined) throw new ApiError(404, 'NOT_FOUND', `${a} is not a registered miner`)
    return v
  })

  app.get<{ Params: { address: string } }>('/v1/accounts/:address', async (req) => await m.reader.account(parseAddress(req.params.address)))

  app.get('/v1/validators', async () => {
    if (validatorsCache !== null && Date.now() - validatorsCache.at < 5000) return validatorsCache.value
    let value: unknown
    try {
      value = await validatorsView(m.client)
    } catch (e) {
      if (e instanceof RpcNetworkError) throw new ApiError(502, 'NODE_UNREACHABLE', e.message)
      throw e
    }
    validatorsCache = { at: Date.now(), value }
    return value
  })

  // ---- blocks and txs ----

  app.get('/v1/blocks', async (req) => {
    const q = req.query as Record<string, unknown>
    return await m.reader.blocks({ limit: parseLimit(q.limit), cursor: decodeCursor('block', q.cursor) })
  })

  app.get<{ Params: { height: string } }>('/v1/blocks/:height', async (req) => {
    const raw = String(req.params.height)
    const h = /^[0-9a-fA-F]{64}$/.test(raw) ? await m.reader.blockHeightByHash(raw.toUpperCase()) : parseHeight(raw)
    const b = h === undefined ? undefined : await m.reader.block(h)
    if (b === undefined) throw new ApiError(404, 'NOT_FOUND', `no block ${raw.slice(0, 80)} in the index (indexed up to height ${m.indexer.indexedHeight})`)
    return b
  })

  app.get('/v1/txs', async (req) => {
    const q = req.query as Record<string, unknown>
    return await m.reader.txs({
      address: q.address === undefined ? undefined : parseAddress(q.address),
      limit: parseLimit(q.limit),
      cursor: decodeCursor('tx', q.cursor),
    })
  })

  app.get<{ Params: { hash: string } }>('/v1/txs/:hash', async (req) => {
    const hash = parseHash(req.params.hash)
    const t = await m.reader.tx(hash)
    if (t === undefined) throw new ApiError(404, 'NOT_FOUND', `tx ${hash} not found in the index`)
    return t
  })

  app.get('/v1/stats', async () => await m.reader.stats())

  app.get('/v1/stats/series', async (req) => {
    const q = parseSeriesQuery(req.query as Record<string, unknown>)
    return await m.series.series(q.metric, q.window, q.miner)
  })

  app.get('/v1/stats/chart', async (req, reply) => {
    const raw = req.query as Record<string, unknown>
    const q = parseSeriesQuery(raw)
    const width = parseSize(raw.width, 'width', 640, 120, 2400)
    const height = parseSize(raw.height, 'height', 200, 80, 1200)
    const svg = renderChartSvg(await m.series.series(q.metric, q.window, q.miner), { width, height })
    return await reply.header('content-type', 'image/svg+xml; charset=utf-8').header('cache-control', 'no-cache').send(svg)
  })

  app.get('/v1/search', async (req) => {
    const q = (req.query as Record<string, unknown>).q
    if (typeof q !== 'string' || q.trim() === '' || q.length > 200) throw new ApiError(400, 'BAD_REQUEST', 'q must be a height, hash, address or job id')
    return await m.reader.search(q)
  })

  // ---- live job updates ----

  void app.register(websocket, { options: { maxPayload: 4096 } })
  void app.register(async (scoped) => {
    scoped.get('/v1/ws', { websocket: true }, (socket) => { m.feed.attach(socket) })
  })

  // ---- the OpenAI-compatible gateway ----

  registerGatewayRoutes(app, { gateway: m.gateway, keys: m.keys, limiter, logger: m.logger, onRateLimited, onStream: source => { m.metrics.gatewayStreams.inc({ source }) } })

  // ---- the explorer (static files, no CDN) ----

  const files = new Map<string, { type: string, body: Buffer }>()
  for (const [route, file] of Object.entries(EXPLORER_FILES)) {
    files.set(route, { type: CONTENT_TYPES[file.split('.').pop() as string], body: readFileSync(join(EXPLORER_DIR, file)) })
  }
  for (const route of Object.keys(EXPLORER_FILES)) {
    app.get(route, async (_req, reply) => {
      const f = files.get(route) as { type: string, body: Buffer }
      return await reply.header('content-type', f.type).header('cache-control', 'no-cache').send(f.body)
    })
  }

  return app
}

/** Heights of signed/missed history the validators view shows. */
export const VALIDATOR_HISTORY = 50

/**
 * The validators as the explorer shows them: the set of the latest height first (in its order),
 * then every other validator record (out of the set, jailed, tombstoned), each with its power,
 * status, missed blocks within the downtime window and its signed/missed history over the last
 * VALIDATOR_HISTORY commits ('S' signed, 'M' missed, '-' not in that height's set), read from
 * the node's commits.
 */
export async function validatorsView (client: Pick<NodeClient, 'call' | 'batchAll'>): Promise<unknown> {
  const [set, recs] = await Promise.all([client.call('validators', { per_page: '100' }) as Promise<ValidatorsResult>, client.call('aitbc_validators', {})])
  const top = Number(set.block_height)
  const from = Math.max(1, top - VALIDATOR_HISTORY + 1)
  const heights = top < 1 ? [] : Array.from({ length: top - from + 1 }, (_, i) => from + i)
  const answers = await client.batchAll(heights.map(h => ({ method: 'commit' as const, params: { height: String(h) } })))
  const commits = answers.map(a => a.ok ? (a.result as CommitResult).signed_header.commit : null)
  const historyOf = (address: string): string => commits.map(c => {
    const s = c?.signatures.find(x => x.validator_address === address)
    return s === undefined ? '-' : s.block_id_flag === 2 ? 'S' : 'M'
  }).join('')
  const byAddress = new Map(recs.validators.map(r => [r.address, r]))
  const inSet = new Set(set.validators.map(v => v.address))
  const row = (address: string, name: string | null, votingPower: string, pubKey: string | null): Record<string, unknown> => {
    const r = byAddress.get(address)
    return {
      address, account: addressFromBytes(fromHex(address)), name, voting_power: votingPower, pub_key: pubKey,
      operator: r?.operator ?? null, power: r?.power ?? votingPower, status: r?.status ?? 'bonded', in_set: inSet.has(address),
      stake: r?.stake ?? null, slashed: r?.slashed ?? null, missed_blocks: r?.missed_blocks ?? 0, jailed_until: r?.jailed_until ?? null,
      tombstoned: r?.tombstoned ?? false, history: historyOf(address),
    }
  }
  const rows = [
    ...set.validators.map(v => row(v.address, v.name ?? null, v.voting_power, v.pub_key?.value ?? null)),
    ...recs.validators.filter(r => !inSet.has(r.address)).map(r => row(r.address, r.moniker, '0', r.pub_key.value)),
  ]
  return {
    block_height: set.block_height, total: Number(set.total), records: rows.length, downtime_window: recs.downtime_window, downtime_max_missed: recs.downtime_max_missed,
    history_from: from, validators: rows,
  }
}
