// OllamaClient: the miner's Ollama client, a thin wrapper over the official `ollama` npm package
// (GET /api/version, GET /api/tags, POST /api/show, streaming POST /api/generate and /api/chat).
// The package builds the requests and parses the NDJSON streams; this wrapper gives each call a
// deadline and an AbortSignal, checks what comes back, and turns every failure into an
// OllamaError with a code.
//
// - It sends exactly the model it is asked for; it never substitutes or falls back.
// - generate() and chat() always stream (stream: true), concatenate the text pieces (calling
//   onToken for each non-empty one) and take the counters and durations from the final
//   `done: true` line.
// - Every failure is an OllamaError with a code:
//     OLLAMA_UNREACHABLE  no HTTP answer: connection refused, DNS failure, connection dropped
//                         before the response headers;
//     OLLAMA_HTTP         a non-2xx answer (status set; Ollama's {"error": ...} text kept verbatim in
//                         .message, e.g. 'model "x" not found, try pulling it first'), or an
//                         {"error": ...} line inside a 200 stream (status undefined);
//     OLLAMA_PROTOCOL     an answer that is not what Ollama sends: a line that is not a JSON object
//                         (the package would skip it, which would change the result: here it fails
//                         the call), wrongly typed fields, a stream that ends (or breaks off)
//                         without a done:true line;
//     OLLAMA_ABORTED      the caller's AbortSignal fired, or timeoutMs elapsed (message says which).
// - timeoutMs bounds each call as a whole (for generate/chat: until the final line). Default
//   300000; 0 or Infinity disables it.
import { Ollama } from 'ollama'

export type OllamaErrorCode = 'OLLAMA_UNREACHABLE' | 'OLLAMA_HTTP' | 'OLLAMA_PROTOCOL' | 'OLLAMA_ABORTED'

export class OllamaError extends Error {
  readonly code: OllamaErrorCode
  readonly status?: number
  constructor (code: OllamaErrorCode, message: string, opts: { status?: number, cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'OllamaError'
    this.code = code
    if (opts.status !== undefined) this.status = opts.status
  }
}

export interface OllamaGenerateOptions {
  temperature?: number
  num_predict?: number
  seed?: number
}

export interface ChatMessage { role: 'system' | 'user' | 'assistant', content: string }

export interface GenerateRequest {
  model: string
  prompt: string
  options?: OllamaGenerateOptions
}

export interface ChatRequest {
  model: string
  messages: ChatMessage[]
  options?: OllamaGenerateOptions
}

export interface GenerateCallOptions {
  signal?: AbortSignal
  /** Called with each non-empty piece of text as it arrives. */
  onToken?: (text: string) => void
}

export interface GenerateResult {
  /** The whole generated text. */
  response: string
  /** Ollama's prompt_eval_count (0 when Ollama omits it). */
  promptTokens: number
  /** Ollama's eval_count (0 when Ollama omits it). */
  completionTokens: number
  /** Ollama's total_duration, converted from ns to ms. */
  totalDurationMs: number
  /** Ollama's done_reason ("stop", "length", ...) when given. */
  doneReason?: string
  /** Ollama's prompt_eval_duration, eval_duration and load_duration in ms, when given. */
  promptEvalMs?: number
  evalMs?: number
  loadMs?: number
  /** Milliseconds from the request to the first non-empty piece of text, when there was one. */
  firstTokenMs?: number
}

/** A model of /api/tags as the miner lists it. */
export interface OllamaModel {
  name: string
  /** 64 lower-case hex digits, or null when Ollama gives none in that form. */
  digest: string | null
  /** details.quantization_level and details.parameter_size; null when absent or empty. */
  quantization: string | null
  parameterSize: string | null
  /** Set for a model Ollama proxies to another host (a cloud model): never listed by the miner. */
  remoteHost: string | null
}

export interface OllamaClientOptions {
  /** e.g. "http://127.0.0.1:11434"; a path prefix (reverse proxy) is kept. */
  baseUrl: string
  /** Bound on each call, in ms. Default 300000; 0 or Infinity: none. */
  timeoutMs?: number
}

const DEFAULT_TIMEOUT_MS = 300_000
const MAX_LINE_CHARS = 16 * 1024 * 1024
const NO_DONE = 'Did not receive done or success response in stream.'
const DIGEST_RE = /^[0-9a-f]{64}$/

type Json = Record<string, unknown>

function isObject (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function describe (err: unknown): string {
  const cause = (err as { cause?: { code?: string, message?: string } } | undefined)?.cause
  return cause?.code ?? cause?.message ?? (err as Error | undefined)?.message ?? String(err)
}

/** A label of /api/tags details: a non-empty string, else null. */
function label (v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null
}

/** Ollama's digest in the chain's form: 64 lower-case hex digits (a "sha256:" prefix dropped), else null. */
export function normaliseDigest (v: unknown): string | null {
  if (typeof v !== 'string') return null
  const d = v.trim().toLowerCase().replace(/^sha256:/, '')
  return DIGEST_RE.test(d) ? d : null
}

/** The context length in /api/show's model_info: "<general.architecture>.context_length", else any "*.context_length". */
export function contextLengthOf (modelInfo: unknown): number | null {
  if (!isObject(modelInfo)) return null
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0
  const arch = modelInfo['general.architecture']
  if (typeof arch === 'string') {
    const v = modelInfo[`${arch}.context_length`]
    if (ok(v)) return v
  }
  for (const [k, v] of Object.entries(modelInfo)) if (k.endsWith('.context_length') && ok(v)) return v
  return null
}

interface Call { signal: AbortSignal | undefined, timeout: AbortSignal | undefined, userSignal: AbortSignal | undefined }

export class OllamaClient {
  readonly baseUrl: string
  readonly timeoutMs: number

  constructor (opts: OllamaClientOptions) {
    if (typeof opts.baseUrl !== 'string' || !/^https?:\/\//i.test(opts.baseUrl)) {
      throw new TypeError(`OllamaClient: baseUrl must be an http(s) URL, got ${JSON.stringify(opts.baseUrl)}`)
    }
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '')
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  /** Ollama's version string (GET /api/version). */
  async version (): Promise<string> {
    const body = await this.json(async o => await o.version(), '/api/version')
    if (typeof body.version !== 'string') throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama /api/version answer has no "version" string')
    return body.version
  }

  /** Names of the locally available models (GET /api/tags), e.g. ["llama3.2:latest"]. */
  async tags (): Promise<string[]> {
    return (await this.models()).map(m => m.name)
  }

  /** The models of GET /api/tags with their digest, quantization, parameter size and remote host. */
  async models (): Promise<OllamaModel[]> {
    const body = await this.json(async o => await o.list(), '/api/tags')
    const models = body.models ?? []
    if (!Array.isArray(models)) throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama /api/tags answer: "models" is not an array')
    return models.map((m: unknown) => {
      if (!isObject(m) || typeof m.name !== 'string') throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama /api/tags answer: a model has no "name" string')
      const details = isObject(m.details) ? m.details : {}
      return { name: m.name, digest: normaliseDigest(m.digest), quantization: label(details.quantization_level), parameterSize: label(details.parameter_size), remoteHost: label(m.remote_host) }
    })
  }

  /** POST /api/show of a model: its context length (null when model_info does not say). */
  async show (model: string): Promise<{ contextLength: number | null }> {
    const body = await this.json(async o => await o.show({ model }), '/api/show')
    return { contextLength: contextLengthOf(body.model_info) }
  }

  /** Streaming completion (POST /api/generate, stream: true) of exactly `req.model`. */
  async generate (req: GenerateRequest, opts: GenerateCallOptions = {}): Promise<GenerateResult> {
    const payload: { model: string, prompt: string, stream: true, options?: OllamaGenerateOptions } = { model: req.model, prompt: req.prompt, stream: true }
    if (req.options !== undefined) payload.options = req.options
    return await this.stream(opts, async o => await o.generate(payload), part => part.response, '"response"')
  }

  /** Streaming chat (POST /api/chat, stream: true) of exactly `req.model`; the text is the assistant message's content. */
  async chat (req: ChatRequest, opts: GenerateCallOptions = {}): Promise<GenerateResult> {
    const payload: { model: string, messages: ChatMessage[], stream: true, options?: OllamaGenerateOptions } = { model: req.model, messages: req.messages.map(m => ({ role: m.role, content: m.content })), stream: true }
    if (req.options !== undefined) payload.options = req.options
    return await this.stream(opts, async o => await o.chat(payload), part => isObject(part.message) ? part.message.content : undefined, '"message.content"')
  }

  // --- plumbing -------------------------------------------------------------------------------

  private async stream (
    opts: GenerateCallOptions,
    open: (o: Ollama) => Promise<AsyncIterable<unknown> & { abort: () => void }>,
    piece: (part: Json) => unknown,
    what: string,
  ): Promise<GenerateResult> {
    const call = this.begin(opts.signal)
    const t0 = performance.now()
    let it: AsyncIterable<unknown> & { abort: () => void }
    try {
      it = await open(this.ollamaFor(call))
    } catch (e) {
      throw this.failure(call, e, 'connect')
    }
    let text = ''
    let firstTokenMs: number | undefined
    let final: Json | undefined
    try {
      for await (const part of it) {
        if (!isObject(part)) throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama stream line is not a JSON object')
        const p = piece(part)
        if (p !== undefined && typeof p !== 'string') throw new OllamaError('OLLAMA_PROTOCOL', `Ollama stream line: ${what} is not a string`)
        if (typeof p === 'string' && p !== '') {
          text += p
          firstTokenMs ??= Math.max(0, Math.round(performance.now() - t0))
          opts.onToken?.(p)
        }
        // An abort (e.g. from onToken) wins over lines that are already buffered.
        if (call.signal?.aborted === true) throw this.failure(call, call.signal.reason, 'stream')
        if (part.done === true) { final = part; break }
      }
    } catch (e) {
      throw this.streamFailure(call, e)
    } finally {
      if (final === undefined) it.abort()
    }
    if (final === undefined) throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama stream ended without a done:true line')

    const f: Json = final
    const num = (key: string): number | undefined => {
      const v = f[key]
      if (v === undefined || v === null) return undefined
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new OllamaError('OLLAMA_PROTOCOL', `Ollama final line: "${key}" is not a number`)
      return v
    }
    const ms = (key: string): number | undefined => { const v = num(key); return v === undefined ? undefined : Math.round(v / 1e6) }
    const result: GenerateResult = {
      response: text,
      promptTokens: num('prompt_eval_count') ?? 0,
      completionTokens: num('eval_count') ?? 0,
      totalDurationMs: (num('total_duration') ?? 0) / 1e6,
    }
    if (typeof f.done_reason === 'string') result.doneReason = f.done_reason
    const promptEvalMs = ms('prompt_eval_duration')
    const evalMs = ms('eval_duration')
    const loadMs = ms('load_duration')
    if (promptEvalMs !== undefined) result.promptEvalMs = promptEvalMs
    if (evalMs !== undefined) result.evalMs = evalMs
    if (loadMs !== undefined) result.loadMs = loadMs
    if (firstTokenMs !== undefined) result.firstTokenMs = firstTokenMs
    return result
  }

  /** A JSON answer of a non-streaming call, as an object. */
  private async json (fn: (o: Ollama) => Promise<unknown>, path: string): Promise<Json> {
    const call = this.begin()
    let body: unknown
    try {
      body = await fn(this.ollamaFor(call))
    } catch (e) {
      if (e instanceof SyntaxError) throw new OllamaError('OLLAMA_PROTOCOL', `Ollama ${path} answer is not JSON: ${e.message}`)
      throw this.failure(call, e, 'stream')
    }
    if (!isObject(body)) throw new OllamaError('OLLAMA_PROTOCOL', `Ollama ${path} answer is not a JSON object`)
    return body
  }

  /** The package's client for one call: its fetch carries the call's signal, and fails non-2xx answers and malformed lines with OllamaErrors. */
  private ollamaFor (call: Call): Ollama {
    const guarded = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const signals = [init?.signal ?? undefined, call.signal].filter((s): s is AbortSignal => s !== undefined)
      let res: Response
      try {
        res = await fetch(input, { ...init, signal: signals.length === 0 ? null : signals.length === 1 ? signals[0] : AbortSignal.any(signals) })
      } catch (e) {
        throw this.failure(call, e, 'connect')
      }
      if (!res.ok) throw await this.httpError(call, res)
      if (res.body === null || !/ndjson/i.test(res.headers.get('content-type') ?? '')) return res
      return new Response(res.body.pipeThrough(lineGuard()), { status: res.status, statusText: res.statusText, headers: res.headers })
    }
    return new Ollama({ host: this.baseUrl, fetch: guarded })
  }

  private begin (userSignal?: AbortSignal): Call {
    const timeout = this.timeoutMs > 0 && Number.isFinite(this.timeoutMs) ? AbortSignal.timeout(this.timeoutMs) : undefined
    const signals = [userSignal, timeout].filter((s): s is AbortSignal => s !== undefined)
    const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals)
    return { signal, timeout, userSignal }
  }

  private failure (call: Call, err: unknown, phase: 'connect' | 'stream'): OllamaError {
    if (err instanceof OllamaError) return err
    if (call.userSignal?.aborted === true) return new OllamaError('OLLAMA_ABORTED', 'Ollama request aborted', { cause: err })
    if (call.timeout?.aborted === true) return new OllamaError('OLLAMA_ABORTED', `Ollama request timed out after ${this.timeoutMs} ms`, { cause: err })
    if (phase === 'connect') {
      // Errors of the package itself before a stream (no body): not what Ollama sends.
      if (err instanceof Error && err.constructor === Error) return new OllamaError('OLLAMA_PROTOCOL', `Ollama answer: ${err.message}`, { cause: err })
      return new OllamaError('OLLAMA_UNREACHABLE', `cannot reach Ollama at ${this.baseUrl}: ${describe(err)}`, { cause: err })
    }
    return new OllamaError('OLLAMA_PROTOCOL', `Ollama stream broke off before a done:true line: ${describe(err)}`, { cause: err })
  }

  /** An error while reading a stream. The package throws a plain Error for an {"error"} line and for a stream without done:true. */
  private streamFailure (call: Call, err: unknown): OllamaError {
    if (err instanceof OllamaError) return err
    if (call.signal?.aborted === true) return this.failure(call, err, 'stream')
    if (err instanceof Error && err.constructor === Error) {
      if (err.message === NO_DONE) return new OllamaError('OLLAMA_PROTOCOL', 'Ollama stream ended without a done:true line')
      return new OllamaError('OLLAMA_HTTP', err.message)
    }
    return this.failure(call, err, 'stream')
  }

  /** A non-2xx answer as OLLAMA_HTTP, with Ollama's {"error"} text when it sent one. */
  private async httpError (call: Call, res: Response): Promise<OllamaError> {
    let text = ''
    try { text = await res.text() } catch (e) {
      const f = this.failure(call, e, 'stream')
      if (f.code === 'OLLAMA_ABORTED') return f
    }
    let message = `Ollama answered HTTP ${res.status}${text.trim() !== '' ? `: ${text.trim().slice(0, 300)}` : ''}`
    try {
      const body: unknown = JSON.parse(text)
      if (isObject(body) && body.error !== undefined) message = typeof body.error === 'string' ? body.error : JSON.stringify(body.error)
    } catch { /* not JSON: keep the generic message */ }
    return new OllamaError('OLLAMA_HTTP', message, { status: res.status })
  }
}

/**
 * Passes an NDJSON body through unchanged, but errors it (OLLAMA_PROTOCOL) at a line that is not
 * a JSON object or is longer than MAX_LINE_CHARS: the package would skip such a line silently.
 */
function lineGuard (): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder()
  let buf = ''
  const check = (line: string): void => {
    const t = line.trim()
    if (t === '') return
    let v: unknown
    try { v = JSON.parse(t) } catch { throw new OllamaError('OLLAMA_PROTOCOL', `Ollama stream line is not JSON: ${t.slice(0, 200)}`) }
    if (!isObject(v)) throw new OllamaError('OLLAMA_PROTOCOL', `Ollama stream line is not a JSON object: ${t.slice(0, 200)}`)
  }
  return new TransformStream({
    transform (chunk, controller) {
      buf += decoder.decode(chunk, { stream: true })
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        check(buf.slice(0, nl))
        buf = buf.slice(nl + 1)
      }
      if (buf.length > MAX_LINE_CHARS) throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama stream line too long')
      controller.enqueue(chunk)
    },
    flush () { check(buf + decoder.decode()) },
  })
}
