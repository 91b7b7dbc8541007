// Sending one of the miner's job transactions (commit_result, reveal_result) and following it until
// the chain shows its effect on the job: sent through the TxQueue (consecutive nonces), read back
// from the job, sent again when the mempool dropped it, retried with backoff when the node does
// not answer, and given up on at a deadline. Also: waiting for a job to reach a state by polling.
import type { Logger } from 'pino'
import { TxCode, type JobJSON, type NodeClient, type TxBody } from '../node/client.ts'
import type { Clock } from './clock.ts'
import { TxRefusedError, type SentTx, type TxQueue } from './txQueue.ts'

/** What a read of the job says of the tx: its effect is there, not yet, or it can no longer have one. */
export type Seen = 'done' | 'pending' | { lost: string }

export interface FollowTx {
  jobId: string
  body: TxBody
  /** No copy is sent at or after this time (ms since the epoch): the chain would refuse it. */
  sendBy: number
  /** The end of following: after this the tx is given up on. */
  giveUpAt: number
  pollMs: number
  /** Read the job before the first send (a restarted miner may find its tx already there). */
  readFirst?: boolean
  /** Polled between steps: true ends following at once (a hard stop). */
  stopped?: () => boolean
}

export interface FollowModules {
  /** The miner's address (the sender of every tx followed). */
  address: string
  node: Pick<NodeClient, 'account' | 'job'>
  txs: Pick<TxQueue, 'send'>
  logger: Logger
  clock: Clock
}

export type FollowResult = { ok: true, job: JobJSON } | { ok: false, reason: string, stopped?: boolean }

/** Sends `f.body` and follows it until `seen` says done (ok), lost, or time runs out. */
export async function sendAndFollow (f: FollowTx, m: FollowModules, seen: (job: JobJSON) => Seen): Promise<FollowResult> {
  const { clock, logger: log } = m
  const sentHashes: string[] = []
  let sent: SentTx | undefined
  let backoff = 250
  if (f.readFirst === true) {
    try {
      const j = await m.node.job(f.jobId)
      const s = seen(j)
      if (s === 'done') return { ok: true, job: j }
      if (s !== 'pending') return { ok: false, reason: s.lost }
    } catch (e) {
      log.warn({ job: f.jobId, err: (e as Error).message }, 'cannot read the job back')
    }
  }
  for (;;) {
    if (f.stopped?.() === true) return { ok: false, reason: 'stopped', stopped: true }
    const now = clock.now()
    if (now > f.giveUpAt) return { ok: false, reason: `${f.body.type} was not seen on chain before giving up` }
    if (sent === undefined) {
      if (now >= f.sendBy) return { ok: false, reason: `the deadline passed before ${f.body.type} could be sent` }
      try {
        sent = await m.txs.send(f.body)
        sentHashes.push(sent.hash)
        backoff = 250
        log.info({ job: f.jobId, type: f.body.type, tx: sent.hash, nonce: sent.nonce }, 'tx sent')
      } catch (e) {
        if (!(e instanceof TxRefusedError)) {
          log.warn({ job: f.jobId, type: f.body.type, err: (e as Error).message, retry_ms: backoff }, 'cannot send the tx; retrying')
          await clock.sleep(backoff)
          backoff = Math.min(5000, backoff * 2)
          continue
        }
        // Refused: perhaps an earlier copy (or an earlier process) made it after all. The job tells.
        const j = await m.node.job(f.jobId).catch(() => undefined)
        if (j !== undefined && seen(j) === 'done') return { ok: true, job: j }
        if (e.code === TxCode.JOB_ALREADY_SETTLED && sentHashes.length > 0) { sent = { hash: sentHashes[sentHashes.length - 1], nonce: -1 }; continue }
        log.error({ job: f.jobId, type: f.body.type, code: e.code, reason: e.log }, 'the node refused the tx')
        return { ok: false, reason: `refused: ${e.log}` }
      }
    }
    try {
      // Account first, then the job: a tx committed between the two reads shows in the second.
      const acct = sent.nonce >= 0 ? await m.node.account(m.address) : undefined
      const j = await m.node.job(f.jobId)
      const s = seen(j)
      if (s === 'done') return { ok: true, job: j }
      if (s !== 'pending') return { ok: false, reason: s.lost }
      if (acct !== undefined && (Number(acct.pending_nonce) <= sent.nonce || Number(acct.nonce) > sent.nonce)) {
        log.warn({ job: f.jobId, type: f.body.type, tx: sent.hash }, 'the tx left the mempool without taking effect; sending it again')
        sent = undefined
        continue
      }
    } catch (e) {
      log.warn({ job: f.jobId, err: (e as Error).message }, 'cannot read the job back')
    }
    await clock.sleep(f.pollMs)
  }
}

/** Polls the job until `ready` holds (returns the job) or `until` passes or `stopped` (undefined). */
export async function waitForJob (
  jobId: string,
  ready: (job: JobJSON) => boolean,
  opts: { until: number, pollMs: number, stopped?: () => boolean },
  m: { node: Pick<NodeClient, 'job'>, clock: Clock, logger: Logger },
): Promise<JobJSON | undefined> {
  for (;;) {
    if (opts.stopped?.() === true) return undefined
    try {
      const j = await m.node.job(jobId)
      if (ready(j)) return j
    } catch (e) {
      m.logger.warn({ job: jobId, err: (e as Error).message }, 'cannot read the job')
    }
    if (m.clock.now() > opts.until) return undefined
    await m.clock.sleep(opts.pollMs)
  }
}
