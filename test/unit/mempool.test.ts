// The mempool (node/chain/mempool.ts) over a real Chain on a LevelDB in a temp folder: check and
// add, duplicates, already committed txs, limits by count and by bytes, several txs per sender in
// nonce order, the pending nonce, the re-check after a block (evicting what the block made
// invalid), which refusals are permanent, and that a refused tx changes nothing.
import { expect } from 'chai'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256, utf8Bytes, type SigningKey } from '../../node/core/crypto.ts'
import { TxError, type TxErrorCode } from '../../node/core/errors.ts'
import { signTx, jobIdFromTxHash, type Tx, type TxBody } from '../../node/core/tx.ts'
import { createProposal } from '../../node/core/executor.ts'
import type { Commit } from '../../node/core/block.ts'
import { Chain } from '../../node/chain/chain.ts'
import { ChainStore } from '../../node/chain/store.ts'
import { Mempool, type MempoolOptions } from '../../node/chain/mempool.ts'
import { silentLogger } from '../../node/logger.ts'
import { parseGenesis, type Genesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { keyNamed, signCommit } from '../helpers/memChain.ts'

const AITBC = 1_000_000n
const FEE = 1000n
const V = keyNamed('mempool-validator')
const ALICE = keyNamed('mempool-alice')
const BOB = keyNamed('mempool-bob')
const CAROL = keyNamed('mempool-carol')
const MINER = keyNamed('mempool-miner')
const T0 = Date.parse('2024-03-01T00:00:00.000Z')
const CHAIN_ID = 'aitbc-mempool-test'

const GENESIS: Genesis = parseGenesis(makeGenesisJSON({
  chainId: CHAIN_ID,
  genesisTime: new Date(T0).toISOString(),
  validators: [{ pubKey: V.publicKey }],
  accounts: [
    { address: ALICE.address, balance: 100n * AITBC }, { address: BOB.address, balance: 10n * AITBC },
    { address: CAROL.address, balance: 50n * AITBC }, { address: MINER.address, balance: 1n * AITBC },
  ],
  miners: [{ address: MINER.address, models: ['llama3'], pricePerSecond: 20_000n, capacity: 1, stake: 100n * AITBC }],
  params: { min_fee: String(FEE), max_tx_bytes: 1024, max_prompt_bytes: 64, job_timeout_s: 1, assign_timeout_s: 600, verification_rate: '0' },
}))

const tx = (k: SigningKey, nonce: number, b: TxBody, o: { fee?: bigint, chainId?: string } = {}): Tx =>
  signTx(k, { chainId: o.chainId ?? CHAIN_ID, nonce, fee: o.fee ?? (b.type === 'assign' ? 0n : FEE), body: b })
const transfer = (k: SigningKey, nonce: number, to: SigningKey, amount: bigint): Tx => tx(k, nonce, { type: 'transfer', to: to.address, amount })
const submit = (k: SigningKey, nonce: number, model = 'llama3'): Tx =>
  tx(k, nonce, { type: 'submit_job', model, prompt: 'hello', options: { temperature: null, numPredict: null, seed: null }, maxFee: AITBC, maxPricePerSecond: null })

function refusal (f: () => unknown): TxError {
  try {
    f()
  } catch (e) {
    if (e instanceof TxError) return e
    throw e
  }
  throw new Error('the transaction was accepted')
}

describe('mempool', () => {
  let dir: string
  let store: ChainStore
  let chain: Chain
  let lastCommit: Commit | null
  const open: Mempool[] = []

  function mempool (opts: Partial<MempoolOptions> = {}): Mempool {
    const m = new Mempool({ maxTxs: 1000, maxBytes: 1 << 20, ...opts }, chain, silentLogger())
    open.push(m)
    return m
  }

  /** Commits a block of exactly these txs (and the assigns the draw requires), dt ms after the last. */
  async function commitBlock (txs: Tx[], dt = 1000): Promise<void> {
    const time = chain.meta.lastBlockTime + dt
    const { block, exec } = createProposal(chain.view(), { signer: V, time, lastCommit, txs, onTxRejected: (_t, e) => { throw e } })
    const commit = signCommit(CHAIN_ID, chain.validators, block, 0, [{ key: V, timestamp: time + 1 }])
    await chain.commitBlock(block, commit, exec)
    lastCommit = commit
  }

  /** What a refused tx must leave unchanged. */
  function snapshot (m: Mempool): unknown {
    return { size: m.size, bytes: m.sizeBytes, list: m.list().map(t => t.hash), queued: m.listQueued().map(t => t.hash), nonces: [ALICE, BOB, CAROL, MINER].map(k => m.pendingNonce(k.address)) }
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aitbc-mempool-'))
    store = await ChainStore.open(dir)
    chain = new Chain(GENESIS, store, silentLogger())
    await chain.init()
    lastCommit = null
  })

  afterEach(async () => {
    for (const m of open.splice(0)) m.removeAllListeners()
    chain.removeAllListeners()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('check runs the full check without adding; add adds, in arrival order, and announces it', async () => {
    const m = mempool()
    const added: Array<[string, string]> = []
    m.on('added', (t, source) => added.push([t.hash, source]))
    const a = transfer(ALICE, 0, BOB, AITBC)
    expect(m.check(a.bytes).result.code).to.equal(0)
    expect(m.size).to.equal(0)
    expect(m.pendingNonce(ALICE.address)).to.equal(0)
    expect(m.add(a.bytes).tx.hash).to.equal(a.hash)
    const b = transfer(BOB, 0, ALICE, AITBC)
    m.add(b.bytes, 'p2p')
    expect(m.size).to.equal(2)
    expect(m.sizeBytes).to.equal(a.bytes.length + b.bytes.length)
    expect(m.has(a.hash) && m.has(b.hash)).to.equal(true)
    expect(m.get(b.hash)?.sender).to.equal(BOB.address)
    expect(m.list().map(t => t.hash)).to.deep.equal([a.hash, b.hash])
    expect(m.list(1).map(t => t.hash)).to.deep.equal([a.hash])
    expect(added).to.deep.equal([[a.hash, 'rpc'], [b.hash, 'p2p']])
  })

  it('refuses a tx it holds already (TX_IN_MEMPOOL) and changes nothing', async () => {
    const m = mempool()
    const a = transfer(ALICE, 0, BOB, AITBC)
    m.add(a.bytes)
    const before = snapshot(m)
    const e = refusal(() => m.add(a.bytes))
    expect(e.code).to.equal('TX_IN_MEMPOOL')
    expect(e.permanent).to.equal(false)
    expect(snapshot(m)).to.deep.equal(before)
  })

  it('drops the txs of a committed block and refuses them afterwards (TX_ALREADY_COMMITTED)', async () => {
    const m = mempool()
    const a = transfer(ALICE, 0, BOB, AITBC)
    const b = transfer(BOB, 0, CAROL, AITBC)
    m.add(a.bytes)
    const evicted: string[] = []
    m.on('evicted', t => evicted.push(t.hash))
    await commitBlock([a, b]) // b never went through this mempool
    expect(m.size).to.equal(0)
    expect(m.sizeBytes).to.equal(0)
    expect(evicted).to.deep.equal([]) // included, not evicted
    for (const t of [a, b]) {
      const e = refusal(() => m.add(t.bytes))
      expect(e.code).to.equal('TX_ALREADY_COMMITTED')
      expect(e.permanent).to.equal(false)
    }
  })

  it('is full by count (MEMPOOL_FULL), and takes txs again once a block empties it', async () => {
    const m = mempool({ maxTxs: 2 })
    const a = transfer(ALICE, 0, BOB, AITBC)
    const b = transfer(ALICE, 1, BOB, AITBC)
    const c = transfer(CAROL, 0, BOB, AITBC)
    m.add(a.bytes)
    m.add(b.bytes)
    const before = snapshot(m)
    const e = refusal(() => m.add(c.bytes))
    expect(e.code).to.equal('MEMPOOL_FULL')
    expect(e.permanent).to.equal(false)
    expect(snapshot(m)).to.deep.equal(before)
    await commitBlock(m.list())
    expect(m.size).to.equal(0)
    m.add(c.bytes)
    expect(m.list().map(t => t.hash)).to.deep.equal([c.hash])
  })

  it('is full by bytes (MEMPOOL_FULL): the limit counts the bytes of the txs it holds', async () => {
    const a = transfer(ALICE, 0, BOB, AITBC)
    const b = transfer(CAROL, 0, BOB, AITBC)
    const exact = mempool({ maxBytes: a.bytes.length + b.bytes.length })
    exact.add(a.bytes)
    exact.add(b.bytes)
    expect(exact.size).to.equal(2)
    const tight = mempool({ maxBytes: a.bytes.length + b.bytes.length - 1 })
    tight.add(a.bytes)
    const before = snapshot(tight)
    const e = refusal(() => tight.add(b.bytes))
    expect(e.code).to.equal('MEMPOOL_FULL')
    expect(snapshot(tight)).to.deep.equal(before)
  })

  it('holds several txs per sender in nonce order; pendingNonce counts them; a skipped or used nonce is refused', async () => {
    const m = mempool()
    const txs = [0, 1, 2].map(n => transfer(ALICE, n, CAROL, AITBC))
    for (const t of txs) m.add(t.bytes)
    expect(m.pendingNonce(ALICE.address)).to.equal(3)
    expect(m.pendingNonce(BOB.address)).to.equal(0)
    expect(m.list().map(t => t.nonce)).to.deep.equal([0, 1, 2])
    // check() sees the pending state too, and changes nothing.
    expect(m.check(transfer(ALICE, 3, BOB, AITBC).bytes).result.code).to.equal(0)
    expect(m.pendingNonce(ALICE.address)).to.equal(3)
    expect(m.add(transfer(ALICE, 4, BOB, AITBC).bytes).queued).to.equal(true) // a future nonce waits (tests in mempool-queue.test.ts)
    expect(m.pendingNonce(ALICE.address)).to.equal(3)
    expect(refusal(() => m.add(transfer(ALICE, 1, CAROL, 2n * AITBC).bytes)).code).to.equal('NONCE_USED')
    // Funds are counted on top of the pending txs: BOB has 10 AITBC.
    m.add(transfer(BOB, 0, CAROL, 6n * AITBC).bytes)
    expect(refusal(() => m.add(transfer(BOB, 1, CAROL, 6n * AITBC).bytes)).code).to.equal('INSUFFICIENT_FUNDS')
    m.add(transfer(BOB, 1, CAROL, 3n * AITBC).bytes)
    expect(m.pendingNonce(BOB.address)).to.equal(2)
  })

  it('after a block, re-checks the rest in order and evicts what the block made invalid (nonce used)', async () => {
    const m = mempool()
    const a0 = transfer(ALICE, 0, BOB, AITBC)
    const a1 = transfer(ALICE, 1, BOB, AITBC)
    const c0 = transfer(CAROL, 0, BOB, AITBC)
    for (const t of [a0, a1, c0]) m.add(t.bytes)
    const evicted: Array<[string, TxErrorCode]> = []
    m.on('evicted', (t, e) => evicted.push([t.hash, e.code]))
    // Another tx with ALICE's nonce 0 gets into a block (sent to another node), with CAROL's.
    const other = transfer(ALICE, 0, CAROL, 2n * AITBC)
    await commitBlock([other, c0])
    expect(evicted).to.deep.equal([[a0.hash, 'NONCE_USED']])
    expect(m.list().map(t => t.hash)).to.deep.equal([a1.hash]) // nonce 1 is next now: it stays
    expect(m.sizeBytes).to.equal(a1.bytes.length)
    expect(m.pendingNonce(ALICE.address)).to.equal(2)
    expect(m.pendingNonce(CAROL.address)).to.equal(1)
  })

  it('after a block, evicts a receipt for a job the block expired (JOB_ALREADY_SETTLED)', async () => {
    const m = mempool()
    const s = submit(CAROL, 0)
    await commitBlock([s])
    await commitBlock([]) // the assign: drawn at the start of the next block
    const job = chain.state.job(jobIdFromTxHash(s.hash))
    expect(job?.status).to.equal('assigned')
    const receipt = tx(MINER, 0, { type: 'record_receipt', jobId: job?.id as string, status: 'completed', result: 'ok', resultHash: sha256(utf8Bytes('ok')), metrics: { computeMs: 10, promptTokens: 1, completionTokens: 1 }, error: null })
    m.add(receipt.bytes)
    const evicted: Array<[string, TxErrorCode]> = []
    m.on('evicted', (t, e) => evicted.push([t.hash, e.code]))
    await commitBlock([], 1001) // past job_timeout_s (1 s) after the assignment: the job expires
    expect(chain.state.job(job?.id as string)?.status).to.equal('expired')
    expect(evicted).to.deep.equal([[receipt.hash, 'JOB_ALREADY_SETTLED']])
    expect(m.size).to.equal(0)
  })

  describe('refusals: their code, whether they are permanent, and that nothing changes', () => {
    const big = new Uint8Array(1025).fill(0x90)
    const badSig = (): Uint8Array => { const b = new Uint8Array(transfer(ALICE, 0, BOB, AITBC).bytes); b[b.length - 1] ^= 1; return b }
    const cases: Array<{ name: string, bytes: () => Uint8Array, code: TxErrorCode, permanent: boolean }> = [
      { name: 'not msgpack', bytes: () => utf8Bytes('not a transaction'), code: 'TX_DECODE', permanent: true },
      { name: 'empty', bytes: () => new Uint8Array(0), code: 'TX_DECODE', permanent: true },
      { name: 'above max_tx_bytes', bytes: () => big, code: 'TX_TOO_LARGE', permanent: true },
      { name: 'a bad signature', bytes: badSig, code: 'BAD_SIGNATURE', permanent: true },
      { name: 'another chain', bytes: () => tx(ALICE, 0, { type: 'transfer', to: BOB.address, amount: AITBC }, { chainId: 'other-chain' }).bytes, code: 'WRONG_CHAIN_ID', permanent: true },
      { name: 'a fee below min_fee', bytes: () => tx(ALICE, 0, { type: 'transfer', to: BOB.address, amount: AITBC }, { fee: FEE - 1n }).bytes, code: 'FEE_TOO_LOW', permanent: true },
      { name: 'a zero amount (static check)', bytes: () => transfer(ALICE, 0, BOB, 0n).bytes, code: 'INVALID_AMOUNT', permanent: true },
      { name: 'a prompt above max_prompt_bytes (static check)', bytes: () => tx(ALICE, 0, { type: 'submit_job', model: 'llama3', prompt: 'x'.repeat(65), options: { temperature: null, numPredict: null, seed: null }, maxFee: AITBC, maxPricePerSecond: null }).bytes, code: 'PROMPT_TOO_LARGE', permanent: true },
      { name: 'an assign', bytes: () => tx(V, 0, { type: 'assign', jobId: 'job_0123456789abcdef', miner: MINER.address }).bytes, code: 'ASSIGN_ONLY_IN_BLOCK', permanent: true },
      { name: 'a nonce more than 64 ahead (beyond the queue)', bytes: () => transfer(ALICE, 65, BOB, AITBC).bytes, code: 'MEMPOOL_QUEUE_FULL', permanent: false },
      { name: 'more than the balance', bytes: () => transfer(BOB, 0, ALICE, 10n * AITBC).bytes, code: 'INSUFFICIENT_FUNDS', permanent: false },
      { name: 'a register_miner whose stake the balance cannot pay', bytes: () => tx(BOB, 0, { type: 'register_miner', models: ['llama3'], pricePerSecond: 1n, capacity: 1, stake: 100n * AITBC }).bytes, code: 'INSUFFICIENT_FUNDS', permanent: false },
      { name: 'a cancel of an unknown job', bytes: () => tx(ALICE, 0, { type: 'cancel_job', jobId: 'job_0123456789abcdef' }).bytes, code: 'JOB_NOT_FOUND', permanent: false },
      { name: 'a stake by a non-miner', bytes: () => tx(ALICE, 0, { type: 'stake', amount: AITBC }).bytes, code: 'MINER_NOT_FOUND', permanent: false },
    ]
    for (const c of cases) {
      it(`${c.name} → ${c.code}, permanent ${String(c.permanent)}`, async () => {
        const m = mempool()
        m.add(transfer(CAROL, 0, ALICE, AITBC).bytes) // something pending, which must stay as it is
        const before = snapshot(m)
        const bytes = c.bytes()
        for (const f of [() => m.check(bytes), () => m.add(bytes)]) {
          const e = refusal(f)
          expect(e.code, e.message).to.equal(c.code)
          expect(e.permanent, `permanent of ${e.code}`).to.equal(c.permanent)
          expect(snapshot(m)).to.deep.equal(before)
        }
        // The pending state is untouched: the senders' next nonces are still accepted.
        m.add(transfer(CAROL, 1, ALICE, AITBC).bytes)
        m.add(transfer(ALICE, 0, BOB, AITBC).bytes)
        m.add(transfer(BOB, 0, ALICE, AITBC).bytes)
        expect(m.size).to.equal(4)
      })
    }
  })

  it('a tx that fails in its handler after the nonce check writes nothing to the pending state', async () => {
    const m = mempool()
    m.add(transfer(BOB, 0, ALICE, 4n * AITBC).bytes)
    const before = snapshot(m)
    // Passes the static, nonce and the handler's first checks; fails on funds (6 AITBC left, stake 100).
    const reg = tx(BOB, 1, { type: 'register_miner', models: ['llama3'], pricePerSecond: 1n, capacity: 1, stake: 100n * AITBC })
    expect(refusal(() => m.add(reg.bytes)).code).to.equal('INSUFFICIENT_FUNDS')
    expect(snapshot(m)).to.deep.equal(before)
    // BOB is still not a miner in the pending state, and his balance is as before: a stake is refused, a 5.99 AITBC transfer passes.
    expect(refusal(() => m.check(tx(BOB, 1, { type: 'stake', amount: 1n }).bytes)).code).to.equal('MINER_NOT_FOUND')
    m.add(transfer(BOB, 1, ALICE, 6n * AITBC - 2n * FEE).bytes)
    expect(m.pendingNonce(BOB.address)).to.equal(2)
  })

  describe('attack: gossip replay (a resend costs the victim a hash, not a signature check)', () => {
    it('a tx already in the mempool, resent 100 times, is verified once', () => {
      const m = mempool()
      const t = transfer(ALICE, 0, BOB, 1n)
      m.add(t.bytes)
      for (let i = 0; i < 100; i++) expect(refusal(() => m.add(t.bytes, 'p2p')).code).to.equal('TX_IN_MEMPOOL')
      expect(m.verifications).to.equal(1)
    })

    it('a tx with a bad signature, resent: the same permanent answer from memory, without another verify', () => {
      const m = mempool()
      const bytes = new Uint8Array(transfer(ALICE, 0, BOB, 1n).bytes)
      bytes[bytes.length - 1] ^= 1
      const first = refusal(() => m.add(bytes, 'p2p'))
      expect([first.code, first.permanent]).to.deep.equal(['BAD_SIGNATURE', true])
      for (let i = 0; i < 50; i++) {
        const again = refusal(() => m.add(bytes, 'p2p'))
        expect([again.code, again.message, again.permanent]).to.deep.equal([first.code, first.message, true])
      }
      expect(m.verifications).to.equal(1)
    })

    it('a committed tx, resent: TX_ALREADY_COMMITTED without a verify', async () => {
      const m = mempool()
      const t = transfer(ALICE, 0, BOB, 1n)
      m.add(t.bytes)
      await commitBlock([t])
      const before = m.verifications
      expect(refusal(() => m.add(t.bytes, 'p2p')).code).to.equal('TX_ALREADY_COMMITTED')
      expect(m.verifications).to.equal(before)
    })

    it('a tx too far ahead (MEMPOOL_QUEUE_FULL) is not remembered as bad: it is accepted once the gap shrinks', () => {
      const m = mempool({ maxQueuedPerSender: 1 })
      const early = transfer(ALICE, 2, BOB, 1n)
      const e = refusal(() => m.add(early.bytes, 'p2p'))
      expect([e.code, e.permanent]).to.deep.equal(['MEMPOOL_QUEUE_FULL', false])
      m.add(transfer(ALICE, 0, BOB, 1n).bytes)
      expect(m.add(early.bytes, 'p2p').queued).to.equal(true)
    })
  })
})
