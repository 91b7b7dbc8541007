// `aitbc submit inference` and `aitbc submit chat`: put an inference job on the chain (its
// --max-fee held in escrow) and, with --wait, follow it until it ends (a checked job goes through
// `verifying` to completed or rejected). The price caps are never unlimited: the caps not given
// default from the prices the network lists now (cli/priceCaps.ts), and the command says so.
import { InvalidArgumentError, Option, type Command } from 'commander'
import { amountArg, intArg, floatArg } from '../args.ts'
import { clientOptions, type CliContext, type ClientOpts } from '../context.ts'
import { waitForJob, jobLines, FINAL_STATUSES } from '../jobs.ts'
import { readMinerStreamWhenReady, streamUrl } from '../../node/minerStream.ts'
import type { NodeClient } from '../../node/rpc/client.ts'
import type { JobJSON } from '../../node/rpc/types.ts'
import type { SigningKey } from '../../node/core/crypto.ts'
import { CliError, printJSON, printLines } from '../output.ts'
import { priceCaps, type CapsGiven } from '../priceCaps.ts'
import { sendTx } from '../tx.ts'
import { formatAitbc, parseAitbc } from '../../node/core/amount.ts'
import { CHAT_ROLES, MAX_MESSAGES, type ChatMessage, type ChatRole } from '../../node/core/txs/submitJob.ts'

interface JobOpts extends ClientOpts, CapsGiven {
  model: string
  modelDigest?: string
  unverified?: boolean
  maxFee: bigint
  temperature?: number
  numPredict?: number
  seed?: number
  timeout: number
}
interface InferenceOpts extends JobOpts { prompt: string, stream?: boolean }
interface ChatOpts extends JobOpts { message: ChatMessage[], system?: string, user?: string }

/** --message role:content (the content may itself hold colons). */
export function messageArg (v: string, previous: ChatMessage[] = []): ChatMessage[] {
  const i = v.indexOf(':')
  const role = (i < 0 ? '' : v.slice(0, i)).trim().toLowerCase()
  if (!(CHAT_ROLES as readonly string[]).includes(role)) throw new InvalidArgumentError('write ROLE:CONTENT with ROLE system, user or assistant, e.g. "user:What is AI?"')
  const content = v.slice(i + 1).trimStart()
  if (content.trim() === '') throw new InvalidArgumentError(`the ${role} message is empty`)
  return [...previous, { role: role as ChatRole, content }]
}

/** --model-digest: Ollama's digest of the model, 64 hex digits (a "sha256:" prefix is dropped). */
export function digestArg (v: string): string {
  const d = v.trim().toLowerCase().replace(/^sha256:/, '')
  if (!/^[0-9a-f]{64}$/.test(d)) throw new InvalidArgumentError('must be the model\'s digest: 64 hex digits, as "ollama list" or /api/tags shows it')
  return d
}

/** A chat job's messages: --system first, then each --message in order, then --user. At least one user message. */
export function chatMessages (o: { message?: ChatMessage[], system?: string, user?: string }): ChatMessage[] {
  const out: ChatMessage[] = []
  if (o.system !== undefined) out.push({ role: 'system', content: o.system })
  out.push(...(o.message ?? []))
  if (o.user !== undefined) out.push({ role: 'user', content: o.user })
  if (out.length === 0) throw new CliError('give the conversation: --message ROLE:CONTENT (repeatable), or --system TEXT and --user TEXT')
  if (!out.some(m => m.role === 'user')) throw new CliError('a chat job needs a user message (--user TEXT or --message user:TEXT)')
  if (out.some(m => m.content.trim() === '')) throw new CliError('a message is empty')
  if (out.length > MAX_MESSAGES) throw new CliError(`a chat job carries at most ${MAX_MESSAGES} messages, got ${out.length}`)
  return out
}

export function registerSubmitCommands (program: Command, ctx: CliContext): void {
  const submit = program.command('submit').description('submit work to the marketplace')
  jobOptions(clientOptions(submit.command('inference').description('submit an inference job: the chain escrows --max-fee until its result is settled'), { from: true, tx: true })
    .requiredOption('--prompt <text>', 'the prompt')
    .option('--stream', 'print the answer\'s tokens as the assigned miner generates them (implies --wait)'))
    .action(async (o: InferenceOpts) => {
      if (o.prompt.trim() === '') throw new CliError('--prompt is empty')
      if (o.stream === true && o.json === true) throw new CliError('--stream prints text as it comes; it does not go with --json')
      await submitJob(ctx, o, { prompt: o.prompt, messages: null }, o.stream === true)
    })
  jobOptions(clientOptions(submit.command('chat').description('submit a chat job (messages, as Ollama\'s /api/chat): the chain escrows --max-fee until its result is settled'), { from: true, tx: true })
    .option('--message <role:content>', 'a message of the conversation, ROLE system, user or assistant (repeat it, in order)', messageArg)
    .option('--system <text>', 'a system message, put first')
    .option('--user <text>', 'a user message, put last'))
    .action(async (o: ChatOpts) => { await submitJob(ctx, o, { prompt: '', messages: chatMessages(o) }) })
}

/** The options both kinds of job take. */
function jobOptions (cmd: Command): Command {
  return cmd
    .requiredOption('--model <name>', 'the model, e.g. llama3.2:latest')
    .option('--model-digest <sha256>', 'only miners that serve the model with this Ollama digest (as "ollama list" shows it)', digestArg)
    .option('--unverified', 'accept a miner whose result no other miner can check (fewer than two serve the model digest); otherwise such a job waits')
    .addOption(maxFeeOption())
    .option('--max-price-in <aitbc>', 'refuse miners that ask more per million input tokens (default: the highest price listed now for the model)', amountArg)
    .option('--max-price-out <aitbc>', 'refuse miners that ask more per million output tokens (default: the highest price listed now for the model)', amountArg)
    .option('--max-price-per-second <aitbc>', 'refuse miners that ask more per second (default: the highest price listed now for the model)', amountArg)
    .option('--temperature <x>', 'sampling temperature', floatArg)
    .option('--num-predict <n>', 'maximum tokens to generate', intArg(0, 1_000_000))
    .option('--seed <n>', 'random seed (default: one the chain derives from the job id, used by every run)', intArg(0, Number.MAX_SAFE_INTEGER))
    .option('--timeout <s>', 'with --wait: give up waiting after this many seconds', intArg(1, 86400), 600)
}

/** --max-fee, 1 AITBC unless given. Its default is a bigint, so help is told how to print it. */
function maxFeeOption (): Option {
  return new Option('--max-fee <aitbc>', 'most you will pay, held in escrow').argParser(amountArg).default(parseAitbc('1'), '1')
}

/** One line saying which caps were defaulted, from what. */
export function capsNote (model: string, r: ReturnType<typeof priceCaps>): string {
  const { caps } = r
  const from = r.servedBy === 0
    ? `no active miner serves ${model} now: token caps 0, per-second cap the chain's default price`
    : `the highest prices of the ${r.servedBy} active miner(s) of ${model}`
  const names = { in: '--max-price-in', out: '--max-price-out', per_second: '--max-price-per-second' }
  return `Price caps: ${formatAitbc(caps.maxPriceIn)} AITBC in / ${formatAitbc(caps.maxPriceOut)} AITBC out per million tokens, ${formatAitbc(caps.maxPricePerSecond)} AITBC per second ` +
    `(${r.defaulted.map(d => names[d]).join(', ')} defaulted from ${from}; give them to choose)`
}

/** Submits the job; with --wait follows it and exits 2 unless it completed. */
async function submitJob (ctx: CliContext, o: JobOpts, input: { prompt: string, messages: ChatMessage[] | null }, stream = false): Promise<void> {
  const c = ctx.client(o)
  const digest = o.modelDigest ?? null
  let caps = { maxPriceIn: o.maxPriceIn, maxPriceOut: o.maxPriceOut, maxPricePerSecond: o.maxPricePerSecond } as ReturnType<typeof priceCaps>['caps']
  let note: string | null = null
  if (o.maxPriceIn === undefined || o.maxPriceOut === undefined || o.maxPricePerSecond === undefined) {
    const [miners, params] = await Promise.all([c.call('aitbc_miners', { model: o.model }), c.params()])
    const r = priceCaps(o, miners.miners, o.model, digest, BigInt(params.default_price_per_second))
    caps = r.caps
    note = capsNote(o.model, r)
    // A notice, not the result: on stderr, so that stdout stays the job's summary.
    if (o.json !== true) process.stderr.write(note + '\n')
  }
  const started = Date.now()
  const signer = ctx.signer(o)
  const res = await sendTx(c, signer, {
    type: 'submit_job', model: o.model, prompt: input.prompt, options: { temperature: o.temperature ?? null, numPredict: o.numPredict ?? null, seed: o.seed ?? null },
    maxFee: o.maxFee, maxPricePerSecond: caps.maxPricePerSecond, messages: input.messages, modelDigest: digest,
    maxPriceIn: caps.maxPriceIn, maxPriceOut: caps.maxPriceOut, unverified: o.unverified === true ? true : null,
  }, { fee: o.fee })
  const jobId = 'job_' + res.hash.slice(0, 16).toLowerCase()
  const capsJSON = { max_price_in: caps.maxPriceIn.toString(), max_price_out: caps.maxPriceOut.toString(), max_price_per_second: caps.maxPricePerSecond.toString(), note }
  if (stream) {
    await streamTokens(c, signer, jobId, Date.now() + o.timeout * 1000)
    const job = await waitForJob(c, jobId, { timeoutMs: o.timeout * 1000, progress: false })
    printLines(jobLines({ ...job, result: null }, Date.now() - started))
    if (job.status !== 'completed') process.exitCode = 2
    return
  }
  if (o.wait !== true) {
    if (o.json === true) printJSON({ job_id: jobId, tx_hash: res.hash, status: 'submitted', price_caps: capsJSON })
    else printLines([`Job ID: ${jobId}`, `Tx: ${res.hash}`, 'Status: submitted (follow it with "aitbc status ' + jobId + '")'])
    return
  }
  const job = await waitForJob(c, jobId, { timeoutMs: o.timeout * 1000, progress: process.stdout.isTTY === true && o.json !== true })
  if (o.json === true) printJSON(job); else printLines(jobLines(job, Date.now() - started))
  if (job.status !== 'completed') process.exitCode = 2
}

/**
 * --stream: once the job is assigned, reads the miner's live tokens (signed by the client's key)
 * and prints them as they come; when the miner cannot be reached, or what it streamed is not the
 * result on chain, prints the chain's result instead (saying so on stderr).
 */
async function streamTokens (c: NodeClient, key: SigningKey, jobId: string, deadline: number): Promise<void> {
  const chainId = String((await c.status()).node_info.network)
  let job = await until(c, jobId, deadline, j => j.miner !== null || FINAL_STATUSES.has(j.status))
  let streamed = ''
  const endpoint = job.miner === null ? null : (await c.miner(job.miner).catch(() => null))?.endpoint ?? null
  const url = streamUrl(endpoint, jobId)
  if (url !== null) {
    const end = await readMinerStreamWhenReady(url, key, chainId, jobId, deadline, t => { streamed += t; process.stdout.write(t) },
      async () => { const j = await c.job(jobId).catch(() => null); return j !== null && !FINAL_STATUSES.has(j.status) })
    if (end.kind !== 'end') process.stderr.write(`\n(the miner's stream did not finish: ${end.why})\n`)
  } else {
    process.stderr.write('(the assigned miner lists no stream endpoint: waiting for the result on chain)\n')
  }
  job = await until(c, jobId, deadline, j => FINAL_STATUSES.has(j.status))
  const result = job.result ?? ''
  if (job.status === 'completed' && streamed !== result) {
    if (result.startsWith(streamed)) process.stdout.write(result.slice(streamed.length))
    else { if (streamed !== '') process.stderr.write('\n(what the miner streamed is not the result on chain; the result:)\n'); process.stdout.write(result) }
  }
  if (streamed !== '' || result !== '') process.stdout.write('\n')
}

async function until (c: NodeClient, jobId: string, deadline: number, pred: (j: JobJSON) => boolean): Promise<JobJSON> {
  for (;;) {
    const j = await c.job(jobId).catch((e: Error) => { if (/not found/.test(e.message)) return null; throw e })
    if (j !== null && pred(j)) return j
    if (Date.now() > deadline) throw new CliError(`job ${jobId} is still ${j?.status ?? 'submitted'}; follow it with "aitbc status ${jobId}"`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}
