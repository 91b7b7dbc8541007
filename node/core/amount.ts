// Token amounts: 1 AITBC = 1,000,000 uaitbc. Integers of uaitbc inside (bigint), decimal
// strings of AITBC for people.

export const UAITBC_PER_AITBC = 1_000_000n
export const MAX_AMOUNT = (1n << 63n) - 1n

/** Parses "12.5" (AITBC) into uaitbc. Throws on anything else: negatives, more than 6 decimals, junk. */
export function parseAitbc (text: string): bigint {
  const s = text.trim()
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s)
  if (m === null) throw new Error(`"${text}" is not an amount (expected e.g. 12.5)`)
  const frac = m[2] ?? ''
  if (frac.length > 6) throw new Error(`"${text}" has more than 6 decimals (1 uaitbc = 0.000001 AITBC)`)
  const v = BigInt(m[1]) * UAITBC_PER_AITBC + BigInt(frac.padEnd(6, '0') || '0')
  if (v > MAX_AMOUNT) throw new Error(`"${text}" is too large`)
  return v
}

/** Formats uaitbc as AITBC with no trailing zeros: 12500000n -> "12.5". */
export function formatAitbc (u: bigint): string {
  const neg = u < 0n
  const a = neg ? -u : u
  const whole = a / UAITBC_PER_AITBC
  const frac = (a % UAITBC_PER_AITBC).toString().padStart(6, '0').replace(/0+$/, '')
  return `${neg ? '-' : ''}${whole}${frac.length > 0 ? '.' + frac : ''}`
}

/** Parses a uaitbc decimal integer string (JSON form). */
export function parseUaitbc (text: unknown, what = 'amount'): bigint {
  if (typeof text === 'bigint') return text
  if (typeof text === 'number' && Number.isSafeInteger(text) && text >= 0) return BigInt(text)
  if (typeof text !== 'string' || !/^\d{1,19}$/.test(text)) throw new Error(`${what} must be a decimal string of uaitbc, got ${JSON.stringify(text)}`)
  const v = BigInt(text)
  if (v > MAX_AMOUNT) throw new Error(`${what} is too large`)
  return v
}
