// Live job updates on the coordinator's WebSocket (/v1/ws): a client sends
// {"subscribe":"job_..."} and gets {"subscribed":"job_..."}, then the job as it stands (when the
// chain has it) and a message {job_id, status, ...} on each change after that. Messages never
// go backwards: a status is sent at most once per subscription, in lifecycle order.
import type { WebSocket } from 'ws'
import { JOB_ID_RE } from '../node/core/tx.ts'
import type { Logger } from '../node/client.ts'
import type { CoordinatorMetrics } from './metrics.ts'
import type { JobView } from './jobRecord.ts'

export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 100
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024
const PING_MS = 30_000

/** Lifecycle order. Statuses are open strings: one not listed ranks as a final one once the job has a completion time, else after assigned. */
const RANK: Readonly<Record<string, number>> = { pending: 0, assigned: 1, verifying: 2, completed: 3, failed: 3, rejected: 3, cancelled: 3, expired: 3 }
function rankOf (u: { status: string, completed_at: string | null }): number { return RANK[u.status] ?? (u.completed_at !== null ? 3 : 2) }

/** What a subscriber gets: the job as GET /v1/jobs/:id serves it. */
export type JobUpdate = JobView

export interface JobFeedModules {
  metrics: CoordinatorMetrics
  logger: Logger
  /** The job as it stands now, if the index has it. */
  snapshot: (jobId: string) => Promise<JobUpdate | undefined>
}

class FeedConn {
  /** job id -> rank of the last status sent (-1: none yet). */
  readonly jobs = new Map<string, number>()
  alive = true
  constructor (readonly socket: WebSocket) {}

  send (msg: unknown): void {
    if (this.socket.readyState !== this.socket.OPEN) return
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) { this.socket.close(1008, 'too slow: updates are not being read'); return }
    this.socket.send(JSON.stringify(msg))
  }
}

export class JobFeed {
  private readonly conns = new Set<FeedConn>()
  private readonly byJob = new Map<string, Set<FeedConn>>()
  private readonly ping: NodeJS.Timeout

  constructor (private readonly m: JobFeedModules) {
    this.ping = setInterval(() => {
      for (const c of this.conns) {
        if (!c.alive) { c.socket.terminate(); continue }
        c.alive = false
        try { c.socket.ping() } catch {}
      }
    }, PING_MS)
    this.ping.unref()
  }

  attach (socket: WebSocket): void {
    const c = new FeedConn(socket)
    this.conns.add(c)
    this.m.metrics.wsClients.set(this.conns.size)
    socket.on('pong', () => { c.alive = true })
    socket.on('message', (data, isBinary) => {
      this.onMessage(c, isBinary ? null : data.toString()).catch((err: unknown) => {
        this.m.logger.error({ err: (err as Error).message }, 'job feed message failed')
        c.send({ error: 'INTERNAL', message: 'internal error' })
      })
    })
    socket.on('close', () => {
      this.conns.delete(c)
      for (const id of c.jobs.keys()) this.unsubscribe(c, id)
      this.m.metrics.wsClients.set(this.conns.size)
    })
  }

  private async onMessage (c: FeedConn, text: string | null): Promise<void> {
    let msg: any
    try {
      if (text === null) throw new Error('binary frames are not accepted')
      msg = JSON.parse(text)
    } catch (e) {
      c.send({ error: 'BAD_JSON', message: `not a JSON message: ${(e as Error).message}` })
      return
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      c.send({ error: 'BAD_REQUEST', message: 'send {"subscribe":"job_..."} or {"unsubscribe":"job_..."}' })
      return
    }
    if (typeof msg.unsubscribe === 'string') {
      const removed = this.unsubscribe(c, msg.unsubscribe)
      c.send(removed ? { unsubscribed: msg.unsubscribe } : { error: 'NOT_SUBSCRIBED', message: `not subscribed to ${String(msg.unsubscribe).slice(0, 40)}` })
      return
    }
    const id = msg.subscribe
    if (typeof id !== 'string' || !JOB_ID_RE.test(id)) {
      c.send({ error: 'BAD_REQUEST', message: typeof id === 'string' ? `"${id.slice(0, 40)}" is not a job id (job_ + 16 hex digits)` : 'send {"subscribe":"job_..."} or {"unsubscribe":"job_..."}' })
      return
    }
    if (!c.jobs.has(id)) {
      if (c.jobs.size >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
        c.send({ error: 'TOO_MANY_SUBSCRIPTIONS', message: `at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} jobs per connection` })
        return
      }
      c.jobs.set(id, -1)
      let set = this.byJob.get(id)
      if (set === undefined) { set = new Set(); this.byJob.set(id, set) }
      set.add(c)
      this.m.metrics.wsSubscriptions.inc()
    }
    c.send({ subscribed: id })
    const now = await this.m.snapshot(id)
    if (now !== undefined) this.deliver(c, now)
  }

  private unsubscribe (c: FeedConn, id: string): boolean {
    if (!c.jobs.delete(id)) return false
    const set = this.byJob.get(id)
    set?.delete(c)
    if (set?.size === 0) this.byJob.delete(id)
    this.m.metrics.wsSubscriptions.dec()
    return true
  }

  private deliver (c: FeedConn, u: JobUpdate): void {
    const last = c.jobs.get(u.job_id)
    if (last === undefined) return
    const rank = rankOf(u)
    if (rank <= last) return
    c.jobs.set(u.job_id, rank)
    c.send(u)
    this.m.metrics.wsPushes.inc()
  }

  /** A job changed (after the change is in the index). */
  publish (u: JobUpdate): void {
    const set = this.byJob.get(u.job_id)
    if (set === undefined) return
    for (const c of set) this.deliver(c, u)
  }

  close (): void {
    clearInterval(this.ping)
    for (const c of this.conns) c.socket.close(1001, 'coordinator shutting down')
  }
}
