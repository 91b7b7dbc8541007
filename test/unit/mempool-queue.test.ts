// The mempool's queue of future nonces (node/chain/mempool.ts, docs/protocol.md 2.7), one table
// row per case: out of order, gap fill, a gap filled by a block, expiry, the per-sender cap, the
// total cap, a sender that cannot pay the fees, eviction re-queue, duplicates, a queued nonce used
// by a block. Each row is a list of steps (add a tx and what it must answer, commit a block) and
// what the mempool must hold afterwards: ready txs in order, queued txs, which txs became ready
// (the 'added' event, what gossip sends: never a queued tx) and which left and why.
import { expect } from 'chai'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SigningKey } from '../../node/core/crypto.ts'
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
const V = keyNamed('queue-validator')
const KEYS: Record<string, SigningKey> = { A: keyNamed('queue-alice'), B: keyNamed('queue-bob'), C: keyNamed('queue-carol'), P: keyNamed('queue-poor') }
const SINK = keyNamed('queue-sink')
const MINER = keyNamed('queue-miner')
const T0 = Date.parse('2024-03-01T00:00:00.000Z')
const CHAIN_ID = 'aitbc-queue-test'

const GENESIS: Genesis = parseGenesis(makeGenesisJSON({
  chainId: CHAIN_ID,
  genesisTime: new Date(T0).toISOString(),
  validators: [{ pubKey: V.publicKey }],
  accounts: [
    { address: KEYS.A.address, balance: 100n * AITBC }, { address: KEYS.B.address, balance: 100n * AITBC },
    { address: KEYS.C.address, balance: 100n * AITBC }, { address: KEYS.P.address, balance: 2n * FEE + 10n },
    { address: MINER.address, balance: AITBC },
  ],
  miners: [{ address: MINER.address, models: ['llama3'], pricePerSecond: 20_000n, capacity: 1, stake: 100n * AITBC }],
  params: { min_fee: String(FEE), max_tx_bytes: 1024, assign_timeout_s: 600, job_timeout_s: 600, verification_rate: '0' },
}))

const sign = (k: SigningKey, nonce: number, body: TxBody): Tx => signTx(k, { chainId: CHAIN_ID, nonce, fee: FEE, body })

/** Labels: "A3" is A's transfer of 1 uaitbc with nonce 3, "A3*" another tx with that nonce (2 uaitbc); a row may define more. */
function labelTx (label: string, extra: Record<string, () => Tx>): Tx {
  const f = extra[label]
  if (f !== undefined) return f()
  const m = /^([ABCP])(\d+)(\*?)$/.exec(label)
  if (m === null) throw new Error(`bad label ${label}`)
  return sign(KEYS[m[1]], Number(m[2]), { type: 'transfer', to: SINK.address, amount: m[3] === '*' ? 2n : 1n })
}

type Step =
  | { add: string, want: 'ready' | 'queued' | TxErrorCode, message?: RegExp }
  | { block: string[] }
  | { check: string, want: 'would be queued' | TxErrorCode }

interface Row {
  name: string
  opts?: Partial<MempoolOptions>
  /** Txs by label, built when first used (after the steps before them ran: a job id may need the chain). */
  extra?: (ctx: { chain: Chain, tx: (l: string) => Tx }) => Record<string, () => Tx>
  steps: Step[]
  ready: string[]
  queued: string[]
  added: string[]
  dropped?: Array<[string, TxErrorCode]>
}

const ROWS: Row[] = [
  {
    name: 'out of order: 2, 1, 0 from one sender become ready in nonce order when 0 arrives',
    steps: [{ add: 'A2', want: 'queued', message: /^queued: nonce 2 waits for nonce 0 of aitbc1\S+ \(2 ahead\)/ }, { add: 'A1', want: 'queued' }, { add: 'A0', want: 'ready' }],
    ready: ['A0', 'A1', 'A2'], queued: [], added: ['A0', 'A1', 'A2'],
  },
  {
    name: 'gap fill: 0, 2, 3 wait for 1; 1 promotes them; other senders are not held up',
    steps: [{ add: 'A0', want: 'ready' }, { add: 'A3', want: 'queued' }, { add: 'A2', want: 'queued' }, { add: 'B0', want: 'ready' }, { add: 'A1', want: 'ready' }],
    ready: ['A0', 'B0', 'A1', 'A2', 'A3'], queued: [], added: ['A0', 'B0', 'A1', 'A2', 'A3'],
  },
  {
    name: 'a gap filled by a block (the missing nonce went to another node): the queued tx is promoted after the block',
    steps: [{ add: 'A1', want: 'queued' }, { add: 'A2', want: 'queued' }, { block: ['A0'] }],
    ready: ['A1', 'A2'], queued: [], added: ['A1', 'A2'],
  },
  {
    name: 'a queued tx is shown by check as "would be queued" and check adds nothing',
    steps: [{ add: 'A0', want: 'ready' }, { check: 'A2', want: 'would be queued' }, { check: 'A70', want: 'MEMPOOL_QUEUE_FULL' }],
    ready: ['A0'], queued: [], added: ['A0'],
  },
  {
    name: 'expiry: a queued tx that waits queue_expiry_blocks blocks is dropped (TX_EXPIRED) and not promoted later',
    opts: { queueExpiryBlocks: 2 },
    steps: [{ add: 'A2', want: 'queued' }, { block: [] }, { add: 'B1', want: 'queued' }, { block: [] }, { add: 'A0', want: 'ready' }, { add: 'A1', want: 'ready' }],
    ready: ['A0', 'A1'], queued: ['B1'], added: ['A0', 'A1'], dropped: [['A2', 'TX_EXPIRED']],
  },
  {
    name: 'per-sender cap: at most maxQueuedPerSender future nonces, and none further ahead than that',
    opts: { maxQueuedPerSender: 2 },
    steps: [
      { add: 'A1', want: 'queued' }, { add: 'A2', want: 'queued' },
      { add: 'A3', want: 'MEMPOOL_QUEUE_FULL', message: /nonce 3 is 3 ahead of the next nonce 0 .* at most 2 future nonces \(up to 2\) may wait/ },
      { add: 'B2', want: 'queued' }, // another sender has its own room
    ],
    ready: [], queued: ['A1', 'A2', 'B2'], added: [],
  },
  {
    name: 'total cap: at most maxQueued future-nonce txs in all',
    opts: { maxQueued: 2 },
    steps: [{ add: 'A1', want: 'queued' }, { add: 'B1', want: 'queued' }, { add: 'C1', want: 'MEMPOOL_QUEUE_FULL', message: /queue of future-nonce txs is full \(2 txs\)/ }, { add: 'C0', want: 'ready' }],
    ready: ['C0'], queued: ['A1', 'B1'], added: ['C0'],
  },
  {
    name: 'a sender who cannot pay the fees of its queued txs is refused (P has two fees and 10 uaitbc)',
    steps: [{ add: 'P1', want: 'queued' }, { add: 'P2', want: 'queued' }, { add: 'P3', want: 'INSUFFICIENT_FUNDS', message: /cannot pay the fees of its queued txs: they come to 3000 uaitbc/ }],
    ready: [], queued: ['P1', 'P2'], added: [],
  },
  {
    name: 'eviction re-queue: a block makes B1 invalid (its job got assigned); B2 and B3 behind it go back to the queue, and a new B1 promotes them',
    extra: ({ chain, tx }) => ({
      B0job: () => sign(KEYS.B, 0, { type: 'submit_job', model: 'llama3', prompt: 'hi', options: { temperature: null, numPredict: null, seed: null }, maxFee: AITBC, maxPricePerSecond: null }),
      B1cancel: () => {
        const id = jobIdFromTxHash(tx('B0job').hash)
        expect(chain.state.job(id)?.status).to.equal('pending')
        return sign(KEYS.B, 1, { type: 'cancel_job', jobId: id })
      },
    }),
    steps: [
      { add: 'B0job', want: 'ready' }, { block: ['B0job'] }, // the job is pending; the next block assigns it
      { add: 'B1cancel', want: 'ready' }, { add: 'B2', want: 'ready' }, { add: 'B3', want: 'ready' },
      { block: [] }, // the assign: B1cancel is now JOB_NOT_PENDING
      { add: 'B1', want: 'ready' },
    ],
    ready: ['B1', 'B2', 'B3'], queued: [], added: ['B0job', 'B1cancel', 'B2', 'B3', 'B1', 'B2', 'B3'], dropped: [['B1cancel', 'JOB_NOT_PENDING']],
  },
  {
    name: 'duplicates: the same queued tx again, and another tx for a queued nonce, are refused (TX_IN_MEMPOOL)',
    steps: [{ add: 'A1', want: 'queued' }, { add: 'A1', want: 'TX_IN_MEMPOOL', message: /queued for a lower nonce/ }, { add: 'A1*', want: 'TX_IN_MEMPOOL', message: /nonce 1 of \S+ is already queued by tx/ }, { add: 'A0', want: 'ready' }],
    ready: ['A0', 'A1'], queued: [], added: ['A0', 'A1'],
  },
  {
    name: 'a queued nonce used by a block (another tx with that nonce) is dropped (NONCE_USED)',
    steps: [{ add: 'A1', want: 'queued' }, { add: 'A2', want: 'queued' }, { block: ['A0', 'A1*'] }],
    ready: ['A2'], queued: [], added: ['A2'], dropped: [['A1', 'NONCE_USED']],
  },
]

describe('mempool: the queue of future nonces', () => {
  let dir: string
  let store: ChainStore
  let chain: Chain
  let lastCommit: Commit | null

  async function commitBlock (txs: Tx[]): Promise<void> {
    const time = chain.meta.lastBlockTime + 1000
    const { block, exec } = createProposal(chain.view(), { signer: V, time, lastCommit, txs, onTxRejected: (_t, e) => { throw e } })
    const commit = signCommit(CHAIN_ID, chain.validators, block, 0, [{ key: V, timestamp: time + 1 }])
    await chain.commitBlock(block, commit, exec)
    lastCommit = commit
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aitbc-queue-'))
    store = await ChainStore.open(dir)
    chain = new Chain(GENESIS, store, silentLogger())
    await chain.init()
    lastCommit = null
  })

  afterEach(async () => {
    chain.removeAllListeners()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  for (const row of ROWS) {
    it(row.name, async () => {
      const m = new Mempool({ maxTxs: 1000, maxBytes: 1 << 20, ...row.opts }, chain, silentLogger())
      const built = new Map<string, Tx>()
      const names = new Map<string, string>()
      const tx = (l: string): Tx => {
        let t = built.get(l)
        if (t === undefined) { t = labelTx(l, extra); built.set(l, t); names.set(t.hash, l) }
        return t
      }
      const extra = row.extra?.({ chain, tx }) ?? {}
      const added: string[] = []
      const dropped: Array<[string, TxErrorCode]> = []
      m.on('added', t => added.push(names.get(t.hash) ?? t.hash))
      m.on('evicted', (t, e) => dropped.push([names.get(t.hash) ?? t.hash, e.code]))
      for (const s of row.steps) {
        if ('block' in s) { await commitBlock(s.block.map(tx)); continue }
        if ('check' in s) {
          try {
            const r = m.check(tx(s.check).bytes)
            expect(r.result.log).to.match(/^would be queued: /)
            expect(s.want).to.equal('would be queued')
          } catch (e) {
            if (!(e instanceof TxError)) throw e
            expect(e.code, e.message).to.equal(s.want)
          }
          continue
        }
        const t = tx(s.add)
        let got: string
        let message: string
        try {
          const r = m.add(t.bytes)
          got = r.queued ? 'queued' : 'ready'
          message = r.result.log
          expect(r.result.code).to.equal(0)
        } catch (e) {
          if (!(e instanceof TxError)) throw e
          got = e.code
          message = e.message
          expect(e.permanent, 'queue refusals are not permanent').to.equal(false)
        }
        expect(got, `${s.add}: ${message}`).to.equal(s.want)
        if (s.message !== undefined) expect(message).to.match(s.message)
      }
      const label = (t: Tx): string => names.get(t.hash) ?? t.hash
      expect(m.list().map(label), 'ready').to.deep.equal(row.ready)
      expect(m.listQueued().map(label), 'queued').to.deep.equal(row.queued)
      expect(added, 'added (gossiped) in order').to.deep.equal(row.added)
      expect(dropped, 'dropped').to.deep.equal(row.dropped ?? [])
      // What left is findable by hash, with its reason; what is held is counted.
      for (const [l, code] of row.dropped ?? []) expect(m.dropped(tx(l).hash)?.code).to.equal(code)
      expect(m.size).to.equal(row.ready.length)
      expect(m.queuedSize).to.equal(row.queued.length)
      expect(m.sizeBytes).to.equal(row.ready.reduce((s, l) => s + tx(l).bytes.length, 0))
      expect(m.queuedBytesTotal).to.equal(row.queued.reduce((s, l) => s + tx(l).bytes.length, 0))
      m.removeAllListeners()
    })
  }
})
