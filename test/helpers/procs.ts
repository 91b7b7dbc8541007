// Real processes for end-to-end tests: free ports, temp homes, `aitbc` child processes that are
// always cleaned up, and polls with deadlines instead of sleeps.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync, openSync, closeSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { NodeClient } from '../../node/rpc/client.ts'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const AITBC_BIN = join(ROOT, 'bin', 'aitbc.mjs')
const execFileP = promisify(execFile)

export async function freePort (): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a !== null ? a.port : 0
      s.close(() => resolvePort(port))
    })
  })
}

export function tempDir (prefix = 'aitbc-test-'): string { return mkdtempSync(join(tmpdir(), prefix)) }

/** Polls `check` until it returns a value other than undefined/false, or throws after the deadline. */
export async function until<T> (what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastErr: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v as T
    } catch (e) { lastErr = e }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr !== undefined ? ` (last error: ${(lastErr as Error).message})` : ''}`)
    await new Promise(resolveWait => setTimeout(resolveWait, everyMs))
  }
}

const live = new Set<ChildProcess>()
function killAll (): void { for (const p of live) { try { p.kill('SIGKILL') } catch {} } }
process.once('exit', killAll)

/** Runs `aitbc ARGS` to completion. */
export async function aitbc (args: string[], env: Record<string, string> = {}): Promise<{ stdout: string, stderr: string, code: number }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [AITBC_BIN, ...args], { env: { ...process.env, ...env }, cwd: ROOT, maxBuffer: 64 * 1024 * 1024 })
    return { stdout, stderr, code: 0 }
  } catch (e: any) {
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 }
  }
}

export interface Proc {
  child: ChildProcess
  logFile: string
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string>
  stop: (signal?: NodeJS.Signals) => Promise<number | string>
}

/** Spawns `aitbc ARGS` in the background, output to a log file. */
export function spawnAitbc (args: string[], env: Record<string, string>, logFile: string): Proc {
  const fd = openSync(logFile, 'a')
  // AITBC_TEST_NODE_ARGS: extra node flags for the child (e.g. --cpu-prof for profiling a benchmark).
  const nodeArgs = (process.env.AITBC_TEST_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
  const child = spawn(process.execPath, [...nodeArgs, AITBC_BIN, ...args], { env: { ...process.env, ...env }, cwd: ROOT, stdio: ['ignore', fd, fd] })
  closeSync(fd)
  live.add(child)
  const exited = new Promise<number | string>(resolveExit => child.once('exit', (code, sig) => { live.delete(child); resolveExit(code ?? sig ?? 'unknown') }))
  return {
    child,
    logFile,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
      const r = await exited
      clearTimeout(t)
      return r
    },
  }
}

export interface TestNode {
  home: string
  aitbcHome: string
  env: Record<string, string>
  rpcPort: number
  url: string
  client: NodeClient
  proc: Proc
  /** Starts the node process again on the same home and port (after stop or kill). */
  restart: () => Promise<void>
  stop: () => Promise<void>
  log: () => string
}

/**
 * A single-validator chain in a temp folder: keyring keys (funded with 1000 AITBC each unless
 * given), `node init`, `node start` on a free port, ready when `health` answers.
 */
export async function startTestNode (opts: { keys?: string[], fund?: Record<string, string>, blockTimeMs?: number, emptyBlockMs?: number, params?: Record<string, unknown>, chainId?: string } = {}): Promise<TestNode> {
  const dir = tempDir()
  const aitbcHome = join(dir, 'client')
  const home = join(dir, 'node')
  const env = { AITBC_HOME: aitbcHome, AITBC_LOG_LEVEL: 'info' }
  const keys = opts.keys ?? ['alice', 'bob']
  for (const k of keys) {
    const r = await aitbc(['keys', 'add', k], env)
    if (r.code !== 0) throw new Error(`keys add ${k}: ${r.stderr}`)
  }
  const fund = opts.fund ?? Object.fromEntries(keys.map(k => [k, '1000']))
  const initArgs = ['node', 'init', '--home', home, '--chain-id', opts.chainId ?? 'aitbc-test', '--block-time', String(opts.blockTimeMs ?? 200), '--empty-block-interval', String(opts.emptyBlockMs ?? 1000)]
  const fundList = Object.entries(fund).map(([k, v]) => `${k}=${v}`).join(',')
  if (fundList !== '') initArgs.push('--fund', fundList)
  const r = await aitbc(initArgs, env)
  if (r.code !== 0) throw new Error(`node init: ${r.stderr}`)
  {
    // Tests run one miner unless they say otherwise: no verification by default (it needs two).
    const gfile = join(home, 'config', 'genesis.json')
    const g = JSON.parse(readFileSync(gfile, 'utf8'))
    Object.assign(g.app_state.params, { verification_rate: '0' }, opts.params ?? {})
    const { writeFileSync } = await import('node:fs')
    writeFileSync(gfile, JSON.stringify(g, null, 2))
  }
  const rpcPort = await freePort()
  const p2pPort = await freePort()
  const url = `http://127.0.0.1:${rpcPort}`
  const logFile = join(dir, 'node.log')
  const node: TestNode = {
    home, aitbcHome, env, rpcPort, url,
    client: new NodeClient(url, { retries: 0 }),
    proc: undefined as unknown as Proc,
    restart: async () => {
      node.proc = spawnAitbc(['node', 'start', '--home', home, '--rpc.laddr', `127.0.0.1:${rpcPort}`, '--p2p.laddr', `127.0.0.1:${p2pPort}`], env, logFile)
      const p = node.proc
      await until('node health', async () => {
        if (p.child.exitCode !== null) throw new Error(`node exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`)
        return await node.client.call('health').then(() => true, () => false)
      }, 30_000)
    },
    stop: async () => {
      await node.proc?.stop('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    },
    log: () => readFileSync(logFile, 'utf8'),
  }
  await node.restart()
  return node
}
