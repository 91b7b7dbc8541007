// AssignmentFollower: learns which jobs the chain assigns to this miner, and (with onVerify)
// which jobs the chain drew it to verify, each job once per process however often it is heard of.
//
// - A WebSocket subscription to `tm.event='Tx' AND assign.miner='<me>'`, and with onVerify a
//   second one to `tm.event='NewBlockHeader' AND sample.verifiers CONTAINS '<me>'` (the block
//   that draws a checked job's verifiers), each re-opened with exponential backoff whenever it
//   drops or cannot be opened.
// - A catch-up listing (aitbc_jobs) of the jobs assigned to this miner and not settled, and with
//   onVerify of the jobs being verified: at start, after every (re)connect (whatever happened
//   while a socket was down) and every pollIntervalMs, so that nothing is missed.
//
// A job heard of by its id (an event) is read back (aitbc_job); it is handed on only while it is
// still assigned to this miner and its miner has not committed yet (onAssigned), or while this
// miner is one of its verifiers that has not committed in its commit phase (onVerify). A job that
// cannot be read is forgotten, so the next listing brings it again.
import type { Logger } from 'pino'
import { JOB_ID_RE, type JobJSON, type NodeClient, type Subscription, type SubscriptionEvent, type TxEventData } from '../node/client.ts'

export type AssignmentSource = 'event' | 'start' | 'connect' | 'poll'

/** An assigned job as the chain shows it: assigned to this miner, with its assignment time. */
export type AssignedJob = JobJSON & { status: 'assigned', miner: string, assigned_at: string }

export interface AssignmentFollowerOptions {
  address: string
  /** Catch-up listing besides the subscription. Default 30000; 0 disables. */
  pollIntervalMs?: number
  /** Reconnect backoff of the subscription. Defaults 250 and 10000. */
  reconnectMinMs?: number
  reconnectMaxMs?: number
  /** Deadline for the node's confirmation of the subscription. Default 10000. */
  subscribeTimeoutMs?: number
}

export interface AssignmentFollowerModules {
  node: Pick<NodeClient, 'subscribe' | 'jobs' | 'job'>
  logger: Logger
  /** Called once per job id. */
  onAssigned: (job: AssignedJob, source: AssignmentSource) => void
  /** Called once per job id this miner was drawn to verify; absent: verifier duties are not followed. */
  onVerify?: (job: JobJSON, source: AssignmentSource) => void
}

const PER_PAGE = 100

/** The ids of the jobs whose sample (or a later draw: `redraw`) drew `miner` as a verifier, from a block event's attributes. */
export function sampledJobIds (ev: SubscriptionEvent, miner: string, type: 'sample' | 'redraw' = 'sample'): string[] {
  const ids = ev.events[`${type}.job_id`] ?? []
  const verifiers = ev.events[`${type}.verifiers`] ?? []
  // One job_id and one verifiers value per sample event, in order.
  const out = new Set<string>()
  ids.forEach((id, i) => {
    if (JOB_ID_RE.test(id) && (verifiers.length !== ids.length || (verifiers[i] ?? '').split(',').includes(miner))) out.add(id)
  })
  return [...out]
}

/** Whether this miner is a verifier of the job that still has to commit, in its commit phase. */
export function isVerifierDuty (job: JobJSON, miner: string): boolean {
  const v = job.verification
  return job.status === 'verifying' && v !== null && v.phase === 'commit' && v.verifiers.some(r => r.miner === miner && !r.committed && r.outcome === null)
}

/** The ids of the jobs assigned to `miner` by the tx of a subscription event. */
export function assignedJobIds (ev: SubscriptionEvent<TxEventData>, miner: string): string[] {
  const ids = new Set<string>()
  for (const e of ev.data.value.TxResult.result.events) {
    if (e.type !== 'assign') continue
    const attrs = new Map(e.attributes.map(a => [a.key, a.value]))
    const jobId = attrs.get('job_id') ?? ''
    if (attrs.get('miner') === miner && JOB_ID_RE.test(jobId)) ids.add(jobId)
  }
  return [...ids]
}

export class AssignmentFollower {
  private readonly log: Logger
  private readonly loops: SubscriptionLoop[] = []
  /** Every job id this process has handed on or is reading (never handed on twice). */
  private readonly seen = new Set<string>()
  private admitting = 0
  private readonly idleWaiters: Array<() => void> = []
  private pollTimer: NodeJS.Timeout | undefined
  private closing = false

  constructor (private readonly opts: AssignmentFollowerOptions, private readonly modules: AssignmentFollowerModules) {
    this.log = modules.logger
    const loop = (query: string, onEvent: (ev: SubscriptionEvent<any>) => void): SubscriptionLoop => new SubscriptionLoop(query, onEvent, {
      node: modules.node, logger: modules.logger, minMs: opts.reconnectMinMs ?? 250, maxMs: opts.reconnectMaxMs ?? 10_000, subscribeTimeoutMs: opts.subscribeTimeoutMs ?? 10_000,
      // Whatever happened while the socket was down.
      onConnect: () => { void this.catchUp('connect').catch(e => this.log.warn({ err: (e as Error).message }, 'listing jobs failed')) },
    })
    this.loops.push(loop(`tm.event='Tx' AND assign.miner='${opts.address}'`, ev => this.onEvent(ev)))
    if (modules.onVerify !== undefined) {
      this.loops.push(loop(`tm.event='NewBlockHeader' AND sample.verifiers CONTAINS '${opts.address}'`, ev => this.onSampleEvent(ev)))
      // verifiers drawn later: in place of silent ones, or to fill a committee short at its sample
      this.loops.push(loop(`tm.event='NewBlockHeader' AND redraw.verifiers CONTAINS '${opts.address}'`, ev => this.onSampleEvent(ev, 'redraw')))
    }
  }

  /** True while every subscription is open. */
  get subscribed (): boolean { return this.loops.every(l => l.subscribed) }

  /** Job ids this process takes up by other means (saved commitments it resumes): never handed on. */
  markSeen (jobIds: Iterable<string>): void { for (const id of jobIds) this.seen.add(id) }

  /** Opens the subscriptions (their first attempts awaited, successful or not), catches up, starts polling. */
  async start (): Promise<void> {
    await Promise.all(this.loops.map(async l => { await l.start() }))
    await this.catchUp('start').catch(e => this.log.warn({ err: (e as Error).message }, 'listing assigned jobs failed; will retry'))
    const every = this.opts.pollIntervalMs ?? 30_000
    if (every > 0 && !this.closing) {
      this.pollTimer = setInterval(() => { void this.catchUp('poll').catch(e => this.log.warn({ err: (e as Error).message }, 'listing assigned jobs failed')) }, every)
      this.pollTimer.unref()
    }
  }

  /** Ends the periodic listing; the subscription (and its catch-up on reconnect) goes on. */
  stopPolling (): void {
    if (this.pollTimer !== undefined) { clearInterval(this.pollTimer); this.pollTimer = undefined }
  }

  /** Closes the subscriptions for good and waits for the reconnect loops to end. */
  async stop (): Promise<void> {
    this.closing = true
    this.stopPolling()
    await Promise.all(this.loops.map(async l => { await l.stop() }))
  }

  /** Resolves once no job is being read back or handed on. */
  async idle (): Promise<void> {
    if (this.admitting === 0) return
    await new Promise<void>(resolve => this.idleWaiters.push(resolve))
  }

  get busy (): boolean { return this.admitting > 0 }

  /** Lists the jobs the chain has assigned to this miner and not yet settled, and (with onVerify) those being verified. */
  async catchUp (source: AssignmentSource): Promise<void> {
    await this.list({ miner: this.opts.address, status: 'assigned' }, source)
    if (this.modules.onVerify !== undefined) await this.list({ status: 'verifying' }, source, j => isVerifierDuty(j, this.opts.address))
  }

  private async list (q: { miner?: string, status: string }, source: AssignmentSource, keep: (j: JobJSON) => boolean = () => true): Promise<void> {
    for (let page = 1; ; page++) {
      const r = await this.modules.node.jobs({ ...q, page: String(page), per_page: String(PER_PAGE) })
      for (const j of r.jobs) if (keep(j)) this.learn(j.job_id, j, source)
      if (r.jobs.length < PER_PAGE || page * PER_PAGE >= Number(r.total_count)) break
    }
  }

  /** A subscription event: the jobs its tx assigned to this miner. */
  onEvent (ev: SubscriptionEvent<TxEventData>): void {
    for (const id of assignedJobIds(ev, this.opts.address)) this.learn(id, undefined, 'event')
  }

  /** A block event: the jobs whose sample drew this miner as a verifier. */
  onSampleEvent (ev: SubscriptionEvent, type: 'sample' | 'redraw' = 'sample'): void {
    for (const id of sampledJobIds(ev, this.opts.address, type)) this.learn(id, undefined, 'event')
  }

  private learn (jobId: string, job: JobJSON | undefined, source: AssignmentSource): void {
    if (this.seen.has(jobId)) return
    this.seen.add(jobId)
    this.admitting++
    void this.admit(jobId, job, source)
      .catch(e => this.log.error({ job: jobId, err: (e as Error).message }, 'cannot take up job'))
      .finally(() => {
        this.admitting--
        if (this.admitting === 0) for (const w of this.idleWaiters.splice(0)) w()
      })
  }

  private async admit (jobId: string, known: JobJSON | undefined, source: AssignmentSource): Promise<void> {
    let job = known
    if (job === undefined) {
      try {
        job = await this.modules.node.job(jobId)
      } catch (e) {
        this.seen.delete(jobId) // the next listing brings it again
        this.log.warn({ job: jobId, err: (e as Error).message }, 'cannot read an assigned job; will retry')
        return
      }
    }
    if (isAssignedTo(job, this.opts.address)) {
      this.modules.onAssigned(job, source)
    } else if (this.modules.onVerify !== undefined && isVerifierDuty(job, this.opts.address)) {
      this.modules.onVerify(job, source)
    } else {
      this.log.debug({ job: jobId, status: job.status }, 'job is not open for this miner')
    }
  }
}

/** Assigned to this miner, and its miner has not committed to a result yet. */
function isAssignedTo (job: JobJSON, miner: string): job is AssignedJob {
  return job.status === 'assigned' && job.miner === miner && job.assigned_at !== null && job.verification === null
}

interface SubscriptionLoopModules {
  node: Pick<NodeClient, 'subscribe'>
  logger: Logger
  minMs: number
  maxMs: number
  subscribeTimeoutMs: number
  onConnect: () => void
}

/** One subscription, re-opened with exponential backoff whenever it drops or cannot be opened. */
class SubscriptionLoop {
  subscribed = false
  private sub: Subscription | undefined
  private loop: Promise<void> | undefined
  private wakeReconnect: (() => void) | undefined
  private closing = false

  constructor (private readonly query: string, private readonly onEvent: (ev: SubscriptionEvent<any>) => void, private readonly m: SubscriptionLoopModules) {}

  /** Starts the loop; resolves after the first attempt, successful or not. */
  async start (): Promise<void> {
    let firstAttempt!: () => void
    const attempted = new Promise<void>(resolve => { firstAttempt = resolve })
    this.loop = this.run(firstAttempt)
    await attempted
  }

  async stop (): Promise<void> {
    this.closing = true
    this.sub?.close()
    this.wakeReconnect?.()
    await this.loop
  }

  private async run (firstAttempt: () => void): Promise<void> {
    const log = this.m.logger
    let delay = this.m.minMs
    while (!this.closing) {
      let onClosed!: () => void
      const closed = new Promise<void>(resolve => { onClosed = resolve })
      try {
        const sub = await this.m.node.subscribe(this.query, ev => this.onEvent(ev), () => onClosed(), { timeoutMs: this.m.subscribeTimeoutMs })
        this.sub = sub
        this.subscribed = true
        delay = this.m.minMs
        log.info({ query: this.query }, 'subscribed')
        firstAttempt()
        this.m.onConnect()
        if (this.closing) sub.close()
        await closed
        this.subscribed = false
        this.sub = undefined
        if (this.closing) break
        log.warn({ query: this.query }, 'subscription to the node dropped; reconnecting')
      } catch (e) {
        this.subscribed = false
        log.warn({ query: this.query, err: (e as Error).message, retry_ms: delay }, 'cannot subscribe to the node; retrying')
        firstAttempt()
      }
      if (this.closing) break
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, delay)
        this.wakeReconnect = () => { clearTimeout(t); resolve() }
      })
      this.wakeReconnect = undefined
      delay = Math.min(this.m.maxMs, delay * 2)
    }
  }
}
