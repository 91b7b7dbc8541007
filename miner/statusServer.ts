// StatusServer: the miner's HTTP interface (fastify), and what it shows besides the daemon's own
// state: whether the node and Ollama answer, Ollama's models, and the miner's earnings on chain.
//
//   GET /health   200 {status:'ok'} when the node and Ollama both answer, else 503 'unavailable';
//   GET /status   the miner's state (MinerStatus) plus whether the node answers;
//   GET /metrics  Prometheus text;
//   GET /v1/jobs/:id/stream  the live tokens of a job this miner runs, NDJSON, to its client only
//                 (a signed request, node/streamAuth.ts; 403 for anyone else, 404 for no such stream).
import Fastify, { type FastifyInstance } from 'fastify'
import type { NodeClient } from '../node/client.ts'
import type { MinerJobView } from './jobBook.ts'
import type { MinerMetrics } from './metrics.ts'
import type { OllamaClient } from './ollamaClient.ts'
import type { TokenStreams, StreamEvent } from './tokenStreams.ts'
import { checkStreamRequest } from '../node/streamAuth.ts'

export const DEFAULT_MINER_HOST = '127.0.0.1'
export const DEFAULT_MINER_PORT = 8010

export interface MinerStatus {
  address: string
  url: string
  node: { url: string, subscribed: boolean }
  models: string[]
  capacity: number
  price_per_second: string
  /** uaitbc per million input / output tokens (null: billed by the second). */
  price_in: string | null
  price_out: string | null
  max_num_predict: number | null
  /** The digest listed for each model (null: Ollama gave none). */
  model_digests: Record<string, string | null>
  /** Where the salts of unrevealed commitments are kept. */
  commitments_dir: string
  stopping: boolean
  jobs_in_flight: number
  jobs: MinerJobView[]
  done: number
  failed: number
  /** This miner's results that failed verification (or found no majority). */
  rejected: number
  /** Verification runs of other miners' jobs this miner revealed. */
  verified: number
  abandoned: number
  lost: number
  earnings_uaitbc: string
  ollama: { url: string, reachable: boolean, models: string[] }
}

/** The part of MinerStatus the daemon knows; the status server adds earnings and Ollama. */
export type DaemonStatus = Omit<MinerStatus, 'earnings_uaitbc' | 'ollama'>

export interface StatusServerOptions {
  address: string
  /** Default 127.0.0.1. */
  host?: string
  /** Default 8010; 0 picks a free port. */
  port?: number
}

export interface StatusServerModules {
  /** Short-timeout clients for probes, so that a slow dependency does not hold up an answer. */
  probeNode: Pick<NodeClient, 'call' | 'miner'>
  probeOllama: Pick<OllamaClient, 'tags' | 'baseUrl'>
  metrics: MinerMetrics
  daemonStatus: () => DaemonStatus
  /** Live token streams, and the chain id their requests are signed for (absent: no stream route answers). */
  streams?: TokenStreams
  chainId?: () => string | undefined
}

export class StatusServer {
  url = ''
  private readonly http: FastifyInstance
  private listening = false
  private earned = 0n
  private ollamaReachable = true
  private ollamaModels: string[] = []

  constructor (private readonly opts: StatusServerOptions, private readonly modules: StatusServerModules) {
    this.http = this.routes(Fastify({ logger: false }))
  }

  async start (): Promise<string> {
    this.url = await this.http.listen({ host: this.opts.host ?? DEFAULT_MINER_HOST, port: this.opts.port ?? DEFAULT_MINER_PORT })
    this.listening = true
    return this.url
  }

  async stop (): Promise<void> {
    if (!this.listening) return
    this.listening = false
    await this.http.close()
  }

  status (): MinerStatus {
    return {
      ...this.modules.daemonStatus(),
      earnings_uaitbc: this.earned.toString(),
      ollama: { url: this.modules.probeOllama.baseUrl, reachable: this.ollamaReachable, models: [...this.ollamaModels] },
    }
  }

  /** What the miner last learned of Ollama outside a probe (its model list at start, a job's call). */
  observeOllama (seen: { reachable?: boolean, models?: string[] }): void {
    if (seen.reachable !== undefined) this.ollamaReachable = seen.reachable
    if (seen.models !== undefined) this.ollamaModels = [...seen.models]
  }

  /** Reads aitbc_miner.earned; keeps the last value when the node does not answer. */
  async refreshEarnings (): Promise<bigint> {
    try {
      const m = await this.modules.probeNode.miner(this.opts.address)
      this.earned = BigInt(m.earned)
      this.modules.metrics.earnings.set(Number(this.earned))
    } catch { /* keep the last value */ }
    return this.earned
  }

  private async probe (): Promise<{ node: boolean, ollama: boolean }> {
    const [node, ollama] = await Promise.all([
      this.modules.probeNode.call('health').then(() => true, () => false),
      this.modules.probeOllama.tags().then(models => { this.ollamaModels = models; return true }, () => false),
    ])
    this.ollamaReachable = ollama
    return { node, ollama }
  }

  private routes (app: FastifyInstance): FastifyInstance {
    app.get('/health', async (_req, reply) => {
      const p = await this.probe()
      const ok = p.node && p.ollama
      return await reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', node: p.node ? 'reachable' : 'unreachable', ollama: p.ollama ? 'reachable' : 'unreachable' })
    })
    app.get('/status', async () => {
      const [p] = await Promise.all([this.probe(), this.refreshEarnings()])
      const s = this.status()
      return { ...s, node: { ...s.node, reachable: p.node } }
    })
    app.get('/metrics', async (_req, reply) => {
      await this.refreshEarnings()
      const { registry } = this.modules.metrics
      return await reply.header('content-type', registry.contentType).send(await registry.metrics())
    })
    app.get<{ Params: { id: string } }>('/v1/jobs/:id/stream', async (req, reply) => {
      const streams = this.modules.streams
      const chainId = this.modules.chainId?.()
      const id = req.params.id
      if (streams === undefined || chainId === undefined || !/^job_[0-9a-f]{16}$/.test(id) || !streams.has(id)) {
        return await reply.code(404).send({ error: 'NOT_FOUND', message: 'this miner has no live stream of that job' })
      }
      const why = checkStreamRequest(req.headers, chainId, id, streams.clientKey(id) ?? null, Date.now())
      if (why !== null) return await reply.code(403).send({ error: 'FORBIDDEN', message: `only the job's client may read its stream (${why})` })
      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' })
      let unsubscribe = (): void => {}
      const onEvent = (e: StreamEvent): void => {
        if (raw.destroyed || raw.writableEnded) return
        raw.write(JSON.stringify(e) + '\n')
        if (!('token' in e)) { raw.end(); unsubscribe() }
      }
      unsubscribe = streams.subscribe(id, onEvent)
      raw.once('close', () => { unsubscribe() })
      return reply
    })
    return app
  }
}
