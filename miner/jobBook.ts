// JobBook: the jobs this process has taken up and not yet finished (queued, running on Ollama,
// or awaiting their receipt, commitment or reveal), as their miner or as a verifier, and how many
// ended each way. It feeds /status, the jobs metrics and
// the graceful stop, which waits until the book is empty.
import type { InferenceJob, JobRole } from './inferenceJob.ts'
import type { JobOutcome, MinerMetrics } from './metrics.ts'

export type JobState = 'queued' | 'running' | 'reporting' | 'committed'

export interface MinerJobView { job_id: string, role: JobRole, state: JobState, model: string, assigned_at: string, deadline: string }

export interface JobBookModules {
  metrics: Pick<MinerMetrics, 'jobs' | 'jobsInFlight'>
}

export class JobBook {
  private readonly entries = new Map<string, { job: InferenceJob, state: JobState }>()
  private readonly counts: Record<JobOutcome, number> = { completed: 0, failed: 0, rejected: 0, verified: 0, abandoned: 0, lost: 0 }
  private readonly idleWaiters: Array<() => void> = []

  constructor (private readonly modules: JobBookModules) {}

  get size (): number { return this.entries.size }

  /** How many jobs ended with each outcome since the process started. */
  get outcomes (): Readonly<Record<JobOutcome, number>> { return this.counts }

  add (job: InferenceJob, state: JobState = 'queued'): void {
    this.entries.set(job.id, { job, state })
    this.modules.metrics.jobsInFlight.set(this.entries.size)
  }

  setState (jobId: string, state: JobState): void {
    const e = this.entries.get(jobId)
    if (e !== undefined) e.state = state
  }

  /** Counts the job's outcome and forgets it; a job finishes once (later calls are ignored). */
  finish (jobId: string, outcome: JobOutcome): void {
    if (!this.entries.delete(jobId)) return
    this.counts[outcome]++
    this.modules.metrics.jobs.inc({ outcome })
    this.modules.metrics.jobsInFlight.set(this.entries.size)
    if (this.entries.size === 0) for (const w of this.idleWaiters.splice(0)) w()
  }

  views (): MinerJobView[] {
    return [...this.entries.values()].map(({ job, state }) => ({ job_id: job.id, role: job.role, state, model: job.model, assigned_at: job.assignedAt, deadline: new Date(job.deadlineMs).toISOString() }))
  }

  /** Resolves once no job is in the book. */
  async idle (): Promise<void> {
    if (this.entries.size === 0) return
    await new Promise<void>(resolve => this.idleWaiters.push(resolve))
  }
}
