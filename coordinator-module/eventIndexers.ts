// What each kind of chain event does to the coordinator's index: one function per event type,
// registered in EVENT_INDEXERS; a new transaction type adds its events here. Before its indexer
// runs, every event (with an entry or not: `message`, `tx`, ...) has named the accounts in its
// attributes (BlockIndex.event). The functions run in chain order inside one block's BlockIndex
// and write nothing themselves: the block is written in one batch.
import { jobIdFromTxHash, type Tx, type TxBody, type TxType } from '../node/core/tx.ts'
import { KEY, position } from './keys.ts'
import type { BlockIndex } from './blockIndex.ts'
import {
  newJob, applyAssign, applyCancel, applyReceipt, applyExpire, applyMinerCommit, applySample, applyRedraw, applyVerifierCommit,
  applyVerificationPhase, applyVerifierSilent, applyReveal, applyVerifierResult, applyVerdict, type ChainPoint,
} from './jobRecord.ts'

/** An event's attributes by key. */
export type Attributes = Readonly<Record<string, string>>

/** A tx of the block while its events are indexed. */
export interface TxInBlock {
  tx: Tx
  /** Its index in the block. */
  index: number
  /** Accounts the tx names: their records changed and the tx is listed under each. */
  named: Set<string>
  /** The job the tx concerns, for its tx record. */
  jobId: string | null
  receiptId: string | null
}

export interface EventContext {
  block: BlockIndex
  /** The tx whose result holds the event; null for the block's own events (finalize_block). */
  tx: TxInBlock | null
  at: ChainPoint
}

export interface EventIndexer {
  /** The event changes the job its `job_id` attribute names: that job is read from the index first. */
  readonly readsJob?: true
  readonly index: (a: Attributes, c: EventContext) => void
}

/** The event's tx, whose body has the event's type. */
function bodyOf<T extends TxType> (c: EventContext, type: T): { t: TxInBlock, body: Extract<TxBody, { type: T }> } {
  const t = c.tx
  if (t === null) throw c.block.bad(`a ${type} event outside a tx`)
  if (t.tx.body.type !== type) throw c.block.bad(`a ${type} event on a ${t.tx.type} tx`)
  return { t, body: t.tx.body as Extract<TxBody, { type: T }> }
}

/** transfer: the recipient's account changed, and the tx is listed under it. */
export function indexTransfer (a: Attributes, c: EventContext): void {
  c.block.nameAccount(a.recipient, c.tx)
}

/**
 * register_miner, update_miner: the miner's record changed. The price its tx sets is kept, for
 * the jobs assigned to it from now on (price_per_second in their view).
 */
function indexMinerListing (a: Attributes, c: EventContext): void {
  c.block.minerChanged(a.miner)
  const t = c.tx
  if (t === null) throw c.block.bad('a miner listing event outside a tx')
  const body = t.tx.body
  if (body.type !== 'register_miner' && body.type !== 'update_miner') throw c.block.bad(`a miner listing event on a ${t.tx.type} tx`)
  if (body.pricePerSecond !== null) c.block.setPrice(t.tx.sender, body.pricePerSecond.toString())
}

/** An amount attribute (uaitbc, decimal); undefined if it is not one (the charts then skip the change). */
function amountOf (a: Attributes, key: string): bigint | undefined {
  const v = a[key]
  return v !== undefined && /^\d{1,40}$/.test(v) ? BigInt(v) : undefined
}

/** register_miner: a new listing, and its stake bonded. */
export function indexRegisterMiner (a: Attributes, c: EventContext): void {
  indexMinerListing(a, c)
  const stake = amountOf(a, 'stake')
  if (stake !== undefined) c.block.stakeChanged(a.miner, { set: stake })
}

/** update_miner: the listing changed (models, price, capacity, active). */
export function indexUpdateMiner (a: Attributes, c: EventContext): void {
  indexMinerListing(a, c)
}

/** stake: the miner bonded more. */
export function indexStake (a: Attributes, c: EventContext): void {
  c.block.minerChanged(a.miner)
  const amount = amountOf(a, 'amount')
  if (amount !== undefined) c.block.stakeChanged(a.miner, { add: amount })
}

/** unstake: part of the miner's stake starts unbonding. */
export function indexUnstake (a: Attributes, c: EventContext): void {
  c.block.minerChanged(a.miner)
  const amount = amountOf(a, 'amount')
  if (amount !== undefined) c.block.stakeChanged(a.miner, { add: -amount })
}

/** unbond (block begin): unbonded stake returned to the miner's balance; its stake is unchanged. */
export function indexUnbond (a: Attributes, c: EventContext): void {
  c.block.minerChanged(a.miner)
}

/** slash: a miner's stake was cut (a job it let expire); a validator's has no miner. */
export function indexSlash (a: Attributes, c: EventContext): void {
  c.block.minerChanged(a.miner)
  const amount = amountOf(a, 'amount')
  if (amount !== undefined) c.block.stakeChanged(a.miner, { slashed: amount })
}

/** submit_job: a new job, pending, listed among all jobs and its client's. */
export function indexSubmitJob (a: Attributes, c: EventContext): void {
  const { t, body } = bodyOf(c, 'submit_job')
  const want = jobIdFromTxHash(t.tx.hash)
  if (a.job_id !== want) throw c.block.bad(`submit_job event names ${a.job_id}, the tx makes ${want}`)
  t.jobId = a.job_id
  c.block.addJob(newJob(a.job_id, t.tx, body, { ...c.at, txHash: t.tx.hash }, position(c.at.height, t.index), c.block.maxNumPredict))
}

/** assign: the job goes to a miner (listed under it) at the miner's current price. */
export function indexAssign (a: Attributes, c: EventContext): void {
  const j = c.block.job(a.job_id, 'assign')
  if (c.tx !== null) c.tx.jobId = a.job_id
  c.block.changeJob(applyAssign(j, a.miner, c.block.priceOf(a.miner), c.at, a))
  c.block.put(KEY.jobByMiner(a.miner, j.position, j.job_id), '')
  c.block.minerChanged(a.miner)
  c.block.nameAccount(a.miner, c.tx)
}

/** cancel_job: the client takes its pending job back. */
export function indexCancelJob (a: Attributes, c: EventContext): void {
  const j = c.block.job(a.job_id, 'cancel_job')
  if (c.tx !== null) c.tx.jobId = a.job_id
  c.block.changeJob(applyCancel(j, a.refund, c.at))
}

/** record_receipt: the miner's result (completed or failed), what the client paid, the receipt id. */
export function indexRecordReceipt (a: Attributes, c: EventContext): void {
  const { t, body } = bodyOf(c, 'record_receipt')
  t.jobId = a.job_id
  t.receiptId = a.receipt_id
  c.block.changeJob(applyReceipt(c.block.job(a.job_id, 'record_receipt'), body, a.receipt_id, a.paid, a.refund, c.at))
  c.block.put(KEY.receipt(a.receipt_id), a.job_id)
  c.block.minerChanged(a.miner)
}

/** expire_job (block begin, no tx): a job left pending or assigned too long; its miner, if any, is slashed. */
export function indexExpireJob (a: Attributes, c: EventContext): void {
  c.block.changeJob(applyExpire(c.block.job(a.job_id, 'expire_job'), a.refund, a.slashed, c.at))
  c.block.minerChanged(a.miner)
}

/** commit_result: the miner's commitment (the verification opens) or a verifier's. */
export function indexCommitResult (a: Attributes, c: EventContext): void {
  const { t, body } = bodyOf(c, 'commit_result')
  t.jobId = a.job_id
  const j = c.block.job(a.job_id, 'commit_result')
  if (a.role === 'miner') {
    t.receiptId = a.receipt_id
    c.block.changeJob(applyMinerCommit(j, body, a.receipt_id, a.commitment, a.bill, c.at))
    c.block.put(KEY.receipt(a.receipt_id), a.job_id)
  } else {
    c.block.changeJob(applyVerifierCommit(j, a.committer, c.at))
  }
  c.block.minerChanged(a.committer)
}

/** reveal_result: a committed text shown (the miner's is the job's result). */
export function indexRevealResult (a: Attributes, c: EventContext): void {
  const { t, body } = bodyOf(c, 'reveal_result')
  t.jobId = a.job_id
  c.block.changeJob(applyReveal(c.block.job(a.job_id, 'reveal_result'), a.revealer, body))
}

/** Verifiers named by a sample or a redraw: the job is listed under each, whose records change. */
function verifiersOf (a: Attributes): string[] { return a.verifiers === undefined || a.verifiers === '' ? [] : a.verifiers.split(',') }
function listUnderVerifiers (a: Attributes, c: EventContext, position: string): void {
  for (const m of verifiersOf(a)) {
    c.block.put(KEY.jobByMiner(m, position, a.job_id), '')
    c.block.minerChanged(m)
  }
}

/** sample (block begin): whether the job is checked, and by whom. */
export function indexSample (a: Attributes, c: EventContext): void {
  const j = c.block.job(a.job_id, 'sample')
  c.block.changeJob(applySample(j, a.sampled === 'true', a.verifiers ?? '', c.at))
  listUnderVerifiers(a, c, j.position)
}

/** redraw (block begin): verifiers in place of silent ones. */
export function indexRedraw (a: Attributes, c: EventContext): void {
  const j = c.block.job(a.job_id, 'redraw')
  c.block.changeJob(applyRedraw(j, a.verifiers ?? '', c.at))
  listUnderVerifiers(a, c, j.position)
}

/** verification_phase: the reveals open. */
export function indexVerificationPhase (a: Attributes, c: EventContext): void {
  if (a.phase !== 'reveal') throw c.block.bad(`a verification_phase event with phase ${a.phase}`)
  c.block.changeJob(applyVerificationPhase(c.block.job(a.job_id, 'verification_phase'), 'reveal', c.at))
}

/** verifier_silent: a verifier that missed its deadline (slashed by the amount given). */
export function indexVerifierSilent (a: Attributes, c: EventContext): void {
  c.block.changeJob(applyVerifierSilent(c.block.job(a.job_id, 'verifier_silent'), a.verifier, a.slashed))
  c.block.minerChanged(a.verifier)
}

/** verifier_result: a verifier's part in the verdict (agree, disagree, silent), its pay and slash. */
export function indexVerifierResult (a: Attributes, c: EventContext): void {
  c.block.changeJob(applyVerifierResult(c.block.job(a.job_id, 'verifier_result'), a.verifier, a.outcome, a.paid, a.slashed))
  c.block.minerChanged(a.verifier)
  c.block.nameAccount(a.verifier, c.tx)
}

/** verdict: the checked job settles (in the last reveal's tx, or at a deadline at block begin). */
export function indexVerdict (a: Attributes, c: EventContext): void {
  c.block.changeJob(applyVerdict(c.block.job(a.job_id, 'verdict'), { outcome: a.outcome, paid: a.paid, refund: a.refund, slashed: a.slashed, similarity: a.similarity ?? '' }, c.at))
  c.block.minerChanged(a.miner)
  c.block.nameAccount(a.miner, c.tx)
  c.block.nameAccount(a.client, c.tx)
}

/**
 * Validator events (create_validator, validator_stake, validator_unbond, unjail, jail, tombstone,
 * validator_unbonded) name their operator accounts; the validators' standing is read from the
 * node (aitbc_validators) and their signatures from the commits.
 */
function indexValidatorEvent (): void {}

/** The indexer of each event type. Events without an entry only name their accounts. */
export const EVENT_INDEXERS: ReadonlyMap<string, EventIndexer> = new Map<string, EventIndexer>([
  ['transfer', { index: indexTransfer }],
  ['register_miner', { index: indexRegisterMiner }],
  ['update_miner', { index: indexUpdateMiner }],
  ['stake', { index: indexStake }],
  ['unstake', { index: indexUnstake }],
  ['unbond', { index: indexUnbond }],
  ['slash', { index: indexSlash }],
  ['submit_job', { index: indexSubmitJob }],
  ['assign', { readsJob: true, index: indexAssign }],
  ['cancel_job', { readsJob: true, index: indexCancelJob }],
  ['record_receipt', { readsJob: true, index: indexRecordReceipt }],
  ['expire_job', { readsJob: true, index: indexExpireJob }],
  ['commit_result', { readsJob: true, index: indexCommitResult }],
  ['reveal_result', { readsJob: true, index: indexRevealResult }],
  ['sample', { readsJob: true, index: indexSample }],
  ['redraw', { readsJob: true, index: indexRedraw }],
  ['verification_phase', { readsJob: true, index: indexVerificationPhase }],
  ['verifier_silent', { readsJob: true, index: indexVerifierSilent }],
  ['verifier_result', { readsJob: true, index: indexVerifierResult }],
  ['verdict', { readsJob: true, index: indexVerdict }],
  ...['create_validator', 'validator_stake', 'validator_unbond', 'unjail', 'jail', 'tombstone', 'validator_unbonded'].map(t => [t, { index: indexValidatorEvent }] as [string, EventIndexer]),
])
