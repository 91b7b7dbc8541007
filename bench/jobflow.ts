// Benchmark of the job flow's chain overhead: from the broadcast of a submit_job to the block
// that settles it, minus the time Ollama spent (the receipt's compute_ms), over many jobs with
// 1000 ms blocks, dev-ollama answering at once, and real miner processes.
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { Keyring } from '../cli/keyring.ts'
import { signTx } from '../node/core/tx.ts'
import { parseAitbc } from '../node/core/amount.ts'
import { aitbc, freePort, spawnAitbc, tempDir, until, type Proc } from '../test/helpers/procs.ts'
import { NodeClient } from '../node/rpc/client.ts'
import { startDevOllama } from '../miner/devOllama.ts'
import { percentile, fmt } from './lib.ts'

/** The job flow at each verification rate (BENCH_VERIFICATION_RATES, default "0,0.1,1"): what checking costs in latency. */
export async function runJobflowBench (): Promise<void> {
  for (const rate of (process.env.BENCH_VERIFICATION_RATES ?? '0,0.1,1').split(',')) await runJobflowAt(rate)
}

async function runJobflowAt (verificationRate: string): Promise<void> {
  const jobs = Number(process.env.BENCH_JOBS ?? 200)
  const rate = Number(process.env.BENCH_JOB_RATE ?? 20)
  const blockTimeMs = Number(process.env.BENCH_BLOCK_MS ?? 1000)
  const dir = tempDir('aitbc-bench-jobs-')
  const clientHome = join(dir, 'client')
  const kr = new Keyring(clientHome)
  const alice = kr.add('alice')
  // Three miners: a checked job's committee is two other miners of its model.
  const minerNames = ['miner-0', 'miner-1', 'miner-2']
  const minerKeys = minerNames.map(n => kr.add(n))
  const home = join(dir, 'node')
  const env = { AITBC_HOME: clientHome, AITBC_LOG_LEVEL: 'warn' }
  const r = await aitbc(['node', 'init', '--home', home, '--chain-id', 'aitbc-bench', '--block-time', String(blockTimeMs), '--fund', ['alice', ...minerNames].map(n => `${n}=100000`).join(',')], env)
  if (r.code !== 0) throw new Error(r.stderr)
  const genesisFile = join(home, 'config', 'genesis.json')
  const g = JSON.parse(readFileSync(genesisFile, 'utf8'))
  g.app_state.params.verification_rate = verificationRate
  writeFileSync(genesisFile, JSON.stringify(g, null, 2))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const procs: Proc[] = []
  const ollama = await startDevOllama({ port: 0, models: ['llama3.2:latest'], logger: { info: () => {} } })
  try {
    procs.push(spawnAitbc(['node', 'start', '--home', home, '--rpc.laddr', `127.0.0.1:${port}`, '--p2p.laddr', `127.0.0.1:${await freePort()}`], env, join(dir, 'node.log')))
    const client = new NodeClient(url, { retries: 0 })
    await until('node up', async () => await client.call('health').then(() => true, () => false), 30_000)
    for (const [i, n] of minerNames.entries()) {
      procs.push(spawnAitbc(['miner', 'start', '--key', n, '--node', url, '--ollama', ollama.url, '--port', '0', '--capacity', '64', '--stake', '5000'], env, join(dir, `${n}.log`)))
      await until(`${n} registered`, async () => await client.call('aitbc_miner', { address: minerKeys[i].address }).then(m => m.active === true && m.capacity === 64, () => false), 60_000)
    }
    const chainId = (await client.status()).node_info.network
    const sent = new Map<string, number>()
    const overhead: number[] = []
    const total: number[] = []
    let done = 0
    const ws = new WebSocket(url.replace('http', 'ws') + '/websocket')
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
    // A job settles in a record_receipt (unchecked) or in the reveal that brings its verdict.
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'subscribe', params: { query: "tm.event='Tx' AND message.action='record_receipt'" } }))
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'subscribe', params: { query: "tm.event='Tx' AND message.action='reveal_result'" } }))
    const finished = new Promise<void>(resolve => {
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString())
        const events: any[] | undefined = msg.result?.data?.value?.TxResult?.result?.events
        if (events === undefined) return
        const now = performance.now()
        const rr = events.find(e => e.type === 'record_receipt' || e.type === 'verdict')
        const jobId = rr?.attributes.find((a: any) => a.key === 'job_id')?.value
        const t0 = sent.get(jobId)
        if (t0 === undefined) return
        sent.delete(jobId)
        pendingCompute.push({ jobId, ms: now - t0 })
        if (++done >= jobs) resolve()
      })
    })
    const pendingCompute: Array<{ jobId: string, ms: number }> = []
    const started = performance.now()
    for (let n = 0; n < jobs; n++) {
      const due = started + n * (1000 / rate)
      const wait = due - performance.now()
      if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait)) // pacing the load, not synchronisation
      const tx = signTx(alice, { chainId, nonce: n, fee: 1000n, body: { type: 'submit_job', model: 'llama3.2:latest', prompt: `What is machine learning? (${n})`, options: { temperature: null, numPredict: 32, seed: n }, maxFee: parseAitbc('1'), maxPricePerSecond: null } })
      sent.set('job_' + tx.hash.slice(0, 16).toLowerCase(), performance.now())
      const res = await client.broadcastSync(tx.bytes)
      if (res.code !== 0) throw new Error(`submit refused: ${res.log}`)
    }
    const late = async (): Promise<string> => {
      const left = await Promise.all([...sent.keys()].slice(0, 5).map(async id => await client.job(id).then(j => `${id} ${j.status} ${j.verification?.phase ?? ''} ${JSON.stringify(j.verification?.verifiers.map(v => [v.committed, v.revealed, v.outcome]) ?? [])}`, () => id)))
      return left.join('; ')
    }
    await Promise.race([finished, new Promise((_resolve, reject) => setTimeout(() => { void late().then(l => reject(new Error(`only ${done}/${jobs} jobs settled after 180 s; some left: ${l}`))) }, 180_000))])
    ws.close()
    for (const { jobId, ms } of pendingCompute) {
      const job = await client.job(jobId)
      if (job.status !== 'completed') throw new Error(`job ${jobId} ended ${job.status}`)
      total.push(ms)
      overhead.push(ms - Number(job.metrics?.compute_ms))
    }
    overhead.sort((a, b) => a - b)
    total.sort((a, b) => a - b)
    const checked = (await Promise.all(pendingCompute.map(async p => await client.job(p.jobId)))).filter(j => j.verification?.sampled === true).length
    console.log(`job flow, verification_rate ${verificationRate} (${checked} of ${jobs} jobs re-run by two verifiers): ${jobs} jobs at ${rate}/s, ${blockTimeMs} ms blocks, 3 miner processes, dev-ollama answering at once: ` +
      `chain overhead (broadcast to settling block, minus Ollama time) p50 ${fmt(percentile(overhead, 50))} ms, p99 ${fmt(percentile(overhead, 99))} ms; ` +
      `end to end p50 ${fmt(percentile(total, 50))} ms, p99 ${fmt(percentile(total, 99))} ms`)
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM')
    await ollama.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

