// CometBFT event query language (libs/pubsub/query, v0.38), as used by `tx_search`,
// `block_search` and the WebSocket `subscribe` method.
//
//   query     = condition { "AND" condition }
//   condition = key ( op value | "EXISTS" )
//   op        = "=" | "<" | "<=" | ">" | ">=" | "CONTAINS"
//   value     = 'string' | number | "DATE" yyyy-mm-dd | "TIME" yyyy-mm-ddThh:mm:ss(Z|±hh:mm)
//
// Keys are composite event keys ("tm.event", "tx.height", "transfer.recipient"): a letter or "_"
// followed by letters, digits, "_", ".", "-" or "/". Keywords are case-sensitive, as in CometBFT.
// `<`, `<=`, `>`, `>=` take a number, DATE or TIME; CONTAINS takes a string; `=` takes any value.
//
// Pure: no I/O, no clock, no dependence on the local time zone.

export type QueryOp = '=' | '<' | '<=' | '>' | '>=' | 'CONTAINS' | 'EXISTS'

export type QueryValue =
  | { kind: 'string', value: string }
  | { kind: 'number', value: number, text: string }
  | { kind: 'date' | 'time', value: number /* epoch ms */, text: string }

export interface Condition { key: string, op: QueryOp, value?: QueryValue }

export interface Query { conditions: Condition[], text: string }

export class QueryError extends Error {
  code = 'QUERY_INVALID' as const
  constructor (message: string) {
    super(message)
    this.name = 'QueryError'
  }
}

/** Composite key ("transfer.recipient", "tm.event", "tx.height") -> all values it has in the event set. */
export type EventMap = Map<string, string[]>

const MAX_QUERY_LENGTH = 1024
const MAX_CONDITIONS = 32

const KEY_RE = /[\p{L}_][\p{L}\p{Nd}_.\/-]*/uy
const WORD_CHAR_RE = /[\p{L}\p{Nd}_.\/-]/u
const NUMBER_RE = /-?\d+(?:\.\d+)?/y
const OP_CHARS_RE = /[<>=!~]+/y
const DATE_TIME_TEXT_RE = /[0-9A-Za-z:+.\-]+/y
const KEYWORDS = new Set(['AND', 'CONTAINS', 'EXISTS'])
const COMPARE_OPS = new Set<string>(['=', '<', '<=', '>', '>='])

function fail (message: string, pos?: number): never {
  throw new QueryError(`query: ${message}${pos === undefined ? '' : ` at position ${pos}`}`)
}

/** A short excerpt of the input at `pos`, for error messages. */
function snippet (s: string, pos: number): string {
  const m = /\S+/y
  m.lastIndex = pos
  const word = m.exec(s)?.[0] ?? s.slice(pos, pos + 1)
  return word.length > 20 ? `${word.slice(0, 20)}...` : word
}

function matchAt (re: RegExp, s: string, pos: number): string | undefined {
  re.lastIndex = pos
  return re.exec(s)?.[0]
}

/** Parses a query; throws QueryError naming what is wrong and where (0-based position). */
export function parseQuery (text: string): Query {
  if (typeof text !== 'string') fail('query must be a string')
  if (text.length > MAX_QUERY_LENGTH) fail(`too long (${text.length} characters, at most ${MAX_QUERY_LENGTH})`)
  if (text.trim() === '') fail('empty query')

  const s = text
  let i = 0
  const skipWs = (): void => { while (i < s.length && /\s/.test(s[i]!)) i++ }
  const found = (): string => i >= s.length ? 'end of query' : `'${snippet(s, i)}'`

  const conditions: Condition[] = []
  for (;;) {
    skipWs()
    if (conditions.length >= MAX_CONDITIONS) fail(`too many conditions (at most ${MAX_CONDITIONS})`, i)

    // key
    const keyPos = i
    const key = matchAt(KEY_RE, s, i)
    if (key === undefined) {
      const after = conditions.length > 0 ? ' after AND' : ''
      fail(`expected a key${after}, found ${found()}`, i)
    }
    if (KEYWORDS.has(key)) fail(`expected a key, found keyword '${key}'`, keyPos)
    i += key.length

    // operator
    skipWs()
    const opPos = i
    let op: QueryOp
    const symbolic = matchAt(OP_CHARS_RE, s, i)
    if (symbolic !== undefined) {
      if (!COMPARE_OPS.has(symbolic)) fail(`unknown operator '${symbolic}' after '${key}' (expected =, <, <=, >, >=, CONTAINS or EXISTS)`, opPos)
      op = symbolic as QueryOp
      i += symbolic.length
    } else {
      const word = matchAt(KEY_RE, s, i)
      if (word === 'CONTAINS' || word === 'EXISTS') {
        op = word
        i += word.length
      } else if (i >= s.length) {
        fail(`expected an operator after '${key}'`, i)
      } else {
        const hint = word !== undefined && (word.toUpperCase() === 'CONTAINS' || word.toUpperCase() === 'EXISTS')
          ? ' (keywords are case-sensitive)'
          : ' (expected =, <, <=, >, >=, CONTAINS or EXISTS)'
        fail(`unknown operator '${snippet(s, i)}' after '${key}'${hint}`, opPos)
      }
    }

    if (op === 'EXISTS') {
      conditions.push({ key, op })
    } else {
      skipWs()
      const valuePos = i
      const value = parseValue(s, i, `${key} ${op}`)
      i = value.end
      const v = value.value
      if (op === 'CONTAINS' && v.kind !== 'string') {
        fail(`CONTAINS needs a 'string' value, not a ${v.kind === 'number' ? 'number' : v.kind.toUpperCase()}`, valuePos)
      }
      if (op !== '=' && op !== 'CONTAINS' && v.kind === 'string') {
        fail(`operator ${op} needs a number, DATE or TIME value, not a string`, valuePos)
      }
      conditions.push({ key, op, value: v })
    }

    // AND or end
    skipWs()
    if (i >= s.length) break
    const andPos = i
    const word = matchAt(KEY_RE, s, i)
    if (word === 'AND') {
      i += 3
      continue
    }
    if (word === 'OR') fail('OR is not supported (only AND)', andPos)
    if (word?.toUpperCase() === 'AND') fail(`expected AND, found '${word}' (keywords are case-sensitive)`, andPos)
    fail(`expected AND or end of query, found ${found()}`, andPos)
  }

  return { conditions, text }
}

function parseValue (s: string, pos: number, context: string): { value: QueryValue, end: number } {
  if (pos >= s.length) fail(`expected a value after '${context}'`, pos)
  const ch = s[pos]!

  if (ch === '\'') {
    const close = s.indexOf('\'', pos + 1)
    if (close < 0) fail('unterminated string starting', pos)
    return { value: { kind: 'string', value: s.slice(pos + 1, close) }, end: close + 1 }
  }

  if (ch === '-' || (ch >= '0' && ch <= '9')) {
    const num = matchAt(NUMBER_RE, s, pos)
    const end = pos + (num?.length ?? 0)
    if (num === undefined || (end < s.length && WORD_CHAR_RE.test(s[end]!))) {
      fail(`invalid number '${snippet(s, pos)}' after '${context}'`, pos)
    }
    return { value: { kind: 'number', value: Number(num), text: num }, end }
  }

  const word = matchAt(KEY_RE, s, pos)
  if (word === 'DATE' || word === 'TIME') {
    let i = pos + word.length
    const wsStart = i
    while (i < s.length && /\s/.test(s[i]!)) i++
    const litPos = i
    const lit = i > wsStart ? matchAt(DATE_TIME_TEXT_RE, s, i) : undefined
    if (lit === undefined) {
      fail(`expected a ${word === 'DATE' ? 'date (YYYY-MM-DD)' : 'timestamp (YYYY-MM-DDThh:mm:ssZ)'} after ${word}`, litPos)
    }
    const kind = word === 'DATE' ? 'date' : 'time'
    const t = word === 'DATE' ? parseDate(lit) : parseTimestamp(lit, false)
    if (t === undefined) {
      fail(word === 'DATE'
        ? `invalid DATE '${lit}' (expected YYYY-MM-DD)`
        : `invalid TIME '${lit}' (expected RFC 3339, e.g. 2013-05-03T14:45:00Z)`, litPos)
    }
    const year = Number(lit.slice(0, 4))
    if (year < 1900 || year > 2999) fail(`${word} year ${year} out of range (1900-2999)`, litPos)
    return { value: { kind, value: t.ms, text: lit }, end: litPos + lit.length }
  }

  if (word !== undefined) {
    fail(`invalid value '${snippet(s, pos)}' after '${context}' (strings must be single-quoted)`, pos)
  }
  fail(`expected a value after '${context}', found '${snippet(s, pos)}'`, pos)
}

// ---------------------------------------------------------------------------------------------
// Dates and times (strict ISO 8601 / RFC 3339, computed in UTC so the local zone never matters)

interface Instant { ms: number, subMs: boolean /* non-zero digits below the millisecond */ }

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/
const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/

function daysInMonth (y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28
  return [4, 6, 9, 11].includes(m) ? 30 : 31
}

function utcMs (y: number, mo: number, d: number, h: number, mi: number, sec: number, ms: number): number {
  const date = new Date(0)
  date.setUTCFullYear(y, mo - 1, d) // unlike Date.UTC, does not map years 0-99 to 1900-1999
  date.setUTCHours(h, mi, sec, ms)
  return date.getTime()
}

function parseDate (text: string): Instant | undefined {
  const m = DATE_RE.exec(text)
  if (m === null) return undefined
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined
  return { ms: utcMs(y, mo, d, 0, 0, 0, 0), subMs: false }
}

function parseTimestamp (text: string, allowFraction: boolean): Instant | undefined {
  const m = TIME_RE.exec(text)
  if (m === null) return undefined
  const [y, mo, d, h, mi, sec] = [1, 2, 3, 4, 5, 6].map(k => Number(m[k]))
  const frac = m[7]
  const zone = m[8]!
  if (frac !== undefined && !allowFraction) return undefined
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysInMonth(y!, mo!) || h! > 23 || mi! > 59 || sec! > 59) return undefined
  let offsetMin = 0
  if (zone !== 'Z' && zone !== 'z') {
    const oh = Number(zone.slice(1, 3))
    const om = Number(zone.slice(4, 6))
    if (oh > 23 || om > 59) return undefined
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om)
  }
  const fracDigits = frac ?? ''
  const ms = Number(fracDigits.slice(0, 3).padEnd(3, '0'))
  return {
    ms: utcMs(y!, mo!, d!, h!, mi!, sec!, ms) - offsetMin * 60_000,
    subMs: /[1-9]/.test(fracDigits.slice(3)),
  }
}

/** An event value as an instant: a date (UTC midnight) or an RFC 3339 timestamp. */
function parseEventTime (s: string): Instant | undefined {
  return parseDate(s) ?? parseTimestamp(s, true)
}

function compareInstant (a: Instant, bMs: number): number {
  if (a.ms !== bMs) return a.ms < bMs ? -1 : 1
  return a.subMs ? 1 : 0
}

// ---------------------------------------------------------------------------------------------
// Exact decimal comparison (no float rounding, so 9007199254740993 != 9007199254740992)

interface Decimal { neg: boolean, int: string, frac: string }

function toDecimal (text: string): Decimal | undefined {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text)
  if (m === null) return undefined
  const int = m[2]!.replace(/^0+/, '')
  const frac = (m[3] ?? '').replace(/0+$/, '')
  return { neg: m[1] === '-' && (int !== '' || frac !== ''), int, frac }
}

/** CometBFT reads the leading number of an event value, so "8atom" is 8; "atom" is not a number. */
function eventDecimal (s: string): Decimal | undefined {
  const m = /^-?\d+(?:\.\d+)?/.exec(s)
  return m === null ? undefined : toDecimal(m[0])
}

function compareDecimal (a: Decimal, b: Decimal): number {
  if (a.neg !== b.neg) return a.neg ? -1 : 1
  let c: number
  if (a.int.length !== b.int.length) c = a.int.length < b.int.length ? -1 : 1
  else if (a.int !== b.int) c = a.int < b.int ? -1 : 1
  else {
    const n = Math.max(a.frac.length, b.frac.length)
    const fa = a.frac.padEnd(n, '0')
    const fb = b.frac.padEnd(n, '0')
    c = fa === fb ? 0 : fa < fb ? -1 : 1
  }
  return a.neg ? -c : c
}

function opHolds (op: QueryOp, cmp: number): boolean {
  switch (op) {
    case '=': return cmp === 0
    case '<': return cmp < 0
    case '<=': return cmp <= 0
    case '>': return cmp > 0
    case '>=': return cmp >= 0
    default: return false
  }
}

// ---------------------------------------------------------------------------------------------
// Matching

function matchesValue (c: Condition, s: string): boolean {
  if (c.op === 'EXISTS') return true
  const v = c.value
  if (v === undefined) return false
  switch (v.kind) {
    case 'string':
      if (c.op === 'CONTAINS') return s.includes(v.value)
      return c.op === '=' && s === v.value
    case 'number': {
      if (c.op === 'CONTAINS') return false
      const want = toDecimal(v.text) ?? toDecimal(String(v.value))
      const got = eventDecimal(s)
      return want !== undefined && got !== undefined && opHolds(c.op, compareDecimal(got, want))
    }
    case 'date':
    case 'time': {
      if (c.op === 'CONTAINS') return false
      const got = parseEventTime(s)
      return got !== undefined && opHolds(c.op, compareInstant(got, v.value))
    }
  }
}

/** The values a condition is tested against: the key's values, plus "" if the key names an event type
 *  (as in CometBFT, where `transfer EXISTS` matches when any `transfer.*` attribute is present). */
function candidates (key: string, events: EventMap): string[] {
  const values = events.get(key) ?? []
  const prefix = `${key}.`
  for (const k of events.keys()) {
    if (k.startsWith(prefix) && k.lastIndexOf('.') === key.length) return [...values, '']
  }
  return values
}

/** True if every condition matches at least one value of its key. */
export function matchQuery (q: Query, events: EventMap): boolean {
  if (q.conditions.length === 0) return false
  return q.conditions.every(c => candidates(c.key, events).some(s => matchesValue(c, s)))
}

/** The string form of the first `=` condition on `key`, if any (used to pick an index). */
export function equalityValue (q: Query, key: string): string | undefined {
  for (const c of q.conditions) {
    if (c.key !== key || c.op !== '=' || c.value === undefined) continue
    return c.value.kind === 'string' ? c.value.value : c.value.text
  }
  return undefined
}

/** Inclusive integer bounds implied by the numeric = < <= > >= conditions on `key` (e.g. tx.height).
 *  Exclusive bounds are tightened to integers (`< 10` gives max 9, `> 2.5` gives min 3); when the
 *  conditions contradict each other, min > max. Non-numeric conditions on the key are ignored. */
export function numericRange (q: Query, key: string): { min?: number, max?: number } {
  let min: number | undefined
  let max: number | undefined
  const raiseMin = (n: number): void => { if (min === undefined || n > min) min = n }
  const lowerMax = (n: number): void => { if (max === undefined || n < max) max = n }
  for (const c of q.conditions) {
    if (c.key !== key || c.value?.kind !== 'number' || !Number.isFinite(c.value.value)) continue
    const v = c.value.value
    switch (c.op) {
      case '=': raiseMin(Math.ceil(v)); lowerMax(Math.floor(v)); break
      case '<': lowerMax(Math.ceil(v) - 1); break
      case '<=': lowerMax(Math.floor(v)); break
      case '>': raiseMin(Math.floor(v) + 1); break
      case '>=': raiseMin(Math.ceil(v)); break
      default: break
    }
  }
  const out: { min?: number, max?: number } = {}
  if (min !== undefined) out.min = min
  if (max !== undefined) out.max = max
  return out
}
