// ReceiptReporter: the one place that turns a job's outcome into a transaction. A completed job
// of an unchecked job gets a record_receipt with its result (cut to max_result_bytes), the result's
// sha256, the metrics and Ollama's details (the model digest run, done_reason, durations); a
// failed one (of any job of this miner's, before it committed to a result) gets a record_receipt with the error, an empty result and no tokens (the
// client is refunded in full). Every receipt goes through the miner's TxQueue (consecutive
// nonces) and is followed until the chain shows the job settled; a receipt the mempool dropped is
// sent again, and one that cannot be recorded in time is counted lost.
import type { Logger } from 'pino'
import { sha256, TxCode, utf8Bytes, type NodeClient, type ReceiptDetails, type TxBody } from '../node/client.ts'
import { systemClock, type Clock } from './clock.ts'
import type { InferenceJob, InferenceOutcome } from './inferenceJob.ts'
import type { JobOutcome } from './metrics.ts'
import { TxRefusedError, type SentTx, type TxQueue } from './txQueue.ts'

/** Longest error text a failed receipt carries, in UTF-8 bytes. */
export const MAX_ERROR_BYTES = 4096

export type ReceiptTx = TxBody & { type: 'record_receipt' }

/** Cuts a string to at most maxBytes of UTF-8 without splitting a character. */
export function truncateUtf8 (s: string, maxBytes: number): string {
  const bytes = utf8Bytes(s)
  if (bytes.length <= maxBytes) return s
  let cut = maxBytes
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--
  return new TextDecoder().decode(bytes.subarray(0, cut))
}

/** Longest done_reason a receipt carries, in UTF-8 bytes (the chain's limit). */
const MAX_DONE_REASON_BYTES = 64

/** The details of a completed run: the digest of the model as listed, and what Ollama reported (null when it did not). */
export function receiptDetails (o: InferenceOutcome & { kind: 'completed' }, modelDigest: string | null): ReceiptDetails | null {
  const d = o.details
  if (d === undefined && modelDigest === null) return null
  return {
    modelDigest,
    doneReason: d?.doneReason == null ? null : truncateUtf8(d.doneReason, MAX_DONE_REASON_BYTES),
    promptEvalMs: d?.promptEvalMs ?? null,
    evalMs: d?.evalMs ?? null,
    firstTokenMs: d?.firstTokenMs ?? null,
    loadMs: d?.loadMs ?? null,
  }
}

/** The record_receipt of a job's outcome; a result longer than maxResultBytes is cut to fit. */
export function receiptTx (jobId: string, o: InferenceOutcome, maxResultBytes: number, modelDigest: string | null = null): ReceiptTx {
  if (o.kind === 'completed') {
    const result = truncateUtf8(o.result, maxResultBytes)
    const details = receiptDetails(o, modelDigest)
    return {
      type: 'record_receipt', jobId, status: 'completed', result, resultHash: sha256(utf8Bytes(result)), metrics: { computeMs: o.computeMs, promptTokens: o.promptTokens, completionTokens: o.completionTokens }, error: null,
      ...(details === null ? {} : { details }),
    }
  }
  return { type: 'record_receipt', jobId, status: 'failed', result: '', resultHash: sha256(utf8Bytes('')), metrics: { computeMs: o.computeMs, promptTokens: 0, completionTokens: 0 }, error: truncateUtf8(o.error, MAX_ERROR_BYTES) }
}

export interface ReceiptReporterOptions {
  address: string
  maxResultBytes: number
  blockTimeMs: number
  /** The digest this miner lists for a model (for the receipt's details); absent: none. */
  digestOf?: (model: string) => string | null
}

export interface ReceiptReporterModules {
  node: Pick<NodeClient, 'account' | 'job'>
  txs: Pick<TxQueue, 'send'>
  logger: Logger
  clock?: Clock
}

/** How reporting ended: the job's outcome to count, and whether the chain was seen to settle it with this receipt. */
export interface ReportResult { outcome: Extract<JobOutcome, 'completed' | 'failed' | 'lost'>, confirmed: boolean }

/** One receipt being reported. */
interface Attempt {
  job: ReportedJob
  body: ReceiptTx
  giveUpAt: number
  /** Hashes of every copy sent: any of them may be the one that settles the job. */
  sentHashes: string[]
  /** The copy last accepted by the node, until it is seen dropped. */
  sent: SentTx | undefined
  backoff: number
}

type ReportedJob = Pick<InferenceJob, 'id' | 'deadlineMs'> & { model?: string }

/** After a hard stop, give up on receipts not yet accepted after this long. */
const FORCED_GIVE_UP_MS = 5000

export class ReceiptReporter {
  private readonly log: Logger
  private readonly clock: Clock
  private forcedAt: number | undefined

  constructor (private readonly opts: ReceiptReporterOptions, private readonly modules: ReceiptReporterModules) {
    this.log = modules.logger
    this.clock = modules.clock ?? systemClock
  }

  /** Stopping hard: a receipt accepted by the node is enough, and the others get a few seconds more. */
  force (): void { this.forcedAt ??= this.clock.now() }

  /** Sends the job's receipt and follows it until the chain shows the job settled. */
  async report (job: ReportedJob, o: InferenceOutcome): Promise<ReportResult> {
    if (o.kind === 'completed' && utf8Bytes(o.result).length > this.opts.maxResultBytes) {
      this.log.warn({ job: job.id, bytes: utf8Bytes(o.result).length, max_result_bytes: this.opts.maxResultBytes }, 'result longer than max_result_bytes: truncated')
    }
    const body = receiptTx(job.id, o, this.opts.maxResultBytes, job.model === undefined ? null : this.opts.digestOf?.(job.model) ?? null)
    const pollMs = Math.max(100, Math.floor(this.opts.blockTimeMs / 2))
    const a: Attempt = { job, body, giveUpAt: job.deadlineMs + 2 * this.opts.blockTimeMs + 5000, sentHashes: [], sent: undefined, backoff: 250 }
    for (;;) {
      const ended = this.ended(a, o)
      if (ended !== undefined) return ended
      if (a.sent === undefined) {
        const step = await this.send(a)
        if (step === 'retry') continue
        if (step !== 'sent') return step
      }
      const seen = await this.readBack(a)
      if (seen === 'resend') { a.sent = undefined; continue }
      if (seen !== 'pending') return seen
      await this.clock.sleep(pollMs)
    }
  }

  /** The end of reporting decided before any I/O: a hard stop, or no time left. */
  private ended (a: Attempt, o: InferenceOutcome): ReportResult | undefined {
    const now = this.clock.now()
    const forced = this.forcedAt !== undefined
    if (forced && a.sent !== undefined) return { outcome: o.kind, confirmed: false }
    if (now > a.giveUpAt || (forced && now > (this.forcedAt as number) + FORCED_GIVE_UP_MS)) {
      this.log.error({ job: a.job.id }, 'could not record the receipt before giving up')
      return { outcome: 'lost', confirmed: false }
    }
    if (a.sent === undefined && now >= a.job.deadlineMs) {
      this.log.error({ job: a.job.id }, 'the deadline passed before the receipt could be sent')
      return { outcome: 'lost', confirmed: false }
    }
    return undefined
  }

  /** One send: 'sent' (or refused as settled after an earlier copy: read back), 'retry' after a backoff, or lost. */
  private async send (a: Attempt): Promise<'sent' | 'retry' | ReportResult> {
    try {
      a.sent = await this.modules.txs.send(a.body)
      a.sentHashes.push(a.sent.hash)
      this.log.info({ job: a.job.id, status: a.body.status, tx: a.sent.hash, nonce: a.sent.nonce }, 'receipt sent')
      a.backoff = 250
      return 'sent'
    } catch (e) {
      if (!(e instanceof TxRefusedError)) {
        this.log.warn({ job: a.job.id, err: (e as Error).message, retry_ms: a.backoff }, 'cannot send the receipt; retrying')
        await this.clock.sleep(a.backoff)
        a.backoff = Math.min(5000, a.backoff * 2)
        return 'retry'
      }
      // An earlier copy of this receipt made it after all: the read back tells.
      if (e.code === TxCode.JOB_ALREADY_SETTLED && a.sentHashes.length > 0) return 'sent'
      this.log.error({ job: a.job.id, code: e.code, reason: e.log }, 'the node refused the receipt')
      return { outcome: 'lost', confirmed: false }
    }
  }

  /** Reads the job back: settled (by one of our receipts or not), still pending, or dropped from the mempool. */
  private async readBack (a: Attempt): Promise<'pending' | 'resend' | ReportResult> {
    const { node } = this.modules
    try {
      const sent = a.sent
      const acct = sent !== undefined ? await node.account(this.opts.address) : undefined
      const job = await node.job(a.job.id)
      if (job.status !== 'assigned') {
        // The job's settle_tx tells which receipt settled it.
        if (job.settle_tx !== null && a.sentHashes.includes(job.settle_tx) && (job.status === 'completed' || job.status === 'failed')) {
          this.log.info({ job: a.job.id, status: job.status, paid: job.paid, receipt: job.receipt_id, height: job.settled_height }, 'receipt recorded')
          return { outcome: job.status, confirmed: true }
        }
        this.log.error({ job: a.job.id, status: job.status }, 'the job was settled without this miner\'s receipt')
        return { outcome: 'lost', confirmed: false }
      }
      // Neither committed nor pending any more: the mempool dropped it.
      if (sent !== undefined && acct !== undefined && (Number(acct.pending_nonce) <= sent.nonce || Number(acct.nonce) > sent.nonce)) {
        this.log.warn({ job: a.job.id, tx: sent.hash }, 'the receipt left the mempool without being committed; sending it again')
        return 'resend'
      }
    } catch (e) {
      this.log.warn({ job: a.job.id, err: (e as Error).message }, 'cannot read the job back')
    }
    return 'pending'
  }
}
