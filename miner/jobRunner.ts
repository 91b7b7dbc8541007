// JobRunner: runs inference jobs on Ollama, at most `capacity` at once (the others wait in
// order), and only while there is time. A job's time ends deadlineMarginMs before its chain
// deadline, which leaves time for a receipt to reach a block: a job still waiting then, or whose
// deadline is already that close when it arrives, is abandoned without running; a running one has
// its Ollama request aborted and is abandoned. An abandoned job gets no receipt: the chain expires
// it. compute_ms is the wall time of the Ollama call.
//
// The runner only turns a job into an outcome: sending receipts is the receipt reporter's work.
import type { Logger } from 'pino'
import { systemClock, type Clock, type TimerHandle } from './clock.ts'
import type { InferenceJob, InferenceOutcome } from './inferenceJob.ts'
import type { MinerMetrics } from './metrics.ts'
import { OllamaError, type GenerateCallOptions, type GenerateRequest, type GenerateResult } from './ollamaClient.ts'

/** What the runner needs of an Ollama client. Failures should be OllamaErrors (their code is a metric label). */
export interface InferenceClient {
  generate: (req: GenerateRequest, opts: GenerateCallOptions) => Promise<GenerateResult>
}

export type RunOutcome = InferenceOutcome | { kind: 'abandoned', reason: string }

export interface JobRunnerOptions {
  /** Jobs on Ollama at once. */
  capacity: number
  /** A job is abandoned this long before its deadline. */
  deadlineMarginMs: number
}

export interface JobRunnerModules {
  ollama: InferenceClient
  logger: Logger
  metrics: Pick<MinerMetrics, 'inferenceSeconds' | 'ollamaErrors' | 'tokens'>
  clock?: Clock
  /** Told whether Ollama answered (true) or could not be reached (false). */
  onOllamaReachable?: (reachable: boolean) => void
}

export interface RunHooks {
  /** Called when the job leaves the queue and its Ollama call starts. */
  onRunning?: () => void
}

interface Slot {
  job: InferenceJob
  hooks: RunHooks
  done: (o: RunOutcome) => void
  failed: (e: unknown) => void
  timer?: TimerHandle
  abort?: AbortController
  stopReason?: 'deadline' | 'shutdown'
}

export class JobRunner {
  private readonly capacity: number
  private readonly marginMs: number
  private readonly log: Logger
  private readonly clock: Clock
  private readonly queue: Slot[] = []
  private readonly running = new Set<Slot>()

  constructor (opts: JobRunnerOptions, private readonly modules: JobRunnerModules) {
    this.capacity = opts.capacity
    this.marginMs = opts.deadlineMarginMs
    this.log = modules.logger
    this.clock = modules.clock ?? systemClock
  }

  get queuedCount (): number { return this.queue.length }
  get runningCount (): number { return this.running.size }

  /** Runs the job when a slot is free; resolves with its outcome, or abandoned when its time ran out. */
  async run (job: InferenceJob, hooks: RunHooks = {}): Promise<RunOutcome> {
    return await new Promise<RunOutcome>((resolve, reject) => {
      const slot: Slot = { job, hooks, done: resolve, failed: reject }
      const abandonIn = job.deadlineMs - this.marginMs - this.clock.now()
      if (abandonIn <= 0) { this.abandon(slot, 'the deadline is too close to run the job'); return }
      slot.timer = this.clock.setTimeout(() => this.onDeadline(slot), abandonIn)
      this.queue.push(slot)
      this.pump()
    })
  }

  /**
   * Stops every job now: those still queued end failed without running, those running have their
   * Ollama request aborted and end failed. Jobs run later are not affected.
   */
  stop (): void {
    for (const slot of this.queue.splice(0)) {
      this.clearTimer(slot)
      slot.done({ kind: 'failed', error: 'the miner was stopped before the job started', computeMs: 0 })
    }
    for (const slot of this.running) {
      slot.stopReason = 'shutdown'
      slot.abort?.abort(new Error('miner stopping'))
    }
  }

  private pump (): void {
    while (this.running.size < this.capacity && this.queue.length > 0) {
      const slot = this.queue.shift() as Slot
      this.execute(slot).then(slot.done, (e: unknown) => {
        this.log.error({ job: slot.job.id, err: (e as Error).message }, 'job handling failed')
        slot.failed(e)
      })
    }
  }

  private onDeadline (slot: Slot): void {
    slot.timer = undefined
    const i = this.queue.indexOf(slot)
    if (i >= 0) {
      this.queue.splice(i, 1)
      this.abandon(slot, 'the deadline passed while the job waited for a free slot')
    } else if (this.running.has(slot)) {
      slot.stopReason ??= 'deadline'
      slot.abort?.abort(new Error('job deadline'))
    }
  }

  private async execute (slot: Slot): Promise<RunOutcome> {
    const { job } = slot
    this.running.add(slot)
    const abort = new AbortController()
    slot.abort = abort
    slot.hooks.onRunning?.()
    const t0 = this.clock.monotonicMs()
    const elapsedMs = (): number => Math.max(0, Math.round(this.clock.monotonicMs() - t0))
    let outcome: InferenceOutcome
    try {
      const r = await this.modules.ollama.generate({ model: job.model, prompt: job.prompt, options: job.options }, { signal: abort.signal })
      const computeMs = elapsedMs()
      this.modules.onOllamaReachable?.(true)
      outcome = { kind: 'completed', result: r.response, computeMs, promptTokens: count(r.promptTokens), completionTokens: count(r.completionTokens) }
      this.modules.metrics.tokens.inc({ kind: 'prompt' }, outcome.promptTokens)
      this.modules.metrics.tokens.inc({ kind: 'completion' }, outcome.completionTokens)
    } catch (e) {
      const computeMs = elapsedMs()
      if (slot.stopReason === 'shutdown') {
        outcome = { kind: 'failed', error: 'the miner was stopped before the job finished', computeMs }
      } else if (slot.stopReason === 'deadline') {
        outcome = { kind: 'failed', error: 'deadline', computeMs } // not reported: abandoned below
      } else {
        const code = e instanceof OllamaError ? e.code : 'UNKNOWN'
        if (code === 'OLLAMA_UNREACHABLE') this.modules.onOllamaReachable?.(false)
        this.modules.metrics.ollamaErrors.inc({ code })
        this.log.warn({ job: job.id, model: job.model, code, err: (e as Error).message }, 'Ollama failed the job')
        outcome = { kind: 'failed', error: (e as Error).message !== '' ? (e as Error).message : code, computeMs }
      }
    } finally {
      this.running.delete(slot)
      slot.abort = undefined
      this.modules.metrics.inferenceSeconds.observe((this.clock.monotonicMs() - t0) / 1000)
      this.pump()
    }
    this.clearTimer(slot)
    // An answer that came in the last half of the margin would leave no time for the receipt.
    if (slot.stopReason === 'deadline' || (slot.stopReason === undefined && this.clock.now() >= job.deadlineMs - this.marginMs / 2)) {
      return this.abandoned(job, 'Ollama did not answer before the job\'s deadline')
    }
    return outcome
  }

  private abandon (slot: Slot, why: string): void {
    this.clearTimer(slot)
    slot.done(this.abandoned(slot.job, why))
  }

  private abandoned (job: InferenceJob, why: string): RunOutcome {
    this.log.warn({ job: job.id, model: job.model, deadline: new Date(job.deadlineMs).toISOString(), reason: why }, 'job abandoned: no receipt sent, the chain will expire it')
    return { kind: 'abandoned', reason: why }
  }

  private clearTimer (slot: Slot): void {
    if (slot.timer !== undefined) { this.clock.clearTimeout(slot.timer); slot.timer = undefined }
  }
}

/** A token count as a receipt carries it: a non-negative safe integer, whatever Ollama answered. */
export function count (n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0
}
