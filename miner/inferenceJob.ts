// InferenceJob: what the miner needs to run a job on Ollama, taken from the chain's job record;
// InferenceOutcome: what running it gave. The job runner turns the first into the second, the
// receipt reporter turns the second into a transaction.
import type { JobJSON } from '../node/client.ts'
import type { OllamaGenerateOptions } from './ollamaClient.ts'

export interface InferenceJob {
  id: string
  /** Exactly the job's model: never substituted. */
  model: string
  prompt: string
  /** The job's temperature / num_predict / seed, those that are set. */
  options: OllamaGenerateOptions
  /** When the chain assigned it (RFC 3339, chain time). */
  assignedAt: string
  /** assigned_at + job_timeout_s, in ms since the epoch: the chain expires the job after this. */
  deadlineMs: number
}

export type InferenceOutcome =
  | { kind: 'completed', result: string, computeMs: number, promptTokens: number, completionTokens: number }
  | { kind: 'failed', error: string, computeMs: number }

/** An assigned job (assigned_at set) as an InferenceJob; jobTimeoutS is the chain's job_timeout_s. */
export function inferenceJobFromChain (job: JobJSON & { assigned_at: string }, jobTimeoutS: number): InferenceJob {
  const options: OllamaGenerateOptions = {}
  if (job.options.temperature !== null) options.temperature = job.options.temperature
  if (job.options.num_predict !== null) options.num_predict = job.options.num_predict
  if (job.options.seed !== null) options.seed = job.options.seed
  return {
    id: job.job_id,
    model: job.model,
    prompt: job.prompt,
    options,
    assignedAt: job.assigned_at,
    deadlineMs: Date.parse(job.assigned_at) + jobTimeoutS * 1000,
  }
}
