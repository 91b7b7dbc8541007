// Following a job until it is final, and its human summary.
import type { NodeClient } from '../node/rpc/client.ts'
import type { JobJSON } from '../node/rpc/types.ts'
import { formatAitbc } from '../node/core/amount.ts'
import { CliError } from './output.ts'

/** The statuses a job ends in: `verifying` is not one of them (its result is being checked). */
export const FINAL_STATUSES = new Set(['completed', 'failed', 'rejected', 'cancelled', 'expired'])

export async function waitForJob (c: NodeClient, jobId: string, opts: { timeoutMs: number, progress: boolean, pollMs?: number }): Promise<any> {
  const deadline = Date.now() + opts.timeoutMs
  let last = ''
  for (;;) {
    let job: any = null
    try {
      job = await c.job(jobId)
    } catch (e) {
      if (!/not found/.test((e as Error).message)) throw e
    }
    const status = job?.status ?? 'submitted'
    if (opts.progress && status !== last) {
      process.stderr.write(`${last === '' ? '' : ' → '}${status}${FINAL_STATUSES.has(status) ? '\n' : ''}`)
      last = status
    }
    if (job !== null && FINAL_STATUSES.has(job.status)) return job
    if (Date.now() > deadline) throw new CliError(`job ${jobId} is still ${status} after ${Math.round(opts.timeoutMs / 1000)} s; follow it with "aitbc status ${jobId}"`)
    await new Promise(resolve => setTimeout(resolve, opts.pollMs ?? 250))
  }
}

const ENDED: Record<string, string> = { completed: 'Completed', failed: 'Failed', rejected: 'Rejected', cancelled: 'Cancelled', expired: 'Expired' }

function percent (ppm: number | null): string { return ppm === null ? '' : `${(ppm / 10_000).toFixed(1)}%` }

/** The `Verified:` line: whether the job's result is checked by other miners, and how that went. Null before a miner is assigned. */
export function verifiedLine (job: Pick<JobJSON, 'checked' | 'verification' | 'slashed' | 'settled_height' | 'status'>): string | null {
  if (job.checked === null) return null
  if (job.checked === false) return 'Verified: no (unchecked: verification is off, the client accepted unverified work, or no second miner serves the model digest)'
  const v = job.verification
  if (v === null) return job.status === 'assigned' ? 'Verified: pending (the miner has not committed to a result yet)' : `Verified: no (the job ended ${job.status} before its miner committed)`
  const who = v.verifiers.map(r => `${r.miner}${r.outcome === null ? '' : ` (${r.outcome})`}`).join(', ')
  const by = who === '' ? '' : `; verifiers ${who}`
  if (v.phase === 'sample') return `Verified: pending (committed at height ${v.committed_height}; the next block draws whether it is checked)`
  if (v.phase === 'commit') return `Verified: in progress (sampled at height ${v.phase_height}: verifiers re-running it${by})`
  if (v.phase === 'reveal') return v.sampled === true ? `Verified: in progress (revealing since height ${v.phase_height}${by})` : `Verified: not sampled (the miner reveals since height ${v.phase_height}; paid unchecked)`
  const at = job.settled_height === null ? '' : `, settled at height ${job.settled_height}`
  const sim = v.similarity === null ? '' : `similarity ${percent(v.similarity)}`
  switch (v.outcome) {
    case 'pass': return `Verified: yes (passed: ${sim}${by}${at})`
    case 'fail': return `Verified: no (rejected: ${sim === '' ? 'the miner did not reveal' : sim}${by}; the miner was slashed ${formatAitbc(BigInt(job.slashed ?? '0'))} AITBC and the client refunded${at})`
    case 'no-majority': return `Verified: no majority (${sim === '' ? 'no verifier could answer' : `best ${sim}`}${by}; nobody slashed, the client refunded${at})`
    case 'unchecked': return `Verified: not sampled (paid unchecked${at})`
    default: return `Verified: ${v.phase}`
  }
}

export function jobLines (job: any, _wallMs?: number): string[] {
  const lines = [`Job ID: ${job.job_id}`, `Status: ${job.status}`]
  if (job.result !== null && job.result !== undefined && job.result !== '') lines.push(`Result: ${job.result}`)
  if (job.error !== null && job.error !== undefined) lines.push(`Error: ${job.error}`)
  if (job.receipt_id !== null) lines.push(`Receipt: ${job.receipt_id}`)
  const verified = job.checked === undefined ? null : verifiedLine(job)
  if (verified !== null) lines.push(verified)
  if (job.completed_at !== null) {
    const secs = (Date.parse(job.completed_at) - Date.parse(job.submitted_at)) / 1000
    lines.push(`${ENDED[job.status] ?? 'Settled'} in: ${secs.toFixed(1)} seconds`)
    lines.push(`Cost: ${formatAitbc(BigInt(job.cost ?? '0'))} AITBC`)
  } else {
    lines.push(`Submitted: ${job.submitted_at} (height ${job.submitted_height})`)
  }
  return lines
}
