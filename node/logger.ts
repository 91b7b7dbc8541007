// Structured logs (pino): level, module, fields. Private keys never reach a log: SigningKey's
// toJSON shows only its address, and nothing logs seeds.
import { pino } from 'pino'

export type Logger = pino.Logger

export function createLogger (opts: { level?: string, name?: string, destination?: number | string } = {}): Logger {
  const level = opts.level ?? process.env.AITBC_LOG_LEVEL ?? 'info'
  return pino({ level, name: opts.name, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(opts.destination ?? 2))
}

export function silentLogger (): Logger { return pino({ level: 'silent' }) }
