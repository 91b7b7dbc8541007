// Following a job until it is final, and its human summary.
import type { NodeClient } from '../node/rpc/client.ts'
import { formatAitbc } from '../node/core/amount.ts'
import { CliError } from './output.ts'

const FINAL = new Set(['completed', 'failed', 'cancelled', 'expired'])

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
      process.stderr.write(`${last === '' ? '' : ' → '}${status}${FINAL.has(status) ? '\n' : ''}`)
      last = status
    }
    if (job !== null && FINAL.has(job.status)) return job
    if (Date.now() > deadline) throw new CliError(`job ${jobId} is still ${status} after ${Math.round(opts.timeoutMs / 1000)} s; follow it with "aitbc status ${jobId}"`)
    await new Promise(resolve => setTimeout(resolve, opts.pollMs ?? 250))
  }
}

export function jobLines (job: any, _wallMs?: number): string[] {
  const lines = [`Job ID: ${job.job_id}`, `Status: ${job.status}`]
  if (job.result !== null && job.result !== undefined && job.result !== '') lines.push(`Result: ${job.result}`)
  if (job.error !== null && job.error !== undefined) lines.push(`Error: ${job.error}`)
  if (job.receipt_id !== null) lines.push(`Receipt: ${job.receipt_id}`)
  if (job.completed_at !== null) {
    const secs = (Date.parse(job.completed_at) - Date.parse(job.submitted_at)) / 1000
    lines.push(`${job.status === 'completed' ? 'Completed' : job.status === 'failed' ? 'Failed' : job.status === 'cancelled' ? 'Cancelled' : 'Expired'} in: ${secs.toFixed(1)} seconds`)
    lines.push(`Cost: ${formatAitbc(BigInt(job.cost ?? '0'))} AITBC`)
  } else {
    lines.push(`Submitted: ${job.submitted_at} (height ${job.submitted_height})`)
  }
  return lines
}
