// JobRunner with a fake Ollama client and a fake clock: capacity, queue order, chat jobs, the
// deadline (too close to start, passed while queued, passed while running, answered too late:
// each ends failed "timeout", for a failed receipt before the chain's deadline), Ollama errors
// and a hard stop.
import { expect } from 'chai'
import { silentLogger } from '../../node/logger.ts'
import { JobRunner, type InferenceClient, type RunOutcome } from '../../miner/jobRunner.ts'
import type { InferenceJob } from '../../miner/inferenceJob.ts'
import { createMinerMetrics, type MinerMetrics } from '../../miner/metrics.ts'
import { OllamaError, type ChatRequest, type GenerateCallOptions, type GenerateRequest, type GenerateResult } from '../../miner/ollamaClient.ts'
import { FakeClock, flush } from '../helpers/fakeClock.ts'

interface Call { api: 'generate' | 'chat', req: GenerateRequest & Partial<ChatRequest>, signal: AbortSignal, answer: (text: string, tokens?: [number, number], extra?: Partial<GenerateResult>) => void, fail: (e: Error) => void }

/** An Ollama whose every generate/chat call waits until the test answers or fails it; an abort rejects it as Ollama's client does. */
class FakeOllama implements InferenceClient {
  readonly calls: Call[] = []
  async generate (req: GenerateRequest, opts: GenerateCallOptions): Promise<GenerateResult> { return await this.call('generate', req, opts) }
  async chat (req: ChatRequest, opts: GenerateCallOptions): Promise<GenerateResult> { return await this.call('chat', req as unknown as GenerateRequest, opts) }
  private async call (api: Call['api'], req: GenerateRequest, opts: GenerateCallOptions): Promise<GenerateResult> {
    return await new Promise<GenerateResult>((resolve, reject) => {
      const signal = opts.signal as AbortSignal
      signal.addEventListener('abort', () => reject(new OllamaError('OLLAMA_ABORTED', 'Ollama request aborted')))
      this.calls.push({
        api,
        req,
        signal,
        answer: (text, [p, c] = [3, 5], extra = {}) => resolve({ response: text, promptTokens: p, completionTokens: c, totalDurationMs: 1, ...extra }),
        fail: reject,
      })
    })
  }
}

const NO_DETAILS = { doneReason: null, promptEvalMs: null, evalMs: null, firstTokenMs: null, loadMs: null }
const TIMED_OUT = (computeMs = 0): RunOutcome => ({ kind: 'failed', error: 'timeout', computeMs })

const MARGIN = 1000
const TIMEOUT_S = 60

describe('miner JobRunner', () => {
  let clock: FakeClock
  let ollama: FakeOllama
  let metrics: MinerMetrics
  let reachability: boolean[]

  function runner (capacity: number): JobRunner {
    return new JobRunner({ capacity, deadlineMarginMs: MARGIN }, { ollama, logger: silentLogger(), metrics, clock, onOllamaReachable: r => reachability.push(r) })
  }

  let n = 0
  function job (deadlineInMs = TIMEOUT_S * 1000, over: Partial<InferenceJob> = {}): InferenceJob {
    n++
    return {
      id: `job_${n.toString(16).padStart(16, '0')}`, role: 'miner', model: 'llama3.2:latest', prompt: `prompt ${n}`, messages: null, options: { temperature: 0.5, seed: 7, num_predict: 64 },
      checked: false, assignedAt: new Date(clock.now()).toISOString(), deadlineMs: clock.now() + deadlineInMs, ...over,
    }
  }

  /** Tracks a run's promise so a test can see whether it has settled. */
  function track (p: Promise<RunOutcome>): { outcome?: RunOutcome } {
    const box: { outcome?: RunOutcome } = {}
    void p.then(o => { box.outcome = o })
    return box
  }

  async function metric (name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = (await metrics.registry.getMetricsAsJSON()).find(x => x.name === name)
    const v = m?.values.find(x => Object.entries(labels).every(([k, val]) => x.labels[k] === val))
    return Number(v?.value ?? NaN)
  }

  beforeEach(() => {
    clock = new FakeClock()
    ollama = new FakeOllama()
    metrics = createMinerMetrics()
    reachability = []
  })

  it('sends exactly the job\'s model, prompt and options; compute_ms is the call\'s time on the monotonic clock', async () => {
    const r = runner(1)
    const j = job()
    let started = false
    const p = r.run(j, { onRunning: () => { started = true } })
    await flush()
    expect(started).to.equal(true)
    expect(ollama.calls).to.have.length(1)
    expect(ollama.calls[0].api).to.equal('generate')
    expect(ollama.calls[0].req).to.deep.equal({ model: j.model, prompt: j.prompt, options: { temperature: 0.5, seed: 7, num_predict: 64 } })
    await clock.advance(1234)
    ollama.calls[0].answer('hello', [4, 9])
    expect(await p).to.deep.equal({ kind: 'completed', result: 'hello', computeMs: 1234, promptTokens: 4, completionTokens: 9, details: NO_DETAILS })
    expect(reachability).to.deep.equal([true])
    expect(await metric('aitbc_miner_tokens_total', { kind: 'prompt' })).to.equal(4)
    expect(await metric('aitbc_miner_tokens_total', { kind: 'completion' })).to.equal(9)
    expect(clock.pendingTimers, 'the deadline timer is cleared').to.equal(0)
  })

  it('runs a chat job on /api/chat with its messages and options; Ollama\'s done_reason and durations become details', async () => {
    const r = runner(1)
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'What is AI?' }]
    const p = r.run(job(undefined, { prompt: '', messages, role: 'verifier', checked: true }))
    await flush()
    expect(ollama.calls[0].api).to.equal('chat')
    expect(ollama.calls[0].req).to.deep.equal({ model: 'llama3.2:latest', messages, options: { temperature: 0.5, seed: 7, num_predict: 64 } })
    ollama.calls[0].answer('AI is...', [7, 3], { doneReason: 'stop', promptEvalMs: 12, evalMs: 30, loadMs: 2, firstTokenMs: 15.6 })
    expect(await p).to.deep.equal({
      kind: 'completed', result: 'AI is...', computeMs: 0, promptTokens: 7, completionTokens: 3,
      details: { doneReason: 'stop', promptEvalMs: 12, evalMs: 30, firstTokenMs: 15, loadMs: 2 },
    })
  })

  it('runs at most `capacity` jobs at once; the others start in order as slots free up', async () => {
    const r = runner(2)
    const jobs = [job(), job(), job(), job()]
    const runs = jobs.map(j => track(r.run(j)))
    await flush()
    expect(ollama.calls.map(c => c.req.prompt)).to.deep.equal([jobs[0].prompt, jobs[1].prompt])
    expect([r.runningCount, r.queuedCount]).to.deep.equal([2, 2])

    ollama.calls[1].answer('second')
    await flush()
    expect(runs[1].outcome?.kind).to.equal('completed')
    expect(ollama.calls.map(c => c.req.prompt)).to.deep.equal([jobs[0].prompt, jobs[1].prompt, jobs[2].prompt])
    expect([r.runningCount, r.queuedCount]).to.deep.equal([2, 1])

    ollama.calls[0].fail(new OllamaError('OLLAMA_HTTP', 'boom'))
    await flush()
    expect(ollama.calls.map(c => c.req.prompt)).to.deep.equal(jobs.map(j => j.prompt))
    expect([r.runningCount, r.queuedCount]).to.deep.equal([2, 0])
  })

  it('ends failed "timeout" at once, without calling Ollama, a job whose deadline is within the margin', async () => {
    const r = runner(1)
    expect(await r.run(job(MARGIN))).to.deep.equal(TIMED_OUT())
    expect(ollama.calls).to.have.length(0)
    expect(clock.pendingTimers).to.equal(0)
  })

  it('ends failed "timeout" a queued job whose time runs out while it waits for a slot, and keeps the running one', async () => {
    const r = runner(1)
    const long = track(r.run(job(60_000)))
    const short = track(r.run(job(10_000)))
    await clock.advance(10_000 - MARGIN - 1)
    expect(short.outcome).to.equal(undefined)
    await clock.advance(1)
    expect(short.outcome).to.deep.equal(TIMED_OUT())
    expect(ollama.calls).to.have.length(1)
    expect(ollama.calls[0].signal.aborted).to.equal(false)
    ollama.calls[0].answer('done')
    await flush()
    expect(long.outcome?.kind).to.equal('completed')
  })

  it('aborts a running job\'s Ollama call `margin` before its deadline and ends it failed "timeout"', async () => {
    const r = runner(1)
    const run = track(r.run(job(5000)))
    const next = track(r.run(job(60_000)))
    await flush()
    await clock.advance(5000 - MARGIN - 1)
    expect(ollama.calls[0].signal.aborted).to.equal(false)
    await clock.advance(1)
    expect(ollama.calls[0].signal.aborted).to.equal(true)
    expect(run.outcome).to.deep.equal(TIMED_OUT(5000 - MARGIN))
    expect(await metric('aitbc_miner_ollama_errors_total', { code: 'OLLAMA_ABORTED' }), 'an abort at the deadline is not an Ollama error').to.equal(0)
    // The freed slot goes to the next job.
    expect(ollama.calls).to.have.length(2)
    expect(next.outcome).to.equal(undefined)
  })

  it('ends failed "timeout" a job whose answer is read in the last half of the margin (its deadline timer late)', async () => {
    const r = runner(1)
    const run = track(r.run(job(5000)))
    await flush()
    clock.jump(5000 - MARGIN / 2)
    ollama.calls[0].answer('too late')
    await flush()
    expect(run.outcome).to.deep.equal(TIMED_OUT(5000 - MARGIN / 2))
  })

  it('keeps an answer that comes just before the last half of the margin', async () => {
    const r = runner(1)
    const run = track(r.run(job(5000)))
    await flush()
    clock.jump(5000 - MARGIN / 2 - 1)
    ollama.calls[0].answer('in time')
    await flush()
    expect(run.outcome?.kind).to.equal('completed')
  })

  it('turns an Ollama error into a failed outcome with Ollama\'s message, counted by code', async () => {
    const r = runner(2)
    const a = r.run(job())
    const b = r.run(job())
    await flush()
    await clock.advance(40)
    ollama.calls[0].fail(new OllamaError('OLLAMA_HTTP', 'model "x" not found, try pulling it first', { status: 404 }))
    ollama.calls[1].fail(new OllamaError('OLLAMA_UNREACHABLE', 'cannot reach Ollama at http://127.0.0.1:1: ECONNREFUSED'))
    expect(await a).to.deep.equal({ kind: 'failed', error: 'model "x" not found, try pulling it first', computeMs: 40 })
    expect(await b).to.deep.equal({ kind: 'failed', error: 'cannot reach Ollama at http://127.0.0.1:1: ECONNREFUSED', computeMs: 40 })
    expect(await metric('aitbc_miner_ollama_errors_total', { code: 'OLLAMA_HTTP' })).to.equal(1)
    expect(await metric('aitbc_miner_ollama_errors_total', { code: 'OLLAMA_UNREACHABLE' })).to.equal(1)
    expect(reachability).to.deep.equal([false])
  })

  it('an error without a message fails the job with its code', async () => {
    const r = runner(1)
    const a = r.run(job())
    await flush()
    ollama.calls[0].fail(new OllamaError('OLLAMA_PROTOCOL', ''))
    expect(await a).to.deep.include({ kind: 'failed', error: 'OLLAMA_PROTOCOL' })
  })

  it('stop(): queued jobs fail without running, running ones are aborted and fail', async () => {
    const r = runner(1)
    const running = r.run(job())
    const queued = r.run(job())
    await flush()
    await clock.advance(700)
    r.stop()
    expect(await queued).to.deep.equal({ kind: 'failed', error: 'the miner was stopped before the job started', computeMs: 0 })
    expect(await running).to.deep.equal({ kind: 'failed', error: 'the miner was stopped before the job finished', computeMs: 700 })
    expect(ollama.calls).to.have.length(1)
    expect(ollama.calls[0].signal.aborted).to.equal(true)
    expect(clock.pendingTimers).to.equal(0)
  })
})
