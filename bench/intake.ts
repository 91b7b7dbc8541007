// Benchmark of one validator's RPC intake under single-tx requests (issue 11): pre-signed
// transfers, one broadcast_tx_sync per HTTP request (no JSON-RPC batches), in two patterns:
//  - "in order": 64 senders at once, each with one request in flight, its nonces in order;
//  - "out of order": 32 workers sharing one queue of the txs of 8 senders (a busy wallet or an
//    exchange), so a sender's nonces arrive out of order and wait in the mempool's queue.
// Every tx must be accepted (code 0) and commit. Reports the intake rate (answers a second),
// committed tx/s, broadcast-to-commit latency and the node's memory, each rate beside one core's
// ed25519 verifications a second measured in the same run. The load generator runs on the same
// machine as the node and takes its share of the cores (node:http with keep-alive, its cheapest client).
import { Agent, request } from 'node:http'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SigningKey, sha256, toBase64 } from '../node/core/crypto.ts'
import { signTx } from '../node/core/tx.ts'
import { aitbc, freePort, spawnAitbc, tempDir, until } from '../test/helpers/procs.ts'
import { NodeClient } from '../node/rpc/client.ts'
import { measureVerifyRate, measureAllCoresVerifyRate, memoryOf, percentile, fmt, cpuSecondsOf, loadAverage, watchCommits } from './lib.ts'

export type IntakePattern = 'in-order' | 'out-of-order'

export interface IntakeResult { pattern: IntakePattern, txs: number, intakePerSec: number, committedPerSec: number, p50Ms: number, p99Ms: number, peakMb: number, rssMb: number, blocks: number, queued: number, nodeCpu: number, benchCpu: number, load: string }

/** A keep-alive HTTP client for one URL: POSTs a JSON body, resolves with the parsed answer. */
export function jsonPoster (url: string, sockets: number): { post: (body: string) => Promise<any>, close: () => void } {
  const u = new URL(url)
  const agent = new Agent({ keepAlive: true, maxSockets: sockets })
  const post = async (body: string): Promise<any> => await new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { try { resolve(JSON.parse(Buffer.concat(chunks).toString())) } catch (e) { reject(e) } })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
  return { post, close: () => agent.destroy() }
}

/** Starts a one-validator chain funding `keys`; returns its URL, pid and a stop function. */
export async function startBenchNode (keys: SigningKey[], blockTimeMs: number, chainId: string): Promise<{ url: string, pid: number, stop: () => Promise<void>, log: string }> {
  const dir = tempDir('aitbc-bench-')
  const home = join(dir, 'node')
  const env = { AITBC_HOME: join(dir, 'client'), AITBC_LOG_LEVEL: 'warn' }
  const r = await aitbc(['node', 'init', '--home', home, '--chain-id', chainId, '--block-time', String(blockTimeMs)], env)
  if (r.code !== 0) throw new Error(r.stderr)
  const gfile = join(home, 'config', 'genesis.json')
  const g = JSON.parse(readFileSync(gfile, 'utf8'))
  g.app_state.accounts = keys.map(k => ({ address: k.address, balance: String(10n ** 15n) }))
  writeFileSync(gfile, JSON.stringify(g, null, 2))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const log = process.env.BENCH_NODE_LOG ?? join(dir, 'node.log')
  const proc = spawnAitbc(['node', 'start', '--home', home, '--rpc.laddr', `127.0.0.1:${port}`, '--p2p.laddr', `127.0.0.1:${await freePort()}`], env, log)
  const client = new NodeClient(url, { retries: 0 })
  await until('node up', async () => await client.call('health').then(() => true, () => false), 60_000)
  return { url, pid: proc.child.pid as number, log, stop: async () => { await proc.stop('SIGTERM'); rmSync(dir, { recursive: true, force: true }) } }
}

export async function benchIntake (opts: { pattern: IntakePattern, txs: number, blockTimeMs: number }): Promise<IntakeResult> {
  const senders = opts.pattern === 'in-order' ? 64 : 8
  const workers = opts.pattern === 'in-order' ? 64 : 32
  const chainId = 'aitbc-bench'
  const keys = Array.from({ length: senders }, (_, i) => new SigningKey(sha256(new TextEncoder().encode(`bench-intake-sender-${i}`))))
  const node = await startBenchNode(keys, opts.blockTimeMs, chainId)
  const poster = jsonPoster(node.url, workers)
  try {
    const perSender = Math.ceil(opts.txs / senders)
    const sink = new SigningKey(sha256(new TextEncoder().encode('bench-sink'))).address
    // Pre-signed, and each request body built beforehand: the measured phase is the node's work.
    const bodies = keys.map(k => Array.from({ length: perSender }, (_, n) => {
      const tx = signTx(k, { chainId, nonce: n, fee: 1000n, body: { type: 'transfer', to: sink, amount: 1n } })
      const b64 = toBase64(tx.bytes)
      return { b64, body: `{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":"${b64}"}}` }
    }))
    const total = perSender * senders
    const watch = await watchCommits(node.url, total)
    let refused = 0
    let queued = 0
    let lastAnswerAt = 0
    const send = async (x: { b64: string, body: string }): Promise<void> => {
      watch.sent(x.b64)
      const o = await poster.post(x.body)
      lastAnswerAt = performance.now()
      if (o.error !== undefined || o.result.code !== 0) {
        refused++
        if (refused <= 3) console.error('refused:', JSON.stringify(o).slice(0, 300))
      } else if (o.result.log.startsWith('queued')) queued++
    }
    // BENCH_MEM_TRACE=1: the node's heap and resident memory every 2 s (from its /metrics), to see what grows.
    const trace = process.env.BENCH_MEM_TRACE === '1'
      ? setInterval(() => {
        void fetch(node.url + '/metrics').then(async r => await r.text()).then(t => {
          const v = (k: string): string => fmt(Number((new RegExp(`^aitbc_node_process_${k}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(t) ?? [])[1] ?? 0) / 2 ** 20)
          console.error(`mem: rss ${v('process_resident_memory_bytes')} MB heap used ${v('nodejs_heap_size_used_bytes')} MB total ${v('nodejs_heap_size_total_bytes')} MB external ${v('nodejs_external_memory_bytes')} MB; committed ${watch.committed}`)
        }, () => {})
      }, 2000)
      : undefined
    const cpu0 = cpuSecondsOf(node.pid)
    const bench0 = process.cpuUsage()
    const firstSend = performance.now()
    if (opts.pattern === 'in-order') {
      await Promise.all(bodies.map(async stream => { for (const x of stream) await send(x) }))
    } else {
      const queue: Array<{ b64: string, body: string }> = []
      for (let n = 0; n < perSender; n++) for (const s of bodies) queue.push(s[n])
      let next = 0
      await Promise.all(Array.from({ length: workers }, async () => { while (next < queue.length) await send(queue[next++]) }))
    }
    if (refused > 0) throw new Error(`${refused} txs were refused`)
    await watch.wait(180_000)
    watch.close()
    if (trace !== undefined) clearInterval(trace)
    const wall = (performance.now() - firstSend) / 1000
    const nodeCpu = (cpuSecondsOf(node.pid) - cpu0) / wall
    const b = process.cpuUsage(bench0)
    const benchCpu = (b.user + b.system) / 1e6 / wall
    const mem = memoryOf(node.pid)
    const latencies = watch.latencies.sort((a, b) => a - b)
    return {
      pattern: opts.pattern,
      txs: total,
      intakePerSec: total / ((lastAnswerAt - firstSend) / 1000),
      committedPerSec: watch.committed / ((watch.lastCommitAt - firstSend) / 1000),
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      peakMb: mem.peakMb,
      rssMb: mem.rssMb,
      blocks: watch.blockTimes.length,
      queued,
      nodeCpu,
      benchCpu,
      load: loadAverage(),
    }
  } finally {
    poster.close()
    await node.stop()
  }
}

export async function runIntakeBench (): Promise<void> {
  const txs = Number(process.env.BENCH_TXS ?? 60_000)
  const blockTimeMs = Number(process.env.BENCH_BLOCK_MS ?? 1000)
  const patterns = (process.env.BENCH_PATTERNS ?? 'in-order,out-of-order').split(',') as IntakePattern[]
  for (const pattern of patterns) {
    const verify = measureVerifyRate()
    const all = await measureAllCoresVerifyRate()
    const r = await benchIntake({ pattern, txs, blockTimeMs })
    const desc = pattern === 'in-order' ? '64 senders, nonces in order' : '32 workers sharing one queue of 8 senders\' txs'
    console.log(`intake ${pattern}: ${fmt(r.txs)} transfers, one per HTTP request, ${desc}, ${blockTimeMs} ms blocks; one core verifies ${fmt(verify)} ed25519/s, all ${all.threads} at once ${fmt(all.perSec)}/s (node:crypto, this run):\n` +
      `  intake ${fmt(r.intakePerSec)} tx/s (${(r.intakePerSec / verify).toFixed(2)} x one core's verify rate), committed ${fmt(r.committedPerSec)} tx/s (${(r.committedPerSec / verify).toFixed(2)} x), ` +
      `every tx committed; ${fmt(r.queued)} answered "queued"; latency p50 ${fmt(r.p50Ms)} ms p99 ${fmt(r.p99Ms)} ms; ${r.blocks} blocks; node peak RSS ${fmt(r.peakMb)} MB (now ${fmt(r.rssMb)} MB); ` +
      `CPU used: node ${fmt(r.nodeCpu, 2)} cores, this load generator ${fmt(r.benchCpu, 2)} cores; load average ${r.load}`)
  }
}
