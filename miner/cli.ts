// `aitbc miner start`: runs the miner daemon in the foreground.
// Ctrl-C or SIGTERM once: take no new jobs, finish those in flight (verifications and reveals
// included), exit. Twice: fail the jobs in flight that are not committed yet (failed receipts: the
// clients get a full refund) and exit; committed results are revealed at the next start from the
// salts saved in --data. Three times: exit at once.
import { join } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { amountArg, intArg } from '../cli/args.ts'
import { Keyring } from '../cli/keyring.ts'
import { CliError } from '../cli/output.ts'
import { createLogger } from '../node/client.ts'

const DEFAULT_NODE = 'http://127.0.0.1:8006'
const DEFAULT_OLLAMA = 'http://127.0.0.1:11434'

function modelsArg (v: string): string[] {
  const list = v.split(',').map(s => s.trim()).filter(s => s !== '')
  if (list.length === 0) throw new InvalidArgumentError('name at least one model, e.g. llama3.2:latest')
  return list
}

function endpointArg (v: string): string {
  let u: URL
  try { u = new URL(v) } catch { throw new InvalidArgumentError(`"${v}" is not a URL`) }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('the endpoint must be an http:// or https:// URL')
  return v.replace(/\/+$/, '')
}

interface StartOpts {
  key: string
  node?: string
  ollama: string
  models?: string[]
  stake?: bigint
  pricePerSecond?: bigint
  capacity?: number
  priceIn?: bigint
  priceOut?: bigint
  maxNumPredict?: number
  data?: string
  port: number
  host: string
  endpoint?: string
}

export function addMinerStartCommand (miner: Command): void {
  miner.command('start')
    .description('run the miner daemon: serve jobs assigned to this key on Ollama and record their receipts')
    .requiredOption('--key <name>', 'keyring key of the miner (it signs the listing and the receipts)')
    .addOption(new Option('--node <url>', `node RPC URL (default ${DEFAULT_NODE})`).env('AITBC_NODE'))
    .addOption(new Option('--ollama <url>', 'Ollama URL').env('AITBC_OLLAMA_URL').default(DEFAULT_OLLAMA))
    .option('--models <list>', 'models to serve, comma-separated (default: every model Ollama has); only those Ollama has are listed', modelsArg)
    .option('--stake <aitbc>', 'stake to keep bonded (default: min_miner_stake)', amountArg)
    .option('--price-per-second <aitbc>', 'price per second of compute (default for a new miner: default_price_per_second)', amountArg)
    .option('--capacity <n>', 'jobs at once, verification runs included (default for a new miner: 1)', intArg(1, 1000))
    .option('--price-in <aitbc>', 'price per million input (prompt) tokens; with --price-in or --price-out the miner bills by tokens', amountArg)
    .option('--price-out <aitbc>', 'price per million output (generated) tokens', amountArg)
    .option('--max-num-predict <n>', 'the most tokens generated per job that this miner accepts (default: the chain\'s max_num_predict)', intArg(1, 1_000_000))
    .option('--data <dir>', 'where the salts of committed results are kept until revealed (default: $AITBC_HOME/miner/<address>)')
    .addOption(new Option('--port <n>', 'HTTP port of /health, /status, /metrics (0: a free port)').env('AITBC_MINER_PORT').default(8010).argParser(intArg(0, 65535)))
    .addOption(new Option('--host <host>', 'HTTP interface').env('AITBC_MINER_HOST').default('127.0.0.1'))
    .addOption(new Option('--endpoint <url>', 'public http(s) URL of the HTTP port, listed on chain: clients read their jobs\' live tokens there (default: the URL it listens on)').env('AITBC_MINER_ENDPOINT').argParser(endpointArg))
    .action(async (o: StartOpts) => {
      const { startMiner, MinerError } = await import('./daemon.ts')
      const kr = new Keyring()
      const key = kr.get(o.key)
      const nodeUrl = o.node ?? kr.settings().node ?? DEFAULT_NODE
      const dataDir = o.data ?? join(kr.home, 'miner', key.address)
      const logger = createLogger({ name: 'aitbc-miner' })
      let running
      try {
        running = await startMiner({
          key, nodeUrl, ollamaUrl: o.ollama, models: o.models, stake: o.stake, pricePerSecond: o.pricePerSecond, capacity: o.capacity,
          priceIn: o.priceIn, priceOut: o.priceOut, maxNumPredict: o.maxNumPredict, dataDir, httpHost: o.host, httpPort: o.port, endpoint: o.endpoint, logger,
        })
      } catch (e) {
        if (e instanceof MinerError) throw new CliError(e.message)
        throw e
      }
      const m = running
      process.stdout.write(`Miner ${m.address} serving ${m.status().models.join(', ')} (node ${nodeUrl}, Ollama ${o.ollama}); status at ${m.url}/status\n`)
      await new Promise<void>(resolve => {
        let signals = 0
        const onSignal = (signal: NodeJS.Signals): void => {
          signals++
          if (signals === 1) {
            logger.info({ signal }, 'stopping: finishing the jobs in flight (signal again to fail them)')
            m.stop().then(resolve, (e: unknown) => { logger.error({ err: (e as Error).message }, 'stop failed'); process.exitCode = 1; resolve() })
          } else if (signals === 2) {
            logger.warn({ signal }, 'stopping now: failing the jobs in flight (signal again to exit at once)')
            void m.stop()
          } else {
            process.exit(130)
          }
        }
        process.on('SIGINT', onSignal)
        process.on('SIGTERM', onSignal)
      })
      // Everything is closed; should a stray handle linger, do not hang on it.
      setTimeout(() => process.exit(), 2000).unref()
    })
}
