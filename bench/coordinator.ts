// Benchmarks of the coordinator (issue 5 item 8): its indexing rate while catching up on a chain
// that already holds BENCH_COORD_TXS transactions (generated offline into a node's store), and
// the read throughput of GET /v1/jobs/:id over random job ids of that chain.
import { rmSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateChain } from './offlineChain.ts'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { SigningKey, sha256 } from '../node/core/crypto.ts'
import { signTx, jobIdFromTxHash } from '../node/core/tx.ts'
import { parseAitbc } from '../node/core/amount.ts'
import { startTestnet, type Testnet } from '../test/helpers/testnet.ts'
import { freePort, spawnAitbc, tempDir, until, type Proc } from '../test/helpers/procs.ts'
import { measureVerifyRate, percentile, fmt } from './lib.ts'

const execFileP = promisify(execFile)
const TXS_PER_BLOCK = 1000
const SENDERS = 10

interface ReadResult { client: string, rps: number, p50: number, p99: number, non2xx: number, requests: number, errors: number }

export async function runCoordinatorBench (): Promise<void> {
  const wantTxs = Number(process.env.BENCH_COORD_TXS ?? 100_000)
  const readSeconds = Number(process.env.BENCH_READ_SECONDS ?? 10)
  console.log(`ed25519 verify (node:crypto, one core): ${fmt(measureVerifyRate())} /s`)
  const dir = tempDir('aitbc-bench-coord-')
  let net: Testnet | undefined
  let coord: Proc | undefined
  try {
    const keys = Array.from({ length: SENDERS }, (_, i) => new SigningKey(sha256(new TextEncoder().encode(`bench-coord-sender-${i}`))))
    // 4 validators, only validator-0 started: it serves the generated chain and adds no blocks.
    net = await startTestnet({ validators: 4, blockTimeMs: 1000, emptyBlockMs: 60_000, start: false, keys: [], accounts: keys.map(k => ({ address: k.address, balance: 10n ** 15n })) })
    const v0 = net.validators[0]
    const blocks = Math.max(1, Math.ceil(wantTxs / TXS_PER_BLOCK))
    const perSender = TXS_PER_BLOCK / SENDERS
    const jobIds: string[] = []
    const gen = await generateChain(net, blocks, (h, chainId) => keys.flatMap((k, si) => Array.from({ length: perSender }, (_, i) => {
      const nonce = (h - 1) * perSender + i
      const tx = signTx(k, { chainId, nonce, fee: 1000n, body: { type: 'submit_job', model: 'bench-model', prompt: `What is machine learning? (${si}/${nonce})`, options: { temperature: null, numPredict: 32, seed: nonce }, maxFee: parseAitbc('1'), maxPricePerSecond: null } })
      jobIds.push(jobIdFromTxHash(tx.hash))
      return tx
    })))
    const totalTxs = gen.txs
    const genMs = gen.ms
    await v0.start({ peers: [] })
    const chainHeight = await v0.height()
    if (chainHeight !== blocks) throw new Error(`node reports height ${chainHeight}, generated ${blocks}`)

    // (a) catch-up indexing
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const logFile = join(dir, 'coordinator.log')
    const t1 = performance.now()
    coord = spawnAitbc(['coordinator', 'start', '--node', v0.url, '--port', String(port), '--data', join(dir, 'index')], { AITBC_HOME: join(dir, 'client'), AITBC_LOG_LEVEL: 'warn' }, logFile)
    const c = coord
    await until('coordinator caught up', async () => {
      if (c.child.exitCode !== null) throw new Error(`coordinator exited: ${readFileSync(logFile, 'utf8').slice(-1500)}`)
      const r = await fetch(`${base}/health`).catch(() => undefined)
      if (r === undefined) return false
      const body = await r.json() as { indexed_height?: number }
      return Number(body.indexed_height ?? 0) >= chainHeight
    }, 900_000, 50)
    const indexSec = (performance.now() - t1) / 1000
    console.log(`coordinator catch-up: indexed ${fmt(chainHeight)} blocks holding ${fmt(totalTxs)} txs (submit_job) in ${fmt(indexSec, 2)} s from process start: ` +
      `${fmt(totalTxs / indexSec)} tx/s (aim > 5,000), ${fmt(chainHeight / indexSec, 1)} blocks/s (chain generated offline in ${fmt(genMs / 1000, 1)} s)`)

    // sanity: a job of the chain is served
    const probe = await fetch(`${base}/v1/jobs/${jobIds[0]}`)
    if (probe.status !== 200) throw new Error(`GET /v1/jobs/${jobIds[0]} answered ${probe.status}: ${await probe.text()}`)

    // (b) read throughput
    const r = await readBench(base, jobIds, readSeconds, dir)
    console.log(`GET /v1/jobs/:id over ${fmt(jobIds.length)} random job ids, ${readSeconds} s, client ${r.client}: ${fmt(r.rps)} requests/s (aim 5,000), ` +
      `latency p50 ${fmt(r.p50, 2)} ms p99 ${fmt(r.p99, 2)} ms, ${fmt(r.requests)} requests, non-2xx ${r.non2xx}, socket errors ${r.errors}`)
    if (r.non2xx > 0) throw new Error(`${r.non2xx} non-2xx answers to GET /v1/jobs/:id`)
  } finally {
    await coord?.stop('SIGTERM')
    await net?.stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function readBench (base: string, ids: string[], seconds: number, dir: string): Promise<ReadResult> {
  const hasWrk = await execFileP('sh', ['-c', 'command -v wrk']).then(() => true, () => false)
  if (hasWrk) return await readWithWrk(base, ids, seconds, dir)
  return await readWithNode(base, ids, seconds)
}

async function readWithWrk (base: string, ids: string[], seconds: number, dir: string): Promise<ReadResult> {
  const idFile = join(dir, 'job-ids.txt')
  writeFileSync(idFile, ids.join('\n') + '\n')
  const script = join(dir, 'jobs.lua')
  writeFileSync(script, `local ids = {}
for line in io.lines("${idFile}") do ids[#ids + 1] = line end
local counter = 0
function setup (thread) counter = counter + 1; thread:set("seed", counter) end
function init (args) math.randomseed(os.time() * 100 + (seed or 0)) end
function request () return wrk.format("GET", "/v1/jobs/" .. ids[math.random(#ids)]) end
`)
  const { stdout } = await execFileP('wrk', ['-t', '4', '-c', '64', '-d', `${seconds}s`, '--latency', '-s', script, base], { maxBuffer: 16 * 1024 * 1024 })
  const ms = (s: string | undefined): number => {
    const m = /([\d.]+)(us|ms|s)/.exec(s ?? '')
    if (m === null) return NaN
    const v = Number(m[1])
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v
  }
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)
  return {
    client: 'wrk (4 threads, 64 connections)',
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN),
    p50: ms(/^\s+50%\s+(\S+)/m.exec(stdout)?.[1]),
    p99: ms(/^\s+99%\s+(\S+)/m.exec(stdout)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0),
    requests: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN),
    errors: errs === null ? 0 : errs.slice(1).reduce((a, b) => a + Number(b), 0),
  }
}

async function readWithNode (base: string, ids: string[], seconds: number): Promise<ReadResult> {
  const CONCURRENCY = 64
  let get: (path: string) => Promise<number>
  let client: string
  try {
    const undici: any = await import('undici' as string)
    const pool = new undici.Pool(base, { connections: CONCURRENCY, pipelining: 1 })
    get = async (path) => { const r = await pool.request({ path, method: 'GET' }); await r.body.dump(); return r.statusCode as number }
    client = `undici Pool (${CONCURRENCY} keep-alive connections)`
  } catch {
    get = async (path) => { const r = await fetch(base + path); await r.arrayBuffer(); return r.status }
    client = `global fetch (${CONCURRENCY} concurrent keep-alive requests)`
  }
  const lat: number[] = []
  let non2xx = 0
  let errors = 0
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < end) {
      const t = performance.now()
      try {
        const status = await get(`/v1/jobs/${ids[Math.floor(Math.random() * ids.length)]}`)
        if (status < 200 || status >= 300) non2xx++
      } catch { errors++ }
      lat.push(performance.now() - t)
    }
  }))
  const sec = (performance.now() - start) / 1000
  lat.sort((a, b) => a - b)
  return { client, rps: lat.length / sec, p50: percentile(lat, 50), p99: percentile(lat, 99), non2xx, requests: lat.length, errors }
}
