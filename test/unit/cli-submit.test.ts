// The new `aitbc submit` and `aitbc devnet` inputs, table-driven: chat messages, the model digest,
// the verification rate, the default price caps (never unlimited), the Verified: line; and bad
// input refused in-process before anything reaches a node.
import { expect } from 'chai'
import { CommanderError, type Command } from 'commander'
import { buildProgram } from '../../cli/main.ts'
import type { CliContext } from '../../cli/context.ts'
import { CliError } from '../../cli/output.ts'
import { chatMessages, capsNote, digestArg, messageArg } from '../../cli/commands/submit.ts'
import { rateArg } from '../../cli/commands/devnet.ts'
import { priceCaps } from '../../cli/priceCaps.ts'
import { verifiedLine, FINAL_STATUSES } from '../../cli/jobs.ts'
import type { JobJSON, MinerJSON, VerificationJSON } from '../../node/client.ts'

const D1 = 'a'.repeat(64)
const D2 = 'b'.repeat(64)

function miner (over: Partial<MinerJSON> = {}): MinerJSON {
  return {
    address: 'aitbc1m', models: ['llama3.2:latest'], model_info: [{ name: 'llama3.2:latest', digest: D1, quantization: null, parameter_size: null, context_length: null }],
    price_per_second: '20000', price_in: null, price_out: null, max_num_predict: null, endpoint: null, capacity: 1, stake: '100000000', locked: '0', unbonding: [], active: true, reputation: 5000,
    active_jobs: 0, jobs_completed: 0, jobs_failed: 0, jobs_expired: 0, jobs_verified: 0, jobs_rejected: 0, verifications_run: 0, earned: '0', slashed: '0', registered_height: '1', ...over,
  }
}

/** Every command of the tree throws instead of exiting, and writes its errors here. */
function program (): { p: Command, err: () => string } {
  let err = ''
  const ctx: CliContext = {
    keyring: () => { throw new Error('the keyring was used') },
    client: () => { throw new Error('the node was used') },
    signer: () => { throw new Error('a key was used') },
  }
  const p = buildProgram(ctx)
  const walk = (c: Command): void => { c.exitOverride(); c.configureOutput({ writeErr: s => { err += s }, writeOut: () => {} }); c.commands.forEach(walk) }
  walk(p)
  return { p, err: () => err }
}

async function refusal (argv: string[]): Promise<{ message: string, stderr: string }> {
  const { p, err } = program()
  try {
    await p.parseAsync(['node', 'aitbc', ...argv])
  } catch (e) {
    if (e instanceof CommanderError || e instanceof CliError) return { message: e.message, stderr: err() }
    throw e
  }
  throw new Error(`aitbc ${argv.join(' ')} was accepted`)
}

describe('cli: chat messages', () => {
  const good: Array<[string, { role: string, content: string }]> = [
    ['user:What is AI?', { role: 'user', content: 'What is AI?' }],
    ['system: Be brief.', { role: 'system', content: 'Be brief.' }],
    ['assistant:a:b:c', { role: 'assistant', content: 'a:b:c' }],
    ['USER:hi', { role: 'user', content: 'hi' }],
  ]
  for (const [v, want] of good) it(`--message ${JSON.stringify(v)}`, () => { expect(messageArg(v)).to.deep.equal([want]) })
  it('--message appends to the earlier ones', () => { expect(messageArg('user:b', [{ role: 'system', content: 'a' }])).to.have.length(2) })

  const bad = ['hi', 'bot:hi', 'user:', 'user:   ', ':hi']
  for (const v of bad) it(`--message ${JSON.stringify(v)} is refused`, () => { expect(() => messageArg(v)).to.throw(/ROLE:CONTENT|empty/) })

  const conversations: Array<[string, Parameters<typeof chatMessages>[0], string[] | RegExp]> = [
    ['--system and --user', { system: 's', user: 'u' }, ['system', 'user']],
    ['system first, --message in order, user last', { system: 's', message: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }], user: 'u2' }, ['system', 'user', 'assistant', 'user']],
    ['nothing', {}, /give the conversation/],
    ['no user message', { system: 's', message: [{ role: 'assistant', content: 'a' }] }, /needs a user message/],
    ['an empty --user', { user: '  ' }, /empty/],
    ['too many messages', { message: Array.from({ length: 65 }, () => ({ role: 'user' as const, content: 'q' })) }, /at most 64/],
  ]
  for (const [what, o, want] of conversations) {
    it(`chatMessages: ${what}`, () => {
      if (want instanceof RegExp) expect(() => chatMessages(o)).to.throw(CliError, want)
      else expect(chatMessages(o).map(m => m.role)).to.deep.equal(want)
    })
  }
})

describe('cli: --model-digest and --verification-rate', () => {
  const digests: Array<[string, string | null]> = [[D1, D1], ['sha256:' + D2, D2], [D1.toUpperCase(), D1], ['abc', null], ['z'.repeat(64), null], ['', null]]
  for (const [v, want] of digests) {
    it(`--model-digest ${JSON.stringify(v.slice(0, 12))}...: ${want === null ? 'refused' : 'taken'}`, () => {
      if (want === null) expect(() => digestArg(v)).to.throw(/64 hex digits/)
      else expect(digestArg(v)).to.equal(want)
    })
  }
  const rates: Array<[string, string | null]> = [['0.1', '0.1'], ['1', '1'], ['0', '0'], ['.5', '0.5'], ['1.0', '1.0'], ['0.123456', '0.123456'], ['1.5', null], ['-0.1', null], ['0.1234567', null], ['ten', null], ['1e-1', null]]
  for (const [v, want] of rates) {
    it(`--verification-rate ${v}: ${want === null ? 'refused' : 'taken'}`, () => {
      if (want === null) expect(() => rateArg(v)).to.throw(/from 0 to 1/)
      else expect(rateArg(v)).to.equal(want)
    })
  }
})

describe('cli: default price caps (never unlimited)', () => {
  const M = 'llama3.2:latest'
  const cases: Array<[string, MinerJSON[], string | null, Record<string, bigint>, { in: bigint, out: bigint, pps: bigint, servedBy: number }]> = [
    ['the highest listed prices, per kind of billing', [
      miner({ price_in: '100', price_out: '300' }), miner({ price_in: '150', price_out: null }), miner({ price_per_second: '30000' }), miner({ price_per_second: '25000' }),
    ], null, {}, { in: 150n, out: 300n, pps: 30000n, servedBy: 4 }],
    ['inactive miners and other models do not count', [
      miner({ price_in: '999', price_out: '999', active: false }), miner({ models: ['other'], price_per_second: '99999' }), miner({ price_in: '5', price_out: '6' }),
    ], null, {}, { in: 5n, out: 6n, pps: 20000n, servedBy: 1 }],
    ['the pinned digest narrows the miners', [
      miner({ price_in: '100', price_out: '100' }), miner({ price_in: '500', price_out: '500', model_info: [{ name: M, digest: D2, quantization: null, parameter_size: null, context_length: null }] }),
    ], D2, {}, { in: 500n, out: 500n, pps: 20000n, servedBy: 1 }],
    ['nobody serves the model: token caps 0, the chain\'s default per second', [], null, {}, { in: 0n, out: 0n, pps: 20000n, servedBy: 0 }],
    ['given caps are kept', [miner({ price_in: '100', price_out: '100' })], null, { maxPriceIn: 7n, maxPricePerSecond: 0n }, { in: 7n, out: 100n, pps: 0n, servedBy: 1 }],
  ]
  for (const [what, miners, digest, given, want] of cases) {
    it(what, () => {
      const r = priceCaps(given, miners, M, digest, 20000n)
      expect(r.caps).to.deep.equal({ maxPriceIn: want.in, maxPriceOut: want.out, maxPricePerSecond: want.pps })
      expect(r.servedBy).to.equal(want.servedBy)
      expect(r.defaulted).to.deep.equal((['in', 'out', 'per_second'] as const).filter(k => given[{ in: 'maxPriceIn', out: 'maxPriceOut', per_second: 'maxPricePerSecond' }[k]] === undefined))
    })
  }
  it('says which caps it defaulted and from what', () => {
    expect(capsNote(M, priceCaps({}, [miner({ price_in: '1000000', price_out: '2000000' })], M, null, 20000n)))
      .to.equal('Price caps: 1 AITBC in / 2 AITBC out per million tokens, 0.02 AITBC per second (--max-price-in, --max-price-out, --max-price-per-second defaulted from the highest prices of the 1 active miner(s) of llama3.2:latest; give them to choose)')
    expect(capsNote(M, priceCaps({ maxPriceIn: 1n }, [], M, null, 20000n))).to.match(/--max-price-out, --max-price-per-second defaulted from no active miner serves llama3\.2:latest now/)
  })
})

describe('cli: the Verified: line and the final statuses', () => {
  const v = (over: Partial<VerificationJSON> = {}): VerificationJSON => ({
    commitment: 'c', committed_height: '10', bill: '5', sampled: true, phase: 'done', phase_height: '12', miner_revealed: true, outcome: 'pass', similarity: 987_654,
    verifiers: [{ miner: 'aitbc1v1', assigned_height: '11', committed: true, committed_height: '12', revealed: true, outcome: 'agree', paid: '1', slashed: '0' }], ...over,
  })
  const job = (over: Partial<JobJSON>): Pick<JobJSON, 'checked' | 'verification' | 'slashed' | 'settled_height' | 'status'> => ({ checked: true, verification: null, slashed: null, settled_height: null, status: 'assigned', ...over })
  const cases: Array<[string, ReturnType<typeof job>, string | null | RegExp]> = [
    ['not assigned yet', job({ checked: null, status: 'pending' }), null],
    ['unchecked', job({ checked: false, status: 'completed' }), /^Verified: no \(unchecked/],
    ['checked, not committed', job({}), 'Verified: pending (the miner has not committed to a result yet)'],
    ['checked, expired before a commitment', job({ status: 'expired' }), 'Verified: no (the job ended expired before its miner committed)'],
    ['committed, sample next block', job({ verification: v({ phase: 'sample', sampled: null, outcome: null }) }), /^Verified: pending \(committed at height 10/],
    ['verifiers re-running', job({ status: 'verifying', verification: v({ phase: 'commit', outcome: null }) }), /^Verified: in progress \(sampled at height 12: verifiers re-running it; verifiers aitbc1v1 \(agree\)\)$/],
    ['not sampled', job({ verification: v({ phase: 'reveal', sampled: false, outcome: null, verifiers: [] }) }), /^Verified: not sampled \(the miner reveals since height 12; paid unchecked\)$/],
    ['passed', job({ status: 'completed', settled_height: '14', verification: v() }), 'Verified: yes (passed: similarity 98.8%; verifiers aitbc1v1 (agree), settled at height 14)'],
    ['rejected', job({ status: 'rejected', settled_height: '14', slashed: '2500000', verification: v({ outcome: 'fail', similarity: 120_000 }) }),
      'Verified: no (rejected: similarity 12.0%; verifiers aitbc1v1 (agree); the miner was slashed 2.5 AITBC and the client refunded, settled at height 14)'],
    ['rejected for silence', job({ status: 'rejected', slashed: '1', verification: v({ outcome: 'fail', similarity: null }) }), /^Verified: no \(rejected: the miner did not reveal/],
    ['no majority', job({ status: 'rejected', verification: v({ outcome: 'no-majority', similarity: 400_000 }) }), /^Verified: no majority \(best similarity 40\.0%.*nobody slashed, the client refunded\)$/],
    ['unchecked by the sample', job({ status: 'completed', settled_height: '9', verification: v({ outcome: 'unchecked', sampled: false, similarity: null, verifiers: [] }) }), 'Verified: not sampled (paid unchecked, settled at height 9)'],
  ]
  for (const [what, j, want] of cases) {
    it(what, () => {
      const line = verifiedLine(j)
      if (want instanceof RegExp) expect(line).to.match(want); else expect(line).to.equal(want)
    })
  }
  it('--wait ends on every final status, verifying is not one', () => {
    expect([...FINAL_STATUSES].sort()).to.deep.equal(['cancelled', 'completed', 'expired', 'failed', 'rejected'])
    expect(FINAL_STATUSES.has('verifying')).to.equal(false)
  })
})

describe('cli: bad input for the new flags is refused before any node is asked', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a --message without a role', ['submit', 'chat', '--model', 'm', '--message', 'hello'], /ROLE:CONTENT/],
    ['a --message with an unknown role', ['submit', 'chat', '--model', 'm', '--message', 'bot:hello'], /ROLE system, user or assistant/],
    ['a chat with no messages', ['submit', 'chat', '--model', 'm'], /give the conversation/],
    ['a chat with no user message', ['submit', 'chat', '--model', 'm', '--system', 'be brief'], /needs a user message/],
    ['a chat without --model', ['submit', 'chat', '--user', 'hi'], /--model/],
    ['a bad --model-digest', ['submit', 'inference', '--prompt', 'hi', '--model', 'm', '--model-digest', 'sha256:xyz'], /64 hex digits/],
    ['a bad --max-price-in', ['submit', 'inference', '--prompt', 'hi', '--model', 'm', '--max-price-in', '-1'], /not an amount/],
    ['a --max-price-out with 7 decimals', ['submit', 'chat', '--model', 'm', '--user', 'hi', '--max-price-out', '0.0000001'], /more than 6 decimals/],
    ['an empty --prompt', ['submit', 'inference', '--prompt', ' ', '--model', 'm'], /--prompt is empty/],
    ['a --verification-rate above 1', ['devnet', '--verification-rate', '2'], /from 0 to 1/],
    ['a miner --price-in with junk', ['miner', 'start', '--key', 'k', '--price-in', 'cheap'], /not an amount/],
    ['a miner --max-num-predict of 0', ['miner', 'start', '--key', 'k', '--max-num-predict', '0'], /integer from 1/],
    ['a register --price-out with junk', ['miner', 'register', '--models', 'm', '--stake', '100', '--price-out', '1e3'], /not an amount/],
  ]
  for (const [what, argv, want] of cases) {
    it(`refuses ${what}`, async () => {
      const r = await refusal(argv)
      expect(r.message + r.stderr).to.match(want)
      expect(r.message).to.not.match(/was used/)
    })
  }
})
