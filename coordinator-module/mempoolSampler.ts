// The node's mempool size over time, for the explorer's mempool chart: the one figure the index
// cannot hold (the mempool is not in blocks). Every few seconds the sampler asks the node
// `num_unconfirmed_txs` and keeps the answer, with the time and the node's height, in a ring of
// fixed size in memory (24 hours at one sample each 2 s); a restart starts it empty.
import type { NodeClient } from '../node/client.ts'

export interface MempoolSample { t: number, height: number, value: number }

export interface MempoolSamplerOptions {
  /** Default 2000 ms. */
  everyMs?: number
  /** Samples kept. Default 43,200 (24 h at 2 s). */
  capacity?: number
}

export interface MempoolSamplerModules {
  client: Pick<NodeClient, 'call'>
  /** The node's height as last heard (0 if unknown). */
  height: () => number
  now?: () => number
}

export class MempoolSampler {
  private readonly cap: number
  private readonly ts: Float64Array
  private readonly heights: Float64Array
  private readonly values: Float64Array
  /** Samples written so far; the ring holds the last `cap`. */
  private written = 0
  private timer: NodeJS.Timeout | null = null
  private inFlight = false
  private readonly now: () => number

  constructor (private readonly opts: MempoolSamplerOptions, private readonly m: MempoolSamplerModules) {
    this.cap = Math.max(1, opts.capacity ?? 43_200)
    this.ts = new Float64Array(this.cap)
    this.heights = new Float64Array(this.cap)
    this.values = new Float64Array(this.cap)
    this.now = m.now ?? Date.now
  }

  get size (): number { return Math.min(this.written, this.cap) }

  start (): void {
    if (this.timer !== null) return
    this.timer = setInterval(() => { void this.sample() }, this.opts.everyMs ?? 2000)
    this.timer.unref()
    void this.sample()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** Asks the node once; a failed read leaves no sample (a gap in the chart). */
  async sample (): Promise<void> {
    if (this.inFlight) return
    this.inFlight = true
    try {
      const r = await this.m.client.call('num_unconfirmed_txs')
      const n = Number(r.total)
      if (Number.isFinite(n)) this.add({ t: this.now(), height: this.m.height(), value: n })
    } catch {
      // The node is down: the indexer reports it; the chart shows a gap.
    } finally {
      this.inFlight = false
    }
  }

  add (s: MempoolSample): void {
    const i = this.written % this.cap
    this.ts[i] = s.t
    this.heights[i] = s.height
    this.values[i] = s.value
    this.written++
  }

  /** The samples taken at or after `fromMs` (and, if given, at heights of at least `fromHeight`), oldest first. */
  since (fromMs: number, fromHeight = 0): MempoolSample[] {
    const out: MempoolSample[] = []
    const n = this.size
    const first = this.written - n
    // Times only grow, so the scan starts from the newest and stops at the first one too old.
    for (let k = this.written - 1; k >= first; k--) {
      const i = k % this.cap
      if (this.ts[i] < fromMs || this.heights[i] < fromHeight) break
      out.push({ t: this.ts[i], height: this.heights[i], value: this.values[i] })
    }
    return out.reverse()
  }
}
