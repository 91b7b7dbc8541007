// The miner's listing against a fake node and TxQueue: which models it lists (never a remote one)
// and their details (digest, quantization, parameter size from /api/tags, context length from
// /api/show when it answers), the registration defaults, token prices, the update of an existing
// listing (only what changed), the stake top-up and the deactivation on stop; and the job record
// it reads from the chain.
import { expect } from 'chai'
import { silentLogger } from '../../node/logger.ts'
import { RpcClientError, type JobJSON, type MinerJSON, type TxBody } from '../../node/client.ts'
import { Listing, chooseModels, modelInfoOf, readModelsToList, sameModelInfo, type ListingOptions } from '../../miner/listing.ts'
import { MinerError } from '../../miner/minerError.ts'
import { inferenceJobFromChain, verificationJobFromChain } from '../../miner/inferenceJob.ts'
import type { OllamaModel } from '../../miner/ollamaClient.ts'
import { JobBook } from '../../miner/jobBook.ts'
import { createMinerMetrics } from '../../miner/metrics.ts'
import type { SentTx } from '../../miner/txQueue.ts'
import { flush } from '../helpers/fakeClock.ts'

const ME = 'aitbc1me'
const D1 = 'a'.repeat(64)
const D2 = 'b'.repeat(64)

function tag (name: string, over: Partial<OllamaModel> = {}): OllamaModel {
  return { name, digest: D1, quantization: 'Q4_K_M', parameterSize: '3.2B', remoteHost: null, ...over }
}

/** An Ollama with these /api/tags entries and context lengths (a model missing from `ctx` fails /api/show). */
function fakeOllama (models: OllamaModel[], ctx: Record<string, number | null> = {}) {
  const shown: string[] = []
  return {
    shown,
    models: async () => models,
    show: async (model: string) => {
      shown.push(model)
      if (!(model in ctx)) throw new Error(`model '${model}' not found`)
      return { contextLength: ctx[model] }
    },
  }
}
const PARAMS = { minMinerStake: 100_000_000n, defaultPricePerSecond: 1000n, blockTimeMs: 200 }

function minerJSON (over: Partial<MinerJSON> = {}): MinerJSON {
  return {
    address: ME, models: ['llama3.2:latest'], model_info: [{ name: 'llama3.2:latest', digest: null, quantization: null, parameter_size: null, context_length: null }],
    price_per_second: '1000', price_in: null, price_out: null, max_num_predict: null, endpoint: null, capacity: 2, stake: '100000000', locked: '0', unbonding: [], active: true, reputation: 100,
    active_jobs: 0, jobs_completed: 0, jobs_failed: 0, jobs_expired: 0, jobs_verified: 0, jobs_rejected: 0, verifications_run: 0, earned: '0', slashed: '0', registered_height: '1', ...over,
  }
}

class FakeChain {
  listing: MinerJSON | undefined
  sent: TxBody[] = []
  readonly node = {
    miner: async (address: string): Promise<MinerJSON> => {
      if (this.listing === undefined) throw new RpcClientError(`${address} is not a registered miner`)
      return this.listing
    },
  }

  readonly txs = {
    send: async (body: TxBody): Promise<SentTx> => { this.sent.push(body); return { hash: `H${this.sent.length}`, nonce: this.sent.length } },
    waitCommitted: async (): Promise<number> => 1,
  }
}

describe('miner Listing', () => {
  let chain: FakeChain
  beforeEach(() => { chain = new FakeChain() })
  const listing = (over: Partial<ListingOptions> = {}): Listing =>
    new Listing({ address: ME, nodeUrl: 'http://node', models: ['llama3.2:latest'], params: PARAMS, ...over }, { node: chain.node, txs: chain.txs, logger: silentLogger() })

  it('chooseModels: those asked that Ollama has, by Ollama\'s name (NAME means NAME:latest), or all of Ollama\'s', () => {
    const ollama = ['llama3.2:latest', 'qwen2:0.5b']
    expect(chooseModels(undefined, [...ollama, 'qwen2:0.5b'])).to.deep.equal(ollama)
    expect(chooseModels(['llama3.2', 'phi3:mini', 'qwen2:0.5b', 'llama3.2:latest'], ollama)).to.deep.equal(['llama3.2:latest', 'qwen2:0.5b'])
    expect(chooseModels(['mistral:7b'], ollama)).to.deep.equal([])
  })

  it('readModelsToList refuses when Ollama has none of the models asked for, naming what it has', async () => {
    let err: unknown
    try { await readModelsToList({ asked: ['llama3.2:latest'], ollamaUrl: 'http://ollama' }, { ollama: fakeOllama([tag('mistral:7b')]), logger: silentLogger() }) } catch (e) { err = e }
    expect(err).to.be.instanceOf(MinerError)
    expect((err as MinerError).code).to.equal('MINER_NO_MODELS')
    expect((err as Error).message).to.match(/llama3\.2:latest.*mistral:7b/)
    err = undefined
    try { await readModelsToList({ ollamaUrl: 'http://ollama' }, { ollama: { models: async () => { throw new Error('ECONNREFUSED') }, show: async () => ({ contextLength: null }) }, logger: silentLogger() }) } catch (e) { err = e }
    expect((err as MinerError).code).to.equal('MINER_OLLAMA_UNREACHABLE')
  })

  it('readModelsToList never lists a model with remote_host, even when asked for; details come from /api/tags and /api/show', async () => {
    const o = fakeOllama([tag('llama3.2:latest'), tag('gpt-oss:120b-cloud', { remoteHost: 'https://ollama.com:443', digest: D2 }), tag('qwen2:0.5b', { digest: null, quantization: null, parameterSize: '' })],
      { 'llama3.2:latest': 131072 })
    const r = await readModelsToList({ asked: ['llama3.2', 'gpt-oss:120b-cloud', 'qwen2:0.5b'], ollamaUrl: 'http://ollama' }, { ollama: o, logger: silentLogger() })
    expect(r.models).to.deep.equal(['llama3.2:latest', 'qwen2:0.5b'])
    expect(r.available).to.deep.equal(['llama3.2:latest', 'qwen2:0.5b'])
    expect(r.info).to.deep.equal([
      { name: 'llama3.2:latest', digest: D1, quantization: 'Q4_K_M', parameterSize: '3.2B', contextLength: 131072 },
      // /api/show failed: listed without a context length, never refused.
      { name: 'qwen2:0.5b', digest: null, quantization: null, parameterSize: null, contextLength: null },
    ])
    expect(o.shown).to.have.members(['llama3.2:latest', 'qwen2:0.5b'])
    let err: unknown
    try { await readModelsToList({ asked: ['gpt-oss:120b-cloud'], ollamaUrl: 'http://ollama' }, { ollama: o, logger: silentLogger() }) } catch (e) { err = e }
    expect((err as MinerError).code).to.equal('MINER_NO_MODELS')
  })

  const infoCases: Array<[string, OllamaModel, number | null, Record<string, unknown>]> = [
    ['all details', tag('m'), 8192, { digest: D1, quantization: 'Q4_K_M', parameterSize: '3.2B', contextLength: 8192 }],
    ['no digest', tag('m', { digest: null }), 8192, { digest: null }],
    ['a label longer than the chain takes', tag('m', { quantization: 'Q'.repeat(65) }), null, { quantization: null, contextLength: null }],
    ['context length 0', tag('m'), 0, { contextLength: null }],
    ['context length past the chain\'s bound', tag('m'), 100_000_001, { contextLength: null }],
    ['context length not an integer', tag('m'), 8192.5, { contextLength: null }],
  ]
  for (const [what, m, ctx, want] of infoCases) {
    it(`modelInfoOf: ${what}`, () => { expect(modelInfoOf(m, ctx)).to.deep.include({ name: 'm', ...want }) })
  }

  it('registers with the model details, token prices and max_num_predict when given', async () => {
    const info = [{ name: 'llama3.2:latest', digest: D1, quantization: 'Q4_K_M', parameterSize: '3.2B', contextLength: 131072 }]
    const l = listing({ modelInfo: info, priceIn: 100_000_000n, priceOut: 200_000_000n, maxNumPredict: 512 })
    await l.start()
    expect(chain.sent).to.deep.equal([{
      type: 'register_miner', models: ['llama3.2:latest'], pricePerSecond: 1000n, capacity: 1, stake: 100_000_000n,
      modelInfo: info, priceIn: 100_000_000n, priceOut: 200_000_000n, maxNumPredict: 512,
    }])
    expect([l.priceIn, l.priceOut, l.maxNumPredict]).to.deep.equal([100_000_000n, 200_000_000n, 512])
  })

  it('updates the model details (with the models they describe) and the token prices when they changed', async () => {
    chain.listing = minerJSON({ price_in: '5', price_out: '7', max_num_predict: 512 })
    const info = [{ name: 'llama3.2:latest', digest: D2, quantization: null, parameterSize: null, contextLength: null }]
    await listing({ modelInfo: info, priceOut: 9n }).start()
    expect(chain.sent).to.deep.equal([{ type: 'update_miner', models: ['llama3.2:latest'], pricePerSecond: null, capacity: null, active: null, modelInfo: info, priceOut: 9n }])
    chain.sent = []
    chain.listing = minerJSON({ model_info: [{ name: 'llama3.2:latest', digest: D2, quantization: null, parameter_size: null, context_length: null }], price_in: '5', price_out: '9' })
    const l = listing({ modelInfo: info, priceOut: 9n })
    await l.start()
    expect(chain.sent).to.deep.equal([])
    expect([l.priceIn, l.priceOut]).to.deep.equal([5n, 9n])
  })

  it('sameModelInfo compares every field in order', () => {
    const chainInfo = [{ name: 'a', digest: D1, quantization: 'q', parameter_size: '1B', context_length: 10 }]
    expect(sameModelInfo(chainInfo, [{ name: 'a', digest: D1, quantization: 'q', parameterSize: '1B', contextLength: 10 }])).to.equal(true)
    expect(sameModelInfo(chainInfo, [{ name: 'a', digest: D1, quantization: 'q', parameterSize: '1B', contextLength: 11 }])).to.equal(false)
    expect(sameModelInfo(chainInfo, [{ name: 'a', digest: D2, quantization: 'q', parameterSize: '1B', contextLength: 10 }])).to.equal(false)
    expect(sameModelInfo(chainInfo, [])).to.equal(false)
  })

  it('registers a new miner with min_miner_stake, the default price and capacity 1', async () => {
    const l = listing()
    await l.start()
    expect(chain.sent).to.deep.equal([{ type: 'register_miner', models: ['llama3.2:latest'], pricePerSecond: 1000n, capacity: 1, stake: 100_000_000n }])
    expect([l.capacity, l.pricePerSecond]).to.deep.equal([1, 1000n])
  })

  it('leaves an existing listing as it is when nothing asked differs, and keeps its values', async () => {
    chain.listing = minerJSON({ price_per_second: '1500', capacity: 3 })
    const l = listing()
    await l.start()
    expect(chain.sent).to.deep.equal([])
    expect([l.capacity, l.pricePerSecond]).to.deep.equal([3, 1500n])
  })

  it('updates only what changed, re-activates, and bonds the missing stake', async () => {
    chain.listing = minerJSON({ active: false, stake: '60000000', models: ['qwen2:0.5b'] })
    await listing({ capacity: 4 }).start()
    expect(chain.sent).to.deep.equal([
      { type: 'update_miner', models: ['llama3.2:latest'], pricePerSecond: null, capacity: 4, active: true },
      { type: 'stake', amount: 40_000_000n },
    ])
  })

  it('does not lower the capacity on chain below the jobs already assigned, but runs at the one asked', async () => {
    chain.listing = minerJSON({ capacity: 4, active_jobs: 3 })
    const l = listing({ capacity: 2 })
    await l.start()
    expect(chain.sent).to.deep.equal([])
    expect(l.capacity).to.equal(2)
  })

  it('stop() deactivates the listing unless told not to', async () => {
    await listing().stop()
    expect(chain.sent).to.deep.equal([{ type: 'update_miner', models: null, pricePerSecond: null, capacity: null, active: false }])
    chain.sent = []
    await listing({ deactivateOnStop: false }).stop()
    expect(chain.sent).to.deep.equal([])
  })
})

describe('miner jobs: the chain\'s job record and the job book', () => {
  it('an assigned job\'s deadline is assigned_at + job_timeout_s; Ollama gets the chain\'s seed and num_predict, and the temperature when set', () => {
    const j = {
      job_id: 'job_00000000000000aa', kind: 'prompt', model: 'llama3.2:latest', prompt: 'hi', messages: null, assigned_at: '2025-01-01T00:00:01.500Z', checked: true,
      options: { temperature: 0, num_predict: null, seed: null }, seed: 123456, num_predict: 4096, client_pubkey: 'ab'.repeat(32),
    } as unknown as JobJSON & { assigned_at: string }
    expect(inferenceJobFromChain(j, 60)).to.deep.equal({
      id: 'job_00000000000000aa', role: 'miner', model: 'llama3.2:latest', prompt: 'hi', messages: null, options: { temperature: 0, seed: 123456, num_predict: 4096 }, checked: true,
      clientKey: 'ab'.repeat(32), assignedAt: '2025-01-01T00:00:01.500Z', deadlineMs: Date.parse('2025-01-01T00:01:01.500Z'),
    })
    const noTemp = { ...j, options: { temperature: null, num_predict: 20, seed: 7 }, seed: 7, num_predict: 20, checked: false }
    expect(inferenceJobFromChain(noTemp, 60)).to.deep.include({ options: { seed: 7, num_predict: 20 }, checked: false })
  })

  it('a chat job carries its messages; a verification run has the commit phase\'s deadline and is always checked', () => {
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }]
    const j = {
      job_id: 'job_00000000000000bb', kind: 'chat', model: 'm', prompt: '', messages, assigned_at: '2025-01-01T00:00:00.000Z', checked: true,
      options: { temperature: null, num_predict: null, seed: null }, seed: 5, num_predict: 100,
    } as unknown as JobJSON & { assigned_at: string }
    expect(inferenceJobFromChain(j, 60).messages).to.deep.equal(messages)
    const v = verificationJobFromChain(j, Date.parse('2025-01-01T00:00:10.000Z'), 30)
    expect(v).to.deep.include({ role: 'verifier', checked: true, messages, options: { seed: 5, num_predict: 100 }, assignedAt: '2025-01-01T00:00:10.000Z', deadlineMs: Date.parse('2025-01-01T00:00:40.000Z') })
  })

  it('the book counts each job once and tells when it is empty', async () => {
    const book = new JobBook({ metrics: createMinerMetrics() })
    const job = { id: 'job_00000000000000aa', role: 'miner' as const, model: 'm', prompt: 'p', messages: null, options: {}, checked: false, assignedAt: '2025-01-01T00:00:00.000Z', deadlineMs: Date.parse('2025-01-01T00:01:00.000Z') }
    book.add(job)
    book.setState(job.id, 'running')
    expect(book.views()).to.deep.equal([{ job_id: job.id, role: 'miner', state: 'running', model: 'm', assigned_at: job.assignedAt, deadline: '2025-01-01T00:01:00.000Z' }])
    let idle = false
    void book.idle().then(() => { idle = true })
    await flush()
    expect(idle).to.equal(false)
    book.finish(job.id, 'completed')
    book.finish(job.id, 'lost')
    await flush()
    expect(idle).to.equal(true)
    expect(book.outcomes).to.deep.equal({ completed: 1, failed: 0, rejected: 0, verified: 0, abandoned: 0, lost: 0 })
  })
})
