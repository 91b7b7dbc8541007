// Small pieces of the soak run: a stop flag with pacing waits, a seeded random source, and the
// list of violations.

/** A stop flag. `pace` waits are for pacing (load rate, kill interval, poll period) and end at once on stop. */
export class Stopper {
  stopped = false
  private readonly waiters = new Set<() => void>()

  stop (): void {
    this.stopped = true
    for (const w of this.waiters) w()
    this.waiters.clear()
  }

  async pace (ms: number): Promise<void> {
    if (this.stopped || ms <= 0) return
    await new Promise<void>(resolve => {
      const done = (): void => { clearTimeout(timer); this.waiters.delete(done); resolve() }
      const timer = setTimeout(done, ms)
      this.waiters.add(done)
    })
  }
}

/** mulberry32: a small seeded generator, so that a seed repeats the same victims. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type ViolationKind = 'fork' | 'lost-block' | 'lost-tx' | 'supply' | 'liveness' | 'recovery' | 'restart' | 'harness'

export interface Violation<K extends string = ViolationKind> { atSec: number, kind: K, message: string }

/** Violations, each reported once per key; at most `cap` kept per kind (the rest are counted). The soak's kinds by default; the fuzz run has its own. */
export class Violations<K extends string = ViolationKind> {
  readonly list: Array<Violation<K>> = []
  readonly dropped = new Map<K, number>()
  private readonly keys = new Set<string>()
  private readonly perKind = new Map<K, number>()

  constructor (private readonly startedAt: number, private readonly onAdd: (v: Violation<K>) => void = () => {}, private readonly cap = 50) {}

  add (kind: K, key: string, message: string): void {
    const k = `${kind}/${key}`
    if (this.keys.has(k)) return
    this.keys.add(k)
    const n = this.perKind.get(kind) ?? 0
    this.perKind.set(kind, n + 1)
    if (n >= this.cap) { this.dropped.set(kind, (this.dropped.get(kind) ?? 0) + 1); return }
    const v = { atSec: Math.round((Date.now() - this.startedAt) / 100) / 10, kind, message }
    this.list.push(v)
    this.onAdd(v)
  }

  get count (): number { return this.list.length + [...this.dropped.values()].reduce((a, b) => a + b, 0) }
}

export function errorText (e: unknown): string { return e instanceof Error ? e.message : String(e) }
