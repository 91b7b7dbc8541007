// `aitbc status`, `aitbc jobs`, `aitbc cancel` and `aitbc receipt`: follow, list and cancel
// inference jobs, and read their receipts.
import type { Command } from 'commander'
import { intArg, jobIdValue } from '../args.ts'
import { clientOptions, reportTx, type CliContext, type ClientOpts } from '../context.ts'
import { jobLines } from '../jobs.ts'
import { printJSON, printLines, table } from '../output.ts'
import { sendTx } from '../tx.ts'
import { formatAitbc } from '../../node/core/amount.ts'

interface ListOpts extends ClientOpts { client?: string, miner?: string, status?: string, page: number, limit: number }

export function registerJobCommands (program: Command, ctx: CliContext): void {
  clientOptions(program.command('status <job_id>').description('show a job'))
    .action(async (jobId: string, o: ClientOpts) => { await showJob(ctx, jobId, o) })
  clientOptions(program.command('jobs').description('list jobs'))
    .option('--client <account>', 'jobs of this client (key name or address)')
    .option('--miner <account>', 'jobs of this miner (key name or address)')
    .option('--status <status>', 'pending, assigned, completed, failed, cancelled or expired')
    .option('--page <n>', 'page', intArg(1, 1e9), 1)
    .option('--limit <n>', 'jobs per page', intArg(1, 100), 30)
    .action(async (o: ListOpts) => { await listJobs(ctx, o) })
  clientOptions(program.command('cancel <job_id>').description('cancel a pending job (full refund)'), { from: true, tx: true })
    .action(async (jobId: string, o: ClientOpts) => { await cancelJob(ctx, jobId, o) })
  clientOptions(program.command('receipt <id>').description('show a receipt (receipt id or job id)'))
    .action(async (id: string, o: ClientOpts) => { await showReceipt(ctx, id, o) })
}

async function showJob (ctx: CliContext, jobId: string, o: ClientOpts): Promise<void> {
  jobIdValue(jobId)
  const job = await ctx.client(o).job(jobId)
  if (o.json === true) printJSON(job); else printLines(jobLines(job))
}

async function listJobs (ctx: CliContext, o: ListOpts): Promise<void> {
  const kr = ctx.keyring()
  const params: Record<string, unknown> = { page: String(o.page), per_page: String(o.limit) }
  if (o.client !== undefined) params.client = kr.resolveAddress(o.client)
  if (o.miner !== undefined) params.miner = kr.resolveAddress(o.miner)
  if (o.status !== undefined) params.status = o.status
  const r = await ctx.client(o).call('aitbc_jobs', params)
  if (o.json === true) { printJSON(r); return }
  const rows = r.jobs.map((j: any) => ({ job: j.job_id, status: j.status, model: j.model, miner: j.miner ?? '', cost: j.cost === null ? '' : formatAitbc(BigInt(j.cost)), submitted: j.submitted_at }))
  printLines([table(rows, ['job', 'status', 'model', 'miner', 'cost', 'submitted']), `${r.total_count} job(s)`])
}

async function cancelJob (ctx: CliContext, jobId: string, o: ClientOpts): Promise<void> {
  jobIdValue(jobId)
  const res = await sendTx(ctx.client(o), ctx.signer(o), { type: 'cancel_job', jobId }, o)
  reportTx(o, res, { Job: jobId })
}

async function showReceipt (ctx: CliContext, id: string, o: ClientOpts): Promise<void> {
  const r = await ctx.client(o).call('aitbc_receipt', { id })
  if (o.json === true) { printJSON(r); return }
  printLines([
    `Receipt: ${r.receipt_id}`, `Job ID: ${r.job_id}`, `Status: ${r.status}`, `Miner: ${r.miner}`,
    `Paid: ${formatAitbc(BigInt(r.paid ?? '0'))} AITBC`, `Refund: ${formatAitbc(BigInt(r.refund ?? '0'))} AITBC`,
    r.metrics !== null ? `Compute: ${r.metrics.compute_ms} ms, ${r.metrics.prompt_tokens} prompt + ${r.metrics.completion_tokens} completion tokens` : null,
    r.error !== null ? `Error: ${r.error}` : null, `Tx: ${r.tx_hash} at height ${r.height}`,
  ])
}
