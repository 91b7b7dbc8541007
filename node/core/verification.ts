// Verification by re-execution (docs/protocol.md, "Verification"): the life of a checked job after
// its miner commits to a result. Pure: everything comes from the state and the block context.
//
//   commit (miner)  -> 'sample': the next block's randomness draws whether the job is checked
//   not sampled     -> 'reveal' (the miner alone)        -> unchecked: paid on the reveal
//   sampled         -> 'commit': up to two verifiers drawn, each re-runs the job and commits
//                   -> 'reveal': every committed party reveals its text
//                   -> the verdict: pass, fail or no-majority
//
// Commitments are salted and bound to the committer (nobody can copy another's), and no text is
// revealed before every verifier has committed (nobody can copy a text either). A party silent
// past a phase's deadline (job_timeout_s) is treated as failing: a silent miner as a caught lie,
// a silent verifier as one that lets a job expire.
import { sha256Concat, toHex, utf8Bytes, sha256 } from './crypto.ts'
import { ev, type AbciEvent } from './events.ts'
import { similarityPpm } from './similarity.ts'
import { slashMiner } from './slashing.ts'
import { credit } from './txs/txType.ts'
import {
  REPUTATION_EXPIRED, REPUTATION_INITIAL, REPUTATION_MAX, REPUTATION_REJECTED, REPUTATION_VERIFIED,
  type Job, type Miner, type Overlay, type StateReader, type Verification, type VerifierRun,
} from './state.ts'
import type { BlockContext } from './transition.ts'
import type { Params } from './params.ts'

const PPM = 1_000_000n
/** Verifiers drawn for a sampled job: with the miner, a majority of three. */
export const COMMITTEE = 2
/** The most re-runs a job may have, replacements of silent verifiers included. */
export const MAX_RUNS = 4
const COMMIT_TAG = utf8Bytes('AITBC/result/v1')
const SAMPLE_TAG = utf8Bytes('AITBC/sample/v1')
const VERIFIER_TAG = utf8Bytes('AITBC/verifier/v1')

/** The commitment to a result: sha256(tag || job id || committer || salt || sha256(text)), hex. */
export function resultCommitment (jobId: string, committer: string, salt: Uint8Array, text: string): string {
  return toHex(sha256Concat(COMMIT_TAG, utf8Bytes(jobId), utf8Bytes(committer), salt, sha256(utf8Bytes(text))))
}

/** The stake a miner locks for a checked job: 2 x max_fee / verification_rate (what a caught lie can cost). */
export function stakeLockFor (p: Params, maxFee: bigint): bigint {
  if (p.verificationRatePpm === 0) return 0n
  const rate = BigInt(p.verificationRatePpm)
  // twice max_fee / rate, each rounded up: never below lieSlash (whose bill is at most max_fee)
  return 2n * ((maxFee * PPM + rate - 1n) / rate)
}

/** What a caught lie (or a miner's silence after its commitment) costs: max_fee / rate + bill / rate, at most its stake. */
export function lieSlash (p: Params, j: Job, bill: bigint): bigint {
  const rate = BigInt(p.verificationRatePpm === 0 ? 1_000_000 : p.verificationRatePpm)
  return (j.maxFee * PPM + rate - 1n) / rate + (bill * PPM + rate - 1n) / rate
}

/** The digest a miner lists for a model (null when it lists none). */
export function digestOf (m: Miner, model: string): string | null {
  return m.modelInfo.find(i => i.name === model)?.digest ?? null
}

/** Active miners that serve a model with this digest: the miners that can check one another. */
export function classMembers (st: StateReader, model: string, digest: string | null): Miner[] {
  const out: Miner[] = []
  for (const a of st.minerAddresses()) {
    const m = st.miner(a)
    if (m !== undefined && m.active && m.models.includes(model) && digestOf(m, model) === digest) out.push(m)
  }
  return out
}

/** Whether a job assigned to `m` will be checked: verification is on, the client did not opt out, and someone else can check it. */
export function willCheck (st: StateReader, j: Job, m: Miner): boolean {
  return st.params.verificationRatePpm > 0 && !j.unverified && classMembers(st, j.model, digestOf(m, j.model)).length >= 2
}

/** Draw weight: stake x reputation, where reputation above its initial value earns nothing more (it can only hurt). */
export function drawWeight (m: Miner): bigint { return m.stake * BigInt(Math.min(m.reputation, REPUTATION_INITIAL)) }

/** The verification a miner's commitment opens (the sample is drawn in the next block). */
export function openVerification (commitment: string, bill: bigint, ctx: BlockContext): Verification {
  return {
    commitment, committedHeight: ctx.height, committedTime: ctx.time, bill, sampled: null, phase: 'sample',
    phaseHeight: ctx.height, phaseTime: ctx.time, minerRevealed: false, runs: [], outcome: null, similarity: null,
  }
}

function seedInt (parts: Uint8Array[]): bigint { return BigInt('0x' + toHex(sha256Concat(...parts))) }

/**
 * Whether a committed job is checked: sha256(tag || block randomness || job id) mod 10^6 < rate in
 * ppm. Nothing the miner chooses enters it (not its commitment: a salt could be ground).
 */
export function isSampled (p: Params, randomness: Uint8Array, j: Job): boolean {
  return seedInt([SAMPLE_TAG, randomness, utf8Bytes(j.id)]) % PPM < BigInt(p.verificationRatePpm)
}

/** Miners that may re-run a job now: its class, not its miner nor a verifier already drawn, with room, stake and reputation. */
function verifierCandidates (st: StateReader, j: Job, exclude: Set<string>): Miner[] {
  const miner = st.miner(j.miner as string)
  const digest = miner === undefined ? j.details?.modelDigest ?? null : digestOf(miner, j.model)
  return classMembers(st, j.model, digest).filter(m => !exclude.has(m.address) && m.activeJobs < m.capacity && m.stake >= st.params.minMinerStake &&
    m.reputation > 0 && (m.maxNumPredict === null || j.numPredict <= m.maxNumPredict))
}

/** Draws verifier number `index` for a job (weighted by drawWeight, from the block randomness); null when nobody can. */
function drawVerifier (st: StateReader, j: Job, randomness: Uint8Array, index: number, exclude: Set<string>): Miner | null {
  const cands = verifierCandidates(st, j, exclude).sort((a, b) => a.address < b.address ? -1 : 1)
  const total = cands.reduce((s, m) => s + drawWeight(m), 0n)
  if (total === 0n) return null
  let r = seedInt([VERIFIER_TAG, randomness, utf8Bytes(j.id), Uint8Array.of(index)]) % total
  for (const m of cands) {
    const w = drawWeight(m)
    if (r < w) return m
    r -= w
  }
  return cands[cands.length - 1]
}

/** Block-begin work of every verification under way: samples, committees, deadlines, verdicts. */
export function advanceVerifications (st: Overlay, ctx: BlockContext): AbciEvent[] {
  const events: AbciEvent[] = []
  const deadlineMs = st.params.jobTimeoutS * 1000
  const jobs: Job[] = []
  for (const id of st.verificationJobIds()) {
    const j = st.job(id)
    if (j?.verification != null && j.verification.phase !== 'done' && (j.status === 'assigned' || j.status === 'verifying')) jobs.push(j)
  }
  // A canonical order (a restarted node reloads its indexes in another one).
  jobs.sort((a, b) => (a.verification as Verification).committedHeight - (b.verification as Verification).committedHeight || (a.id < b.id ? -1 : 1))
  for (const j0 of jobs) {
    let j = j0
    const v = j.verification as Verification
    if (v.phase === 'sample' && ctx.height > v.committedHeight) {
      j = sample(st, j, ctx, events)
      continue
    }
    if (v.phase === 'commit' && ctx.time <= v.phaseTime + deadlineMs) {
      topUp(st, j, ctx, events)
      continue
    }
    if (ctx.time <= v.phaseTime + deadlineMs) continue
    // The phase's deadline has passed: whoever has not acted is silent.
    if (v.phase === 'commit') j = closeCommitPhase(st, j, ctx, events, true)
    else if (v.phase === 'reveal') settle(st, j, ctx, events, null, true)
  }
  return events
}

/** The sample, in the block after the commitment: unchecked (the miner reveals and is paid) or a committee is drawn. */
function sample (st: Overlay, j: Job, ctx: BlockContext, events: AbciEvent[]): Job {
  const v = j.verification as Verification
  const sampled = isSampled(st.params, ctx.randomness, j)
  if (!sampled) {
    const next: Job = { ...j, verification: { ...v, sampled: false, phase: 'reveal', phaseHeight: ctx.height, phaseTime: ctx.time } }
    st.setJob(next)
    events.push(ev('sample', { job_id: j.id, sampled: 'false', verifiers: '' }))
    return next
  }
  const runs = drawRuns(st, j, [], COMMITTEE, ctx)
  events.push(ev('sample', { job_id: j.id, sampled: 'true', verifiers: runs.map(r => r.miner).join(',') }))
  const next: Job = { ...j, status: 'verifying', verification: { ...v, sampled: true, phase: 'commit', phaseHeight: ctx.height, phaseTime: ctx.time, runs } }
  st.setJob(next)
  // A committee short of verifiers (the others of the class busy) is topped up block by block
  // until its commit deadline; with nobody by then, no majority.
  return next
}

/** Runs still expected to commit or committed: not replaced as silent. */
export function activeRuns (v: Verification): VerifierRun[] { return v.runs.filter(r => r.outcome !== 'silent') }

/**
 * A commit phase short of COMMITTEE verifiers (none was free at the sample) draws the missing ones
 * as miners become free, at most MAX_RUNS in all; each draw restarts the phase's deadline, so a
 * verifier drawn late has the whole job_timeout_s to commit.
 */
function topUp (st: Overlay, j: Job, ctx: BlockContext, events: AbciEvent[]): Job {
  const v = j.verification as Verification
  const missing = Math.min(COMMITTEE - activeRuns(v).length, MAX_RUNS - v.runs.length)
  if (missing <= 0) return j
  const more = drawRuns(st, j, v.runs, missing, ctx)
  if (more.length === 0) return j
  events.push(ev('redraw', { job_id: j.id, verifiers: more.map(r => r.miner).join(',') }))
  const next: Job = { ...j, verification: { ...v, runs: [...v.runs, ...more], phaseHeight: ctx.height, phaseTime: ctx.time } }
  st.setJob(next)
  return next
}

/** Whether the commit phase may close before its deadline: a full committee, every one committed. */
export function committeeDone (v: Verification): boolean {
  const active = activeRuns(v)
  return active.length >= COMMITTEE && active.every(r => r.commitment !== null)
}

/** Draws `count` more verifiers for a job (none already in `prior`, nor its miner), each holding a slot until it commits. */
function drawRuns (st: Overlay, j: Job, prior: VerifierRun[], count: number, ctx: BlockContext): VerifierRun[] {
  const exclude = new Set([j.miner as string, ...prior.map(r => r.miner)])
  const runs: VerifierRun[] = []
  for (let i = 0; i < count; i++) {
    const m = drawVerifier(st, j, ctx.randomness, prior.length + i, exclude)
    if (m === null) break
    exclude.add(m.address)
    st.setMiner({ ...m, activeJobs: m.activeJobs + 1 })
    runs.push({ miner: m.address, assignedHeight: ctx.height, assignedTime: ctx.time, commitment: null, committedHeight: null, metrics: null, result: null, outcome: null, paid: 0n, slashed: 0n })
  }
  return runs
}

/**
 * Ends the commit phase: when every verifier has committed, or at its deadline. There, each silent
 * verifier is slashed as a miner that lets a job expire and another is drawn in its place (at most
 * MAX_RUNS re-runs in all), with a new deadline; with nobody left to draw, the reveals open.
 */
export function closeCommitPhase (st: Overlay, j: Job, ctx: BlockContext, events: AbciEvent[], deadline: boolean): Job {
  const v = j.verification as Verification
  let silent = 0
  let runs = v.runs.map(r => {
    if (r.commitment !== null || r.outcome === 'silent' || !deadline) return r
    silent++
    const s = slashVerifier(st, r.miner, r.assignedHeight, 'verifier_silent', j.id, events)
    return { ...r, outcome: 'silent' as const, slashed: s }
  })
  if (silent > 0) {
    const more = drawRuns(st, j, runs, Math.min(silent, MAX_RUNS - runs.length), ctx)
    if (more.length > 0) {
      runs = [...runs, ...more]
      events.push(ev('redraw', { job_id: j.id, verifiers: more.map(r => r.miner).join(',') }))
      const next: Job = { ...j, verification: { ...v, runs, phaseHeight: ctx.height, phaseTime: ctx.time } }
      st.setJob(next)
      return next
    }
  }
  const next: Job = { ...j, verification: { ...v, runs, phase: 'reveal', phaseHeight: ctx.height, phaseTime: ctx.time } }
  st.setJob(next)
  events.push(ev('verification_phase', { job_id: j.id, phase: 'reveal' }))
  if (runs.every(r => r.commitment === null)) return settle(st, next, ctx, events, null, false)
  return next
}

/** Whether every party of the reveal phase has revealed. */
export function allRevealed (v: Verification): boolean {
  return v.minerRevealed && v.runs.every(r => r.commitment === null || r.outcome === 'silent' || r.result !== null)
}

/**
 * The verdict. `txHash`: the reveal that completed the job (null when a deadline decided).
 * `deadline`: parties that have not revealed are silent (a silent miner fails, silent verifiers
 * are slashed and left out).
 */
export function settle (st: Overlay, j: Job, ctx: BlockContext, events: AbciEvent[], txHash: string | null, deadline: boolean): Job {
  const p = st.params
  const v = j.verification as Verification
  const bill = v.bill
  let runs = v.runs.map(r => {
    if (!deadline || r.commitment === null || r.result !== null || r.outcome === 'silent') return r
    return { ...r, outcome: 'silent' as const, slashed: slashVerifier(st, r.miner, r.assignedHeight, 'verifier_silent', j.id, events) }
  })
  const revealed = runs.filter(r => r.result !== null && r.outcome !== 'silent')
  let outcome: NonNullable<Verification['outcome']>
  let similarity: number | null = null
  if (v.sampled === false) {
    outcome = v.minerRevealed ? 'unchecked' : 'fail'
  } else if (!v.minerRevealed) {
    outcome = revealed.length === 0 ? 'no-majority' : 'fail' // a miner silent at its reveal fails; with no verifier left, nobody can say
    // the verifiers that revealed stand with the verdict: paid from the slash
    if (outcome === 'fail') runs = runs.map(r => r.result !== null && r.outcome !== 'silent' ? { ...r, outcome: 'agree' as const } : r)
  } else {
    const minerText = { text: j.result as string, completionTokens: j.metrics?.completionTokens ?? 0 }
    const scores = revealed.map(r => similarityPpm(minerText, { text: r.result as string, completionTokens: r.metrics?.completionTokens ?? 0 }))
    const agree = revealed.filter((_, i) => scores[i] >= p.verificationThresholdPpm)
    const against = revealed.length - agree.length
    if (agree.length > 0 && agree.length >= against) {
      outcome = 'pass'
      similarity = Math.min(...scores.filter(s => s >= p.verificationThresholdPpm))
    } else if (agree.length === 0 && revealed.length >= 2 && similarityPpm(
      { text: revealed[0].result as string, completionTokens: revealed[0].metrics?.completionTokens ?? 0 },
      { text: revealed[1].result as string, completionTokens: revealed[1].metrics?.completionTokens ?? 0 }) >= p.verificationThresholdPpm) {
      outcome = 'fail'
      similarity = Math.max(...scores)
    } else {
      outcome = 'no-majority'
      similarity = scores.length === 0 ? null : Math.max(...scores)
    }
    runs = runs.map(r => {
      if (r.result === null || r.outcome === 'silent') return r
      const withMiner = agree.some(a => a.miner === r.miner)
      const inMajority = outcome === 'pass' ? withMiner : outcome === 'fail' ? !withMiner : false
      return { ...r, outcome: (inMajority ? 'agree' : 'disagree') as VerifierRun['outcome'] }
    })
  }
  return finish(st, { ...j, verification: { ...v, runs } }, ctx, events, outcome, similarity, bill, txHash)
}

/** Pays, slashes, refunds and closes the job for a verdict. */
function finish (st: Overlay, j: Job, ctx: BlockContext, events: AbciEvent[], outcome: NonNullable<Verification['outcome']>, similarity: number | null, bill: bigint, txHash: string | null): Job {
  const p = st.params
  const v = j.verification as Verification
  const miner = st.miner(j.miner as string) as Miner
  let paid = 0n
  let slashed = 0n
  let runs = v.runs
  let m: Miner = { ...miner, locked: miner.locked - j.stakeLock }
  if (outcome === 'pass' || outcome === 'unchecked') {
    paid = bill
    // Each agreeing verifier is paid out of the bill; the miner gets the rest.
    runs = runs.map(r => r.outcome === 'agree' ? { ...r, paid: bill * BigInt(p.verifierRewardPpm) / PPM } : r)
    const toVerifiers = runs.reduce((s, r) => s + r.paid, 0n)
    const toMiner = paid - toVerifiers
    if (toMiner > 0n) credit(st, m.address, toMiner)
    m = { ...m, earned: m.earned + toMiner, jobsCompleted: m.jobsCompleted + 1 }
    if (outcome === 'pass') m = { ...m, jobsVerified: m.jobsVerified + 1, reputation: Math.min(REPUTATION_MAX, m.reputation + REPUTATION_VERIFIED) }
  } else if (outcome === 'fail') {
    st.setMiner(m)
    const s = slashMiner(st, m, j.assignedHeight ?? v.committedHeight, 0, min(lieSlash(p, j, bill), m.stake + m.unbonding.reduce((x, u) => x + u.amount, 0n)))
    slashed = s.slash.total
    m = s.miner
    // The agreeing verifiers are paid out of the slash (from what was burned); the rest stays burned.
    let pool = slashed
    runs = runs.map(r => {
      if (r.outcome !== 'agree' || pool === 0n) return r
      const reward = min(j.maxFee * BigInt(p.verifierRewardPpm) / PPM, pool)
      pool -= reward
      return { ...r, paid: reward }
    })
    const rewarded = slashed - pool
    if (rewarded > 0n) st.addTotal('burned', -rewarded)
    m = { ...m, jobsRejected: m.jobsRejected + 1, reputation: Math.max(0, m.reputation - REPUTATION_REJECTED) }
    if (slashed > 0n) events.push(ev('slash', { miner: m.address, amount: slashed, reason: 'result_rejected', job_id: j.id }))
  }
  st.setMiner(m)
  runs = runs.map(r => {
    const vm = st.miner(r.miner)
    if (vm === undefined) return r
    if (r.paid > 0n) credit(st, r.miner, r.paid)
    st.setMiner({ ...vm, earned: vm.earned + r.paid, verificationsRun: vm.verificationsRun + (r.outcome === 'agree' || r.outcome === 'disagree' ? 1 : 0) })
    // Outvoted by a majority: slashed. With no majority nobody is (its 'disagree' only says it differed from the miner).
    const outvoted = r.outcome === 'disagree' && (outcome === 'pass' || outcome === 'fail')
    const out = outvoted ? { ...r, slashed: slashVerifier(st, r.miner, r.assignedHeight, 'verifier_outvoted', j.id, events) } : r
    events.push(ev('verifier_result', { job_id: j.id, verifier: r.miner, outcome: out.outcome ?? '', paid: out.paid, slashed: out.slashed }))
    return out
  })
  const refund = j.maxFee - paid
  st.addTotal('escrow', -j.maxFee)
  if (refund > 0n) credit(st, j.client, refund)
  const status = outcome === 'pass' || outcome === 'unchecked' ? 'completed' : 'rejected'
  const next: Job = {
    ...j, status, paid, refund, slashed, settleTxHash: txHash, settledHeight: ctx.height, settledTime: ctx.time,
    verification: { ...v, runs, phase: 'done', outcome, similarity },
  }
  st.setJob(next)
  events.push(ev('verdict', { job_id: j.id, outcome, miner: m.address, client: j.client, paid, refund, slashed, similarity: similarity ?? '' }))
  return next
}

function min (a: bigint, b: bigint): bigint { return a < b ? a : b }

/**
 * A verifier that kept silent: slashed as a miner that lets a job expire (slash_fraction of its
 * stake, reputation −500), and it frees its slot. One outvoted by the majority: slashed the job's
 * max_fee (a bounded cost, since an honest run can fork on other hardware), reputation −2000.
 */
function slashVerifier (st: Overlay, address: string, since: number, reason: 'verifier_silent' | 'verifier_outvoted', jobId: string, events: AbciEvent[]): bigint {
  const m = st.miner(address)
  if (m === undefined) return 0n
  const silent = reason === 'verifier_silent'
  const { miner, slash } = silent ? slashMiner(st, m, since, st.params.slashFractionPpm) : slashMiner(st, m, since, 0, (st.job(jobId) as Job).maxFee)
  st.setMiner({
    ...miner,
    activeJobs: silent ? Math.max(0, miner.activeJobs - (isBusyWith(st, address, jobId) ? 1 : 0)) : miner.activeJobs,
    reputation: Math.max(0, miner.reputation - (silent ? REPUTATION_EXPIRED : REPUTATION_REJECTED)),
  })
  if (slash.total > 0n) events.push(ev('slash', { miner: address, amount: slash.total, reason, job_id: jobId }))
  if (silent) events.push(ev('verifier_silent', { job_id: jobId, verifier: address, slashed: slash.total }))
  return slash.total
}

/** Whether a verifier still holds a slot for this job (it has not committed yet). */
function isBusyWith (st: StateReader, address: string, jobId: string): boolean {
  const r = st.job(jobId)?.verification?.runs.find(x => x.miner === address)
  return r !== undefined && r.commitment === null
}
