import { expect } from 'chai'
import {
  parseQuery, matchQuery, equalityValue, numericRange, QueryError,
  type Condition, type EventMap,
} from '../../node/core/query.ts'

const ev = (o: Record<string, string[]>): EventMap => new Map(Object.entries(o))

describe('query: parseQuery (valid)', () => {
  const cases: Array<{ q: string, want: Condition[] }> = [
    { q: "tm.event='Tx'", want: [{ key: 'tm.event', op: '=', value: { kind: 'string', value: 'Tx' } }] },
    { q: "  tm.event = 'NewBlock'  ", want: [{ key: 'tm.event', op: '=', value: { kind: 'string', value: 'NewBlock' } }] },
    { q: 'tx.height=5', want: [{ key: 'tx.height', op: '=', value: { kind: 'number', value: 5, text: '5' } }] },
    { q: 'tx.height <= 10', want: [{ key: 'tx.height', op: '<=', value: { kind: 'number', value: 10, text: '10' } }] },
    { q: 'tx.height<10', want: [{ key: 'tx.height', op: '<', value: { kind: 'number', value: 10, text: '10' } }] },
    { q: 'tx.height>=10', want: [{ key: 'tx.height', op: '>=', value: { kind: 'number', value: 10, text: '10' } }] },
    { q: 'tx.height >\t7', want: [{ key: 'tx.height', op: '>', value: { kind: 'number', value: 7, text: '7' } }] },
    { q: 'x.fee = -3.50', want: [{ key: 'x.fee', op: '=', value: { kind: 'number', value: -3.5, text: '-3.50' } }] },
    { q: 'x.fee>=0.25', want: [{ key: 'x.fee', op: '>=', value: { kind: 'number', value: 0.25, text: '0.25' } }] },
    { q: "transfer.recipient CONTAINS 'aitbc1'", want: [{ key: 'transfer.recipient', op: 'CONTAINS', value: { kind: 'string', value: 'aitbc1' } }] },
    { q: 'assign.miner EXISTS', want: [{ key: 'assign.miner' , op: 'EXISTS' }] },
    { q: "a.b = ''", want: [{ key: 'a.b', op: '=', value: { kind: 'string', value: '' } }] },
    { q: "a.b = 'with spaces AND = < stuff'", want: [{ key: 'a.b', op: '=', value: { kind: 'string', value: 'with spaces AND = < stuff' } }] },
    { q: 'block.time >= DATE 2013-05-03', want: [{ key: 'block.time', op: '>=', value: { kind: 'date', value: Date.UTC(2013, 4, 3), text: '2013-05-03' } }] },
    { q: 'block.time < TIME 2013-05-03T14:45:00Z', want: [{ key: 'block.time', op: '<', value: { kind: 'time', value: Date.UTC(2013, 4, 3, 14, 45), text: '2013-05-03T14:45:00Z' } }] },
    { q: 'block.time = TIME 2013-05-03T14:45:00+02:00', want: [{ key: 'block.time', op: '=', value: { kind: 'time', value: Date.UTC(2013, 4, 3, 12, 45), text: '2013-05-03T14:45:00+02:00' } }] },
    { q: 'my_mod/v1.some-key = 1', want: [{ key: 'my_mod/v1.some-key', op: '=', value: { kind: 'number', value: 1, text: '1' } }] },
    {
      q: "tm.event = 'Tx' AND tx.height > 5 AND transfer.recipient EXISTS",
      want: [
        { key: 'tm.event', op: '=', value: { kind: 'string', value: 'Tx' } },
        { key: 'tx.height', op: '>', value: { kind: 'number', value: 5, text: '5' } },
        { key: 'transfer.recipient', op: 'EXISTS' },
      ],
    },
    {
      q: "a.x='1'AND b.y EXISTS\nAND\tc.z<2",
      want: [
        { key: 'a.x', op: '=', value: { kind: 'string', value: '1' } },
        { key: 'b.y', op: 'EXISTS' },
        { key: 'c.z', op: '<', value: { kind: 'number', value: 2, text: '2' } },
      ],
    },
  ]
  for (const c of cases) {
    it(JSON.stringify(c.q), () => {
      const q = parseQuery(c.q)
      expect(q.conditions).to.deep.equal(c.want)
      expect(q.text).to.equal(c.q)
    })
  }

  it('accepts exactly 32 conditions and 1024 characters', () => {
    const q32 = Array.from({ length: 32 }, (_, i) => `k.a${i} EXISTS`).join(' AND ')
    expect(parseQuery(q32).conditions).to.have.length(32)
    const long = `a.b = '${'x'.repeat(1024 - 8)}'`
    expect(long).to.have.length(1024)
    expect(parseQuery(long).conditions).to.have.length(1)
  })
})

describe('query: parseQuery (invalid)', () => {
  const cases: Array<{ name: string, q: string, err: RegExp }> = [
    { name: 'empty', q: '', err: /^query: empty query$/ },
    { name: 'whitespace only', q: '   \t', err: /^query: empty query$/ },
    { name: 'too long', q: `a.b = '${'x'.repeat(1100)}'`, err: /^query: too long \(1108 characters, at most 1024\)$/ },
    { name: 'too many conditions', q: Array.from({ length: 33 }, (_, i) => `k.a${i} EXISTS`).join(' AND '), err: /too many conditions \(at most 32\) at position \d+$/ },
    { name: 'unterminated string', q: "tm.event = 'Tx", err: /^query: unterminated string starting at position 11$/ },
    { name: 'unterminated string after AND', q: "a.b = 1 AND c.d = 'x AND e.f = 2", err: /unterminated string starting at position 18$/ },
    { name: 'missing operator', q: 'tx.height', err: /^query: expected an operator after 'tx.height' at position 9$/ },
    { name: 'unknown operator !=', q: 'tx.height != 5', err: /^query: unknown operator '!=' after 'tx.height' .* at position 10$/ },
    { name: 'unknown operator ==', q: 'tx.height == 5', err: /unknown operator '=='.* at position 10$/ },
    { name: 'unknown word operator', q: "a.b LIKE 'x'", err: /unknown operator 'LIKE' after 'a.b'.* at position 4$/ },
    { name: 'lowercase operator', q: "a.b contains 'x'", err: /unknown operator 'contains'.*case-sensitive.* at position 4$/ },
    { name: 'missing value', q: 'tx.height =', err: /^query: expected a value after 'tx.height =' at position 11$/ },
    { name: 'missing value before AND', q: 'tx.height > AND a.b EXISTS', err: /invalid value 'AND' after 'tx.height >'.* at position 12$/ },
    { name: 'unquoted string value', q: 'tm.event = Tx', err: /invalid value 'Tx' after 'tm.event ='.*single-quoted.* at position 11$/ },
    { name: 'double-quoted string', q: 'tm.event = "Tx"', err: /expected a value after 'tm.event =', found '"Tx"' at position 11$/ },
    { name: 'malformed number', q: 'tx.height = 5abc', err: /invalid number '5abc'.* at position 12$/ },
    { name: 'trailing garbage', q: "tm.event = 'Tx' garbage", err: /^query: expected AND or end of query, found 'garbage' at position 16$/ },
    { name: 'trailing symbol', q: 'tx.height = 5 )', err: /expected AND or end of query, found '\)' at position 14$/ },
    { name: 'OR is not supported', q: "tm.event = 'Tx' OR tm.event = 'NewBlock'", err: /^query: OR is not supported \(only AND\) at position 16$/ },
    { name: 'lowercase and', q: "tm.event = 'Tx' and tx.height = 1", err: /expected AND, found 'and' \(keywords are case-sensitive\) at position 16$/ },
    { name: 'dangling AND', q: "tm.event = 'Tx' AND", err: /expected a key after AND, found end of query at position 19$/ },
    { name: 'double AND', q: "tm.event = 'Tx' AND AND a.b EXISTS", err: /expected a key, found keyword 'AND' at position 20$/ },
    { name: 'missing key', q: "= 'Tx'", err: /expected a key, found '=' at position 0$/ },
    { name: 'key starting with a digit', q: '1abc = 2', err: /expected a key, found '1abc' at position 0$/ },
    { name: 'string with <', q: "a.b < 'x'", err: /operator < needs a number, DATE or TIME value, not a string at position 6$/ },
    { name: 'number with CONTAINS', q: 'a.b CONTAINS 5', err: /CONTAINS needs a 'string' value, not a number at position 13$/ },
    { name: 'EXISTS with a value', q: "a.b EXISTS 'x'", err: /expected AND or end of query, found ''x'' at position 11$/ },
    { name: 'invalid DATE', q: 'a.b > DATE 2013-13-03', err: /invalid DATE '2013-13-03' \(expected YYYY-MM-DD\) at position 11$/ },
    { name: 'DATE day out of range', q: 'a.b > DATE 2013-02-29', err: /invalid DATE '2013-02-29'/ },
    { name: 'DATE without a date', q: 'a.b > DATE', err: /expected a date \(YYYY-MM-DD\) after DATE at position 10$/ },
    { name: 'DATE year out of range', q: 'a.b > DATE 1899-12-31', err: /DATE year 1899 out of range \(1900-2999\) at position 11$/ },
    { name: 'TIME without zone', q: 'a.b > TIME 2013-05-03T14:45:00', err: /invalid TIME '2013-05-03T14:45:00' .* at position 11$/ },
    { name: 'TIME with only a date', q: 'a.b > TIME 2013-05-03', err: /invalid TIME '2013-05-03'/ },
  ]
  for (const c of cases) {
    it(c.name, () => {
      let thrown: unknown
      try { parseQuery(c.q) } catch (e) { thrown = e }
      expect(thrown, 'should throw').to.be.instanceOf(QueryError)
      const err = thrown as QueryError
      expect(err.code).to.equal('QUERY_INVALID')
      expect(err.message).to.match(c.err)
    })
  }

  it('QueryError is an Error with code QUERY_INVALID', () => {
    const e = new QueryError('query: x')
    expect(e).to.be.instanceOf(Error)
    expect(e.code).to.equal('QUERY_INVALID')
    expect(e.name).to.equal('QueryError')
  })
})

describe('query: matchQuery', () => {
  const events = ev({
    'tm.event': ['Tx'],
    'tx.height': ['5'],
    'tx.hash': ['ABCDEF0123'],
    'transfer.recipient': ['aitbc1alice', 'aitbc1bob'],
    'transfer.amount': ['100aitbc', '7'],
    'transfer.sender': ['aitbc1carol'],
    'reward.fee': ['-2.5'],
    'reward.big': ['9007199254740993'],
    'block.time': ['2013-05-03T14:45:00.250Z'],
    'block.day': ['2013-05-03'],
    'bad.time': ['yesterday'],
    'empty.value': [''],
    'no.values': [],
  })

  const cases: Array<{ q: string, want: boolean }> = [
    // = with strings
    { q: "tm.event = 'Tx'", want: true },
    { q: "tm.event = 'tx'", want: false },
    { q: "tm.event = 'T'", want: false },
    { q: "transfer.recipient = 'aitbc1bob'", want: true }, // any value of the key
    { q: "transfer.recipient = 'aitbc1eve'", want: false },
    { q: "tx.height = '5'", want: true },
    { q: "tx.height = '05'", want: false }, // string compare is exact
    { q: "empty.value = ''", want: true },
    // = with numbers compares numerically
    { q: 'tx.height = 5', want: true },
    { q: 'tx.height = 5.0', want: true },
    { q: 'tx.height = 6', want: false },
    { q: 'tm.event = 5', want: false }, // non-numeric value never matches a number
    { q: 'reward.fee = -2.5', want: true },
    { q: 'reward.big = 9007199254740993', want: true }, // exact, no float rounding
    { q: 'reward.big = 9007199254740992', want: false },
    { q: 'transfer.amount = 100', want: true }, // CometBFT reads the leading number of "100aitbc"
    // < <= > >=
    { q: 'tx.height < 5', want: false },
    { q: 'tx.height < 6', want: true },
    { q: 'tx.height <= 5', want: true },
    { q: 'tx.height <= 4.99', want: false },
    { q: 'tx.height > 4', want: true },
    { q: 'tx.height > 5', want: false },
    { q: 'tx.height >= 5', want: true },
    { q: 'tx.height >= 10', want: false },
    { q: 'transfer.amount > 50', want: true }, // 100aitbc
    { q: 'transfer.amount < 10', want: true }, // 7
    { q: 'transfer.amount > 1000', want: false },
    { q: 'reward.fee < 0', want: true },
    { q: 'reward.fee > -3', want: true },
    { q: 'reward.fee < -2.5', want: false },
    { q: 'tm.event > 0', want: false },
    { q: 'tm.event < 0', want: false },
    // CONTAINS
    { q: "transfer.recipient CONTAINS 'bob'", want: true },
    { q: "transfer.recipient CONTAINS 'aitbc1'", want: true },
    { q: "transfer.recipient CONTAINS 'eve'", want: false },
    { q: "tx.hash CONTAINS 'CDE'", want: true },
    { q: "tx.hash CONTAINS 'cde'", want: false },
    { q: "tm.event CONTAINS ''", want: true },
    // EXISTS
    { q: 'transfer.recipient EXISTS', want: true },
    { q: 'assign.miner EXISTS', want: false },
    { q: 'no.values EXISTS', want: false },
    { q: 'empty.value EXISTS', want: true },
    { q: 'transfer EXISTS', want: true }, // an event type, as in CometBFT
    { q: 'transf EXISTS', want: false },
    // missing keys
    { q: "assign.miner = 'aitbc1x'", want: false },
    { q: 'assign.height > 0', want: false },
    { q: "assign.miner CONTAINS ''", want: false },
    // DATE / TIME
    { q: 'block.time > TIME 2013-05-03T14:45:00Z', want: true }, // .250 after
    { q: 'block.time = TIME 2013-05-03T14:45:00Z', want: false },
    { q: 'block.time < TIME 2013-05-03T16:45:00+02:00', want: false }, // same instant 14:45Z
    { q: 'block.time <= TIME 2013-05-03T14:46:00Z', want: true },
    { q: 'block.time >= DATE 2013-05-03', want: true },
    { q: 'block.time < DATE 2013-05-04', want: true },
    { q: 'block.day = DATE 2013-05-03', want: true },
    { q: 'block.day = TIME 2013-05-03T00:00:00Z', want: true },
    { q: 'block.day > DATE 2013-05-03', want: false },
    { q: 'bad.time < DATE 2999-01-01', want: false },
    { q: 'tx.height > DATE 1900-01-01', want: false },
    // AND: all conditions must match
    { q: "tm.event = 'Tx' AND tx.height = 5", want: true },
    { q: "tm.event = 'Tx' AND tx.height = 6", want: false },
    { q: "tm.event = 'Tx' AND tx.height >= 5 AND tx.height <= 5 AND transfer.recipient CONTAINS 'alice'", want: true },
    { q: "tm.event = 'Tx' AND assign.miner EXISTS", want: false },
    // each condition may be satisfied by a different value of the same key
    { q: "transfer.recipient = 'aitbc1alice' AND transfer.recipient = 'aitbc1bob'", want: true },
    { q: 'transfer.amount > 50 AND transfer.amount < 10', want: true },
  ]
  for (const c of cases) {
    it(`${c.want ? 'matches' : 'rejects'} ${c.q}`, () => {
      expect(matchQuery(parseQuery(c.q), events)).to.equal(c.want)
    })
  }

  it('never matches an empty event set', () => {
    expect(matchQuery(parseQuery('a.b EXISTS'), new Map())).to.equal(false)
  })

  it('works with hand-built queries', () => {
    const q = { text: '', conditions: [{ key: 'tx.height', op: '>' as const, value: { kind: 'number' as const, value: 4, text: '4' } }] }
    expect(matchQuery(q, events)).to.equal(true)
    expect(matchQuery({ text: '', conditions: [] }, events)).to.equal(false)
  })
})

describe('query: equalityValue', () => {
  const cases: Array<{ q: string, key: string, want: string | undefined }> = [
    { q: "tx.hash = 'ABCDEF'", key: 'tx.hash', want: 'ABCDEF' },
    { q: 'tx.height = 5', key: 'tx.height', want: '5' },
    { q: 'tx.height = 5.50', key: 'tx.height', want: '5.50' },
    { q: "tm.event = 'Tx' AND tx.hash = 'AB'", key: 'tx.hash', want: 'AB' },
    { q: 'block.time = DATE 2013-05-03', key: 'block.time', want: '2013-05-03' },
    { q: "tx.hash CONTAINS 'AB'", key: 'tx.hash', want: undefined },
    { q: 'tx.height >= 5', key: 'tx.height', want: undefined },
    { q: "tm.event = 'Tx'", key: 'tx.hash', want: undefined },
    { q: "transfer.recipient = 'a' AND transfer.recipient = 'b'", key: 'transfer.recipient', want: 'a' },
  ]
  for (const c of cases) {
    it(`${c.q} [${c.key}] -> ${String(c.want)}`, () => {
      expect(equalityValue(parseQuery(c.q), c.key)).to.equal(c.want)
    })
  }
})

describe('query: numericRange', () => {
  const cases: Array<{ q: string, key: string, want: { min?: number, max?: number } }> = [
    { q: 'tx.height = 5', key: 'tx.height', want: { min: 5, max: 5 } },
    { q: 'tx.height > 5', key: 'tx.height', want: { min: 6 } },
    { q: 'tx.height >= 5', key: 'tx.height', want: { min: 5 } },
    { q: 'tx.height < 10', key: 'tx.height', want: { max: 9 } },
    { q: 'tx.height <= 10', key: 'tx.height', want: { max: 10 } },
    { q: 'tx.height > 2.5 AND tx.height < 7.5', key: 'tx.height', want: { min: 3, max: 7 } },
    { q: 'tx.height >= 3 AND tx.height > 4 AND tx.height <= 9 AND tx.height < 20', key: 'tx.height', want: { min: 5, max: 9 } },
    { q: 'tx.height > 10 AND tx.height < 5', key: 'tx.height', want: { min: 11, max: 4 } },
    { q: 'block.height >= 1 AND tx.height <= 3', key: 'block.height', want: { min: 1 } },
    { q: "tm.event = 'Tx'", key: 'tx.height', want: {} },
    { q: "tx.height = '5'", key: 'tx.height', want: {} },
    { q: 'tx.height EXISTS', key: 'tx.height', want: {} },
  ]
  for (const c of cases) {
    it(`${c.q} [${c.key}] -> ${JSON.stringify(c.want)}`, () => {
      expect(numericRange(parseQuery(c.q), c.key)).to.deep.equal(c.want)
    })
  }
})
