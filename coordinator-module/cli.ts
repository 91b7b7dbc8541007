// `aitbc coordinator start` and `aitbc coordinator rebuild`. cli/main.ts calls
// addCoordinatorCommands(program) once.
import { Command, InvalidArgumentError, Option } from 'commander'
import { intArg } from '../cli/args.ts'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { createLogger } from '../node/client.ts'
import { amountArg } from '../cli/args.ts'
import { formatAitbc } from '../node/core/amount.ts'
import {
  DEFAULT_COORDINATOR_HOST, DEFAULT_COORDINATOR_PORT, DEFAULT_GATEWAY_DAILY_CAP, DEFAULT_GATEWAY_MAX_FEE, DEFAULT_GATEWAY_TIMEOUT_MS, DEFAULT_RATE_LIMIT_PER_MINUTE,
} from './coordinator.ts'

const DEFAULT_NODE = 'http://127.0.0.1:8006'


/** --gateway-key NAME, repeatable. */
function keyNameArg (v: string, previous: string[] = []): string[] {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)) throw new InvalidArgumentError(`"${v}" is not a key name (letters, digits, ".", "_", "-"; up to 64)`)
  return previous.includes(v) ? previous : [...previous, v]
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

interface StartOpts { node: string, data?: string, host: string, port: number, gatewayKey?: string[], rateLimit: number, gatewayMaxFee: bigint, gatewayDailyCap: bigint, gatewayTimeout: number }

export function addCoordinatorCommands (program: Command): void {
  const coordinator = program.command('coordinator').description('the chain indexer: REST API, job WebSocket and block explorer on port 8000')

  commonOptions(coordinator.command('start'))
    .description('follow the chain into a local index and serve the REST API, /v1/ws and the block explorer')
    .addOption(new Option('--host <host>', 'interface to listen on').env('AITBC_COORDINATOR_HOST').default(DEFAULT_COORDINATOR_HOST))
    .addOption(new Option('--port <n>', 'HTTP port (0: a free port)').env('AITBC_COORDINATOR_PORT').default(DEFAULT_COORDINATOR_PORT).argParser(intArg(0, 65535)))
    .addOption(new Option('--gateway-key <name>', 'keyring key the OpenAI gateway signs jobs with (repeatable); makes the key and an API key for it when missing, printing the API key once').argParser(keyNameArg))
    .addOption(new Option('--gateway-max-fee <aitbc>', 'max_fee of each gateway job').default(DEFAULT_GATEWAY_MAX_FEE, formatAitbc(DEFAULT_GATEWAY_MAX_FEE)).argParser(amountArg))
    .addOption(new Option('--gateway-daily-cap <aitbc>', 'daily spend cap of a new API key: the sum of its jobs\' max_fee (0: none)').default(DEFAULT_GATEWAY_DAILY_CAP, formatAitbc(DEFAULT_GATEWAY_DAILY_CAP)).argParser(amountArg))
    .addOption(new Option('--gateway-timeout <s>', 'how long a gateway request waits for its job').default(DEFAULT_GATEWAY_TIMEOUT_MS / 1000).argParser(intArg(1, 86400)))
    .addOption(new Option('--rate-limit <n>', 'requests per minute per API key (POST and the gateway)').env('AITBC_RATE_LIMIT').default(DEFAULT_RATE_LIMIT_PER_MINUTE).argParser(intArg(1, 1_000_000)))
    .action(async (o: StartOpts) => {
      const { startCoordinator } = await import('./coordinator.ts')
      const logger = createLogger({ name: 'aitbc-coordinator' })
      const dataDir = resolve(o.data ?? defaultDataDir())
      const c = await startCoordinator({
        nodeUrl: o.node, dataDir, host: o.host, port: o.port, rateLimitPerMinute: o.rateLimit, logger, defaultMetrics: true,
        gatewayKeys: o.gatewayKey, gatewayMaxFee: o.gatewayMaxFee, gatewayDailyCap: o.gatewayDailyCap, gatewayTimeoutMs: o.gatewayTimeout * 1000,
      })
      process.stdout.write(`Coordinator listening on ${c.url} (node ${o.node}, index ${dataDir}, indexed up to height ${c.indexer.indexedHeight})\n`)
      process.stdout.write(`Block explorer: ${c.url}/\n`)
      for (const k of c.newSigningKeys) process.stdout.write(`Made keyring key "${k.name}" (${k.address}): fund it, the gateway pays its jobs from it\n`)
      for (const k of c.newApiKeys) process.stdout.write(`API key for "${k.name}" (${k.address}), shown only now: ${k.apiKey}\n`)
      if (c.keys.size > 0) process.stdout.write(`OpenAI-compatible API: ${c.url}/v1 (${c.keys.size} API key(s))\n`)
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
