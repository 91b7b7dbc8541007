// The gateway's parts without a network: the API key store (hashes only, spend cap, give-back),
// the nonce sequencer under concurrency, SSE framing, OpenAI error mapping, request parsing, the
// signed stream requests and the miner's token buffers.
import { expect } from 'chai'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CoordinatorStore } from '../../coordinator-module/store.ts'
import { KEY } from '../../coordinator-module/keys.ts'
import { ApiKeyStore, hashApiKey, utcDay } from '../../coordinator-module/gateway/apiKeyStore.ts'
import { NonceSequencer } from '../../coordinator-module/gateway/nonceSequencer.ts'
import { GatewayError, errorStatus, toGatewayError } from '../../coordinator-module/gateway/openAiError.ts'
import { chunkText, parseSse, sseData, SSE_DONE } from '../../coordinator-module/gateway/sse.ts'
import { parseChatRequest, parseCompletionRequest } from '../../coordinator-module/gateway/requests.ts'
import { streamUrl } from '../../node/minerStream.ts'
import { ChunkMaker } from '../../coordinator-module/gateway/stream.ts'
import { checkStreamRequest, signStreamRequest } from '../../node/streamAuth.ts'
import { SigningKey, toHex } from '../../node/core/crypto.ts'
import { TokenStreams, type StreamEvent } from '../../miner/tokenStreams.ts'

const thrown = (f: () => unknown): GatewayError => {
  try { f() } catch (e) { if (e instanceof GatewayError) return e; throw e }
  throw new Error('did not throw')
}

describe('gateway: API key store', () => {
  let dir: string
  let store: CoordinatorStore
  let now = Date.UTC(2026, 0, 1, 12)
  beforeEach(async () => { dir = mkdtempSync(join(tmpdir(), 'aitbc-keys-')); store = await CoordinatorStore.open(dir) })
  afterEach(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }) })

  it('stores only the sha256 of a key; the key authenticates, others do not', async () => {
    const keys = new ApiKeyStore(store, () => now)
    const { apiKey, entry } = await keys.create('gw', 'aitbc1x', 100n)
    expect(apiKey).to.match(/^aitbc-[A-Za-z0-9_-]{32}$/)
    expect(entry.hash).to.equal(hashApiKey(apiKey))
    const all = JSON.stringify(await store.entries(''))
    expect(all).to.not.include(apiKey)
    expect(all).to.include(entry.hash)
    const again = new ApiKeyStore(store, () => now)
    await again.load()
    expect(again.authenticate(apiKey).key_name).to.equal('gw')
    expect(thrown(() => again.authenticate(undefined)).code).to.equal('missing_api_key')
    expect(thrown(() => again.authenticate('')).code).to.equal('missing_api_key')
    expect(thrown(() => again.authenticate('sk-123')).code).to.equal('invalid_api_key')
    expect(thrown(() => again.authenticate('aitbc-' + 'B'.repeat(32))).code).to.equal('invalid_api_key')
  })

  it('a daily spend cap: reserved per UTC day, 429 when over, given back when the job never reached the chain', async () => {
    const keys = new ApiKeyStore(store, () => now)
    const { entry } = await keys.create('gw', 'aitbc1x', 100n)
    expect(await keys.withSpend(entry, 60n, async () => 'ok')).to.equal('ok')
    const e = await keys.withSpend(entry, 41n, async () => 'no').then(() => null, (x: unknown) => x) as GatewayError
    expect(e.code).to.equal('spend_cap_exceeded')
    expect(e.status).to.equal(429)
    await keys.withSpend(entry, 30n, async () => { throw new Error('refused') }).catch(() => {})
    expect(await keys.spentToday(entry.hash)).to.equal(60n)
    expect(await keys.withSpend(entry, 40n, async () => 'fits')).to.equal('fits')
    now += 24 * 3600_000
    expect(await keys.spentToday(entry.hash)).to.equal(0n)
    expect(utcDay(now)).to.equal('2026-01-02')
  })

  it('concurrent reservations never pass the cap together', async () => {
    const keys = new ApiKeyStore(store, () => now)
    const { entry } = await keys.create('gw', 'aitbc1x', 50n)
    const rs = await Promise.allSettled(Array.from({ length: 10 }, async () => await keys.withSpend(entry, 10n, async () => 1)))
    expect(rs.filter(r => r.status === 'fulfilled')).to.have.length(5)
  })

  it('a rebuild (store.clear) keeps the keys and the spend', async () => {
    const keys = new ApiKeyStore(store, () => now)
    const { apiKey } = await keys.create('gw', 'aitbc1x', 0n)
    await store.write([{ type: 'put', key: KEY.block(1), value: { h: 1 } }, { type: 'put', key: 'zz:after', value: 1 }])
    await store.clear()
    expect(await store.get(KEY.block(1))).to.equal(undefined)
    expect(await store.get('zz:after')).to.equal(undefined)
    const again = new ApiKeyStore(store, () => now)
    await again.load()
    expect(again.authenticate(apiKey).key_name).to.equal('gw')
  })
})

describe('gateway: nonce sequencer', () => {
  it('concurrent requests take consecutive nonces; a refused one gives its nonce back', async () => {
    let pending = 5
    const seq = new NonceSequencer(async () => pending)
    const got = await Promise.all(Array.from({ length: 6 }, async () => await seq.withNonce('a', async n => {
      await new Promise(resolve => setImmediate(resolve))
      return { used: true, value: n }
    })))
    expect(got).to.deep.equal([5, 6, 7, 8, 9, 10])
    // The node refuses 11: the next request reads pending_nonce again.
    pending = 11
    expect(await seq.withNonce('a', async n => ({ used: false, value: n }))).to.equal(11)
    expect(await seq.withNonce('a', async n => ({ used: true, value: n }))).to.equal(11)
    // The node moved ahead (another client of the key): its pending nonce wins.
    pending = 20
    expect(await seq.withNonce('a', async n => ({ used: true, value: n }))).to.equal(20)
    // Accounts are independent; a throw releases the lock.
    await seq.withNonce('b', async () => { throw new Error('boom') }).catch(() => {})
    expect(await seq.withNonce('b', async n => ({ used: true, value: n }))).to.equal(20)
  })
})

describe('gateway: SSE framing and chunks', () => {
  it('frames data lines and [DONE], parses them back, cuts text at character boundaries', () => {
    expect(sseData({ a: 1 })).to.equal('data: {"a":1}\n\n')
    expect(SSE_DONE).to.equal('data: [DONE]\n\n')
    const { events, rest } = parseSse(sseData({ x: 'a\nb' }) + SSE_DONE + 'data: {"partial"')
    expect(events).to.deep.equal(['{"x":"a\\nb"}', '[DONE]'])
    expect(rest).to.equal('data: {"partial"')
    expect(chunkText('abcdefgh', 3)).to.deep.equal(['abc', 'def', 'gh'])
    expect(chunkText('😀😀😀', 2)).to.deep.equal(['😀😀', '😀'])
    expect(chunkText('', 4)).to.deep.equal([])
  })

  it('chunks in OpenAI\'s shapes for chat and text', () => {
    const chat = new ChunkMaker('chat', { jobId: 'job_1', model: 'm', createdS: 5 })
    expect(chat.role()).to.deep.include({ id: 'chatcmpl-job_1', object: 'chat.completion.chunk', created: 5, model: 'm' })
    expect((chat.text('hi') as any).choices[0].delta).to.deep.equal({ content: 'hi' })
    expect((chat.finish('stop') as any).choices[0].finish_reason).to.equal('stop')
    expect((chat.usage({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }) as any).choices).to.deep.equal([])
    const text = new ChunkMaker('text', { jobId: 'job_1', model: 'm', createdS: 5 })
    expect((text.text('hi') as any).choices[0].text).to.equal('hi')
    expect((text.text('hi') as any).object).to.equal('text_completion')
  })
})

describe('gateway: OpenAI error mapping', () => {
  it('each code has the status an OpenAI client expects and the error shape', () => {
    expect(errorStatus('invalid_json').status).to.equal(400)
    expect(errorStatus('invalid_api_key')).to.deep.equal({ status: 401, type: 'authentication_error' })
    expect(errorStatus('forbidden').status).to.equal(403)
    expect(errorStatus('model_not_found').status).to.equal(404)
    expect(errorStatus('rate_limit_exceeded')).to.deep.equal({ status: 429, type: 'rate_limit_error' })
    expect(errorStatus('spend_cap_exceeded').status).to.equal(429)
    expect(errorStatus('job_failed').status).to.equal(502)
    expect(errorStatus('job_timeout').status).to.equal(504)
    expect(new GatewayError('model_not_found', 'no', 'model').body()).to.deep.equal({ error: { message: 'no', type: 'invalid_request_error', code: 'model_not_found', param: 'model' } })
  })

  it('fastify\'s errors become OpenAI errors; anything else is a 500 that says nothing', () => {
    expect(toGatewayError({ code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 }).code).to.equal('invalid_json')
    expect(toGatewayError({ code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400 }).code).to.equal('invalid_json')
    expect(toGatewayError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }).code).to.equal('too_large')
    expect(toGatewayError({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }).status).to.equal(400)
    const internal = toGatewayError(new Error('secret path /x/y'))
    expect(internal.status).to.equal(500)
    expect(internal.message).to.equal('internal error')
  })
})

describe('gateway: request parsing', () => {
  const msgs = [{ role: 'user', content: 'hi' }]
  it('takes chat requests with string or text-part content, developer as system, and the options', () => {
    const r = parseChatRequest({ model: 'm', messages: [{ role: 'developer', content: 'sys' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }], max_tokens: 9, temperature: 0.5, seed: 3, stream: true, stream_options: { include_usage: true }, user: 'ignored' })
    expect(r.messages).to.deep.equal([{ role: 'system', content: 'sys' }, { role: 'user', content: 'ab' }])
    expect(r).to.deep.include({ model: 'm', maxTokens: 9, temperature: 0.5, seed: 3, stream: true, includeUsage: true, prompt: '' })
    expect(parseChatRequest({ model: 'm', messages: msgs, max_completion_tokens: 4 }).maxTokens).to.equal(4)
  })
  it('refuses each bad field, naming it', () => {
    const cases: Array<[unknown, string | null]> = [
      [null, null], [[], null], [{ messages: msgs }, 'model'], [{ model: '', messages: msgs }, 'model'],
      [{ model: 'm' }, 'messages'], [{ model: 'm', messages: [] }, 'messages'], [{ model: 'm', messages: [{ role: 'assistant', content: 'x' }] }, 'messages'],
      [{ model: 'm', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].role'], [{ model: 'm', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
      [{ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, 'messages[0].content[0]'],
      [{ model: 'm', messages: [{ role: 'user', content: '  ' }] }, 'messages[0].content'],
      [{ model: 'm', messages: msgs, max_tokens: 0 }, 'max_tokens'], [{ model: 'm', messages: msgs, max_tokens: 1.5 }, 'max_tokens'],
      [{ model: 'm', messages: msgs, temperature: 3 }, 'temperature'], [{ model: 'm', messages: msgs, seed: -1 }, 'seed'],
      [{ model: 'm', messages: msgs, stream: 1 }, 'stream'], [{ model: 'm', messages: msgs, stream_options: 'x' }, 'stream_options'],
      [{ model: 'm', messages: msgs, n: 3 }, 'n'], [{ model: 'm', messages: msgs, tools: [{}] }, 'tools'],
      [{ model: 'm', messages: Array.from({ length: 65 }, () => msgs[0]) }, 'messages'],
    ]
    for (const [body, param] of cases) {
      const e = thrown(() => parseChatRequest(body))
      expect(e.status, JSON.stringify(body)).to.equal(400)
      expect(e.param, JSON.stringify(body)).to.equal(param)
    }
  })
  it('legacy completions: a string prompt or a list of one', () => {
    expect(parseCompletionRequest({ model: 'm', prompt: 'p' }).prompt).to.equal('p')
    expect(parseCompletionRequest({ model: 'm', prompt: ['p'] }).prompt).to.equal('p')
    for (const b of [{ model: 'm' }, { model: 'm', prompt: 3 }, { model: 'm', prompt: ['a', 'b'] }, { model: 'm', prompt: '' }, { model: 'm', prompt: 'p', echo: true }, { model: 'm', prompt: 'p', suffix: 's' }]) {
      expect(thrown(() => parseCompletionRequest(b)).status, JSON.stringify(b)).to.equal(400)
    }
  })
})

describe('gateway: the miner stream URL and signed stream requests', () => {
  it('connects only to plain http(s) endpoints', () => {
    expect(streamUrl('http://10.0.0.1:8010', 'job_1')).to.equal('http://10.0.0.1:8010/v1/jobs/job_1/stream')
    expect(streamUrl('https://m.example/base/', 'job_1')).to.equal('https://m.example/base/v1/jobs/job_1/stream')
    for (const e of [null, '', 'ftp://x', 'file:///etc/passwd', 'http://user:pw@x', 'not a url', 'javascript:alert(1)']) expect(streamUrl(e, 'job_1'), String(e)).to.equal(null)
  })

  it('accepts the job\'s client within the time window only', () => {
    const client = new SigningKey(new Uint8Array(32).fill(1))
    const other = new SigningKey(new Uint8Array(32).fill(2))
    const pub = toHex(client.publicKey)
    const t = 1_700_000_000_000
    const h = signStreamRequest(client, 'chain', 'job_a', t)
    expect(checkStreamRequest(h, 'chain', 'job_a', pub, t + 1000)).to.equal(null)
    expect(checkStreamRequest({}, 'chain', 'job_a', pub, t)).to.equal('missing')
    expect(checkStreamRequest({ ...h, 'x-aitbc-signature': 'zz' }, 'chain', 'job_a', pub, t)).to.equal('malformed')
    expect(checkStreamRequest(h, 'chain', 'job_a', pub, t + 61_000)).to.equal('stale')
    expect(checkStreamRequest(h, 'chain', 'job_a', pub, t - 61_000)).to.equal('stale')
    expect(checkStreamRequest(h, 'chain', 'job_b', pub, t)).to.equal('bad_signature')
    expect(checkStreamRequest(h, 'other-chain', 'job_a', pub, t)).to.equal('bad_signature')
    expect(checkStreamRequest(h, 'chain', 'job_a', null, t)).to.equal('not_client')
    expect(checkStreamRequest(signStreamRequest(other, 'chain', 'job_a', t), 'chain', 'job_a', pub, t)).to.equal('not_client')
    // Another key that claims the client's public key: the signature does not verify.
    const forged = { ...signStreamRequest(other, 'chain', 'job_a', t), 'x-aitbc-pubkey': pub }
    expect(checkStreamRequest(forged, 'chain', 'job_a', pub, t)).to.equal('bad_signature')
  })
})

describe('miner: token streams', () => {
  it('a late reader gets every token from the first, then the end', () => {
    const s = new TokenStreams({ graceMs: 10 })
    s.open('job_a', 'ab')
    s.push('job_a', 'Hello')
    s.push('job_a', '')
    s.push('job_a', ' world')
    const early: StreamEvent[] = []
    s.subscribe('job_a', e => early.push(e))
    s.end('job_a')
    const late: StreamEvent[] = []
    s.subscribe('job_a', e => late.push(e))
    const want = [{ token: 'Hello' }, { token: ' world' }, { end: true }]
    expect(early).to.deep.equal(want)
    expect(late).to.deep.equal(want)
    expect(s.clientKey('job_a')).to.equal('ab')
    s.close()
    expect(s.has('job_a')).to.equal(false)
  })

  it('bounds bytes per job and the number of jobs kept', () => {
    const s = new TokenStreams({ maxBytes: 8, maxStreams: 2 })
    s.open('job_a', null)
    s.push('job_a', '12345')
    s.push('job_a', '67890')
    const got: StreamEvent[] = []
    s.subscribe('job_a', e => got.push(e))
    expect(got).to.deep.equal([{ token: '12345' }, { error: 'the stream passed its byte bound; read the result on chain' }])
    s.open('job_b', null)
    s.open('job_c', null) // job_a ended: it gives way
    expect(s.has('job_a')).to.equal(false)
    expect(s.has('job_c')).to.equal(true)
    s.open('job_d', null) // both running: no room, no stream
    expect(s.has('job_d')).to.equal(false)
    s.close()
  })
})
