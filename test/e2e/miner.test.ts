// The miner daemon against a real node process and an in-process dev-ollama: registration (with
// the model's digest and details), a job settled to the uaitbc, a chat job, an Ollama error, a
// hanging Ollama (a failed "timeout" receipt before the deadline: refund, no slash), a stop while a
// job runs, and the HTTP endpoints.
import { expect } from 'chai'
import type { ChildProcess } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { spawnAitbc, startTestNode, tempDir, until, type TestNode } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { signTx, jobIdFromTxHash } from '../../node/core/tx.ts'
import { sha256, toHex, utf8Bytes, type SigningKey } from '../../node/core/crypto.ts'
import { silentLogger } from '../../node/logger.ts'
import { startDevOllama, type DevOllamaOptions, type DevOllamaServer } from '../../miner/devOllama.ts'
import { OllamaClient } from '../../miner/ollamaClient.ts'
import { startMiner, MinerError, type RunningMiner, type MinerOptions } from '../../miner/daemon.ts'

const MODEL = 'llama3.2:latest'
const FINAL = ['completed', 'failed', 'expired', 'cancelled']

interface CliMiner { child: ChildProcess, output: () => string, exited: Promise<number | string>, url: Promise<string> }

/** `aitbc miner start ARGS` as its own process; `url` resolves once it prints its status line. */
function spawnMinerCli (args: string[], env: Record<string, string>, logFile: string): CliMiner {
  const proc = spawnAitbc(['miner', 'start', ...args], env, logFile)
  const output = (): string => { try { return readFileSync(logFile, 'utf8') } catch { return '' } }
  const url = (async () => {
    // Polls the log until the status line; stops (leaving url pending) if the process exits first.
    while (proc.child.exitCode === null && proc.child.signalCode === null) {
      const m = /status at (http:\/\/\S+)\/status/.exec(output())
      if (m !== null) return m[1]
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    return await new Promise<string>(() => {})
  })()
  return { child: proc.child, output, exited: proc.exited, url }
}

describe('e2e: the miner daemon with a real node and dev-ollama', function () {
  this.timeout(120_000)
  let node: TestNode
  let alice: SigningKey
  let bob: SigningKey
  let chainId: string
  let params: any
  let ollama: DevOllamaServer | undefined
  let miner: RunningMiner | undefined
  let cli: CliMiner | undefined
  let logDir: string

  before(async () => {
    logDir = tempDir('aitbc-miner-cli-')
    node = await startTestNode({ blockTimeMs: 200, params: { job_timeout_s: 5, assign_timeout_s: 5 } })
    const kr = new Keyring(node.aitbcHome)
    alice = kr.get('alice')
    bob = kr.get('bob')
    params = await node.client.params()
    chainId = String((await node.client.status()).node_info.network)
  })
  after(async () => {
    if (cli !== undefined && cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL')
    await miner?.stop()
    await ollama?.close()
    await node?.stop()
    rmSync(logDir, { recursive: true, force: true })
  })

  /** Stops the running miner (gracefully) and its dev-ollama, then starts both anew. */
  async function restart (ollamaOpts: DevOllamaOptions = {}, minerOpts: Partial<MinerOptions> = {}): Promise<RunningMiner> {
    await miner?.stop()
    await ollama?.close()
    miner = undefined
    ollama = await startDevOllama({ port: 0, logger: silentLogger(), ...ollamaOpts })
    miner = await startMiner({ key: bob, nodeUrl: node.url, ollamaUrl: ollama.url, httpPort: 0, capacity: 2, logger: silentLogger(), ...minerOpts })
    return miner
  }

  async function balance (k: SigningKey): Promise<bigint> { return BigInt((await node.client.account(k.address)).balance) }

  async function submit (prompt: string, opts: { maxFee?: bigint, temperature?: number, numPredict?: number, seed?: number } = {}): Promise<string> {
    const acct = await node.client.account(alice.address)
    const tx = signTx(alice, {
      chainId, nonce: Number(acct.pending_nonce), fee: BigInt(params.min_fee),
      body: { type: 'submit_job', model: MODEL, prompt, options: { temperature: opts.temperature ?? null, numPredict: opts.numPredict ?? null, seed: opts.seed ?? null }, maxFee: opts.maxFee ?? 1_000_000n, maxPricePerSecond: null },
    })
    const r = await node.client.broadcastSync(tx.bytes)
    expect(r.code, r.log).to.equal(0)
    return jobIdFromTxHash(tx.hash)
  }

  async function settled (jobId: string, timeoutMs = 20_000): Promise<any> {
    return await until(`job ${jobId} settled`, async () => {
      const j = await node.client.job(jobId)
      return FINAL.includes(j.status) ? j : false
    }, timeoutMs)
  }

  async function blockTimeMs (height: string): Promise<number> {
    const b = await node.client.call('block', { height })
    return Date.parse(b.block.header.time)
  }

  it('refuses to start when Ollama has none of the models asked for', async () => {
    const o = await startDevOllama({ port: 0, logger: silentLogger(), models: ['mistral:7b'] })
    try {
      let err: unknown
      try { await startMiner({ key: bob, nodeUrl: node.url, ollamaUrl: o.url, models: [MODEL], httpPort: 0, logger: silentLogger() }) } catch (e) { err = e }
      expect(err).to.be.instanceOf(MinerError)
      expect((err as MinerError).code).to.equal('MINER_NO_MODELS')
      expect((err as Error).message).to.match(/llama3\.2:latest.*mistral:7b/)
    } finally { await o.close() }
    // Nothing reached the chain.
    expect((await node.client.account(bob.address)).nonce).to.equal('0')
  })

  it('registers with the models Ollama really has, min_miner_stake and the default price', async () => {
    // Asks for one model Ollama lacks: only the one it has is listed.
    const m = await restart({ models: [MODEL, 'qwen2:0.5b'] }, { models: [MODEL, 'phi3:mini'] })
    const listing = await node.client.call('aitbc_miner', { address: bob.address })
    expect(listing.models).to.deep.equal([MODEL])
    expect(listing.stake).to.equal(String(params.min_miner_stake))
    expect(listing.price_per_second).to.equal(String(params.default_price_per_second))
    expect(listing.capacity).to.equal(2)
    expect(listing.active).to.equal(true)
    // The model's digest and details from /api/tags, its context length from /api/show.
    expect(listing.model_info).to.deep.equal([{ name: MODEL, digest: toHex(sha256(utf8Bytes(`aitbc-dev-ollama:${MODEL}`))), quantization: 'none', parameter_size: '0B', context_length: 8192 }])
    expect(m.status().models).to.deep.equal([MODEL])
    expect(m.status().model_digests[MODEL]).to.equal(listing.model_info[0].digest)
  })

  it('runs an assigned job on Ollama and is paid by the settlement rule, to the uaitbc', async () => {
    const pps = BigInt(params.default_price_per_second)
    const maxFee = 1_000_000n
    const fee = BigInt(params.min_fee)
    const aliceBefore = await balance(alice)
    const bobBefore = await balance(bob)
    const prompt = 'What is machine learning?'
    const jobId = await submit(prompt, { maxFee, temperature: 0.5, numPredict: 20, seed: 7 })
    const job = await settled(jobId)
    expect(job.status, JSON.stringify(job)).to.equal('completed')
    expect(job.miner).to.equal(bob.address)

    // Exactly what Ollama answers for the job's model and options.
    const want = await new OllamaClient({ baseUrl: (ollama as DevOllamaServer).url }).generate({ model: MODEL, prompt, options: { temperature: 0.5, num_predict: 20, seed: 7 } })
    expect(job.result).to.equal(want.response)
    expect(job.result_hash).to.equal(toHex(sha256(utf8Bytes(want.response))))
    expect(job.error).to.equal(null)
    expect(job.metrics.prompt_tokens).to.equal(want.promptTokens)
    expect(job.metrics.completion_tokens).to.equal(want.completionTokens)
    expect(job.metrics.completion_tokens).to.equal(20)
    // Ollama's report: the digest run, done_reason (num_predict cut it), durations.
    expect(job.model_digest_used).to.equal(toHex(sha256(utf8Bytes(`aitbc-dev-ollama:${MODEL}`))))
    expect(job.done_reason).to.equal('length')
    expect(job.metrics.first_token_ms).to.be.a('number')
    expect(job.metrics.eval_ms).to.be.a('number')

    // paid = min(max_fee, floor(min(compute_ms, chain ms from assign block to receipt block) * pps / 1000))
    const chainMs = (await blockTimeMs(job.settled_height)) - (await blockTimeMs(job.assigned_height))
    const billedMs = BigInt(Math.min(job.metrics.compute_ms, chainMs))
    let paid = billedMs * pps / 1000n
    if (paid > maxFee) paid = maxFee
    expect(job.paid).to.equal(paid.toString())
    expect(job.refund).to.equal((maxFee - paid).toString())
    expect(BigInt(job.paid) + BigInt(job.refund)).to.equal(maxFee)
    expect(await balance(alice)).to.equal(aliceBefore - fee - paid)
    expect(await balance(bob)).to.equal(bobBefore + paid - fee)
    const listing = await node.client.call('aitbc_miner', { address: bob.address })
    expect(listing.earned).to.equal(paid.toString())
    expect(listing.active_jobs).to.equal(0)
    expect((await node.client.call('aitbc_supply')).invariant_holds).to.equal(true)

    // The miner counts it once it has read the settlement back.
    const s = await until('the miner to count the job done', () => { const st = (miner as RunningMiner).status(); return st.done === 1 ? st : false })
    expect(s.jobs_in_flight).to.equal(0)
    expect(s.earnings_uaitbc).to.equal(paid.toString())
  })

  it('runs a chat job on /api/chat with the chain\'s seed', async () => {
    const acct = await node.client.account(alice.address)
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'What is a blockchain?' }]
    const tx = signTx(alice, {
      chainId, nonce: Number(acct.pending_nonce), fee: BigInt(params.min_fee),
      body: { type: 'submit_job', model: MODEL, prompt: '', options: { temperature: null, numPredict: null, seed: null }, maxFee: 1_000_000n, maxPricePerSecond: null, messages },
    })
    expect((await node.client.broadcastSync(tx.bytes)).code).to.equal(0)
    const job = await settled(jobIdFromTxHash(tx.hash))
    expect(job.status, JSON.stringify(job)).to.equal('completed')
    expect(job.kind).to.equal('chat')
    const want = await new OllamaClient({ baseUrl: (ollama as DevOllamaServer).url }).chat({ model: MODEL, messages, options: { seed: job.seed, num_predict: job.num_predict } })
    expect(job.result).to.equal(want.response)
    expect(job.metrics.completion_tokens).to.equal(want.completionTokens)
    await until('the miner to count the chat job done', () => (miner as RunningMiner).status().done === 2)
  })

  it('answers /health, /status and /metrics', async () => {
    const m = miner as RunningMiner
    const h = await fetch(`${m.url}/health`)
    expect(h.status).to.equal(200)
    expect(await h.json()).to.include({ status: 'ok' })

    const s = await (await fetch(`${m.url}/status`)).json()
    expect(s.address).to.equal(bob.address)
    expect(s.models).to.deep.equal([MODEL])
    expect(s.capacity).to.equal(2)
    expect(s.jobs).to.deep.equal([])
    expect(s).to.include({ jobs_in_flight: 0, done: 2, failed: 0, abandoned: 0 })
    expect(s.earnings_uaitbc).to.equal((await node.client.call('aitbc_miner', { address: bob.address })).earned)
    expect(s.ollama).to.deep.include({ url: (ollama as DevOllamaServer).url, reachable: true })
    expect(s.ollama.models).to.include(MODEL)

    const text = await (await fetch(`${m.url}/metrics`)).text()
    expect(text).to.match(/^aitbc_miner_jobs_total\{outcome="completed"\} 2$/m)
    expect(text).to.match(/^aitbc_miner_inference_seconds_count 2$/m)
    expect(text).to.match(/^aitbc_miner_tokens_total\{kind="completion"\} [1-9]\d*$/m)
    expect(text).to.match(/^aitbc_miner_earnings_uaitbc \d+$/m)
    expect(text).to.match(/^aitbc_miner_ollama_errors_total\{code="OLLAMA_HTTP"\} 0$/m)

    // Ollama gone: 503.
    await (ollama as DevOllamaServer).close()
    const down = await fetch(`${m.url}/health`)
    expect(down.status).to.equal(503)
    expect(await down.json()).to.include({ ollama: 'unreachable', node: 'reachable' })
    ollama = undefined
  })

  it('records a failed receipt with Ollama\'s error when Ollama fails: full refund, nothing earned', async () => {
    await restart({ failRate: 1 })
    const fee = BigInt(params.min_fee)
    const maxFee = 2_000_000n
    const earnedBefore = (await node.client.call('aitbc_miner', { address: bob.address })).earned
    const aliceBefore = await balance(alice)
    const bobBefore = await balance(bob)
    const job = await settled(await submit('Explain proof of stake', { maxFee }))
    expect(job.status).to.equal('failed')
    expect(job.error).to.match(/dev-ollama: injected failure/)
    expect(job.result).to.equal('')
    expect(job.result_hash).to.equal(toHex(sha256(utf8Bytes(''))))
    expect(job.paid).to.equal('0')
    expect(job.refund).to.equal(maxFee.toString())
    expect(await balance(alice)).to.equal(aliceBefore - fee)
    expect(await balance(bob)).to.equal(bobBefore - fee)
    expect((await node.client.call('aitbc_miner', { address: bob.address })).earned).to.equal(earnedBefore)
    await until('the miner to count the job failed', () => (miner as RunningMiner).status().failed === 1)
    expect((miner as RunningMiner).status()).to.include({ failed: 1, done: 0 })
    const text = await (await fetch(`${(miner as RunningMiner).url}/metrics`)).text()
    expect(text).to.match(/^aitbc_miner_ollama_errors_total\{code="OLLAMA_HTTP"\} 1$/m)
  })

  it('picks up at start a job assigned while no miner process ran (catch-up listing)', async () => {
    // A miner that stops without deactivating its listing (as after a crash).
    const m1 = await restart({}, { deactivateOnStop: false })
    await m1.stop()
    miner = undefined
    expect((await node.client.call('aitbc_miner', { address: bob.address })).active).to.equal(true)
    const jobId = await submit('What happens while the miner is down?')
    await until('the job assigned to bob', async () => (await node.client.job(jobId)).status === 'assigned')
    await restart()
    const job = await settled(jobId)
    expect(job.status).to.equal('completed')
    expect(job.miner).to.equal(bob.address)
  })

  it('re-subscribes after the node restarts', async () => {
    const m = await restart({}, { reconnectMaxMs: 500 })
    await until('subscribed', () => m.status().node.subscribed)
    await node.proc.stop('SIGTERM')
    await until('the miner to see the subscription drop', () => !m.status().node.subscribed)
    const h = await fetch(`${m.url}/health`)
    expect(h.status).to.equal(503)
    expect(await h.json()).to.include({ node: 'unreachable', ollama: 'reachable' })
    await node.restart()
    await until('the miner to subscribe again', () => m.status().node.subscribed, 20_000)
    const job = await settled(await submit('Does the miner come back?'))
    expect(job.status).to.equal('completed')
  })

  it('sends a failed "timeout" receipt before the deadline when Ollama does not answer in time: full refund, no slash', async () => {
    await restart({ hang: true })
    const maxFee = 1_000_000n
    const fee = BigInt(params.min_fee)
    const bobBefore = await balance(bob)
    const before = await node.client.call('aitbc_miner', { address: bob.address })
    const jobId = await submit('Describe a hanging model', { maxFee })
    await until('the job running on Ollama', () => (miner as RunningMiner).status().jobs.some(j => j.job_id === jobId && j.state === 'running'))
    const job = await settled(jobId)
    expect(job.status).to.equal('failed')
    expect(job.error).to.equal('timeout')
    expect(job.paid).to.equal('0')
    expect(job.refund).to.equal(maxFee.toString())
    expect(job.receipt_id).to.be.a('string')
    const listing = await node.client.call('aitbc_miner', { address: bob.address })
    expect(listing.slashed).to.equal(before.slashed)
    expect(listing.stake).to.equal(before.stake)
    expect(listing.jobs_expired).to.equal(before.jobs_expired)
    expect(await balance(bob)).to.equal(bobBefore - fee) // the receipt's fee only
    await until('the miner to count the job failed', () => (miner as RunningMiner).status().failed === 1)
    expect((miner as RunningMiner).status().jobs_in_flight).to.equal(0)
  })

  it('stops: a second stop() fails the job in flight (full refund); the listing is deactivated', async () => {
    const m = await restart({ hang: true })
    const maxFee = 1_000_000n
    const jobId = await submit('A job that will not finish', { maxFee })
    await until('the job running on Ollama', () => m.status().jobs.some(j => j.job_id === jobId && j.state === 'running'))
    const first = m.stop()
    expect(m.status().stopping).to.equal(true)
    const second = m.stop()
    await Promise.all([first, second])
    miner = undefined
    const job = await settled(jobId)
    expect(job.status).to.equal('failed')
    expect(job.error).to.match(/stopped/)
    expect(job.paid).to.equal('0')
    expect(job.refund).to.equal(maxFee.toString())
    expect((await node.client.call('aitbc_miner', { address: bob.address })).active).to.equal(false)
    expect(await fetch(`${m.url}/health`).then(() => 'up', () => 'closed')).to.equal('closed')
  })

  it('aitbc miner start: SIGTERM lets the job in flight finish, then the process exits 0', async () => {
    await miner?.stop()
    miner = undefined
    await ollama?.close()
    ollama = await startDevOllama({ port: 0, logger: silentLogger(), latencyMs: 1500 })
    cli = spawnMinerCli(['--key', 'bob', '--node', node.url, '--ollama', ollama.url, '--port', '0', '--capacity', '1'], node.env, join(logDir, 'sigterm.log'))
    const url = await Promise.race([cli.url, cli.exited.then(c => { throw new Error(`miner exited (${c}): ${cli?.output()}`) })])
    const jobId = await submit('Finish me before you go')
    await until('the job running', async () => (await (await fetch(`${url}/status`)).json()).jobs.some((j: any) => j.job_id === jobId && j.state === 'running'))
    cli.child.kill('SIGTERM')
    expect(await cli.exited, cli.output()).to.equal(0)
    const job = await settled(jobId)
    expect(job.status).to.equal('completed')
    expect((await node.client.call('aitbc_miner', { address: bob.address })).active).to.equal(false)
  })

  it('aitbc miner start: a second signal fails the job in flight and exits', async () => {
    await ollama?.close()
    ollama = await startDevOllama({ port: 0, logger: silentLogger(), hang: true })
    cli = spawnMinerCli(['--key', 'bob', '--node', node.url, '--ollama', ollama.url, '--port', '0'], node.env, join(logDir, 'second-signal.log'))
    const url = await Promise.race([cli.url, cli.exited.then(c => { throw new Error(`miner exited (${c}): ${cli?.output()}`) })])
    const maxFee = 1_000_000n
    const jobId = await submit('Never answered', { maxFee })
    await until('the job running', async () => (await (await fetch(`${url}/status`)).json()).jobs.some((j: any) => j.job_id === jobId && j.state === 'running'))
    cli.child.kill('SIGINT')
    await until('the miner stopping', async () => (await (await fetch(`${url}/status`)).json()).stopping === true)
    cli.child.kill('SIGINT')
    expect(await cli.exited, cli.output()).to.equal(0)
    const job = await settled(jobId)
    expect(job.status).to.equal('failed')
    expect(job.refund).to.equal(maxFee.toString())
  })
})
