// InferenceJob: what the miner needs to run a job on Ollama, taken from the chain's job record;
// InferenceOutcome: what running it gave. The job runner turns the first into the second; the
// receipt reporter (unchecked jobs, failures) or the commit-reveal reporter (checked jobs, and
// verification runs) turns the second into transactions.
import type { JobJSON } from '../node/client.ts'
import type { ChatMessage, OllamaGenerateOptions } from './ollamaClient.ts'

/** Why the miner runs a job: it was assigned it, or it was drawn to re-run another miner's job. */
export type JobRole = 'miner' | 'verifier'

export interface InferenceJob {
  id: string
  role: JobRole
  /** Exactly the job's model: never substituted. */
  model: string
  /** A prompt job's prompt ('' for a chat job). */
  prompt: string
  /** A chat job's messages (null for a prompt job). */
  messages: ChatMessage[] | null
  /** The job's seed and num_predict (the chain's, so that every run of the job uses the same), and its temperature when set. */
  options: OllamaGenerateOptions
  /** Whether the result goes through commit_result / reveal_result (a checked job, or any verification run). */
  checked: boolean
  /** The client's ed25519 public key (hex): the miner of a checked job seals its result to it. */
  clientKey?: string | null
  /** When this run's time began (RFC 3339, chain time): the assignment, or the verifier's draw. */
  assignedAt: string
  /** The chain's deadline for this run's transaction, in ms since the epoch. */
  deadlineMs: number
}

/** What Ollama reported besides the text: metrics for the receipt (not the bill). */
export interface RunDetails {
  doneReason: string | null
  promptEvalMs: number | null
  evalMs: number | null
  firstTokenMs: number | null
  loadMs: number | null
}

export type InferenceOutcome =
  | { kind: 'completed', result: string, computeMs: number, promptTokens: number, completionTokens: number, details?: RunDetails }
  | { kind: 'failed', error: string, computeMs: number }

/** The error text of a failed receipt sent because a run could not finish before its deadline. */
export const TIMEOUT_ERROR = 'timeout'

/** The options every run of a job uses: the chain's seed and num_predict, and the client's temperature when set. */
export function runOptions (job: Pick<JobJSON, 'options' | 'seed' | 'num_predict'>): OllamaGenerateOptions {
  const options: OllamaGenerateOptions = { seed: job.seed, num_predict: job.num_predict }
  if (job.options.temperature !== null) options.temperature = job.options.temperature
  return options
}

/** An assigned job (assigned_at set) as an InferenceJob; jobTimeoutS is the chain's job_timeout_s. */
export function inferenceJobFromChain (job: JobJSON & { assigned_at: string }, jobTimeoutS: number): InferenceJob {
  return {
    id: job.job_id,
    role: 'miner',
    model: job.model,
    prompt: job.prompt,
    messages: job.kind === 'chat' && job.messages !== null ? job.messages.map(m => ({ role: m.role, content: m.content })) : null,
    options: runOptions(job),
    checked: job.checked === true,
    clientKey: job.client_pubkey,
    assignedAt: job.assigned_at,
    deadlineMs: Date.parse(job.assigned_at) + jobTimeoutS * 1000,
  }
}

/** A job this miner was drawn to verify: the same job, with the commit phase's start and deadline. */
export function verificationJobFromChain (job: JobJSON, phaseStartMs: number, jobTimeoutS: number): InferenceJob {
  return {
    id: job.job_id,
    role: 'verifier',
    model: job.model,
    prompt: job.prompt,
    messages: job.kind === 'chat' && job.messages !== null ? job.messages.map(m => ({ role: m.role, content: m.content })) : null,
    options: runOptions(job),
    checked: true,
    assignedAt: new Date(phaseStartMs).toISOString(),
    deadlineMs: phaseStartMs + jobTimeoutS * 1000,
  }
}
