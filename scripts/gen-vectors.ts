// Writes test/fixtures/golden.json: golden vectors of the miner draw, vote and proposal sign
// bytes and signatures, duplicate-vote evidence, and the headers, commits, app hashes and
// results hashes of blocks built by the block executor from a fixed genesis. Each case holds its
// inputs and the exact outputs (hex). Deterministic: fixed seeds and times, no clock, no
// randomness (ed25519 signatures are deterministic). test/unit/golden.test.ts recomputes every
// output from its inputs and checks that this script's output equals the checked-in file.
//
//   npx tsx scripts/gen-vectors.ts        (or: npm run vectors)
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join, resolve } from 'node:path'
import { SigningKey, fromHex, sha256, sha256Concat, toHex, toHexUpper, utf8Bytes, addressBytesFromPubkey } from '../node/core/crypto.ts'
import { resultCommitment } from '../node/core/verification.ts'
import { possessionMessage } from '../node/core/validatorSet.ts'
import { pack } from '../node/core/codec.ts'
import { MemState, REPUTATION_INITIAL, newJob, newMiner, newValidatorBond, type Job, type Miner, type StateReader } from '../node/core/state.ts'
import { drawMiner, isEligible } from '../node/core/draw.ts'
import { drawWeight } from '../node/core/verification.ts'
import { checkEvidence } from '../node/core/transition.ts'
import { resultsHash } from '../node/core/executor.ts'
import {
  blockHash, commitHash, commitTuple, headerTuple, proposalSignBytes, voteSignBytes, VOTE_PRECOMMIT, VOTE_PREVOTE,
  type Header,
} from '../node/core/block.ts'
import { encodeDuplicateVote } from '../node/consensus/evidence.ts'
import { proposerOf } from '../node/consensus/machine.ts'
import type { SignedVote } from '../node/consensus/messages.ts'
import { parseGenesis, parseParams, type GenesisJSON } from '../genesis/genesis.ts'
import { makeGenesisJSON } from '../genesis/build.ts'
import { signTx, jobIdFromTxHash, type Tx, type TxBody } from '../node/core/tx.ts'
import { MemChain, signCommit } from '../test/helpers/memChain.ts'

export const GOLDEN_PATH = join(dirname(fileURLToPath(import.meta.url)), '../test/fixtures/golden.json')

const AITBC = 1_000_000n

/** The seed of a named key of the vectors: sha256("aitbc-golden/" + name). */
export function goldenSeed (name: string): Uint8Array { return sha256(utf8Bytes('aitbc-golden/' + name)) }
const key = (name: string): SigningKey => new SigningKey(goldenSeed(name))

// ---- the miner draw ----

export interface DrawMinerInput {
  address: string
  models: string[]
  price_per_second: string
  capacity: number
  active_jobs: number
  stake: string
  reputation: number
  active: boolean
}

/** A miner record from a draw vector's input. */
export function minerFromInput (m: DrawMinerInput): Miner {
  return newMiner({
    address: m.address, models: [...m.models], pricePerSecond: BigInt(m.price_per_second), capacity: m.capacity, stake: BigInt(m.stake),
    active: m.active, reputation: m.reputation, activeJobs: m.active_jobs, registeredHeight: 0,
  })
}

/** A pending job with only what the draw reads set to something meaningful. */
export function pendingJob (id: string, model: string, maxPricePerSecond: bigint | null): Job {
  return newJob({ id, client: '', model, prompt: 'p', maxFee: 1n, maxPricePerSecond, submittedHeight: 1, submittedTime: 0 })
}

/** A state holding exactly these miners, with min_miner_stake set. */
export function drawState (minMinerStake: string, miners: DrawMinerInput[]): MemState {
  // verification off: these vectors are of the draw alone (verification's conditions are in the chain vectors)
  const st = new MemState(parseParams({ min_miner_stake: minMinerStake, verification_rate: '0' }))
  const totals = { supply: 0n, balances: 0n, escrow: 0n, bonded: 0n, unbonding: 0n, burned: 0n }
  st.apply({ accounts: new Map(), miners: new Map(miners.map(m => [m.address, minerFromInput(m)])), jobs: new Map(), bonds: new Map(), totals })
  return st
}

function miner (name: string, o: Partial<Omit<DrawMinerInput, 'address'>> = {}): DrawMinerInput {
  return {
    address: key(name).address, models: o.models ?? ['llama3'], price_per_second: o.price_per_second ?? '20000', capacity: o.capacity ?? 1,
    active_jobs: o.active_jobs ?? 0, stake: o.stake ?? (100n * AITBC).toString(), reputation: o.reputation ?? REPUTATION_INITIAL, active: o.active ?? true,
  }
}

const JOB_IDS = ['job_0000000000000000', 'job_0123456789abcdef', 'job_fedcba9876543210', 'job_5a5a5a5a5a5a5a5a']
const PREV_HASHES = ['', '00'.repeat(32), toHex(sha256(utf8Bytes('golden block 1'))), toHex(sha256(utf8Bytes('golden block 2')))]

function drawVectors (): unknown[] {
  // Every job id against every previous hash for the weighted and tied sets; two of each for the others.
  const sets: Array<{ name: string, min_miner_stake: string, miners: DrawMinerInput[], jobs: Array<{ model: string, max_price_per_second: string | null }>, all?: boolean }> = [
    {
      name: 'weighted: four miners of different stakes and reputations',
      min_miner_stake: (100n * AITBC).toString(),
      miners: [
        miner('draw-a', { stake: (100n * AITBC).toString(), reputation: 5000 }),
        miner('draw-b', { stake: (250n * AITBC).toString(), reputation: 5000 }),
        miner('draw-c', { stake: (100n * AITBC).toString(), reputation: 10000 }),
        miner('draw-d', { stake: (1000n * AITBC).toString(), reputation: 100 }),
      ],
      jobs: [{ model: 'llama3', max_price_per_second: null }],
      all: true,
    },
    {
      name: 'ties: three miners of equal weight (the address order decides)',
      min_miner_stake: (100n * AITBC).toString(),
      miners: [miner('tie-a'), miner('tie-b'), miner('tie-c')],
      jobs: [{ model: 'llama3', max_price_per_second: null }],
      all: true,
    },
    {
      name: 'one eligible: the others are inactive, full, under-staked, at reputation 0, on another model or too dear',
      min_miner_stake: (100n * AITBC).toString(),
      miners: [
        miner('one-inactive', { active: false }),
        miner('one-full', { capacity: 2, active_jobs: 2 }),
        miner('one-understaked', { stake: (100n * AITBC - 1n).toString() }),
        miner('one-reputation-0', { reputation: 0 }),
        miner('one-other-model', { models: ['mistral'] }),
        miner('one-too-dear', { price_per_second: '30001' }),
        miner('one-eligible', { capacity: 3, active_jobs: 2, price_per_second: '30000', stake: (100n * AITBC).toString(), reputation: 1 }),
      ],
      jobs: [{ model: 'llama3', max_price_per_second: '30000' }],
    },
    {
      name: 'none eligible',
      min_miner_stake: (100n * AITBC).toString(),
      miners: [
        miner('none-inactive', { active: false }),
        miner('none-full', { capacity: 1, active_jobs: 1 }),
        miner('none-understaked', { stake: '1' }),
        miner('none-reputation-0', { reputation: 0 }),
      ],
      jobs: [{ model: 'llama3', max_price_per_second: null }, { model: 'no-such-model', max_price_per_second: null }],
    },
    {
      name: 'price caps: the job\'s max_price_per_second narrows the field',
      min_miner_stake: (100n * AITBC).toString(),
      miners: [
        miner('price-10k', { price_per_second: '10000' }),
        miner('price-20k', { price_per_second: '20000', stake: (300n * AITBC).toString() }),
        miner('price-50k', { price_per_second: '50000', stake: (900n * AITBC).toString() }),
        miner('price-free', { price_per_second: '0' }),
      ],
      jobs: [
        { model: 'llama3', max_price_per_second: null },
        { model: 'llama3', max_price_per_second: '50000' },
        { model: 'llama3', max_price_per_second: '20000' },
        { model: 'llama3', max_price_per_second: '10000' },
        { model: 'llama3', max_price_per_second: '0' },
      ],
    },
    {
      name: 'zero weight: with min_miner_stake 0 a miner of stake 0 is eligible but never drawn; all zero draws nobody',
      min_miner_stake: '0',
      miners: [miner('zero-a', { stake: '0' }), miner('zero-b', { stake: '0', models: ['mistral'] }), miner('zero-c', { models: ['mistral'], stake: '7' })],
      jobs: [{ model: 'llama3', max_price_per_second: null }, { model: 'mistral', max_price_per_second: null }],
    },
    {
      name: 'unit weights: stake 1 and reputation 1 each, so r = seed mod 3 names the miner by its place in address order',
      min_miner_stake: '0',
      miners: [miner('unit-a', { stake: '1', reputation: 1 }), miner('unit-b', { stake: '1', reputation: 1 }), miner('unit-c', { stake: '1', reputation: 1 })],
      jobs: [{ model: 'llama3', max_price_per_second: null }],
      all: true,
    },
    {
      name: 'large weights: stake x reputation far above 2^64',
      min_miner_stake: (100n * AITBC).toString(),
      miners: [
        miner('big-a', { stake: (2n ** 62n).toString(), reputation: 10000 }),
        miner('big-b', { stake: (2n ** 61n + 12345n).toString(), reputation: 9999 }),
        miner('big-c', { stake: (100n * AITBC).toString(), reputation: 10000 }),
      ],
      jobs: [{ model: 'llama3', max_price_per_second: null }],
    },
  ]
  return sets.map(s => {
    const st = drawState(s.min_miner_stake, s.miners)
    const cases = []
    for (const j of s.jobs) {
      for (const id of s.all === true ? JOB_IDS : JOB_IDS.slice(1, 3)) {
        for (const prev of s.all === true ? PREV_HASHES : PREV_HASHES.slice(0, 3).filter((_, i) => i !== 1)) {
          const job = pendingJob(id, j.model, j.max_price_per_second === null ? null : BigInt(j.max_price_per_second))
          const prevBytes = Buffer.from(prev, 'hex')
          const total = st.minerAddresses().map(a => st.miner(a) as Miner).filter(m => isEligible(st, m, job)).reduce((t, m) => t + drawWeight(m), 0n)
          cases.push({
            job: { id, model: j.model, max_price_per_second: j.max_price_per_second },
            randomness: prev,
            seed: toHex(sha256Concat(prevBytes, utf8Bytes(id))),
            total_weight: total.toString(),
            chosen: drawMiner(st, job, prevBytes)?.address ?? null,
          })
        }
      }
    }
    return { name: s.name, min_miner_stake: s.min_miner_stake, verification_rate: '0', miners: s.miners, cases }
  })
}

// ---- votes, proposals, evidence ----

function voteVectors (): unknown[] {
  const cases: Array<{ name: string, chain_id: string, type: number, height: number, round: number, block_hash: string, timestamp: number, signer: string }> = [
    { name: 'precommit for nil (the example of docs/protocol.md 4.4)', chain_id: 'c', type: VOTE_PRECOMMIT, height: 5, round: 0, block_hash: '', timestamp: 1700000000123, signer: 'vote-signer-0' },
    { name: 'prevote for a block', chain_id: 'aitbc-golden', type: VOTE_PREVOTE, height: 1, round: 0, block_hash: toHex(sha256(utf8Bytes('a block'))).toUpperCase(), timestamp: 1735689600000, signer: 'vote-signer-0' },
    { name: 'precommit for a block', chain_id: 'aitbc-golden', type: VOTE_PRECOMMIT, height: 42, round: 3, block_hash: toHex(sha256(utf8Bytes('a block'))).toUpperCase(), timestamp: 1735689600001, signer: 'vote-signer-1' },
    { name: 'prevote for nil at round 200', chain_id: 'aitbc-golden', type: VOTE_PREVOTE, height: 300, round: 200, block_hash: '', timestamp: 1735689699999, signer: 'vote-signer-1' },
    { name: 'height and round in two-byte forms', chain_id: 'aitbc-golden', type: VOTE_PRECOMMIT, height: 65535, round: 256, block_hash: 'FF'.repeat(32), timestamp: 1, signer: 'vote-signer-2' },
    { name: 'height above 2^32 (written as float64)', chain_id: 'aitbc-golden', type: VOTE_PREVOTE, height: 2 ** 32 + 1, round: 0, block_hash: '00'.repeat(32), timestamp: 0, signer: 'vote-signer-2' },
  ]
  return cases.map(c => {
    const k = key(c.signer)
    const bytes = voteSignBytes(c.chain_id, c.type, c.height, c.round, Buffer.from(c.block_hash, 'hex'), c.timestamp)
    return { ...c, signer_seed: toHex(goldenSeed(c.signer)), validator_address: toHexUpper(addressBytesFromPubkey(k.publicKey)), sign_bytes: toHex(bytes), signature: toHex(k.sign(bytes)) }
  })
}

function proposalVectors (): unknown[] {
  const cases: Array<{ name: string, chain_id: string, height: number, round: number, block_hash: string, pol_round: number, timestamp: number, signer: string }> = [
    { name: 'a fresh block (pol_round -1)', chain_id: 'aitbc-golden', height: 1, round: 0, block_hash: toHex(sha256(utf8Bytes('a block'))).toUpperCase(), pol_round: -1, timestamp: 1735689600000, signer: 'vote-signer-0' },
    { name: 're-proposed in round 3 with a POL of round 2', chain_id: 'aitbc-golden', height: 7, round: 3, block_hash: 'AB'.repeat(32), pol_round: 2, timestamp: 1735689612345, signer: 'vote-signer-1' },
    { name: 'pol_round 0 at a large height', chain_id: 'c', height: 1_000_000, round: 1, block_hash: '11'.repeat(32), pol_round: 0, timestamp: 1700000000123, signer: 'vote-signer-2' },
  ]
  return cases.map(c => {
    const k = key(c.signer)
    const bytes = proposalSignBytes(c.chain_id, c.height, c.round, Buffer.from(c.block_hash, 'hex'), c.pol_round, c.timestamp)
    return { ...c, signer_seed: toHex(goldenSeed(c.signer)), validator_address: toHexUpper(addressBytesFromPubkey(k.publicKey)), sign_bytes: toHex(bytes), signature: toHex(k.sign(bytes)) }
  })
}

interface EvidenceVoteIn { type: number, height: number, round: number, block_hash: string, timestamp: number }

/** A vote signed by `k` from an evidence vector's input. */
export function signedVote (chainId: string, k: SigningKey, v: EvidenceVoteIn): SignedVote {
  const hash = new Uint8Array(Buffer.from(v.block_hash, 'hex'))
  return { type: v.type, height: v.height, round: v.round, blockHash: hash, timestamp: v.timestamp, validator: addressBytesFromPubkey(k.publicKey), signature: k.sign(voteSignBytes(chainId, v.type, v.height, v.round, hash, v.timestamp)) }
}

function evidenceVectors (): unknown[] {
  const chainId = 'aitbc-golden'
  const cases: Array<{ name: string, signer: string, votes: [EvidenceVoteIn, EvidenceVoteIn] }> = [
    {
      name: 'two prevotes for different blocks (given in hash order)',
      signer: 'vote-signer-3',
      votes: [
        { type: VOTE_PREVOTE, height: 2, round: 0, block_hash: '11'.repeat(32), timestamp: 1735689601000 },
        { type: VOTE_PREVOTE, height: 2, round: 0, block_hash: '22'.repeat(32), timestamp: 1735689601001 },
      ],
    },
    {
      name: 'two precommits given in reverse hash order (the encoding sorts them)',
      signer: 'vote-signer-3',
      votes: [
        { type: VOTE_PRECOMMIT, height: 9, round: 4, block_hash: 'EE'.repeat(32), timestamp: 1735689609000 },
        { type: VOTE_PRECOMMIT, height: 9, round: 4, block_hash: '0A'.repeat(32), timestamp: 1735689609000 },
      ],
    },
    {
      name: 'a prevote for a block and one for nil (nil sorts first)',
      signer: 'vote-signer-0',
      votes: [
        { type: VOTE_PREVOTE, height: 3, round: 1, block_hash: '33'.repeat(32), timestamp: 1735689603000 },
        { type: VOTE_PREVOTE, height: 3, round: 1, block_hash: '', timestamp: 1735689603500 },
      ],
    },
  ]
  return cases.map(c => {
    const k = key(c.signer)
    const [a, b] = c.votes.map(v => signedVote(chainId, k, v))
    const bytes = encodeDuplicateVote(a, b)
    const address = toHexUpper(addressBytesFromPubkey(k.publicKey))
    const st = evidenceState(k.publicKey)
    const r = checkEvidence(st, bytes, { chainId, height: c.votes[0].height + 1, time: 0, proposer: '', randomness: new Uint8Array(0), validators: [{ address: a.validator, pubKey: k.publicKey, power: 1, name: 'v' }] })
    if (typeof r === 'string') throw new Error(`evidence vector "${c.name}" is not valid: ${r}`)
    return {
      name: c.name, chain_id: chainId, signer: c.signer, signer_seed: toHex(goldenSeed(c.signer)), validator_address: address, votes: c.votes,
      signatures: [toHex(a.signature), toHex(b.signature)], evidence: toHex(bytes), offence: r.offence,
    }
  })
}

/** A state in which the key's holder is a validator (evidence names validators by their records). */
export function evidenceState (pubKey: Uint8Array): MemState {
  const st = new MemState(parseParams({}))
  const address = toHexUpper(addressBytesFromPubkey(pubKey))
  const totals = { supply: 0n, balances: 0n, escrow: 0n, bonded: 0n, unbonding: 0n, burned: 0n }
  st.apply({ accounts: new Map(), miners: new Map(), jobs: new Map(), bonds: new Map([[address, newValidatorBond({ address, pubKey, operator: '', moniker: 'v', stake: 1000n * AITBC, createdHeight: 0 })]]), totals })
  return st
}

// ---- blocks built by the executor ----

const CHAIN_ID = 'aitbc-golden'
const GENESIS_TIME = '2025-01-01T00:00:00.000Z'
const T0 = Date.parse(GENESIS_TIME)
const VALIDATORS = ['validator-0', 'validator-1', 'validator-2', 'validator-3']
const POWERS = [10, 20, 30, 40]
/** The keys that may propose: the genesis validators, then the consensus key of the validator created in block 9. */
const SIGNERS = [...VALIDATORS, 'dave-consensus']

function goldenGenesis (): GenesisJSON {
  return makeGenesisJSON({
    chainId: CHAIN_ID,
    genesisTime: GENESIS_TIME,
    validators: VALIDATORS.map((n, i) => ({ pubKey: key(n).publicKey, name: n, stake: BigInt(POWERS[i]) * 100n * AITBC })),
    accounts: [
      { address: key('alice').address, balance: 1000n * AITBC },
      { address: key('bob').address, balance: 50n * AITBC },
      { address: key('carol').address, balance: 500n * AITBC },
      { address: key('miner-1').address, balance: 10n * AITBC },
      { address: key('miner-2').address, balance: 10n * AITBC },
      { address: key('miner-3').address, balance: 10n * AITBC },
      { address: key('dave').address, balance: 500n * AITBC },
    ],
    miners: [
      { address: key('miner-1').address, models: ['llama3'], pricePerSecond: 20_000n, capacity: 2, stake: 200n * AITBC },
      { address: key('miner-2').address, models: ['llama3', 'mistral'], pricePerSecond: 50_000n, capacity: 2, stake: 300n * AITBC },
      { address: key('miner-3').address, models: ['llama3'], pricePerSecond: 30_000n, capacity: 1, stake: 250n * AITBC },
    ],
    params: { min_fee: '1000', min_miner_stake: '100000000', job_timeout_s: 60, assign_timeout_s: 600, slash_fraction: '0.1', verification_rate: '1', downtime_window: 10, downtime_max_missed: 0, jail_blocks: 1 },
  })
}

interface CommitIn { round: number, signers: Array<{ validator: number, timestamp: number }> }
interface PlanContext { jobs: string[], minerOf: (jobId: string) => string, verifiersOf: (jobId: string) => string[] }
interface BlockPlan { time: number, txs: (ctx: PlanContext) => Array<[string, TxBody]>, evidence: Array<{ signer: string, votes: [EvidenceVoteIn, EvidenceVoteIn] }>, commit: CommitIn }

const submit = (model: string, prompt: string, maxFee: bigint, maxPricePerSecond: bigint | null = null): TxBody =>
  ({ type: 'submit_job', model, prompt, options: { temperature: null, numPredict: null, seed: null }, maxFee, maxPricePerSecond })

const ANSWER = 'Rayleigh scattering: shorter wavelengths scatter more.'
/** A salt of the vectors: 32 bytes of sha256(name). */
const salt = (name: string): Uint8Array => sha256(utf8Bytes('aitbc-golden/salt/' + name))
/** A stand-in for a sealed result (the chain checks only its size; a real one is node/sealedResult.ts's, made with a random key). */
const sealedStandIn = (text: string): Uint8Array => new Uint8Array(80 + Buffer.byteLength(text)).fill(0x5e)
const commitBody = (jobId: string, committer: string, text: string, sealed: boolean): TxBody => ({
  type: 'commit_result', jobId, commitment: fromHex(resultCommitment(jobId, key(committer).address, salt(committer + jobId), text)),
  metrics: { computeMs: 1500, promptTokens: 6, completionTokens: 9 }, sealed: sealed ? sealedStandIn(text) : null,
  details: sealed ? { modelDigest: null, doneReason: 'stop', promptEvalMs: 40, evalMs: 900, firstTokenMs: 120, loadMs: 5 } : null,
})
const revealBody = (jobId: string, revealer: string, text: string): TxBody => ({ type: 'reveal_result', jobId, salt: salt(revealer + jobId), result: text })

/**
 * The plan of the vector chain (verification_rate 1: every checked job is sampled). Every kind of
 * tx and block-begin work appears: see each block's comment. The proposer adds each block's
 * beacon (when it draws) and its assigns.
 */
function blockPlans (): BlockPlan[] {
  const all = (ts: number): CommitIn => ({ round: 0, signers: VALIDATORS.map((_, i) => ({ validator: i, timestamp: ts + i })) })
  return [
    // 1: a transfer; a job two miners serve (checked); a job no miner may take (price cap), pending until cancelled.
    {
      time: T0 + 1000,
      txs: () => [
        ['alice', { type: 'transfer', to: key('bob').address, amount: 5n * AITBC }],
        ['alice', submit('llama3', 'Why is the sky blue?', 1n * AITBC)],
        ['bob', submit('mistral', 'Bonjour', 2n * AITBC, 40_000n)],
      ],
      evidence: [],
      commit: all(T0 + 1500),
    },
    // 2: beacon, the assign of job 0; a chat job on a model one miner serves, the client accepting unverified work.
    {
      time: T0 + 2000,
      txs: () => [
        ['alice', {
          type: 'submit_job', model: 'mistral', prompt: '', options: { temperature: 0, numPredict: 64, seed: 42 }, maxFee: 2n * AITBC, maxPricePerSecond: 60_000n,
          messages: [{ role: 'system', content: 'Answer in French.' }, { role: 'user', content: 'Hello' }], modelDigest: null, maxPriceIn: null, maxPriceOut: null, unverified: true,
        }],
      ],
      evidence: [],
      commit: { round: 0, signers: [{ validator: 1, timestamp: T0 + 2400 }, { validator: 2, timestamp: T0 + 2500 }, { validator: 3, timestamp: T0 + 2600 }] },
    },
    // 3: beacon, the assign of the chat job; job 0's miner commits to its result (sealed to the
    // client); the chat job settled by a receipt with details; the pending job cancelled; a new
    // miner listing digests and token prices.
    {
      time: T0 + 3000,
      txs: ({ jobs, minerOf }) => [
        [minerOf(jobs[0]), commitBody(jobs[0], minerOf(jobs[0]), ANSWER, true)],
        [minerOf(jobs[2]), {
          type: 'record_receipt', jobId: jobs[2], status: 'completed', result: 'Bonjour !', resultHash: sha256(utf8Bytes('Bonjour !')), metrics: { computeMs: 800, promptTokens: 12, completionTokens: 4 }, error: null,
          details: { modelDigest: null, doneReason: 'stop', promptEvalMs: 30, evalMs: 600, firstTokenMs: 90, loadMs: null },
        }],
        ['bob', { type: 'cancel_job', jobId: jobs[1] }],
        ['carol', {
          type: 'register_miner', models: ['llama3'], pricePerSecond: 10_000n, capacity: 1, stake: 150n * AITBC,
          modelInfo: [{ name: 'llama3', digest: 'a6990ed6be41'.padEnd(64, '0'), quantization: 'Q4_K_M', parameterSize: '8.0B', contextLength: 8192 }],
          priceIn: 100_000n, priceOut: 400_000n, maxNumPredict: 2048, endpoint: 'https://carol.example:8443/aitbc',
        }],
      ],
      evidence: [],
      commit: all(T0 + 3500),
    },
    // 4: beacon; the sample draws two verifiers (the other miners of llama3's class), which commit;
    // duplicate-vote evidence against validator-3 (slashes its bond); a price update.
    {
      time: T0 + 4000,
      txs: ({ jobs, verifiersOf }) => [
        ...verifiersOf(jobs[0]).map((v): [string, TxBody] => [v, commitBody(jobs[0], v, ANSWER, false)]),
        ['miner-2', { type: 'update_miner', models: null, pricePerSecond: 45_000n, capacity: null, active: null }],
      ],
      evidence: [{
        signer: 'validator-3',
        votes: [
          { type: VOTE_PREVOTE, height: 2, round: 0, block_hash: 'AA'.repeat(32), timestamp: T0 + 3100 },
          { type: VOTE_PREVOTE, height: 2, round: 0, block_hash: 'BB'.repeat(32), timestamp: T0 + 3101 },
        ],
      }],
      commit: { round: 1, signers: [{ validator: 0, timestamp: T0 + 5000 }, { validator: 2, timestamp: T0 + 5001 }, { validator: 3, timestamp: T0 + 5002 }] },
    },
    // 5: beacon (a verification is open); all three reveal: the verdict passes, the verifiers are paid
    // from the bill; a new job for the expiry of block 7.
    {
      time: T0 + 5500,
      txs: ({ jobs, minerOf, verifiersOf }) => [
        [minerOf(jobs[0]), revealBody(jobs[0], minerOf(jobs[0]), ANSWER)],
        ...verifiersOf(jobs[0]).map((v): [string, TxBody] => [v, revealBody(jobs[0], v, ANSWER)]),
        ['alice', submit('llama3', 'Write a haiku about blocks.', 3n * AITBC)],
      ],
      evidence: [],
      commit: all(T0 + 5800),
    },
    // 6: beacon and the assign of the haiku job, nothing else.
    { time: T0 + 6000, txs: () => [], evidence: [], commit: all(T0 + 6500) },
    // 7: past job_timeout_s: the haiku job expires, its miner is slashed; a stake and an unstake
    // (no beacon: nothing left to draw for at the block's start... the job is assigned, not pending).
    {
      time: T0 + 6000 + 60_001,
      txs: () => [
        ['carol', { type: 'stake', amount: 10n * AITBC }],
        ['miner-1', { type: 'unstake', amount: 50n * AITBC }],
      ],
      evidence: [],
      commit: all(T0 + 66_500),
    },
    // 8: an empty block (no tx, no beacon; its results hash is sha256 of an empty array).
    { time: T0 + 67_000, txs: () => [], evidence: [], commit: all(T0 + 67_500) },
    // 9: dave creates a validator (its consensus key proves possession); block 10's header names the new set as next, block 11 is signed by it.
    {
      time: T0 + 68_000,
      txs: () => [['dave', { type: 'create_validator', pubKey: key('dave-consensus').publicKey, moniker: 'dave', stake: 100n * AITBC, possession: key('dave-consensus').sign(possessionMessage(CHAIN_ID, key('dave').address, key('dave-consensus').publicKey)) }]],
      evidence: [],
      commit: all(T0 + 68_500),
    },
    // 10: dave bonds more and starts unbonding part of it.
    {
      time: T0 + 69_000,
      txs: () => [['dave', { type: 'validator_stake', amount: 20n * AITBC }], ['dave', { type: 'validator_unbond', amount: 10n * AITBC }]],
      evidence: [],
      commit: all(T0 + 69_500),
    },
    // 11: the first block of the new set; dave's node does not sign it (the others hold more than 2/3).
    { time: T0 + 70_000, txs: () => [], evidence: [], commit: all(T0 + 70_500) },
    // 12: its last_commit lacks dave's precommit: dave has missed height 11, more than
    // downtime_max_missed (0): jailed until 13 and slashed 1% for downtime.
    { time: T0 + 71_000, txs: () => [], evidence: [], commit: all(T0 + 71_500) },
    // 13: dave unjails (jail_blocks 1 have passed); it signs again from 15.
    { time: T0 + 72_000, txs: () => [['dave', { type: 'unjail' }]], evidence: [], commit: all(T0 + 72_500) },
  ]
}

function headerJSON (h: Header): Record<string, unknown> {
  return {
    chain_id: h.chainId, height: h.height, time: h.time, last_block_hash: toHexUpper(h.lastBlockHash), last_commit_hash: toHexUpper(h.lastCommitHash),
    data_hash: toHexUpper(h.dataHash), validators_hash: toHexUpper(h.validatorsHash), next_validators_hash: toHexUpper(h.nextValidatorsHash),
    consensus_hash: toHexUpper(h.consensusHash), app_hash: toHexUpper(h.appHash), last_results_hash: toHexUpper(h.lastResultsHash),
    evidence_hash: toHexUpper(h.evidenceHash), proposer_address: toHexUpper(h.proposerAddress),
  }
}

function chainVectors (): unknown {
  const json = goldenGenesis()
  const g = parseGenesis(json)
  const chain = new MemChain(g)
  const genesisAppHash = toHexUpper(chain.last.appHash)
  const nonces = new Map<string, number>()
  const nonce = (name: string): number => nonces.get(name) ?? 0
  const jobs: string[] = []
  const names = new Map(['miner-1', 'miner-2', 'miner-3', 'carol'].map(n => [key(n).address, n]))
  // Who runs and who checks a job, as the block's own start decides (its beacon, its assigns): read from a dry run of the block.
  let st: StateReader = chain.mem
  const minerOf = (jobId: string): string => names.get(st.job(jobId)?.miner ?? '') ?? 'nobody'
  const verifiersOf = (jobId: string): string[] => (st.job(jobId)?.verification?.runs ?? []).map(r => names.get(r.miner) ?? 'nobody')
  const blocks = []
  for (const plan of blockPlans()) {
    const height = chain.height + 1
    const proposerId = proposerOf(chain.validators.map(v => ({ id: toHexUpper(v.address), power: v.power })), height, 0)
    const proposerIndex = SIGNERS.findIndex(n => toHexUpper(addressBytesFromPubkey(key(n).publicKey)) === proposerId)
    const proposer = key(SIGNERS[proposerIndex])
    st = chain.propose(proposer, plan.time, []).exec.overlay
    const txs: Tx[] = plan.txs({ jobs, minerOf, verifiersOf }).map(([name, b]) => {
      const tx = signTx(key(name), { chainId: CHAIN_ID, nonce: nonce(name), fee: 1000n, body: b })
      nonces.set(name, nonce(name) + 1)
      if (b.type === 'submit_job') jobs.push(jobIdFromTxHash(tx.hash))
      return tx
    })
    const evidence = plan.evidence.map(e => {
      const k = key(e.signer)
      const [a, b] = e.votes.map(v => signedVote(CHAIN_ID, k, v))
      return encodeDuplicateVote(a, b)
    })
    const { block, exec } = chain.propose(proposer, plan.time, txs, { evidence })
    if (block.evidence.length !== evidence.length) throw new Error(`block ${height}: the executor left evidence out`)
    chain.validate(block) // builder and validator agree
    const commit = signCommit(CHAIN_ID, chain.validators, block, plan.commit.round, plan.commit.signers.map(s => ({ key: key(VALIDATORS[s.validator]), timestamp: s.timestamp })))
    chain.commit(block, exec, commit)
    blocks.push({
      height,
      inputs: {
        time: plan.time,
        proposer: proposerIndex,
        txs: txs.map(t => toHex(t.bytes)),
        evidence: evidence.map(toHex),
        commit: plan.commit,
      },
      outputs: {
        txs: block.txs.map(toHex),
        header: headerJSON(block.header),
        header_bytes: toHex(pack(headerTuple(block.header))),
        block_hash: toHexUpper(blockHash(block.header)),
        app_hash: toHexUpper(block.header.appHash),
        results_hash: toHexUpper(resultsHash(exec.txResults)),
        commit_bytes: toHex(pack(commitTuple(commit))),
        commit_hash: toHexUpper(commitHash(commit)),
      },
    })
  }
  // The plan did what its comments say (no tx was left out on the way).
  const checkedJob = chain.mem.job(jobs[0])
  if (checkedJob?.status !== 'completed' || checkedJob.verification?.outcome !== 'pass' || checkedJob.verification.runs.length !== 2) throw new Error(`the checked job of the vectors ended ${checkedJob?.status} / ${checkedJob?.verification?.outcome}`)
  // Jailed at 12 for missing 11: 1% of its 110 AITBC bond and of the 10 AITBC it unbonded at 10 (which still had power at 11).
  const dave = chain.mem.validatorBond(toHexUpper(addressBytesFromPubkey(key('dave-consensus').publicKey)))
  if (dave?.stake !== 110n * AITBC - 1_100_000n || dave.slashed !== 1_200_000n || dave.unbonding[0]?.amount !== 10n * AITBC - 100_000n || dave.unbonding.length !== 1 || dave.jailedUntil !== null || !chain.nextValidators.some(v => toHexUpper(v.address) === dave.address)) throw new Error('the validator of block 9 did not join, bond, unbond, get jailed at 12 and unjail at 13 as planned')
  if (chain.mem.job(jobs[2])?.status !== 'completed' || chain.mem.job(jobs[3])?.status !== 'expired') throw new Error('the chat job or the haiku job did not end as planned')
  return {
    genesis: json,
    validator_seeds: SIGNERS.map(n => toHex(goldenSeed(n))),
    genesis_app_hash: genesisAppHash,
    blocks,
  }
}

/** Every vector, as the object written to golden.json. */
export function generateVectors (): Record<string, unknown> {
  return {
    about: 'Golden vectors of AITBC, written by scripts/gen-vectors.ts (npm run vectors) and checked by test/unit/golden.test.ts. ' +
      'Byte strings are hex; amounts are decimal strings. draw: the miner draw of docs/protocol.md with verification off (verification_rate 0; seed = sha256(block randomness || job id), weight = stake x min(reputation, 5000), chosen = address or null). ' +
      'votes and proposals: sign bytes (domain tag || canonical tuple) and ed25519 signatures by the key of signer_seed. evidence: a duplicate vote as a block carries it. ' +
      'chain: blocks built by the block executor from the genesis, with their inputs (time, proposer = index into the validators, mempool txs, evidence, and the commit that certified the block) ' +
      'and outputs (every tx of the block, the beacon and the assigns included; header; canonical header tuple bytes; block hash; app hash; results hash; commit tuple bytes and hash).',
    draw: drawVectors(),
    votes: voteVectors(),
    proposals: proposalVectors(),
    evidence: evidenceVectors(),
    chain: chainVectors(),
  }
}

/** The text of golden.json. */
export function renderVectors (): string { return JSON.stringify(generateVectors(), null, 2) + '\n' }

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(GOLDEN_PATH, renderVectors())
  console.log(`wrote ${GOLDEN_PATH}`)
}
