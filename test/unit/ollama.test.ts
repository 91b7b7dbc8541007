import { expect } from 'chai'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { startDevOllama, type DevOllamaOptions } from '../../miner/devOllama.ts'
import { OllamaClient, OllamaError, contextLengthOf, normaliseDigest } from '../../miner/ollamaClient.ts'
import { DEV_CONTEXT_LENGTH, fillerTokens } from '../../miner/devOllama.ts'
import { similarityPpm } from '../../node/core/similarity.ts'

type Server = Awaited<ReturnType<typeof startDevOllama>>
type Json = Record<string, any>

/** A logger that keeps its lines and lets a test wait for them (instead of sleeping). */
function captureLogger() {
  const lines: { obj: object; msg?: string }[] = []
  const waiters: { re: RegExp; n: number; resolve: () => void }[] = []
  const count = (re: RegExp) => lines.filter(l => l.msg !== undefined && re.test(l.msg)).length
  return {
    lines,
    info(obj: object, msg?: string) {
      lines.push({ obj, msg })
      for (const w of waiters.splice(0)) {
        if (count(w.re) >= w.n) w.resolve(); else waiters.push(w)
      }
    },
    /** Resolves once n lines (default 1) matching re have been logged. */
    waitFor(re: RegExp, n = 1): Promise<void> {
      if (count(re) >= n) return Promise.resolve()
      return new Promise(resolve => waiters.push({ re, n, resolve }))
    },
  }
}

const servers: Server[] = []
async function start(opts: DevOllamaOptions = {}): Promise<Server & { logger: ReturnType<typeof captureLogger> }> {
  const logger = captureLogger()
  const s = await startDevOllama({ port: 0, logger, ...opts })
  servers.push(s)
  return { ...s, logger }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try { await p } catch (e) { return e }
  throw new Error('expected the promise to reject')
}

async function ollamaError(p: Promise<unknown>): Promise<OllamaError> {
  const e = await rejection(p)
  expect(e).to.be.instanceOf(OllamaError)
  return e as OllamaError
}

async function post(url: string, path: string, body: unknown): Promise<Response> {
  return fetch(url + path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) })
}

async function ndjson(res: Response): Promise<Json[]> {
  const text = await res.text()
  expect(text.endsWith('\n')).to.equal(true)
  return text.trim().split('\n').map(l => JSON.parse(l))
}

const PROMPT = 'What is machine learning?'

describe('dev-ollama + OllamaClient', () => {
  after(async () => { await Promise.all(servers.map(s => s.close())) })

  describe('basic API', () => {
    let s: Server & { logger: ReturnType<typeof captureLogger> }
    let client: OllamaClient
    before(async () => {
      s = await start({ models: ['llama3.2:latest', 'qwen2.5:0.5b'] })
      client = new OllamaClient({ baseUrl: s.url })
    })

    it('labels itself: startup log, version, header', async () => {
      expect(s.port).to.be.greaterThan(0)
      expect(s.url).to.equal(`http://127.0.0.1:${s.port}`)
      expect(s.logger.lines[0]!.msg).to.match(/NOT a real model/)
      const res = await fetch(`${s.url}/api/version`)
      expect(res.status).to.equal(200)
      expect(res.headers.get('x-aitbc-dev-ollama')).to.equal('1')
      expect(await res.json()).to.deep.equal({ version: '0.0.0-aitbc-dev' })
      expect(await client.version()).to.equal('0.0.0-aitbc-dev')
    })

    it('lists the configured models in /api/tags', async () => {
      expect(await client.tags()).to.deep.equal(['llama3.2:latest', 'qwen2.5:0.5b'])
      const body = await (await fetch(`${s.url}/api/tags`)).json() as Json
      expect(body.models).to.have.length(2)
      const m = body.models[0]
      expect(m).to.include.keys('name', 'model', 'modified_at', 'size', 'digest', 'details')
      expect(m.name).to.equal('llama3.2:latest')
      expect(m.model).to.equal('llama3.2:latest')
      expect(m.digest).to.match(/^[0-9a-f]{64}$/)
      expect(m.details).to.include.keys('format', 'family', 'parameter_size', 'quantization_level')
    })

    it('default models are ["llama3.2:latest"]', async () => {
      const d = await start()
      expect(await new OllamaClient({ baseUrl: d.url }).tags()).to.deep.equal(['llama3.2:latest'])
    })

    it('streams /api/generate as NDJSON with Ollama\'s final line', async () => {
      const res = await post(s.url, '/api/generate', { model: 'llama3.2:latest', prompt: PROMPT, options: { seed: 7 } })
      expect(res.status).to.equal(200)
      expect(res.headers.get('content-type')).to.match(/application\/x-ndjson/)
      expect(res.headers.get('x-aitbc-dev-ollama')).to.equal('1')
      const lines = await ndjson(res)
      const final = lines.at(-1)!
      const tokens = lines.slice(0, -1)
      expect(tokens.length).to.be.greaterThan(10)
      for (const t of tokens) {
        expect(Object.keys(t).sort()).to.deep.equal(['created_at', 'done', 'model', 'response'])
        expect(t.done).to.equal(false)
        expect(t.model).to.equal('llama3.2:latest')
        expect(t.response).to.be.a('string').and.not.equal('')
      }
      expect(final).to.include({ model: 'llama3.2:latest', response: '', done: true, done_reason: 'stop' })
      expect(final.context).to.deep.equal([])
      for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration']) {
        expect(final[k]).to.be.a('number').and.at.least(0)
      }
      expect(final.total_duration).to.be.at.least(final.load_duration)
      expect(final.prompt_eval_count).to.equal(4)
      expect(final.eval_count).to.equal(tokens.length)
      const text = tokens.map(t => t.response).join('')
      expect(text).to.match(/^Machine learning is an? \w+ \w+ that .*\.$/)
    })

    it('stream:false gives the same text and counters in one object', async () => {
      const req = { model: 'llama3.2:latest', prompt: PROMPT, options: { seed: 7 } }
      const streamed = await ndjson(await post(s.url, '/api/generate', req))
      const res = await post(s.url, '/api/generate', { ...req, stream: false })
      expect(res.headers.get('content-type')).to.match(/application\/json/)
      const one = await res.json() as Json
      expect(one.response).to.equal(streamed.slice(0, -1).map(t => t.response).join(''))
      expect(one).to.include({ done: true, done_reason: 'stop', model: 'llama3.2:latest' })
      expect(one.eval_count).to.equal(streamed.at(-1)!.eval_count)
      expect(one.prompt_eval_count).to.equal(4)
      expect(one.context).to.deep.equal([])

      const viaClient = await client.generate(req)
      expect(viaClient.response).to.equal(one.response)
      expect(viaClient.completionTokens).to.equal(one.eval_count)
    })

    it('OllamaClient.generate streams tokens and reports counts', async () => {
      const seen: string[] = []
      const r = await client.generate({ model: 'llama3.2:latest', prompt: PROMPT, options: { seed: 1 } }, { onToken: t => seen.push(t) })
      expect(seen.join('')).to.equal(r.response)
      expect(r.completionTokens).to.equal(seen.length)
      expect(r.promptTokens).to.equal(4)
      expect(r.doneReason).to.equal('stop')
      expect(r.totalDurationMs).to.be.a('number').and.at.least(0)
      expect(r.response.startsWith('Machine learning')).to.equal(true)
    })

    it('is deterministic in (model, prompt, seed, temperature)', async () => {
      const gen = (model: string, prompt: string, options: { seed?: number; temperature?: number } = {}) =>
        client.generate({ model, prompt, options }).then(r => r.response)
      const a = await gen('llama3.2:latest', PROMPT, { seed: 42 })
      expect(await gen('llama3.2:latest', PROMPT, { seed: 42 })).to.equal(a)
      expect(await gen('llama3.2', PROMPT, { seed: 42 })).to.equal(a) // ":latest" is implied
      expect(await gen('llama3.2:latest', PROMPT, { seed: 43 })).to.not.equal(a)
      expect(await gen('qwen2.5:0.5b', PROMPT, { seed: 42 })).to.not.equal(a)
      expect(await gen('llama3.2:latest', 'Explain proof of stake', { seed: 42 })).to.not.equal(a)
      expect(await gen('llama3.2:latest', PROMPT, { seed: 42, temperature: 0.2 })).to.not.equal(a)
      // temperature 0 is greedy: the seed does not matter
      expect(await gen('llama3.2:latest', PROMPT, { seed: 1, temperature: 0 }))
        .to.equal(await gen('llama3.2:latest', PROMPT, { seed: 2, temperature: 0 }))
      // no seed: reproducible too (seed 0)
      expect(await gen('llama3.2:latest', PROMPT)).to.equal(await gen('llama3.2:latest', PROMPT, { seed: 0 }))
    })

    it('num_predict bounds the token count (done_reason "length")', async () => {
      const full = await client.generate({ model: 'llama3.2:latest', prompt: PROMPT, options: { seed: 3 } })
      const seen: string[] = []
      const r = await client.generate({ model: 'llama3.2:latest', prompt: PROMPT, options: { seed: 3, num_predict: 5 } }, { onToken: t => seen.push(t) })
      expect(r.completionTokens).to.equal(5)
      expect(seen).to.have.length(5)
      expect(r.doneReason).to.equal('length')
      expect(full.response.startsWith(r.response)).to.equal(true)
      const big = await client.generate({ model: 'llama3.2:latest', prompt: PROMPT, options: { seed: 3, num_predict: 1000 } })
      expect(big.response).to.equal(full.response)
      expect(big.doneReason).to.equal('stop')
    })

    it('prompt_eval_count counts whitespace words, at least 1', async () => {
      const r1 = await client.generate({ model: 'llama3.2', prompt: '  one   two\nthree\tfour five ' })
      expect(r1.promptTokens).to.equal(5)
      const r2 = await client.generate({ model: 'llama3.2', prompt: '?' })
      expect(r2.promptTokens).to.equal(1)
    })

    it('an empty prompt is Ollama\'s load call', async () => {
      const res = await post(s.url, '/api/generate', { model: 'llama3.2' })
      const body = await res.json() as Json
      expect(body).to.include({ model: 'llama3.2', response: '', done: true, done_reason: 'load' })
    })

    it('serves /api/chat, streaming and not, with the message shape', async () => {
      const req = { model: 'llama3.2:latest', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: PROMPT }], options: { seed: 5 } }
      const lines = await ndjson(await post(s.url, '/api/chat', req))
      const final = lines.at(-1)!
      for (const l of lines.slice(0, -1)) {
        expect(l.done).to.equal(false)
        expect(l.message.role).to.equal('assistant')
        expect(l.message.content).to.be.a('string')
        expect(l).to.not.have.property('response')
      }
      expect(final).to.include({ done: true, done_reason: 'stop' })
      expect(final.message).to.deep.equal({ role: 'assistant', content: '' })
      expect(final.prompt_eval_count).to.equal(6)
      expect(final.eval_count).to.equal(lines.length - 1)
      const streamedText = lines.slice(0, -1).map(l => l.message.content).join('')
      expect(streamedText.startsWith('Machine learning')).to.equal(true)

      const one = await (await post(s.url, '/api/chat', { ...req, stream: false })).json() as Json
      expect(one.message).to.deep.equal({ role: 'assistant', content: streamedText })
      expect(one).to.include({ done: true, done_reason: 'stop', eval_count: final.eval_count })
    })

    it('unknown model: 404 with Ollama\'s message, and OllamaError', async () => {
      const res = await post(s.url, '/api/generate', { model: 'mistral:7b', prompt: 'hi' })
      expect(res.status).to.equal(404)
      expect(await res.json()).to.deep.equal({ error: 'model "mistral:7b" not found, try pulling it first' })
      const chat = await post(s.url, '/api/chat', { model: 'mistral', messages: [{ role: 'user', content: 'hi' }] })
      expect(chat.status).to.equal(404)
      expect(await chat.json()).to.deep.equal({ error: 'model "mistral" not found, try pulling it first' })

      const e = await ollamaError(client.generate({ model: 'mistral:7b', prompt: 'hi' }))
      expect(e.code).to.equal('OLLAMA_HTTP')
      expect(e.status).to.equal(404)
      expect(e.message).to.equal('model "mistral:7b" not found, try pulling it first')
    })

    it('bad requests: 400 with {"error"}', async () => {
      const bad = await post(s.url, '/api/generate', '{"model": "llama3.2", "prompt": ')
      expect(bad.status).to.equal(400)
      expect((await bad.json() as Json).error).to.be.a('string').and.not.equal('')
      const missing = await post(s.url, '/api/generate', { prompt: 'hi' })
      expect(missing.status).to.equal(400)
      expect(await missing.json()).to.deep.equal({ error: 'model is required' })
      const empty = await post(s.url, '/api/chat', '')
      expect(empty.status).to.equal(400)
      const badOpt = await post(s.url, '/api/generate', { model: 'llama3.2', prompt: 'hi', options: { num_predict: 'ten' } })
      expect(badOpt.status).to.equal(400)
      const badMsgs = await post(s.url, '/api/chat', { model: 'llama3.2', messages: 'hi' })
      expect(badMsgs.status).to.equal(400)
      const e = await ollamaError(client.generate({ model: '', prompt: 'hi' }))
      expect(e).to.include({ code: 'OLLAMA_HTTP', status: 400, message: 'model is required' })
    })

    it('unknown paths answer 404', async () => {
      const res = await fetch(`${s.url}/api/nope`)
      expect(res.status).to.equal(404)
      expect(res.headers.get('x-aitbc-dev-ollama')).to.equal('1')
      await res.text()
    })
  })

  describe('the client\'s chat, model details and /api/show (the official ollama package underneath)', () => {
    let s: Server & { logger: ReturnType<typeof captureLogger> }
    let client: OllamaClient
    before(async () => {
      s = await start({ models: ['llama3.2:latest'] })
      client = new OllamaClient({ baseUrl: s.url })
    })

    it('chat() streams the assistant message, with counters and details, the same as the server\'s own answer', async () => {
      const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: PROMPT }]
      const seen: string[] = []
      const r = await client.chat({ model: 'llama3.2:latest', messages, options: { seed: 5, num_predict: 12 } }, { onToken: t => seen.push(t) })
      const one = await (await post(s.url, '/api/chat', { model: 'llama3.2:latest', messages, options: { seed: 5, num_predict: 12 }, stream: false })).json() as Json
      expect(r.response).to.equal(one.message.content)
      expect(seen.join('')).to.equal(r.response)
      expect(r).to.include({ promptTokens: 6, completionTokens: 12, doneReason: 'length' })
      for (const k of ['promptEvalMs', 'evalMs', 'loadMs', 'firstTokenMs'] as const) expect(r[k], k).to.be.a('number').and.at.least(0)
    })

    it('models(): each model with its digest, quantization and parameter size; tags() the names', async () => {
      const [m] = await client.models()
      expect(m).to.deep.include({ name: 'llama3.2:latest', quantization: 'none', parameterSize: '0B', remoteHost: null })
      expect(m.digest).to.match(/^[0-9a-f]{64}$/)
      expect(await client.tags()).to.deep.equal(['llama3.2:latest'])
    })

    it('show(): the context length from model_info; an unknown model is OLLAMA_HTTP 404', async () => {
      expect(await client.show('llama3.2:latest')).to.deep.equal({ contextLength: DEV_CONTEXT_LENGTH })
      const e = await ollamaError(client.show('mistral:7b'))
      expect(e).to.include({ code: 'OLLAMA_HTTP', status: 404 })
      const raw = await (await post(s.url, '/api/show', { model: 'llama3.2' })).json() as Json
      expect(raw.modelfile).to.match(/STAND-IN/)
      expect(raw.model_info['general.architecture']).to.equal('aitbc-dev')
    })

    it('models() reads remote_host, a "sha256:" digest, missing details; a bad /api/tags is OLLAMA_PROTOCOL', async () => {
      const bodies: Record<string, string> = {
        '/good': JSON.stringify({ models: [
          { name: 'local:1b', model: 'local:1b', digest: 'sha256:' + 'd'.repeat(64), details: { quantization_level: 'Q8_0', parameter_size: '1B' } },
          { name: 'gpt-oss:120b-cloud', model: 'gpt-oss:120b-cloud', digest: 'e'.repeat(64), remote_host: 'https://ollama.com:443', remote_model: 'gpt-oss:120b', details: {} },
          { name: 'bare' },
        ] }),
        '/bad': JSON.stringify({ models: [{ model: 'no name' }] }),
        '/notjson': 'hello',
      }
      const srv = http.createServer((req, res) => {
        const body = bodies[(req.url ?? '').replace(/\/api\/tags$/, '')]
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(body)
      })
      await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
      const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
      try {
        expect(await new OllamaClient({ baseUrl: base + '/good' }).models()).to.deep.equal([
          { name: 'local:1b', digest: 'd'.repeat(64), quantization: 'Q8_0', parameterSize: '1B', remoteHost: null },
          { name: 'gpt-oss:120b-cloud', digest: 'e'.repeat(64), quantization: null, parameterSize: null, remoteHost: 'https://ollama.com:443' },
          { name: 'bare', digest: null, quantization: null, parameterSize: null, remoteHost: null },
        ])
        expect((await ollamaError(new OllamaClient({ baseUrl: base + '/bad' }).models())).code).to.equal('OLLAMA_PROTOCOL')
        expect((await ollamaError(new OllamaClient({ baseUrl: base + '/notjson' }).models())).code).to.equal('OLLAMA_PROTOCOL')
      } finally {
        srv.closeAllConnections()
        await new Promise<void>(resolve => srv.close(() => resolve()))
      }
    })

    const digests: Array<[unknown, string | null]> = [
      ['a'.repeat(64), 'a'.repeat(64)],
      ['sha256:' + 'b'.repeat(64), 'b'.repeat(64)],
      ['C'.repeat(64), 'c'.repeat(64)],
      ['a'.repeat(63), null],
      ['g'.repeat(64), null],
      [42, null],
      [undefined, null],
    ]
    for (const [v, want] of digests) it(`normaliseDigest(${JSON.stringify(v)?.slice(0, 20)}...) is ${want === null ? 'null' : 'the hex'}`, () => { expect(normaliseDigest(v)).to.equal(want) })

    const infos: Array<[string, unknown, number | null]> = [
      ['the architecture\'s key', { 'general.architecture': 'llama', 'llama.context_length': 131072, 'bert.context_length': 512 }, 131072],
      ['another *.context_length when the architecture has none', { 'general.architecture': 'x', 'qwen2.context_length': 32768 }, 32768],
      ['no context length', { 'general.architecture': 'llama' }, null],
      ['a non-integer', { 'general.architecture': 'llama', 'llama.context_length': 1.5 }, null],
      ['zero', { 'general.architecture': 'llama', 'llama.context_length': 0 }, null],
      ['not an object', 'nope', null],
      ['absent', undefined, null],
    ]
    for (const [what, info, want] of infos) it(`contextLengthOf: ${what}`, () => { expect(contextLengthOf(info)).to.equal(want) })
  })

  describe('lie: a lying stand-in for verification tests', () => {
    it('answers filler of the honest token count with the same accounting; its text scores far below the honest one', async () => {
      const honest = await start()
      const liar = await start({ lie: true })
      expect(liar.logger.lines[0]!.msg).to.match(/LYING STAND-IN/)
      const req = { model: 'llama3.2:latest', prompt: PROMPT, options: { seed: 11 } }
      const h = await new OllamaClient({ baseUrl: honest.url }).generate(req)
      const l = await new OllamaClient({ baseUrl: liar.url }).generate(req)
      expect(l.response).to.equal(fillerTokens(h.completionTokens).join(''))
      expect(l.response).to.not.equal(h.response)
      expect(l).to.include({ promptTokens: h.promptTokens, completionTokens: h.completionTokens, doneReason: h.doneReason })
      expect(similarityPpm({ text: l.response, completionTokens: l.completionTokens }, { text: h.response, completionTokens: h.completionTokens })).to.be.below(100_000)
      // num_predict cuts the filler as it cuts the honest answer.
      const cut = await new OllamaClient({ baseUrl: liar.url }).generate({ ...req, options: { seed: 11, num_predict: 4 } })
      expect(cut).to.include({ completionTokens: 4, doneReason: 'length', response: 'Lorem ipsum dolor sit' })
      // Chat too.
      const chat = await new OllamaClient({ baseUrl: liar.url }).chat({ model: 'llama3.2', messages: [{ role: 'user', content: PROMPT }], options: { seed: 1 } })
      expect(chat.response.startsWith('Lorem ipsum')).to.equal(true)
    })
  })

  describe('test knobs', () => {
    it('failRate 1: every generate/chat answers 500; OllamaError status 500', async () => {
      const s = await start({ failRate: 1 })
      const client = new OllamaClient({ baseUrl: s.url })
      const e = await ollamaError(client.generate({ model: 'llama3.2', prompt: PROMPT }))
      expect(e.code).to.equal('OLLAMA_HTTP')
      expect(e.status).to.equal(500)
      expect(e.message).to.match(/injected failure/)
      const res = await post(s.url, '/api/chat', { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] })
      expect(res.status).to.equal(500)
      expect((await res.json() as Json).error).to.be.a('string')
      // version/tags are not affected
      expect(await client.version()).to.equal('0.0.0-aitbc-dev')
    })

    it('failRate 0.5 fails every second request, deterministically', async () => {
      const s = await start({ failRate: 0.5 })
      const statuses: number[] = []
      for (let i = 0; i < 6; i++) {
        const res = await post(s.url, '/api/generate', { model: 'llama3.2', prompt: 'hi', stream: false })
        statuses.push(res.status)
        await res.text()
      }
      expect(statuses).to.deep.equal([200, 500, 200, 500, 200, 500])
    })

    it('latencyMs delays the first token and shows as load_duration', async () => {
      const s = await start({ latencyMs: 60 })
      const t0 = Date.now()
      const res = await post(s.url, '/api/generate', { model: 'llama3.2', prompt: PROMPT, stream: false })
      const body = await res.json() as Json
      expect(Date.now() - t0).to.be.at.least(55)
      expect(body.load_duration).to.be.at.least(55e6)
      expect(body.done).to.equal(true)
    })

    it('hang: the client aborts via AbortSignal -> OLLAMA_ABORTED', async () => {
      const s = await start({ hang: true })
      const client = new OllamaClient({ baseUrl: s.url })
      const ac = new AbortController()
      const p = client.generate({ model: 'llama3.2', prompt: PROMPT }, { signal: ac.signal })
      await s.logger.waitFor(/holding request open/)
      ac.abort()
      const e = await ollamaError(p)
      expect(e.code).to.equal('OLLAMA_ABORTED')
      expect(e.status).to.equal(undefined)
    })

    it('an abort in the middle of a stream -> OLLAMA_ABORTED', async () => {
      const s = await start()
      const client = new OllamaClient({ baseUrl: s.url })
      const ac = new AbortController()
      const seen: string[] = []
      const e = await ollamaError(client.generate({ model: 'llama3.2', prompt: PROMPT }, {
        signal: ac.signal,
        onToken: t => { seen.push(t); if (seen.length === 3) ac.abort() },
      }))
      expect(e.code).to.equal('OLLAMA_ABORTED')
      expect(seen.length).to.be.at.least(3)
    })

    it('hang: timeoutMs ends the call with OLLAMA_ABORTED', async () => {
      const s = await start({ hang: true })
      const client = new OllamaClient({ baseUrl: s.url, timeoutMs: 100 })
      const e = await ollamaError(client.generate({ model: 'llama3.2', prompt: PROMPT }))
      expect(e.code).to.equal('OLLAMA_ABORTED')
      expect(e.message).to.match(/timed out after 100 ms/)
    })

    it('hang: close() ends hanging requests and returns promptly', async () => {
      const s = await start({ hang: true })
      const client = new OllamaClient({ baseUrl: s.url })
      const pending = [
        client.generate({ model: 'llama3.2', prompt: PROMPT }),
        rejection(fetch(`${s.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] }) })),
      ]
      const e0 = ollamaError(pending[0]!)
      await s.logger.waitFor(/holding request open/, 2)
      const t0 = Date.now()
      await s.close()
      expect(Date.now() - t0).to.be.below(1000)
      const e = await e0
      expect(e.code).to.equal('OLLAMA_UNREACHABLE') // connection dropped before any answer
      expect(await pending[1]).to.be.instanceOf(Error)
    })
  })

  describe('OllamaClient failures', () => {
    it('unreachable port -> OLLAMA_UNREACHABLE', async () => {
      const port = await new Promise<number>((resolve, reject) => {
        const srv = net.createServer()
        srv.once('error', reject)
        srv.listen(0, '127.0.0.1', () => {
          const p = (srv.address() as AddressInfo).port
          srv.close(() => resolve(p))
        })
      })
      const client = new OllamaClient({ baseUrl: `http://127.0.0.1:${port}` })
      const e = await ollamaError(client.generate({ model: 'llama3.2', prompt: PROMPT }))
      expect(e.code).to.equal('OLLAMA_UNREACHABLE')
      expect(e.message).to.match(/ECONNREFUSED/)
      expect((await ollamaError(client.version())).code).to.equal('OLLAMA_UNREACHABLE')
      expect((await ollamaError(client.tags())).code).to.equal('OLLAMA_UNREACHABLE')
    })

    it('an already-aborted signal -> OLLAMA_ABORTED', async () => {
      const s = await start()
      const client = new OllamaClient({ baseUrl: s.url })
      const e = await ollamaError(client.generate({ model: 'llama3.2', prompt: PROMPT }, { signal: AbortSignal.abort() }))
      expect(e.code).to.equal('OLLAMA_ABORTED')
    })

    describe('against a misbehaving server', () => {
      let url: string
      let seenBodies: Json[] = []
      let srv: http.Server
      const scripts: Record<string, string> = {
        '/nodone': '{"model":"m","created_at":"x","response":"Hel","done":false}\n{"model":"m","created_at":"x","response":"lo","done":false}\n',
        '/notjson': '{"model":"m","created_at":"x","response":"Hel","done":false}\nthis is not json\n',
        '/errline': '{"model":"m","created_at":"x","response":"Hel","done":false}\n{"error":"an error was encountered while running the model: unexpected EOF"}\n',
        '/nonl': '{"model":"m","created_at":"x","response":"Hi","done":false}\n{"model":"m","created_at":"x","response":"","done":true,"done_reason":"stop","prompt_eval_count":2,"eval_count":1,"total_duration":2000000}',
        '/split': '{"model":"m","created_at":"x","response":"\u00e9t\u00e9","done":false}\n{"model":"m","created_at":"x","response":"","done":true,"eval_count":1}\n',
      }
      before(async () => {
        srv = http.createServer((req, res) => {
          const chunks: Buffer[] = []
          req.on('data', c => chunks.push(c))
          req.on('end', () => {
            seenBodies.push(JSON.parse(Buffer.concat(chunks).toString()))
            const prefix = (req.url ?? '').replace(/\/api\/generate$/, '')
            const script = scripts[prefix]
            if (script === undefined) { res.writeHead(502, { 'content-type': 'text/html' }); res.end('<html>bad gateway</html>'); return }
            res.writeHead(200, { 'content-type': 'application/x-ndjson' })
            if (prefix === '/split') {
              // cut inside a multi-byte character and inside a line
              const buf = Buffer.from(script)
              const cut = buf.indexOf(0xc3) + 1
              res.write(buf.subarray(0, cut))
              setImmediate(() => res.end(buf.subarray(cut)))
              return
            }
            res.end(script)
          })
        })
        await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
        url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
      })
      after(async () => {
        srv.closeAllConnections()
        await new Promise<void>(resolve => srv.close(() => resolve()))
      })

      const gen = (prefix: string) => new OllamaClient({ baseUrl: url + prefix }).generate({ model: 'exact/model:tag', prompt: 'p', options: { seed: 9 } })

      it('sends exactly the model asked, with stream:true', async () => {
        seenBodies = []
        await gen('/nonl')
        expect(seenBodies).to.deep.equal([{ model: 'exact/model:tag', prompt: 'p', stream: true, options: { seed: 9 } }])
      })

      it('a stream without done:true -> OLLAMA_PROTOCOL', async () => {
        expect((await ollamaError(gen('/nodone'))).code).to.equal('OLLAMA_PROTOCOL')
      })

      it('a line that is not JSON -> OLLAMA_PROTOCOL', async () => {
        expect((await ollamaError(gen('/notjson'))).code).to.equal('OLLAMA_PROTOCOL')
      })

      it('an {"error"} line inside the stream -> OLLAMA_HTTP with its message', async () => {
        const e = await ollamaError(gen('/errline'))
        expect(e.code).to.equal('OLLAMA_HTTP')
        expect(e.message).to.equal('an error was encountered while running the model: unexpected EOF')
      })

      it('accepts a final line without a trailing newline', async () => {
        const { firstTokenMs, ...r } = await gen('/nonl')
        expect(r).to.deep.equal({ response: 'Hi', promptTokens: 2, completionTokens: 1, totalDurationMs: 2, doneReason: 'stop' })
        expect(firstTokenMs).to.be.a('number').and.at.least(0)
      })

      it('reassembles lines and UTF-8 split across chunks; missing counters are 0', async () => {
        const { firstTokenMs: _t, ...r } = await gen('/split')
        expect(r).to.deep.equal({ response: 'été', promptTokens: 0, completionTokens: 1, totalDurationMs: 0 })
      })

      it('a non-JSON error page -> OLLAMA_HTTP with the status', async () => {
        const e = await ollamaError(gen('/other'))
        expect(e.code).to.equal('OLLAMA_HTTP')
        expect(e.status).to.equal(502)
        expect(e.message).to.match(/HTTP 502/)
      })
    })
  })
})
