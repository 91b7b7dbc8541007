// `aitbc devnet`: the whole system on this machine, in the foreground, until Ctrl-C or SIGTERM.
import { InvalidArgumentError, type Command } from 'commander'
import { intArg } from '../args.ts'
import { CliError } from '../output.ts'
import { untilStopSignal } from '../signals.ts'
import { createLogger } from '../../node/logger.ts'
// The devnet runs bin/aitbc.mjs from the repository root and keeps its data under it.
import { REPO_ROOT } from '../../node/paths.ts'

interface DevnetOpts { validators: number, miners: number, blockTime: number, fresh?: boolean, ollama: string, key: string, verificationRate?: string }

/** --verification-rate: a share from 0 to 1 with at most 6 decimals, as the genesis writes it ("0.1"). */
export function rateArg (v: string): string {
  const t = v.trim()
  if (!/^(0(\.\d{1,6})?|1(\.0{1,6})?|\.\d{1,6})$/.test(t)) throw new InvalidArgumentError('must be a number from 0 to 1 with at most 6 decimals, e.g. 0.1 (1 checks every job)')
  return t.startsWith('.') ? `0${t}` : t
}

export function registerDevnetCommand (program: Command): void {
  program.command('devnet').description('run the whole system on this machine: validators, coordinator, miners, dev-ollama when no Ollama answers')
    .option('--validators <n>', 'validators (1 to 7)', intArg(1, 7), 4)
    .option('--miners <n>', 'miners', intArg(0, 16), 2)
    .option('--block-time <ms>', 'block_time_ms', intArg(10, 60_000), 1000)
    .option('--fresh', 'wipe the devnet\'s data first')
    .option('--ollama <url>', 'Ollama URL (env AITBC_OLLAMA_URL)', process.env.AITBC_OLLAMA_URL ?? 'http://127.0.0.1:11434')
    .option('--key <name>', 'the funded client key (made the keyring default)', 'alice')
    .option('--verification-rate <x>', 'share of checked jobs re-run by other miners, written into a new devnet\'s genesis (default 0.1; 1 checks every job)', rateArg)
    .action(async (o: DevnetOpts) => { await runDevnet(o, program.commands.some(c => c.name() === 'coordinator')) })
}

/** Starts every process, prints the summary, and stops them all on the first signal (also while starting). */
async function runDevnet (o: DevnetOpts, withCoordinator: boolean): Promise<void> {
  const { Devnet, devnetDir } = await import('../../devnet/devnet.ts')
  const log = createLogger({ name: 'aitbc-devnet' })
  const devnet = new Devnet({
    root: REPO_ROOT, dir: devnetDir(REPO_ROOT), validators: o.validators, miners: o.miners, blockTimeMs: o.blockTime, fresh: o.fresh === true,
    ollamaUrl: o.ollama, basePort: 8006, clientKey: o.key, withCoordinator, log, verificationRate: o.verificationRate,
  })
  const stopped = untilStopSignal()
  try {
    await Promise.race([devnet.start(), stopped.then(() => { throw new CliError('interrupted while starting') })])
  } catch (e) {
    await devnet.stop()
    throw e
  }
  process.stdout.write(devnet.summary() + '\n')
  await stopped
  process.stdout.write('Stopping the devnet...\n')
  await devnet.stop()
}
