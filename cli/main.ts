// The `aitbc` command (SPEC 2).
import { Command } from 'commander'
import { amountArg, amountValue, intArg, floatArg } from './args.ts'
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Keyring } from './keyring.ts'
import { CliError, printJSON, printLines, table } from './output.ts'
import { sendTx } from './tx.ts'
import { NodeClient, RpcClientError, RpcNetworkError } from '../node/rpc/client.ts'
import { parseAitbc, formatAitbc } from '../node/core/amount.ts'
import type { SigningKey } from '../node/core/crypto.ts'
import { makeGenesisJSON, parseGenesis, DEFAULT_PARAMS_JSON } from '../node/core/genesis.ts'
import { initHome, homePaths, loadConfig, readKeyFile, readKeySeed } from '../node/config.ts'
import { startNode } from '../node/node.ts'
import { createLogger } from '../node/logger.ts'
import { GenesisError } from '../node/core/errors.ts'
import { JOB_ID_RE } from '../node/core/tx.ts'
import { waitForJob, jobLines } from './jobs.ts'
import { addMinerStartCommand } from '../miner/cli.ts'
import { addCoordinatorCommands } from '../coordinator-module/cli.ts'

const DEFAULT_NODE = 'http://127.0.0.1:8006'


interface ClientOpts { node?: string, from?: string, json?: boolean, fee?: bigint, wait?: boolean }

function client (o: ClientOpts): NodeClient {
  return new NodeClient(o.node ?? process.env.AITBC_NODE ?? new Keyring().settings().node ?? DEFAULT_NODE)
}

function signer (o: ClientOpts): SigningKey {
  const kr = new Keyring()
  const name = o.from ?? process.env.AITBC_FROM ?? kr.defaultKey()
  if (name === undefined) throw new CliError('no key given: pass --from NAME (see "aitbc keys list") or set a default with "aitbc keys default NAME"')
  return kr.get(name)
}

function clientOptions (cmd: Command, opts: { from?: boolean, json?: boolean, tx?: boolean } = {}): Command {
  cmd.option('--node <url>', `node RPC URL (env AITBC_NODE, default ${DEFAULT_NODE})`)
  if (opts.from === true) cmd.option('--from <key>', 'keyring key that signs (default: the keyring default key)')
  if (opts.json !== false) cmd.option('--json', 'machine-readable output')
  if (opts.tx === true) {
    cmd.option('--fee <aitbc>', 'transaction fee in AITBC (default: min_fee)', amountArg)
    cmd.option('--wait', 'wait until the transaction is in a final block')
  }
  return cmd
}

async function reportTx (o: ClientOpts, res: { hash: string, height?: number, result?: any }, extra: Record<string, unknown> = {}): Promise<void> {
  if (o.json === true) { printJSON({ hash: res.hash, height: res.height ?? null, code: res.result?.code ?? null, ...extra }); return }
  printLines([
    `Tx: ${res.hash}`,
    ...Object.entries(extra).map(([k, v]) => `${k}: ${String(v)}`),
    res.height !== undefined ? `Committed at height ${res.height} (code ${res.result?.code ?? 0})` : 'Broadcast (not waiting for the block; pass --wait to wait)',
  ])
}

export function buildProgram (): Command {
  const program = new Command('aitbc')
    .description('AITBC: a blockchain-first marketplace for AI inference')
    .version('0.1.0')
    .showHelpAfterError()

  // ---- keys ----
  const keys = program.command('keys').description('manage ed25519 keys in the keyring ($AITBC_HOME, default ~/.aitbc)')
  keys.command('add <name>').description('create a new key').option('--json', 'machine-readable output').action((name: string, o: ClientOpts) => {
    const key = new Keyring().add(name)
    if (o.json === true) printJSON({ name, address: key.address }); else printLines([`Created key "${name}"`, `Address: ${key.address}`])
  })
  keys.command('list').description('list keys').option('--json', 'machine-readable output').action((o: ClientOpts) => {
    const kr = new Keyring()
    const list = kr.list().map(k => ({ ...k, default: k.name === kr.defaultKey() }))
    if (o.json === true) printJSON(list); else printLines([table(list.map(k => ({ ...k, default: k.default ? '*' : '' })), ['name', 'address', 'default'])])
  })
  keys.command('show <name>').description('show a key\'s address').option('--json', 'machine-readable output').action((name: string, o: ClientOpts) => {
    const key = new Keyring().get(name)
    if (o.json === true) printJSON({ name, address: key.address, pub_key: Buffer.from(key.publicKey).toString('hex') }); else printLines([key.address])
  })
  keys.command('import <name>').description('import a key from a 32-byte hex seed (read from --seed-file or stdin)')
    .option('--seed-file <file>', 'file holding the hex seed')
    .action((name: string, o: { seedFile?: string }) => {
      const text = (o.seedFile !== undefined ? readFileSync(o.seedFile, 'utf8') : readFileSync(0, 'utf8')).trim()
      if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new CliError('the seed must be 64 hex digits (32 bytes)')
      const key = new Keyring().add(name, new Uint8Array(Buffer.from(text, 'hex')))
      printLines([`Imported key "${name}"`, `Address: ${key.address}`])
    })
  keys.command('export <name>').description('print a key\'s secret seed (hex): anyone holding it controls the account').action((name: string) => {
    printLines([new Keyring().exportSeed(name)])
  })
  keys.command('default <name>').description('make a key the default signer').action((name: string) => {
    new Keyring().setDefault(name)
    printLines([`Default key: ${name}`])
  })

  // ---- genesis ----
  const genesis = program.command('genesis').description('build and check a genesis.json')
  genesis.command('new').description('write a new genesis with one or more validators')
    .requiredOption('--chain-id <id>', 'chain id')
    .requiredOption('--validator <home...>', 'node home folders whose priv_validator_key.json become validators')
    .option('--out <file>', 'output file', 'genesis.json')
    .option('--block-time <ms>', 'block_time_ms', intArg(10, 3_600_000))
    .action((o: { chainId: string, validator: string[], out: string, blockTime?: number }) => {
      const vals = o.validator.map((h, i) => ({ pubKey: readKeyFile(homePaths(h).privKey).publicKey, name: `validator-${i}` }))
      const g = makeGenesisJSON({ chainId: o.chainId, validators: vals, params: o.blockTime !== undefined ? { block_time_ms: o.blockTime } : {} })
      parseGenesis(g)
      writeFileSync(o.out, JSON.stringify(g, null, 2) + '\n')
      printLines([`Wrote ${o.out}`])
    })
  genesis.command('add-account <file> <account> <amount>').description('fund an account (keyring name or address) with AMOUNT AITBC').action((file: string, account: string, amount: string) => {
    const g = JSON.parse(readFileSync(file, 'utf8'))
    const address = new Keyring().resolveAddress(account)
    const value = parseAitbc(amount)
    const accounts: Array<{ address: string, balance: string }> = g.app_state.accounts ?? []
    const existing = accounts.find(a => a.address === address)
    if (existing !== undefined) existing.balance = (BigInt(existing.balance) + value).toString(); else accounts.push({ address, balance: value.toString() })
    g.app_state.accounts = accounts
    parseGenesis(g)
    writeFileSync(file, JSON.stringify(g, null, 2) + '\n')
    printLines([`Funded ${address} with ${amount} AITBC in ${file}`])
  })
  genesis.command('add-validator <file> <home>').description('add the validator key of a node home').option('--power <n>', 'voting power', intArg(1, 1e9), 10).action((file: string, home: string, o: { power: number }) => {
    const g = JSON.parse(readFileSync(file, 'utf8'))
    const key = readKeyFile(homePaths(home).privKey)
    const extra = makeGenesisJSON({ chainId: g.chain_id, validators: [{ pubKey: key.publicKey, power: o.power, name: `validator-${g.validators.length}` }] })
    g.validators.push(extra.validators[0])
    parseGenesis(g)
    writeFileSync(file, JSON.stringify(g, null, 2) + '\n')
    printLines([`Added validator ${extra.validators[0].address} to ${file}`])
  })
  genesis.command('validate <file>').description('check a genesis file').action((file: string) => {
    const g = parseGenesis(JSON.parse(readFileSync(file, 'utf8')))
    printLines([`${file} is valid: chain ${g.chainId}, ${g.validators.length} validator(s), ${g.accounts.length} account(s), hash ${g.hash}`])
  })

  // ---- node ----
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
    .action((o: { home: string, chainId: string, fund?: string, moniker?: string, blockTime?: number, emptyBlockInterval?: number, genesis?: string, json?: boolean }) => {
      const home = resolve(o.home)
      const kr = new Keyring()
      const accounts = (o.fund ?? '').split(',').filter(s => s.trim() !== '').map(s => {
        const m = /^([^=]+)=(.+)$/.exec(s.trim())
        if (m === null) throw new CliError(`--fund entry "${s}" is not NAME=AMOUNT`)
        return { address: kr.resolveAddress(m[1]), balance: parseAitbc(m[2]) }
      })
      const { validatorKey, nodeKey } = initHome(home, { moniker: o.moniker ?? 'aitbc-node' })
      const p = homePaths(home)
      if (o.genesis !== undefined) {
        writeFileSync(p.genesis, readFileSync(o.genesis))
      } else {
        const params: Partial<typeof DEFAULT_PARAMS_JSON> = {}
        if (o.blockTime !== undefined) params.block_time_ms = o.blockTime
        if (o.emptyBlockInterval !== undefined) params.empty_block_interval_ms = o.emptyBlockInterval
        const g = makeGenesisJSON({ chainId: o.chainId, validators: [{ pubKey: validatorKey.publicKey, name: o.moniker ?? 'validator-0' }], accounts, params })
        writeFileSync(p.genesis, JSON.stringify(g, null, 2) + '\n')
      }
      const g = parseGenesis(JSON.parse(readFileSync(p.genesis, 'utf8')))
      const out = { home, chain_id: g.chainId, validator_address: Buffer.from(validatorKey.publicKey).toString('hex'), validator_account: validatorKey.address, node_id: nodeKey.address, genesis: p.genesis }
      if (o.json === true) printJSON(out)
      else printLines([`Initialised node home ${home}`, `Chain: ${g.chainId}`, `Validator account: ${validatorKey.address}`, `Genesis: ${p.genesis}`, ...accounts.map(a => `Funded ${a.address} with ${formatAitbc(a.balance)} AITBC`)])
    })
  node.command('start').description('start the node (RPC 127.0.0.1:8006, P2P 8005)')
    .requiredOption('--home <dir>', 'node home folder')
    .option('--peers <list>', 'comma-separated multiaddrs of peers')
    .option('--rpc.laddr <hostport>', 'RPC listen address HOST:PORT (env AITBC_RPC_PORT)')
    .option('--p2p.laddr <hostport>', 'P2P listen address HOST:PORT (env AITBC_P2P_PORT)')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .action(async (o: Record<string, string | undefined>) => {
      const home = resolve(o.home as string)
      const config = loadConfig(home, { rpcLaddr: o['rpc.laddr'], p2pLaddr: o['p2p.laddr'], peers: o.peers?.split(',').filter(Boolean), logLevel: o.logLevel })
      const log = createLogger({ level: config.logLevel, name: 'aitbc-node' })
      let running
      try {
        running = await startNode(home, config, log)
      } catch (e) {
        if (e instanceof GenesisError) throw new CliError(`refusing to start: ${e.message}`)
        throw e
      }
      await new Promise<void>(resolveStop => {
        const stop = (sig: string): void => { log.info({ signal: sig }, 'stopping'); resolveStop() }
        process.once('SIGINT', () => stop('SIGINT'))
        process.once('SIGTERM', () => stop('SIGTERM'))
      })
      await running.stop()
    })
  node.command('id').description('this node\'s P2P identity and the multiaddr peers dial (--peers of other nodes)')
    .requiredOption('--home <dir>', 'node home folder')
    .option('--json', 'machine-readable output')
    .action(async (o: { home: string, json?: boolean }) => {
      const { peerIdFromSeed, p2pMultiaddr } = await import('../node/p2p/identity.ts')
      const home = resolve(o.home)
      const cfg = loadConfig(home)
      const id = await peerIdFromSeed(readKeySeed(homePaths(home).nodeKey))
      const addr = p2pMultiaddr(cfg.p2p.host, cfg.p2p.port, id)
      if (o.json === true) printJSON({ peer_id: id, multiaddr: addr }); else printLines([addr])
    })
  clientOptions(node.command('status').description('the node\'s chain, height and sync state')).action(async (o: ClientOpts) => {
    const s = await client(o).status()
    if (o.json === true) { printJSON(s); return }
    printLines([
      `Chain: ${s.node_info.network}`, `Node: ${s.node_info.moniker} (${s.node_info.id})`,
      `Height: ${s.sync_info.latest_block_height}`, `Latest block: ${s.sync_info.latest_block_hash} at ${s.sync_info.latest_block_time}`,
      `App hash: ${s.sync_info.latest_app_hash}`, `Catching up: ${s.sync_info.catching_up}`, `Voting power: ${s.validator_info.voting_power}`,
    ])
  })

  // ---- accounts ----
  clientOptions(program.command('balance [account]').description('balance of a keyring key or address (default: the default key)')).action(async (account: string | undefined, o: ClientOpts) => {
    const kr = new Keyring()
    const name = account ?? kr.defaultKey()
    if (name === undefined) throw new CliError('name a key or address, or set a default key')
    const a = await client(o).account(kr.resolveAddress(name))
    if (o.json === true) { printJSON(a); return }
    printLines([`${formatAitbc(BigInt(a.balance))} AITBC`, BigInt(a.bonded) > 0n ? `Bonded: ${formatAitbc(BigInt(a.bonded))} AITBC` : null, BigInt(a.unbonding) > 0n ? `Unbonding: ${formatAitbc(BigInt(a.unbonding))} AITBC` : null])
  })
  clientOptions(program.command('transfer <to> <amount>').description('send AMOUNT AITBC to a keyring key or address'), { from: true, tx: true }).action(async (to: string, amount: string, o: ClientOpts) => {
    const value = amountValue(amount)
    const dest = new Keyring().resolveAddress(to)
    const res = await sendTx(client(o), signer(o), { type: 'transfer', to: dest, amount: value }, o)
    await reportTx(o, res, { To: dest, Amount: `${formatAitbc(value)} AITBC` })
  })

  // ---- jobs ----
  const submit = program.command('submit').description('submit work to the marketplace')
  clientOptions(submit.command('inference').description('submit an inference job: the chain escrows --max-fee until a miner settles it'), { from: true, tx: true })
    .requiredOption('--prompt <text>', 'the prompt')
    .requiredOption('--model <name>', 'the model, e.g. llama3.2:latest')
    .option('--max-fee <aitbc>', 'most you will pay, held in escrow', amountArg, parseAitbc('1'))
    .option('--max-price-per-second <aitbc>', 'refuse miners more expensive than this', amountArg)
    .option('--temperature <x>', 'sampling temperature', floatArg)
    .option('--num-predict <n>', 'maximum tokens to generate', intArg(0, 1_000_000))
    .option('--seed <n>', 'random seed', intArg(0, Number.MAX_SAFE_INTEGER))
    .option('--timeout <s>', 'with --wait: give up waiting after this many seconds', intArg(1, 86400), 600)
    .action(async (o: ClientOpts & { prompt: string, model: string, maxFee: bigint, maxPricePerSecond?: bigint, temperature?: number, numPredict?: number, seed?: number, timeout: number }) => {
      const c = client(o)
      const started = Date.now()
      const res = await sendTx(c, signer(o), {
        type: 'submit_job', model: o.model, prompt: o.prompt, options: { temperature: o.temperature ?? null, numPredict: o.numPredict ?? null, seed: o.seed ?? null },
        maxFee: o.maxFee, maxPricePerSecond: o.maxPricePerSecond ?? null,
      }, { fee: o.fee })
      const jobId = 'job_' + res.hash.slice(0, 16).toLowerCase()
      if (o.wait !== true) {
        if (o.json === true) printJSON({ job_id: jobId, tx_hash: res.hash, status: 'submitted' })
        else printLines([`Job ID: ${jobId}`, `Tx: ${res.hash}`, 'Status: submitted (follow it with "aitbc status ' + jobId + '")'])
        return
      }
      const job = await waitForJob(c, jobId, { timeoutMs: o.timeout * 1000, progress: process.stdout.isTTY === true && o.json !== true })
      if (o.json === true) printJSON(job); else printLines(jobLines(job, Date.now() - started))
      if (job.status !== 'completed') process.exitCode = 2
    })
  clientOptions(program.command('status <job_id>').description('show a job')).action(async (jobId: string, o: ClientOpts) => {
    if (!JOB_ID_RE.test(jobId)) throw new CliError(`"${jobId}" is not a job id (job_ + 16 hex digits)`)
    const job = await client(o).job(jobId)
    if (o.json === true) printJSON(job); else printLines(jobLines(job))
  })
  clientOptions(program.command('jobs').description('list jobs'))
    .option('--client <account>', 'jobs of this client (key name or address)')
    .option('--miner <account>', 'jobs of this miner (key name or address)')
    .option('--status <status>', 'pending, assigned, completed, failed, cancelled or expired')
    .option('--page <n>', 'page', intArg(1, 1e9), 1)
    .option('--limit <n>', 'jobs per page', intArg(1, 100), 30)
    .action(async (o: ClientOpts & { client?: string, miner?: string, status?: string, page: number, limit: number }) => {
      const kr = new Keyring()
      const params: Record<string, unknown> = { page: String(o.page), per_page: String(o.limit) }
      if (o.client !== undefined) params.client = kr.resolveAddress(o.client)
      if (o.miner !== undefined) params.miner = kr.resolveAddress(o.miner)
      if (o.status !== undefined) params.status = o.status
      const r = await client(o).call('aitbc_jobs', params)
      if (o.json === true) { printJSON(r); return }
      printLines([table(r.jobs.map((j: any) => ({ job: j.job_id, status: j.status, model: j.model, miner: j.miner ?? '', cost: j.cost === null ? '' : formatAitbc(BigInt(j.cost)), submitted: j.submitted_at })), ['job', 'status', 'model', 'miner', 'cost', 'submitted']), `${r.total_count} job(s)`])
    })
  clientOptions(program.command('cancel <job_id>').description('cancel a pending job (full refund)'), { from: true, tx: true }).action(async (jobId: string, o: ClientOpts) => {
    if (!JOB_ID_RE.test(jobId)) throw new CliError(`"${jobId}" is not a job id (job_ + 16 hex digits)`)
    const res = await sendTx(client(o), signer(o), { type: 'cancel_job', jobId }, o)
    await reportTx(o, res, { Job: jobId })
  })
  clientOptions(program.command('receipt <id>').description('show a receipt (receipt id or job id)')).action(async (id: string, o: ClientOpts) => {
    const r = await client(o).call('aitbc_receipt', { id })
    if (o.json === true) { printJSON(r); return }
    printLines([`Receipt: ${r.receipt_id}`, `Job ID: ${r.job_id}`, `Status: ${r.status}`, `Miner: ${r.miner}`, `Paid: ${formatAitbc(BigInt(r.paid ?? '0'))} AITBC`, `Refund: ${formatAitbc(BigInt(r.refund ?? '0'))} AITBC`,
      r.metrics !== null ? `Compute: ${r.metrics.compute_ms} ms, ${r.metrics.prompt_tokens} prompt + ${r.metrics.completion_tokens} completion tokens` : null,
      r.error !== null ? `Error: ${r.error}` : null, `Tx: ${r.tx_hash} at height ${r.height}`])
  })

  // ---- miner txs ----
  const miner = program.command('miner').description('register and stake as a miner; run the miner daemon')
  addMinerStartCommand(miner)
  clientOptions(miner.command('register').description('list yourself as a miner, bonding --stake'), { from: true, tx: true })
    .requiredOption('--models <list>', 'models you serve, comma-separated')
    .requiredOption('--stake <aitbc>', 'stake to bond', amountArg)
    .option('--price-per-second <aitbc>', 'your price per second of compute (default: genesis default_price_per_second)', amountArg)
    .option('--capacity <n>', 'jobs at once', intArg(1, 1000), 1)
    .action(async (o: ClientOpts & { models: string, stake: bigint, pricePerSecond?: bigint, capacity: number }) => {
      const c = client(o)
      const pps = o.pricePerSecond ?? BigInt((await c.params()).default_price_per_second)
      const res = await sendTx(c, signer(o), { type: 'register_miner', models: o.models.split(',').map(s => s.trim()).filter(Boolean), pricePerSecond: pps, capacity: o.capacity, stake: o.stake }, o)
      await reportTx(o, res)
    })
  for (const kind of ['stake', 'unstake'] as const) {
    clientOptions(miner.command(`${kind} <amount>`).description(kind === 'stake' ? 'bond more stake' : 'start unbonding stake (returns after unbonding_blocks)'), { from: true, tx: true })
      .action(async (amount: string, o: ClientOpts) => {
        const res = await sendTx(client(o), signer(o), { type: kind, amount: amountValue(amount) }, o)
        await reportTx(o, res)
      })
  }
  clientOptions(miner.command('update').description('change your listing'), { from: true, tx: true })
    .option('--models <list>', 'models you serve, comma-separated')
    .option('--price-per-second <aitbc>', 'price per second', amountArg)
    .option('--capacity <n>', 'jobs at once', intArg(1, 1000))
    .option('--active <bool>', 'true to take jobs, false to pause')
    .action(async (o: ClientOpts & { models?: string, pricePerSecond?: bigint, capacity?: number, active?: string }) => {
      if (o.active !== undefined && o.active !== 'true' && o.active !== 'false') throw new CliError('--active must be true or false')
      const res = await sendTx(client(o), signer(o), {
        type: 'update_miner', models: o.models?.split(',').map(s => s.trim()).filter(Boolean) ?? null, pricePerSecond: o.pricePerSecond ?? null,
        capacity: o.capacity ?? null, active: o.active === undefined ? null : o.active === 'true',
      }, o)
      await reportTx(o, res)
    })

  // ---- chain reads ----
  clientOptions(program.command('block [height]').description('show a block (default: the latest)')).action(async (height: string | undefined, o: ClientOpts) => {
    if (height !== undefined && !/^\d+$/.test(height)) throw new CliError(`"${height}" is not a height`)
    const r = await client(o).call('block', height !== undefined ? { height } : {})
    if (o.json === true) { printJSON(r); return }
    const h = r.block.header
    printLines([`Height: ${h.height}`, `Hash: ${r.block_id.hash}`, `Time: ${h.time}`, `Proposer: ${h.proposer_address}`, `App hash: ${h.app_hash}`, `Txs: ${r.block.data.txs.length}`])
  })
  clientOptions(program.command('tx <hash>').description('show a committed transaction')).action(async (hash: string, o: ClientOpts) => {
    if (!/^(0x)?[0-9a-fA-F]{64}$/.test(hash)) throw new CliError(`"${hash}" is not a tx hash (64 hex digits)`)
    const r = await client(o).call('tx', { hash: hash.replace(/^0x/, '') })
    if (o.json === true) { printJSON(r); return }
    const { decodeTx, txToJSON } = await import('../node/core/tx.ts')
    const tx = txToJSON(decodeTx(new Uint8Array(Buffer.from(r.tx, 'base64')), { verify: false }))
    printLines([`Hash: ${r.hash}`, `Height: ${r.height}`, `Index: ${r.index}`, `Code: ${r.tx_result.code}`, `Type: ${String(tx.type)}`, `Sender: ${String(tx.sender)}`, `Body: ${JSON.stringify(tx.body)}`])
  })
  clientOptions(program.command('validators').description('the validator set')).action(async (o: ClientOpts) => {
    const r = await client(o).call('validators', {})
    if (o.json === true) { printJSON(r); return }
    printLines([table(r.validators.map((v: any) => ({ address: v.address, name: v.name ?? '', power: v.voting_power })), ['address', 'name', 'power']), `At height ${r.block_height}`])
  })

  // ---- coordinator ----
  addCoordinatorCommands(program)

  // ---- devnet ----
  program.command('devnet').description('run the whole system on this machine: validators, coordinator, miners, dev-ollama when no Ollama answers (SPEC 8)')
    .option('--validators <n>', 'validators (1 to 7)', intArg(1, 7), 4)
    .option('--miners <n>', 'miners', intArg(0, 16), 2)
    .option('--block-time <ms>', 'block_time_ms', intArg(10, 60_000), 1000)
    .option('--fresh', 'wipe the devnet\'s data first')
    .option('--ollama <url>', 'Ollama URL (env AITBC_OLLAMA_URL)', process.env.AITBC_OLLAMA_URL ?? 'http://127.0.0.1:11434')
    .option('--key <name>', 'the funded client key (made the keyring default)', 'alice')
    .action(async (o: { validators: number, miners: number, blockTime: number, fresh?: boolean, ollama: string, key: string }) => {
      const { Devnet, devnetDir } = await import('../devnet/devnet.ts')
      const root = resolve(new URL('..', import.meta.url).pathname)
      const log = createLogger({ name: 'aitbc-devnet' })
      const devnet = new Devnet({
        root, dir: devnetDir(root), validators: o.validators, miners: o.miners, blockTimeMs: o.blockTime, fresh: o.fresh === true,
        ollamaUrl: o.ollama, basePort: 8006, clientKey: o.key, withCoordinator: program.commands.some(c => c.name() === 'coordinator'), log,
      })
      const stopped = new Promise<string>(resolveStop => { process.once('SIGINT', () => resolveStop('SIGINT')); process.once('SIGTERM', () => resolveStop('SIGTERM')) })
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
    })

  // ---- dev-ollama ----
  program.command('dev-ollama').description('a STAND-IN for Ollama (deterministic text, no model) for machines without Ollama')
    .option('--port <n>', 'port (env AITBC_OLLAMA_PORT)', intArg(0, 65535))
    .option('--host <host>', 'host', '127.0.0.1')
    .option('--models <list>', 'models to list', 'llama3.2:latest')
    .option('--latency-ms <n>', 'delay before the first token', intArg(0, 3_600_000), 0)
    .option('--fail-rate <x>', 'fraction of generate/chat requests that fail with HTTP 500', floatArg, 0)
    .option('--hang', 'accept generate/chat requests and never answer')
    .action(async (o: { port?: number, host: string, models: string, latencyMs: number, failRate: number, hang?: boolean }) => {
      const { startDevOllama } = await import('../miner/devOllama.ts')
      const log = createLogger({ name: 'aitbc-dev-ollama' })
      const port = o.port ?? (process.env.AITBC_OLLAMA_PORT !== undefined ? Number(process.env.AITBC_OLLAMA_PORT) : 11434)
      const srv = await startDevOllama({ host: o.host, port, models: o.models.split(','), latencyMs: o.latencyMs, failRate: o.failRate, hang: o.hang === true, logger: log })
      process.stdout.write(`dev-ollama (a stand-in, not a real model) listening on ${srv.url}\n`)
      await new Promise<void>(resolveStop => { process.once('SIGINT', () => resolveStop()); process.once('SIGTERM', () => resolveStop()) })
      await srv.close()
    })

  return program
}

export async function main (argv: string[]): Promise<void> {
  const program = buildProgram()
  program.exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (e: any) {
    if (e?.code === 'commander.helpDisplayed' || e?.code === 'commander.version' || e?.code === 'commander.help') { process.exitCode = 0; return }
    if (typeof e?.code === 'string' && e.code.startsWith('commander.')) { process.exitCode = e.exitCode ?? 1; return }
    const msg = e instanceof RpcClientError ? `the node refused the request: ${e.message}` : e instanceof RpcNetworkError ? e.message : e?.message ?? String(e)
    process.stderr.write(`Error: ${msg}\n`)
    process.exitCode = e instanceof CliError ? e.exitCode : 1
  }
}

