// OllamaClient: a minimal HTTP client of Ollama's API (GET /api/version, GET /api/tags,
// streaming POST /api/generate) on Node's global fetch (undici).
//
// - It sends exactly the model it is asked for; it never substitutes or falls back.
// - generate() always streams (stream: true), reads the NDJSON answer line by line, concatenates
//   `response` (calling onToken for each non-empty piece) and takes the counters from the final
//   `done: true` line.
// - Every failure is an OllamaError with a code:
//     OLLAMA_UNREACHABLE  no HTTP answer: connection refused, DNS failure, connection dropped
//                         before the response headers;
//     OLLAMA_HTTP         a non-2xx answer (status set; Ollama's {"error": ...} text kept verbatim in
//                         .message, e.g. 'model "x" not found, try pulling it first'), or an
//                         {"error": ...} line inside a 200 stream (status undefined);
//     OLLAMA_PROTOCOL     an answer that is not what Ollama sends: a line that is not a JSON object,
//                         wrongly typed fields, a stream that ends (or breaks off) without a
//                         done:true line;
//     OLLAMA_ABORTED      the caller's AbortSignal fired, or timeoutMs elapsed (message says which).
// - timeoutMs bounds each call as a whole (for generate: until the final line). Default 300000;
//   0 or Infinity disables it.

export type OllamaErrorCode = 'OLLAMA_UNREACHABLE' | 'OLLAMA_HTTP' | 'OLLAMA_PROTOCOL' | 'OLLAMA_ABORTED'

export class OllamaError extends Error {
  readonly code: OllamaErrorCode
  readonly status?: number
  constructor(code: OllamaErrorCode, message: string, opts: { status?: number; cause?: unknown } = {}) {
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

export interface GenerateRequest {
  model: string
  prompt: string
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
}

export interface OllamaClientOptions {
  /** e.g. "http://127.0.0.1:11434"; a path prefix (reverse proxy) is kept. */
  baseUrl: string
  /** Bound on each call, in ms. Default 300000; 0 or Infinity: none. */
  timeoutMs?: number
}

const DEFAULT_TIMEOUT_MS = 300_000
const MAX_LINE_CHARS = 16 * 1024 * 1024

type Json = Record<string, unknown>

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } } | undefined)?.cause
  return cause?.code ?? cause?.message ?? (err as Error | undefined)?.message ?? String(err)
}

export class OllamaClient {
  readonly baseUrl: string
  readonly timeoutMs: number

  constructor(opts: OllamaClientOptions) {
    if (typeof opts.baseUrl !== 'string' || !/^https?:\/\//i.test(opts.baseUrl)) {
      throw new TypeError(`OllamaClient: baseUrl must be an http(s) URL, got ${JSON.stringify(opts.baseUrl)}`)
    }
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '')
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  /** Ollama's version string (GET /api/version). */
  async version(): Promise<string> {
    const body = await this.getJson('/api/version')
    if (typeof body.version !== 'string') throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama /api/version answer has no "version" string')
    return body.version
  }

  /** Names of the locally available models (GET /api/tags), e.g. ["llama3.2:latest"]. */
  async tags(): Promise<string[]> {
    const body = await this.getJson('/api/tags')
    const models = body.models ?? []
    if (!Array.isArray(models)) throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama /api/tags answer: "models" is not an array')
    return models.map((m: unknown) => {
      if (!isObject(m) || typeof m.name !== 'string') throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama /api/tags answer: a model has no "name" string')
      return m.name
    })
  }

  /** Streaming completion (POST /api/generate, stream: true) of exactly `req.model`. */
  async generate(req: GenerateRequest, opts: GenerateCallOptions = {}): Promise<GenerateResult> {
    const payload: Json = { model: req.model, prompt: req.prompt, stream: true }
    if (req.options !== undefined) payload.options = req.options
    const call = this.begin(opts.signal)
    const res = await this.send(call, '/api/generate', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify(payload),
    })
    if (!res.body) throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama /api/generate answered without a body')

    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    let buf = ''
    let text = ''
    let final: Json | undefined
    // Returns true on the done:true line.
    const onLine = (line: string): boolean => {
      let obj: unknown
      try { obj = JSON.parse(line) } catch {
        throw new OllamaError('OLLAMA_PROTOCOL', `Ollama stream line is not JSON: ${line.slice(0, 200)}`)
      }
      if (!isObject(obj)) throw new OllamaError('OLLAMA_PROTOCOL', `Ollama stream line is not a JSON object: ${line.slice(0, 200)}`)
      if (obj.error !== undefined) {
        throw new OllamaError('OLLAMA_HTTP', typeof obj.error === 'string' ? obj.error : JSON.stringify(obj.error))
      }
      if (obj.response !== undefined && typeof obj.response !== 'string') {
        throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama stream line: "response" is not a string')
      }
      if (typeof obj.response === 'string' && obj.response !== '') {
        text += obj.response
        opts.onToken?.(obj.response)
      }
      // An abort (e.g. from onToken) wins over lines that are already buffered.
      if (call.signal?.aborted) throw this.failure(call, call.signal.reason, 'stream')
      if (obj.done === true) { final = obj; return true }
      return false
    }
    try {
      reading: for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>
        try { chunk = await reader.read() } catch (e) { throw this.failure(call, e, 'stream') }
        if (chunk.done) {
          const rest = (buf + decoder.decode()).trim()
          if (rest !== '') onLine(rest)
          break
        }
        buf += decoder.decode(chunk.value, { stream: true })
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim()
          buf = buf.slice(nl + 1)
          if (line !== '' && onLine(line)) break reading
        }
        if (buf.length > MAX_LINE_CHARS) throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama stream line too long')
      }
    } finally {
      reader.cancel().catch(() => {})
    }
    if (!final) throw new OllamaError('OLLAMA_PROTOCOL', 'Ollama stream ended without a done:true line')

    const f: Json = final
    const count = (key: string): number => {
      const v = f[key]
      if (v === undefined || v === null) return 0
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new OllamaError('OLLAMA_PROTOCOL', `Ollama final line: "${key}" is not a number`)
      return v
    }
    const result: GenerateResult = {
      response: text,
      promptTokens: count('prompt_eval_count'),
      completionTokens: count('eval_count'),
      totalDurationMs: count('total_duration') / 1e6,
    }
    if (typeof f.done_reason === 'string') result.doneReason = f.done_reason
    return result
  }

  // --- plumbing -------------------------------------------------------------------------------

  private begin(userSignal?: AbortSignal) {
    const timeout = this.timeoutMs > 0 && Number.isFinite(this.timeoutMs) ? AbortSignal.timeout(this.timeoutMs) : undefined
    const signals = [userSignal, timeout].filter((s): s is AbortSignal => s !== undefined)
    const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals)
    return { signal, timeout, userSignal }
  }

  private failure(call: ReturnType<OllamaClient['begin']>, err: unknown, phase: 'connect' | 'stream'): OllamaError {
    if (err instanceof OllamaError) return err
    if (call.userSignal?.aborted) return new OllamaError('OLLAMA_ABORTED', 'Ollama request aborted', { cause: err })
    if (call.timeout?.aborted) return new OllamaError('OLLAMA_ABORTED', `Ollama request timed out after ${this.timeoutMs} ms`, { cause: err })
    if (phase === 'connect') return new OllamaError('OLLAMA_UNREACHABLE', `cannot reach Ollama at ${this.baseUrl}: ${describe(err)}`, { cause: err })
    return new OllamaError('OLLAMA_PROTOCOL', `Ollama stream broke off before a done:true line: ${describe(err)}`, { cause: err })
  }

  /** fetch + status check; a non-2xx answer becomes OLLAMA_HTTP with Ollama's error text. */
  private async send(call: ReturnType<OllamaClient['begin']>, path: string, init: RequestInit): Promise<Response> {
    let res: Response
    try {
      res = await fetch(this.baseUrl + path, { ...init, signal: call.signal ?? null })
    } catch (e) {
      throw this.failure(call, e, 'connect')
    }
    if (res.ok) return res
    let text = ''
    try { text = await res.text() } catch (e) {
      const f = this.failure(call, e, 'stream')
      if (f.code === 'OLLAMA_ABORTED') throw f
    }
    let message = `Ollama answered HTTP ${res.status}${text.trim() ? `: ${text.trim().slice(0, 300)}` : ''}`
    try {
      const body: unknown = JSON.parse(text)
      if (isObject(body) && body.error !== undefined) message = typeof body.error === 'string' ? body.error : JSON.stringify(body.error)
    } catch { /* not JSON: keep the generic message */ }
    throw new OllamaError('OLLAMA_HTTP', message, { status: res.status })
  }

  private async getJson(path: string): Promise<Json> {
    const call = this.begin()
    const res = await this.send(call, path, { method: 'GET', headers: { accept: 'application/json' } })
    let text: string
    try { text = await res.text() } catch (e) { throw this.failure(call, e, 'stream') }
    let body: unknown
    try { body = JSON.parse(text) } catch {
      throw new OllamaError('OLLAMA_PROTOCOL', `Ollama ${path} answer is not JSON: ${text.slice(0, 200)}`)
    }
    if (!isObject(body)) throw new OllamaError('OLLAMA_PROTOCOL', `Ollama ${path} answer is not a JSON object`)
    return body
  }
}
