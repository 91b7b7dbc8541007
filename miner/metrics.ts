// Prometheus metrics of the miner daemon (GET /metrics), on a registry of its own so that two
// miners in one process (tests) do not share counters.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { OllamaErrorCode } from './ollamaClient.ts'

export type JobOutcome = 'completed' | 'failed' | 'abandoned' | 'lost'

export interface MinerMetrics {
  registry: Registry
  /** Jobs by how they ended: completed, failed (receipt recorded), abandoned (deadline), lost (receipt not recorded). */
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
      help: 'Wall time of Ollama generate calls',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    tokens: new Counter({ name: 'aitbc_miner_tokens_total', help: 'Tokens reported by Ollama for completed jobs, by kind (prompt, completion)', labelNames: ['kind'], registers }),
    earnings: new Gauge({ name: 'aitbc_miner_earnings_uaitbc', help: 'Total earned by this miner on chain (aitbc_miner.earned), in uaitbc', registers }),
    ollamaErrors: new Counter({ name: 'aitbc_miner_ollama_errors_total', help: 'Ollama generate calls that failed, by error code', labelNames: ['code'], registers }),
    jobsInFlight: new Gauge({ name: 'aitbc_miner_jobs_in_flight', help: 'Jobs queued, running on Ollama or awaiting their receipt', registers }),
  }
  // Every label value from the start, so that rates work from the first scrape.
  for (const outcome of ['completed', 'failed', 'abandoned', 'lost'] satisfies JobOutcome[]) m.jobs.inc({ outcome }, 0)
  for (const kind of ['prompt', 'completion']) m.tokens.inc({ kind }, 0)
  for (const code of ['OLLAMA_UNREACHABLE', 'OLLAMA_HTTP', 'OLLAMA_PROTOCOL', 'OLLAMA_ABORTED'] satisfies OllamaErrorCode[]) m.ollamaErrors.inc({ code }, 0)
  return m
}
