// Benchmark of the OpenAI-compatible gateway: time to first token of streamed chat completions
// (the openai SDK against the coordinator, which relays the assigned miner's live tokens) beside
// the chain's own latency (the same request until its stream ends, which waits for the block
// that settles the job). A node process with BENCH_BLOCK_MS blocks (default 1000), a miner
// process on dev-ollama answering at once, the coordinator in this process.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { Keyring } from '../cli/keyring.ts'
import { aitbc, freePort, spawnAitbc, tempDir, until, type Proc } from '../test/helpers/procs.ts'
import { NodeClient } from '../node/rpc/client.ts'
import { silentLogger } from '../node/logger.ts'
import { startDevOllama } from '../miner/devOllama.ts'
import { startCoordinator } from '../coordinator-module/coordinator.ts'
import { percentile, fmt } from './lib.ts'

export async function runGatewayBench (): Promise<void> {
  const requests = Number(process.env.BENCH_GATEWAY_REQUESTS ?? 40)
  const concurrency = Number(process.env.BENCH_GATEWAY_CONCURRENCY ?? 4)
  const blockTimeMs = Number(process.env.BENCH_BLOCK_MS ?? 1000)
  const dir = tempDir('aitbc-bench-gw-')
  const clientHome = join(dir, 'client')
  const kr = new Keyring(clientHome)
  kr.add('gw')
  const miner = kr.add('miner-0')
  const home = join(dir, 'node')
  const env = { AITBC_HOME: clientHome, AITBC_LOG_LEVEL: 'warn' }
  const r = await aitbc(['node', 'init', '--home', home, '--chain-id', 'aitbc-bench', '--block-time', String(blockTimeMs), '--fund', 'gw=100000,miner-0=100000'], env)
  if (r.code !== 0) throw new Error(r.stderr)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const procs: Proc[] = []
  const ollama = await startDevOllama({ port: 0, models: ['llama3.2:latest'], logger: { info: () => {} } })
  let coord: Awaited<ReturnType<typeof startCoordinator>> | undefined
  try {
    procs.push(spawnAitbc(['node', 'start', '--home', home, '--rpc.laddr', `127.0.0.1:${port}`, '--p2p.laddr', `127.0.0.1:${await freePort()}`], env, join(dir, 'node.log')))
    const client = new NodeClient(url, { retries: 0 })
    await until('node up', async () => await client.call('health').then(() => true, () => false), 30_000)
    procs.push(spawnAitbc(['miner', 'start', '--key', 'miner-0', '--node', url, '--ollama', ollama.url, '--port', '0', '--capacity', '16'], env, join(dir, 'miner.log')))
    await until('miner registered', async () => await client.call('aitbc_miner', { address: miner.address }).then(m => m.active === true && m.endpoint !== null, () => false), 60_000)
    coord = await startCoordinator({ nodeUrl: url, dataDir: join(dir, 'coordinator'), port: 0, logger: silentLogger(), gatewayKeys: ['gw'], keyringHome: clientHome, gatewayDailyCap: 0n, rateLimitPerMinute: 100_000 })
    const openai = new OpenAI({ apiKey: coord.newApiKeys[0].apiKey, baseURL: `${coord.url}/v1`, maxRetries: 0 })
    const ttft: number[] = []
    const total: number[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < requests) {
        const n = next++
        const t0 = performance.now()
        let first = -1
        const stream = await openai.chat.completions.create({ model: 'llama3.2:latest', messages: [{ role: 'user', content: `What is machine learning? (${n})` }], max_tokens: 32, seed: n, stream: true })
        for await (const c of stream) if (first < 0 && (c.choices[0]?.delta?.content ?? '') !== '') first = performance.now() - t0
        ttft.push(first)
        total.push(performance.now() - t0)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    const metrics = await (await fetch(`${coord.url}/metrics`)).text()
    const live = Number(/aitbc_coordinator_gateway_streams_total\{source="miner"\} (\d+)/.exec(metrics)?.[1] ?? 0)
    ttft.sort((a, b) => a - b)
    total.sort((a, b) => a - b)
    console.log(`gateway: ${requests} streamed chat completions (openai SDK, ${concurrency} at a time), ${blockTimeMs} ms blocks, 1 miner process, dev-ollama answering at once, ${live} of them relayed from the miner's live stream: ` +
      `time to first token p50 ${fmt(percentile(ttft, 50))} ms, p99 ${fmt(percentile(ttft, 99))} ms; ` +
      `chain latency (request to the end of the stream, after the settling block) p50 ${fmt(percentile(total, 50))} ms, p99 ${fmt(percentile(total, 99))} ms`)
  } finally {
    await coord?.stop()
    for (const p of procs.reverse()) await p.stop('SIGTERM')
    await ollama.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
