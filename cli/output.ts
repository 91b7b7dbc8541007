// CLI output: human lines by default, JSON with --json; errors to stderr with a non-zero exit.
import { RpcClientError, RpcNetworkError } from '../node/rpc/client.ts'

export class CliError extends Error {
  constructor (message: string, readonly exitCode = 1) { super(message); this.name = 'CliError' }
}

export function printJSON (v: unknown): void {
  process.stdout.write(JSON.stringify(v, (_k, x) => typeof x === 'bigint' ? x.toString() : x, 2) + '\n')
}

export function printLines (lines: Array<string | null | undefined>): void {
  process.stdout.write(lines.filter(l => l !== null && l !== undefined).join('\n') + '\n')
}

export function table (rows: Array<Record<string, unknown>>, cols: string[]): string {
  if (rows.length === 0) return '(none)'
  const w = cols.map(c => Math.max(c.length, ...rows.map(r => String(r[c] ?? '').length)))
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(w[i])).join('  ').trimEnd()
  return [line(cols.map(c => c.toUpperCase())), ...rows.map(r => line(cols.map(c => String(r[c] ?? ''))))].join('\n')
}

/** Writes "Error: ..." to stderr and returns the exit code: a CliError's own, else 1. */
export function reportError (e: any): number {
  const msg = e instanceof RpcClientError ? `the node refused the request: ${e.message}` : e instanceof RpcNetworkError ? e.message : e?.message ?? String(e)
  process.stderr.write(`Error: ${msg}\n`)
  return e instanceof CliError ? e.exitCode : 1
}
