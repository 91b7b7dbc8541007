// `aitbc coordinator start` and `aitbc coordinator rebuild`. cli/main.ts calls
// addCoordinatorCommands(program) once.
import { Command, InvalidArgumentError, Option } from 'commander'
import { intArg } from '../cli/args.ts'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { createLogger } from '../node/client.ts'
import { DEFAULT_COORDINATOR_HOST, DEFAULT_COORDINATOR_PORT, DEFAULT_RATE_LIMIT_PER_MINUTE } from './coordinator.ts'

const DEFAULT_NODE = 'http://127.0.0.1:8006'


function keysArg (v: string): string[] {
  const list = v.split(',').map(s => s.trim()).filter(s => s !== '')
  if (list.length === 0) throw new InvalidArgumentError('give at least one key, e.g. --api-keys k1,k2')
  return list
}

function urlArg (v: string): string {
  try {
    const u = new URL(v)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http')
  } catch { throw new InvalidArgumentError(`"${v}" is not an http(s) URL`) }
  return v
}

function defaultDataDir (): string {
  const h = process.env.AITBC_HOME
  return join(h !== undefined && h !== '' ? h : join(homedir(), '.aitbc'), 'coordinator')
}

function commonOptions (cmd: Command): Command {
  return cmd
    .addOption(new Option('--node <url>', 'node RPC URL').env('AITBC_NODE').default(DEFAULT_NODE).argParser(urlArg))
    .addOption(new Option('--data <dir>', 'index directory (default $AITBC_HOME/coordinator)').env('AITBC_COORDINATOR_DATA'))
}

interface StartOpts { node: string, data?: string, host: string, port: number, apiKeys?: string[], rateLimit: number }

export function addCoordinatorCommands (program: Command): void {
  const coordinator = program.command('coordinator').description('the chain indexer: REST API, job WebSocket and block explorer on port 8000')

  commonOptions(coordinator.command('start'))
    .description('follow the chain into a local index and serve the REST API, /v1/ws and the block explorer')
    .addOption(new Option('--host <host>', 'interface to listen on').env('AITBC_COORDINATOR_HOST').default(DEFAULT_COORDINATOR_HOST))
    .addOption(new Option('--port <n>', 'HTTP port (0: a free port)').env('AITBC_COORDINATOR_PORT').default(DEFAULT_COORDINATOR_PORT).argParser(intArg(0, 65535)))
    .addOption(new Option('--api-keys <list>', 'comma-separated API keys; when set, POST endpoints need X-Api-Key').env('AITBC_API_KEYS').argParser(keysArg))
    .addOption(new Option('--rate-limit <n>', 'POST requests per minute per API key').env('AITBC_RATE_LIMIT').default(DEFAULT_RATE_LIMIT_PER_MINUTE).argParser(intArg(1, 1_000_000)))
    .action(async (o: StartOpts) => {
      const { startCoordinator } = await import('./coordinator.ts')
      const logger = createLogger({ name: 'aitbc-coordinator' })
      const dataDir = resolve(o.data ?? defaultDataDir())
      const c = await startCoordinator({ nodeUrl: o.node, dataDir, host: o.host, port: o.port, apiKeys: o.apiKeys, rateLimitPerMinute: o.rateLimit, logger, defaultMetrics: true })
      process.stdout.write(`Coordinator listening on ${c.url} (node ${o.node}, index ${dataDir}, indexed up to height ${c.indexer.indexedHeight})\n`)
      process.stdout.write(`Block explorer: ${c.url}/\n`)
      await new Promise<void>(resolveStop => {
        let signals = 0
        const onSignal = (signal: NodeJS.Signals): void => {
          signals++
          if (signals > 1) process.exit(130)
          logger.info({ signal }, 'stopping: finishing the block being written')
          c.stop().then(resolveStop, (e: unknown) => { logger.error({ err: (e as Error).message }, 'stop failed'); process.exitCode = 1; resolveStop() })
        }
        process.on('SIGINT', onSignal)
        process.on('SIGTERM', onSignal)
      })
      // Everything is closed; should a stray handle linger (a request to the node in flight), do not wait for it.
      setTimeout(() => process.exit(), 1000).unref()
    })

  commonOptions(coordinator.command('rebuild'))
    .description('wipe the index and index the chain again from height 1 (stop the coordinator first)')
    .action(async (o: { node: string, data?: string }) => {
      const { rebuildIndex } = await import('./coordinator.ts')
      const logger = createLogger({ name: 'aitbc-coordinator' })
      const dataDir = resolve(o.data ?? defaultDataDir())
      const s = await rebuildIndex({ nodeUrl: o.node, dataDir, logger })
      process.stdout.write(`Rebuilt the index at ${dataDir}: ${s.height} blocks, ${s.txs} txs, ${s.jobs} jobs in ${s.seconds.toFixed(1)} s\n`)
    })
}
