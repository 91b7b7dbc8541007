// The miner's listing against a fake node and TxQueue: which models it lists, the registration
// defaults, the update of an existing listing (only what changed), the stake top-up and the
// deactivation on stop; and the job record it reads from the chain.
import { expect } from 'chai'
import { silentLogger } from '../../node/logger.ts'
import { RpcClientError, type JobJSON, type MinerJSON, type TxBody } from '../../node/client.ts'
import { Listing, chooseModels, readModelsToList, type ListingOptions } from '../../miner/listing.ts'
import { MinerError } from '../../miner/minerError.ts'
import { inferenceJobFromChain } from '../../miner/inferenceJob.ts'
import { JobBook } from '../../miner/jobBook.ts'
import { createMinerMetrics } from '../../miner/metrics.ts'
import type { SentTx } from '../../miner/txQueue.ts'
import { flush } from '../helpers/fakeClock.ts'

const ME = 'aitbc1me'
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
    try { await readModelsToList({ asked: ['llama3.2:latest'], ollamaUrl: 'http://ollama' }, { ollama: { tags: async () => ['mistral:7b'] }, logger: silentLogger() }) } catch (e) { err = e }
    expect(err).to.be.instanceOf(MinerError)
    expect((err as MinerError).code).to.equal('MINER_NO_MODELS')
    expect((err as Error).message).to.match(/llama3\.2:latest.*mistral:7b/)
    err = undefined
    try { await readModelsToList({ ollamaUrl: 'http://ollama' }, { ollama: { tags: async () => { throw new Error('ECONNREFUSED') } }, logger: silentLogger() }) } catch (e) { err = e }
    expect((err as MinerError).code).to.equal('MINER_OLLAMA_UNREACHABLE')
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
  it('an assigned job\'s deadline is assigned_at + job_timeout_s; only the options set are sent to Ollama', () => {
    const j = { job_id: 'job_00000000000000aa', model: 'llama3.2:latest', prompt: 'hi', assigned_at: '2025-01-01T00:00:01.500Z', options: { temperature: 0, num_predict: null, seed: 7 } } as unknown as JobJSON & { assigned_at: string }
    expect(inferenceJobFromChain(j, 60)).to.deep.equal({
      id: 'job_00000000000000aa', model: 'llama3.2:latest', prompt: 'hi', options: { temperature: 0, seed: 7 }, assignedAt: '2025-01-01T00:00:01.500Z', deadlineMs: Date.parse('2025-01-01T00:01:01.500Z'),
    })
  })

  it('the book counts each job once and tells when it is empty', async () => {
    const book = new JobBook({ metrics: createMinerMetrics() })
    const job = { id: 'job_00000000000000aa', model: 'm', prompt: 'p', options: {}, assignedAt: '2025-01-01T00:00:00.000Z', deadlineMs: Date.parse('2025-01-01T00:01:00.000Z') }
    book.add(job)
    book.setState(job.id, 'running')
    expect(book.views()).to.deep.equal([{ job_id: job.id, state: 'running', model: 'm', assigned_at: job.assignedAt, deadline: '2025-01-01T00:01:00.000Z' }])
    let idle = false
    void book.idle().then(() => { idle = true })
    await flush()
    expect(idle).to.equal(false)
    book.finish(job.id, 'completed')
    book.finish(job.id, 'lost')
    await flush()
    expect(idle).to.equal(true)
    expect(book.outcomes).to.deep.equal({ completed: 1, failed: 0, abandoned: 0, lost: 0 })
  })
})
