// Per-key token buckets for the write endpoints: each key holds up to `perMinute` tokens and
// gets perMinute/60 back every second; a request takes one. Pure apart from the clock it is given.

export interface RateDecision { ok: boolean, remaining: number, retryAfterS: number }

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (readonly perMinute: number, private readonly now: () => number = Date.now) {
    if (!Number.isFinite(perMinute) || perMinute <= 0) throw new Error('the rate limit must be a positive number of requests per minute')
  }

  take (key: string): RateDecision {
    const t = this.now()
    const ratePerMs = this.perMinute / 60_000
    const b = this.buckets.get(key) ?? { tokens: this.perMinute, at: t }
    b.tokens = Math.min(this.perMinute, b.tokens + (t - b.at) * ratePerMs)
    b.at = t
    this.buckets.set(key, b)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return { ok: true, remaining: Math.floor(b.tokens), retryAfterS: 0 }
    }
    return { ok: false, remaining: 0, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / ratePerMs / 1000)) }
  }
}
