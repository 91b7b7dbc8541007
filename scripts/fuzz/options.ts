// The fuzz run's settings and command line (`npm run fuzz -- --inputs 100000 --seed 7`).
import { Command, InvalidArgumentError } from 'commander'
import { SURFACES, type SurfaceName } from './surface.ts'

export interface FuzzOptions {
  /** Inputs over all surfaces, shared by weight. */
  inputs: number
  seed: number
  surfaces: SurfaceName[]
  /** The node's height must advance within this many seconds, during and after the inputs. */
  stallSec: number
  /** The RSS bound: rssFactor x the idle node's RSS + rssSlackMb. */
  rssFactor: number
  rssSlackMb: number
  blockTimeMs: number
  emptyBlockMs: number
  /** Keep the node's temp home (and log) after the run. */
  keep: boolean
  log?: (line: string) => void
}

/** Share of the inputs each surface gets. */
export const WEIGHTS: Record<SurfaceName, number> = { 'rpc-post': 30, 'rpc-uri': 15, ws: 15, 'p2p-txs': 15, 'p2p-consensus': 17, 'p2p-sync': 7, 'p2p-handshake': 1 }

export const DEFAULTS: Omit<FuzzOptions, 'log'> = {
  inputs: 100_000,
  seed: 1,
  surfaces: [...SURFACES],
  stallSec: 30,
  rssFactor: 2,
  rssSlackMb: 150,
  blockTimeMs: 200,
  emptyBlockMs: 1000,
  keep: false,
}

function intArg (min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`)
    return Number(v)
  }
}

function surfaceList (v: string): SurfaceName[] {
  const list = v.split(',').map(s => s.trim()).filter(s => s !== '')
  for (const s of list) if (!(SURFACES as readonly string[]).includes(s)) throw new InvalidArgumentError(`unknown surface "${s}"; surfaces: ${SURFACES.join(', ')}`)
  if (list.length === 0) throw new InvalidArgumentError('name at least one surface')
  return list as SurfaceName[]
}

export function parseFuzzArgs (argv: string[]): FuzzOptions {
  const d = DEFAULTS
  const cmd = new Command('fuzz')
    .description('starts a one-validator node and fuzzes its RPC (HTTP, URI, WebSocket) and P2P (gossip, sync, handshake) surfaces; fails on a crash, a 5xx, a malformed or leaking error, a stalled chain or unbounded memory')
    .option('--inputs <n>', 'inputs in all (shared by surface)', intArg(1, 100_000_000), d.inputs)
    .option('--seed <n>', 'seed of every generated input (default: a random one; printed, and the same seed makes the same choices)', intArg(0, 2 ** 31 - 1))
    .option('--surfaces <list>', `comma-separated subset of ${SURFACES.join(', ')}`, surfaceList, d.surfaces)
    .option('--stall <s>', 'seconds the height may stand still', intArg(5, 3600), d.stallSec)
    .option('--rss-slack <mb>', 'RSS bound = 2 x baseline + this many MB', intArg(0, 100_000), d.rssSlackMb)
    .option('--keep', 'keep the node\'s temp folder and log', false)
    .exitOverride()
  cmd.parse(argv, { from: 'user' })
  const o = cmd.opts()
  return { ...d, inputs: o.inputs, seed: o.seed ?? Math.floor(Math.random() * 2 ** 31), surfaces: o.surfaces, stallSec: o.stall, rssSlackMb: o.rssSlack, keep: o.keep === true }
}
