// The miner daemon (`aitbc miner start`, SPEC 1-4, issue 3 item 1). It uses only the node's RPC
// and events and an Ollama server:
//
// - start: reads Ollama's models (/api/tags) and lists on chain those asked for that Ollama
//   really has; registers (register_miner) or brings the listing up to date (update_miner for
//   models/price/capacity/active, stake for a stake below the one asked), each waited for until
//   committed. Defaults for a new registration: stake = min_miner_stake, price =
//   default_price_per_second, capacity = 1; for a miner already registered an option that is not
//   given leaves the chain's value as it is.
// - assignments: WebSocket subscription to `tm.event='Tx' AND assign.miner='<me>'`, re-opened with
//   backoff when it drops; at start, after every (re)connect and every pollIntervalMs it also
//   lists the jobs assigned to it (aitbc_jobs) so none is missed. A job id is handled once per
//   process, however often it is heard of.
// - jobs: at most `capacity` Ollama generate calls at once, with the job's model exactly and its
//   temperature/num_predict/seed; compute_ms is the wall time of the call. Then record_receipt:
//   completed (result, sha256, metrics) or failed (Ollama's error, empty result, no payment).
//   A job whose deadline (assigned_at + job_timeout_s, chain time) comes before Ollama answers is
//   abandoned: the Ollama request is aborted deadlineMarginMs before the deadline (time for the
//   receipt to reach a block) and nothing is sent; the chain expires the job.
// - receipts: all txs go through one TxQueue (consecutive nonces); each receipt is followed until
//   the chain shows the job settled, and sent again if the mempool dropped it.
// - stop(): deactivates the listing (update_miner active=false), takes no new jobs (jobs assigned
//   meanwhile get a failed receipt at once: full refund, no slash), waits for those in flight;
//   a second stop() aborts them and records failed receipts.
// - HTTP (fastify): GET /health, GET /status, GET /metrics (Prometheus).
import Fastify, { type FastifyInstance } from 'fastify'
import { NodeClient, RpcClientError } from '../node/rpc/client.ts'
import { sha256, utf8Bytes, type SigningKey } from '../node/core/crypto.ts'
import { parseUaitbc } from '../node/core/amount.ts'
import { JOB_ID_RE, type TxBody } from '../node/core/tx.ts'
import { TxCode } from '../node/core/errors.ts'
import type { Logger } from '../node/logger.ts'
import { OllamaClient, OllamaError, type OllamaGenerateOptions } from './ollamaClient.ts'
import { TxQueue, TxRefusedError, type SentTx } from './txQueue.ts'
import { createMinerMetrics, type JobOutcome, type MinerMetrics } from './metrics.ts'

export const DEFAULT_MINER_HOST = '127.0.0.1'
export const DEFAULT_MINER_PORT = 8010
const MAX_ERROR_BYTES = 4096
const PROBE_TIMEOUT_MS = 2000

export interface MinerOptions {
  key: SigningKey
  nodeUrl: string
  ollamaUrl: string
  /** Models to serve; absent: every model Ollama has. Only those Ollama really has are listed. */
  models?: string[]
  /** Stake to hold bonded, in uaitbc (default min_miner_stake). */
  stake?: bigint
  /** uaitbc per second of compute (default default_price_per_second for a new registration). */
  pricePerSecond?: bigint
  /** Jobs at once (default 1 for a new registration, else the chain's listing). */
  capacity?: number
  httpHost?: string
  /** Default 8010; 0 picks a free port. */
  httpPort?: number
  logger: Logger
  /** Abort Ollama this long before the chain deadline. Default: max(500, block_time_ms). */
  deadlineMarginMs?: number
  /** Safety-net listing of assigned jobs, besides the subscription. Default 30000; 0 disables. */
  pollIntervalMs?: number
  /** Reconnect backoff of the subscription. Defaults 250 and 10000. */
  reconnectMinMs?: number
  reconnectMaxMs?: number
  /** Send update_miner active=false on stop so the chain assigns nothing more. Default true. */
  deactivateOnStop?: boolean
}

export type MinerErrorCode = 'MINER_OLLAMA_UNREACHABLE' | 'MINER_NO_MODELS' | 'MINER_NODE_UNREACHABLE' | 'MINER_LISTING_FAILED' | 'MINER_BAD_OPTION'

export class MinerError extends Error {
  constructor (readonly code: MinerErrorCode, message: string) { super(message); this.name = 'MinerError' }
}

export interface MinerJobView { job_id: string, state: JobState, model: string, assigned_at: string, deadline: string }

export interface MinerStatus {
  address: string
  url: string
  node: { url: string, subscribed: boolean }
  models: string[]
  capacity: number
  price_per_second: string
  stopping: boolean
  jobs_in_flight: number
  jobs: MinerJobView[]
  done: number
  failed: number
  abandoned: number
  lost: number
  earnings_uaitbc: string
  ollama: { url: string, reachable: boolean, models: string[] }
}

export interface RunningMiner {
  url: string
  address: string
  /** First call: graceful (finish in-flight jobs); a second call fails the in-flight jobs. */
  stop: () => Promise<void>
  status: () => MinerStatus
}

type JobState = 'queued' | 'running' | 'reporting'

interface LocalJob {
  id: string
  model: string
  prompt: string
  options: OllamaGenerateOptions
  assignedAt: string
  deadlineMs: number
  state: JobState
  timer?: NodeJS.Timeout
  abort?: AbortController
  stopReason?: 'deadline' | 'shutdown'
}

type Outcome =
  | { kind: 'completed', result: string, computeMs: number, promptTokens: number, completionTokens: number }
  | { kind: 'failed', error: string, computeMs: number }

interface ChainParams { jobTimeoutS: number, blockTimeMs: number, minFee: bigint, minMinerStake: bigint, defaultPricePerSecond: bigint, maxResultBytes: number }

export async function startMiner (opts: MinerOptions): Promise<RunningMiner> {
  const miner = new MinerDaemon(opts)
  try {
    await miner.start()
  } catch (e) {
    await miner.shutdownQuietly()
    throw e
  }
  return { url: miner.url, address: miner.address, stop: async () => await miner.stop(), status: () => miner.status() }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Cuts a string to at most maxBytes of UTF-8 without splitting a character. */
export function truncateUtf8 (s: string, maxBytes: number): string {
  const bytes = utf8Bytes(s)
  if (bytes.length <= maxBytes) return s
  let cut = maxBytes
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--
  return new TextDecoder().decode(bytes.subarray(0, cut))
}

/** Ollama's naming: a model without a tag is NAME:latest. */
function withTag (name: string): string { return name.includes(':') ? name : `${name}:latest` }

/** The models to list: those asked that Ollama has (by Ollama's own name), or all of Ollama's. */
export function chooseModels (asked: string[] | undefined, available: string[]): string[] {
  if (asked === undefined) return [...new Set(available)]
  const out: string[] = []
  for (const a of asked) {
    const hit = available.find(m => m === a) ?? available.find(m => withTag(m) === withTag(a))
    if (hit !== undefined && !out.includes(hit)) out.push(hit)
  }
  return out
}

class MinerDaemon {
  readonly address: string
  url = ''
  private readonly log: Logger
  private readonly node: NodeClient
  private readonly probeNode: NodeClient
  private readonly ollama: OllamaClient
  private readonly probeOllama: OllamaClient
  private readonly metrics: MinerMetrics
  private readonly http: FastifyInstance
  private txs!: TxQueue
  private params!: ChainParams
  private models: string[] = []
  private capacity = 1
  private pricePerSecond = 0n
  private marginMs = 500

  /** Every job id this process has taken up (never run twice). */
  private readonly seen = new Set<string>()
  private readonly jobs = new Map<string, LocalJob>()
  private readonly queue: LocalJob[] = []
  private running = 0
  private admitting = 0
  private readonly counts = { completed: 0, failed: 0, abandoned: 0, lost: 0 }
  private earned = 0n
  private ollamaReachable = true
  private ollamaModels: string[] = []

  private subscribed = false
  private sub: { close: () => void } | undefined
  private connectLoop: Promise<void> | undefined
  private wakeReconnect: (() => void) | undefined
  private pollTimer: NodeJS.Timeout | undefined
  private stopping = false
  private forced = false
  private stopPromise: Promise<void> | undefined
  private readonly idleWaiters: Array<() => void> = []
  private httpListening = false

  constructor (private readonly opts: MinerOptions) {
    this.address = opts.key.address
    this.log = opts.logger.child({ module: 'miner', miner: this.address })
    this.node = new NodeClient(opts.nodeUrl, { retries: 3, backoffMs: 200, timeoutMs: 15_000 })
    this.probeNode = new NodeClient(opts.nodeUrl, { retries: 0, timeoutMs: PROBE_TIMEOUT_MS })
    try {
      this.ollama = new OllamaClient({ baseUrl: opts.ollamaUrl, timeoutMs: 0 })
      this.probeOllama = new OllamaClient({ baseUrl: opts.ollamaUrl, timeoutMs: PROBE_TIMEOUT_MS })
    } catch (e) {
      throw new MinerError('MINER_BAD_OPTION', `--ollama: ${(e as Error).message}`)
    }
    if (opts.capacity !== undefined && (!Number.isInteger(opts.capacity) || opts.capacity < 1)) throw new MinerError('MINER_BAD_OPTION', `capacity must be a positive integer, got ${opts.capacity}`)
    this.metrics = createMinerMetrics()
    this.http = this.buildHttp()
  }

  // ---- start ------------------------------------------------------------------------------

  async start (): Promise<void> {
    this.url = await this.http.listen({ host: this.opts.httpHost ?? DEFAULT_MINER_HOST, port: this.opts.httpPort ?? DEFAULT_MINER_PORT })
    this.httpListening = true

    let available: string[]
    try {
      available = await this.ollama.tags()
    } catch (e) {
      throw new MinerError('MINER_OLLAMA_UNREACHABLE', `cannot list Ollama's models at ${this.opts.ollamaUrl}: ${(e as Error).message}`)
    }
    this.ollamaModels = available
    this.models = chooseModels(this.opts.models, available)
    if (this.models.length === 0) {
      const has = available.length === 0 ? 'no models' : `only ${available.join(', ')}`
      throw new MinerError('MINER_NO_MODELS', this.opts.models !== undefined
        ? `none of the models asked for (${this.opts.models.join(', ')}) is available in Ollama at ${this.opts.ollamaUrl}, which has ${has}; pull one first (ollama pull NAME)`
        : `Ollama at ${this.opts.ollamaUrl} has no models; pull one first (e.g. ollama pull llama3.2)`)
    }
    const missing = (this.opts.models ?? []).filter(a => !this.models.some(m => withTag(m) === withTag(a)))
    if (missing.length > 0) this.log.warn({ missing, ollama: this.opts.ollamaUrl }, 'models asked for but not in Ollama: not listing them')

    let rawParams: any
    let status: any
    try {
      [rawParams, status] = await Promise.all([this.node.params(), this.node.status()])
    } catch (e) {
      throw new MinerError('MINER_NODE_UNREACHABLE', `cannot read the chain's params from the node at ${this.opts.nodeUrl}: ${(e as Error).message}`)
    }
    this.params = {
      jobTimeoutS: Number(rawParams.job_timeout_s),
      blockTimeMs: Number(rawParams.block_time_ms),
      minFee: parseUaitbc(rawParams.min_fee, 'min_fee'),
      minMinerStake: parseUaitbc(rawParams.min_miner_stake, 'min_miner_stake'),
      defaultPricePerSecond: parseUaitbc(rawParams.default_price_per_second, 'default_price_per_second'),
      maxResultBytes: Number(rawParams.max_result_bytes),
    }
    this.marginMs = this.opts.deadlineMarginMs ?? Math.max(500, this.params.blockTimeMs)
    this.txs = new TxQueue(this.node, this.opts.key, String(status.node_info.network), this.params.minFee)

    await this.ensureListing()

    // Assignments: subscribe (its first attempt awaited), catch up, then keep both going.
    let firstAttempt!: () => void
    const attempted = new Promise<void>(resolve => { firstAttempt = resolve })
    this.connectLoop = this.runConnectLoop(firstAttempt)
    await attempted
    await this.catchUp('start').catch(e => this.log.warn({ err: (e as Error).message }, 'listing assigned jobs failed; will retry'))
    const every = this.opts.pollIntervalMs ?? 30_000
    if (every > 0) {
      this.pollTimer = setInterval(() => { void this.catchUp('poll').catch(e => this.log.warn({ err: (e as Error).message }, 'listing assigned jobs failed')) }, every)
      this.pollTimer.unref()
    }
    void this.refreshEarnings()
    this.log.info({ url: this.url, node: this.opts.nodeUrl, ollama: this.opts.ollamaUrl, models: this.models, capacity: this.capacity, price_per_second: this.pricePerSecond.toString() }, 'miner started')
  }

  /** register_miner, or update_miner / stake so that the chain's listing is what was asked. */
  private async ensureListing (): Promise<void> {
    let current: any
    try {
      current = await this.node.call('aitbc_miner', { address: this.address })
    } catch (e) {
      if (!(e instanceof RpcClientError && /not a registered miner/.test(e.message))) {
        throw new MinerError('MINER_NODE_UNREACHABLE', `cannot read this miner's listing from the node at ${this.opts.nodeUrl}: ${(e as Error).message}`)
      }
    }
    const stake = this.opts.stake ?? this.params.minMinerStake
    if (current === undefined) {
      this.capacity = this.opts.capacity ?? 1
      this.pricePerSecond = this.opts.pricePerSecond ?? this.params.defaultPricePerSecond
      this.log.info({ models: this.models, stake: stake.toString(), price_per_second: this.pricePerSecond.toString(), capacity: this.capacity }, 'registering as a miner')
      await this.sendAndWait({ type: 'register_miner', models: this.models, pricePerSecond: this.pricePerSecond, capacity: this.capacity, stake })
      return
    }
    const chainModels: string[] = current.models
    const chainPrice = BigInt(current.price_per_second)
    const chainCapacity = Number(current.capacity)
    this.capacity = this.opts.capacity ?? chainCapacity
    this.pricePerSecond = this.opts.pricePerSecond ?? chainPrice
    const sameModels = chainModels.length === this.models.length && this.models.every(m => chainModels.includes(m))
    const update: TxBody & { type: 'update_miner' } = {
      type: 'update_miner',
      models: sameModels ? null : this.models,
      pricePerSecond: this.pricePerSecond === chainPrice ? null : this.pricePerSecond,
      capacity: this.capacity === chainCapacity ? null : this.capacity,
      active: current.active === true ? null : true,
    }
    if (update.capacity !== null && Number(current.active_jobs) > update.capacity) {
      // The chain refuses a capacity below the jobs already assigned (MINER_BUSY): keep its value
      // on chain for now; this process still runs at most `capacity` jobs at once.
      this.log.warn({ capacity: update.capacity, active_jobs: current.active_jobs }, 'capacity not lowered on chain while more jobs than that are assigned; run again once they settle')
      update.capacity = null
    }
    if (update.models !== null || update.pricePerSecond !== null || update.capacity !== null || update.active !== null) {
      this.log.info({ models: update.models, price_per_second: update.pricePerSecond?.toString() ?? null, capacity: update.capacity, active: update.active }, 'updating the miner listing')
      await this.sendAndWait(update)
    }
    const bonded = BigInt(current.stake)
    if (bonded < stake) {
      this.log.info({ bonded: bonded.toString(), stake: stake.toString() }, 'bonding more stake')
      await this.sendAndWait({ type: 'stake', amount: stake - bonded })
    }
  }

  private async sendAndWait (body: TxBody): Promise<void> {
    try {
      const sent = await this.txs.send(body)
      await this.txs.waitCommitted(sent, 60_000, Math.max(100, Math.floor(this.params.blockTimeMs / 2)))
    } catch (e) {
      throw new MinerError('MINER_LISTING_FAILED', `${body.type} failed: ${(e as Error).message}`)
    }
  }

  // ---- learning of assignments ----------------------------------------------------------------

  private async runConnectLoop (firstAttempt: () => void): Promise<void> {
    const min = this.opts.reconnectMinMs ?? 250
    const max = this.opts.reconnectMaxMs ?? 10_000
    let delay = min
    const query = `tm.event='Tx' AND assign.miner='${this.address}'`
    while (!this.subscriptionDone()) {
      let onClosed!: () => void
      const closed = new Promise<void>(resolve => { onClosed = resolve })
      try {
        // NodeClient.subscribe never settles when the socket closes between its opening and the
        // subscribe answer, so a close (or no answer in time) ends the attempt.
        const attempt = this.node.subscribe(query, ev => this.onEvent(ev), () => onClosed())
        let timer: NodeJS.Timeout | undefined
        const sub = await Promise.race([
          attempt,
          closed.then(() => { throw new Error('the socket closed before the subscription was confirmed') }),
          new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('no answer to subscribe within 10 s')), 10_000) }),
        ]).catch((e: unknown) => {
          attempt.then(late => late.close(), () => {})
          throw e
        }).finally(() => clearTimeout(timer))
        this.sub = sub
        this.subscribed = true
        delay = min
        this.log.info({ query }, 'subscribed to assignments')
        firstAttempt()
        // Whatever was assigned while the socket was down.
        void this.catchUp('connect').catch(e => this.log.warn({ err: (e as Error).message }, 'listing assigned jobs failed'))
        if (this.subscriptionDone()) this.sub.close()
        await closed
        this.subscribed = false
        this.sub = undefined
        if (this.subscriptionDone()) break
        this.log.warn('subscription to the node dropped; reconnecting')
      } catch (e) {
        this.subscribed = false
        this.log.warn({ err: (e as Error).message, retry_ms: delay }, 'cannot subscribe to the node; retrying')
        firstAttempt()
      }
      if (this.subscriptionDone()) break
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, delay)
        this.wakeReconnect = () => { clearTimeout(t); resolve() }
      })
      this.wakeReconnect = undefined
      delay = Math.min(max, delay * 2)
    }
  }

  /** Set by closeAll: the subscription is closed and not re-opened. */
  private subscriptionDone (): boolean { return this.closingSubscription }
  private closingSubscription = false

  private onEvent (result: any): void {
    const ids = new Set<string>()
    const events = result?.data?.value?.TxResult?.result?.events
    if (Array.isArray(events)) {
      for (const ev of events) {
        if (ev?.type !== 'assign' || !Array.isArray(ev.attributes)) continue
        const attrs: Record<string, string> = {}
        for (const a of ev.attributes) if (typeof a?.key === 'string') attrs[a.key] = String(a.value)
        if (attrs.miner === this.address && JOB_ID_RE.test(attrs.job_id ?? '')) ids.add(attrs.job_id)
      }
    }
    for (const id of ids) this.learn(id, undefined, 'event')
  }

  /** Lists the jobs the chain has assigned to this miner and not yet settled. */
  private async catchUp (reason: string): Promise<void> {
    const perPage = 100
    for (let page = 1; ; page++) {
      const r = await this.node.call('aitbc_jobs', { miner: this.address, status: 'assigned', page: String(page), per_page: String(perPage) })
      const jobs: any[] = r.jobs ?? []
      for (const j of jobs) this.learn(String(j.job_id), j, reason)
      if (jobs.length < perPage || page * perPage >= Number(r.total_count)) break
    }
  }

  private learn (jobId: string, job: any, source: string): void {
    if (this.seen.has(jobId)) return
    this.seen.add(jobId)
    this.admitting++
    void this.admit(jobId, job, source)
      .catch(e => this.log.error({ job: jobId, err: (e as Error).message }, 'cannot take up job'))
      .finally(() => { this.admitting--; this.checkIdle() })
  }

  private async admit (jobId: string, job: any, source: string): Promise<void> {
    if (job === undefined) {
      try {
        job = await this.node.job(jobId)
      } catch (e) {
        this.seen.delete(jobId) // the next listing picks it up again
        this.log.warn({ job: jobId, err: (e as Error).message }, 'cannot read an assigned job; will retry')
        return
      }
    }
    if (job.status !== 'assigned' || job.miner !== this.address) {
      this.log.debug({ job: jobId, status: job.status }, 'job is not open for this miner')
      return
    }
    const o = job.options ?? {}
    const options: OllamaGenerateOptions = {}
    if (o.temperature !== null && o.temperature !== undefined) options.temperature = Number(o.temperature)
    if (o.num_predict !== null && o.num_predict !== undefined) options.num_predict = Number(o.num_predict)
    if (o.seed !== null && o.seed !== undefined) options.seed = Number(o.seed)
    const deadlineMs = Date.parse(job.assigned_at) + this.params.jobTimeoutS * 1000
    const lj: LocalJob = { id: jobId, model: String(job.model), prompt: String(job.prompt), options, assignedAt: String(job.assigned_at), deadlineMs, state: 'queued' }
    this.jobs.set(jobId, lj)
    this.metrics.jobsInFlight.set(this.jobs.size)
    this.log.info({ job: jobId, model: lj.model, source, deadline: new Date(deadlineMs).toISOString() }, 'job assigned')

    if (this.stopping) {
      // Assigned before the deactivation took effect: give the client its money back at once.
      await this.report(lj, { kind: 'failed', error: 'the miner is shutting down and did not run the job', computeMs: 0 })
      return
    }
    const abandonIn = deadlineMs - this.marginMs - Date.now()
    if (abandonIn <= 0) { this.abandon(lj, 'the deadline is too close to run the job'); return }
    lj.timer = setTimeout(() => this.onDeadline(lj), abandonIn)
    this.queue.push(lj)
    this.pump()
  }

  // ---- running jobs ---------------------------------------------------------------------------

  private pump (): void {
    while (this.running < this.capacity && this.queue.length > 0) {
      const lj = this.queue.shift() as LocalJob
      void this.runJob(lj).catch(e => this.log.error({ job: lj.id, err: (e as Error).message }, 'job handling failed'))
    }
  }

  private onDeadline (lj: LocalJob): void {
    lj.timer = undefined
    if (lj.state === 'queued') {
      const i = this.queue.indexOf(lj)
      if (i >= 0) this.queue.splice(i, 1)
      this.abandon(lj, 'the deadline passed while the job waited for a free slot')
    } else if (lj.state === 'running') {
      lj.stopReason ??= 'deadline'
      lj.abort?.abort(new Error('job deadline'))
    }
  }

  private async runJob (lj: LocalJob): Promise<void> {
    lj.state = 'running'
    this.running++
    const abort = new AbortController()
    lj.abort = abort
    const t0 = performance.now()
    let outcome: Outcome
    try {
      const r = await this.ollama.generate({ model: lj.model, prompt: lj.prompt, options: lj.options }, { signal: abort.signal })
      const computeMs = Math.max(0, Math.round(performance.now() - t0))
      this.ollamaReachable = true
      outcome = { kind: 'completed', result: r.response, computeMs, promptTokens: Math.floor(r.promptTokens), completionTokens: Math.floor(r.completionTokens) }
      this.countTokens(outcome)
    } catch (e) {
      const computeMs = Math.max(0, Math.round(performance.now() - t0))
      if (lj.stopReason === 'shutdown') {
        outcome = { kind: 'failed', error: 'the miner was stopped before the job finished', computeMs }
      } else if (lj.stopReason === 'deadline') {
        outcome = { kind: 'failed', error: 'deadline', computeMs } // not sent: abandoned below
      } else {
        const code = e instanceof OllamaError ? e.code : 'UNKNOWN'
        if (code === 'OLLAMA_UNREACHABLE') this.ollamaReachable = false
        this.metrics.ollamaErrors.inc({ code })
        this.log.warn({ job: lj.id, model: lj.model, code, err: (e as Error).message }, 'Ollama failed the job')
        outcome = { kind: 'failed', error: (e as Error).message !== '' ? (e as Error).message : code, computeMs }
      }
    } finally {
      this.running--
      lj.abort = undefined
      this.metrics.inferenceSeconds.observe((performance.now() - t0) / 1000)
      this.pump()
    }
    if (lj.timer !== undefined) { clearTimeout(lj.timer); lj.timer = undefined }
    if (lj.stopReason === 'deadline' || (lj.stopReason === undefined && Date.now() >= lj.deadlineMs - this.marginMs / 2)) {
      this.abandon(lj, 'Ollama did not answer before the job\'s deadline')
      return
    }
    await this.report(lj, outcome)
  }

  private abandon (lj: LocalJob, why: string): void {
    if (lj.timer !== undefined) { clearTimeout(lj.timer); lj.timer = undefined }
    this.log.warn({ job: lj.id, model: lj.model, deadline: new Date(lj.deadlineMs).toISOString(), reason: why }, 'job abandoned: no receipt sent, the chain will expire it')
    this.finish(lj, 'abandoned')
  }

  // ---- receipts -------------------------------------------------------------------------------

  private receiptBody (lj: LocalJob, o: Outcome): TxBody {
    if (o.kind === 'completed') {
      let result = o.result
      if (utf8Bytes(result).length > this.params.maxResultBytes) {
        this.log.warn({ job: lj.id, bytes: utf8Bytes(result).length, max_result_bytes: this.params.maxResultBytes }, 'result longer than max_result_bytes: truncated')
        result = truncateUtf8(result, this.params.maxResultBytes)
      }
      return { type: 'record_receipt', jobId: lj.id, status: 'completed', result, resultHash: sha256(utf8Bytes(result)), metrics: { computeMs: o.computeMs, promptTokens: o.promptTokens, completionTokens: o.completionTokens }, error: null }
    }
    return { type: 'record_receipt', jobId: lj.id, status: 'failed', result: '', resultHash: sha256(utf8Bytes('')), metrics: { computeMs: o.computeMs, promptTokens: 0, completionTokens: 0 }, error: truncateUtf8(o.error, MAX_ERROR_BYTES) }
  }

  /** Sends the receipt and follows it until the chain shows the job settled. */
  private async report (lj: LocalJob, o: Outcome): Promise<void> {
    lj.state = 'reporting'
    const body = this.receiptBody(lj, o)
    const pollMs = Math.max(100, Math.floor(this.params.blockTimeMs / 2))
    const giveUpAt = lj.deadlineMs + 2 * this.params.blockTimeMs + 5000
    const sentHashes: string[] = []
    let sent: SentTx | undefined
    let backoff = 250
    for (;;) {
      if (this.forced && sent !== undefined) { this.finish(lj, o.kind); return } // stopping hard: accepted is enough
      if (Date.now() > giveUpAt || (this.forced && Date.now() > (this.forcedAt ?? 0) + 5000)) {
        this.log.error({ job: lj.id }, 'could not record the receipt before giving up')
        this.finish(lj, 'lost')
        return
      }
      if (sent === undefined) {
        if (Date.now() >= lj.deadlineMs) {
          this.log.error({ job: lj.id }, 'the deadline passed before the receipt could be sent')
          this.finish(lj, 'lost')
          return
        }
        try {
          sent = await this.txs.send(body)
          sentHashes.push(sent.hash)
          this.log.info({ job: lj.id, status: body.type === 'record_receipt' ? body.status : '', tx: sent.hash, nonce: sent.nonce }, 'receipt sent')
          backoff = 250
        } catch (e) {
          if (e instanceof TxRefusedError) {
            if (e.code === TxCode.JOB_ALREADY_SETTLED && sentHashes.length > 0) {
              // Our earlier receipt made it after all: see below.
            } else {
              this.log.error({ job: lj.id, code: e.code, reason: e.log }, 'the node refused the receipt')
              this.finish(lj, 'lost')
              return
            }
          } else {
            this.log.warn({ job: lj.id, err: (e as Error).message, retry_ms: backoff }, 'cannot send the receipt; retrying')
            await sleep(backoff)
            backoff = Math.min(5000, backoff * 2)
            continue
          }
        }
      }
      // Follow it: the job's settle_tx tells which receipt settled it.
      try {
        const acct = sent !== undefined ? await this.node.account(this.address) : undefined
        const job = await this.node.job(lj.id)
        if (job.status !== 'assigned') {
          if (sentHashes.includes(String(job.settle_tx)) && (job.status === 'completed' || job.status === 'failed')) {
            this.log.info({ job: lj.id, status: job.status, paid: job.paid, receipt: job.receipt_id, height: job.settled_height }, 'receipt recorded')
            this.finish(lj, job.status)
            void this.refreshEarnings()
          } else {
            this.log.error({ job: lj.id, status: job.status }, 'the job was settled without this miner\'s receipt')
            this.finish(lj, 'lost')
          }
          return
        }
        if (sent !== undefined && acct !== undefined && (Number(acct.pending_nonce) <= sent.nonce || Number(acct.nonce) > sent.nonce)) {
          this.log.warn({ job: lj.id, tx: sent.hash }, 'the receipt left the mempool without being committed; sending it again')
          sent = undefined
          continue
        }
      } catch (e) {
        this.log.warn({ job: lj.id, err: (e as Error).message }, 'cannot read the job back')
      }
      await sleep(pollMs)
    }
  }

  private finish (lj: LocalJob, outcome: JobOutcome): void {
    if (lj.timer !== undefined) { clearTimeout(lj.timer); lj.timer = undefined }
    if (!this.jobs.delete(lj.id)) return
    this.counts[outcome]++
    this.metrics.jobs.inc({ outcome })
    this.metrics.jobsInFlight.set(this.jobs.size)
    this.checkIdle()
  }

  private countTokens (o: Outcome): void {
    if (o.kind !== 'completed') return
    this.metrics.tokens.inc({ kind: 'prompt' }, o.promptTokens)
    this.metrics.tokens.inc({ kind: 'completion' }, o.completionTokens)
  }

  private async refreshEarnings (): Promise<bigint> {
    try {
      const m = await this.probeNode.call('aitbc_miner', { address: this.address })
      this.earned = BigInt(m.earned)
      this.metrics.earnings.set(Number(this.earned))
    } catch { /* keep the last value */ }
    return this.earned
  }

  // ---- stop -----------------------------------------------------------------------------------

  private forcedAt: number | undefined

  async stop (): Promise<void> {
    if (this.stopPromise !== undefined) {
      if (!this.forced) this.failInFlight()
      return await this.stopPromise
    }
    this.stopping = true
    this.stopPromise = this.drainAndClose()
    return await this.stopPromise
  }

  private failInFlight (): void {
    this.forced = true
    this.forcedAt = Date.now()
    this.log.warn({ in_flight: this.jobs.size }, 'stopping now: failing the jobs in flight')
    for (const lj of this.queue.splice(0)) {
      if (lj.timer !== undefined) { clearTimeout(lj.timer); lj.timer = undefined }
      void this.report(lj, { kind: 'failed', error: 'the miner was stopped before the job started', computeMs: 0 })
        .catch(e => this.log.error({ job: lj.id, err: (e as Error).message }, 'failing the job failed'))
    }
    for (const lj of this.jobs.values()) {
      if (lj.state === 'running') { lj.stopReason = 'shutdown'; lj.abort?.abort(new Error('miner stopping')) }
    }
  }

  private async drainAndClose (): Promise<void> {
    this.log.info({ in_flight: this.jobs.size }, 'stopping: taking no new jobs, finishing those in flight')
    if (this.pollTimer !== undefined) { clearInterval(this.pollTimer); this.pollTimer = undefined }
    let deactivated: Promise<unknown> = Promise.resolve()
    if (this.txs !== undefined && (this.opts.deactivateOnStop ?? true)) {
      deactivated = this.txs.send({ type: 'update_miner', models: null, pricePerSecond: null, capacity: null, active: false })
        .then(async sent => await this.txs.waitCommitted(sent, 10_000, Math.max(100, Math.floor(this.params.blockTimeMs / 2))))
        .then(() => this.log.info('listing deactivated: the chain assigns nothing more to this miner'))
        .catch(e => this.log.warn({ err: (e as Error).message }, 'could not deactivate the listing'))
    }
    await this.idle()
    await deactivated
    await this.closeAll()
    this.log.info({ done: this.counts.completed, failed: this.counts.failed, abandoned: this.counts.abandoned, lost: this.counts.lost }, 'miner stopped')
  }

  private idle (): Promise<void> {
    if (this.jobs.size === 0 && this.admitting === 0) return Promise.resolve()
    return new Promise(resolve => this.idleWaiters.push(resolve))
  }

  private checkIdle (): void {
    if (this.jobs.size !== 0 || this.admitting !== 0) return
    for (const w of this.idleWaiters.splice(0)) w()
  }

  private async closeAll (): Promise<void> {
    this.closingSubscription = true
    this.stopping = true
    if (this.pollTimer !== undefined) { clearInterval(this.pollTimer); this.pollTimer = undefined }
    this.sub?.close()
    this.wakeReconnect?.()
    await this.connectLoop
    if (this.httpListening) { this.httpListening = false; await this.http.close() }
  }

  /** Cleanup after a failed start. */
  async shutdownQuietly (): Promise<void> {
    try { await this.closeAll() } catch { /* already failing */ }
  }

  // ---- status and HTTP --------------------------------------------------------------------------

  status (): MinerStatus {
    return {
      address: this.address,
      url: this.url,
      node: { url: this.node.url, subscribed: this.subscribed },
      models: [...this.models],
      capacity: this.capacity,
      price_per_second: this.pricePerSecond.toString(),
      stopping: this.stopping,
      jobs_in_flight: this.jobs.size,
      jobs: [...this.jobs.values()].map(j => ({ job_id: j.id, state: j.state, model: j.model, assigned_at: j.assignedAt, deadline: new Date(j.deadlineMs).toISOString() })),
      done: this.counts.completed,
      failed: this.counts.failed,
      abandoned: this.counts.abandoned,
      lost: this.counts.lost,
      earnings_uaitbc: this.earned.toString(),
      ollama: { url: this.ollama.baseUrl, reachable: this.ollamaReachable, models: [...this.ollamaModels] },
    }
  }

  private async probe (): Promise<{ node: boolean, ollama: boolean }> {
    const [node, ollama] = await Promise.all([
      this.probeNode.call('health').then(() => true, () => false),
      this.probeOllama.tags().then(models => { this.ollamaModels = models; return true }, () => false),
    ])
    this.ollamaReachable = ollama
    return { node, ollama }
  }

  private buildHttp (): FastifyInstance {
    const app = Fastify({ logger: false })
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
      return await reply.header('content-type', this.metrics.registry.contentType).send(await this.metrics.registry.metrics())
    })
    return app
  }
}
