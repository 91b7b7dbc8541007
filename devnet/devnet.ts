// `aitbc devnet`: the whole system on one machine, in the foreground. Genesis,
// validators, a coordinator (when this build has one), miners registered and staked, dev-ollama
// only when nothing answers on the Ollama URL, the funded client key made the keyring default.
// Writes .devnet/devnet.json whenever a process starts or stops; Ctrl-C stops every child.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync, readFileSync, openSync, closeSync, chmodSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { Keyring } from '../cli/keyring.ts'
import { initHome, homePaths, readKeyFile, readKeySeed } from '../node/config.ts'
import { peerIdFromSeed, p2pMultiaddr } from '../node/p2p/identity.ts'
import { parseGenesis } from '../genesis/genesis.ts'
import { makeGenesisJSON } from '../genesis/build.ts'
import { parseAitbc } from '../node/core/amount.ts'
import type { Logger } from '../node/logger.ts'
import { CoordinatorStore } from '../coordinator-module/store.ts'
import { ApiKeyStore } from '../coordinator-module/gateway/apiKeyStore.ts'
import { DEFAULT_GATEWAY_DAILY_CAP } from '../coordinator-module/coordinator.ts'

/** The keyring key the devnet's gateway signs with (its own account, not the CLI's key). */
export const GATEWAY_KEY = 'gateway'

export interface DevnetOptions {
  root: string
  dir: string
  validators: number
  miners: number
  blockTimeMs: number
  fresh: boolean
  ollamaUrl: string
  basePort: number
  clientKey: string
  withCoordinator: boolean
  log: Logger
  /** verification_rate of a new devnet's genesis ("0.1" when absent). */
  verificationRate?: string
}

export type Role = 'validator' | 'full-node' | 'miner' | 'coordinator' | 'dev-ollama'

interface DevProc {
  name: string
  role: Role
  ports: Record<string, number>
  home: string | null
  command: string[]
  child: ChildProcess | null
  url: string
  health: string
}


async function answers (url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1500) })
    return r.status < 500
  } catch {
    return false
  }
}

async function waitReady (p: DevProc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (p.child !== null && p.child.exitCode !== null) throw new Error(`${p.name} exited with code ${p.child.exitCode} (see its log)`)
    if (await answers(p.health)) return
    await new Promise(resolveWait => setTimeout(resolveWait, 100))
  }
  throw new Error(`${p.name} did not answer on ${p.health} within ${timeoutMs} ms`)
}

export class Devnet {
  private readonly procs: DevProc[] = []
  private stopping = false
  private readonly logsDir: string
  chainId = 'aitbc-devnet'
  /** The gateway's API key (also in devnet.json, mode 0600). */
  gatewayApiKey: string | null = null

  constructor (private readonly o: DevnetOptions) {
    this.logsDir = join(o.dir, 'logs')
  }

  private rel (p: string): string { return relative(this.o.root, p) || '.' }

  private writeState (): void {
    const doc = {
      chain_id: this.chainId,
      default_key: this.o.clientKey,
      gateway_api_key: this.gatewayApiKey,
      gateway_key: this.gatewayApiKey === null ? null : { name: GATEWAY_KEY, keyring: this.rel(join(this.o.dir, 'gateway')) },
      node: this.procs.find(p => p.role === 'validator')?.url ?? null,
      processes: this.procs.map(p => ({
        name: p.name,
        role: p.role,
        pid: p.child !== null && p.child.exitCode === null && p.child.signalCode === null ? p.child.pid ?? null : null,
        ports: p.ports,
        home: p.home === null ? null : this.rel(p.home),
        url: p.url,
        command: p.command,
      })),
    }
    // It holds the gateway's API key: readable by this user only.
    const f = join(this.o.dir, 'devnet.json')
    writeFileSync(f, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 })
    chmodSync(f, 0o600)
  }

  /** Creates homes, keys and the genesis unless they exist (then the chain continues). */
  private prepare (): { validatorHomes: string[], minerKeys: string[] } {
    const o = this.o
    if (o.validators < 1 || o.validators > 7) throw new Error('--validators must be from 1 to 7')
    if (o.miners < 0 || o.miners > 16) throw new Error('--miners must be from 0 to 16')
    if (o.fresh) rmSync(o.dir, { recursive: true, force: true })
    mkdirSync(this.logsDir, { recursive: true })
    const minerKeyring = new Keyring(join(o.dir, 'miners'))
    const gatewayKeyring = new Keyring(join(o.dir, 'gateway'))
    const validatorHomes = Array.from({ length: o.validators }, (_, i) => join(o.dir, `validator-${i}`))
    const minerKeys = Array.from({ length: o.miners }, (_, i) => `miner-${i}`)
    const userKeyring = new Keyring()
    if (!userKeyring.has(o.clientKey)) userKeyring.add(o.clientKey)
    userKeyring.setDefault(o.clientKey)
    const genesisFile = join(o.dir, 'genesis.json')
    if (existsSync(genesisFile)) {
      const g = parseGenesis(JSON.parse(readFileSync(genesisFile, 'utf8')))
      this.chainId = g.chainId
      const rate = (JSON.parse(readFileSync(genesisFile, 'utf8')) as { app_state?: { params?: { verification_rate?: string } } }).app_state?.params?.verification_rate ?? '0.1'
      if (o.verificationRate !== undefined && o.verificationRate !== rate) {
        o.log.warn({ genesis: rate, asked: o.verificationRate }, 'the existing devnet keeps the verification_rate of its genesis; run with --fresh to change it')
      }
      if (g.validators.length !== o.validators) throw new Error(`the devnet in ${this.rel(o.dir)} has ${g.validators.length} validator(s); start it with --validators ${g.validators.length}, or use --fresh`)
      const client = userKeyring.get(o.clientKey).address
      if (!g.accounts.some(a => a.address === client)) {
        o.log.warn({ key: o.clientKey }, 'the keyring key is not funded in the existing devnet genesis (it was made with another keyring); run with --fresh to fund it')
      }
      return { validatorHomes, minerKeys }
    }
    for (const h of validatorHomes) initHome(h, { moniker: h.split('/').pop() })
    for (const k of minerKeys) if (!minerKeyring.has(k)) minerKeyring.add(k)
    if (!gatewayKeyring.has(GATEWAY_KEY)) gatewayKeyring.add(GATEWAY_KEY)
    const accounts = [
      { address: userKeyring.get(o.clientKey).address, balance: parseAitbc('10000') },
      { address: gatewayKeyring.get(GATEWAY_KEY).address, balance: parseAitbc('10000') },
      ...minerKeys.map(k => ({ address: minerKeyring.get(k).address, balance: parseAitbc('10000') })),
    ]
    const g = makeGenesisJSON({
      chainId: this.chainId,
      validators: validatorHomes.map((h, i) => ({ pubKey: readKeyFile(homePaths(h).privKey).publicKey, name: `validator-${i}`, stake: parseAitbc('1000') })),
      accounts,
      params: { block_time_ms: o.blockTimeMs, verification_rate: o.verificationRate ?? '0.1' },
    })
    parseGenesis(g)
    writeFileSync(genesisFile, JSON.stringify(g, null, 2) + '\n')
    for (const h of validatorHomes) writeFileSync(homePaths(h).genesis, JSON.stringify(g, null, 2) + '\n')
    return { validatorHomes, minerKeys }
  }

  private spawn (p: DevProc, env: Record<string, string> = {}): void {
    const logFile = join(this.logsDir, `${p.name}.log`)
    const fd = openSync(logFile, 'a')
    const [, ...args] = p.command
    const child = spawn(process.execPath, args, { cwd: this.o.root, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] })
    closeSync(fd)
    p.child = child
    child.once('exit', (code, signal) => {
      if (!this.stopping) this.o.log.error({ process: p.name, code, signal, log: this.rel(logFile) }, 'a devnet process exited')
      this.writeState()
    })
    this.writeState()
  }

  async start (): Promise<void> {
    const o = this.o
    const { validatorHomes, minerKeys } = this.prepare()
    const bin = this.rel(join(o.root, 'bin', 'aitbc.mjs'))
    // Validators: RPC 8006, 8016, ...; P2P 8005, 8015, ...; each dials every other.
    const addrs = await Promise.all(validatorHomes.map(async (home, i) => p2pMultiaddr('127.0.0.1', o.basePort + 10 * i - 1, await peerIdFromSeed(readKeySeed(homePaths(home).nodeKey)))))
    validatorHomes.forEach((home, i) => {
      const rpc = o.basePort + 10 * i
      const p2p = rpc - 1
      const peers = addrs.filter((_, j) => j !== i)
      this.procs.push({
        name: `validator-${i}`, role: 'validator', ports: { rpc, p2p }, home,
        command: ['node', bin, 'node', 'start', '--home', this.rel(home), '--rpc.laddr', `127.0.0.1:${rpc}`, '--p2p.laddr', `127.0.0.1:${p2p}`, ...(peers.length > 0 ? ['--peers', peers.join(',')] : [])],
        child: null, url: `http://127.0.0.1:${rpc}`, health: `http://127.0.0.1:${rpc}/health`,
      })
    })
    for (const p of this.procs) this.spawn(p)
    await Promise.all(this.procs.map(async p => await waitReady(p, 30_000)))
    const nodeUrl = this.procs[0].url

    if (o.withCoordinator) {
      const port = 8000
      const gatewayHome = join(o.dir, 'gateway')
      if (new Keyring(gatewayHome).has(GATEWAY_KEY)) this.gatewayApiKey = await this.gatewayKey(join(o.dir, 'coordinator'), gatewayHome)
      const c: DevProc = {
        name: 'coordinator', role: 'coordinator', ports: { http: port }, home: join(o.dir, 'coordinator'),
        command: ['node', bin, 'coordinator', 'start', '--node', nodeUrl, '--port', String(port), '--data', this.rel(join(o.dir, 'coordinator')),
          ...(this.gatewayApiKey === null ? [] : ['--gateway-key', GATEWAY_KEY])],
        child: null, url: `http://127.0.0.1:${port}`, health: `http://127.0.0.1:${port}/health`,
      }
      this.procs.push(c)
      this.spawn(c, { AITBC_HOME: gatewayHome })
      await waitReady(c, 30_000)
    }

    let ollamaUrl = o.ollamaUrl
    if (await answers(`${ollamaUrl}/api/version`)) {
      o.log.info({ ollama: ollamaUrl }, 'using the Ollama that answers there')
    } else {
      const port = Number(new URL(ollamaUrl).port || 11434)
      const d: DevProc = {
        name: 'dev-ollama', role: 'dev-ollama', ports: { http: port }, home: null,
        command: ['node', bin, 'dev-ollama', '--port', String(port), '--models', 'llama3.2:latest'],
        child: null, url: `http://127.0.0.1:${port}`, health: `http://127.0.0.1:${port}/api/version`,
      }
      ollamaUrl = d.url
      this.procs.push(d)
      this.spawn(d)
      await waitReady(d, 30_000)
    }

    const minerHome = join(o.dir, 'miners')
    minerKeys.forEach((k, i) => {
      const port = 8010 + i
      this.procs.push({
        name: k, role: 'miner', ports: { http: port }, home: minerHome,
        // Capacity 4: a miner also re-runs the checked jobs of the others (verification).
        command: ['node', bin, 'miner', 'start', '--key', k, '--node', nodeUrl, '--ollama', ollamaUrl, '--port', String(port), '--stake', '100', '--capacity', '4'],
        child: null, url: `http://127.0.0.1:${port}`, health: `http://127.0.0.1:${port}/health`,
      })
    })
    for (const p of this.procs.filter(x => x.role === 'miner')) this.spawn(p, { AITBC_HOME: minerHome })
    await Promise.all(this.procs.filter(x => x.role === 'miner').map(async p => await waitReady(p, 60_000)))
    this.writeState()
  }

  /** The gateway's API key: the one devnet.json holds when the coordinator's store still knows it, else a new one. */
  private async gatewayKey (dataDir: string, gatewayHome: string): Promise<string> {
    let previous: string | null = null
    try { previous = JSON.parse(readFileSync(join(this.o.dir, 'devnet.json'), 'utf8')).gateway_api_key ?? null } catch { /* none yet */ }
    mkdirSync(dataDir, { recursive: true })
    const store = await CoordinatorStore.open(dataDir)
    try {
      const keys = new ApiKeyStore(store)
      await keys.load()
      if (previous !== null) {
        try { keys.authenticate(previous); return previous } catch { /* not this store's: make one */ }
      }
      const address = new Keyring(gatewayHome).get(GATEWAY_KEY).address
      return (await keys.create(GATEWAY_KEY, address, DEFAULT_GATEWAY_DAILY_CAP)).apiKey
    } finally {
      await store.close()
    }
  }

  summary (): string {
    const lines = [`AITBC devnet "${this.chainId}" is running (Ctrl-C stops every process)`, '']
    for (const p of this.procs) {
      const label = p.role === 'dev-ollama' ? 'dev-ollama (a STAND-IN for Ollama: deterministic text, no model)' : p.role
      lines.push(`  ${p.name.padEnd(14)} ${label.padEnd(12)} ${p.url}  pid ${p.child?.pid ?? '-'}`)
    }
    const client = new Keyring().get(this.o.clientKey)
    lines.push('', `Funded client key: ${this.o.clientKey} (${client.address}), now the keyring default`,
      `State: ${this.rel(join(this.o.dir, 'devnet.json'))}   Logs: ${this.rel(this.logsDir)}/`, '',
      ...(this.gatewayApiKey === null ? [] : [
        `OpenAI-compatible gateway: http://127.0.0.1:8000/v1  API key: ${this.gatewayApiKey}`,
        `  (its jobs are paid by the devnet's own gateway key "${GATEWAY_KEY}", ${new Keyring(join(this.o.dir, 'gateway')).get(GATEWAY_KEY).address}; the key is also in devnet.json as gateway_api_key)`, '']),
      'Try, in another terminal:',
      '  npx aitbc submit inference --prompt "What is machine learning?" --model llama3.2:latest --wait',
      ...(this.gatewayApiKey === null ? [] : [
        `  curl -N http://127.0.0.1:8000/v1/chat/completions -H "Authorization: Bearer ${this.gatewayApiKey}" -H "content-type: application/json" \\`,
        '    -d \'{"model": "llama3.2:latest", "messages": [{"role": "user", "content": "What is AI?"}], "stream": true}\'']))
    return lines.join('\n')
  }

  /** Stops every child: SIGTERM, then SIGKILL after a grace period. */
  async stop (): Promise<void> {
    this.stopping = true
    const alive = this.procs.filter(p => p.child !== null && p.child.exitCode === null && p.child.signalCode === null)
    // Miners first (they finish or fail their jobs on the chain), then the rest.
    for (const group of [alive.filter(p => p.role === 'miner'), alive.filter(p => p.role !== 'miner')]) {
      await Promise.all(group.map(async p => {
        const child = p.child as ChildProcess
        const exited = new Promise(resolveExit => child.once('exit', resolveExit))
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
        await exited
        clearTimeout(t)
      }))
    }
    this.writeState()
  }
}

export function devnetDir (root: string): string { return resolve(root, '.devnet') }
