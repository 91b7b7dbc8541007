// ReceiptReporter: the receipt built from an outcome (result, result hash, metrics; failed with
// its error), and how a receipt is followed until the chain shows the job settled, against a fake
// node, a fake TxQueue and a fake clock.
import { expect } from 'chai'
import { silentLogger } from '../../node/logger.ts'
import { sha256, toHex, utf8Bytes, TxCode, type AccountResult, type JobJSON, type TxBody } from '../../node/client.ts'
import { MAX_ERROR_BYTES, ReceiptReporter, receiptTx, truncateUtf8 } from '../../miner/receiptReporter.ts'
import { TxRefusedError, type SentTx } from '../../miner/txQueue.ts'
import { FakeClock } from '../helpers/fakeClock.ts'

const ME = 'aitbc1me'
const JOB = 'job_00000000000000aa'

describe('miner receipts: receiptTx', () => {
  it('a completed job: its result, the sha256 of the result, its metrics, no error', () => {
    const body = receiptTx(JOB, { kind: 'completed', result: 'Machine learning is…', computeMs: 812, promptTokens: 12, completionTokens: 20 }, 10_000)
    expect(body).to.deep.include({ type: 'record_receipt', jobId: JOB, status: 'completed', result: 'Machine learning is…', error: null })
    expect(toHex(body.resultHash)).to.equal(toHex(sha256(utf8Bytes('Machine learning is…'))))
    expect(body.metrics).to.deep.equal({ computeMs: 812, promptTokens: 12, completionTokens: 20 })
  })

  it('a completed job carries Ollama\'s details and the listed digest; without either, no details', () => {
    const details = { doneReason: 'length', promptEvalMs: 5, evalMs: 80, firstTokenMs: 12, loadMs: 1 }
    const body = receiptTx(JOB, { kind: 'completed', result: 'r', computeMs: 1, promptTokens: 1, completionTokens: 1, details }, 100, 'e'.repeat(64))
    expect(body.details).to.deep.equal({ modelDigest: 'e'.repeat(64), ...details })
    const noDigest = receiptTx(JOB, { kind: 'completed', result: 'r', computeMs: 1, promptTokens: 1, completionTokens: 1, details: { ...details, doneReason: 'x'.repeat(100) } }, 100)
    expect(noDigest.details).to.deep.include({ modelDigest: null, doneReason: 'x'.repeat(64) })
    expect(receiptTx(JOB, { kind: 'completed', result: 'r', computeMs: 1, promptTokens: 1, completionTokens: 1 }, 100)).to.not.have.property('details')
    expect(receiptTx(JOB, { kind: 'failed', error: 'timeout', computeMs: 1 }, 100, 'e'.repeat(64))).to.not.have.property('details')
  })

  it('a result longer than max_result_bytes is cut on a character boundary, and the hash is of what is sent', () => {
    const result = 'ab' + 'é'.repeat(10) // 2 + 20 bytes
    const body = receiptTx(JOB, { kind: 'completed', result, computeMs: 1, promptTokens: 1, completionTokens: 1 }, 7)
    expect(body.result).to.equal('abéé') // 6 bytes: the 7th would split an é
    expect(toHex(body.resultHash)).to.equal(toHex(sha256(utf8Bytes('abéé'))))
  })

  it('a failed job: the error, an empty result and its hash, no tokens, compute_ms kept', () => {
    const body = receiptTx(JOB, { kind: 'failed', error: 'model "x" not found', computeMs: 33 }, 10_000)
    expect(body).to.deep.include({ type: 'record_receipt', jobId: JOB, status: 'failed', result: '', error: 'model "x" not found' })
    expect(toHex(body.resultHash)).to.equal(toHex(sha256(utf8Bytes(''))))
    expect(body.metrics).to.deep.equal({ computeMs: 33, promptTokens: 0, completionTokens: 0 })
  })

  it('an error is cut to MAX_ERROR_BYTES of UTF-8', () => {
    const body = receiptTx(JOB, { kind: 'failed', error: '€'.repeat(2000), computeMs: 0 }, 10_000)
    expect(utf8Bytes(body.error as string).length).to.be.at.most(MAX_ERROR_BYTES)
    expect(body.error).to.equal('€'.repeat(Math.floor(MAX_ERROR_BYTES / 3)))
  })

  it('truncateUtf8 keeps short strings and never splits a character', () => {
    expect(truncateUtf8('hello', 5)).to.equal('hello')
    expect(truncateUtf8('hello', 4)).to.equal('hell')
    expect(truncateUtf8('😀😀', 7)).to.equal('😀')
    expect(truncateUtf8('😀', 3)).to.equal('')
  })
})

type Step = 'settled' | 'assigned' | 'dropped' | 'other-receipt'

/** The node and the TxQueue as the reporter sees them; each job read plays the next scripted step. */
class FakeChain {
  sent: TxBody[] = []
  sends: Array<'ok' | 'network' | TxRefusedError> = []
  steps: Step[] = []
  reads = 0
  private nonce = 3
  private last: SentTx | undefined

  readonly txs = {
    send: async (body: TxBody): Promise<SentTx> => {
      const how = this.sends.shift() ?? 'ok'
      if (how === 'network') throw new Error('cannot reach the node')
      if (how instanceof TxRefusedError) throw how
      this.sent.push(body)
      this.last = { hash: `HASH${this.sent.length}`, nonce: this.nonce++ }
      return this.last
    },
  }

  readonly node = {
    account: async (): Promise<AccountResult> => {
      const n = (this.last?.nonce ?? 0)
      // Normally the receipt is pending (pending_nonce past it); a dropped one is not.
      const dropped = this.steps[0] === 'dropped'
      return { address: ME, balance: '0', balance_aitbc: '0', nonce: String(n), bonded: '0', unbonding: '0', pending_nonce: String(dropped ? n : n + 1) }
    },
    job: async (id: string): Promise<JobJSON> => {
      this.reads++
      const step = this.steps.shift() ?? 'assigned'
      const base = { job_id: id, miner: ME } as unknown as JobJSON
      if (step === 'settled') return { ...base, status: 'completed', settle_tx: this.last?.hash ?? null, paid: '5', receipt_id: 'rcpt_1', settled_height: '9' }
      if (step === 'other-receipt') return { ...base, status: 'failed', settle_tx: 'SOMEONE_ELSE', paid: '0', receipt_id: 'rcpt_2', settled_height: '9' }
      return { ...base, status: 'assigned', settle_tx: null }
    },
  }
}

describe('miner receipts: ReceiptReporter', () => {
  let clock: FakeClock
  let chain: FakeChain
  const completed = { kind: 'completed' as const, result: 'ok', computeMs: 10, promptTokens: 1, completionTokens: 2 }

  function reporter (): ReceiptReporter {
    return new ReceiptReporter({ address: ME, maxResultBytes: 1000, blockTimeMs: 200 }, { node: chain.node, txs: chain.txs, logger: silentLogger(), clock })
  }

  beforeEach(() => { clock = new FakeClock(); chain = new FakeChain() })

  it('sends the receipt once and reports it confirmed when the job is settled by it', async () => {
    chain.steps = ['settled']
    const r = await reporter().report({ id: JOB, deadlineMs: clock.now() + 10_000 }, completed)
    expect(r).to.deep.equal({ outcome: 'completed', confirmed: true })
    expect(chain.sent).to.have.length(1)
    expect(chain.sent[0]).to.deep.include({ type: 'record_receipt', jobId: JOB, status: 'completed', result: 'ok' })
  })

  it('polls until the job is settled', async () => {
    chain.steps = ['assigned', 'assigned', 'settled']
    const p = reporter().report({ id: JOB, deadlineMs: clock.now() + 10_000 }, completed)
    await clock.advance(1000)
    expect(await p).to.deep.equal({ outcome: 'completed', confirmed: true })
    expect(chain.reads).to.equal(3)
    expect(chain.sent).to.have.length(1)
  })

  it('sends the receipt again when the mempool dropped it', async () => {
    chain.steps = ['dropped', 'settled']
    const r = await reporter().report({ id: JOB, deadlineMs: clock.now() + 10_000 }, completed)
    expect(r).to.deep.equal({ outcome: 'completed', confirmed: true })
    expect(chain.sent).to.have.length(2)
  })

  it('retries a send the node did not answer, with backoff', async () => {
    chain.sends = ['network', 'network']
    chain.steps = ['settled']
    const p = reporter().report({ id: JOB, deadlineMs: clock.now() + 10_000 }, completed)
    await clock.advance(250 + 500)
    expect(await p).to.deep.equal({ outcome: 'completed', confirmed: true })
    expect(chain.sent).to.have.length(1)
  })

  it('a resend refused as already settled is fine when an earlier copy settled the job', async () => {
    chain.steps = ['dropped', 'settled']
    chain.sends = ['ok', new TxRefusedError('record_receipt', TxCode.JOB_ALREADY_SETTLED, 'job already settled')]
    const r = await reporter().report({ id: JOB, deadlineMs: clock.now() + 10_000 }, completed)
    expect(r).to.deep.equal({ outcome: 'completed', confirmed: true })
    expect(chain.sent).to.have.length(1)
  })

  it('a receipt the node refuses is lost', async () => {
    chain.sends = [new TxRefusedError('record_receipt', TxCode.NOT_ASSIGNED_MINER, 'not this miner\'s job')]
    const r = await reporter().report({ id: JOB, deadlineMs: clock.now() + 10_000 }, completed)
    expect(r).to.deep.equal({ outcome: 'lost', confirmed: false })
  })

  it('a job settled by another receipt is lost', async () => {
    chain.steps = ['other-receipt']
    expect(await reporter().report({ id: JOB, deadlineMs: clock.now() + 10_000 }, completed)).to.deep.equal({ outcome: 'lost', confirmed: false })
  })

  it('nothing is sent once the deadline has passed', async () => {
    expect(await reporter().report({ id: JOB, deadlineMs: clock.now() }, completed)).to.deep.equal({ outcome: 'lost', confirmed: false })
    expect(chain.sent).to.have.length(0)
  })

  it('after force(), an accepted receipt is enough', async () => {
    const rep = reporter()
    const p = rep.report({ id: JOB, deadlineMs: clock.now() + 10_000 }, { kind: 'failed', error: 'the miner was stopped before the job finished', computeMs: 5 })
    rep.force()
    await clock.advance(100)
    expect(await p).to.deep.equal({ outcome: 'failed', confirmed: false })
    expect(chain.sent[0]).to.deep.include({ status: 'failed', error: 'the miner was stopped before the job finished' })
  })
})
