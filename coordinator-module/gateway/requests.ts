// The OpenAI request bodies the gateway takes, checked field by field: every wrong or missing
// field is a 400 naming it (param), before anything is signed or charged. Fields OpenAI defines
// that a job cannot honour (n > 1, tools, logprobs, echo, suffix) are refused, not ignored; other
// unknown fields are ignored as OpenAI's SDKs send some of their own.
import { MAX_MESSAGES, type ChatMessage } from '../../node/core/txs/submitJob.ts'
import { GatewayError } from './openAiError.ts'

export interface JobRequest {
  model: string
  prompt: string
  messages: ChatMessage[] | null
  maxTokens: number | null
  temperature: number | null
  seed: number | null
  stream: boolean
  includeUsage: boolean
}

type Obj = Record<string, unknown>

function isObj (v: unknown): v is Obj { return v !== null && typeof v === 'object' && !Array.isArray(v) }

function bad (param: string, message: string, code: 'invalid_type' | 'missing_field' | 'invalid_request' | 'unsupported' = 'invalid_type'): GatewayError {
  return new GatewayError(code, message, param)
}

function optInt (b: Obj, name: string, min: number, max: number): number | null {
  const v = b[name]
  if (v === undefined || v === null) return null
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(name, `${name} must be an integer from ${min} to ${max}`)
  return v
}

function optNumber (b: Obj, name: string, min: number, max: number): number | null {
  const v = b[name]
  if (v === undefined || v === null) return null
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw bad(name, `${name} must be a number from ${min} to ${max}`)
  return v
}

function optBool (b: Obj, name: string): boolean {
  const v = b[name]
  if (v === undefined || v === null) return false
  if (typeof v !== 'boolean') throw bad(name, `${name} must be true or false`)
  return v
}

function common (b: Obj): Omit<JobRequest, 'prompt' | 'messages'> {
  const model = b.model
  if (model === undefined) throw bad('model', 'model is required (see GET /v1/models)', 'missing_field')
  if (typeof model !== 'string' || model.length === 0 || model.length > 128) throw bad('model', 'model must be a model name, e.g. "llama3.2:latest"')
  const n = optInt(b, 'n', 1, 1_000_000)
  if (n !== null && n !== 1) throw bad('n', 'n must be 1: each request is one job on the chain', 'unsupported')
  for (const f of ['tools', 'functions', 'logprobs', 'top_logprobs', 'response_format']) {
    const v = b[f]
    if (v !== undefined && v !== null && v !== false) throw bad(f, `${f} is not supported by this gateway`, 'unsupported')
  }
  const maxTokens = optInt(b, 'max_completion_tokens', 1, 1_000_000) ?? optInt(b, 'max_tokens', 1, 1_000_000)
  const temperature = optNumber(b, 'temperature', 0, 2)
  const seed = optInt(b, 'seed', 0, Number.MAX_SAFE_INTEGER)
  const stream = optBool(b, 'stream')
  let includeUsage = false
  const so = b.stream_options
  if (so !== undefined && so !== null) {
    if (!isObj(so)) throw bad('stream_options', 'stream_options must be an object')
    if (so.include_usage !== undefined && so.include_usage !== null && typeof so.include_usage !== 'boolean') throw bad('stream_options.include_usage', 'stream_options.include_usage must be true or false')
    includeUsage = so.include_usage === true
  }
  return { model, maxTokens, temperature, seed, stream, includeUsage }
}

function contentText (v: unknown, i: number): string {
  if (typeof v === 'string') return v
  if (Array.isArray(v)) {
    return v.map((p, j) => {
      if (!isObj(p) || p.type !== 'text' || typeof p.text !== 'string') throw bad(`messages[${i}].content[${j}]`, 'only text content parts ({"type": "text", "text": "..."}) are supported', 'unsupported')
      return p.text
    }).join('')
  }
  throw bad(`messages[${i}].content`, 'content must be a string or a list of text parts')
}

/** POST /v1/chat/completions. */
export function parseChatRequest (body: unknown): JobRequest {
  if (!isObj(body)) throw new GatewayError('invalid_request', 'the body must be a JSON object')
  const c = common(body)
  const msgs = body.messages
  if (msgs === undefined) throw bad('messages', 'messages is required', 'missing_field')
  if (!Array.isArray(msgs)) throw bad('messages', 'messages must be a list of {role, content}')
  if (msgs.length === 0 || msgs.length > MAX_MESSAGES) throw bad('messages', `messages must list 1 to ${MAX_MESSAGES} messages`, 'invalid_request')
  const messages: ChatMessage[] = msgs.map((m, i) => {
    if (!isObj(m)) throw bad(`messages[${i}]`, 'a message must be an object {role, content}')
    const role = m.role === 'developer' ? 'system' : m.role
    if (role !== 'system' && role !== 'user' && role !== 'assistant') throw bad(`messages[${i}].role`, 'role must be system, developer, user or assistant', typeof m.role === 'string' ? 'unsupported' : 'invalid_type')
    const content = contentText(m.content, i)
    if (content.trim() === '') throw bad(`messages[${i}].content`, 'a message is empty', 'invalid_request')
    return { role, content }
  })
  if (!messages.some(m => m.role === 'user')) throw bad('messages', 'messages must include a user message', 'invalid_request')
  return { ...c, prompt: '', messages }
}

/** POST /v1/completions (and POST /v1/jobs with {"type": "inference", "prompt", "model"}). */
export function parseCompletionRequest (body: unknown): JobRequest {
  if (!isObj(body)) throw new GatewayError('invalid_request', 'the body must be a JSON object')
  const c = common(body)
  let p = body.prompt
  if (p === undefined) throw bad('prompt', 'prompt is required', 'missing_field')
  if (Array.isArray(p)) {
    if (p.length !== 1 || typeof p[0] !== 'string') throw bad('prompt', 'prompt must be a string (or a list of one string): each request is one job', 'unsupported')
    p = p[0]
  }
  if (typeof p !== 'string') throw bad('prompt', 'prompt must be a string')
  if (p.trim() === '') throw bad('prompt', 'prompt is empty', 'invalid_request')
  if (body.echo === true) throw bad('echo', 'echo is not supported by this gateway', 'unsupported')
  if (typeof body.suffix === 'string' && body.suffix !== '') throw bad('suffix', 'suffix is not supported by this gateway', 'unsupported')
  return { ...c, prompt: p, messages: null }
}
