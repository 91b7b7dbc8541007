// AssignmentFollower: learns which jobs the chain assigns to this miner, each job once per
// process however often it is heard of.
//
// - A WebSocket subscription to `tm.event='Tx' AND assign.miner='<me>'`, re-opened with
//   exponential backoff whenever it drops or cannot be opened.
// - A catch-up listing of the jobs assigned to this miner and not settled (aitbc_jobs): at start,
//   after every (re)connect (whatever was assigned while the socket was down) and every
//   pollIntervalMs, so that no assignment is missed.
//
// A job heard of by its id (an event) is read back (aitbc_job); it is handed on only while it is
// still assigned to this miner. A job that cannot be read is forgotten, so the next listing
// brings it again.
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
}

const PER_PAGE = 100

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
  /** True while the subscription is open. */
  subscribed = false
  private readonly log: Logger
  private readonly query: string
  /** Every job id this process has handed on or is reading (never handed on twice). */
  private readonly seen = new Set<string>()
  private admitting = 0
  private readonly idleWaiters: Array<() => void> = []
  private sub: Subscription | undefined
  private loop: Promise<void> | undefined
  private wakeReconnect: (() => void) | undefined
  private pollTimer: NodeJS.Timeout | undefined
  private closing = false

  constructor (private readonly opts: AssignmentFollowerOptions, private readonly modules: AssignmentFollowerModules) {
    this.log = modules.logger
    this.query = `tm.event='Tx' AND assign.miner='${opts.address}'`
  }

  /** Opens the subscription (its first attempt awaited, successful or not), catches up, starts polling. */
  async start (): Promise<void> {
    let firstAttempt!: () => void
    const attempted = new Promise<void>(resolve => { firstAttempt = resolve })
    this.loop = this.connectLoop(firstAttempt)
    await attempted
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

  /** Closes the subscription for good and waits for the reconnect loop to end. */
  async stop (): Promise<void> {
    this.closing = true
    this.stopPolling()
    this.sub?.close()
    this.wakeReconnect?.()
    await this.loop
  }

  /** Resolves once no job is being read back or handed on. */
  async idle (): Promise<void> {
    if (this.admitting === 0) return
    await new Promise<void>(resolve => this.idleWaiters.push(resolve))
  }

  get busy (): boolean { return this.admitting > 0 }

  /** Lists the jobs the chain has assigned to this miner and not yet settled. */
  async catchUp (source: AssignmentSource): Promise<void> {
    for (let page = 1; ; page++) {
      const r = await this.modules.node.jobs({ miner: this.opts.address, status: 'assigned', page: String(page), per_page: String(PER_PAGE) })
      for (const j of r.jobs) this.learn(j.job_id, j, source)
      if (r.jobs.length < PER_PAGE || page * PER_PAGE >= Number(r.total_count)) break
    }
  }

  /** A subscription event: the jobs its tx assigned to this miner. */
  onEvent (ev: SubscriptionEvent<TxEventData>): void {
    for (const id of assignedJobIds(ev, this.opts.address)) this.learn(id, undefined, 'event')
  }

  private async connectLoop (firstAttempt: () => void): Promise<void> {
    const min = this.opts.reconnectMinMs ?? 250
    const max = this.opts.reconnectMaxMs ?? 10_000
    let delay = min
    while (!this.closing) {
      let onClosed!: () => void
      const closed = new Promise<void>(resolve => { onClosed = resolve })
      try {
        const sub = await this.modules.node.subscribe<TxEventData>(this.query, ev => this.onEvent(ev), () => onClosed(), { timeoutMs: this.opts.subscribeTimeoutMs ?? 10_000 })
        this.sub = sub
        this.subscribed = true
        delay = min
        this.log.info({ query: this.query }, 'subscribed to assignments')
        firstAttempt()
        // Whatever was assigned while the socket was down.
        void this.catchUp('connect').catch(e => this.log.warn({ err: (e as Error).message }, 'listing assigned jobs failed'))
        if (this.closing) sub.close()
        await closed
        this.subscribed = false
        this.sub = undefined
        if (this.closing) break
        this.log.warn('subscription to the node dropped; reconnecting')
      } catch (e) {
        this.subscribed = false
        this.log.warn({ err: (e as Error).message, retry_ms: delay }, 'cannot subscribe to the node; retrying')
        firstAttempt()
      }
      if (this.closing) break
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, delay)
        this.wakeReconnect = () => { clearTimeout(t); resolve() }
      })
      this.wakeReconnect = undefined
      delay = Math.min(max, delay * 2)
    }
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
    if (!isAssignedTo(job, this.opts.address)) {
      this.log.debug({ job: jobId, status: job.status }, 'job is not open for this miner')
      return
    }
    this.modules.onAssigned(job, source)
  }
}

function isAssignedTo (job: JobJSON, miner: string): job is AssignedJob {
  return job.status === 'assigned' && job.miner === miner && job.assigned_at !== null
}
