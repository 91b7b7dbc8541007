// The OpenAI-compatible gateway driven by the real `openai` npm package, against a real node
// process, a miner on dev-ollama and the coordinator: models, chat and legacy completions (the
// content is the miner's answer on chain), streaming (the miner's live tokens relayed as SSE,
// usage with include_usage), curl -N, POST /v1/jobs with {type: inference}, every bad input of
// issue 12 (each an OpenAI-shaped error, nothing charged, the coordinator still serving), the
// miner's stream endpoint refusing anyone but the job's client, and a miner endpoint that breaks.
import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { aitbc, startTestNode, until, ROOT, type TestNode } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { silentLogger } from '../../node/logger.ts'
import { signStreamRequest } from '../../node/streamAuth.ts'
import { startDevOllama, type DevOllamaServer } from '../../miner/devOllama.ts'
import { startMiner, type RunningMiner } from '../../miner/daemon.ts'
import { startCoordinator, type RunningCoordinator } from '../../coordinator-module/coordinator.ts'
import { parseSse } from '../../coordinator-module/gateway/sse.ts'

const MODEL = 'llama3.2:latest'

describe('e2e: the OpenAI-compatible gateway with the openai SDK', function () {
  this.timeout(240_000)
  let node: TestNode
  let ollama: DevOllamaServer
  let miner: RunningMiner | undefined
  let coord: RunningCoordinator
  let apiKey: string
  let gwAddress: string
  let openai: OpenAI
  let chainId: string
  const dirs: string[] = []
  const servers: Server[] = []
  const tempData = (): string => { const d = mkdtempSync(join(tmpdir(), 'aitbc-gw-')); dirs.push(d); return d }

  before(async () => {
    node = await startTestNode({ keys: ['alice', 'bob', 'carol', 'gw', 'capped'], blockTimeMs: 200 })
    chainId = String((await node.client.status()).node_info.network)
    ollama = await startDevOllama({ port: 0, logger: silentLogger() })
    miner = await startMiner({ key: new Keyring(node.aitbcHome).get('bob'), nodeUrl: node.url, ollamaUrl: ollama.url, httpPort: 0, capacity: 4, logger: silentLogger() })
    coord = await startCoordinator({ nodeUrl: node.url, dataDir: tempData(), port: 0, logger: silentLogger(), pollMs: 500, gatewayKeys: ['gw'], keyringHome: node.aitbcHome, gatewayTimeoutMs: 60_000, rateLimitPerMinute: 1000 })
    expect(coord.newApiKeys).to.have.length(1)
    apiKey = coord.newApiKeys[0].apiKey
    gwAddress = coord.newApiKeys[0].address
    expect(apiKey).to.match(/^aitbc-/)
    openai = new OpenAI({ apiKey, baseURL: `${coord.url}/v1`, maxRetries: 0, timeout: 90_000 })
    // The listing carries the miner's endpoint.
    await until('the miner listed with its endpoint', async () => (await node.client.miner(miner!.address)).endpoint === miner!.url)
  })

  after(async () => {
    for (const s of servers) s.close()
    await coord?.stop()
    await miner?.stop()
    await ollama?.close()
    await node?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  const account = async (a: string): Promise<{ balance: string, nonce: string }> => {
    const r = await node.client.account(a)
    return { balance: String(r.balance), nonce: String(r.pending_nonce) }
  }

  it('GET /v1/models lists the models active miners serve: plain ids, digests, prices and the miner count', async () => {
    const list = await openai.models.list()
    const m = list.data.find(x => x.id === MODEL) as any
    expect(m, JSON.stringify(list.data)).to.not.equal(undefined)
    expect(m.object).to.equal('model')
    expect(m.miners).to.equal(1)
    expect(m.digests).to.have.length(1)
    expect(m.digests[0]).to.match(/^[0-9a-f]{64}$/)
    expect((await openai.models.retrieve(MODEL)).id).to.equal(MODEL)
  })

  it('a chat completion: a signed submit_job paid by the key\'s account, answered with the miner\'s result and the receipt\'s token counts', async () => {
    const before = BigInt((await account(gwAddress)).balance)
    const r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is machine learning?' }], max_tokens: 24, seed: 7 })
    expect(r.object).to.equal('chat.completion')
    expect(r.model).to.equal(MODEL)
    expect(r.id).to.match(/^chatcmpl-job_[0-9a-f]{16}$/)
    const jobId = (r as any).aitbc.job_id as string
    const job = await node.client.job(jobId)
    expect(job.status).to.equal('completed')
    expect(job.client).to.equal(gwAddress)
    expect(job.kind).to.equal('chat')
    expect(r.choices[0].message.role).to.equal('assistant')
    expect(r.choices[0].message.content).to.equal(job.result)
    expect(r.choices[0].message.content!.length).to.be.greaterThan(0)
    expect(r.choices[0].finish_reason).to.equal(job.done_reason === 'length' ? 'length' : 'stop')
    expect(r.usage?.prompt_tokens).to.equal(job.metrics?.prompt_tokens)
    expect(r.usage?.completion_tokens).to.equal(job.metrics?.completion_tokens)
    expect(r.usage?.total_tokens).to.equal((job.metrics?.prompt_tokens ?? 0) + (job.metrics?.completion_tokens ?? 0))
    expect(r.created).to.be.a('number')
    const after = BigInt((await account(gwAddress)).balance)
    expect(after < before, 'the key\'s account paid').to.equal(true)
  })

  it('the same streamed: several chunks from the miner\'s live tokens, then the finish chunk, usage (include_usage) and [DONE]', async () => {
    const stream = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Tell me about distributed ledgers.' }], max_tokens: 30, stream: true, stream_options: { include_usage: true } })
    let text = ''
    let contentChunks = 0
    let finish: string | null = null
    let usage: any = null
    let id = ''
    for await (const c of stream) {
      id = c.id
      if (c.usage != null) usage = c.usage
      const ch = c.choices[0]
      if (ch === undefined) continue
      if (typeof ch.delta?.content === 'string' && ch.delta.content !== '') { text += ch.delta.content; contentChunks++ }
      if (ch.finish_reason != null) finish = ch.finish_reason
    }
    const job = await node.client.job(id.replace(/^chatcmpl-/, ''))
    expect(text).to.equal(job.result)
    expect(contentChunks).to.be.greaterThan(2)
    expect(finish).to.be.oneOf(['stop', 'length'])
    expect(usage.completion_tokens).to.equal(job.metrics?.completion_tokens)
    expect(usage.prompt_tokens).to.equal(job.metrics?.prompt_tokens)
    // The text came from the miner's live stream, not from the chain afterwards.
    expect(await (await fetch(`${coord.url}/metrics`)).text()).to.match(/^aitbc_coordinator_gateway_streams_total\{source="miner"\} 1$/m)
  })

  it('a legacy completion (POST /v1/completions)', async () => {
    const r = await openai.completions.create({ model: MODEL, prompt: 'Write about GPUs.', max_tokens: 16 })
    expect(r.object).to.equal('text_completion')
    const job = await node.client.job(r.id.replace(/^cmpl-/, ''))
    expect(job.kind).to.equal('prompt')
    expect(r.choices[0].text).to.equal(job.result)
    expect(r.usage?.completion_tokens).to.equal(job.metrics?.completion_tokens)
  })

  it('concurrent requests of one account never collide on a nonce', async () => {
    const rs = await Promise.all([0, 1, 2, 3].map(async i => await openai.completions.create({ model: MODEL, prompt: `Parallel question ${i}`, max_tokens: 8 })))
    expect(new Set(rs.map(r => r.id)).size).to.equal(4)
    for (const r of rs) expect(r.choices[0].text.length).to.be.greaterThan(0)
  })

  it('curl -N reads the SSE stream: data: lines and data: [DONE]', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn('curl', ['-sS', '-N', '--max-time', '90', '-H', `Authorization: Bearer ${apiKey}`, '-H', 'content-type: application/json',
        '-d', JSON.stringify({ model: MODEL, prompt: 'Stream over curl', max_tokens: 12, stream: true }), `${coord.url}/v1/completions`])
      let s = ''
      c.stdout.on('data', (d: Buffer) => { s += d.toString() })
      c.once('error', reject)
      c.once('exit', code => code === 0 ? resolve(s) : reject(new Error(`curl exited ${code}: ${s}`)))
    })
    const { events } = parseSse(out)
    expect(events[events.length - 1]).to.equal('[DONE]')
    const chunks = events.slice(0, -1).map(e => JSON.parse(e))
    expect(chunks.every(c => c.object === 'text_completion')).to.equal(true)
    const text = chunks.map(c => c.choices[0]?.text ?? '').join('')
    const job = await node.client.job(chunks[0].id.replace(/^cmpl-/, ''))
    expect(text).to.equal(job.result)
  })

  it('POST /v1/jobs takes {"type": "inference", "prompt", "model"} with X-Api-Key and signs it with the key\'s account', async () => {
    const r = await fetch(`${coord.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': apiKey }, body: JSON.stringify({ type: 'inference', prompt: 'Original design body', model: MODEL }) })
    const body = await r.json() as any
    expect(r.status, JSON.stringify(body)).to.equal(202)
    expect(body.client).to.equal(gwAddress)
    const job = await until('the job completed', async () => { const j = await node.client.job(body.job_id).catch(() => null); return j?.status === 'completed' ? j : false }, 60_000)
    expect(job.client).to.equal(gwAddress)
    const noKey = await fetch(`${coord.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'inference', prompt: 'x', model: MODEL }) })
    expect(noKey.status).to.equal(401)
  })

  describe('bad input: OpenAI-shaped errors, nothing charged, the coordinator keeps serving', () => {
    let before: { balance: string, nonce: string }
    let spentBefore: bigint
    const raw = async (path: string, body: string, headers: Record<string, string> = { authorization: `Bearer ${apiKey}` }): Promise<{ status: number, body: any }> => {
      const r = await fetch(`${coord.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })
      return { status: r.status, body: await r.json() }
    }
    const shaped = (b: any, code: string): void => {
      expect(b.error, JSON.stringify(b)).to.be.an('object')
      expect(b.error.code).to.equal(code)
      expect(b.error.message).to.be.a('string').and.not.equal('')
      expect(b.error.type).to.be.a('string')
      expect(b.error).to.have.property('param')
    }
    beforeEach(async () => {
      before = await account(gwAddress)
      spentBefore = await coord.keys.spentToday(coord.keys.forName('gw')[0].hash)
    })
    afterEach(async () => {
      expect(await account(gwAddress), 'nothing charged').to.deep.equal(before)
      expect(await coord.keys.spentToday(coord.keys.forName('gw')[0].hash), 'no spend reserved').to.equal(spentBefore)
    })

    it('malformed JSON: 400 invalid_json', async () => {
      const r = await raw('/v1/chat/completions', '{"model": "x", "messages": [')
      expect(r.status).to.equal(400)
      shaped(r.body, 'invalid_json')
      expect(r.body.error.type).to.equal('invalid_request_error')
    })

    it('missing and wrong-typed fields: 400 naming the field', async () => {
      for (const [body, param] of [
        [{ messages: [{ role: 'user', content: 'hi' }] }, 'model'],
        [{ model: MODEL }, 'messages'],
        [{ model: MODEL, messages: 'hi' }, 'messages'],
        [{ model: 42, messages: [{ role: 'user', content: 'hi' }] }, 'model'],
        [{ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 'ten' }, 'max_tokens'],
        [{ model: MODEL, messages: [{ role: 'user', content: 'hi' }], temperature: -1 }, 'temperature'],
        [{ model: MODEL, messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role'],
        [{ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: 'yes' }, 'stream'],
        [{ model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 2 }, 'n'],
      ] as Array<[object, string]>) {
        const r = await raw('/v1/chat/completions', JSON.stringify(body))
        expect(r.status, JSON.stringify(body)).to.equal(400)
        expect(r.body.error.param, JSON.stringify(r.body)).to.equal(param)
      }
      const e = await openai.chat.completions.create({ model: MODEL, messages: [] }).then(() => null, (x: unknown) => x)
      expect(e).to.be.instanceOf(OpenAI.BadRequestError)
      const e2 = await openai.completions.create({ model: MODEL, prompt: 7 as any }).then(() => null, (x: unknown) => x)
      expect(e2).to.be.instanceOf(OpenAI.BadRequestError)
    })

    it('unknown model: 404 model_not_found', async () => {
      const e = await openai.chat.completions.create({ model: 'nobody-serves:1b', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (x: unknown) => x) as any
      expect(e).to.be.instanceOf(OpenAI.NotFoundError)
      expect(e.code).to.equal('model_not_found')
      expect(e.param).to.equal('model')
      const e2 = await openai.models.retrieve('nobody-serves:1b').then(() => null, (x: unknown) => x)
      expect(e2).to.be.instanceOf(OpenAI.NotFoundError)
    })

    it('oversized messages: 400 too_large (max_prompt_bytes), and a body past the HTTP limit', async () => {
      const e = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(20_000) }] }).then(() => null, (x: unknown) => x) as any
      expect(e).to.be.instanceOf(OpenAI.BadRequestError)
      expect(e.code).to.equal('too_large')
      const r = await raw('/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'y'.repeat(2 * 1024 * 1024) }] }))
      expect(r.status).to.equal(400)
      shaped(r.body, 'too_large')
    })

    it('missing or wrong key: 401', async () => {
      const r = await raw('/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), {})
      expect(r.status).to.equal(401)
      shaped(r.body, 'missing_api_key')
      const wrong = new OpenAI({ apiKey: 'aitbc-' + 'A'.repeat(32), baseURL: `${coord.url}/v1`, maxRetries: 0 })
      const e = await wrong.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (x: unknown) => x) as any
      expect(e).to.be.instanceOf(OpenAI.AuthenticationError)
      expect(e.code).to.equal('invalid_api_key')
      const e2 = await new OpenAI({ apiKey: 'sk-nonsense', baseURL: `${coord.url}/v1`, maxRetries: 0 }).models.list().then(() => null, (x: unknown) => x)
      expect(e2).to.be.instanceOf(OpenAI.AuthenticationError)
    })

    it('a stream request also fails before the stream when the input is bad', async () => {
      const e = await openai.chat.completions.create({ model: 'nobody-serves:1b', messages: [{ role: 'user', content: 'hi' }], stream: true }).then(() => null, (x: unknown) => x)
      expect(e).to.be.instanceOf(OpenAI.NotFoundError)
    })
  })

  it('a key over its daily spend cap: 429 spend_cap_exceeded, nothing charged', async () => {
    const kr = new Keyring(node.aitbcHome)
    const { apiKey: capped } = await coord.keys.create('capped', kr.get('capped').address, 1n)
    const before = await account(kr.get('capped').address)
    const c = new OpenAI({ apiKey: capped, baseURL: `${coord.url}/v1`, maxRetries: 0 })
    const e = await c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (x: unknown) => x) as any
    expect(e).to.be.instanceOf(OpenAI.RateLimitError)
    expect(e.code).to.equal('spend_cap_exceeded')
    expect(await account(kr.get('capped').address)).to.deep.equal(before)
  })

  it('a key over its rate limit: 429 rate_limit_exceeded with retry-after', async () => {
    const c2 = await startCoordinator({ nodeUrl: node.url, dataDir: tempData(), port: 0, logger: silentLogger(), gatewayKeys: ['carol'], keyringHome: node.aitbcHome, rateLimitPerMinute: 1 })
    try {
      const c = new OpenAI({ apiKey: c2.newApiKeys[0].apiKey, baseURL: `${c2.url}/v1`, maxRetries: 0 })
      await c.models.list()
      const e = await c.models.list().then(() => null, (x: unknown) => x) as any
      expect(e).to.be.instanceOf(OpenAI.RateLimitError)
      expect(e.code).to.equal('rate_limit_exceeded')
      expect(Number(e.headers.get('retry-after'))).to.be.at.least(1)
    } finally {
      await c2.stop()
    }
  })

  it('the miner serves a job\'s stream to its client only: anyone else gets 403', async () => {
    const r = await openai.completions.create({ model: MODEL, prompt: 'Whose stream is this?', max_tokens: 10 })
    const jobId = r.id.replace(/^cmpl-/, '')
    const url = `${miner!.url}/v1/jobs/${jobId}/stream`
    const kr = new Keyring(node.aitbcHome)
    expect((await fetch(url)).status).to.equal(403)
    expect((await fetch(url, { headers: signStreamRequest(kr.get('alice'), chainId, jobId) })).status).to.equal(403)
    // The client's key, but signed for another job, another chain, or out of the time window.
    const other = signStreamRequest(kr.get('gw'), chainId, 'job_0000000000000000')
    expect((await fetch(url, { headers: other })).status).to.equal(403)
    expect((await fetch(url, { headers: signStreamRequest(kr.get('gw'), 'another-chain', jobId) })).status).to.equal(403)
    expect((await fetch(url, { headers: signStreamRequest(kr.get('gw'), chainId, jobId, Date.now() - 10 * 60_000) })).status).to.equal(403)
    const ok = await fetch(url, { headers: signStreamRequest(kr.get('gw'), chainId, jobId) })
    expect(ok.status).to.equal(200)
    const lines = (await ok.text()).trim().split('\n').map(l => JSON.parse(l))
    expect(lines[lines.length - 1]).to.deep.equal({ end: true })
    expect(lines.slice(0, -1).map(l => l.token).join('')).to.equal(r.choices[0].text)
    expect((await fetch(`${miner!.url}/v1/jobs/job_0000000000000000/stream`)).status).to.equal(404)
  })

  it('aitbc submit inference --stream prints the miner\'s tokens as they come, then the job\'s summary', async () => {
    const r = await aitbc(['submit', 'inference', '--stream', '--from', 'alice', '--node', node.url, '--model', MODEL, '--prompt', 'Stream to my terminal', '--num-predict', '16'], node.env)
    expect(r.code, r.stderr).to.equal(0)
    const jobId = /Job ID: (job_[0-9a-f]{16})/.exec(r.stdout)?.[1] as string
    const job = await node.client.job(jobId)
    expect(r.stdout.startsWith(job.result + '\n'), r.stdout).to.equal(true)
    expect(r.stdout).to.match(/Status: completed/)
    expect(r.stderr).to.not.match(/did not finish|not the result/)
  })

  it('a job that fails on its miner: 502 job_failed; one that outlasts the gateway\'s wait: 504 job_timeout', async () => {
    const failing = await startDevOllama({ port: 0, models: ['failing:1b'], failRate: 1, logger: silentLogger() })
    const m2 = await startMiner({ key: new Keyring(node.aitbcHome).get('carol'), nodeUrl: node.url, ollamaUrl: failing.url, httpPort: 0, capacity: 2, logger: silentLogger() })
    const c2 = await startCoordinator({ nodeUrl: node.url, dataDir: tempData(), port: 0, logger: silentLogger(), gatewayKeys: ['gw'], keyringHome: node.aitbcHome, gatewayTimeoutMs: 1 })
    try {
      await until('the failing model listed', async () => (await openai.models.list()).data.some(x => x.id === 'failing:1b'))
      const e = await openai.chat.completions.create({ model: 'failing:1b', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (x: unknown) => x) as any
      expect(e).to.be.instanceOf(OpenAI.InternalServerError)
      expect(e.status).to.equal(502)
      expect(e.code).to.equal('job_failed')
      expect(e.message).to.match(/refunded/)
      const streamed = await openai.chat.completions.create({ model: 'failing:1b', messages: [{ role: 'user', content: 'hi' }], stream: true })
      const se = await (async () => { for await (const _ of streamed) { /* none */ } })().then(() => null, (x: unknown) => x) as any
      expect(se).to.be.instanceOf(OpenAI.APIError)
      expect(String(se.message)).to.match(/failed/)
      // A second coordinator with the same key (one account, two processes: the nonce follows pending_nonce) that waits 1 ms.
      const quick = new OpenAI({ apiKey: (await c2.keys.create('gw', gwAddress, 0n)).apiKey, baseURL: `${c2.url}/v1`, maxRetries: 0 })
      const t = await quick.completions.create({ model: MODEL, prompt: 'Too slow for the gateway', max_tokens: 4 }).then(() => null, (x: unknown) => x) as any
      expect(t.status).to.equal(504)
      expect(t.code).to.equal('job_timeout')
      expect(t.message).to.match(/goes on on the chain/)
    } finally {
      await c2.stop()
      await m2.stop()
      await failing.close()
    }
  })

  it('aitbc coordinator start --gateway-key NAME makes the keyring key and an API key, printed once; the next start prints none', async () => {
    const data = tempData()
    const home = tempData()
    const start = async (): Promise<string> => {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'aitbc.mjs'), 'coordinator', 'start', '--node', node.url, '--port', '0', '--data', data, '--gateway-key', 'ops'],
        { cwd: ROOT, env: { ...process.env, AITBC_HOME: home, AITBC_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (d: Buffer) => { out += d.toString() })
      child.stderr.on('data', (d: Buffer) => { out += d.toString() })
      const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
      await until('the coordinator CLI to list the gateway', () => /OpenAI-compatible API: /.test(out) || child.exitCode !== null, 60_000)
      child.kill('SIGTERM')
      await exited
      return out
    }
    const first = await start()
    expect(first).to.match(/Made keyring key "ops" \(aitbc1[0-9a-z]+\)/)
    const key = /API key for "ops" \(aitbc1[0-9a-z]+\), shown only now: (aitbc-[A-Za-z0-9_-]{32})/.exec(first)?.[1]
    expect(key, first).to.be.a('string')
    expect(statSync(join(home, 'keyring', 'ops.json')).mode & 0o777).to.equal(0o600)
    const second = await start()
    expect(second).to.not.match(/API key for|Made keyring key/)
    expect(second).to.match(/OpenAI-compatible API: .*\(1 API key\(s\)\)/)
  })

  describe('a miner whose listed endpoint misbehaves', () => {
    let mode: 'wrong' | 'refuse' = 'wrong'
    let fake: string
    before(async () => {
      // The stream endpoint the miner lists is this server: it sends a token that is not the
      // answer and closes, or refuses with 500.
      const s = createServer((req, res) => {
        if (mode === 'refuse') { res.writeHead(500); res.end(); return }
        res.writeHead(200, { 'content-type': 'application/x-ndjson' })
        res.flushHeaders()
        res.write(JSON.stringify({ token: 'NOT THE ANSWER' }) + '\n', () => { setTimeout(() => res.destroy(), 50) })
      })
      servers.push(s)
      await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
      fake = `http://127.0.0.1:${(s.address() as { port: number }).port}`
      await miner!.stop()
      miner = await startMiner({ key: new Keyring(node.aitbcHome).get('bob'), nodeUrl: node.url, ollamaUrl: ollama.url, httpPort: 0, capacity: 4, logger: silentLogger(), endpoint: fake })
      await until('the listing names the fake endpoint', async () => (await node.client.miner(miner!.address)).endpoint === fake)
    })

    it('closes mid-stream with text that is not the result: an error chunk ends the stream (the SDK throws)', async () => {
      mode = 'wrong'
      const stream = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Broken stream please' }], max_tokens: 10, stream: true })
      let text = ''
      const e = await (async () => { for await (const c of stream) text += c.choices[0]?.delta?.content ?? '' })().then(() => null, (x: unknown) => x) as any
      expect(e, `the stream ended with an error (streamed ${JSON.stringify(text)})`).to.be.instanceOf(OpenAI.APIError)
      expect(String(e.message)).to.match(/not the result on chain/)
      expect(text).to.equal('NOT THE ANSWER')
      // The coordinator still serves.
      expect((await openai.models.list()).data.length).to.be.greaterThan(0)
    })

    it('cannot be reached: the final result streams in chunks', async () => {
      mode = 'refuse'
      const stream = await openai.completions.create({ model: MODEL, prompt: 'Unreachable miner', max_tokens: 40, stream: true })
      let text = ''
      let n = 0
      let id = ''
      for await (const c of stream) { id = c.id; const t = c.choices[0]?.text ?? ''; if (t !== '') { text += t; n++ } }
      const job = await node.client.job(id.replace(/^cmpl-/, ''))
      expect(text).to.equal(job.result)
      expect(n).to.be.greaterThan(1)
    })
  })
})
