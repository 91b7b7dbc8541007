// `aitbc submit inference`: put an inference job on the chain (its --max-fee held in escrow) and,
// with --wait, follow it until a miner settles it.
import { Option, type Command } from 'commander'
import { amountArg, intArg, floatArg } from '../args.ts'
import { clientOptions, type CliContext, type ClientOpts } from '../context.ts'
import { waitForJob, jobLines } from '../jobs.ts'
import { printJSON, printLines } from '../output.ts'
import { sendTx } from '../tx.ts'
import { parseAitbc } from '../../node/core/amount.ts'

interface InferenceOpts extends ClientOpts {
  prompt: string
  model: string
  maxFee: bigint
  maxPricePerSecond?: bigint
  temperature?: number
  numPredict?: number
  seed?: number
  timeout: number
}

export function registerSubmitCommands (program: Command, ctx: CliContext): void {
  const submit = program.command('submit').description('submit work to the marketplace')
  clientOptions(submit.command('inference').description('submit an inference job: the chain escrows --max-fee until a miner settles it'), { from: true, tx: true })
    .requiredOption('--prompt <text>', 'the prompt')
    .requiredOption('--model <name>', 'the model, e.g. llama3.2:latest')
    .addOption(maxFeeOption())
    .option('--max-price-per-second <aitbc>', 'refuse miners more expensive than this', amountArg)
    .option('--temperature <x>', 'sampling temperature', floatArg)
    .option('--num-predict <n>', 'maximum tokens to generate', intArg(0, 1_000_000))
    .option('--seed <n>', 'random seed', intArg(0, Number.MAX_SAFE_INTEGER))
    .option('--timeout <s>', 'with --wait: give up waiting after this many seconds', intArg(1, 86400), 600)
    .action(async (o: InferenceOpts) => { await submitInference(ctx, o) })
}

/** --max-fee, 1 AITBC unless given. Its default is a bigint, so help is told how to print it. */
function maxFeeOption (): Option {
  return new Option('--max-fee <aitbc>', 'most you will pay, held in escrow').argParser(amountArg).default(parseAitbc('1'), '1')
}

/** Submits the job; with --wait follows it and exits 2 unless it completed. */
async function submitInference (ctx: CliContext, o: InferenceOpts): Promise<void> {
  const c = ctx.client(o)
  const started = Date.now()
  const res = await sendTx(c, ctx.signer(o), {
    type: 'submit_job', model: o.model, prompt: o.prompt, options: { temperature: o.temperature ?? null, numPredict: o.numPredict ?? null, seed: o.seed ?? null },
    maxFee: o.maxFee, maxPricePerSecond: o.maxPricePerSecond ?? null,
  }, { fee: o.fee })
  const jobId = 'job_' + res.hash.slice(0, 16).toLowerCase()
  if (o.wait !== true) {
    if (o.json === true) printJSON({ job_id: jobId, tx_hash: res.hash, status: 'submitted' })
    else printLines([`Job ID: ${jobId}`, `Tx: ${res.hash}`, 'Status: submitted (follow it with "aitbc status ' + jobId + '")'])
    return
  }
  const job = await waitForJob(c, jobId, { timeoutMs: o.timeout * 1000, progress: process.stdout.isTTY === true && o.json !== true })
  if (o.json === true) printJSON(job); else printLines(jobLines(job, Date.now() - started))
  if (job.status !== 'completed') process.exitCode = 2
}
