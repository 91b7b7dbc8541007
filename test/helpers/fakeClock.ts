// A Clock for unit tests: time moves only when the test says so, timers fire in order as it
// advances, and sleep() is a timer like any other. No real waiting, no timing asserts.
import type { Clock, TimerHandle } from '../../miner/clock.ts'

interface Timer { id: number, at: number, fn: () => void }

/** Lets pending promise callbacks run (a macrotask turn, not a sleep). */
export async function flush (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve))
}

export class FakeClock implements Clock {
  wall: number
  mono = 0
  private timers: Timer[] = []
  private nextId = 1

  constructor (startMs = Date.parse('2025-01-01T00:00:00Z')) { this.wall = startMs }

  now = (): number => this.wall
  monotonicMs = (): number => this.mono
  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    const t = { id: this.nextId++, at: this.wall + Math.max(0, ms), fn }
    this.timers.push(t)
    return t.id
  }

  clearTimeout = (h: TimerHandle): void => { this.timers = this.timers.filter(t => t.id !== h) }
  sleep = async (ms: number): Promise<void> => { await new Promise<void>(resolve => this.setTimeout(resolve, ms)) }

  get pendingTimers (): number { return this.timers.length }

  /** Moves both clocks forward by ms, firing the timers that fall due in order, with flushes between. */
  async advance (ms: number): Promise<void> {
    const end = this.wall + ms
    for (;;) {
      await flush() // let pending work reach its next timer first
      const due = this.timers.filter(t => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0]
      if (due === undefined) break
      this.timers = this.timers.filter(t => t !== due)
      this.mono += due.at - this.wall
      this.wall = due.at
      due.fn()
    }
    this.mono += end - this.wall
    this.wall = end
    await flush()
  }

  /** Moves the clocks without firing timers (as when the event loop is late). */
  jump (ms: number): void { this.wall += ms; this.mono += ms }
}
