// The application state: records, their canonical tuple encoding (used for both storage and the
// app hash, so a restarted node hashes exactly what a running one does), a read interface, the
// in-memory committed state with its job indexes, and a write overlay.
import { pack } from './codec.ts'
import type { ChatMessage, JobOptions } from './txs/submitJob.ts'
import type { ReceiptMetrics } from './txs/recordReceipt.ts'
import type { Params } from './params.ts'

export interface Account { balance: bigint, nonce: number }

/** Stake on its way out: it returns at releaseHeight; `height` is when unbonding began (for slashes of earlier offences). */
export interface Unbonding { amount: bigint, releaseHeight: number, height: number }

/** What a miner lists about one of its models (from Ollama's /api/tags and /api/show). */
export interface ModelInfo { name: string, digest: string | null, quantization: string | null, parameterSize: string | null, contextLength: number | null }

export interface Miner {
  address: string
  models: string[]
  /** One entry per model, in the order of `models`. */
  modelInfo: ModelInfo[]
  pricePerSecond: bigint
  /** Prices per million input and output tokens; when either is set the miner bills by tokens. */
  priceIn: bigint | null
  priceOut: bigint | null
  /** The most tokens it accepts to generate for one job. */
  maxNumPredict: number | null
  /** Its public HTTP(S) endpoint (token streams, results for clients). */
  endpoint: string | null
  capacity: number
  stake: bigint
  /** Stake held as collateral for checked jobs in hand (released at their verdict); unstake cannot take it. */
  locked: bigint
  unbonding: Unbonding[]
  active: boolean
  /** 0..REPUTATION_MAX; the draw weight is stake x reputation. */
  reputation: number
  /** Jobs and verifications it is running. */
  activeJobs: number
  jobsCompleted: number
  jobsFailed: number
  jobsExpired: number
  /** Its results checked and passed / failed; checks it ran for others. */
  jobsVerified: number
  jobsRejected: number
  verificationsRun: number
  earned: bigint
  slashed: bigint
  registeredHeight: number
}

export type JobStatus = 'pending' | 'assigned' | 'verifying' | 'completed' | 'failed' | 'rejected' | 'cancelled' | 'expired'
export const JOB_STATUSES: JobStatus[] = ['pending', 'assigned', 'verifying', 'completed', 'failed', 'rejected', 'cancelled', 'expired']
export function isOpen (s: JobStatus): boolean { return s === 'pending' || s === 'assigned' || s === 'verifying' }

/** Ollama's report of a run: the model digest used, why it stopped, and its durations (metrics, not the bill). */
export interface ReceiptDetails { modelDigest: string | null, doneReason: string | null, promptEvalMs: number | null, evalMs: number | null, firstTokenMs: number | null, loadMs: number | null }

export interface Job {
  id: string
  txHash: string
  client: string
  /** The client's ed25519 public key (from its submit_job): a checked job's miner seals the result to it. */
  clientKey: Uint8Array | null
  model: string
  prompt: string
  options: JobOptions
  maxFee: bigint
  maxPricePerSecond: bigint | null
  /** A chat job's messages (prompt is then empty). */
  messages: ChatMessage[] | null
  /** The digest the client pinned. */
  modelDigest: string | null
  maxPriceIn: bigint | null
  maxPriceOut: bigint | null
  /** The client accepts unverifiable work. */
  unverified: boolean
  /** Whether its result is checked (decided at assignment: verification on, the client did not opt out, and at least two miners serve the model's digest). */
  checked: boolean
  /** The miner's stake locked for this job (2 x max_fee / verification_rate for a checked job). */
  stakeLock: bigint
  /** The seed every run of this job uses (the client's, or one fixed from the job id). */
  seed: number
  /** The most tokens a run may generate (the client's num_predict, or max_num_predict). */
  numPredict: number
  status: JobStatus
  submittedHeight: number
  submittedTime: number
  miner: string | null
  /** The miner's prices when it was assigned. */
  pricePerSecond: bigint | null
  priceIn: bigint | null
  priceOut: bigint | null
  assignedHeight: number | null
  assignedTime: number | null
  assignTxHash: string | null
  receiptId: string | null
  settleTxHash: string | null
  result: string | null
  resultHash: string | null
  /** A checked job's result sealed to its client by the miner (commit_result), readable by the client alone until the reveal. */
  sealed: Uint8Array | null
  metrics: ReceiptMetrics | null
  details: ReceiptDetails | null
  error: string | null
  paid: bigint | null
  refund: bigint | null
  slashed: bigint | null
  settledHeight: number | null
  settledTime: number | null
  /** The check of a receipt by other miners (null until the job's receipt is committed to). */
  verification: Verification | null
}

/** One re-run of a job by another miner (a verifier). */
export interface VerifierRun {
  miner: string
  assignedHeight: number
  assignedTime: number
  /** Its commitment (commit_result), then its result (reveal_result). */
  commitment: string | null
  committedHeight: number | null
  metrics: ReceiptMetrics | null
  result: string | null
  /** agree / disagree with the majority, silent (missed a deadline), or null while open. */
  outcome: 'agree' | 'disagree' | 'silent' | null
  paid: bigint
  slashed: bigint
}

/**
 * A checked job after its miner committed to a result: the sample, the verifiers' commitments,
 * then everyone's reveals, then the verdict. Phases: 'sample' (the next block draws whether the
 * job is checked), 'commit' (verifiers run it and commit), 'reveal' (committed parties reveal
 * their texts), 'done'.
 */
export interface Verification {
  /** The miner's commitment, when it was made, and its bill fixed then. */
  commitment: string
  committedHeight: number
  committedTime: number
  bill: bigint
  /** Whether the sample drew a check (null until the block after the commitment). */
  sampled: boolean | null
  phase: 'sample' | 'commit' | 'reveal' | 'done'
  /** When the current phase began (its deadline is job_timeout_s later). */
  phaseHeight: number
  phaseTime: number
  minerRevealed: boolean
  runs: VerifierRun[]
  /** pass / fail / no-majority for a checked job; unchecked: not sampled, paid on the miner's reveal. */
  outcome: 'pass' | 'fail' | 'no-majority' | 'unchecked' | null
  /** The lowest similarity (ppm) between the miner and an agreeing verifier, or the best one when none agreed. */
  similarity: number | null
}

/**
 * A validator: its consensus key, its operator account (which signs its txs and gets its
 * unbonded stake back), its bonded self-stake (power = stake / power_reduction), its unbonding
 * entries, and its standing: missed commits within the downtime window, jailed until a height,
 * tombstoned for double signing (never back). Keyed by its consensus address.
 */
export interface ValidatorBond {
  address: string /* upper hex, 20 bytes */
  pubKey: Uint8Array
  operator: string
  moniker: string
  stake: bigint
  slashed: bigint
  offences: string[] /* "height:round:type" punished */
  unbonding: Unbonding[]
  /** Heights (within the downtime window) whose commit lacks this validator's precommit. */
  missed: number[]
  /** Jailed (out of the set); unjail is accepted from this height. null: not jailed. */
  jailedUntil: number | null
  tombstoned: boolean
  createdHeight: number
}

/** Where a validator stands, for people: in the set or out of it by its own choice, or punished. */
export type ValidatorStatus = 'bonded' | 'unbonding' | 'jailed' | 'tombstoned'

export interface Totals { supply: bigint, balances: bigint, escrow: bigint, bonded: bigint, unbonding: bigint, burned: bigint }

/** A newly listed miner: what is not given starts empty (no jobs, initial reputation). */
export function newMiner (m: Pick<Miner, 'address' | 'models' | 'pricePerSecond' | 'capacity' | 'stake' | 'registeredHeight'> & Partial<Miner>): Miner {
  return {
    modelInfo: m.models.map(name => ({ name, digest: null, quantization: null, parameterSize: null, contextLength: null })),
    priceIn: null, priceOut: null, maxNumPredict: null, endpoint: null, locked: 0n, unbonding: [], active: true, reputation: REPUTATION_INITIAL,
    activeJobs: 0, jobsCompleted: 0, jobsFailed: 0, jobsExpired: 0, jobsVerified: 0, jobsRejected: 0, verificationsRun: 0, earned: 0n, slashed: 0n,
    ...m,
  }
}

/** A job record with everything not given empty, as submit_job makes it (for tests and tools). */
export function newJob (j: Pick<Job, 'id' | 'client' | 'model' | 'maxFee' | 'submittedHeight' | 'submittedTime'> & Partial<Job>): Job {
  return {
    txHash: '', clientKey: null, sealed: null, prompt: '', options: { temperature: null, numPredict: null, seed: null }, maxPricePerSecond: null, messages: null, modelDigest: null, maxPriceIn: null,
    maxPriceOut: null, unverified: false, checked: false, stakeLock: 0n, seed: 0, numPredict: 4096, status: 'pending', miner: null, pricePerSecond: null, priceIn: null, priceOut: null,
    assignedHeight: null, assignedTime: null, assignTxHash: null, receiptId: null, settleTxHash: null, result: null, resultHash: null, metrics: null, details: null,
    error: null, paid: null, refund: null, slashed: null, settledHeight: null, settledTime: null, verification: null,
    ...j,
  }
}

export const REPUTATION_INITIAL = 5000
export const REPUTATION_MAX = 10000
/** Reputation gained when a result passes a check, and lost when it fails one. */
export const REPUTATION_VERIFIED = 10
export const REPUTATION_REJECTED = 2000
export const REPUTATION_EXPIRED = 500

// ---- canonical tuple codecs ----
export function encodeAccount (a: Account): unknown[] { return [a.balance, a.nonce] }
export function decodeAccount (t: any[]): Account { return { balance: t[0], nonce: t[1] } }

/**
 * A record as a positional tuple of its fields, in a fixed order (the order is part of the app
 * hash): nested records by their own codec, nulls as nil.
 */
interface TupleCodec<T> { encode: (r: T) => unknown[], decode: (t: any[]) => T }
type FieldCodec = { encode: (v: any) => unknown, decode: (v: any) => any }
function tupleCodec<T> (fields: Array<keyof T & string | [keyof T & string, FieldCodec]>): TupleCodec<T> {
  const list = fields.map(f => typeof f === 'string' ? { key: f, c: null } : { key: f[0], c: f[1] })
  return {
    encode: r => list.map(({ key, c }) => { const v = (r as any)[key]; return c === null || v === null ? v : c.encode(v) }),
    decode: t => Object.fromEntries(list.map(({ key, c }, i) => [key, c === null || t[i] === null || t[i] === undefined ? (t[i] ?? null) : c.decode(t[i])])) as T,
  }
}
const listOf = (c: TupleCodec<any>): FieldCodec => ({ encode: (v: any[]) => v.map(c.encode), decode: (v: any[]) => v.map(c.decode) })
const asField = (c: TupleCodec<any>): FieldCodec => ({ encode: c.encode, decode: c.decode })

const unbondingCodec = tupleCodec<Unbonding>(['amount', 'releaseHeight', 'height'])
const modelInfoCodec = tupleCodec<ModelInfo>(['name', 'digest', 'quantization', 'parameterSize', 'contextLength'])
const minerCodec = tupleCodec<Miner>(['address', 'models', ['modelInfo', listOf(modelInfoCodec)], 'pricePerSecond', 'priceIn', 'priceOut', 'maxNumPredict', 'endpoint',
  'capacity', 'stake', 'locked', ['unbonding', listOf(unbondingCodec)], 'active', 'reputation', 'activeJobs', 'jobsCompleted', 'jobsFailed', 'jobsExpired', 'jobsVerified', 'jobsRejected',
  'verificationsRun', 'earned', 'slashed', 'registeredHeight'])
const optionsCodec = tupleCodec<JobOptions>(['temperature', 'numPredict', 'seed'])
const metricsCodec = tupleCodec<ReceiptMetrics>(['computeMs', 'promptTokens', 'completionTokens'])
const detailsCodec = tupleCodec<ReceiptDetails>(['modelDigest', 'doneReason', 'promptEvalMs', 'evalMs', 'firstTokenMs', 'loadMs'])
const messageCodec = tupleCodec<ChatMessage>(['role', 'content'])
const runCodec = tupleCodec<VerifierRun>(['miner', 'assignedHeight', 'assignedTime', 'commitment', 'committedHeight', ['metrics', asField(metricsCodec)], 'result', 'outcome', 'paid', 'slashed'])
const verificationCodec = tupleCodec<Verification>(['commitment', 'committedHeight', 'committedTime', 'bill', 'sampled', 'phase', 'phaseHeight', 'phaseTime', 'minerRevealed', ['runs', listOf(runCodec)], 'outcome', 'similarity'])
const jobCodec = tupleCodec<Job>(['id', 'txHash', 'client', 'clientKey', 'model', 'prompt', ['options', asField(optionsCodec)], 'maxFee', 'maxPricePerSecond',
  ['messages', listOf(messageCodec)], 'modelDigest', 'maxPriceIn', 'maxPriceOut', 'unverified', 'checked', 'stakeLock', 'seed', 'numPredict', 'status', 'submittedHeight', 'submittedTime',
  'miner', 'pricePerSecond', 'priceIn', 'priceOut', 'assignedHeight', 'assignedTime', 'assignTxHash', 'receiptId', 'settleTxHash', 'result', 'resultHash', 'sealed',
  ['metrics', asField(metricsCodec)], ['details', asField(detailsCodec)], 'error', 'paid', 'refund', 'slashed', 'settledHeight', 'settledTime',
  ['verification', asField(verificationCodec)]])

export const encodeMiner = minerCodec.encode
export const decodeMiner = minerCodec.decode
export const encodeJob = jobCodec.encode
export const decodeJob = jobCodec.decode
const validatorCodec = tupleCodec<ValidatorBond>(['address', 'pubKey', 'operator', 'moniker', 'stake', 'slashed', 'offences', ['unbonding', listOf(unbondingCodec)], 'missed', 'jailedUntil', 'tombstoned', 'createdHeight'])
export const encodeValidatorBond = validatorCodec.encode
export function decodeValidatorBond (t: any[]): ValidatorBond { const v = validatorCodec.decode(t); return { ...v, pubKey: new Uint8Array(v.pubKey) } }
export function encodeTotals (t: Totals): unknown[] { return [t.supply, t.balances, t.escrow, t.bonded, t.unbonding, t.burned] }
export function decodeTotals (t: any[]): Totals { return { supply: t[0], balances: t[1], escrow: t[2], bonded: t[3], unbonding: t[4], burned: t[5] } }

/** Whether the supply invariant holds for a set of totals. */
export function supplyHolds (t: Totals): boolean {
  return t.supply === t.balances + t.escrow + t.bonded + t.unbonding + t.burned
}

// ---- reading ----
export interface StateReader {
  readonly params: Params
  account (address: string): Account | undefined
  miner (address: string): Miner | undefined
  job (id: string): Job | undefined
  validatorBond (address: string): ValidatorBond | undefined
  /** Every validator record's consensus address (any standing), sorted. */
  validatorAddresses (): readonly string[]
  /** Every miner address, sorted. */
  minerAddresses (): readonly string[]
  /** Ids of pending jobs in submission order (optionally of one model); callers re-read each job's status. */
  pendingJobIds (model?: string): Iterable<string>
  /** Ids of assigned jobs in assignment order. */
  assignedJobIds (): Iterable<string>
  /** Ids of open jobs whose verification is under way (a commitment made, no verdict yet), in commitment order; callers re-read each job. */
  verificationJobIds (): Iterable<string>
  /** Models that have pending jobs. */
  pendingModels (): Iterable<string>
  totals (): Totals
  /** The chain's randomness: the last block beacon's output (node/core/txs/beacon.ts), or the genesis seed. */
  beacon (): Uint8Array
}

export const EMPTY_ACCOUNT: Account = Object.freeze({ balance: 0n, nonce: 0 }) as Account

/** A set of writes over a StateReader; reads see the writes. Records are replaced, never mutated. */
export class Overlay implements StateReader {
  readonly accounts = new Map<string, Account>()
  readonly miners = new Map<string, Miner>()
  readonly jobs = new Map<string, Job>()
  readonly bonds = new Map<string, ValidatorBond>()
  private readonly newPending: Job[] = []
  private readonly newAssigned: string[] = []
  private readonly newVerifying: string[] = []
  private t: Totals
  private minerList: string[] | null = null
  private validatorList: string[] | null = null
  private r: Uint8Array | undefined

  constructor (readonly base: StateReader) {
    this.t = { ...base.totals() }
  }

  beacon (): Uint8Array { return this.r ?? this.base.beacon() }
  setBeacon (r: Uint8Array): void { this.r = r }

  get params (): Params { return this.base.params }
  account (a: string): Account | undefined { return this.accounts.get(a) ?? this.base.account(a) }
  miner (a: string): Miner | undefined { return this.miners.get(a) ?? this.base.miner(a) }
  job (id: string): Job | undefined { return this.jobs.get(id) ?? this.base.job(id) }
  validatorBond (a: string): ValidatorBond | undefined { return this.bonds.get(a) ?? this.base.validatorBond(a) }
  totals (): Totals { return this.t }
  setValidatorBond (v: ValidatorBond): void {
    if (!this.bonds.has(v.address) && this.base.validatorBond(v.address) === undefined) this.validatorList = null
    this.bonds.set(v.address, v)
  }

  validatorAddresses (): readonly string[] {
    if (this.validatorList === null) {
      const base = this.base.validatorAddresses()
      const extra = [...this.bonds.keys()].filter(a => this.base.validatorBond(a) === undefined)
      this.validatorList = extra.length === 0 ? base as string[] : [...base, ...extra].sort()
    }
    return this.validatorList
  }

  minerAddresses (): readonly string[] {
    if (this.minerList === null) {
      const base = this.base.minerAddresses()
      const extra = [...this.miners.keys()].filter(a => this.base.miner(a) === undefined)
      this.minerList = extra.length === 0 ? base as string[] : [...base, ...extra].sort()
    }
    return this.minerList
  }

  * pendingJobIds (model?: string): Iterable<string> {
    yield * this.base.pendingJobIds(model)
    // Canonical order: by submission height, then id (the base is ordered the same way).
    const fresh = this.newPending.filter(j => model === undefined || j.model === model).map(j => j.id).sort()
    yield * fresh
  }

  * assignedJobIds (): Iterable<string> {
    yield * this.base.assignedJobIds()
    yield * [...this.newAssigned].sort()
  }

  * verificationJobIds (): Iterable<string> {
    yield * this.base.verificationJobIds()
    yield * [...this.newVerifying].sort()
  }

  * pendingModels (): Iterable<string> {
    const seen = new Set<string>()
    for (const m of this.base.pendingModels()) { seen.add(m); yield m }
    for (const j of this.newPending) if (!seen.has(j.model)) { seen.add(j.model); yield j.model }
  }

  setAccount (a: string, acc: Account): void { this.accounts.set(a, acc) }
  setMiner (m: Miner): void {
    if (!this.miners.has(m.address) && this.base.miner(m.address) === undefined) this.minerList = null
    this.miners.set(m.address, m)
  }

  setJob (j: Job): void {
    const before = this.job(j.id)
    this.jobs.set(j.id, j)
    if (before === undefined && j.status === 'pending') this.newPending.push(j)
    if (j.status === 'assigned' && before?.status !== 'assigned') this.newAssigned.push(j.id)
    if (j.verification !== null && before?.verification == null) this.newVerifying.push(j.id)
  }

  /** Adds d (may be negative) to one of the totals. */
  addTotal (k: keyof Totals, d: bigint): void { this.t[k] += d }

  /** The writes, for committing into the base and for the app hash. */
  changes (): ChangeSet {
    const c: ChangeSet = { accounts: this.accounts, miners: this.miners, jobs: this.jobs, bonds: this.bonds, totals: this.t }
    if (this.r !== undefined) c.beacon = this.r
    return c
  }
}

export interface ChangeSet {
  accounts: ReadonlyMap<string, Account>
  miners: ReadonlyMap<string, Miner>
  jobs: ReadonlyMap<string, Job>
  bonds: ReadonlyMap<string, ValidatorBond>
  totals: Totals
  /** The new randomness, when the block carried a beacon. */
  beacon?: Uint8Array
}

/** Canonical bytes of a change set: sorted keys, tuple-encoded records. Feeds the app hash. */
export function encodeChangeSet (c: ChangeSet): Uint8Array {
  const entries: Array<[string, unknown]> = []
  for (const [k, v] of c.accounts) entries.push(['a/' + k, encodeAccount(v)])
  for (const [k, v] of c.miners) entries.push(['m/' + k, encodeMiner(v)])
  for (const [k, v] of c.jobs) entries.push(['j/' + k, encodeJob(v)])
  for (const [k, v] of c.bonds) entries.push(['v/' + k, encodeValidatorBond(v)])
  if (c.beacon !== undefined) entries.push(['r', c.beacon])
  entries.sort((x, y) => x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)
  return pack([entries.map(e => [e[0], e[1]]), encodeTotals(c.totals)])
}

/**
 * The committed state in memory: every account and miner, the open jobs with their indexes, and
 * closed jobs through `loadClosedJob` (the store reads them from disk) or an in-memory map.
 */
export class MemState implements StateReader {
  readonly accounts = new Map<string, Account>()
  readonly miners = new Map<string, Miner>()
  readonly openJobs = new Map<string, Job>()
  readonly bonds = new Map<string, ValidatorBond>()
  private readonly closedJobs = new Map<string, Job>()
  private readonly pendingByModel = new Map<string, Set<string>>()
  private readonly pendingOrder = new Set<string>()
  private readonly assignedOrder = new Set<string>()
  private readonly verificationOrder = new Set<string>()
  private minerList: string[] = []
  private validatorList: string[] = []
  private t: Totals = { supply: 0n, balances: 0n, escrow: 0n, bonded: 0n, unbonding: 0n, burned: 0n }
  private r: Uint8Array = new Uint8Array(32)

  constructor (readonly params: Params, private readonly loadClosedJob?: (id: string) => Job | undefined, private readonly closedCacheSize = 10_000) {}

  account (a: string): Account | undefined { return this.accounts.get(a) }
  miner (a: string): Miner | undefined { return this.miners.get(a) }
  validatorBond (a: string): ValidatorBond | undefined { return this.bonds.get(a) }
  job (id: string): Job | undefined {
    return this.openJobs.get(id) ?? this.closedJobs.get(id) ?? this.loadClosedJob?.(id)
  }

  minerAddresses (): readonly string[] { return this.minerList }
  validatorAddresses (): readonly string[] { return this.validatorList }
  pendingJobIds (model?: string): Iterable<string> {
    if (model === undefined) return this.pendingOrder
    return this.pendingByModel.get(model) ?? []
  }

  assignedJobIds (): Iterable<string> { return this.assignedOrder }
  verificationJobIds (): Iterable<string> { return this.verificationOrder }
  pendingModels (): Iterable<string> { return this.pendingByModel.keys() }
  totals (): Totals { return this.t }

  /** Applies a committed change set (after it is on disk). */
  apply (c: ChangeSet): void {
    for (const [k, v] of c.accounts) this.accounts.set(k, v)
    let newValidator = false
    for (const [k, v] of c.bonds) {
      if (!this.bonds.has(k)) newValidator = true
      this.bonds.set(k, v)
    }
    if (newValidator) this.validatorList = [...this.bonds.keys()].sort()
    let newMiner = false
    for (const [k, v] of c.miners) {
      if (!this.miners.has(k)) newMiner = true
      this.miners.set(k, v)
    }
    if (newMiner) this.minerList = [...this.miners.keys()].sort()
    // Canonical index order: jobs of one block enter sorted by id, so that a node that restarts
    // and reloads its open jobs sorted by (height, id) iterates them exactly as one that did not.
    for (const id of [...c.jobs.keys()].sort()) this.putJob(c.jobs.get(id) as Job)
    this.t = { ...c.totals }
    if (c.beacon !== undefined) this.r = c.beacon
  }

  private putJob (j: Job): void {
    const before = this.openJobs.get(j.id)
    if (before?.status === 'pending' && j.status !== 'pending') {
      this.pendingOrder.delete(j.id)
      const s = this.pendingByModel.get(j.model)
      s?.delete(j.id)
      if (s?.size === 0) this.pendingByModel.delete(j.model)
    }
    if (before?.status === 'assigned' && j.status !== 'assigned') this.assignedOrder.delete(j.id)
    if (isOpen(j.status) && j.verification !== null && j.verification.phase !== 'done') this.verificationOrder.add(j.id)
    else this.verificationOrder.delete(j.id)
    if (isOpen(j.status)) {
      this.openJobs.set(j.id, j)
      if (j.status === 'pending' && before?.status !== 'pending') {
        this.pendingOrder.add(j.id)
        let s = this.pendingByModel.get(j.model)
        if (s === undefined) { s = new Set(); this.pendingByModel.set(j.model, s) }
        s.add(j.id)
      }
      if (j.status === 'assigned' && before?.status !== 'assigned') this.assignedOrder.add(j.id)
    } else {
      this.openJobs.delete(j.id)
      this.closedJobs.set(j.id, j)
      if (this.loadClosedJob !== undefined && this.closedJobs.size > this.closedCacheSize) {
        this.closedJobs.delete(this.closedJobs.keys().next().value as string)
      }
    }
  }

  /** Loads committed records at start-up (open jobs in any order; they are sorted here). */
  beacon (): Uint8Array { return this.r }

  load (accounts: Iterable<[string, Account]>, miners: Iterable<Miner>, openJobs: Job[], totals: Totals, bonds: Iterable<ValidatorBond> = [], beacon?: Uint8Array): void {
    if (beacon !== undefined) this.r = beacon
    for (const [a, acc] of accounts) this.accounts.set(a, acc)
    for (const b of bonds) this.bonds.set(b.address, b)
    this.validatorList = [...this.bonds.keys()].sort()
    for (const m of miners) this.miners.set(m.address, m)
    this.minerList = [...this.miners.keys()].sort()
    const key = (j: Job): [number, string] => j.status === 'pending' ? [j.submittedHeight, j.id] : [j.assignedHeight ?? 0, j.id]
    openJobs.sort((x, y) => { const a = key(x); const b = key(y); return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) })
    for (const j of openJobs) this.putJob(j)
    this.t = { ...totals }
  }

  /** Every record, for rebuilding and invariant checks. */
  sumBalances (): bigint {
    let s = 0n
    for (const a of this.accounts.values()) s += a.balance
    return s
  }
}

/** A new validator record in good standing. */
export function newValidatorBond (v: Pick<ValidatorBond, 'address' | 'pubKey' | 'operator' | 'moniker' | 'stake' | 'createdHeight'>): ValidatorBond {
  return { slashed: 0n, offences: [], unbonding: [], missed: [], jailedUntil: null, tombstoned: false, ...v }
}
