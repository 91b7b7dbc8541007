// Prometheus metrics of the miner daemon (GET /metrics), on a registry of its own so that two
// miners in one process (tests) do not share counters.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { OllamaErrorCode } from './ollamaClient.ts'

/**
 * How a job ended for this miner: completed (paid, or revealed and passed), failed (a failed
 * receipt: refunded), rejected (its result failed verification), verified (a verification run
 * revealed), abandoned (nothing sent: a verification run that could not finish, or a hard stop
 * with a saved commitment left for the next start), lost (a transaction not recorded in time).
 */
export type JobOutcome = 'completed' | 'failed' | 'rejected' | 'verified' | 'abandoned' | 'lost'
export const JOB_OUTCOMES: JobOutcome[] = ['completed', 'failed', 'rejected', 'verified', 'abandoned', 'lost']

export interface MinerMetrics {
  registry: Registry
  /** Jobs by how they ended (JobOutcome). */
  jobs: Counter<'outcome'>
  /** Wall time of Ollama generate calls, successful or not. */
  inferenceSeconds: Histogram
  tokens: Counter<'kind'>
  /** aitbc_miner.earned, as last read from the chain. */
  earnings: Gauge
  ollamaErrors: Counter<'code'>
  jobsInFlight: Gauge
}

export function createMinerMetrics (): MinerMetrics {
  const registry = new Registry()
  const registers = [registry]
  const m: MinerMetrics = {
    registry,
    jobs: new Counter({ name: 'aitbc_miner_jobs_total', help: 'Jobs handled, by outcome', labelNames: ['outcome'], registers }),
    inferenceSeconds: new Histogram({
      name: 'aitbc_miner_inference_seconds',
      help: 'Wall time of Ollama generate and chat calls',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    tokens: new Counter({ name: 'aitbc_miner_tokens_total', help: 'Tokens reported by Ollama for completed jobs, by kind (prompt, completion)', labelNames: ['kind'], registers }),
    earnings: new Gauge({ name: 'aitbc_miner_earnings_uaitbc', help: 'Total earned by this miner on chain (aitbc_miner.earned), in uaitbc', registers }),
    ollamaErrors: new Counter({ name: 'aitbc_miner_ollama_errors_total', help: 'Ollama generate calls that failed, by error code', labelNames: ['code'], registers }),
    jobsInFlight: new Gauge({ name: 'aitbc_miner_jobs_in_flight', help: 'Jobs queued, running on Ollama or awaiting their receipt', registers }),
  }
  // Every label value from the start, so that rates work from the first scrape.
  for (const outcome of JOB_OUTCOMES) m.jobs.inc({ outcome }, 0)
  for (const kind of ['prompt', 'completion']) m.tokens.inc({ kind }, 0)
  for (const code of ['OLLAMA_UNREACHABLE', 'OLLAMA_HTTP', 'OLLAMA_PROTOCOL', 'OLLAMA_ABORTED'] satisfies OllamaErrorCode[]) m.ollamaErrors.inc({ code }, 0)
  return m
}
