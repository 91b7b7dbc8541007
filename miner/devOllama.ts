// dev-ollama: a STAND-IN for an Ollama server, for machines (CI, laptops, devnets) without Ollama.
//
// It is NOT a language model. It speaks the subset of Ollama's HTTP API the miner uses
// (GET /api/version, GET /api/tags, POST /api/show, POST /api/generate, POST /api/chat, and
// `GET /` / `HEAD /`) with Ollama's request/response shapes, and answers with deterministic,
// sentence-like filler text. It labels itself everywhere it can:
//   - GET /api/version answers {"version":"0.0.0-aitbc-dev"}
//   - every response carries the header `X-Aitbc-Dev-Ollama: 1`
//   - /api/tags lists models with format/family "aitbc-dev", size 0 and a digest that is the
//     sha256 of "aitbc-dev-ollama:<name>" (so every dev-ollama serves a model with one digest);
//   - /api/show answers model_info with general.architecture "aitbc-dev" and
//     "aitbc-dev.context_length" 8192, and a modelfile comment that says it is a stand-in;
//   - startup logs a line saying it is a stand-in and NOT a real model
//
// Text generator: the output is a pure function of (model, prompt, seed, temperature):
//   words are drawn from a fixed vocabulary through sentence templates, by a PRNG seeded with
//   sha256(model, prompt, seed, temperature). The model name is normalised first ("llama3.2" and
//   "llama3.2:latest" are the same model). `system` and `raw` are accepted and ignored.
//   - seed defaults to 0 (so requests without a seed are reproducible too, unlike real Ollama);
//   - temperature defaults to 0.8 (Ollama's default); temperature 0 means greedy decoding, so the
//     seed is ignored, as with a real model;
//   - the natural length is about 30-50 tokens, ending with done_reason "stop";
//     options.num_predict > 0 caps the token count (done_reason "length" when it cuts);
//     num_predict <= 0 or absent means no cap (Ollama: -1 = unlimited);
//   - prompt_eval_count = number of whitespace-separated words of the prompt (at least 1); for
//     /api/chat, of all message contents together;
//   - a token is a word with its leading space (" learning") or a punctuation mark.
//   - an empty prompt (generate) or empty `messages` (chat) is Ollama's "load the model" call:
//     one object {response:"", done:true, done_reason:"load"} (chat: with an empty message).
//
// Test knobs (DevOllamaOptions), applied to generate/chat requests that passed validation
// (well-formed body, known model), in this order:
//   - failRate (0..1): deterministic by a request counter: request n (1-based) fails iff
//     floor(n * failRate) > floor((n - 1) * failRate). So 1 fails every request, 0.5 fails the 2nd,
//     4th, ..., 0.25 the 4th, 8th, ... A failure answers HTTP 500 {"error": "..."} at once.
//   - hang: the request is accepted and never answered; it is released only when the client
//     disconnects or close() is called. A log line "dev-ollama: holding request open (hang)"
//     is written when a request starts hanging (tests can wait for it instead of sleeping).
//   - latencyMs: one delay before the first token (time to first token, reported as
//     load_duration); the tokens then follow without further delay. For stream:false it delays
//     the single answer by the same amount.
//   - lie: a LYING stand-in, for tests of verification: instead of its generator's output it
//     answers at once (no latencyMs) with fixed lorem-ipsum filler of the same token count (so
//     eval_count, prompt_eval_count, done_reason and the durations look like an honest answer's),
//     as a miner that answers garbage without running the model would. Logged at startup.
//
// Errors use Ollama's shapes: unknown model -> 404 {"error":"model \"NAME\" not found, try pulling
// it first"}; malformed JSON, missing model or wrongly typed fields -> 400 {"error": "..."};
// unknown paths -> 404 "404 page not found" (plain text, like Ollama's router).

import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHash } from 'node:crypto'
import { pino } from 'pino'

export const DEV_OLLAMA_VERSION = '0.0.0-aitbc-dev'
export const DEV_OLLAMA_HEADER = 'X-Aitbc-Dev-Ollama'
const DEFAULT_MODELS = ['llama3.2:latest']
const DEFAULT_PORT = 11434
const DEFAULT_TEMPERATURE = 0.8
const MAX_BODY_BYTES = 8 * 1024 * 1024

export interface DevOllamaOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string
  /** Port; 0 picks a free one. Default 11434 (Ollama's port). */
  port?: number
  /** Model names served. Default ["llama3.2:latest"]; names without a tag get ":latest". */
  models?: string[]
  /** Delay before the first token of each generate/chat answer, in ms. Default 0. */
  latencyMs?: number
  /** Fraction (0..1) of generate/chat requests answered with HTTP 500, by a counter. Default 0. */
  failRate?: number
  /** Accept generate/chat requests and never answer them. Default false. */
  hang?: boolean
  /** Answer filler of the honest token count at once instead of the generator's text (a liar, for tests). Default false. */
  lie?: boolean
  /** Receives the startup line and test-knob events. Default: a pino logger on stdout. */
  logger?: { info(obj: object, msg?: string): void }
}

export interface DevOllamaServer {
  url: string
  port: number
  close(): Promise<void>
}

/** Ollama's model-name convention: the tag defaults to "latest". */
function normaliseModel(name: string): string {
  const slash = name.lastIndexOf('/')
  return name.indexOf(':', slash + 1) >= 0 ? name : `${name}:latest`
}

// ---------------------------------------------------------------------------------------------
// Deterministic text generator
// ---------------------------------------------------------------------------------------------

const ADJ = ['practical', 'useful', 'statistical', 'general', 'simple', 'powerful', 'modern', 'flexible',
  'careful', 'large', 'structured', 'efficient', 'robust', 'adaptive', 'complex', 'iterative',
  'probabilistic', 'distributed', 'important', 'open']
const NOUN = ['method', 'approach', 'system', 'process', 'model', 'technique', 'framework', 'field', 'tool',
  'pattern', 'algorithm', 'network', 'representation', 'signal', 'task', 'idea', 'example']
const NOUNS = ['patterns', 'examples', 'data', 'predictions', 'features', 'rules', 'results', 'signals',
  'decisions', 'inputs', 'outputs', 'parameters', 'models', 'structures', 'estimates', 'observations']
const VERBS = ['learns', 'builds', 'improves', 'extracts', 'combines', 'produces', 'finds', 'uses', 'refines',
  'describes', 'predicts', 'measures', 'explains', 'organizes']
const VERB = ['learn', 'build', 'improve', 'extract', 'combine', 'produce', 'find', 'use', 'refine',
  'describe', 'predict', 'measure', 'explain', 'organize']
const GERUND = ['learning', 'building', 'improving', 'extracting', 'combining', 'analyzing', 'comparing',
  'adjusting', 'testing', 'training']
const DET = ['the', 'each', 'every', 'a', 'one']
const PREP = ['from', 'with', 'across', 'within', 'through', 'for', 'over']
const SLOTS: Record<string, string[]> = {
  adj: ADJ, noun: NOUN, nouns: NOUNS, verbs: VERBS, verb: VERB, gerund: GERUND, det: DET, prep: PREP,
}
// The first template names the topic; the others follow. Words in braces are slots.
const TOPIC_TEMPLATE = '{Topic} is a {adj} {noun} that {verbs} {nouns} from {nouns} .'
const TEMPLATES = [
  'It {verbs} {adj} {nouns} by {gerund} {det} {adj} {noun} .',
  'In {adj} terms , {det} {noun} {verbs} {nouns} {prep} {det} {noun} .',
  'This {verbs} {nouns} to {verb} {adj} {nouns} {prep} {adj} {nouns} .',
  '{Det} {noun} {verbs} {det} {adj} {noun} and {verbs} {nouns} .',
  'Researchers often {verb} {nouns} with {adj} {nouns} .',
  'As a result , {det} {adj} {noun} can {verb} {nouns} {prep} {nouns} .',
]
const STOPWORDS = new Set(('what is are was were the a an how why who when where which does do did explain ' +
  'describe tell me about of in to please can could would should you your my i it its this that these those ' +
  'and or for on with be give write define briefly short simple simply between difference some any ' +
  'there here they them their our we us one two three paragraph sentence sentences word words detail').split(' '))

/** mulberry32: a small 32-bit PRNG, good enough for picking words. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function topicOf(text: string): string {
  const words = text.toLowerCase().replace(/[^a-z0-9\s'-]+/g, ' ').split(/\s+/)
    .filter(w => w.length > 0 && !STOPWORDS.has(w)).slice(0, 3)
  if (words.length === 0) return 'It'
  const topic = words.join(' ')
  return topic[0]!.toUpperCase() + topic.slice(1)
}

const FILLER = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'do',
  'eiusmod', 'tempor', 'incididunt', 'ut', 'labore', 'et', 'dolore', 'magna', 'aliqua']

/** The liar's answer: n tokens of lorem-ipsum filler, whatever was asked. */
export function fillerTokens(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const w = FILLER[i % FILLER.length]!
    return i === 0 ? w[0]!.toUpperCase() + w.slice(1) : ` ${w}`
  })
}

export const DEV_CONTEXT_LENGTH = 8192

export function countWords(text: string): number {
  return text.split(/\s+/).filter(w => w.length > 0).length
}

interface GenParams { model: string; prompt: string; topicSource: string; seed: number; temperature: number }

/**
 * The dev generator: the full (natural-length) token list for the inputs. Pure function of
 * (model, prompt, seed, temperature); `topicSource` is derived from the prompt by the caller.
 */
export function devTokens(p: GenParams): string[] {
  const keyInput = JSON.stringify([normaliseModel(p.model), p.prompt, p.temperature === 0 ? null : p.seed, p.temperature])
  const digest = createHash('sha256').update(keyInput).digest()
  const rand = mulberry32(digest.readUInt32BE(0))
  // Higher temperature draws from more of each (likelihood-ordered) word list.
  const spread = Math.min(1, 0.35 + p.temperature / 1.5)
  const pick = (list: string[]) => list[Math.floor(rand() * Math.max(1, Math.ceil(list.length * spread)))]!

  const words: string[] = []
  const fill = (template: string) => {
    for (const part of template.split(' ')) {
      const m = /^\{(\w+)\}$/.exec(part)
      if (!m) { words.push(part); continue }
      const slot = m[1]!
      if (slot === 'Topic') { words.push(...topicOf(p.topicSource).split(' ')); continue }
      const list = SLOTS[slot.toLowerCase()]!
      const word = pick(list)
      words.push(slot[0] === slot[0]!.toUpperCase() ? word[0]!.toUpperCase() + word.slice(1) : word)
    }
  }
  const target = 26 + Math.floor(rand() * 13)
  fill(TOPIC_TEMPLATE)
  while (words.length < target) fill(TEMPLATES[Math.floor(rand() * TEMPLATES.length)]!)

  // a/an agreement, then tokens: words carry their leading space, punctuation does not.
  const tokens: string[] = []
  for (let i = 0; i < words.length; i++) {
    let w = words[i]!
    const next = words[i + 1]
    if ((w === 'a' || w === 'A') && next && /^[aeiou]/i.test(next)) w += 'n'
    tokens.push(i === 0 || /^[.,]$/.test(w) ? w : ` ${w}`)
  }
  return tokens
}

// ---------------------------------------------------------------------------------------------
// HTTP server
// ---------------------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message) }
}

interface ParsedOptions { temperature: number; numPredict: number; seed: number }

function parseOptions(raw: unknown): ParsedOptions {
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new HttpError(400, 'options must be an object')
  }
  const o = (raw ?? {}) as Record<string, unknown>
  const num = (key: string, integer: boolean): number | undefined => {
    const v = o[key]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new HttpError(400, `option "${key}" must be ${integer ? 'an integer' : 'a number'}`)
    }
    return v
  }
  return {
    temperature: num('temperature', false) ?? DEFAULT_TEMPERATURE,
    numPredict: num('num_predict', true) ?? -1,
    seed: num('seed', true) ?? 0,
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY_BYTES) { reject(new HttpError(413, 'request body too large')); req.destroy(); return }
      chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}

function sendText(res: http.ServerResponse, status: number, text: string, head = false): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) })
  res.end(head ? undefined : text)
}

const nowNs = () => process.hrtime.bigint()

export async function startDevOllama(opts: DevOllamaOptions = {}): Promise<DevOllamaServer> {
  const host = opts.host ?? '127.0.0.1'
  const models = (opts.models ?? DEFAULT_MODELS).map(normaliseModel)
  const modelSet = new Set(models)
  const latencyMs = Math.max(0, opts.latencyMs ?? 0)
  const failRate = Math.min(1, Math.max(0, opts.failRate ?? 0))
  const hang = opts.hang ?? false
  const lie = opts.lie ?? false
  const logger = opts.logger ?? pino({ name: 'dev-ollama' })
  const startedAt = new Date().toISOString()

  let requestCounter = 0
  let closing = false
  const waiters = new Set<() => void>() // pending latency timers: calling one releases it early
  const hanging = new Set<http.ServerResponse>()

  /** Waits ms; resolves false early if the client went away or the server is closing. */
  const wait = (ms: number, res: http.ServerResponse): Promise<boolean> => {
    if (ms <= 0) return Promise.resolve(!res.destroyed && !closing)
    return new Promise(resolve => {
      const release = (ok: boolean) => {
        clearTimeout(timer); waiters.delete(cancel); res.off('close', cancel); resolve(ok)
      }
      const cancel = () => release(false)
      const timer = setTimeout(() => release(!res.destroyed && !closing), ms)
      waiters.add(cancel)
      res.on('close', cancel)
    })
  }

  const tagsBody = () => ({
    models: models.map(name => ({
      name,
      model: name,
      modified_at: startedAt,
      size: 0,
      digest: createHash('sha256').update(`aitbc-dev-ollama:${name}`).digest('hex'),
      details: detailsBody(),
    })),
  })

  function detailsBody() {
    return { parent_model: '', format: 'aitbc-dev', family: 'aitbc-dev', families: ['aitbc-dev'], parameter_size: '0B', quantization_level: 'none' }
  }

  async function handleShow(req: http.IncomingMessage, res: http.ServerResponse) {
    const raw = await readBody(req)
    let body: unknown
    try { body = JSON.parse(raw) } catch (e) { throw new HttpError(400, `invalid JSON body: ${(e as Error).message}`) }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object')
    const b = body as Record<string, unknown>
    const model = b.model ?? b.name
    if (typeof model !== 'string' || model === '') throw new HttpError(400, 'model is required')
    if (!modelSet.has(normaliseModel(model))) throw new HttpError(404, `model '${model}' not found`)
    sendJson(res, 200, {
      license: '',
      modelfile: '# aitbc dev-ollama: a STAND-IN for Ollama, NOT a real model\nFROM aitbc-dev\n',
      parameters: '',
      template: '{{ .Prompt }}',
      details: detailsBody(),
      model_info: { 'general.architecture': 'aitbc-dev', 'general.parameter_count': 0, 'aitbc-dev.context_length': DEV_CONTEXT_LENGTH },
      capabilities: ['completion'],
      modified_at: startedAt,
    })
  }

  async function handleInference(kind: 'generate' | 'chat', req: http.IncomingMessage, res: http.ServerResponse) {
    const t0 = nowNs()
    const raw = await readBody(req)
    if (raw.trim() === '') throw new HttpError(400, 'missing request body')
    let body: unknown
    try { body = JSON.parse(raw) } catch (e) { throw new HttpError(400, `invalid JSON body: ${(e as Error).message}`) }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object')
    const b = body as Record<string, unknown>
    if (b.model === undefined || b.model === null || b.model === '') throw new HttpError(400, 'model is required')
    if (typeof b.model !== 'string') throw new HttpError(400, 'model must be a string')
    const model = b.model
    const stream = b.stream !== false
    const options = parseOptions(b.options)

    // The text the generator is keyed on, what names the topic, and the prompt's word count.
    let prompt: string
    let topicSource: string
    let promptWords: number
    if (kind === 'generate') {
      if (b.prompt !== undefined && b.prompt !== null && typeof b.prompt !== 'string') throw new HttpError(400, 'prompt must be a string')
      if (b.system !== undefined && b.system !== null && typeof b.system !== 'string') throw new HttpError(400, 'system must be a string')
      prompt = (b.prompt as string | undefined) ?? ''
      topicSource = prompt
      promptWords = countWords(prompt)
    } else {
      const messages = b.messages ?? []
      if (!Array.isArray(messages)) throw new HttpError(400, 'messages must be an array')
      const msgs = messages.map((m: unknown, i) => {
        const mm = m as Record<string, unknown> | null
        if (typeof mm !== 'object' || mm === null || typeof mm.role !== 'string' || (mm.content !== undefined && typeof mm.content !== 'string')) {
          throw new HttpError(400, `messages[${i}] must be {role: string, content: string}`)
        }
        return { role: mm.role, content: (mm.content as string | undefined) ?? '' }
      })
      prompt = msgs.map(m => `${m.role}: ${m.content}`).join('\n')
      topicSource = [...msgs].reverse().find(m => m.role === 'user')?.content ?? prompt
      promptWords = msgs.reduce((n, m) => n + countWords(m.content), 0)
      if (msgs.length === 0) prompt = ''
    }

    if (!modelSet.has(normaliseModel(model))) {
      throw new HttpError(404, `model ${JSON.stringify(model)} not found, try pulling it first`)
    }

    requestCounter++
    if (Math.floor(requestCounter * failRate) > Math.floor((requestCounter - 1) * failRate)) {
      logger.info({ request: requestCounter, path: req.url, failRate }, 'dev-ollama: injected failure (failRate)')
      throw new HttpError(500, `dev-ollama: injected failure for request ${requestCounter} (failRate=${failRate})`)
    }
    if (hang) {
      hanging.add(res)
      res.on('close', () => hanging.delete(res))
      logger.info({ request: requestCounter, path: req.url }, 'dev-ollama: holding request open (hang)')
      return
    }
    const createdAt = () => new Date().toISOString()
    const wrap = (text: string): Record<string, unknown> =>
      kind === 'generate' ? { response: text } : { message: { role: 'assistant', content: text } }

    // Ollama's "load the model" call: empty prompt / no messages.
    if (prompt === '') {
      if (!(await wait(latencyMs, res))) return
      sendJson(res, 200, { model, created_at: createdAt(), ...wrap(''), done: true, done_reason: 'load' })
      return
    }

    if (!(await wait(lie ? 0 : latencyMs, res))) return
    const t1 = nowNs()
    const all = devTokens({ model, prompt, topicSource, seed: options.seed, temperature: options.temperature })
    const capped = options.numPredict > 0 && options.numPredict < all.length
    const honest = capped ? all.slice(0, options.numPredict) : all
    const tokens = lie ? fillerTokens(honest.length) : honest
    const t2 = nowNs()

    const final = (t3: bigint, text: string) => ({
      model,
      created_at: createdAt(),
      ...wrap(text),
      done: true,
      done_reason: capped ? 'length' : 'stop',
      ...(kind === 'generate' ? { context: [] } : {}),
      total_duration: Number(nowNs() - t0),
      load_duration: Number(t1 - t0),
      prompt_eval_count: Math.max(1, promptWords),
      prompt_eval_duration: Number(t2 - t1),
      eval_count: tokens.length,
      eval_duration: Number(t3 - t2),
    })

    if (!stream) {
      sendJson(res, 200, final(nowNs(), tokens.join('')))
      return
    }
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' })
    for (const tok of tokens) {
      if (res.destroyed || closing) return
      res.write(JSON.stringify({ model, created_at: createdAt(), ...wrap(tok), done: false }) + '\n')
      await new Promise<void>(r => setImmediate(r)) // let the client see tokens one by one
    }
    if (res.destroyed || closing) return
    res.end(JSON.stringify(final(nowNs(), '')) + '\n')
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    res.setHeader(DEV_OLLAMA_HEADER, '1')
    const path = new URL(req.url ?? '/', 'http://dev-ollama').pathname
    const method = req.method ?? 'GET'
    try {
      if (path === '/' && (method === 'GET' || method === 'HEAD')) {
        return sendText(res, 200, 'Ollama is running (aitbc dev-ollama stand-in, NOT a real model)', method === 'HEAD')
      }
      if (path === '/api/version' && method === 'GET') return sendJson(res, 200, { version: DEV_OLLAMA_VERSION })
      if (path === '/api/tags' && method === 'GET') return sendJson(res, 200, tagsBody())
      if (path === '/api/show' && method === 'POST') return await handleShow(req, res)
      if (path === '/api/generate' && method === 'POST') return await handleInference('generate', req, res)
      if (path === '/api/chat' && method === 'POST') return await handleInference('chat', req, res)
      return sendText(res, 404, '404 page not found')
    } catch (e) {
      if (e instanceof HttpError) return sendJson(res, e.status, { error: e.message })
      sendJson(res, 500, { error: `dev-ollama internal error: ${(e as Error).message}` })
    }
  }

  const server = http.createServer((req, res) => { void handle(req, res) })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? DEFAULT_PORT, host, () => { server.off('error', reject); resolve() })
  })
  const port = (server.address() as AddressInfo).port
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host
  const url = `http://${urlHost}:${port}`
  logger.info({ url, models, latencyMs, failRate, hang, lie, version: DEV_OLLAMA_VERSION },
    lie
      ? 'dev-ollama listening: a LYING STAND-IN for Ollama that answers lorem-ipsum filler instead of its generator\'s text (for verification tests); it is NOT a real model'
      : 'dev-ollama listening: a STAND-IN for Ollama that answers with deterministic filler text; it is NOT a real model')

  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= new Promise<void>(resolve => {
      closing = true
      for (const release of [...waiters]) release()
      server.close(() => resolve())
      for (const res of hanging) res.destroy()
      hanging.clear()
      server.closeAllConnections()
    })
    return closed
  }
  return { url, port, close }
}
