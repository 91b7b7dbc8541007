// stream: true: the answer as OpenAI SSE chunks. After the job is in a block and assigned, the
// gateway reads the assigned miner's live tokens (minerStream.ts) and relays each as a chunk; it
// ends the stream only when the job is final on chain and the text streamed hashes to the job's
// result_hash: then the chunk with finish_reason, the usage chunk (stream_options.include_usage)
// and `data: [DONE]`. If the miner cannot be reached, the final result goes out in chunks; if what
// the miner streamed is a prefix of the final result the rest follows; otherwise (or the job did
// not complete) an error chunk {"error": {...}} ends the stream.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sha256, toHex, utf8Bytes, type Logger } from '../../node/client.ts'
import { FINAL_STATUSES, type Gateway, type SubmittedJob } from './gateway.ts'
import { GatewayError, toGatewayError } from './openAiError.ts'
import { readMinerStreamWhenReady, streamUrl } from '../../node/minerStream.ts'
import { chunkText, sseData, SSE_DONE } from './sse.ts'
import { usageOf } from './routes.ts'

export type StreamKind = 'chat' | 'text'

export interface StreamRequest { kind: StreamKind, submitted: SubmittedJob, includeUsage: boolean, deadline: number, reply: FastifyReply, req: FastifyRequest }

/** Chunks of one stream, in OpenAI's shapes. */
export class ChunkMaker {
  constructor (private readonly kind: StreamKind, private readonly s: Pick<SubmittedJob, 'jobId' | 'model' | 'createdS'>) {}

  private base (): Record<string, unknown> {
    return this.kind === 'chat'
      ? { id: `chatcmpl-${this.s.jobId}`, object: 'chat.completion.chunk', created: this.s.createdS, model: this.s.model }
      : { id: `cmpl-${this.s.jobId}`, object: 'text_completion', created: this.s.createdS, model: this.s.model }
  }

  role (): Record<string, unknown> { return { ...this.base(), choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] } }

  text (t: string): Record<string, unknown> {
    return this.kind === 'chat'
      ? { ...this.base(), choices: [{ index: 0, delta: { content: t }, logprobs: null, finish_reason: null }] }
      : { ...this.base(), choices: [{ index: 0, text: t, logprobs: null, finish_reason: null }] }
  }

  finish (reason: string): Record<string, unknown> {
    return this.kind === 'chat'
      ? { ...this.base(), choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: reason }] }
      : { ...this.base(), choices: [{ index: 0, text: '', logprobs: null, finish_reason: reason }] }
  }

  usage (u: ReturnType<typeof usageOf>): Record<string, unknown> { return { ...this.base(), choices: [], usage: u } }
}

export async function streamJob (r: StreamRequest, m: { gateway: Gateway, logger: Logger, onStream?: (source: 'miner' | 'chain' | 'error') => void }): Promise<void> {
  const { reply, submitted: s } = r
  const chunks = new ChunkMaker(r.kind, s)
  reply.hijack()
  const raw = reply.raw
  raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-aitbc-job-id': s.jobId })
  const closed = new AbortController()
  raw.once('close', () => { closed.abort() })
  const send = (v: unknown): void => { if (!raw.writableEnded && !raw.destroyed) raw.write(typeof v === 'string' ? v : sseData(v)) }
  const fail = (e: unknown): void => {
    m.onStream?.('error')
    const g = toGatewayError(e)
    send({ error: g.body().error })
    send(SSE_DONE)
    raw.end()
  }
  try {
    if (r.kind === 'chat') send(chunks.role())
    const job0 = await m.gateway.waitFor(s.jobId, r.deadline, j => j.miner !== null || FINAL_STATUSES.has(j.status), closed.signal)
    let streamed = ''
    const url = job0.miner === null ? null : streamUrl((await m.gateway.activeMiners().then(ms => ms.find(x => x.address === job0.miner)?.endpoint ?? null, () => null)), s.jobId)
    let how = 'no endpoint listed'
    // Even when the job is already final: the miner keeps its tokens a while after (a late reader misses nothing).
    let live = false
    if (url !== null) {
      const { id: chainId } = await m.gateway.chainId()
      const end = await readMinerStreamWhenReady(url, s.signer.key, chainId, s.jobId, r.deadline, t => {
        if (t === '') return
        streamed += t
        send(chunks.text(t))
      }, async () => { const j = await m.gateway.job(s.jobId).catch(() => undefined); return j !== undefined && !FINAL_STATUSES.has(j.status) }, closed.signal)
      live = end.kind === 'end'
      how = end.kind === 'end' ? 'streamed' : `${end.kind}: ${end.why}`
      if (end.kind !== 'end') m.logger.warn({ job_id: s.jobId, miner: job0.miner, how }, 'gateway: the miner stream did not end cleanly')
    }
    const job = await m.gateway.waitFinal(s.jobId, r.deadline, closed.signal)
    const a = m.gateway.answer(job, s.signer)
    if (streamed !== a.text) {
      live = false
      if (a.text.startsWith(streamed)) {
        for (const c of chunkText(a.text.slice(streamed.length))) send(chunks.text(c))
        streamed = a.text
      } else {
        throw new GatewayError('result_mismatch', `the text the miner streamed for job ${s.jobId} is not the result on chain (${how}); read the result with GET /v1/jobs/${s.jobId}`)
      }
    }
    if (job.result_hash !== null && toHex(sha256(utf8Bytes(streamed))).toLowerCase() !== job.result_hash.toLowerCase()) {
      throw new GatewayError('result_mismatch', `the streamed text of job ${s.jobId} does not hash to its result_hash on chain`)
    }
    m.onStream?.(live && streamed === a.text && how === 'streamed' ? 'miner' : 'chain')
    send(chunks.finish(a.finishReason))
    if (r.includeUsage) send(chunks.usage(usageOf(a)))
    send(SSE_DONE)
    raw.end()
  } catch (e) {
    if (!(e instanceof GatewayError)) m.logger.error({ job_id: s.jobId, err: (e as Error).message }, 'gateway stream failed')
    fail(e)
  }
}
