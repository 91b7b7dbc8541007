// The coordinator's per-event indexers on hand-made blocks, written by IndexWriter into a
// temporary LevelDB and read back through IndexReader (no node, no process): a job's life from
// submit_job to its receipt, expiry and cancellation, the status lists and the counters, blocks
// that must be refused whole (indexed twice, off the chain, naming unknown jobs), resuming from a
// reopened store, and a cross-check against the chain's own transition: the jobs indexed from the
// events of a simulated chain equal, field for field and in order, what the node's aitbc_job
// answers for them.
import { expect } from 'chai'
import { formatAitbc } from '../../node/core/amount.ts'
import { sha256, toHex, utf8Bytes, type SigningKey } from '../../node/core/crypto.ts'
import { jobIdFromTxHash, receiptIdFromTxHash, signTx, TX_TYPES, type Tx, type TxBody } from '../../node/core/tx.ts'
import { applyTx } from '../../node/core/transition.ts'
import { proposeAssigns } from '../../node/core/executor.ts'
import { eventsJSON, jobJSON, txResultJSON } from '../../node/rpc/format.ts'
import type { EventJSON } from '../../node/client.ts'
import { IndexError } from '../../coordinator-module/blockIndex.ts'
import { EVENT_INDEXERS } from '../../coordinator-module/eventIndexers.ts'
import { nodeFieldsOf } from '../../coordinator-module/jobRecord.ts'
import type { BlockData } from '../../coordinator-module/nodeSource.ts'
import { BlockMaker, ev, genesisOf, openTestIndex, validatorHex, UNIT_GENESIS_TIME, type TestIndex } from '../helpers/blockData.ts'
import { ChainSim, body, keyOf } from '../helpers/chainSim.ts'

const MODEL = 'llama3.2:1b'
const FEE = 1000n
const PRICE = 25_000n
const STAKE = 100_000_000n

const validator = keyOf('coord-validator')
const alice = keyOf('coord-alice')
const bob = keyOf('coord-bob')

const at = (s: number): string => new Date(Date.parse(UNIT_GENESIS_TIME) + s * 1000).toISOString()

/** A signed tx with the events the chain emits for it (message, the body's event, the fee). */
class Signer {
  private readonly nonces = new Map<string, number>()
  sign (k: SigningKey, b: TxBody, fee = FEE): Tx {
    const nonce = this.nonces.get(k.address) ?? 0
    this.nonces.set(k.address, nonce + 1)
    return signTx(k, { chainId: 'aitbc-unit', nonce, fee, body: b })
  }

  withEvents (tx: Tx, events: EventJSON[]): { tx: Tx, events: EventJSON[] } {
    const all = [ev('message', { action: tx.type, sender: tx.sender, nonce: tx.nonce }), ...events]
    if (tx.fee > 0n) all.push(ev('tx', { fee: tx.fee, fee_payer: tx.sender }))
    return { tx, events: all }
  }

  submit (k: SigningKey, prompt: string, maxFee = 1_000_000n): { tx: Tx, events: EventJSON[], jobId: string } {
    const tx = this.sign(k, { type: 'submit_job', model: MODEL, prompt, options: { temperature: null, numPredict: 12, seed: 3 }, maxFee, maxPricePerSecond: null })
    const jobId = jobIdFromTxHash(tx.hash)
    return { ...this.withEvents(tx, [ev('submit_job', { job_id: jobId, client: k.address, model: MODEL, max_fee: maxFee })]), jobId }
  }

  assign (jobId: string, miner: string, client: string): { tx: Tx, events: EventJSON[] } {
    const tx = this.sign(validator, { type: 'assign', jobId, miner }, 0n)
    return this.withEvents(tx, [ev('assign', { job_id: jobId, miner, client, model: MODEL })])
  }

  receipt (k: SigningKey, jobId: string, client: string, result: string, paid: bigint, refund: bigint): { tx: Tx, events: EventJSON[], receiptId: string } {
    const tx = this.sign(k, { type: 'record_receipt', jobId, status: 'completed', result, resultHash: sha256(utf8Bytes(result)), metrics: { computeMs: 1500, promptTokens: 3, completionTokens: 5 }, error: null })
    const receiptId = receiptIdFromTxHash(tx.hash)
    return { ...this.withEvents(tx, [ev('record_receipt', { receipt_id: receiptId, job_id: jobId, miner: k.address, client, status: 'completed', paid, refund })]), receiptId }
  }

  cancel (k: SigningKey, jobId: string, refund: bigint): { tx: Tx, events: EventJSON[] } {
    const tx = this.sign(k, { type: 'cancel_job', jobId })
    return this.withEvents(tx, [ev('cancel_job', { job_id: jobId, client: k.address, refund })])
  }
}

const genesis = genesisOf({
  validator,
  accounts: [{ address: alice.address, balance: 10n ** 12n }],
  miners: [{ address: bob.address, models: [MODEL], pricePerSecond: PRICE, capacity: 2, stake: STAKE }],
})

async function expectRefused (p: Promise<unknown>, code: IndexError['code']): Promise<IndexError> {
  const e = await p.then(() => null, (err: unknown) => err)
  expect(e, 'the write was refused').to.be.instanceOf(IndexError)
  expect((e as IndexError).code).to.equal(code)
  return e as IndexError
}

describe('coordinator: per-event indexers on hand-made blocks', () => {
  let idx: TestIndex
  let chain: BlockMaker
  let s: Signer

  beforeEach(async () => {
    idx = await openTestIndex()
    await idx.writer.init(genesis)
    chain = new BlockMaker(validator)
    s = new Signer()
  })
  afterEach(async () => { await idx.destroy() })

  it('has an entry for every transaction type and for the block-begin events', () => {
    for (const t of [...TX_TYPES.filter(t => t !== 'beacon'), 'expire_job', 'unbond', 'slash', 'sample', 'redraw', 'verification_phase', 'verifier_silent', 'verifier_result', 'verdict']) expect(EVENT_INDEXERS.has(t), t).to.equal(true)
  })

  it('submit_job, then assign, then record_receipt: the job view, its timeline, the lists and the counters', async () => {
    const sub = s.submit(alice, 'What is machine learning?')
    const b1 = await idx.writer.write(chain.next([sub]))
    expect(b1.changes.map(j => j.status)).to.deep.equal(['pending'])
    let v = await idx.reader.job(sub.jobId)
    expect(v).to.deep.include({ status: 'pending', miner: null, submit_tx: sub.tx.hash, submitted_height: '1', submitted_at: at(1), cost: null, cost_aitbc: null })
    expect(v?.timeline).to.deep.equal([{ step: 'submitted', status: 'pending', height: '1', time: at(1), tx_hash: sub.tx.hash }])
    expect(idx.writer.counts).to.deep.include({ txs: 1, jobs: 1 })
    expect(idx.writer.counts.by_status.pending).to.equal(1)

    const asg = s.assign(sub.jobId, bob.address, alice.address)
    await idx.writer.write(chain.next([asg]))
    v = await idx.reader.job(sub.jobId)
    expect(v).to.deep.include({ status: 'assigned', miner: bob.address, price_per_second: PRICE.toString(), assign_tx: asg.tx.hash, assigned_height: '2', assigned_at: at(2) })
    expect(idx.writer.counts.by_status).to.deep.include({ pending: 0, assigned: 1 })

    const paid = 37_500n
    const rc = s.receipt(bob, sub.jobId, alice.address, 'Machine learning is a field of AI.', paid, 1_000_000n - paid)
    const b3 = await idx.writer.write(chain.next([rc]))
    expect(b3.changes.map(j => j.status)).to.deep.equal(['completed'])
    // What this block marks to read again from the node: the job, the accounts it names, the miner.
    expect(b3.dirty).to.deep.equal([
      { kind: 'job', id: sub.jobId },
      { kind: 'account', id: bob.address },
      { kind: 'account', id: alice.address },
      { kind: 'account', id: validator.address },
      { kind: 'miner', id: bob.address },
    ])

    const view = await idx.reader.job(sub.jobId)
    expect(view).to.deep.equal({
      job_id: sub.jobId,
      status: 'completed',
      client: alice.address,
      client_pubkey: toHex(alice.publicKey),
      model: MODEL,
      kind: 'prompt',
      prompt: 'What is machine learning?',
      messages: null,
      options: { temperature: null, num_predict: 12, seed: 3 },
      seed: 3,
      num_predict: 12,
      max_fee: '1000000',
      max_price_per_second: null,
      max_price_in: null,
      max_price_out: null,
      model_digest: null,
      checked: false,
      verified: null,
      stake_lock: '0',
      miner: bob.address,
      price_per_second: PRICE.toString(),
      price_in: null,
      price_out: null,
      model_digest_used: null,
      done_reason: null,
      verification: null,
      result: 'Machine learning is a field of AI.',
      result_hash: toHex(sha256(utf8Bytes('Machine learning is a field of AI.'))),
      sealed_result: null,
      error: null,
      receipt_id: rc.receiptId,
      metrics: { compute_ms: 1500, prompt_tokens: 3, completion_tokens: 5, prompt_eval_ms: null, eval_ms: null, first_token_ms: null, load_ms: null },
      cost: '37500',
      paid: '37500',
      refund: '962500',
      slashed: null,
      submit_tx: sub.tx.hash,
      submitted_height: '1',
      submitted_at: at(1),
      assign_tx: asg.tx.hash,
      assigned_height: '2',
      assigned_at: at(2),
      settle_tx: rc.tx.hash,
      settled_height: '3',
      completed_at: at(3),
      cost_aitbc: formatAitbc(paid),
      max_fee_aitbc: formatAitbc(1_000_000n),
      timeline: [
        { step: 'submitted', status: 'pending', height: '1', time: at(1), tx_hash: sub.tx.hash },
        { step: 'assigned', status: 'assigned', height: '2', time: at(2), tx_hash: asg.tx.hash, miner: bob.address },
        { step: 'completed', status: 'completed', height: '3', time: at(3), tx_hash: rc.tx.hash, miner: bob.address },
      ],
    })

    // The receipt, by receipt id and by job id, as aitbc_receipt answers it.
    const receipt = await idx.reader.receipt(rc.receiptId)
    expect(receipt).to.deep.equal(await idx.reader.receipt(sub.jobId))
    expect(receipt).to.deep.include({ receipt_id: rc.receiptId, job_id: sub.jobId, miner: bob.address, status: 'completed', paid: '37500', tx_hash: rc.tx.hash, height: '3', time: at(3) })

    // Lists: by client, by miner, by status (only the current one).
    const ids = async (q: Parameters<TestIndex['reader']['jobs']>[0]): Promise<string[]> => (await idx.reader.jobs(q)).jobs.map(j => j.job_id)
    expect(await ids({ client: alice.address, limit: 10 })).to.deep.equal([sub.jobId])
    expect(await ids({ miner: bob.address, limit: 10 })).to.deep.equal([sub.jobId])
    expect(await ids({ status: 'completed', limit: 10 })).to.deep.equal([sub.jobId])
    for (const st of ['pending', 'assigned'] as const) expect(await ids({ status: st, limit: 10 }), st).to.deep.equal([])

    // The txs name their job (and the receipt), and are listed under each account they name.
    expect(await idx.reader.tx(sub.tx.hash)).to.deep.include({ type: 'submit_job', height: '1', index: 0, job_id: sub.jobId, receipt_id: null, sender: alice.address })
    expect(await idx.reader.tx(asg.tx.hash)).to.deep.include({ type: 'assign', job_id: sub.jobId })
    expect(await idx.reader.tx(rc.tx.hash)).to.deep.include({ type: 'record_receipt', job_id: sub.jobId, receipt_id: rc.receiptId })
    expect((await idx.reader.txs({ address: alice.address, limit: 10 })).txs.map(t => t.hash)).to.deep.equal([rc.tx.hash, asg.tx.hash, sub.tx.hash])
    expect((await idx.reader.txs({ address: bob.address, limit: 10 })).txs.map(t => t.hash)).to.deep.equal([rc.tx.hash, asg.tx.hash])

    // The block and the network figures.
    const block = await idx.reader.block(1)
    expect(block).to.deep.include({ height: '1', num_txs: 1, jobs_submitted: 1, tx_types: { submit_job: 1 }, proposer_address: validatorHex(validator), proposer: validator.address })
    const stats = await idx.reader.stats()
    expect(stats).to.deep.include({ chain_id: 'aitbc-unit', height: 3, txs: 3, jobs: 1, block_time_ms: 1000, latest_block_time: at(3) })
    expect(stats.jobs_by_status).to.deep.equal({ pending: 0, assigned: 0, verifying: 0, completed: 1, failed: 0, rejected: 0, cancelled: 0, expired: 0 })

    expect(await statusIndex(idx)).to.deep.equal({ [sub.jobId]: ['completed'] })
  })

  it('expiry (pending, and assigned with a slash) at block begin, and cancel_job', async () => {
    const a = s.submit(alice, 'Nobody takes me')
    const b = s.submit(alice, 'Taken, then abandoned')
    const d = s.submit(alice, 'Assigned and answered in one block')
    // b is assigned in the block that submits it.
    const asg = s.assign(b.jobId, bob.address, alice.address)
    await idx.writer.write(chain.next([a, b, d, asg]))
    expect(idx.writer.counts.by_status).to.deep.include({ pending: 2, assigned: 1 })

    const c = s.submit(alice, 'Cancel me')
    // d, read from the index, changes twice in this block.
    const fast = [s.assign(d.jobId, bob.address, alice.address), s.receipt(bob, d.jobId, alice.address, 'Quick.', 5000n, 995_000n)]
    await idx.writer.write(chain.next([c, ...fast], {
      finalize: [ev('expire_job', { job_id: a.jobId, client: alice.address, stage: 'pending', refund: 1_000_000n, miner: '', slashed: 0 })],
    }))
    const slash = 5_000_000n
    const cancel = s.cancel(alice, c.jobId, 1_000_000n)
    await idx.writer.write(chain.next([cancel], {
      finalize: [
        ev('expire_job', { job_id: b.jobId, client: alice.address, stage: 'assigned', refund: 1_000_000n, miner: bob.address, slashed: slash }),
        ev('slash', { miner: bob.address, amount: slash, reason: 'job_expired', job_id: b.jobId }),
      ],
    }))

    const va = await idx.reader.job(a.jobId)
    expect(va).to.deep.include({ status: 'expired', paid: '0', cost: '0', cost_aitbc: '0', refund: '1000000', slashed: '0', settle_tx: null, settled_height: '2', completed_at: at(2) })
    expect(va?.timeline).to.deep.equal([
      { step: 'submitted', status: 'pending', height: '1', time: at(1), tx_hash: a.tx.hash },
      { step: 'expired', status: 'expired', height: '2', time: at(2), tx_hash: null },
    ])
    const vb = await idx.reader.job(b.jobId)
    expect(vb).to.deep.include({ status: 'expired', miner: bob.address, slashed: slash.toString(), refund: '1000000', settled_height: '3' })
    expect(vb?.timeline.map(t => [t.step, t.height, t.tx_hash, t.miner])).to.deep.equal([
      ['submitted', '1', b.tx.hash, undefined],
      ['assigned', '1', asg.tx.hash, bob.address],
      ['expired', '3', null, bob.address],
    ])
    const vc = await idx.reader.job(c.jobId)
    expect(vc).to.deep.include({ status: 'cancelled', paid: '0', cost: '0', refund: '1000000', settle_tx: cancel.tx.hash, settled_height: '3', completed_at: at(3), miner: null })
    expect(vc?.timeline.map(t => t.step)).to.deep.equal(['submitted', 'cancelled'])
    expect(await idx.reader.tx(cancel.tx.hash)).to.deep.include({ type: 'cancel_job', job_id: c.jobId })
    await expectRefusedReceipt(idx, c.jobId)

    const ids = async (status: 'pending' | 'assigned' | 'expired' | 'cancelled'): Promise<string[]> => (await idx.reader.jobs({ status, limit: 10 })).jobs.map(j => j.job_id)
    expect(await ids('expired')).to.deep.equal([b.jobId, a.jobId]) // newest first
    expect(await ids('cancelled')).to.deep.equal([c.jobId])
    expect(await ids('pending')).to.deep.equal([])
    expect(await ids('assigned')).to.deep.equal([])
    expect((await idx.reader.jobs({ miner: bob.address, limit: 10 })).jobs.map(j => j.job_id)).to.deep.equal([d.jobId, b.jobId])
    expect((await idx.reader.job(d.jobId))?.timeline.map(t => [t.step, t.height])).to.deep.equal([['submitted', '1'], ['assigned', '2'], ['completed', '2']])
    // One status key per job, its current status.
    expect(await statusIndex(idx)).to.deep.equal({ [a.jobId]: ['expired'], [b.jobId]: ['expired'], [c.jobId]: ['cancelled'], [d.jobId]: ['completed'] })
    const stats = await idx.reader.stats()
    expect(stats).to.deep.include({ jobs: 4, txs: 8 })
    expect(stats.jobs_by_status).to.deep.equal({ pending: 0, assigned: 0, verifying: 0, completed: 1, failed: 0, rejected: 0, cancelled: 1, expired: 2 })
    // The block-begin events are kept with their block; the slashed miner is read again.
    expect((await idx.reader.block(3))?.finalize_events.map(e => e.type)).to.deep.equal(['expire_job', 'slash'])
    expect(await idx.store.keys('dirty:miner:')).to.include(`dirty:miner:${bob.address}`)
  })

  it('a block indexed twice, off the chain or naming a job the index lacks is refused whole: nothing changes', async () => {
    const sub = s.submit(alice, 'Once')
    const b1 = chain.next([sub])
    await idx.writer.write(b1)
    const before = await idx.dump()
    const where = { ...idx.writer.indexed }
    const counts = structuredClone(idx.writer.counts)
    const pending = idx.refresher.pending

    await expectRefused(idx.writer.write(b1), 'INDEX_GAP')
    // The same block again, one further on: still not the next one.
    await expectRefused(idx.writer.write({ ...b1, height: 3, header: { ...b1.header, height: '3' } }), 'INDEX_GAP')
    // A block 2 that does not follow the indexed block 1 (another fork), or is of another chain.
    await expectRefused(idx.writer.write(chain.peek([], { lastHash: 'AB'.repeat(32) })), 'INDEX_CHAIN_MISMATCH')
    await expectRefused(idx.writer.write(chain.peek([], { chainId: 'aitbc-other' })), 'INDEX_CHAIN_MISMATCH')
    // A block 2 whose assign names a job the index does not hold, or whose tx does not decode.
    const e = await expectRefused(idx.writer.write(chain.peek([s.assign('job_00000000000000aa', bob.address, alice.address)])), 'INDEX_BAD_BLOCK')
    expect(e.message).to.match(/assign names job job_00000000000000aa/)
    const broken = chain.peek([s.submit(alice, 'Broken')])
    await expectRefused(idx.writer.write({ ...broken, txs: ['AAAA'] }), 'INDEX_BAD_BLOCK')
    await expectRefused(idx.writer.write({ ...broken, txResults: [] }), 'INDEX_BAD_BLOCK')

    expect(await idx.dump()).to.deep.equal(before)
    expect(idx.writer.indexed).to.deep.equal(where)
    expect(idx.writer.counts).to.deep.equal(counts)
    expect(idx.refresher.pending).to.equal(pending)
    // And the chain goes on from there.
    await idx.writer.write(chain.next([s.assign(sub.jobId, bob.address, alice.address)]))
    expect((await idx.reader.job(sub.jobId))?.status).to.equal('assigned')
  })

  it('a store reopened half-way resumes to the same index as one run', async () => {
    const blocks: BlockData[] = []
    const sub = s.submit(alice, 'Resume me')
    blocks.push(chain.next([sub]))
    blocks.push(chain.next([s.assign(sub.jobId, bob.address, alice.address)]))
    blocks.push(chain.next([s.receipt(bob, sub.jobId, alice.address, 'Done.', 10_000n, 990_000n)]))
    for (const b of blocks) await idx.writer.write(b)

    const other = await openTestIndex()
    let reopened: TestIndex | undefined
    try {
      await other.writer.init(genesis)
      await other.writer.write(blocks[0])
      await other.writer.write(blocks[1])
      await other.close()
      reopened = await openTestIndex(other.dir)
      expect(reopened.writer.indexed.height).to.equal(2)
      await expectRefused(reopened.writer.write(blocks[1]), 'INDEX_GAP')
      await reopened.writer.write(blocks[2])
      // Equal but for the refresher's sequence numbers.
      const norm = (d: Array<[string, unknown]>): Array<[string, unknown]> => d.map(([k, v]) => [k, k.startsWith('dirty:') ? 0 : v])
      expect(norm(await reopened.dump())).to.deep.equal(norm(await idx.dump()))
      expect(reopened.writer.counts).to.deep.equal(idx.writer.counts)
    } finally {
      await reopened?.destroy()
      await other.destroy()
    }
  })
})

/** The jobs' status index as stored: job id -> the statuses it is listed under. */
async function statusIndex (idx: TestIndex): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  for (const k of await idx.store.keys('js:')) {
    const [, status, , , id] = k.split(':')
    ;(out[id] ??= []).push(status)
  }
  return out
}

async function expectRefusedReceipt (idx: TestIndex, jobId: string): Promise<void> {
  const e = await idx.reader.receipt(jobId).then(() => null, (err: unknown) => err as { code?: string })
  expect(e?.code).to.equal('NO_RECEIPT')
}

describe('coordinator: the jobs indexed from the chain\'s own events equal the node\'s aitbc_job answers', () => {
  it('completed, failed, cancelled, expired (pending and assigned), with a new miner and a price change', async () => {
    const carol = keyOf('coord-carol')
    const sim = new ChainSim({
      validator,
      accounts: [{ key: alice, balance: 10n ** 12n }, { key: bob, balance: 10n ** 9n }, { key: carol, balance: 10n ** 12n }],
      miners: [{ key: bob, models: [MODEL], pricePerSecond: PRICE, capacity: 2, stake: STAKE }],
      params: { assign_timeout_s: 5, job_timeout_s: 5 },
    })
    const idx = await openTestIndex()
    const blocks = new BlockMaker(validator, sim.chainId)
    /** One block of the simulated chain (its proposer assigns what it can), as the coordinator reads it. */
    const block = async (txs: Tx[], dtMs = 1000): Promise<void> => {
      const { overlay, ctx, beginEvents, beacon } = sim.begin({ dt: dtMs })
      // The beacon (when the block draws), then the assigns, drawn from the block's starting state.
      const assigns = [...(beacon === null ? [] : [beacon]), ...proposeAssigns(overlay, ctx, validator)]
      const all = [...assigns.map(a => a.tx), ...txs]
      const results = [...assigns.map(a => a.result), ...txs.map(tx => applyTx(overlay, tx, ctx, 'deliver'))]
      sim.commit(overlay, ctx)
      const d = blocks.next(all.map((tx, i) => ({ tx, events: txResultJSON(results[i]).events })), { finalize: eventsJSON(beginEvents), dtMs })
      expect(d.header.time).to.equal(new Date(ctx.time).toISOString())
      await idx.writer.write(d)
    }
    try {
      await idx.writer.init(sim.genesis)
      const submit = (k: SigningKey, prompt: string, model = MODEL): Tx => sim.sign(k, body.submit(model, prompt, 1_000_000n))
      const done = submit(alice, 'completed')
      const fails = submit(alice, 'failed')
      await block([done, fails])
      const idDone = jobIdFromTxHash(done.hash)
      const idFails = jobIdFromTxHash(fails.hash)
      await block([sim.sign(bob, body.receipt(idDone, 'completed', 'An answer.', 1200)), sim.sign(bob, body.receipt(idFails, 'failed', '', 300))])
      // A second miner for another model, its price changed before its first job.
      const other = 'other-model:7b'
      await block([sim.sign(carol, body.register([other], STAKE, 30_000n, 1))])
      await block([sim.sign(carol, body.update({ pricePerSecond: 45_000n }))])
      const cancelled = submit(alice, 'cancelled', 'nobody-serves:1b')
      const onCarol = submit(alice, 'on carol', other)
      await block([cancelled, onCarol])
      await block([sim.sign(alice, body.cancel(jobIdFromTxHash(cancelled.hash))), sim.sign(carol, body.receipt(jobIdFromTxHash(onCarol.hash), 'completed', 'Carol answers.', 2000))])
      // Expired while pending (nobody serves the model) and while assigned (bob never answers).
      const stale = submit(alice, 'expired pending', 'nobody-serves:1b')
      const abandoned = submit(alice, 'expired assigned')
      await block([stale, abandoned])
      await block([]) // the assign of the abandoned job
      await block([], 6000)
      const expiredAssigned = sim.job(jobIdFromTxHash(abandoned.hash))
      expect([expiredAssigned.status, expiredAssigned.miner, expiredAssigned.slashed !== null && expiredAssigned.slashed > 0n]).to.deep.equal(['expired', bob.address, true])
      expect(sim.job(jobIdFromTxHash(stale.hash))).to.deep.include({ status: 'expired', miner: null })

      const statuses = new Set<string>()
      for (const id of sim.jobIds) {
        const node = jobJSON(sim.job(id))
        statuses.add(node.status)
        const indexed = await idx.reader.jobRecord(id)
        expect(indexed, id).to.not.equal(undefined)
        // Field for field, and in the node's order.
        expect(JSON.stringify(nodeFieldsOf(indexed!)), `${id} (${node.status})`).to.equal(JSON.stringify(node))
      }
      expect([...statuses].sort()).to.deep.equal(['cancelled', 'completed', 'expired', 'failed'])
      expect((await idx.reader.job(jobIdFromTxHash(onCarol.hash)))?.price_per_second).to.equal('45000')
      const byStatus = idx.writer.counts.by_status
      for (const st of ['pending', 'assigned', 'completed', 'failed', 'cancelled', 'expired'] as const) {
        expect(byStatus[st], st).to.equal(sim.jobIds.filter(id => sim.job(id).status === st).length)
      }
    } finally {
      await idx.destroy()
    }
  })
})

describe('coordinator: checked jobs indexed from the chain\'s events equal the node\'s aitbc_job answers', () => {
  // Four miners of one model at verification_rate 1: every committed job is sampled and two
  // verifiers re-run it. One job passes, one fails (its miner lies), and in one a verifier keeps
  // silent past the commit deadline: it is slashed and another is drawn in its place.
  it('pass, fail (a lying miner), and a silent verifier replaced', async () => {
    const miners = ['coord-m1', 'coord-m2', 'coord-m3', 'coord-m4'].map(keyOf)
    const sim = new ChainSim({
      validator,
      accounts: [{ key: alice, balance: 10n ** 12n }, ...miners.map(key => ({ key, balance: 10n ** 9n }))],
      // Twice the minimum stake: a slashed miner stays eligible.
      miners: miners.map(key => ({ key, models: [MODEL], pricePerSecond: PRICE, capacity: 2, stake: 2n * STAKE })),
      params: { assign_timeout_s: 5, job_timeout_s: 5, verification_rate: '1' },
    })
    const keyOfAddress = (a: string): SigningKey => miners.find(k => k.address === a) as SigningKey
    const idx = await openTestIndex()
    const blocks = new BlockMaker(validator, sim.chainId)
    const block = async (txs: Tx[], dtMs = 1000): Promise<void> => {
      const { overlay, ctx, beginEvents, beacon } = sim.begin({ dt: dtMs })
      const assigns = [...(beacon === null ? [] : [beacon]), ...proposeAssigns(overlay, ctx, validator)]
      const all = [...assigns.map(a => a.tx), ...txs]
      const results = [...assigns.map(a => a.result), ...txs.map(tx => applyTx(overlay, tx, ctx, 'deliver'))]
      for (const [i, r] of results.entries()) expect(r.code, `tx ${i} (${all[i].type}): ${r.log}`).to.equal(0)
      sim.commit(overlay, ctx)
      await idx.writer.write(blocks.next(all.map((tx, i) => ({ tx, events: txResultJSON(results[i]).events })), { finalize: eventsJSON(beginEvents), dtMs }))
    }
    const HONEST = 'Machine learning is a field of artificial intelligence that learns from data.'
    const LIE = 'lorem ipsum filler, nothing was computed here at all'
    /** One job from submit to verdict; `lie`: its miner commits filler; `silent`: the first verifier never commits. */
    const run = async (prompt: string, o: { lie?: boolean, silent?: boolean } = {}): Promise<string> => {
      const sub = sim.sign(alice, body.submit(MODEL, prompt, 1_000_000n))
      const id = jobIdFromTxHash(sub.hash)
      await block([sub])
      await block([]) // assigned
      const miner = keyOfAddress(sim.job(id).miner as string)
      const text = o.lie === true ? LIE : HONEST
      await block([sim.sign(miner, body.commit(id, miner.address, text))])
      await block([]) // the sample: verifiers drawn
      let runs = sim.job(id).verification?.runs ?? []
      expect(runs).to.have.length(2)
      const committing = o.silent === true ? runs.slice(1) : runs
      await block(committing.map(r => sim.sign(keyOfAddress(r.miner), body.commit(id, r.miner, HONEST, { sealed: null }))))
      if (o.silent === true) {
        await block([], 6000) // past the commit deadline: the silent one is replaced
        runs = sim.job(id).verification?.runs ?? []
        expect(runs.map(r => r.outcome)).to.deep.equal(['silent', null, null])
        await block([sim.sign(keyOfAddress(runs[2].miner), body.commit(id, runs[2].miner, HONEST, { sealed: null }))])
      }
      expect(sim.job(id).verification?.phase).to.equal('reveal')
      const revealers = [miner.address, ...runs.filter(r => r.commitment !== null || r.outcome === null).map(r => r.miner)].filter((a, i, l) => l.indexOf(a) === i)
      await block(revealers.map(a => sim.sign(keyOfAddress(a), body.reveal(id, a === miner.address ? text : HONEST))))
      return id
    }
    try {
      await idx.writer.init(sim.genesis)
      const passed = await run('first')
      const failed = await run('second', { lie: true })
      const replaced = await run('third', { silent: true })
      expect(sim.job(passed)).to.deep.include({ status: 'completed' })
      expect(sim.job(passed).verification?.outcome).to.equal('pass')
      expect(sim.job(failed)).to.deep.include({ status: 'rejected', paid: 0n, refund: 1_000_000n })
      expect(sim.job(failed).verification?.outcome).to.equal('fail')
      expect(sim.job(replaced).verification?.outcome).to.equal('pass')
      for (const id of sim.jobIds) {
        const node = jobJSON(sim.job(id))
        const indexed = await idx.reader.jobRecord(id)
        expect(JSON.stringify(nodeFieldsOf(indexed!)), `${id} (${node.status})`).to.equal(JSON.stringify(node))
      }
      expect((await idx.reader.job(failed))?.timeline.map(t => t.step)).to.deep.equal(['submitted', 'assigned', 'verifying', 'rejected'])
      // The verifiers list the jobs they checked.
      const verifier = sim.job(passed).verification?.runs[0].miner as string
      expect((await idx.reader.jobs({ miner: verifier, limit: 10 })).jobs.map(j => j.job_id)).to.include(passed)
      const byStatus = idx.writer.counts.by_status
      for (const st of ['completed', 'rejected', 'verifying'] as const) expect(byStatus[st], st).to.equal(sim.jobIds.filter(id => sim.job(id).status === st).length)
    } finally {
      await idx.destroy()
    }
  })
})
