// `aitbc node`: make a node home (init), run the node (start), print its P2P address (id), and ask
// a running node how it is doing (status).
import type { Command } from 'commander'
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { intArg } from '../args.ts'
import { clientOptions, type CliContext, type ClientOpts } from '../context.ts'
import type { Keyring } from '../keyring.ts'
import { CliError, printJSON, printLines } from '../output.ts'
import { untilStopSignal } from '../signals.ts'
import { readGenesisFile, writeGenesisFile } from './genesis.ts'
import { parseAitbc, formatAitbc } from '../../node/core/amount.ts'
import type { SigningKey } from '../../node/core/crypto.ts'
import { parseGenesis, DEFAULT_PARAMS_JSON, type GenesisJSON } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { GenesisError } from '../../node/core/errors.ts'
import { initHome, homePaths, loadConfig, readKeySeed } from '../../node/config.ts'
import { createLogger } from '../../node/logger.ts'
import type { NodeClient } from '../../node/rpc/client.ts'

interface InitOpts { home: string, chainId: string, fund?: string, moniker?: string, blockTime?: number, emptyBlockInterval?: number, genesis?: string, json?: boolean }

interface GenesisAccount { address: string, balance: bigint }

export function registerNodeCommands (program: Command, ctx: CliContext): void {
  const node = program.command('node').description('run a validator or full node')
  node.command('init').description('create a node home: keys, config, and a genesis in which this node is the only validator')
    .requiredOption('--home <dir>', 'node home folder')
    .option('--chain-id <id>', 'chain id', 'aitbc-local')
    .option('--fund <list>', 'fund keyring keys or addresses in the genesis: NAME=AMOUNT,...')
    .option('--moniker <name>', 'node name')
    .option('--block-time <ms>', 'block_time_ms', intArg(10, 3_600_000))
    .option('--empty-block-interval <ms>', 'empty_block_interval_ms', intArg(10, 86_400_000))
    .option('--genesis <file>', 'use this genesis instead of making one')
    .option('--json', 'machine-readable output')
    .action((o: InitOpts) => { initNode(ctx, o) })
  node.command('start').description('start the node (RPC 127.0.0.1:8006, P2P 8005)')
    .requiredOption('--home <dir>', 'node home folder')
    .option('--peers <list>', 'comma-separated multiaddrs of peers')
    .option('--rpc.laddr <hostport>', 'RPC listen address HOST:PORT (env AITBC_RPC_PORT)')
    .option('--p2p.laddr <hostport>', 'P2P listen address HOST:PORT (env AITBC_P2P_PORT)')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .action(runNode)
  node.command('id').description('this node\'s P2P identity and the multiaddr peers dial (--peers of other nodes)')
    .requiredOption('--home <dir>', 'node home folder')
    .option('--json', 'machine-readable output')
    .action(showNodeId)
  clientOptions(node.command('status').description('the node\'s chain, height and sync state, and how many results passed or failed verification'))
    .action(async (o: ClientOpts) => { await showNodeStatus(ctx, o) })
}

/** Writes the home's keys and config, then its genesis: the one --genesis names, or a new one. */
function initNode (ctx: CliContext, o: InitOpts): void {
  const home = resolve(o.home)
  const accounts = parseFundList(ctx.keyring(), o.fund ?? '')
  const { validatorKey, nodeKey } = initHome(home, { moniker: o.moniker ?? 'aitbc-node' })
  const p = homePaths(home)
  if (o.genesis !== undefined) writeFileSync(p.genesis, readFileSync(o.genesis))
  else writeGenesisFile(p.genesis, singleValidatorGenesis(o, validatorKey, accounts))
  const g = parseGenesis(readGenesisFile(p.genesis))
  const out = { home, chain_id: g.chainId, validator_address: Buffer.from(validatorKey.publicKey).toString('hex'), validator_account: validatorKey.address, node_id: nodeKey.address, genesis: p.genesis }
  if (o.json === true) printJSON(out)
  else printLines([`Initialised node home ${home}`, `Chain: ${g.chainId}`, `Validator account: ${validatorKey.address}`, `Genesis: ${p.genesis}`, ...accounts.map(a => `Funded ${a.address} with ${formatAitbc(a.balance)} AITBC`)])
}

/** --fund NAME=AMOUNT,...: each NAME a keyring key or an address. */
function parseFundList (kr: Keyring, list: string): GenesisAccount[] {
  return list.split(',').filter(s => s.trim() !== '').map(s => {
    const m = /^([^=]+)=(.+)$/.exec(s.trim())
    if (m === null) throw new CliError(`--fund entry "${s}" is not NAME=AMOUNT`)
    return { address: kr.resolveAddress(m[1]), balance: parseAitbc(m[2]) }
  })
}

function singleValidatorGenesis (o: InitOpts, validatorKey: SigningKey, accounts: GenesisAccount[]): GenesisJSON {
  const params: Partial<typeof DEFAULT_PARAMS_JSON> = {}
  if (o.blockTime !== undefined) params.block_time_ms = o.blockTime
  if (o.emptyBlockInterval !== undefined) params.empty_block_interval_ms = o.emptyBlockInterval
  return makeGenesisJSON({ chainId: o.chainId, validators: [{ pubKey: validatorKey.publicKey, name: o.moniker ?? 'validator-0' }], accounts, params })
}

/** Runs the node in the foreground until SIGINT or SIGTERM. */
async function runNode (o: Record<string, string | undefined>): Promise<void> {
  const home = resolve(o.home as string)
  const config = loadConfig(home, { rpcLaddr: o['rpc.laddr'], p2pLaddr: o['p2p.laddr'], peers: o.peers?.split(',').filter(Boolean), logLevel: o.logLevel })
  const log = createLogger({ level: config.logLevel, name: 'aitbc-node' })
  const { startNode } = await import('../../node/node.ts')
  let running
  try {
    running = await startNode(home, config, log)
  } catch (e) {
    if (e instanceof GenesisError) throw new CliError(`refusing to start: ${e.message}`)
    throw e
  }
  const signal = await untilStopSignal()
  log.info({ signal }, 'stopping')
  await running.stop()
}

async function showNodeId (o: { home: string, json?: boolean }): Promise<void> {
  const { peerIdFromSeed, p2pMultiaddr } = await import('../../node/p2p/identity.ts')
  const home = resolve(o.home)
  const cfg = loadConfig(home)
  const id = await peerIdFromSeed(readKeySeed(homePaths(home).nodeKey))
  const addr = p2pMultiaddr(cfg.p2p.host, cfg.p2p.port, id)
  if (o.json === true) printJSON({ peer_id: id, multiaddr: addr }); else printLines([addr])
}

async function showNodeStatus (ctx: CliContext, o: ClientOpts): Promise<void> {
  const c = ctx.client(o)
  const s = await c.status()
  if (o.json === true) { printJSON(s); return }
  printLines([
    `Chain: ${s.node_info.network}`, `Node: ${s.node_info.moniker} (${s.node_info.id})`,
    `Height: ${s.sync_info.latest_block_height}`, `Latest block: ${s.sync_info.latest_block_hash} at ${s.sync_info.latest_block_time}`,
    `App hash: ${s.sync_info.latest_app_hash}`, `Catching up: ${s.sync_info.catching_up}`, `Voting power: ${s.validator_info.voting_power}`,
    await verifiedTotals(c),
  ])
}

/** `Verified:` the chain's totals over every miner: results that passed a check, that were rejected, and the re-runs done. */
export async function verifiedTotals (c: Pick<NodeClient, 'call' | 'params'>): Promise<string> {
  try {
    const [r, p] = await Promise.all([c.call('aitbc_miners', {}), c.params()])
    let passed = 0
    let rejected = 0
    let runs = 0
    for (const m of r.miners) { passed += m.jobs_verified; rejected += m.jobs_rejected; runs += m.verifications_run }
    const rate = typeof p.verification_rate === 'string' ? p.verification_rate : '0.1'
    return `Verified: ${passed} result(s) passed verification, ${rejected} rejected, ${runs} verification run(s), over ${r.miners.length} miner(s) (verification_rate ${rate})`
  } catch (e) {
    return `Verified: unknown (${(e as Error).message})`
  }
}
