// Argument parsers shared by the `aitbc` commands (commander).
import { InvalidArgumentError } from 'commander'
import { parseAitbc } from '../node/core/amount.ts'
import { JOB_ID_RE } from '../node/core/tx.ts'
import { CliError } from './output.ts'

/** An AITBC amount typed by a person ("12.5"), as uaitbc. */
export function amountArg (v: string): bigint {
  try { return parseAitbc(v) } catch (e) { throw new InvalidArgumentError((e as Error).message) }
}

export function intArg (min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`)
    return Number(v)
  }
}

export function floatArg (v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('must be a number')
  return n
}

/** A comma-separated list with at least one entry. */
export function listArg (what: string) {
  return (v: string): string[] => {
    const list = v.split(',').map(s => s.trim()).filter(s => s !== '')
    if (list.length === 0) throw new InvalidArgumentError(`give at least one ${what}`)
    return list
  }
}

/** The same as amountArg for a value read inside an action (a positional argument). */
export function amountValue (v: string, what = 'amount'): bigint {
  try { return parseAitbc(v) } catch (e) { throw new CliError(`${what}: ${(e as Error).message}`) }
}

/** A job id typed as a positional argument: job_ and 16 hex digits. */
export function jobIdValue (v: string): string {
  if (!JOB_ID_RE.test(v)) throw new CliError(`"${v}" is not a job id (job_ + 16 hex digits)`)
  return v
}
