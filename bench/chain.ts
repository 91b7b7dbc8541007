// Benchmark of one validator's RPC: sustained committed transfers and submit_jobs a second from
// several concurrent senders (each a stream of nonces, sent as JSON-RPC batches of
// broadcast_tx_sync), broadcast-to-commit latency from NewBlock events, and the node's memory.
import { writeFileSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { SigningKey, sha256, toHexUpper, toBase64 } from '../node/core/crypto.ts'
import { signTx, type TxBody } from '../node/core/tx.ts'
import { aitbc, freePort, spawnAitbc, tempDir, until } from '../test/helpers/procs.ts'
import { NodeClient } from '../node/rpc/client.ts'
import { measureVerifyRate, memoryOf, percentile, fmt, watchCommits } from './lib.ts'

export interface ChainBenchResult { kind: string, txs: number, committedPerSec: number, p50Ms: number, p99Ms: number, peakMb: number, rssMb: number, blocks: number }

export async function benchChain (opts: { kind: 'transfer' | 'submit_job', txs: number, senders: number, blockTimeMs: number, batch?: number, window?: number }): Promise<ChainBenchResult> {
  const dir = tempDir('aitbc-bench-')
  const home = join(dir, 'node')
  const env = { AITBC_HOME: join(dir, 'client'), AITBC_LOG_LEVEL: 'warn' }
  const r = await aitbc(['node', 'init', '--home', home, '--chain-id', 'aitbc-bench', '--block-time', String(opts.blockTimeMs)], env)
  if (r.code !== 0) throw new Error(r.stderr)
  const keys = Array.from({ length: opts.senders }, (_, i) => new SigningKey(sha256(new TextEncoder().encode(`bench-sender-${i}`))))
  const gfile = join(home, 'config', 'genesis.json')
  const g = JSON.parse(readFileSync(gfile, 'utf8'))
  g.app_state.accounts = keys.map(k => ({ address: k.address, balance: String(10n ** 15n) }))
  writeFileSync(gfile, JSON.stringify(g, null, 2))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const proc = spawnAitbc(['node', 'start', '--home', home, '--rpc.laddr', `127.0.0.1:${port}`, '--p2p.laddr', `127.0.0.1:${await freePort()}`], env, process.env.BENCH_NODE_LOG ?? join(dir, 'node.log'))
  const client = new NodeClient(url, { retries: 0 })
  try {
    await until('node up', async () => await client.call('health').then(() => true, () => false), 30_000)
    // Pre-sign every tx so that the measured phase is the node's work, not the bench's signing.
    const perSender = Math.ceil(opts.txs / opts.senders)
    const sink = new SigningKey(sha256(new TextEncoder().encode('bench-sink'))).address
    const streams = keys.map(k => Array.from({ length: perSender }, (_, n) => {
      const body: TxBody = opts.kind === 'transfer'
        ? { type: 'transfer', to: sink, amount: 1n }
        : { type: 'submit_job', model: 'bench-model', prompt: `bench prompt ${n}`, options: { temperature: null, numPredict: null, seed: null }, maxFee: 1000n, maxPricePerSecond: null }
      return signTx(k, { chainId: 'aitbc-bench', nonce: n, fee: 1000n, body })
    }))
    const total = perSender * opts.senders
    const watch = await watchCommits(url, total, b64 => toHexUpper(sha256(Buffer.from(b64, 'base64'))))
    const batch = opts.batch ?? 10
    const window = opts.window ?? 4
    let refused = 0
    let firstSend = 0
    const sendStream = async (stream: typeof streams[number]): Promise<void> => {
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < stream.length) {
          const part = stream.slice(next, next + batch)
          next += part.length
          const now = performance.now()
          if (firstSend === 0) firstSend = now
          for (const tx of part) watch.sent(tx.hash, now)
          const body = part.map((tx, i) => ({ jsonrpc: '2.0', id: i, method: 'broadcast_tx_sync', params: { tx: toBase64(tx.bytes) } }))
          const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
          const out = await res.json() as any[]
          for (const o of out) {
            if (o.error !== undefined || o.result.code !== 0) {
              refused++
              if (refused <= 3) console.error('refused:', JSON.stringify(o).slice(0, 300))
            }
          }
        }
      }
      // One in-flight batch at a time per sender keeps its nonces in order; `window` senders share a key only via order.
      await worker()
    }
    const sendAll = Promise.all(streams.map(async s => { for (let w = 0; w < 1; w++) await sendStream(s) }))
    void window
    await sendAll
    if (refused > 0) throw new Error(`${refused} txs were refused`)
    await watch.wait(120_000)
    watch.close()
    const mem = memoryOf(proc.child.pid as number)
    const latencies = watch.latencies.sort((a, b) => a - b)
    return { kind: opts.kind, txs: total, committedPerSec: watch.committed / ((watch.lastCommitAt - firstSend) / 1000), p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), peakMb: mem.peakMb, rssMb: mem.rssMb, blocks: watch.blockTimes.length }
  } finally {
    await proc.stop('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function runChainBench (): Promise<void> {
  const txs = Number(process.env.BENCH_TXS ?? 60_000)
  const senders = Number(process.env.BENCH_SENDERS ?? 8)
  const blockTimeMs = Number(process.env.BENCH_BLOCK_MS ?? 1000)
  const verify = measureVerifyRate()
  console.log(`ed25519 verify (node:crypto, one core): ${fmt(verify)} /s`)
  for (const kind of ['transfer', 'submit_job'] as const) {
    const r = await benchChain({ kind, txs, senders, blockTimeMs })
    console.log(`${kind}: ${fmt(r.txs)} txs from ${senders} senders, ${blockTimeMs} ms blocks: ${fmt(r.committedPerSec)} committed tx/s ` +
      `(${(r.committedPerSec / verify).toFixed(2)} x one core's verify rate), latency p50 ${fmt(r.p50Ms)} ms p99 ${fmt(r.p99Ms)} ms, ` +
      `${r.blocks} blocks, node peak RSS ${fmt(r.peakMb)} MB (now ${fmt(r.rssMb)} MB)`)
  }
}
