// The fuzz run's one source of randomness: every input gets its own generator, derived from the
// run's seed, its surface and its index, so that `--seed N` makes the same choices again
// whatever order the inputs ran in (and one input can be named as surface#index).
import { seededRandom } from '../soak/util.ts'

/** A 32-bit mix of numbers (FNV-1a over their 32-bit words, then a murmur finaliser). */
export function mix (...parts: number[]): number {
  let h = 0x811c9dc5
  for (const p of parts) {
    for (const w of [p >>> 0, Math.floor(p / 2 ** 32) >>> 0]) {
      h ^= w
      h = Math.imul(h, 0x01000193) >>> 0
    }
  }
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b) >>> 0
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

export function nameId (name: string): number {
  let h = 0
  for (const c of name) h = (Math.imul(h, 31) + (c.codePointAt(0) ?? 0)) >>> 0
  return h
}

export class Rng {
  private readonly next: () => number

  constructor (seed: number) { this.next = seededRandom(seed) }

  /** The generator of input `index` of a surface in the run of `seed`. */
  static forInput (seed: number, surface: string, index: number): Rng { return new Rng(mix(seed, nameId(surface), index)) }

  float (): number { return this.next() }
  /** An integer in [0, n). */
  int (n: number): number { return Math.floor(this.next() * n) }
  /** An integer in [lo, hi]. */
  range (lo: number, hi: number): number { return lo + this.int(hi - lo + 1) }
  chance (p: number): boolean { return this.next() < p }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)] }

  /** One of the options, by weight: [[weight, value], ...]. */
  weighted<T> (options: ReadonlyArray<readonly [number, T]>): T {
    const total = options.reduce((s, [w]) => s + w, 0)
    let r = this.next() * total
    for (const [w, v] of options) { r -= w; if (r < 0) return v }
    return options[options.length - 1][1]
  }

  /** Calls one of the makers, by weight. */
  oneOf<T> (options: ReadonlyArray<readonly [number, () => T]>): T { return this.weighted(options)() }

  bytes (n: number): Uint8Array {
    const b = new Uint8Array(n)
    for (let i = 0; i < n; i++) b[i] = this.int(256)
    return b
  }

  /** A length skewed towards small values, up to max. */
  length (max: number): number {
    return this.weighted([[6, this.int(Math.min(max, 16) + 1)], [3, this.int(Math.min(max, 512) + 1)], [1, this.int(max + 1)]])
  }
}
