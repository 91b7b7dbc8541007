// The OpenAI-compatible routes of the coordinator: GET /v1/models, POST /v1/chat/completions,
// POST /v1/completions (JSON, or SSE with stream: true), in a fastify scope of their own whose
// errors take OpenAI's shape. Each request is one submit_job on the chain (gateway.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ApiKeyEntry, ApiKeyStore } from './apiKeyStore.ts'
import type { Gateway, JobAnswer, SubmittedJob } from './gateway.ts'
import { GatewayError, toGatewayError } from './openAiError.ts'
import { parseChatRequest, parseCompletionRequest, type JobRequest } from './requests.ts'
import { streamJob, type StreamKind } from './stream.ts'
import type { RateLimiter } from '../rateLimiter.ts'
import type { Logger } from '../../node/client.ts'

export interface GatewayRouteModules {
  gateway: Gateway
  keys: ApiKeyStore
  limiter: RateLimiter
  logger: Logger
  onRateLimited?: () => void
  onStream?: (source: 'miner' | 'chain' | 'error') => void
}

/** The API key of a request: "Authorization: Bearer KEY", else X-Api-Key. */
export function presentedKey (req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization
  if (typeof auth === 'string' && auth !== '') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth)
    if (m === null) throw new GatewayError('invalid_api_key', 'the Authorization header must be "Bearer KEY"')
    return m[1]
  }
  const x = req.headers['x-api-key']
  return typeof x === 'string' ? x : undefined
}

/** Authenticates a request and takes one token of its key's rate limit (401, 429). */
export function authorize (m: Pick<GatewayRouteModules, 'keys' | 'limiter' | 'onRateLimited'>, req: FastifyRequest, reply: FastifyReply): ApiKeyEntry {
  const entry = m.keys.authenticate(presentedKey(req))
  const d = m.limiter.take(entry.hash)
  void reply.header('x-ratelimit-limit-requests', String(m.limiter.perMinute)).header('x-ratelimit-remaining-requests', String(d.remaining))
  if (!d.ok) {
    m.onRateLimited?.()
    throw new GatewayError('rate_limit_exceeded', `rate limit of ${m.limiter.perMinute} requests per minute reached for this key; retry in ${d.retryAfterS} s`, null, { 'retry-after': String(d.retryAfterS) })
  }
  return entry
}

export function chatCompletion (s: SubmittedJob, a: JobAnswer): Record<string, unknown> {
  return {
    id: `chatcmpl-${s.jobId}`, object: 'chat.completion', created: s.createdS, model: s.model,
    system_fingerprint: a.job.model_digest_used,
    choices: [{ index: 0, message: { role: 'assistant', content: a.text, refusal: null }, logprobs: null, finish_reason: a.finishReason }],
    usage: usageOf(a),
    aitbc: aitbcFields(s, a),
  }
}

export function textCompletion (s: SubmittedJob, a: JobAnswer): Record<string, unknown> {
  return {
    id: `cmpl-${s.jobId}`, object: 'text_completion', created: s.createdS, model: s.model,
    system_fingerprint: a.job.model_digest_used,
    choices: [{ index: 0, text: a.text, logprobs: null, finish_reason: a.finishReason }],
    usage: usageOf(a),
    aitbc: aitbcFields(s, a),
  }
}

export function usageOf (a: Pick<JobAnswer, 'promptTokens' | 'completionTokens'>): { prompt_tokens: number, completion_tokens: number, total_tokens: number } {
  return { prompt_tokens: a.promptTokens, completion_tokens: a.completionTokens, total_tokens: a.promptTokens + a.completionTokens }
}

function aitbcFields (s: SubmittedJob, a: JobAnswer): Record<string, unknown> {
  return { job_id: s.jobId, tx_hash: s.txHash, miner: a.job.miner, receipt_id: a.job.receipt_id, cost: a.job.cost, checked: a.job.checked, verified: a.job.verified, settled_height: a.job.settled_height }
}

export function registerGatewayRoutes (app: FastifyInstance, m: GatewayRouteModules): void {
  void app.register(async (scoped) => {
    scoped.setErrorHandler((err: unknown, req, reply) => {
      const g = toGatewayError(err)
      if (g.code === 'internal_error') m.logger.error({ err: (err as Error)?.message, stack: (err as Error)?.stack, route: req.url }, 'gateway request failed')
      void reply.code(g.status).headers(g.headers).send(g.body())
    })

    scoped.get('/v1/models', async (req, reply) => {
      authorize(m, req, reply)
      const models = await m.gateway.models()
      return {
        object: 'list',
        data: models.map(x => ({ id: x.id, object: 'model', created: 0, owned_by: 'aitbc', digests: x.digests, miners: x.miners, price_in: x.price_in, price_out: x.price_out, price_per_second: x.price_per_second })),
      }
    })

    scoped.get<{ Params: { model: string } }>('/v1/models/:model', async (req, reply) => {
      authorize(m, req, reply)
      const x = (await m.gateway.models()).find(e => e.id === req.params.model)
      if (x === undefined) throw new GatewayError('model_not_found', `no active miner serves the model "${req.params.model.slice(0, 128)}"`, 'model')
      return { id: x.id, object: 'model', created: 0, owned_by: 'aitbc', digests: x.digests, miners: x.miners, price_in: x.price_in, price_out: x.price_out, price_per_second: x.price_per_second }
    })

    const handle = (kind: StreamKind, parse: (b: unknown) => JobRequest) => async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      const entry = authorize(m, req, reply)
      const r = parse(req.body)
      const s = await m.gateway.submit(entry, r)
      const deadline = Date.now() + m.gateway.opts.timeoutMs
      if (r.stream) {
        await streamJob({ kind, submitted: s, includeUsage: r.includeUsage, deadline, reply, req }, { gateway: m.gateway, logger: m.logger, onStream: m.onStream })
        return reply
      }
      const abort = new AbortController()
      // The client went away before the answer: stop waiting (the job goes on on the chain).
      reply.raw.once('close', () => { if (!reply.raw.writableFinished) abort.abort() })
      const job = await m.gateway.waitFinal(s.jobId, deadline, abort.signal)
      const a = m.gateway.answer(job, s.signer)
      return kind === 'chat' ? chatCompletion(s, a) : textCompletion(s, a)
    }

    scoped.post('/v1/chat/completions', handle('chat', parseChatRequest))
    scoped.post('/v1/completions', handle('text', parseCompletionRequest))
  })
}
