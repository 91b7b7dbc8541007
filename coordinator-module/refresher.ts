// Keeps the account, miner and job records the node answers (aitbc_account, aitbc_miner,
// aitbc_job) for everything the chain changed. The indexer marks a record dirty in the same
// batch as the block that changed it (so a crash loses no mark); this loop reads the dirty ones
// from the node in JSON-RPC batches and stores them. A mark made again while a read was in
// flight (a newer block) survives the write, so the record is read once more.
import type { AccountJSON, AccountResult, BatchAnswer, BatchCall, JobJSON, Logger, MinerJSON, NodeClient, RpcClientError } from '../node/client.ts'
import { KEY, type DirtyKind } from './keys.ts'
import type { CoordinatorStore, StoreOp } from './store.ts'
import type { CoordinatorMetrics } from './metrics.ts'
import { recordMismatches, type JobRecord } from './jobRecord.ts'

export interface RefresherOptions {
  /** Records per round. Default 100. */
  roundSize?: number
  /** Wait after a failed round, doubled up to 10 s. Default 250. */
  retryMinMs?: number
}

export interface RefresherModules { store: CoordinatorStore, client: Pick<NodeClient, 'batchAll'>, metrics: CoordinatorMetrics, logger: Logger }

/** The node's call that answers a record of this kind. */
function callOf (kind: DirtyKind, id: string): BatchCall {
  switch (kind) {
    case 'account': return { method: 'aitbc_account', params: { address: id } }
    case 'miner': return { method: 'aitbc_miner', params: { address: id } }
    case 'job': return { method: 'aitbc_job', params: { job_id: id } }
  }
}

/** The record as stored: the node's answer (an account without its pending_nonce). */
function storedRecord (kind: DirtyKind, result: unknown): AccountJSON | MinerJSON | JobJSON {
  if (kind !== 'account') return result as MinerJSON | JobJSON
  const { pending_nonce: _, ...account } = result as AccountResult
  return account
}

export class Refresher {
  /** "<kind>:<id>" -> sequence number of the latest mark. */
  private readonly dirty = new Map<string, number>()
  private seq = 0
  private stopped = true
  private writing: Promise<void> | null = null
  private wake: (() => void) | null = null
  private idleWaiters: Array<() => void> = []
  private retryMs: number

  constructor (private readonly opts: RefresherOptions, private readonly m: RefresherModules) {
    this.retryMs = opts.retryMinMs ?? 250
  }

  get pending (): number { return this.dirty.size }

  /** Loads the marks left by the last run. */
  async load (): Promise<void> {
    this.dirty.clear()
    for (const [key, seq] of await this.m.store.entries<number>(KEY.dirtyPrefix)) {
      this.dirty.set(key.slice(KEY.dirtyPrefix.length), seq)
      if (seq >= this.seq) this.seq = seq + 1
    }
    this.m.metrics.refreshPending.set(this.dirty.size)
  }

  /** Marks a record dirty; returns the op that persists the mark (put it in the block's batch). */
  mark (kind: DirtyKind, id: string): StoreOp {
    const seq = this.seq++
    this.dirty.set(`${kind}:${id}`, seq)
    return { type: 'put', key: KEY.dirty(kind, id), value: seq }
  }

  /** After the batch with the marks is written. */
  poke (): void {
    this.m.metrics.refreshPending.set(this.dirty.size)
    this.wake?.()
  }

  start (): void {
    if (!this.stopped) return
    this.stopped = false
    void this.run()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.wake?.()
    // A read from the node still in flight is left to finish or time out: nothing is written after it.
    await this.writing
    for (const w of this.idleWaiters.splice(0)) w()
  }

  /** Resolves when no record is waiting (or the refresher stops). */
  async idle (): Promise<void> {
    if (this.dirty.size === 0 || this.stopped) return
    await new Promise<void>(resolve => this.idleWaiters.push(resolve))
  }

  private async run (): Promise<void> {
    while (!this.stopped) {
      if (this.dirty.size === 0) {
        for (const w of this.idleWaiters.splice(0)) w()
        await new Promise<void>(resolve => { this.wake = resolve })
        this.wake = null
        continue
      }
      try {
        await this.round()
        this.retryMs = this.opts.retryMinMs ?? 250
      } catch (e) {
        this.m.metrics.nodeErrors.inc({ op: 'refresh' })
        this.m.logger.warn({ err: (e as Error).message, retry_ms: this.retryMs }, 'cannot read records from the node; retrying')
        await new Promise<void>(resolve => { const t = setTimeout(resolve, this.retryMs); this.wake = () => { clearTimeout(t); resolve() } })
        this.wake = null
        this.retryMs = Math.min(this.retryMs * 2, 10_000)
      }
    }
  }

  private async round (): Promise<void> {
    const take: Array<{ key: string, kind: DirtyKind, id: string, seq: number }> = []
    for (const [key, seq] of this.dirty) {
      const i = key.indexOf(':')
      take.push({ key, kind: key.slice(0, i) as DirtyKind, id: key.slice(i + 1), seq })
      if (take.length >= (this.opts.roundSize ?? 100)) break
    }
    const answers = await this.m.client.batchAll(take.map(t => callOf(t.kind, t.id)))
    if (this.stopped) return
    const w = this.write(take, answers)
    this.writing = w
    try { await w } finally { this.writing = null }
    this.m.metrics.refreshPending.set(this.dirty.size)
  }

  private async write (take: Array<{ key: string, kind: DirtyKind, id: string, seq: number }>, answers: BatchAnswer[]): Promise<void> {
    await this.m.store.exclusive(async () => {
      const jobIds = take.filter(t => t.kind === 'job').map(t => t.id)
      const indexed = new Map<string, JobRecord | undefined>()
      const got = await this.m.store.getMany<JobRecord>(jobIds.map(KEY.job))
      jobIds.forEach((id, i) => indexed.set(id, got[i]))
      const ops: StoreOp[] = []
      take.forEach((t, i) => {
        const a = answers[i]
        const recordKey = t.kind === 'account' ? KEY.account(t.id) : t.kind === 'miner' ? KEY.miner(t.id) : KEY.jobRecord(t.id)
        if (a.ok) {
          const value = storedRecord(t.kind, a.result)
          if (t.kind === 'job') {
            const j = indexed.get(t.id)
            const diff = j === undefined ? [] : recordMismatches(j, value as JobJSON)
            if (diff.length > 0) {
              this.m.metrics.recordMismatches.inc()
              this.m.logger.warn({ job_id: t.id, fields: diff }, 'the job indexed from events differs from the node\'s aitbc_job; serving the node\'s record')
            }
          }
          ops.push({ type: 'put', key: recordKey, value })
        } else if (isNotFound(a.error)) {
          ops.push({ type: 'del', key: recordKey })
        } else {
          // Asking again would get the same answer: drop the mark, keep what is stored.
          this.m.logger.warn({ kind: t.kind, id: t.id, err: a.error.message }, 'the node refused a record read')
        }
        if (this.dirty.get(t.key) === t.seq) ops.push({ type: 'del', key: KEY.dirty(t.kind, t.id) })
      })
      await this.m.store.write(ops)
      for (const t of take) {
        if (this.dirty.get(t.key) === t.seq) this.dirty.delete(t.key)
        this.m.metrics.refreshed.inc({ kind: t.kind })
      }
    })
  }
}

function isNotFound (e: RpcClientError): boolean {
  return /not found|is not a registered miner/.test(e.message)
}
