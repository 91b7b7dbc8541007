// How much V8 lets the JavaScript heap grow past what survived its last full collection. V8's
// default factor reaches 4 under a steady flow of short-lived objects (a node under load keeps
// 40-50 MB live but grew its heap to 196 MB); 1.3 kept a node at ~1,700-1,900 tx/s under 300 MB
// resident through 200,000 txs (peak 279 MB, 415 MB with V8's default) for a few percent more CPU. AITBC_HEAP_GROWING_PERCENT sets it (0: V8's default).
// This tunes the garbage collector only: no rule of the chain reads it.
import { setFlagsFromString } from 'node:v8'

export const DEFAULT_HEAP_GROWING_PERCENT = 30

/** Applies AITBC_HEAP_GROWING_PERCENT (default 30) to this process; returns the value applied. */
export function tuneHeapGrowth (env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.AITBC_HEAP_GROWING_PERCENT
  const t = raw?.trim() ?? ''
  const pct = t === '' ? DEFAULT_HEAP_GROWING_PERCENT : /^\d{1,4}$/.test(t) ? Number(t) : NaN
  if (!(pct >= 0 && pct <= 1000)) throw new Error(`AITBC_HEAP_GROWING_PERCENT must be an integer from 0 to 1000 (got "${raw}")`)
  if (pct > 0) setFlagsFromString(`--heap-growing-percent=${pct}`)
  return pct
}
