// Clock: the time sources of the miner, injected so that deadline and retry logic can be tested
// with a fake clock. Chain deadlines are wall-clock times (now); durations such as compute_ms use
// a monotonic clock (monotonicMs).

export type TimerHandle = unknown

export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now: () => number
  /** Monotonic milliseconds, for measuring durations. */
  monotonicMs: () => number
  setTimeout: (fn: () => void, ms: number) => TimerHandle
  clearTimeout: (t: TimerHandle) => void
  sleep: (ms: number) => Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: t => clearTimeout(t as NodeJS.Timeout),
  sleep: async ms => await new Promise(resolve => setTimeout(resolve, ms)),
}
