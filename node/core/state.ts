// The application state: records, their canonical tuple encoding (used for both storage and the
// app hash, so a restarted node hashes exactly what a running one does), a read interface, the
// in-memory committed state with its job indexes, and a write overlay.
import { pack } from './codec.ts'
import type { JobOptions } from './txs/submitJob.ts'
import type { ReceiptMetrics } from './txs/recordReceipt.ts'
import type { Params } from './params.ts'

export interface Account { balance: bigint, nonce: number }

export interface Unbonding { amount: bigint, releaseHeight: number }
export interface Miner {
  address: string
  models: string[]
  pricePerSecond: bigint
  capacity: number
  stake: bigint
  unbonding: Unbonding[]
  active: boolean
  /** 0..REPUTATION_MAX; the draw weight is stake x reputation. */
  reputation: number
  activeJobs: number
  jobsCompleted: number
  jobsFailed: number
  jobsExpired: number
  earned: bigint
  slashed: bigint
  registeredHeight: number
}

export type JobStatus = 'pending' | 'assigned' | 'completed' | 'failed' | 'cancelled' | 'expired'
export const JOB_STATUSES: JobStatus[] = ['pending', 'assigned', 'completed', 'failed', 'cancelled', 'expired']
export function isOpen (s: JobStatus): boolean { return s === 'pending' || s === 'assigned' }

export interface Job {
  id: string
  txHash: string
  client: string
  model: string
  prompt: string
  options: JobOptions
  maxFee: bigint
  maxPricePerSecond: bigint | null
  status: JobStatus
  submittedHeight: number
  submittedTime: number
  miner: string | null
  pricePerSecond: bigint | null
  assignedHeight: number | null
  assignedTime: number | null
  assignTxHash: string | null
  receiptId: string | null
  settleTxHash: string | null
  result: string | null
  resultHash: string | null
  metrics: ReceiptMetrics | null
  error: string | null
  paid: bigint | null
  refund: bigint | null
  slashed: bigint | null
  settledHeight: number | null
  settledTime: number | null
}

/** A validator's bonded stake (from genesis), slashed for duplicate votes. */
export interface ValidatorBond { address: string /* upper hex, 20 bytes */, stake: bigint, slashed: bigint, offences: string[] /* "height:round:type" punished */ }

export interface Totals { supply: bigint, balances: bigint, escrow: bigint, bonded: bigint, unbonding: bigint, burned: bigint }

export const REPUTATION_INITIAL = 5000
export const REPUTATION_MAX = 10000
export const REPUTATION_COMPLETED = 10
export const REPUTATION_EXPIRED = 500

// ---- canonical tuple codecs ----
export function encodeAccount (a: Account): unknown[] { return [a.balance, a.nonce] }
export function decodeAccount (t: any[]): Account { return { balance: t[0], nonce: t[1] } }

export function encodeMiner (m: Miner): unknown[] {
  return [m.address, m.models, m.pricePerSecond, m.capacity, m.stake, m.unbonding.map(u => [u.amount, u.releaseHeight]), m.active, m.reputation, m.activeJobs, m.jobsCompleted, m.jobsFailed, m.jobsExpired, m.earned, m.slashed, m.registeredHeight]
}
export function decodeMiner (t: any[]): Miner {
  return { address: t[0], models: t[1], pricePerSecond: t[2], capacity: t[3], stake: t[4], unbonding: t[5].map((u: any[]) => ({ amount: u[0], releaseHeight: u[1] })), active: t[6], reputation: t[7], activeJobs: t[8], jobsCompleted: t[9], jobsFailed: t[10], jobsExpired: t[11], earned: t[12], slashed: t[13], registeredHeight: t[14] }
}

export function encodeJob (j: Job): unknown[] {
  return [j.id, j.txHash, j.client, j.model, j.prompt, [j.options.temperature, j.options.numPredict, j.options.seed], j.maxFee, j.maxPricePerSecond, j.status,
    j.submittedHeight, j.submittedTime, j.miner, j.pricePerSecond, j.assignedHeight, j.assignedTime, j.assignTxHash, j.receiptId, j.settleTxHash,
    j.result, j.resultHash, j.metrics === null ? null : [j.metrics.computeMs, j.metrics.promptTokens, j.metrics.completionTokens], j.error, j.paid, j.refund, j.slashed, j.settledHeight, j.settledTime]
}
export function decodeJob (t: any[]): Job {
  return {
    id: t[0], txHash: t[1], client: t[2], model: t[3], prompt: t[4], options: { temperature: t[5][0], numPredict: t[5][1], seed: t[5][2] }, maxFee: t[6], maxPricePerSecond: t[7], status: t[8],
    submittedHeight: t[9], submittedTime: t[10], miner: t[11], pricePerSecond: t[12], assignedHeight: t[13], assignedTime: t[14], assignTxHash: t[15], receiptId: t[16], settleTxHash: t[17],
    result: t[18], resultHash: t[19], metrics: t[20] === null ? null : { computeMs: t[20][0], promptTokens: t[20][1], completionTokens: t[20][2] }, error: t[21], paid: t[22], refund: t[23], slashed: t[24], settledHeight: t[25], settledTime: t[26],
  }
}
export function encodeValidatorBond (v: ValidatorBond): unknown[] { return [v.address, v.stake, v.slashed, v.offences] }
export function decodeValidatorBond (t: any[]): ValidatorBond { return { address: t[0], stake: t[1], slashed: t[2], offences: t[3] } }
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
  /** Every miner address, sorted. */
  minerAddresses (): readonly string[]
  /** Ids of pending jobs in submission order (optionally of one model); callers re-read each job's status. */
  pendingJobIds (model?: string): Iterable<string>
  /** Ids of assigned jobs in assignment order. */
  assignedJobIds (): Iterable<string>
  /** Models that have pending jobs. */
  pendingModels (): Iterable<string>
  totals (): Totals
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
  private t: Totals
  private minerList: string[] | null = null

  constructor (readonly base: StateReader) {
    this.t = { ...base.totals() }
  }

  get params (): Params { return this.base.params }
  account (a: string): Account | undefined { return this.accounts.get(a) ?? this.base.account(a) }
  miner (a: string): Miner | undefined { return this.miners.get(a) ?? this.base.miner(a) }
  job (id: string): Job | undefined { return this.jobs.get(id) ?? this.base.job(id) }
  validatorBond (a: string): ValidatorBond | undefined { return this.bonds.get(a) ?? this.base.validatorBond(a) }
  totals (): Totals { return this.t }
  setValidatorBond (v: ValidatorBond): void { this.bonds.set(v.address, v) }

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
  }

  /** Adds d (may be negative) to one of the totals. */
  addTotal (k: keyof Totals, d: bigint): void { this.t[k] += d }

  /** The writes, for committing into the base and for the app hash. */
  changes (): ChangeSet {
    return { accounts: this.accounts, miners: this.miners, jobs: this.jobs, bonds: this.bonds, totals: this.t }
  }
}

export interface ChangeSet {
  accounts: ReadonlyMap<string, Account>
  miners: ReadonlyMap<string, Miner>
  jobs: ReadonlyMap<string, Job>
  bonds: ReadonlyMap<string, ValidatorBond>
  totals: Totals
}

/** Canonical bytes of a change set: sorted keys, tuple-encoded records. Feeds the app hash. */
export function encodeChangeSet (c: ChangeSet): Uint8Array {
  const entries: Array<[string, unknown]> = []
  for (const [k, v] of c.accounts) entries.push(['a/' + k, encodeAccount(v)])
  for (const [k, v] of c.miners) entries.push(['m/' + k, encodeMiner(v)])
  for (const [k, v] of c.jobs) entries.push(['j/' + k, encodeJob(v)])
  for (const [k, v] of c.bonds) entries.push(['v/' + k, encodeValidatorBond(v)])
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
  private minerList: string[] = []
  private t: Totals = { supply: 0n, balances: 0n, escrow: 0n, bonded: 0n, unbonding: 0n, burned: 0n }

  constructor (readonly params: Params, private readonly loadClosedJob?: (id: string) => Job | undefined, private readonly closedCacheSize = 10_000) {}

  account (a: string): Account | undefined { return this.accounts.get(a) }
  miner (a: string): Miner | undefined { return this.miners.get(a) }
  validatorBond (a: string): ValidatorBond | undefined { return this.bonds.get(a) }
  job (id: string): Job | undefined {
    return this.openJobs.get(id) ?? this.closedJobs.get(id) ?? this.loadClosedJob?.(id)
  }

  minerAddresses (): readonly string[] { return this.minerList }
  pendingJobIds (model?: string): Iterable<string> {
    if (model === undefined) return this.pendingOrder
    return this.pendingByModel.get(model) ?? []
  }

  assignedJobIds (): Iterable<string> { return this.assignedOrder }
  pendingModels (): Iterable<string> { return this.pendingByModel.keys() }
  totals (): Totals { return this.t }

  /** Applies a committed change set (after it is on disk). */
  apply (c: ChangeSet): void {
    for (const [k, v] of c.accounts) this.accounts.set(k, v)
    for (const [k, v] of c.bonds) this.bonds.set(k, v)
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
  load (accounts: Iterable<[string, Account]>, miners: Iterable<Miner>, openJobs: Job[], totals: Totals, bonds: Iterable<ValidatorBond> = []): void {
    for (const [a, acc] of accounts) this.accounts.set(a, acc)
    for (const b of bonds) this.bonds.set(b.address, b)
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
