// Builder/validator agreement of the block executor (node/core/executor.ts): a block made by
// createProposal always passes validateBlock with the same app hash, change set and results, over
// many generated chains (fast-check, fixed seed) of a 4-validator genesis with real commits; and
// a block with any one header field changed, a tx dropped, added, reordered or altered, its
// evidence or its last commit altered, is refused with the BlockError code the case names.
import { expect } from 'chai'
import fc from 'fast-check'
import { sha256, toHexUpper, utf8Bytes, addressBytesFromPubkey, type SigningKey } from '../../node/core/crypto.ts'
import { BlockError, type BlockErrorCode } from '../../node/core/errors.ts'
import { encodeChangeSet } from '../../node/core/state.ts'
import { appHashAfter, createProposal, resultsHash, validateBlock, type ChainView } from '../../node/core/executor.ts'
import { commitHash, dataHash, voteSignBytes, BLOCK_ID_FLAG_ABSENT, EMPTY_HASH, VOTE_PREVOTE, type Block, type Commit, type Header } from '../../node/core/block.ts'
import { decodeTx, signTx, jobIdFromTxHash, type Tx, type TxBody } from '../../node/core/tx.ts'
import { pack } from '../../node/core/codec.ts'
import { beaconAlpha } from '../../node/core/txs/beacon.ts'
import { encodeDuplicateVote } from '../../node/consensus/evidence.ts'
import { proposerOf } from '../../node/consensus/machine.ts'
import type { SignedVote } from '../../node/consensus/messages.ts'
import { parseGenesis, type Genesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { MemChain, keyNamed, signCommit } from '../helpers/memChain.ts'

const AITBC = 1_000_000n
const FEE = 1000n
const VALS = [0, 1, 2, 3].map(i => keyNamed(`exec-validator-${i}`))
const ALICE = keyNamed('exec-alice')
const BOB = keyNamed('exec-bob')
const CAROL = keyNamed('exec-carol')
const M1 = keyNamed('exec-miner-1')
const M2 = keyNamed('exec-miner-2')
const OUTSIDER = keyNamed('exec-outsider')
/** Who sends txs in generated blocks, and who may be (or become) a miner. */
const SENDERS = [ALICE, BOB, CAROL, M1, M2]
const MINERS = [M1, M2, CAROL]
const T0 = Date.parse('2024-06-01T00:00:00.000Z')
const SEED = 20240601

function genesis (): Genesis {
  return parseGenesis(makeGenesisJSON({
    chainId: 'aitbc-exec-test',
    genesisTime: new Date(T0).toISOString(),
    validators: VALS.map((k, i) => ({ pubKey: k.publicKey, power: 10, name: `v${i}`, stake: 100n * AITBC })),
    accounts: [
      { address: ALICE.address, balance: 1000n * AITBC }, { address: BOB.address, balance: 30n * AITBC }, { address: CAROL.address, balance: 500n * AITBC },
      { address: M1.address, balance: 5n * AITBC }, { address: M2.address, balance: 5n * AITBC },
    ],
    miners: [
      { address: M1.address, models: ['llama3'], pricePerSecond: 20_000n, capacity: 2, stake: 200n * AITBC },
      { address: M2.address, models: ['llama3', 'mistral'], pricePerSecond: 50_000n, capacity: 1, stake: 300n * AITBC },
    ],
    params: { min_fee: String(FEE), min_miner_stake: String(100n * AITBC), assign_timeout_s: 20, job_timeout_s: 30, unbonding_blocks: 10, slash_fraction: '0.1', verification_rate: '0' },
  }))
}
const GENESIS = genesis()

// ---- mutations ----

/** A copy with the first byte flipped (32 bytes of 0x01 for an empty array: the first block's last_block_hash). */
function flip (b: Uint8Array): Uint8Array {
  if (b.length === 0) return new Uint8Array(32).fill(1)
  const c = new Uint8Array(b)
  c[0] ^= 1
  return c
}
function withHeader (b: Block, patch: Partial<Header>): Block { return { ...b, header: { ...b.header, ...patch } } }
/** The block with new contents and the header hashes that cover them recomputed: only what is inside changes. */
function withContents (b: Block, c: { txs?: Uint8Array[], evidence?: Uint8Array[], lastCommit?: Commit | null }): Block {
  const txs = c.txs ?? b.txs
  const evidence = c.evidence ?? b.evidence
  const lastCommit = c.lastCommit !== undefined ? c.lastCommit : b.lastCommit
  return {
    txs, evidence, lastCommit,
    header: { ...b.header, dataHash: dataHash(txs), evidenceHash: evidence.length === 0 ? EMPTY_HASH : dataHash(evidence), lastCommitHash: commitHash(lastCommit) },
  }
}

type Outcome = { code: BlockErrorCode, message: string } | 'accepted'
function outcome (view: ChainView, block: Block): Outcome {
  try {
    validateBlock(view, block)
    return 'accepted'
  } catch (e) {
    if (e instanceof BlockError) return { code: e.code, message: e.message }
    throw e
  }
}
function expectRefused (o: Outcome, code: BlockErrorCode, message: RegExp, what = ''): void {
  expect(o, `${what}: the changed block was accepted`).to.not.equal('accepted')
  const r = o as { code: BlockErrorCode, message: string }
  expect(r.code, `${what}: ${r.message}`).to.equal(code)
  expect(r.message, what).to.match(message)
}

/** One change of one header field; each must make the block invalid, with this code and message. */
interface HeaderCase { field: string, change: (h: Header, view: ChainView) => Partial<Header>, code: BlockErrorCode, message: RegExp }
const HEADER_CASES: HeaderCase[] = [
  { field: 'chain_id', change: h => ({ chainId: h.chainId + '-x' }), code: 'BLOCK_WRONG_CHAIN', message: /chain id/ },
  { field: 'height', change: h => ({ height: h.height + 1 }), code: 'BLOCK_WRONG_HEIGHT', message: /height/ },
  { field: 'time', change: (_h, v) => ({ time: v.last.time }), code: 'BLOCK_BAD_TIME', message: /time/ },
  { field: 'last_block_hash', change: h => ({ lastBlockHash: flip(h.lastBlockHash) }), code: 'BLOCK_WRONG_PARENT', message: /last_block_id/ },
  { field: 'last_commit_hash', change: h => ({ lastCommitHash: flip(h.lastCommitHash) }), code: 'BLOCK_BAD_HASH', message: /last_commit_hash/ },
  { field: 'data_hash', change: h => ({ dataHash: flip(h.dataHash) }), code: 'BLOCK_BAD_HASH', message: /data_hash/ },
  { field: 'validators_hash', change: h => ({ validatorsHash: flip(h.validatorsHash) }), code: 'BLOCK_BAD_HASH', message: /validators_hash/ },
  { field: 'next_validators_hash', change: h => ({ nextValidatorsHash: flip(h.nextValidatorsHash) }), code: 'BLOCK_BAD_HASH', message: /validators_hash/ },
  { field: 'consensus_hash', change: h => ({ consensusHash: flip(h.consensusHash) }), code: 'BLOCK_BAD_HASH', message: /consensus_hash/ },
  { field: 'app_hash', change: h => ({ appHash: flip(h.appHash) }), code: 'BLOCK_BAD_HASH', message: /app_hash/ },
  { field: 'last_results_hash', change: h => ({ lastResultsHash: flip(h.lastResultsHash) }), code: 'BLOCK_BAD_HASH', message: /last_results_hash/ },
  { field: 'evidence_hash', change: h => ({ evidenceHash: flip(h.evidenceHash) }), code: 'BLOCK_BAD_HASH', message: /evidence_hash/ },
  { field: 'proposer_address', change: () => ({ proposerAddress: addressBytesFromPubkey(OUTSIDER.publicKey) }), code: 'BLOCK_BAD_PROPOSER', message: /proposer/ },
]
/** Header fields validateBlock does not check (none). */
const UNCHECKED_FIELDS = new Set<string>()

/** Changes of a block's contents with the header left as it is: data_hash or evidence_hash no longer match. */
const CONTENT_CASES: Array<{ name: string, applies: (b: Block) => boolean, change: (b: Block, extra: Uint8Array) => Block, message: RegExp }> = [
  { name: 'a tx dropped', applies: b => b.txs.length > 0, change: b => ({ ...b, txs: b.txs.slice(1) }), message: /data_hash/ },
  { name: 'a tx added', applies: () => true, change: (b, extra) => ({ ...b, txs: [...b.txs, extra] }), message: /data_hash/ },
  { name: 'two txs swapped', applies: b => b.txs.length > 1, change: b => ({ ...b, txs: [b.txs[1], b.txs[0], ...b.txs.slice(2)] }), message: /data_hash/ },
  { name: 'a tx altered', applies: b => b.txs.length > 0, change: b => ({ ...b, txs: [flip(b.txs[0]), ...b.txs.slice(1)] }), message: /data_hash/ },
  { name: 'evidence altered', applies: b => b.evidence.length > 0, change: b => ({ ...b, evidence: [flip(b.evidence[0]), ...b.evidence.slice(1)] }), message: /evidence_hash/ },
  { name: 'evidence dropped', applies: b => b.evidence.length > 0, change: b => ({ ...b, evidence: b.evidence.slice(1) }), message: /evidence_hash/ },
]

// ---- duplicate votes ----

function prevote (chainId: string, k: SigningKey, height: number, round: number, hash: Uint8Array, ts: number): SignedVote {
  return { type: VOTE_PREVOTE, height, round, blockHash: hash, timestamp: ts, validator: addressBytesFromPubkey(k.publicKey), signature: k.sign(voteSignBytes(chainId, VOTE_PREVOTE, height, round, hash, ts)) }
}
function duplicatePrevote (chainId: string, k: SigningKey, height: number, round: number): Uint8Array {
  return encodeDuplicateVote(
    prevote(chainId, k, height, round, sha256(utf8Bytes(`a ${height} ${round}`)), T0 + height),
    prevote(chainId, k, height, round, sha256(utf8Bytes(`b ${height} ${round}`)), T0 + height + 1),
  )
}

const IDS = () => GENESIS.validators.map(v => ({ id: v.address, power: v.power }))
function proposerKey (height: number, round = 0): SigningKey {
  const id = proposerOf(IDS(), height, round)
  return VALS[GENESIS.validators.findIndex(v => v.address === id)]
}

// ---- the generated corpus ----

type Intent =
  | { k: 'transfer', from: number, to: number, amount: bigint }
  | { k: 'submit', from: number, model: string, maxFee: bigint, capped: boolean }
  | { k: 'receipt', miner: number, ok: boolean, ms: number }
  | { k: 'cancel', from: number }
  | { k: 'register', from: number, stake: bigint }
  | { k: 'update', miner: number, price: bigint }
  | { k: 'stake', miner: number, amount: bigint, un: boolean }
interface BlockSpec { dt: number, intents: Intent[], evidence: boolean, absent: number, junkNonce: boolean }

const intentArb: fc.Arbitrary<Intent> = fc.oneof(
  fc.record({ k: fc.constant('transfer' as const), from: fc.nat(4), to: fc.nat(4), amount: fc.bigInt(1n, 20n * AITBC) }),
  fc.record({ k: fc.constant('submit' as const), from: fc.nat(2), model: fc.constantFrom('llama3', 'mistral', 'gemma'), maxFee: fc.bigInt(1n, 5n * AITBC), capped: fc.boolean() }),
  fc.record({ k: fc.constant('receipt' as const), miner: fc.nat(2), ok: fc.boolean(), ms: fc.nat(60_000) }),
  fc.record({ k: fc.constant('cancel' as const), from: fc.nat(2) }),
  fc.record({ k: fc.constant('register' as const), from: fc.nat(2), stake: fc.bigInt(50n * AITBC, 200n * AITBC) }),
  fc.record({ k: fc.constant('update' as const), miner: fc.nat(2), price: fc.bigInt(0n, 60_000n) }),
  fc.record({ k: fc.constant('stake' as const), miner: fc.nat(2), amount: fc.bigInt(1n, 10n * AITBC), un: fc.boolean() }),
)
const blockArb: fc.Arbitrary<BlockSpec> = fc.record({
  dt: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 15_000, max: 40_000 })),
  intents: fc.array(intentArb, { maxLength: 7 }),
  evidence: fc.boolean(),
  absent: fc.nat(4), // which validator does not sign the commit (4: all sign)
  junkNonce: fc.boolean(), // add a tx that skips a nonce (the proposer must leave it out)
})
const chainArb = fc.array(blockArb, { minLength: 2, maxLength: 6 })

/** The candidate txs of a block: each intent made concrete against the committed state. */
function candidateTxs (chain: MemChain, spec: BlockSpec): Tx[] {
  const nonces = new Map<string, number>()
  const sign = (k: SigningKey, b: TxBody): Tx => {
    const nonce = nonces.get(k.address) ?? chain.mem.account(k.address)?.nonce ?? 0
    nonces.set(k.address, nonce + 1)
    return signTx(k, { chainId: chain.chainId, nonce, fee: FEE, body: b })
  }
  const open = [...chain.mem.openJobs.values()]
  const out: Tx[] = []
  for (const it of spec.intents) {
    switch (it.k) {
      case 'transfer': out.push(sign(SENDERS[it.from], { type: 'transfer', to: SENDERS[it.to].address, amount: it.amount })); break
      case 'submit': out.push(sign(SENDERS[it.from], { type: 'submit_job', model: it.model, prompt: `prompt ${out.length}`, options: { temperature: null, numPredict: null, seed: null }, maxFee: it.maxFee, maxPricePerSecond: it.capped ? 30_000n : null })); break
      case 'receipt': {
        const k = MINERS[it.miner]
        const j = open.find(x => x.status === 'assigned' && x.miner === k.address)
        if (j !== undefined) {
          const result = it.ok ? `done ${j.id}` : ''
          out.push(sign(k, { type: 'record_receipt', jobId: j.id, status: it.ok ? 'completed' : 'failed', result, resultHash: sha256(utf8Bytes(result)), metrics: { computeMs: it.ms, promptTokens: 1, completionTokens: 2 }, error: it.ok ? null : 'failed' }))
        }
        break
      }
      case 'cancel': {
        const k = SENDERS[it.from]
        const j = open.find(x => x.status === 'pending' && x.client === k.address)
        if (j !== undefined) out.push(sign(k, { type: 'cancel_job', jobId: j.id }))
        break
      }
      case 'register': out.push(sign(SENDERS[it.from], { type: 'register_miner', models: ['llama3', 'gemma'], pricePerSecond: 10_000n, capacity: 1, stake: it.stake })); break
      case 'update': out.push(sign(MINERS[it.miner], { type: 'update_miner', models: null, pricePerSecond: it.price, capacity: null, active: null })); break
      case 'stake': out.push(sign(MINERS[it.miner], { type: it.un ? 'unstake' : 'stake', amount: it.amount })); break
    }
  }
  if (spec.junkNonce) out.push(signTx(BOB, { chainId: chain.chainId, nonce: 1_000_000, fee: FEE, body: { type: 'transfer', to: ALICE.address, amount: 1n } }))
  return out
}

interface CorpusBlock {
  block: Block
  /** What validateBlock made of the unchanged block: the app hash, change set and results against the builder's. */
  agreement: { builtAppHash: string, checkedAppHash: string, headerAppHash: string, builtChanges: string, checkedChanges: string, builtResults: string, checkedResults: string }
  headerOutcomes: Map<string, Outcome>
  contentOutcomes: Map<string, Outcome>
}

function buildCorpus (): CorpusBlock[] {
  const out: CorpusBlock[] = []
  for (const chainSpec of fc.sample(chainArb, { seed: SEED, numRuns: 30 })) {
    const chain = new MemChain(GENESIS)
    for (const spec of chainSpec) {
      const height = chain.height + 1
      const view = chain.view()
      // The evidence names one validator (tombstoned at its first: out of the set two blocks later, its later offences still punished).
      const evidence = spec.evidence && height > 1 ? [duplicatePrevote(chain.chainId, VALS[3], height - 1, 0)] : []
      const proposerId = proposerOf(chain.validators.map(v => ({ id: toHexUpper(v.address), power: v.power })), height, 0)
      const proposer = VALS[GENESIS.validators.findIndex(v => v.address === proposerId)]
      const { block, exec } = createProposal(view, { signer: proposer, time: chain.last.time + spec.dt, lastCommit: chain.lastCommit, txs: candidateTxs(chain, spec), evidence })
      let checkedAppHash = ''; let checkedChanges = ''; let checkedResults = ''
      const r = outcome(view, block)
      if (r === 'accepted') {
        const checked = validateBlock(view, block)
        checkedAppHash = toHexUpper(appHashAfter(view, checked))
        checkedChanges = Buffer.from(encodeChangeSet(checked.overlay.changes())).toString('hex')
        checkedResults = toHexUpper(resultsHash(checked.txResults))
      } else {
        checkedAppHash = `refused: ${r.code}: ${r.message}`
      }
      const extra = signTx(CAROL, { chainId: chain.chainId, nonce: 999, fee: FEE, body: { type: 'transfer', to: BOB.address, amount: 1n } }).bytes
      out.push({
        block,
        agreement: {
          builtAppHash: toHexUpper(appHashAfter(view, exec)), checkedAppHash, headerAppHash: toHexUpper(block.header.appHash),
          builtChanges: Buffer.from(encodeChangeSet(exec.overlay.changes())).toString('hex'), checkedChanges,
          builtResults: toHexUpper(resultsHash(exec.txResults)), checkedResults,
        },
        headerOutcomes: new Map(HEADER_CASES.map(c => [c.field, outcome(view, withHeader(block, c.change(block.header, view)))])),
        contentOutcomes: new Map(CONTENT_CASES.filter(c => c.applies(block)).map(c => [c.name, outcome(view, c.change(block, extra))])),
      })
      // One absent signer while all four are in the set (three of three sign once one is out).
      const signers = VALS.filter((_, i) => i !== spec.absent || chain.validators.length < 4).map((key, i) => ({ key, timestamp: block.header.time + i }))
      chain.commit(block, exec, signCommit(chain.chainId, chain.validators, block, 0, signers))
    }
  }
  return out
}

describe('block executor: builder and validator agree', function () {
  let corpus: CorpusBlock[] = []
  before(() => { corpus = buildCorpus() })

  it('the generated corpus has blocks with txs, assigns, evidence, first blocks and later ones', () => {
    expect(corpus.length).to.be.at.least(60)
    expect(corpus.filter(c => c.block.txs.length >= 3).length).to.be.at.least(10)
    expect(corpus.filter(c => c.block.evidence.length > 0).length).to.be.at.least(5)
    expect(corpus.filter(c => c.block.lastCommit === null).length).to.equal(30)
    expect(corpus.filter(c => c.block.txs.some(t => t.length > 0 && Buffer.from(t).includes(Buffer.from('assign')))).length).to.be.at.least(5)
  })

  it('a block made by createProposal passes validateBlock with the same app hash, change set and results hash', () => {
    for (const [i, c] of corpus.entries()) {
      const a = c.agreement
      expect(a.checkedAppHash, `block ${i} (height ${c.block.header.height})`).to.equal(a.builtAppHash)
      expect(a.headerAppHash).to.equal(a.builtAppHash)
      expect(a.checkedChanges).to.equal(a.builtChanges)
      expect(a.checkedResults).to.equal(a.builtResults)
    }
  })

  describe('one header field changed', () => {
    for (const c of HEADER_CASES) {
      if (UNCHECKED_FIELDS.has(c.field)) continue
      it(`${c.field} → ${c.code}`, () => {
        for (const [i, b] of corpus.entries()) expectRefused(b.headerOutcomes.get(c.field) as Outcome, c.code, c.message, `block ${i} (height ${b.block.header.height}), ${c.field} changed`)
      })
    }
    it('covers each of the 13 header fields', () => {
      expect(HEADER_CASES.map(c => c.field)).to.have.length(13)
      expect(new Set(HEADER_CASES.map(c => c.field)).size).to.equal(13)
    })
  })

  describe('contents changed, header as built', () => {
    for (const c of CONTENT_CASES) {
      it(`${c.name} → BLOCK_BAD_HASH`, () => {
        const cases = corpus.filter(b => b.contentOutcomes.has(c.name))
        expect(cases.length, 'corpus blocks this case applies to').to.be.at.least(5)
        for (const [i, b] of cases.entries()) expectRefused(b.contentOutcomes.get(c.name) as Outcome, 'BLOCK_BAD_HASH', c.message, `block ${i}, ${c.name}`)
      })
    }
  })
})

describe('block executor: changed blocks whose header hashes cover the change', () => {
  // A fixed chain: block 1 with a job (assigned in block 2, from block 2's starting state), block 2
  // with a second job; block 3, the block under test, opens with the assign of block 2's job, then
  // two transfers by ALICE, one by BOB (fees), a submit_job by CAROL (assigned in the next block),
  // a receipt for block 1's job, and duplicate-vote evidence against validator 2; its last_commit
  // signed by validators 0, 1 and 3.
  let chain: MemChain
  let view: ChainView
  let block: Block
  let parts: { beacon: Uint8Array, assign: Uint8Array, alice0: Uint8Array, alice1: Uint8Array, bob: Uint8Array, submit: Uint8Array, receipt: Uint8Array }
  let evidence: Uint8Array

  before(() => {
    chain = new MemChain(GENESIS)
    const commitBlock = (b: { block: Block, exec: Parameters<MemChain['commit']>[1] }, t: number): void =>
      chain.commit(b.block, b.exec, signCommit(chain.chainId, chain.validators, b.block, 0, [0, 1, 3].map(i => ({ key: VALS[i], timestamp: t + i }))))
    const s1 = signTx(ALICE, { chainId: chain.chainId, nonce: 0, fee: FEE, body: { type: 'submit_job', model: 'llama3', prompt: 'first', options: { temperature: null, numPredict: null, seed: null }, maxFee: AITBC, maxPricePerSecond: null } })
    commitBlock(chain.propose(proposerKey(1), T0 + 1000, [s1]), T0 + 1100)
    const s2 = signTx(CAROL, { chainId: chain.chainId, nonce: 0, fee: FEE, body: { type: 'submit_job', model: 'llama3', prompt: 'second', options: { temperature: null, numPredict: null, seed: null }, maxFee: AITBC, maxPricePerSecond: null } })
    commitBlock(chain.propose(proposerKey(2), T0 + 2000, [s2]), T0 + 2100)
    const job1 = chain.mem.job(jobIdFromTxHash(s1.hash))
    if (job1?.status !== 'assigned') throw new Error('block 2 did not assign the job of block 1')
    const minerKey = [M1, M2].find(k => k.address === job1.miner) as SigningKey
    const txs = [
      signTx(ALICE, { chainId: chain.chainId, nonce: 1, fee: FEE, body: { type: 'transfer', to: BOB.address, amount: 3n * AITBC } }),
      signTx(ALICE, { chainId: chain.chainId, nonce: 2, fee: FEE, body: { type: 'transfer', to: CAROL.address, amount: 4n * AITBC } }),
      signTx(BOB, { chainId: chain.chainId, nonce: 0, fee: FEE, body: { type: 'transfer', to: CAROL.address, amount: 1n * AITBC } }),
      signTx(CAROL, { chainId: chain.chainId, nonce: 1, fee: FEE, body: { type: 'submit_job', model: 'llama3', prompt: 'third', options: { temperature: null, numPredict: null, seed: null }, maxFee: 2n * AITBC, maxPricePerSecond: null } }),
      signTx(minerKey, { chainId: chain.chainId, nonce: 0, fee: FEE, body: { type: 'record_receipt', jobId: job1.id, status: 'completed', result: 'ok', resultHash: sha256(utf8Bytes('ok')), metrics: { computeMs: 500, promptTokens: 1, completionTokens: 1 }, error: null } }),
    ]
    evidence = duplicatePrevote(chain.chainId, VALS[2], 1, 0)
    view = chain.view()
    const built = chain.propose(proposerKey(3), T0 + 3000, txs, { evidence: [evidence] })
    block = built.block
    expect(block.txs).to.have.length(7)
    expect(block.evidence).to.have.length(1)
    parts = { beacon: block.txs[0], assign: block.txs[1], alice0: block.txs[2], alice1: block.txs[3], bob: block.txs[4], submit: block.txs[5], receipt: block.txs[6] }
    expect(decodeTx(parts.beacon).type).to.equal('beacon')
    expect(decodeTx(parts.assign).type).to.equal('assign')
  })

  it('the block as built is valid', () => {
    expect(outcome(view, block)).to.equal('accepted')
  })

  const cases: Array<{ name: string, make: () => Block, code: BlockErrorCode, message: RegExp }> = [
    { name: 'the assign dropped', make: () => withContents(block, { txs: [parts.beacon, ...block.txs.slice(2)] }), code: 'BLOCK_UNASSIGNED_JOB', message: /unassigned/ },
    { name: 'a tx dropped whose sender has a later one', make: () => withContents(block, { txs: [parts.beacon, parts.assign, parts.alice1, parts.bob, parts.submit, parts.receipt] }), code: 'BLOCK_BAD_TX', message: /NONCE_SKIPPED/ },
    { name: 'a sender\'s only tx dropped', make: () => withContents(block, { txs: [parts.beacon, parts.assign, parts.alice0, parts.alice1, parts.submit, parts.receipt] }), code: 'BLOCK_BAD_HASH', message: /app_hash/ },
    { name: 'the receipt dropped (the draw, made at block start, does not change)', make: () => withContents(block, { txs: [parts.beacon, parts.assign, parts.alice0, parts.alice1, parts.bob, parts.submit] }), code: 'BLOCK_BAD_HASH', message: /app_hash/ },
    { name: 'two txs of one sender reordered', make: () => withContents(block, { txs: [parts.beacon, parts.assign, parts.alice1, parts.alice0, parts.bob, parts.submit, parts.receipt] }), code: 'BLOCK_BAD_TX', message: /NONCE_SKIPPED/ },
    { name: 'the assign before other txs and again after them (assigns open the block)', make: () => withContents(block, { txs: [parts.beacon, parts.assign, parts.alice0, parts.assign, parts.alice1, parts.bob, parts.submit, parts.receipt] }), code: 'BLOCK_BAD_TX', message: /assigns open the block/ },
    { name: 'the assign after other txs (the prefix left its job unassigned)', make: () => withContents(block, { txs: [parts.beacon, parts.alice0, parts.assign, parts.alice1, parts.bob, parts.submit, parts.receipt] }), code: 'BLOCK_UNASSIGNED_JOB', message: /unassigned/ },
    { name: 'a valid tx added', make: () => withContents(block, { txs: [...block.txs, signTx(BOB, { chainId: chain.chainId, nonce: 1, fee: FEE, body: { type: 'transfer', to: ALICE.address, amount: 1n } }).bytes] }), code: 'BLOCK_BAD_HASH', message: /app_hash/ },
    { name: 'a tx added twice', make: () => withContents(block, { txs: [parts.beacon, parts.assign, parts.alice0, parts.alice0, ...block.txs.slice(3)] }), code: 'BLOCK_BAD_TX', message: /NONCE_USED/ },
    { name: 'a tx of another chain added', make: () => withContents(block, { txs: [...block.txs, signTx(BOB, { chainId: 'another-chain', nonce: 1, fee: FEE, body: { type: 'transfer', to: ALICE.address, amount: 1n } }).bytes] }), code: 'BLOCK_BAD_TX', message: /WRONG_CHAIN_ID/ },
    { name: 'an assign added by someone else than the proposer', make: () => withContents(block, { txs: [parts.beacon, signTx(ALICE, { chainId: chain.chainId, nonce: 1, fee: 0n, body: { type: 'assign', jobId: (decodeTx(parts.assign).body as Extract<TxBody, { type: 'assign' }>).jobId, miner: M1.address } }).bytes, ...block.txs.slice(2)] }), code: 'BLOCK_BAD_TX', message: /NOT_PROPOSER/ },
    { name: 'the assign altered to name a miner the draw did not pick', make: () => { const a = decodeTx(parts.assign); const body = a.body as Extract<TxBody, { type: 'assign' }>; const other = [M1, M2].find(k => k.address !== body.miner) as SigningKey; return withContents(block, { txs: [parts.beacon, signTx(proposerKey(3), { chainId: chain.chainId, nonce: a.nonce, fee: 0n, body: { ...body, miner: other.address } }).bytes, ...block.txs.slice(2)] }) }, code: 'BLOCK_BAD_TX', message: /WRONG_ASSIGNMENT/ },
    { name: 'a tx\'s signature altered', make: () => { const t = new Uint8Array(parts.bob); t[t.length - 1] ^= 1; return withContents(block, { txs: [parts.beacon, parts.assign, parts.alice0, parts.alice1, t, parts.submit, parts.receipt] }) }, code: 'BLOCK_BAD_TX', message: /does not decode/ },
    { name: 'a tx\'s amount altered (signature no longer covers it)', make: () => { const t = new Uint8Array(parts.bob); const i = Buffer.from(t).lastIndexOf(Buffer.from(pack(1n * AITBC)), t.length - 67); t[i + 8] ^= 1; return withContents(block, { txs: [parts.beacon, parts.assign, parts.alice0, parts.alice1, t, parts.submit, parts.receipt] }) }, code: 'BLOCK_BAD_TX', message: /BAD_SIGNATURE|signature/ },
    { name: 'a tx replaced by bytes that do not decode', make: () => withContents(block, { txs: [parts.beacon, parts.assign, new Uint8Array([0x93, 1, 2]), ...block.txs.slice(3)] }), code: 'BLOCK_BAD_TX', message: /does not decode/ },
    { name: 'the beacon dropped (the block draws a miner)', make: () => withContents(block, { txs: block.txs.slice(1) }), code: 'BLOCK_BEACON', message: /beacon/ },
    { name: 'the beacon after the assign', make: () => withContents(block, { txs: [parts.assign, parts.beacon, ...block.txs.slice(2)] }), code: 'BLOCK_BEACON', message: /beacon/ },
    { name: 'the beacon given twice', make: () => withContents(block, { txs: [parts.beacon, parts.assign, parts.beacon, ...block.txs.slice(2)] }), code: 'BLOCK_BEACON', message: /first tx/ },
    { name: 'the beacon\'s proof for another height (re-signed by the proposer)', make: () => withContents(block, { txs: [signTx(proposerKey(3), { chainId: chain.chainId, nonce: decodeTx(parts.beacon).nonce, fee: 0n, body: { type: 'beacon', proof: proposerKey(3).vrfProve(beaconAlpha(view.state.beacon(), 4, chain.chainId)) } }).bytes, ...block.txs.slice(1)] }), code: 'BLOCK_BAD_TX', message: /BAD_BEACON/ },
    { name: 'the beacon\'s proof altered (a bit)', make: () => { const b = decodeTx(parts.beacon); const proof = new Uint8Array((b.body as Extract<TxBody, { type: 'beacon' }>).proof); proof[40] ^= 1; return withContents(block, { txs: [signTx(proposerKey(3), { chainId: chain.chainId, nonce: b.nonce, fee: 0n, body: { type: 'beacon', proof } }).bytes, ...block.txs.slice(1)] }) }, code: 'BLOCK_BAD_TX', message: /BAD_BEACON/ },
    { name: 'a beacon by another validator (its own valid proof)', make: () => { const other = VALS.find(k => k !== proposerKey(3)) as SigningKey; return withContents(block, { txs: [signTx(other, { chainId: chain.chainId, nonce: view.state.account(other.address)?.nonce ?? 0, fee: 0n, body: { type: 'beacon', proof: other.vrfProve(beaconAlpha(view.state.beacon(), 3, chain.chainId)) } }).bytes, ...block.txs.slice(1)] }) }, code: 'BLOCK_BAD_TX', message: /NOT_PROPOSER/ },
    { name: 'the evidence altered (a signature bit)', make: () => { const e = new Uint8Array(evidence); e[e.length - 1] ^= 1; return withContents(block, { evidence: [e] }) }, code: 'BLOCK_BAD_EVIDENCE', message: /signature/ },
    { name: 'the evidence dropped', make: () => withContents(block, { evidence: [] }), code: 'BLOCK_BAD_HASH', message: /app_hash/ },
    { name: 'the evidence given twice (one offence)', make: () => withContents(block, { evidence: [evidence, evidence] }), code: 'BLOCK_BAD_EVIDENCE', message: /already punished/ },
    { name: 'evidence of the block\'s own height', make: () => withContents(block, { evidence: [duplicatePrevote(chain.chainId, VALS[2], 3, 0)] }), code: 'BLOCK_BAD_EVIDENCE', message: /height/ },
    { name: 'evidence against a non-validator', make: () => withContents(block, { evidence: [duplicatePrevote(chain.chainId, OUTSIDER, 1, 0)] }), code: 'BLOCK_BAD_EVIDENCE', message: /not a validator/ },
    { name: 'evidence that is not a pair of votes', make: () => withContents(block, { evidence: [pack([1, 2, 3])] }), code: 'BLOCK_BAD_EVIDENCE', message: /pair of votes/ },
    { name: 'the last commit missing', make: () => withContents(block, { lastCommit: null }), code: 'BLOCK_BAD_COMMIT', message: /missing/ },
    { name: 'a last-commit signature altered', make: () => { const c = block.lastCommit as Commit; return withContents(block, { lastCommit: { ...c, signatures: c.signatures.map((s, i) => i === 0 ? { ...s, signature: flip(s.signature) } : s) } }) }, code: 'BLOCK_BAD_COMMIT', message: /bad commit signature/ },
    { name: 'a last commit with 2/3 of the power or less', make: () => { const c = block.lastCommit as Commit; return withContents(block, { lastCommit: { ...c, signatures: c.signatures.map((s, i) => i === 0 ? { ...s, blockIdFlag: BLOCK_ID_FLAG_ABSENT, timestamp: 0, signature: new Uint8Array(0) } : s) } }) }, code: 'BLOCK_BAD_COMMIT', message: /voting power/ },
    { name: 'a last commit for another block', make: () => { const c = block.lastCommit as Commit; return withContents(block, { lastCommit: { ...c, blockHash: flip(c.blockHash) } }) }, code: 'BLOCK_BAD_COMMIT', message: /another block/ },
    { name: 'the time later (the jobs record it)', make: () => withHeader(block, { time: block.header.time + 1 }), code: 'BLOCK_BAD_HASH', message: /app_hash/ },
    { name: 'the time earlier than the last block', make: () => withHeader(block, { time: view.last.time - 1 }), code: 'BLOCK_BAD_TIME', message: /time/ },
    { name: 'another validator as proposer (fees and assigns name the real one)', make: () => withHeader(block, { proposerAddress: addressBytesFromPubkey(VALS.find(k => k !== proposerKey(3))?.publicKey as Uint8Array) }), code: 'BLOCK_BAD_TX', message: /NOT_PROPOSER/ },
  ]
  for (const c of cases) {
    it(`${c.name} → ${c.code}`, () => expectRefused(outcome(view, c.make()), c.code, c.message, c.name))
  }

  // Blocks without assigns: on a fresh chain (block 3 above must assign block 2's job).
  it('another validator as proposer of a block with fees and no assigns → BLOCK_BAD_HASH (its account would get the fees)', () => {
    const fresh = new MemChain(GENESIS)
    const b = fresh.propose(proposerKey(1), T0 + 1000, [signTx(BOB, { chainId: fresh.chainId, nonce: 0, fee: FEE, body: { type: 'transfer', to: CAROL.address, amount: 1n } })])
    expect(outcome(fresh.view(), b.block)).to.equal('accepted')
    const other = VALS.find(k => k !== proposerKey(1)) as SigningKey
    expectRefused(outcome(fresh.view(), withHeader(b.block, { proposerAddress: addressBytesFromPubkey(other.publicKey) })), 'BLOCK_BAD_HASH', /app_hash/)
  })

  it('a beacon in a block that draws nothing → BLOCK_BEACON (the proposer may not choose to move the randomness)', () => {
    const fresh = new MemChain(GENESIS)
    const b = fresh.propose(proposerKey(1), T0 + 1000, [])
    expect(b.block.txs).to.deep.equal([])
    const beacon = signTx(proposerKey(1), { chainId: fresh.chainId, nonce: 0, fee: 0n, body: { type: 'beacon', proof: proposerKey(1).vrfProve(beaconAlpha(fresh.view().state.beacon(), 1, fresh.chainId)) } })
    expectRefused(outcome(fresh.view(), withContents(b.block, { txs: [beacon.bytes] })), 'BLOCK_BEACON', /draws nothing/)
  })

  // The block time a proposer picks is checked against each validator's own clock by the consensus
  // engine (proposer-based time: an untimely proposal gets a nil prevote, see engine.test.ts);
  // the state transition, which must give the same answer on every node at any time, checks only
  // that time increases.
  it('an empty block with a later time passes validateBlock: its timeliness is the consensus engine\'s check', () => {
    const fresh = new MemChain(GENESIS)
    const b = fresh.propose(proposerKey(1), T0 + 1000, [])
    expect(outcome(fresh.view(), withHeader(b.block, { time: b.block.header.time + 1 }))).to.equal('accepted')
  })
  // proposer_address may name any validator when the block has no fee and no assign, unless the
  // validator checks it against the proposal's signer, as the engine does.
  it('an empty block naming another validator than the proposal signer as proposer → BLOCK_BAD_PROPOSER', () => {
    const b = chain.propose(proposerKey(3), T0 + 3000, [])
    const other = VALS.find(k => k !== proposerKey(3)) as SigningKey
    const signer = addressBytesFromPubkey(proposerKey(3).publicKey)
    expect(() => validateBlock(view, b.block, { proposer: signer })).to.not.throw()
    expect(() => validateBlock(view, withHeader(b.block, { proposerAddress: addressBytesFromPubkey(other.publicKey) }), { proposer: signer })).to.throw(BlockError, /not the validator that signed the proposal/).with.property('code', 'BLOCK_BAD_PROPOSER')
  })
})
