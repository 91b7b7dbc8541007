// CommitRevealReporter: the result of a checked job goes to the chain in two steps, for the job's
// miner and for each verifier drawn to re-run it alike (docs/miner-verification.md):
//
//   1. commit_result: sha256("AITBC/result/v1" || job id || this miner || salt || sha256(text)),
//      with a fresh 32-byte salt, the metrics and Ollama's details. The salt and the text are
//      saved (ResultStore) before the commitment leaves the process.
//   2. Wait until the job's verification takes reveals (phase 'reveal': for the miner after the
//      sample, for a verifier once every verifier has committed), then reveal_result (salt, text)
//      before the phase's deadline (its block's time + job_timeout_s).
//   3. Wait for the verdict (phase 'done'), then forget the salt.
//
// A miner restarted between 1 and 3 resumes from what it saved (resume()). A result nobody
// reveals costs its miner its stake: a silent miner fails its job, a silent verifier is slashed.
import { sealResult } from '../node/sealedResult.ts'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { fromHex, resultCommitment, toHex, type JobJSON, type NodeClient, type VerificationJSON } from '../node/client.ts'
import { BlockTimes } from './blockTimes.ts'
import { systemClock, type Clock } from './clock.ts'
import type { InferenceJob, InferenceOutcome, JobRole } from './inferenceJob.ts'
import type { JobOutcome } from './metrics.ts'
import { receiptDetails, truncateUtf8 } from './receiptReporter.ts'
import type { ResultStore, StoredResult } from './resultStore.ts'
import { sendAndFollow, waitForJob, type Seen } from './txFollow.ts'
import type { TxQueue } from './txQueue.ts'

export interface CommitRevealOptions {
  address: string
  maxResultBytes: number
  blockTimeMs: number
  jobTimeoutS: number
  /** The digest this miner lists for a model (for the commitment's details). */
  digestOf?: (model: string) => string | null
}

export interface CommitRevealModules {
  node: Pick<NodeClient, 'account' | 'job' | 'call'>
  txs: Pick<TxQueue, 'send'>
  store: Pick<ResultStore, 'save' | 'remove'>
  logger: Logger
  clock?: Clock
  /** 32 random bytes per commitment (injected in tests). */
  salt?: () => Uint8Array
  blockTimes?: BlockTimes
}

export interface CommitHooks {
  /** Called once the chain shows the commitment. */
  onCommitted?: () => void
}

/** How a checked job ended for this miner: the outcome to count, the chain's verdict when seen. */
export interface CheckedResult { outcome: JobOutcome, verdict: VerificationJSON['outcome'], job?: JobJSON }

const FINAL = new Set(['completed', 'failed', 'rejected', 'expired', 'cancelled'])

/** This miner's part of a verification: the commitment it made, and whether the chain shows it committed and revealed. */
export function myPart (job: JobJSON, role: JobRole, me: string): { committed: boolean, revealed: boolean, silent: boolean } {
  const v = job.verification
  if (v === null) return { committed: false, revealed: false, silent: false }
  if (role === 'miner') return { committed: job.miner === me, revealed: v.miner_revealed, silent: false }
  const run = v.verifiers.find(r => r.miner === me)
  return { committed: run?.committed === true, revealed: run?.revealed === true, silent: run?.outcome === 'silent' }
}

/** Whether the job takes this miner's reveal now. */
export function revealOpen (job: JobJSON, role: JobRole, me: string): boolean {
  const v = job.verification
  if (v === null || v.phase !== 'reveal') return false
  const p = myPart(job, role, me)
  return p.committed && !p.revealed && !p.silent
}

/** Whether the job's verification is over (a verdict, or the job settled another way). */
export function verificationOver (job: JobJSON): boolean {
  return job.verification?.phase === 'done' || FINAL.has(job.status)
}

function sealFor (job: InferenceJob, salt: Uint8Array, text: string): Uint8Array {
  if (job.clientKey == null) throw new Error(`job ${job.id} names no client key to seal its result to`)
  return sealResult(fromHex(job.clientKey), job.id, salt, text)
}

export class CommitRevealReporter {
  private readonly log: Logger
  private readonly clock: Clock
  private forced = false
  private readonly blockTimes: BlockTimes

  constructor (private readonly opts: CommitRevealOptions, private readonly modules: CommitRevealModules) {
    this.log = modules.logger
    this.clock = modules.clock ?? systemClock
    this.blockTimes = modules.blockTimes ?? new BlockTimes({ node: modules.node, logger: modules.logger, clock: this.clock })
  }

  /** A hard stop: every flow ends at its next step; the saved salts stay for the next start. */
  force (): void { this.forced = true }

  private get pollMs (): number { return Math.max(100, Math.floor(this.opts.blockTimeMs / 2)) }
  private get timeoutMs (): number { return this.opts.jobTimeoutS * 1000 }

  /** Commits to a completed run's result, reveals it when the chain takes reveals, and waits for the verdict. */
  async report (job: InferenceJob, o: InferenceOutcome & { kind: 'completed' }, hooks: CommitHooks = {}): Promise<CheckedResult> {
    const me = this.opts.address
    if (Buffer.byteLength(o.result, 'utf8') > this.opts.maxResultBytes) {
      this.log.warn({ job: job.id, bytes: Buffer.byteLength(o.result, 'utf8'), max_result_bytes: this.opts.maxResultBytes }, 'result longer than max_result_bytes: truncated')
    }
    const text = truncateUtf8(o.result, this.opts.maxResultBytes)
    const salt = (this.modules.salt ?? (() => new Uint8Array(randomBytes(32))))()
    const commitment = resultCommitment(job.id, me, salt, text)
    const entry: StoredResult = { jobId: job.id, role: job.role, committer: me, salt: toHex(salt), text, commitment, storedAt: new Date(this.clock.now()).toISOString() }
    // On disk before the commitment leaves the process: losing the salt would be a slash.
    this.modules.store.save(entry)
    const details = receiptDetails(o, this.opts.digestOf?.(job.model) ?? null)
    const committed = await sendAndFollow({
      jobId: job.id,
      body: {
        type: 'commit_result', jobId: job.id, commitment: fromHex(commitment), metrics: { computeMs: o.computeMs, promptTokens: o.promptTokens, completionTokens: o.completionTokens },
        // The miner's result sealed to the client: it reads its text at once, the verifiers cannot (node/sealedResult.ts).
        sealed: job.role === 'miner' ? sealFor(job, salt, text) : null,
        ...(details === null ? {} : { details }),
      },
      sendBy: job.deadlineMs,
      giveUpAt: job.deadlineMs + 2 * this.opts.blockTimeMs + 5000,
      pollMs: this.pollMs,
      stopped: () => this.forced,
    }, this.followModules(), j => this.commitSeen(j, job.role, commitment))
    if (!committed.ok) {
      if (committed.stopped === true) return { outcome: 'abandoned', verdict: null }
      this.log.error({ job: job.id, role: job.role, reason: committed.reason }, 'the commitment was not recorded')
      this.modules.store.remove(job.id)
      return { outcome: 'lost', verdict: null }
    }
    this.log.info({ job: job.id, role: job.role }, 'result committed')
    hooks.onCommitted?.()
    return await this.afterCommit(entry, committed.job)
  }

  /** Continues a saved commitment after a restart: reveal it if the chain still takes it, then wait for the verdict. */
  async resume (entry: StoredResult): Promise<CheckedResult> {
    let job: JobJSON | undefined
    try {
      job = await this.modules.node.job(entry.jobId)
    } catch (e) {
      this.log.warn({ job: entry.jobId, err: (e as Error).message }, 'cannot read a job with a saved commitment; keeping it for the next start')
      return { outcome: 'abandoned', verdict: null }
    }
    const p = myPart(job, entry.role, this.opts.address)
    if (!p.committed || verificationOver(job)) {
      // The commitment never reached the chain, or the job is over: nothing left to reveal.
      this.log.info({ job: entry.jobId, role: entry.role, status: job.status, committed: p.committed }, 'saved commitment has nothing left to reveal: forgetting it')
      this.modules.store.remove(entry.jobId)
      return { outcome: p.committed ? outcomeOf(job, entry.role) : 'lost', verdict: job.verification?.outcome ?? null, job }
    }
    this.log.info({ job: entry.jobId, role: entry.role, phase: job.verification?.phase }, 'resuming a saved commitment')
    return await this.afterCommit(entry, job)
  }

  private async afterCommit (entry: StoredResult, seenJob: JobJSON): Promise<CheckedResult> {
    const me = this.opts.address
    const { role } = entry
    // The reveal phase opens at most one job_timeout_s after the sample, which follows the commit by a block.
    const open = await waitForJob(entry.jobId, j => revealOpen(j, role, me) || verificationOver(j) || myPart(j, role, me).silent,
      { until: this.clock.now() + 2 * this.timeoutMs + 10 * this.opts.blockTimeMs + 5000, pollMs: this.pollMs, stopped: () => this.forced }, this.followModules())
    if (this.forced) return { outcome: 'abandoned', verdict: null }
    const job = open ?? seenJob
    if (open === undefined || !revealOpen(job, role, me)) {
      if (open !== undefined && verificationOver(job)) {
        // Settled without a reveal from this miner (no verifier could be drawn, or a deadline decided).
        this.modules.store.remove(entry.jobId)
        return { outcome: outcomeOf(job, role), verdict: job.verification?.outcome ?? null, job }
      }
      this.log.error({ job: entry.jobId, role, phase: job.verification?.phase }, 'the reveal phase did not open in time')
      if (open !== undefined) this.modules.store.remove(entry.jobId)
      return { outcome: open === undefined ? 'abandoned' : 'lost', verdict: null, job }
    }
    const phaseEnd = (await this.blockTimes.at(job.verification?.phase_height ?? '0')) + this.timeoutMs
    const revealed = await sendAndFollow({
      jobId: entry.jobId,
      body: { type: 'reveal_result', jobId: entry.jobId, salt: fromHex(entry.salt), result: entry.text },
      sendBy: phaseEnd,
      giveUpAt: phaseEnd + 2 * this.opts.blockTimeMs + 5000,
      pollMs: this.pollMs,
      readFirst: true,
      stopped: () => this.forced,
    }, this.followModules(), j => this.revealSeen(j, role))
    if (!revealed.ok) {
      if (revealed.stopped === true) return { outcome: 'abandoned', verdict: null }
      this.log.error({ job: entry.jobId, role, reason: revealed.reason }, 'the reveal was not recorded')
      this.modules.store.remove(entry.jobId)
      return { outcome: 'lost', verdict: null }
    }
    // Revealed: the salt is no longer needed.
    this.modules.store.remove(entry.jobId)
    this.log.info({ job: entry.jobId, role }, 'result revealed')
    const done = verificationOver(revealed.job)
      ? revealed.job
      : await waitForJob(entry.jobId, verificationOver, { until: phaseEnd + 10 * this.opts.blockTimeMs + 5000, pollMs: this.pollMs, stopped: () => this.forced }, this.followModules())
    if (done === undefined) return { outcome: role === 'miner' ? 'completed' : 'verified', verdict: null }
    const v = done.verification
    this.log.info({ job: entry.jobId, role, status: done.status, verdict: v?.outcome ?? null, similarity: v?.similarity ?? null, paid: done.paid }, 'verification over')
    return { outcome: outcomeOf(done, role), verdict: v?.outcome ?? null, job: done }
  }

  /** Whether the chain shows this commitment (a different one from this miner: lost). */
  private commitSeen (j: JobJSON, role: JobRole, commitment: string): Seen {
    const me = this.opts.address
    if (role === 'miner') {
      if (j.verification !== null) return j.miner === me && j.verification.commitment === commitment ? 'done' : { lost: 'the job carries another commitment' }
      if (j.status !== 'assigned' || j.miner !== me) return { lost: `the job is ${j.status}` }
      return 'pending'
    }
    const v = j.verification
    const run = v?.verifiers.find(r => r.miner === me)
    if (run === undefined) return { lost: 'this miner is not a verifier of the job' }
    if (run.committed) return 'done'
    if (v?.phase !== 'commit' || FINAL.has(j.status)) return { lost: `the commit phase is over (${v?.phase ?? 'none'})` }
    return 'pending'
  }

  private revealSeen (j: JobJSON, role: JobRole): Seen {
    const p = myPart(j, role, this.opts.address)
    if (p.revealed) return 'done'
    if (p.silent) return { lost: 'the chain counted this verifier silent' }
    if (verificationOver(j)) return { lost: 'the verification ended before the reveal' }
    return 'pending'
  }

  private followModules () {
    return { address: this.opts.address, node: this.modules.node, txs: this.modules.txs, logger: this.log, clock: this.clock }
  }
}

/** The outcome to count once the job's verification is over: a miner's job completed or rejected; a verifier's run done. */
function outcomeOf (job: JobJSON, role: JobRole): JobOutcome {
  if (role === 'verifier') return 'verified'
  return job.status === 'completed' ? 'completed' : job.status === 'rejected' ? 'rejected' : 'lost'
}
