// Watches the node while the fuzz run lasts: its process (it must never exit), its height (it
// must keep committing) and its resident memory (VmRSS from /proc/PID/status, bounded by
// 2 x baseline + slack).
import { memoryOf } from '../../bench/lib.ts'
import type { NodeClient } from '../../node/rpc/client.ts'
import type { FuzzViolations } from './checks.ts'
import type { Target } from './target.ts'

export interface MonitorOptions {
  /** The height must advance within this (else a liveness violation). */
  stallMs: number
  /** RSS bound = rssFactor x baseline + rssSlackMb. */
  rssFactor: number
  rssSlackMb: number
}

export class Monitor {
  baselineRssMb = 0
  peakRssMb = 0
  lastRssMb = 0
  heightAtStart = 0
  height = 0
  private lastAdvance = Date.now()
  private timer: NodeJS.Timeout | null = null
  private polling = false
  private rssBound = Infinity

  constructor (private readonly target: Target, private readonly client: NodeClient, private readonly v: FuzzViolations, private readonly o: MonitorOptions, private readonly onHeight: (h: number) => void) {}

  get rssBoundMb (): number { return this.rssBound }

  /** Baseline: the median of a few samples of the idle node. */
  async baseline (samples = 5, everyMs = 200): Promise<void> {
    const xs: number[] = []
    for (let i = 0; i < samples; i++) {
      xs.push(this.rss())
      await new Promise(resolve => setTimeout(resolve, everyMs))
    }
    xs.sort((a, b) => a - b)
    this.baselineRssMb = xs[Math.floor(xs.length / 2)]
    this.rssBound = this.o.rssFactor * this.baselineRssMb + this.o.rssSlackMb
    this.peakRssMb = Math.max(...xs)
    this.heightAtStart = this.height = await this.fetchHeight()
    this.onHeight(this.height)
  }

  start (): void {
    this.lastAdvance = Date.now()
    this.timer = setInterval(() => { void this.tick() }, 250)
  }

  stop (): void { if (this.timer !== null) clearInterval(this.timer); this.timer = null }

  private rss (): number {
    const pid = this.target.pid()
    if (pid === undefined) return 0
    try { return memoryOf(pid).rssMb } catch { return 0 }
  }

  private async fetchHeight (): Promise<number> { return Number((await this.client.status()).sync_info.latest_block_height) }

  /** True when the node process is gone (and says so once). */
  checkAlive (): boolean {
    if (!this.target.exited()) return true
    this.v.add('crash', 'exit', `the node process exited (exit code ${String(this.target.node.proc?.child.exitCode ?? null)}, signal ${String(this.target.node.proc?.child.signalCode ?? null)}); log tail: ${this.target.node.log().slice(-1500)}`)
    return false
  }

  private async tick (): Promise<void> {
    if (!this.checkAlive()) return
    const rss = this.rss()
    if (rss > 0) {
      this.lastRssMb = rss
      this.peakRssMb = Math.max(this.peakRssMb, rss)
      if (rss > this.rssBound) this.v.add('memory', 'rss', `RSS ${rss.toFixed(0)} MB exceeds the bound ${this.rssBound.toFixed(0)} MB (${this.o.rssFactor} x baseline ${this.baselineRssMb.toFixed(0)} MB + ${this.o.rssSlackMb} MB)`)
    }
    if (this.polling) return
    this.polling = true
    try {
      const h = await this.fetchHeight()
      if (h > this.height) { this.height = h; this.lastAdvance = Date.now(); this.onHeight(h) }
    } catch {} finally { this.polling = false }
    const stalled = Date.now() - this.lastAdvance
    if (stalled > this.o.stallMs) this.v.add('liveness', `stall@${this.height}`, `no block for ${(stalled / 1000).toFixed(1)} s after height ${this.height}`)
  }

  /** After the inputs: the node must still commit (height advances by 2 within the stall bound). */
  async checkCommitsAfter (): Promise<void> {
    const from = this.height
    const end = Date.now() + this.o.stallMs
    while (Date.now() < end) {
      if (!this.checkAlive()) return
      try { const h = await this.fetchHeight(); if (h >= from + 2) { this.height = h; return } } catch {}
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    this.v.add('liveness', 'after', `after the inputs the height did not advance by 2 from ${from} within ${this.o.stallMs / 1000} s`)
  }
}
