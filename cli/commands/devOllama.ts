// `aitbc dev-ollama`: a stand-in for Ollama (deterministic text, no model) for machines without
// one, in the foreground until Ctrl-C or SIGTERM.
import type { Command } from 'commander'
import { floatArg, intArg } from '../args.ts'
import { untilStopSignal } from '../signals.ts'
import { createLogger } from '../../node/logger.ts'

interface DevOllamaOpts { port?: number, host: string, models: string, latencyMs: number, failRate: number, hang?: boolean, lie?: boolean }

export function registerDevOllamaCommand (program: Command): void {
  program.command('dev-ollama').description('a STAND-IN for Ollama (deterministic text, no model) for machines without Ollama')
    .option('--port <n>', 'port (env AITBC_OLLAMA_PORT)', intArg(0, 65535))
    .option('--host <host>', 'host', '127.0.0.1')
    .option('--models <list>', 'models to list', 'llama3.2:latest')
    .option('--latency-ms <n>', 'delay before the first token', intArg(0, 3_600_000), 0)
    .option('--fail-rate <x>', 'fraction of generate/chat requests that fail with HTTP 500', floatArg, 0)
    .option('--hang', 'accept generate/chat requests and never answer')
    .option('--lie', 'a LYING stand-in for verification tests: answer lorem-ipsum filler of the honest token count at once, instead of the generator\'s text')
    .action(runDevOllama)
}

/** --port, else $AITBC_OLLAMA_PORT, else Ollama's own 11434. */
async function runDevOllama (o: DevOllamaOpts): Promise<void> {
  const { startDevOllama } = await import('../../miner/devOllama.ts')
  const log = createLogger({ name: 'aitbc-dev-ollama' })
  const port = o.port ?? (process.env.AITBC_OLLAMA_PORT !== undefined ? Number(process.env.AITBC_OLLAMA_PORT) : 11434)
  const srv = await startDevOllama({ host: o.host, port, models: o.models.split(','), latencyMs: o.latencyMs, failRate: o.failRate, hang: o.hang === true, lie: o.lie === true, logger: log })
  process.stdout.write(`dev-ollama (a ${o.lie === true ? 'LYING ' : ''}stand-in, not a real model) listening on ${srv.url}\n`)
  await untilStopSignal()
  await srv.close()
}
