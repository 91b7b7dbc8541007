// The soak run's settings, their defaults and the command line (`npm run soak -- --minutes 30`).
import { Command, InvalidArgumentError } from 'commander'

export interface SoakOptions {
  /** How long the load runs (the final checks come after). */
  minutes: number
  /** A validator is killed with SIGKILL every this many seconds. */
  killEverySec: number
  validators: number
  /** Target transfers a second over the whole network. */
  tps: number
  /** Seeds the choice of victims (and the tx sample the checker looks up). */
  seed: number
  blockTimeMs: number
  /** How long a killed validator stays down before it is restarted. */
  downSec: number
  /** Accounts that send batches of broadcast_tx_sync (besides one broadcast_tx_commit sender per validator). */
  senders: number
  /** A restarted validator that has not caught up within this is a violation. */
  recoveryTimeoutSec: number
  /** After a kill, the others must commit new blocks within this. */
  livenessTimeoutSec: number
  /** Copies the nodes' logs there before the temp dir is removed (the CLI defaults to a temp dir when the run fails). */
  keepLogs?: string
  /** Progress lines (default: none). */
  log?: (line: string) => void
  /** Ends the run early; the runner still stops every process and removes its temp dir. */
  signal?: AbortSignal
  /** Called once the validators are up, with the temp dir and a way to read their current pids. */
  onStarted?: (info: { dir: string, pids: () => number[] }) => void
}

export const DEFAULTS: Omit<SoakOptions, 'log' | 'signal' | 'onStarted' | 'keepLogs'> = {
  minutes: 30,
  killEverySec: 60,
  validators: 4,
  tps: 250,
  seed: 1,
  blockTimeMs: 250,
  downSec: 5,
  senders: 16,
  recoveryTimeoutSec: 120,
  livenessTimeoutSec: 30,
}

function intArg (min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`)
    return Number(v)
  }
}

function numberArg (min: number, max: number) {
  return (v: string): number => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`must be a number from ${min} to ${max}`)
    return n
  }
}

/** Parses the soak command line (the arguments after the script). */
export function parseSoakArgs (argv: string[]): SoakOptions & { keepLogsOnFail: boolean } {
  const d = DEFAULTS
  const cmd = new Command('soak')
    .description('4 validators under steady load, a random one killed with SIGKILL and restarted every minute; checks agreement, committed txs, supply, liveness and memory')
    .option('--minutes <m>', 'how long the load runs', numberArg(0.1, 24 * 60), d.minutes)
    .option('--kill-every <s>', 'seconds between kills', intArg(5, 86_400), d.killEverySec)
    .option('--validators <n>', 'validators', intArg(4, 16), d.validators)
    .option('--tps <t>', 'target transfers a second', intArg(1, 100_000), d.tps)
    .option('--seed <n>', 'seed of the choice of victims', intArg(0, 2 ** 31 - 1), d.seed)
    .option('--block-ms <ms>', 'block_time_ms of the genesis', intArg(10, 10_000), d.blockTimeMs)
    .option('--down <s>', 'seconds a killed validator stays down', numberArg(0, 3600), d.downSec)
    .option('--senders <n>', 'accounts sending broadcast_tx_sync batches', intArg(1, 1000), d.senders)
    .option('--recovery-timeout <s>', 'seconds a restarted validator has to catch up', intArg(5, 3600), d.recoveryTimeoutSec)
    .option('--liveness-timeout <s>', 'seconds the others have to commit after a kill', intArg(5, 3600), d.livenessTimeoutSec)
    .option('--keep-logs <dir>', 'copy the nodes\' logs to this folder (default on failure: a new temp folder)')
    .exitOverride()
  cmd.parse(argv, { from: 'user' })
  const o = cmd.opts()
  return {
    minutes: o.minutes,
    killEverySec: o.killEvery,
    validators: o.validators,
    tps: o.tps,
    seed: o.seed,
    blockTimeMs: o.blockMs,
    downSec: o.down,
    senders: o.senders,
    recoveryTimeoutSec: o.recoveryTimeout,
    livenessTimeoutSec: o.livenessTimeout,
    keepLogs: o.keepLogs,
    keepLogsOnFail: o.keepLogs === undefined,
  }
}
