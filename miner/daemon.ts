// The miner daemon (`aitbc miner start`): it serves the jobs the chain assigns to its key on an
// Ollama server and records their results, and re-runs the checked jobs of other miners it is
// drawn to verify, using only the node's RPC and events. This file builds the parts and runs them
// in order:
//
//   StatusServer          HTTP /health, /status, /metrics (statusServer.ts)
//   Listing               Ollama's models and their digests, the on-chain listing and stake (listing.ts)
//   AssignmentFollower    the jobs assigned to this miner, and those it must verify, each once (assignmentFollower.ts)
//   JobRunner             Ollama calls within capacity and the run's deadline (jobRunner.ts)
//   ReceiptReporter       record_receipt: unchecked results, and failures (receiptReporter.ts)
//   CommitRevealReporter  commit_result / reveal_result of checked jobs, as miner or verifier (commitRevealReporter.ts)
//   ResultStore           the salts and texts committed to, on disk until revealed (resultStore.ts)
//   JobBook               the jobs in flight and their outcomes (jobBook.ts)
//
// A checked job's miner commits, then reveals (docs/miner-verification.md); a run that cannot
// finish before its deadline ends with a failed receipt "timeout" (a refund, no slash) while the
// miner has not committed. At start, the commitments saved by an earlier process are resumed.
//
// stop(): deactivates the listing, takes no new jobs (jobs assigned meanwhile get a failed
// receipt at once: full refund, no slash) and waits for those in flight, verifications and
// reveals included; a second stop() aborts them, records failed receipts for the runs not yet
// committed and leaves the saved commitments for the next start.
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { NodeClient, type JobJSON, type SigningKey } from '../node/client.ts'
import { AssignmentFollower, type AssignedJob, type AssignmentSource } from './assignmentFollower.ts'
import { BlockTimes } from './blockTimes.ts'
import { readChainParams, type ChainParams } from './chainParams.ts'
import { systemClock } from './clock.ts'
import { CommitRevealReporter, type CheckedResult } from './commitRevealReporter.ts'
import { inferenceJobFromChain, verificationJobFromChain, type InferenceJob, type InferenceOutcome } from './inferenceJob.ts'
import { JobBook } from './jobBook.ts'
import { JobRunner } from './jobRunner.ts'
import { Listing, readModelsToList } from './listing.ts'
import { createMinerMetrics, type MinerMetrics } from './metrics.ts'
import { MinerError } from './minerError.ts'
import { OllamaClient } from './ollamaClient.ts'
import { ReceiptReporter } from './receiptReporter.ts'
import { ResultStore, type StoredResult } from './resultStore.ts'
import { StatusServer, type DaemonStatus, type MinerStatus } from './statusServer.ts'
import { TokenStreams } from './tokenStreams.ts'
import { TxQueue } from './txQueue.ts'

export { MinerError, type MinerErrorCode } from './minerError.ts'
export { DEFAULT_MINER_HOST, DEFAULT_MINER_PORT, type MinerStatus } from './statusServer.ts'
export type { MinerJobView } from './jobBook.ts'

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
  /** uaitbc per million input / output tokens; either set: the miner bills by tokens. */
  priceIn?: bigint
  priceOut?: bigint
  /** The most tokens it generates per job (listed; default none: the chain's max_num_predict). */
  maxNumPredict?: number
  /** Where the salts of its commitments are kept until revealed. Default $AITBC_HOME/miner/<address> (~/.aitbc when unset). */
  dataDir?: string
  httpHost?: string
  /** Default 8010; 0 picks a free port. */
  httpPort?: number
  /** The public URL of the HTTP port, listed on chain for the jobs' live token streams. Default: the URL it listens on. */
  endpoint?: string
  logger: Logger
  /** A run ends (failed "timeout") this long before the chain deadline. Default: max(1000, 2 x block_time_ms). */
  deadlineMarginMs?: number
  /** Safety-net listing of assigned jobs, besides the subscription. Default 30000; 0 disables. */
  pollIntervalMs?: number
  /** Reconnect backoff of the subscription. Defaults 250 and 10000. */
  reconnectMinMs?: number
  reconnectMaxMs?: number
  /** Send update_miner active=false on stop so the chain assigns nothing more. Default true. */
  deactivateOnStop?: boolean
}

export interface RunningMiner {
  url: string
  address: string
  /** First call: graceful (finish in-flight jobs); a second call fails the in-flight jobs. */
  stop: () => Promise<void>
  status: () => MinerStatus
}

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

/** The parts that exist once the chain's params are known. */
interface Working { params: ChainParams, runner: JobRunner, reporter: ReceiptReporter, checked: CommitRevealReporter, follower: AssignmentFollower, blockTimes: BlockTimes }

class MinerDaemon {
  readonly address: string
  private readonly log: Logger
  private readonly node: NodeClient
  private readonly ollama: OllamaClient
  private readonly metrics: MinerMetrics
  private readonly book: JobBook
  private readonly statusServer: StatusServer
  private readonly store: ResultStore
  private readonly digests = new Map<string, string | null>()
  private readonly streams = new TokenStreams()
  private chainId: string | undefined
  private listing: Listing | undefined
  private work: Working | undefined
  private stopping = false
  private forced = false
  private stopPromise: Promise<void> | undefined

  private readonly probeOllama: OllamaClient

  constructor (private readonly opts: MinerOptions) {
    this.address = opts.key.address
    this.log = opts.logger.child({ module: 'miner', miner: this.address })
    this.node = new NodeClient(opts.nodeUrl, { retries: 3, backoffMs: 200, timeoutMs: 15_000 })
    let probeOllama: OllamaClient
    try {
      this.ollama = new OllamaClient({ baseUrl: opts.ollamaUrl, timeoutMs: 0 })
      probeOllama = this.probeOllama = new OllamaClient({ baseUrl: opts.ollamaUrl, timeoutMs: PROBE_TIMEOUT_MS })
    } catch (e) {
      throw new MinerError('MINER_BAD_OPTION', `--ollama: ${(e as Error).message}`)
    }
    if (opts.capacity !== undefined && (!Number.isInteger(opts.capacity) || opts.capacity < 1)) throw new MinerError('MINER_BAD_OPTION', `capacity must be a positive integer, got ${opts.capacity}`)
    this.store = new ResultStore(opts.dataDir ?? join(process.env.AITBC_HOME !== undefined && process.env.AITBC_HOME !== '' ? process.env.AITBC_HOME : join(homedir(), '.aitbc'), 'miner', this.address))
    this.metrics = createMinerMetrics()
    this.book = new JobBook({ metrics: this.metrics })
    this.statusServer = new StatusServer(
      { address: this.address, host: opts.httpHost, port: opts.httpPort },
      { probeNode: new NodeClient(opts.nodeUrl, { retries: 0, timeoutMs: PROBE_TIMEOUT_MS }), probeOllama, metrics: this.metrics, daemonStatus: () => this.daemonStatus(), streams: this.streams, chainId: () => this.chainId },
    )
  }

  get url (): string { return this.statusServer.url }

  async start (): Promise<void> {
    const { opts, log } = this
    await this.statusServer.start()
    const { models, available, info } = await readModelsToList({ asked: opts.models, ollamaUrl: opts.ollamaUrl }, { ollama: this.probeOllama, logger: log })
    for (const m of info) this.digests.set(m.name, m.digest)
    this.statusServer.observeOllama({ models: available })
    const params = await readChainParams(this.node, opts.nodeUrl)
    if (opts.maxNumPredict !== undefined && (opts.maxNumPredict < 1 || opts.maxNumPredict > params.maxNumPredict)) {
      throw new MinerError('MINER_BAD_OPTION', `max_num_predict must be from 1 to the chain's max_num_predict ${params.maxNumPredict}, got ${opts.maxNumPredict}`)
    }
    this.chainId = params.chainId
    const txs = new TxQueue(this.node, opts.key, params.chainId, params.minFee)

    const listing = this.listing = new Listing(
      {
        address: this.address, nodeUrl: opts.nodeUrl, models, modelInfo: info, stake: opts.stake, pricePerSecond: opts.pricePerSecond, capacity: opts.capacity,
        priceIn: opts.priceIn, priceOut: opts.priceOut, maxNumPredict: opts.maxNumPredict, deactivateOnStop: opts.deactivateOnStop, params,
        endpoint: opts.endpoint ?? this.statusServer.url,
      },
      { node: this.node, txs, logger: log },
    )
    await listing.start()

    const digestOf = (model: string): string | null => this.digests.get(model) ?? null
    const blockTimes = new BlockTimes({ node: this.node, logger: log, clock: systemClock })
    const runner = new JobRunner(
      { capacity: listing.capacity, deadlineMarginMs: opts.deadlineMarginMs ?? Math.max(1000, 2 * params.blockTimeMs) },
      { ollama: this.ollama, logger: log, metrics: this.metrics, onOllamaReachable: reachable => this.statusServer.observeOllama({ reachable }) },
    )
    const reporter = new ReceiptReporter({ address: this.address, maxResultBytes: params.maxResultBytes, blockTimeMs: params.blockTimeMs, digestOf }, { node: this.node, txs, logger: log })
    const checked = new CommitRevealReporter(
      { address: this.address, maxResultBytes: params.maxResultBytes, blockTimeMs: params.blockTimeMs, jobTimeoutS: params.jobTimeoutS, digestOf },
      { node: this.node, txs, store: this.store, logger: log, blockTimes },
    )
    const follower = new AssignmentFollower(
      { address: this.address, pollIntervalMs: opts.pollIntervalMs, reconnectMinMs: opts.reconnectMinMs, reconnectMaxMs: opts.reconnectMaxMs },
      { node: this.node, logger: log, onAssigned: (job, source) => this.onAssigned(job, source), onVerify: (job, source) => this.onVerify(job, source) },
    )
    this.work = { params, runner, reporter, checked, follower, blockTimes }
    this.resumeSaved()
    await follower.start()
    void this.statusServer.refreshEarnings()
    log.info({
      url: this.url, node: opts.nodeUrl, ollama: opts.ollamaUrl, models, digests: info.map(m => m.digest), capacity: listing.capacity, price_per_second: listing.pricePerSecond.toString(),
      price_in: listing.priceIn?.toString() ?? null, price_out: listing.priceOut?.toString() ?? null, max_num_predict: listing.maxNumPredict, verification_rate: params.verificationRate, data: this.store.dir,
    }, 'miner started')
  }

  /** The commitments an earlier process saved and did not reveal: each is followed to its end, none is run again. */
  private resumeSaved (): void {
    const { follower, checked, params } = this.work as Working
    const { entries, unreadable } = this.store.list()
    if (unreadable.length > 0) this.log.warn({ files: unreadable, dir: this.store.dir }, 'files in the commitment folder that are not saved commitments: left alone')
    follower.markSeen(entries.map(e => e.jobId))
    for (const e of entries) {
      const job: InferenceJob = { id: e.jobId, role: e.role, model: '', prompt: '', messages: null, options: {}, checked: true, assignedAt: e.storedAt, deadlineMs: Date.now() + 3 * params.jobTimeoutS * 1000 }
      this.book.add(job, 'committed')
      void this.finishChecked(job, checked.resume(e as StoredResult))
    }
  }

  /** First call: graceful; a second call fails the jobs in flight. */
  async stop (): Promise<void> {
    if (this.stopPromise !== undefined) {
      if (!this.forced) this.failInFlight()
      return await this.stopPromise
    }
    this.stopping = true
    this.stopPromise = this.drainAndClose()
    return await this.stopPromise
  }

  /** Cleanup after a failed start. */
  async shutdownQuietly (): Promise<void> {
    try { await this.closeAll() } catch { /* already failing */ }
  }

  status (): MinerStatus { return this.statusServer.status() }

  private daemonStatus (): DaemonStatus {
    const counts = this.book.outcomes
    return {
      address: this.address,
      url: this.url,
      node: { url: this.node.url, subscribed: this.work?.follower.subscribed ?? false },
      models: [...(this.listing?.models ?? [])],
      capacity: this.listing?.capacity ?? 1,
      price_per_second: (this.listing?.pricePerSecond ?? 0n).toString(),
      price_in: this.listing?.priceIn?.toString() ?? null,
      price_out: this.listing?.priceOut?.toString() ?? null,
      max_num_predict: this.listing?.maxNumPredict ?? null,
      model_digests: Object.fromEntries(this.digests),
      commitments_dir: this.store.dir,
      stopping: this.stopping,
      jobs_in_flight: this.book.size,
      jobs: this.book.views(),
      done: counts.completed,
      failed: counts.failed,
      rejected: counts.rejected,
      verified: counts.verified,
      abandoned: counts.abandoned,
      lost: counts.lost,
    }
  }

  /** A job the chain assigned to this miner: run it and report it, or fail it at once when stopping. */
  private onAssigned (assigned: AssignedJob, source: AssignmentSource): void {
    const { runner, params } = this.work as Working
    const job = inferenceJobFromChain(assigned, params.jobTimeoutS)
    this.book.add(job)
    this.log.info({ job: job.id, model: job.model, source, deadline: new Date(job.deadlineMs).toISOString() }, 'job assigned')
    if (this.stopping) {
      // Assigned before the deactivation took effect: give the client its money back at once.
      void this.report(job, { kind: 'failed', error: 'the miner is shutting down and did not run the job', computeMs: 0 })
      return
    }
    this.streams.open(job.id, job.clientKey ?? null)
    runner.run(job, { onRunning: () => this.book.setState(job.id, 'running'), onToken: t => { this.streams.push(job.id, t) } }).then(async outcome => {
      this.streams.end(job.id, outcome.kind === 'completed' ? null : outcome.error)
      // A checked job's result is committed first; a failure (timeout included) is a failed receipt: refunded, not slashed.
      if (outcome.kind === 'completed' && job.checked) await this.commitAndReveal(job, outcome)
      else await this.report(job, outcome)
    }, () => { this.streams.end(job.id, 'the run failed') }).finally(() => { this.streams.final(job.id) })
  }

  /** A checked job this miner was drawn to re-run: run it as its miner did, then commit and reveal. */
  private onVerify (chainJob: JobJSON, source: AssignmentSource): void {
    const { runner, params, blockTimes } = this.work as Working
    const phaseHeight = chainJob.verification?.phase_height ?? '0'
    // In the book at once (a stop waits for it); its deadline follows once the block's time is read.
    let job = verificationJobFromChain(chainJob, Date.now(), params.jobTimeoutS)
    this.book.add(job)
    void (async () => {
      job = verificationJobFromChain(chainJob, await blockTimes.at(phaseHeight), params.jobTimeoutS)
      this.book.add(job)
      this.log.info({ job: job.id, model: job.model, source, miner: chainJob.miner, deadline: new Date(job.deadlineMs).toISOString() }, 'drawn to verify a job')
      if (this.forced) { this.book.finish(job.id, 'abandoned'); return }
      const outcome = await runner.run(job, { onRunning: () => this.book.setState(job.id, 'running') })
      if (outcome.kind !== 'completed') {
        // A verifier has no failed receipt: the chain will count it silent.
        this.log.error({ job: job.id, err: outcome.error }, 'the verification run failed: nothing to commit')
        this.book.finish(job.id, 'abandoned')
        return
      }
      await this.commitAndReveal(job, outcome)
    })().catch(e => {
      this.log.error({ job: job.id, err: (e as Error).message }, 'verification handling failed')
      this.book.finish(job.id, 'lost')
    })
  }

  private async commitAndReveal (job: InferenceJob, outcome: InferenceOutcome & { kind: 'completed' }): Promise<void> {
    const { checked } = this.work as Working
    this.book.setState(job.id, 'reporting')
    await this.finishChecked(job, checked.report(job, outcome, { onCommitted: () => this.book.setState(job.id, 'committed') }))
  }

  private async finishChecked (job: InferenceJob, result: Promise<CheckedResult>): Promise<void> {
    try {
      const r = await result
      // Earnings read first, so that /status never counts a job done without its pay.
      if (r.outcome === 'completed' || r.outcome === 'verified' || r.outcome === 'rejected') await this.statusServer.refreshEarnings()
      this.book.finish(job.id, r.outcome)
    } catch (e) {
      this.log.error({ job: job.id, err: (e as Error).message }, 'job handling failed')
      this.book.finish(job.id, 'lost')
    }
  }

  private async report (job: InferenceJob, outcome: InferenceOutcome): Promise<void> {
    const { reporter } = this.work as Working
    this.book.setState(job.id, 'reporting')
    try {
      const r = await reporter.report(job, outcome)
      // Earnings read first, so that /status never counts a job done without its pay.
      if (r.confirmed) await this.statusServer.refreshEarnings()
      this.book.finish(job.id, r.outcome)
    } catch (e) {
      this.log.error({ job: job.id, err: (e as Error).message }, 'job handling failed')
      this.book.finish(job.id, 'lost')
    }
  }

  private failInFlight (): void {
    this.forced = true
    this.log.warn({ in_flight: this.book.size }, 'stopping now: failing the jobs in flight (saved commitments are resumed at the next start)')
    this.work?.reporter.force()
    this.work?.checked.force()
    this.work?.runner.stop()
  }

  private async drainAndClose (): Promise<void> {
    this.log.info({ in_flight: this.book.size }, 'stopping: taking no new jobs, finishing those in flight')
    this.work?.follower.stopPolling()
    const deactivated = this.listing?.stop()
    await this.idle()
    await deactivated
    await this.closeAll()
    const counts = this.book.outcomes
    this.log.info({ done: counts.completed, failed: counts.failed, rejected: counts.rejected, verified: counts.verified, abandoned: counts.abandoned, lost: counts.lost }, 'miner stopped')
  }

  /** Resolves when no job is in flight and none is being taken up, both at once. */
  private async idle (): Promise<void> {
    const follower = this.work?.follower
    do {
      await this.book.idle()
      await follower?.idle()
    } while (this.book.size > 0 || follower?.busy === true)
  }

  private async closeAll (): Promise<void> {
    this.stopping = true
    await this.work?.follower.stop()
    this.streams.close()
    await this.statusServer.stop()
  }
}
