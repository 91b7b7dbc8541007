// JobRunner: runs inference jobs on Ollama (/api/generate for a prompt, /api/chat for messages),
// at most `capacity` at once (the others wait in order), and only while there is time. A job's
// time ends deadlineMarginMs before its chain deadline, which leaves time for a transaction to
// reach a block: a job still waiting then, or whose deadline is already that close when it
// arrives, ends failed with the error "timeout" without running; a running one has its Ollama
// request aborted and ends failed "timeout". A failed receipt before the deadline refunds the
// client and costs the miner nothing, where silence would be slashed. compute_ms is the wall time
// of the Ollama call.
//
// The runner only turns a job into an outcome: sending transactions is the reporters' work.
import type { Logger } from 'pino'
import { systemClock, type Clock, type TimerHandle } from './clock.ts'
import { TIMEOUT_ERROR, type InferenceJob, type InferenceOutcome, type RunDetails } from './inferenceJob.ts'
import type { MinerMetrics } from './metrics.ts'
import { OllamaError, type ChatRequest, type GenerateCallOptions, type GenerateRequest, type GenerateResult } from './ollamaClient.ts'

/** What the runner needs of an Ollama client. Failures should be OllamaErrors (their code is a metric label). */
export interface InferenceClient {
  generate: (req: GenerateRequest, opts: GenerateCallOptions) => Promise<GenerateResult>
  chat: (req: ChatRequest, opts: GenerateCallOptions) => Promise<GenerateResult>
}

export type RunOutcome = InferenceOutcome

export interface JobRunnerOptions {
  /** Jobs on Ollama at once. */
  capacity: number
  /** A job's run ends (failed "timeout") this long before its deadline. */
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
  /** Each piece of text Ollama streams (the job's live tokens). */
  onToken?: (text: string) => void
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

  /** Runs the job when a slot is free; resolves with its outcome (failed "timeout" when its time ran out). */
  async run (job: InferenceJob, hooks: RunHooks = {}): Promise<RunOutcome> {
    return await new Promise<RunOutcome>((resolve, reject) => {
      const slot: Slot = { job, hooks, done: resolve, failed: reject }
      const endIn = job.deadlineMs - this.marginMs - this.clock.now()
      if (endIn <= 0) { this.timeOut(slot, 'the deadline is too close to run the job', 0); return }
      slot.timer = this.clock.setTimeout(() => this.onDeadline(slot), endIn)
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
      this.timeOut(slot, 'the deadline came while the job waited for a free slot', 0)
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
      const r = job.messages !== null
        ? await this.modules.ollama.chat({ model: job.model, messages: job.messages, options: job.options }, { signal: abort.signal, onToken: slot.hooks.onToken })
        : await this.modules.ollama.generate({ model: job.model, prompt: job.prompt, options: job.options }, { signal: abort.signal, onToken: slot.hooks.onToken })
      const computeMs = elapsedMs()
      this.modules.onOllamaReachable?.(true)
      outcome = { kind: 'completed', result: r.response, computeMs, promptTokens: count(r.promptTokens), completionTokens: count(r.completionTokens), details: runDetails(r) }
      this.modules.metrics.tokens.inc({ kind: 'prompt' }, outcome.promptTokens)
      this.modules.metrics.tokens.inc({ kind: 'completion' }, outcome.completionTokens)
    } catch (e) {
      const computeMs = elapsedMs()
      if (slot.stopReason === 'shutdown') {
        outcome = { kind: 'failed', error: 'the miner was stopped before the job finished', computeMs }
      } else if (slot.stopReason === 'deadline') {
        outcome = { kind: 'failed', error: TIMEOUT_ERROR, computeMs } // logged below
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
    // An answer that came in the last half of the margin would leave too little time for its transaction.
    if (slot.stopReason === 'deadline' || (slot.stopReason === undefined && this.clock.now() >= job.deadlineMs - this.marginMs / 2)) {
      return this.timedOut(job, 'Ollama did not answer before the job\'s deadline', outcome.computeMs)
    }
    return outcome
  }

  private timeOut (slot: Slot, why: string, computeMs: number): void {
    this.clearTimer(slot)
    slot.done(this.timedOut(slot.job, why, computeMs))
  }

  private timedOut (job: InferenceJob, why: string, computeMs: number): RunOutcome {
    this.log.warn({ job: job.id, role: job.role, model: job.model, deadline: new Date(job.deadlineMs).toISOString(), reason: why }, 'job timed out: its run ends failed "timeout"')
    return { kind: 'failed', error: TIMEOUT_ERROR, computeMs }
  }

  private clearTimer (slot: Slot): void {
    if (slot.timer !== undefined) { this.clock.clearTimeout(slot.timer); slot.timer = undefined }
  }
}

/** Ollama's done_reason and durations as a receipt's details (what Ollama did not say is null). */
export function runDetails (r: GenerateResult): RunDetails {
  const ms = (v: number | undefined): number | null => v === undefined ? null : count(v)
  return { doneReason: r.doneReason ?? null, promptEvalMs: ms(r.promptEvalMs), evalMs: ms(r.evalMs), firstTokenMs: ms(r.firstTokenMs), loadMs: ms(r.loadMs) }
}

/** A token count as a receipt carries it: a non-negative safe integer, whatever Ollama answered. */
export function count (n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0
}
