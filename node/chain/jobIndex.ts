// The node's job indexes, so that aitbc_jobs answers a page without loading every job: one key
// per job under each list it belongs to (all jobs; by client; by miner; by status; by client and
// status; by miner and status), newest last by height, and a counter per list, all written in
// the block's batch. The lists are diffed from a job's record before and after the block.
import type { Job, JobStatus } from '../core/state.ts'
import { ChainStore, type BatchOp } from './store.ts'
import { KEY, pad } from './keys.ts'

/** One list a job can be in: its key prefix, and the height that orders the job in it. */
interface Membership { prefix: string, height: number }

/** The lists a job belongs to in this state of its record. */
function memberships (j: Job): Membership[] {
  const out: Membership[] = [
    { prefix: KEY.jobAllPrefix, height: j.submittedHeight },
    { prefix: KEY.jobByClientPrefix(j.client), height: j.submittedHeight },
    { prefix: KEY.jobByStatusPrefix(j.status), height: j.submittedHeight },
    { prefix: KEY.jobByClientStatusPrefix(j.client, j.status), height: j.submittedHeight },
  ]
  if (j.miner !== null) {
    const h = j.assignedHeight ?? j.submittedHeight
    out.push({ prefix: KEY.jobByMinerPrefix(j.miner), height: h }, { prefix: KEY.jobByMinerStatusPrefix(j.miner, j.status), height: h })
  }
  return out
}

const entry = (m: Membership, id: string): string => `${m.prefix}${pad(m.height)}:${id}`

/** Counts of every list, read from the store once and kept up to date by the batches. */
export class JobCounters {
  private readonly cache = new Map<string, number>()
  constructor (private readonly read: (key: string) => number | undefined) {}

  get (prefix: string): number {
    let n = this.cache.get(prefix)
    if (n === undefined) { n = this.read(KEY.count(prefix)) ?? 0; this.cache.set(prefix, n) }
    return n
  }

  /** The ops that move a job from its record `before` (undefined: new) to `after`, counters included (applied to the cache at once: call it only for a batch that will be written). */
  ops (before: Job | undefined, after: Job): BatchOp[] {
    const was = new Map((before === undefined ? [] : memberships(before)).map(m => [entry(m, after.id), m]))
    const is = new Map(memberships(after).map(m => [entry(m, after.id), m]))
    const ops: BatchOp[] = []
    for (const [k, m] of was) if (!is.has(k)) { ops.push({ type: 'del', key: k }); ops.push(this.bump(m.prefix, -1)) }
    for (const [k, m] of is) if (!was.has(k)) { ops.push(ChainStore.put(k, 1)); ops.push(this.bump(m.prefix, 1)) }
    return ops
  }

  private bump (prefix: string, d: number): BatchOp {
    const n = this.get(prefix) + d
    this.cache.set(prefix, n)
    return ChainStore.put(KEY.count(prefix), n)
  }
}

/** The list to read for a query: the narrowest one, and what must still be filtered. */
export function jobListFor (q: { client?: string, miner?: string, status?: JobStatus }): { prefix: string, filterClient?: string } {
  const { client, miner, status } = q
  if (miner !== undefined) {
    const prefix = status !== undefined ? KEY.jobByMinerStatusPrefix(miner, status) : KEY.jobByMinerPrefix(miner)
    return { prefix, filterClient: client }
  }
  if (client !== undefined) return { prefix: status !== undefined ? KEY.jobByClientStatusPrefix(client, status) : KEY.jobByClientPrefix(client) }
  return { prefix: status !== undefined ? KEY.jobByStatusPrefix(status) : KEY.jobAllPrefix }
}
