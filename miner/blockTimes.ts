// BlockTimes: the chain time of a block (its header's time), for the deadlines of a job's
// verification phases: each phase lasts job_timeout_s of chain time from the block that opened
// it (the job JSON gives that block's height). Cached; the local clock stands in when the node
// does not answer.
import type { Logger } from 'pino'
import type { NodeClient } from '../node/client.ts'
import type { Clock } from './clock.ts'

const MAX_CACHED = 1000

export class BlockTimes {
  private readonly cache = new Map<string, number>()

  constructor (private readonly modules: { node: Pick<NodeClient, 'call'>, logger: Logger, clock: Clock }) {}

  /** The block's time in ms since the epoch. */
  async at (height: string): Promise<number> {
    const known = this.cache.get(height)
    if (known !== undefined) return known
    try {
      const r = await this.modules.node.call('header', { height })
      const t = Date.parse(r.header.time)
      if (Number.isFinite(t)) {
        this.cache.set(height, t)
        if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string)
        return t
      }
    } catch (e) {
      this.modules.logger.warn({ height, err: (e as Error).message }, 'cannot read a block header; using the local clock for a phase deadline')
    }
    return this.modules.clock.now()
  }
}
