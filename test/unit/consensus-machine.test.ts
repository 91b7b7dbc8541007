// Tests of the Tendermint state machine (node/consensus/machine.ts) against Algorithm 1 of
// Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus" (arXiv 1807.04938): scenario and
// table-driven tests of each rule with 4 validators of power 10 (f = 1), one with unequal powers,
// and property tests that simulate 3 honest machines and a byzantine validator over a network
// that reorders, delays and drops messages and fires timeouts at random (safety), or delivers
// everything within a bound far below the timeouts (all honest machines decide).
import { expect } from 'chai'
import fc from 'fast-check'
import { ConsensusMachine, proposerOf, type Action, type ProposalIn, type Step, type TimeoutConfig, type ValidatorPower, type VoteType } from '../../node/consensus/machine.ts'

const T: TimeoutConfig = { proposeMs: 1000, proposeDeltaMs: 100, prevoteMs: 500, prevoteDeltaMs: 50, precommitMs: 400, precommitDeltaMs: 40 }
const IDS = ['A', 'B', 'C', 'D']
const VALS: ValidatorPower[] = IDS.map(id => ({ id, power: 10 }))
/** Height used throughout: proposerOf(VALS, 1, r) = IDS[(1 + r) % 4], so B, C, D, A, B, ... */
const H = 1

const mk = (self: string | null, vals: ValidatorPower[] = VALS): ConsensusMachine => new ConsensusMachine(H, vals, self, T)
const votes = (m: ConsensusMachine, type: VoteType, round: number, value: string | null, ids: string[]): Action[] =>
  ids.flatMap(id => m.onVote({ type, round, validator: id, value }))
const prevotes = (m: ConsensusMachine, round: number, value: string | null, ids: string[]): Action[] => votes(m, 'prevote', round, value, ids)
const precommits = (m: ConsensusMachine, round: number, value: string | null, ids: string[]): Action[] => votes(m, 'precommit', round, value, ids)
const proposal = (round: number, value: string, polRound = -1, valid = true): ProposalIn => ({ round, value, polRound, valid })

const tProp = (round: number): Action => ({ type: 'timeout', step: 'propose', height: H, round, ms: T.proposeMs + round * T.proposeDeltaMs })
const tPrevote = (round: number): Action => ({ type: 'timeout', step: 'prevote', height: H, round, ms: T.prevoteMs + round * T.prevoteDeltaMs })
const tPrecommit = (round: number): Action => ({ type: 'timeout', step: 'precommit', height: H, round, ms: T.precommitMs + round * T.precommitDeltaMs })
const vPrevote = (round: number, value: string | null): Action => ({ type: 'vote', voteType: 'prevote', height: H, round, value })
const vPrecommit = (round: number, value: string | null): Action => ({ type: 'vote', voteType: 'precommit', height: H, round, value })
const decide = (round: number, value: string): Action => ({ type: 'decide', height: H, round, value })
const propose = (round: number, value: string | null, polRound: number): Action => ({ type: 'propose', height: H, round, value, polRound })

describe('consensus machine (Tendermint, Algorithm 1)', () => {
  describe('happy path', () => {
    it('a non-proposer: timeout propose, prevote the proposal, lock and precommit on 2f+1 prevotes, decide on 2f+1 precommits', () => {
      const m = mk('A')
      expect(m.start()).to.deep.equal([tProp(0)])
      expect(m.start()).to.deep.equal([]) // idempotent
      expect(m.onProposal(proposal(0, 'V'))).to.deep.equal([vPrevote(0, 'V')])
      expect(m.step).to.equal('prevote')
      expect(prevotes(m, 0, 'V', ['A', 'B'])).to.deep.equal([])
      // 2f+1 prevotes of any kind schedule timeoutPrevote (line 34); 2f+1 for V lock it (line 36).
      expect(prevotes(m, 0, 'V', ['C'])).to.deep.equal([tPrevote(0), vPrecommit(0, 'V')])
      expect([m.step, m.lockedValue, m.lockedRound, m.validValue, m.validRound]).to.deep.equal(['precommit', 'V', 0, 'V', 0])
      expect(prevotes(m, 0, 'V', ['D'])).to.deep.equal([])
      expect(precommits(m, 0, 'V', ['A', 'B'])).to.deep.equal([])
      expect(precommits(m, 0, 'V', ['C'])).to.deep.equal([decide(0, 'V')])
      expect(m.decision).to.equal('V')
      // Decided: inert, but still records precommits for the commit.
      expect(precommits(m, 0, 'V', ['D'])).to.deep.equal([])
      expect(m.onTimeout('propose', H, 0)).to.deep.equal([])
      expect(m.onTimeout('precommit', H, 0)).to.deep.equal([])
      expect(m.onProposal(proposal(1, 'W'))).to.deep.equal([])
      expect(m.precommitsFor(0, 'V')).to.have.members(['A', 'B', 'C', 'D'])
      expect(m.committedWithoutProposal()).to.equal(null)
    })

    it('the proposer schedules timeoutPropose, asks to build a block, and prevotes its own proposal when it comes back', () => {
      const m = mk('B') // proposer of round 0 at height 1
      expect(m.start()).to.deep.equal([tProp(0), propose(0, null, -1)])
      expect(m.onProposal(proposal(0, 'V'))).to.deep.equal([vPrevote(0, 'V')])
      expect(m.onTimeout('propose', H, 0)).to.deep.equal([]) // too late: already prevoted
      prevotes(m, 0, 'V', ['A', 'B', 'C'])
      expect(precommits(m, 0, 'V', ['B', 'C', 'D'])).to.deep.equal([decide(0, 'V')])
    })

    it('a proposer whose own proposal never arrives (build or signing failed) prevotes nil on timeoutPropose', () => {
      const m = mk('B')
      m.start()
      expect(m.onTimeout('propose', H, 0)).to.deep.equal([vPrevote(0, null)])
    })

    it('4 honest machines with in-order delivery all decide the round-0 proposal', () => {
      const sim = new Sim(VALS, IDS, null, mulberry32(1), { mode: 'sync', maxDelay: 1 })
      sim.run(10_000, 100_000)
      expect([...sim.decisions.values()]).to.deep.equal(['v:B:0', 'v:B:0', 'v:B:0', 'v:B:0'])
      expect(sim.decideRounds).to.deep.equal([0, 0, 0, 0])
    })
  })

  describe('proposer rotation', () => {
    it('equal powers: round robin by id over height + round', () => {
      for (let h = 0; h < 20; h++) {
        for (let r = 0; r < 8; r++) expect(proposerOf(VALS, h, r), `h=${h} r=${r}`).to.equal(IDS[(h + r) % 4])
      }
    })

    it('is deterministic and independent of the order of the validator list', () => {
      const shuffled = [VALS[2], VALS[0], VALS[3], VALS[1]]
      const weighted = [{ id: 'D', power: 40 }, { id: 'B', power: 20 }, { id: 'A', power: 10 }, { id: 'C', power: 30 }]
      for (let s = 0; s < 200; s++) {
        expect(proposerOf(shuffled, s, 0)).to.equal(proposerOf(VALS, s, 0))
        expect(proposerOf(weighted, s, 3)).to.equal(proposerOf([...weighted].reverse(), s, 3))
        expect(proposerOf(weighted, s, 3)).to.equal(proposerOf(weighted, s + 3, 0)) // indexed by height + round
      }
    })

    it('weighted: every validator proposes in proportion to its power, in every window of one period', () => {
      const vals = [{ id: 'A', power: 10 }, { id: 'B', power: 20 }, { id: 'C', power: 30 }, { id: 'D', power: 40 }]
      const seq: string[] = []
      for (let h = 0; h < 1000; h++) seq.push(proposerOf(vals, h, 0))
      for (let start = 0; start + 10 <= seq.length; start++) {
        expect(counts(seq.slice(start, start + 10))).to.deep.equal({ A: 1, B: 2, C: 3, D: 4 })
      }
      // Smooth: the heaviest validator never proposes more than twice in a row here.
      expect(seq.join('')).to.not.include('DDD')
      // Over heights x rounds as well.
      const all: string[] = []
      for (let h = 1; h <= 100; h++) for (let r = 0; r < 10; r++) all.push(proposerOf(vals, h, r))
      const c = counts(all)
      for (const v of vals) expect(c[v.id] / all.length).to.be.closeTo(v.power / 100, 0.01)
    })

    it('property: within any period (sum of power / gcd slots) each validator proposes exactly power / gcd times', () => {
      fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 7 }), fc.nat(1000), (powers, offset) => {
        const vals = powers.map((p, i) => ({ id: `v${i}`, power: p * 5 }))
        const g = powers.reduce((a, b) => gcdN(a, b))
        const period = powers.reduce((a, b) => a + b) / g
        const seq: string[] = []
        for (let s = 0; s < period; s++) seq.push(proposerOf(vals, offset + s, 0))
        const c = counts(seq)
        vals.forEach((v, i) => expect(c[v.id] ?? 0).to.equal(powers[i] / g))
      }), { numRuns: 200 })
    })

    it('large, coprime powers stay cheap and (approximately) proportional; every validator still proposes', () => {
      const vals = [{ id: 'A', power: 1_000_000_000 }, { id: 'B', power: 999_999_999 }, { id: 'C', power: 999_999_937 }, { id: 'D', power: 7 }]
      const seq: string[] = []
      for (let h = 0; h < 20_000; h++) seq.push(proposerOf(vals, 1_000_000 + h, 5))
      const c = counts(seq)
      for (const id of ['A', 'B', 'C']) expect(c[id] / seq.length).to.be.closeTo(1 / 3, 0.01)
      expect(c.D).to.be.at.least(1)
    })

    it('only the proposer of a round is asked to propose; the machine agrees with proposerOf', () => {
      for (let r = 0; r < 8; r++) {
        for (const id of IDS) {
          const m = mk(id)
          m.round = r
          const out = m.start()
          const proposes = out.filter(a => a.type === 'propose')
          expect(m.proposer(r)).to.equal(proposerOf(VALS, H, r))
          expect(proposes.length, `r=${r} ${id}`).to.equal(id === m.proposer(r) ? 1 : 0)
        }
      }
    })
  })

  describe('timeouts and nil', () => {
    it('timeout propose -> prevote nil; stale or foreign timeouts are ignored', () => {
      const m = mk('A')
      m.start()
      expect(m.onTimeout('propose', H + 1, 0)).to.deep.equal([])
      expect(m.onTimeout('propose', H, 1)).to.deep.equal([])
      expect(m.onTimeout('prevote', H, 0)).to.deep.equal([]) // not in step prevote
      expect(m.onTimeout('propose', H, 0)).to.deep.equal([vPrevote(0, null)])
      expect(m.onTimeout('propose', H, 0)).to.deep.equal([])
      // A proposal after the timeout changes nothing.
      expect(m.onProposal(proposal(0, 'V'))).to.deep.equal([])
    })

    it('2f+1 nil prevotes -> precommit nil (and timeoutPrevote is scheduled once)', () => {
      const m = mk('A')
      m.start()
      m.onTimeout('propose', H, 0)
      expect(prevotes(m, 0, null, ['A', 'B'])).to.deep.equal([])
      expect(prevotes(m, 0, null, ['C'])).to.deep.equal([tPrevote(0), vPrecommit(0, null)])
      expect(prevotes(m, 0, null, ['D'])).to.deep.equal([])
      expect([m.lockedValue, m.lockedRound, m.validValue, m.validRound]).to.deep.equal([null, -1, null, -1])
    })

    it('2f+1 mixed prevotes -> timeoutPrevote; when it fires -> precommit nil', () => {
      const m = mk('A')
      m.start()
      m.onProposal(proposal(0, 'V'))
      prevotes(m, 0, 'V', ['A'])
      prevotes(m, 0, null, ['B'])
      expect(prevotes(m, 0, 'W', ['C'])).to.deep.equal([tPrevote(0)])
      expect(m.onTimeout('prevote', H, 0)).to.deep.equal([vPrecommit(0, null)])
      expect(m.onTimeout('prevote', H, 0)).to.deep.equal([])
    })

    it('2f+1 precommits of any kind -> timeoutPrecommit -> next round, with timeouts growing with the round', () => {
      const m = mk('A')
      m.start()
      m.onTimeout('propose', H, 0)
      prevotes(m, 0, null, ['A', 'B', 'C'])
      precommits(m, 0, null, ['A'])
      precommits(m, 0, 'V', ['B'])
      expect(precommits(m, 0, null, ['C'])).to.deep.equal([tPrecommit(0)])
      expect(precommits(m, 0, null, ['D'])).to.deep.equal([]) // once per round
      expect(m.onTimeout('precommit', H, 0)).to.deep.equal([tProp(1)])
      expect([m.round, m.step]).to.deep.equal([1, 'propose'])
      expect(m.onTimeout('precommit', H, 0)).to.deep.equal([]) // stale

      // Walk further rounds: every timeout strictly longer than in the round before.
      const seen: Record<Step, number[]> = { propose: [T.proposeMs], prevote: [T.prevoteMs], precommit: [T.precommitMs] }
      for (let r = 1; r < 6; r++) {
        const out = [...m.onTimeout('propose', H, r), ...prevotes(m, r, null, ['A', 'B', 'C']), ...precommits(m, r, null, ['A', 'B', 'C'])]
        const tos = out.filter((a): a is Extract<Action, { type: 'timeout' }> => a.type === 'timeout')
        expect(tos.map(a => a.step)).to.deep.equal(['prevote', 'precommit'])
        for (const a of tos) seen[a.step].push(a.ms)
        const next = m.onTimeout('precommit', H, r)
        const tp = next.find((a): a is Extract<Action, { type: 'timeout' }> => a.type === 'timeout')
        expect(tp?.round).to.equal(r + 1)
        seen.propose.push(tp?.ms ?? 0)
      }
      for (const step of ['propose', 'prevote', 'precommit'] as Step[]) {
        for (let i = 1; i < seen[step].length; i++) expect(seen[step][i], step).to.be.greaterThan(seen[step][i - 1])
      }
    })
  })

  describe('locking', () => {
    /** A (self) prevotes and locks V in round 0 (proposer B), precommits of B and C are nil: round 1 (proposer C). */
    function lockedOnVInRound0 (): ConsensusMachine {
      const m = mk('A')
      m.start()
      m.onProposal(proposal(0, 'V'))
      expect(prevotes(m, 0, 'V', ['A', 'B', 'C'])).to.deep.include(vPrecommit(0, 'V'))
      precommits(m, 0, 'V', ['A'])
      expect(precommits(m, 0, null, ['B', 'C'])).to.deep.equal([tPrecommit(0)])
      expect(m.onTimeout('precommit', H, 0)).to.deep.equal([tProp(1)])
      expect([m.lockedValue, m.lockedRound]).to.deep.equal(['V', 0])
      return m
    }

    it('locked on V in round 0: prevotes nil for W proposed in round 1 with polRound -1', () => {
      const m = lockedOnVInRound0()
      expect(m.onProposal(proposal(1, 'W'))).to.deep.equal([vPrevote(1, null)])
      expect([m.lockedValue, m.lockedRound]).to.deep.equal(['V', 0])
    })

    it('locked on V in round 0: prevotes V again when V is re-proposed with polRound -1', () => {
      const m = lockedOnVInRound0()
      expect(m.onProposal(proposal(1, 'V'))).to.deep.equal([vPrevote(1, 'V')])
    })

    it('locked on V in round 0: prevotes W proposed with polRound 1 >= lockedRound once it holds 2f+1 prevotes for W in round 1', () => {
      const m = lockedOnVInRound0()
      // Round 1 (proposer C): A never sees C's proposal; B, C, D prevote W. Without the proposal A cannot lock W.
      expect(m.onTimeout('propose', H, 1)).to.deep.equal([vPrevote(1, null)])
      prevotes(m, 1, null, ['A'])
      expect(prevotes(m, 1, 'W', ['B', 'C'])).to.deep.equal([tPrevote(1)])
      expect(m.onTimeout('prevote', H, 1)).to.deep.equal([vPrecommit(1, null)])
      precommits(m, 1, null, ['A', 'B', 'C'])
      expect(m.onTimeout('precommit', H, 1)).to.deep.equal([tProp(2)])
      // Round 2 (proposer D) re-proposes W with polRound 1; A has only 2 of the round-1 prevotes for W: it waits.
      expect(m.onProposal(proposal(2, 'W', 1))).to.deep.equal([])
      expect(m.step).to.equal('propose')
      // The third prevote for W in round 1 completes the proof of lock: lockedRound 0 <= 1, so A prevotes W.
      expect(prevotes(m, 1, 'W', ['D'])).to.deep.equal([vPrevote(2, 'W')])
      // ... and relocks on W when round 2 gets 2f+1 prevotes for it.
      expect(prevotes(m, 2, 'W', ['A', 'B', 'C'])).to.deep.equal([tPrevote(2), vPrecommit(2, 'W')])
      expect([m.lockedValue, m.lockedRound]).to.deep.equal(['W', 2])
    })

    // Table of the two prevote rules (lines 22 and 28), from a machine preset to round 3 with a
    // given lock. Self is B (round 3's proposer is A). `pol`: who prevoted the proposed value in polRound.
    const cases: Array<{ name: string, lock: [string | null, number], value: string, polRound: number, pol: string[], valid?: boolean, expect: string | null | 'wait' }> = [
      { name: 'unlocked, fresh valid proposal', lock: [null, -1], value: 'W', polRound: -1, pol: [], expect: 'W' },
      { name: 'unlocked, fresh invalid proposal', lock: [null, -1], value: 'W', polRound: -1, pol: [], valid: false, expect: null },
      { name: 'locked on V, V proposed with polRound -1', lock: ['V', 1], value: 'V', polRound: -1, pol: [], expect: 'V' },
      { name: 'locked on V@1, W proposed with polRound -1', lock: ['V', 1], value: 'W', polRound: -1, pol: [], expect: null },
      { name: 'locked on V@1, W with polRound 2 and its proof of lock', lock: ['V', 1], value: 'W', polRound: 2, pol: ['A', 'C', 'D'], expect: 'W' },
      { name: 'locked on V@1, W with polRound 1 = lockedRound and its proof of lock', lock: ['V', 1], value: 'W', polRound: 1, pol: ['A', 'C', 'D'], expect: 'W' },
      { name: 'locked on V@2, W with polRound 1 < lockedRound and its proof of lock', lock: ['V', 2], value: 'W', polRound: 1, pol: ['A', 'C', 'D'], expect: null },
      { name: 'locked on V@2, V with polRound 1 and its proof of lock', lock: ['V', 2], value: 'V', polRound: 1, pol: ['A', 'C', 'D'], expect: 'V' },
      { name: 'locked on V@1, invalid W with polRound 2 and its proof of lock', lock: ['V', 1], value: 'W', polRound: 2, pol: ['A', 'C', 'D'], valid: false, expect: null },
      { name: 'unlocked, W with polRound 0 and its proof of lock', lock: [null, -1], value: 'W', polRound: 0, pol: ['A', 'B', 'C'], expect: 'W' },
      { name: 'locked on V@1, W with polRound 2 but only 2f prevotes for it', lock: ['V', 1], value: 'W', polRound: 2, pol: ['A', 'C'], expect: 'wait' },
      { name: 'polRound equal to the round (malformed)', lock: [null, -1], value: 'W', polRound: 3, pol: [], expect: 'wait' },
      { name: 'polRound below -1 (malformed)', lock: [null, -1], value: 'W', polRound: -2, pol: [], expect: 'wait' },
    ]
    for (const c of cases) {
      it(`prevote rule: ${c.name} -> ${c.expect === null ? 'nil' : c.expect}`, () => {
        const m = mk('B')
        m.round = 3
        m.lockedValue = c.lock[0]
        m.lockedRound = c.lock[1]
        if (c.polRound >= 0) prevotes(m, c.polRound, c.value, c.pol)
        expect(m.start()).to.deep.equal([tProp(3)])
        const out = m.onProposal(proposal(3, c.value, c.polRound, c.valid ?? true))
        if (c.expect === 'wait') {
          expect(out).to.deep.equal([])
          expect(m.onTimeout('propose', H, 3)).to.deep.equal([vPrevote(3, null)])
        } else {
          expect(out).to.deep.equal([vPrevote(3, c.expect)])
        }
      })
    }
  })

  describe('valid value and re-proposal', () => {
    it('the next proposer, locked on V, re-proposes V with polRound = validRound', () => {
      const m = mk('C') // proposer of round 1
      expect(m.start()).to.deep.equal([tProp(0)])
      m.onProposal(proposal(0, 'V'))
      prevotes(m, 0, 'V', ['B', 'C', 'D'])
      precommits(m, 0, null, ['A', 'B', 'D'])
      expect(m.onTimeout('precommit', H, 0)).to.deep.equal([tProp(1), propose(1, 'V', 0)])
    })

    it('a POL seen after precommitting nil sets validValue (not the lock), and the next proposer re-proposes it', () => {
      const m = mk('C')
      m.start()
      m.onProposal(proposal(0, 'V'))
      expect(m.onTimeout('propose', H, 0)).to.deep.equal([]) // already prevoted V
      prevotes(m, 0, null, ['A'])
      prevotes(m, 0, 'V', ['C'])
      expect(prevotes(m, 0, 'V', ['B'])).to.deep.equal([tPrevote(0)])
      expect(m.onTimeout('prevote', H, 0)).to.deep.equal([vPrecommit(0, null)])
      expect(prevotes(m, 0, 'V', ['D'])).to.deep.equal([]) // 2f+1 for V now, while in precommit
      expect([m.lockedValue, m.lockedRound, m.validValue, m.validRound]).to.deep.equal([null, -1, 'V', 0])
      precommits(m, 0, null, ['A', 'C', 'D'])
      expect(m.onTimeout('precommit', H, 0)).to.deep.equal([tProp(1), propose(1, 'V', 0)])
    })

    it('without a valid value the proposer asks for a new block (value null, polRound -1)', () => {
      const m = mk('C')
      m.start()
      expect(m.onTimeout('propose', H, 0)).to.deep.equal([vPrevote(0, null)])
      prevotes(m, 0, null, ['A', 'B', 'C'])
      precommits(m, 0, null, ['A', 'B', 'C'])
      expect(m.onTimeout('precommit', H, 0)).to.deep.equal([tProp(1), propose(1, null, -1)])
    })
  })

  describe('invalid proposals', () => {
    it('an invalid proposal gets a nil prevote, is never locked and never decided', () => {
      const m = mk('A')
      m.start()
      expect(m.onProposal(proposal(0, 'X', -1, false))).to.deep.equal([vPrevote(0, null)])
      // Even 2f+1 prevotes and precommits for it do not lock or decide it.
      expect(prevotes(m, 0, 'X', ['B', 'C', 'D'])).to.deep.equal([tPrevote(0)])
      expect(m.lockedValue).to.equal(null)
      expect(precommits(m, 0, 'X', ['B', 'C', 'D'])).to.deep.equal([tPrecommit(0)])
      expect(m.decision).to.equal(null)
      expect(m.committedWithoutProposal()).to.deep.equal({ round: 0, value: 'X' })
    })

    it('a value that is the empty string is not confused with nil', () => {
      const m = mk('A')
      m.start()
      m.onProposal(proposal(0, ''))
      prevotes(m, 0, null, ['B', 'C', 'D'])
      expect(m.lockedValue).to.equal(null)
      expect(precommits(m, 0, null, ['B', 'C', 'D'])).to.deep.equal([tPrecommit(0)])
      expect(m.decision).to.equal(null)
    })
  })

  describe('round skip', () => {
    it('f+1 messages of a higher round make it skip to that round; f or fewer do not', () => {
      const m = mk('A')
      m.start()
      expect(prevotes(m, 3, 'V', ['B'])).to.deep.equal([])
      expect(precommits(m, 3, null, ['B'])).to.deep.equal([]) // same sender counts once
      expect(precommits(m, 3, null, ['C'])).to.deep.equal([tProp(3), propose(3, null, -1)]) // round 3: proposer A
      expect([m.round, m.step]).to.deep.equal([3, 'propose'])
      expect(prevotes(m, 2, null, ['B', 'C', 'D'])).to.deep.equal([]) // lower rounds never skip back
      expect(m.round).to.equal(3)
    })

    it('skips to the highest round that has f+1 messages', () => {
      const m = mk('B')
      prevotes(m, 2, null, ['C', 'D'])
      prevotes(m, 5, null, ['C', 'D'])
      prevotes(m, 4, null, ['C'])
      const out = m.start()
      expect(m.round).to.equal(5)
      expect(out.filter(a => a.type === 'timeout').map(a => a.round)).to.deep.equal([0, 5])
      expect(out.filter(a => a.type === 'propose').map(a => a.round)).to.deep.equal([0]) // B proposes round 0 only (round 5: proposer C)
    })

    it('votes of non-validators do not count towards a skip', () => {
      const m = mk('A')
      m.start()
      expect(votes(m, 'prevote', 4, null, ['X', 'Y', 'Z', 'B'])).to.deep.equal([])
      expect(m.round).to.equal(0)
    })
  })

  describe('deciding', () => {
    it('decides from 2f+1 precommits of an earlier round (precommits, then the proposal, arriving later)', () => {
      const m = mk('A')
      m.start()
      expect(prevotes(m, 2, null, ['B', 'C'])).to.deep.equal([tProp(2)]) // skips to round 2
      expect(precommits(m, 0, 'V', ['B', 'C'])).to.deep.equal([])
      expect(m.committedWithoutProposal()).to.equal(null)
      expect(precommits(m, 0, 'V', ['D'])).to.deep.equal([])
      expect(m.committedWithoutProposal()).to.deep.equal({ round: 0, value: 'V' })
      expect(m.onProposal(proposal(0, 'V'))).to.deep.equal([decide(0, 'V')])
    })

    it('decides when the last precommit of an earlier round arrives, in a later round', () => {
      const m = mk('A')
      m.start()
      m.onProposal(proposal(0, 'V'))
      prevotes(m, 0, 'V', ['A', 'B', 'C'])
      precommits(m, 0, 'V', ['A', 'B'])
      expect(precommits(m, 0, null, ['D'])).to.deep.equal([tPrecommit(0)])
      expect(m.onTimeout('precommit', H, 0)).to.deep.equal([tProp(1)])
      expect(m.onTimeout('propose', H, 1)).to.deep.equal([vPrevote(1, null)])
      expect(precommits(m, 0, 'V', ['C'])).to.deep.equal([decide(0, 'V')])
    })

    it('an equivocating proposer: decides the value that got 2f+1 precommits even if another proposal of that round came first', () => {
      const m = mk('A')
      m.start()
      expect(m.onProposal(proposal(0, 'W'))).to.deep.equal([vPrevote(0, 'W')])
      expect(m.onProposal(proposal(0, 'V'))).to.deep.equal([])
      // 2f+1 prevotes for V (with V's proposal held) still update validValue; A is in prevote so it even locks V.
      expect(prevotes(m, 0, 'V', ['B', 'C', 'D'])).to.deep.equal([tPrevote(0), vPrecommit(0, 'V')])
      expect(precommits(m, 0, 'V', ['B', 'C', 'D'])).to.deep.equal([decide(0, 'V')])
    })
  })

  describe('who counts', () => {
    it('duplicate votes from one validator count once', () => {
      const m = mk('A')
      m.start()
      m.onProposal(proposal(0, 'V'))
      expect(prevotes(m, 0, 'V', ['A', 'B', 'B', 'B'])).to.deep.equal([])
      expect(m.step).to.equal('prevote')
      expect(prevotes(m, 0, 'V', ['C'])).to.deep.equal([tPrevote(0), vPrecommit(0, 'V')])
      expect(precommits(m, 0, 'V', ['A', 'A', 'B', 'B'])).to.deep.equal([])
      expect(precommits(m, 0, 'V', ['C'])).to.deep.equal([decide(0, 'V')])
    })

    it('an equivocating validator counts once towards 2f+1-of-any-kind and f+1 skips', () => {
      const m = mk('A')
      m.start()
      m.onTimeout('propose', H, 0)
      expect(prevotes(m, 0, null, ['A'])).to.deep.equal([])
      expect(prevotes(m, 0, 'V', ['B'])).to.deep.equal([])
      expect(prevotes(m, 0, 'W', ['B'])).to.deep.equal([]) // still 20 of 40 validators' power
      expect(prevotes(m, 0, null, ['B'])).to.deep.equal([])
      expect(m.step).to.equal('prevote')
      expect(votes(m, 'prevote', 3, 'V', ['D'])).to.deep.equal([])
      expect(votes(m, 'precommit', 3, 'W', ['D'])).to.deep.equal([])
      expect(votes(m, 'prevote', 3, null, ['D'])).to.deep.equal([]) // f+1 needs another validator
      expect(m.round).to.equal(0)
    })

    it("an equivocating validator's vote for v counts even if its vote for w arrived first (else the node could never decide v)", () => {
      // B precommitted x to D and y to A and C, who decide y; the gossip brings B's y-precommit to D too.
      const m = mk('D')
      m.start()
      m.onProposal(proposal(0, 'y'))
      prevotes(m, 0, 'y', ['A', 'C', 'D'])
      expect(precommits(m, 0, 'x', ['B'])).to.deep.equal([])
      expect(precommits(m, 0, 'y', ['A', 'D'])).to.deep.equal([tPrecommit(0)])
      expect(precommits(m, 0, 'y', ['B'])).to.deep.equal([decide(0, 'y')])
      expect(m.precommitsFor(0, 'y')).to.have.members(['A', 'B', 'D'])
      expect(m.precommitsFor(0, 'x')).to.deep.equal(['B'])
    })

    it('votes from non-validators are ignored', () => {
      const m = mk('A')
      m.start()
      m.onProposal(proposal(0, 'V'))
      expect(votes(m, 'prevote', 0, 'V', ['A', 'X', 'Y', 'Z'])).to.deep.equal([])
      expect(m.step).to.equal('prevote')
      expect(votes(m, 'precommit', 0, 'V', ['X', 'Y', 'Z', 'A', 'B'])).to.deep.equal([])
      expect(m.decision).to.equal(null)
      expect(m.isValidator('X')).to.equal(false)
    })

    for (const self of [null, 'X']) {
      it(`a non-validator (self ${String(self)}) never proposes or votes, but follows and decides`, () => {
        const m = mk(self)
        const out: Action[] = [...m.start()]
        out.push(...m.onProposal(proposal(0, 'V')))
        expect(m.step).to.equal('prevote')
        out.push(...prevotes(m, 0, 'V', ['A', 'B', 'C']))
        expect([m.step, m.lockedValue]).to.deep.equal(['precommit', 'V'])
        out.push(...precommits(m, 0, 'V', ['A', 'B', 'C']))
        expect(out.filter(a => a.type === 'vote' || a.type === 'propose')).to.deep.equal([])
        expect(out.at(-1)).to.deep.equal(decide(0, 'V'))
        // Through timeouts and skipped rounds as well, in every round (including rounds whose proposer would be A).
        const m2 = mk(self)
        const out2: Action[] = [...m2.start()]
        for (let r = 0; r < 4; r++) {
          out2.push(...m2.onTimeout('propose', H, r), ...prevotes(m2, r, null, ['A', 'B', 'C']), ...m2.onTimeout('prevote', H, r))
          out2.push(...precommits(m2, r, null, ['A', 'B', 'C']), ...m2.onTimeout('precommit', H, r))
        }
        out2.push(...prevotes(m2, 9, null, ['A', 'B']))
        expect(m2.round).to.equal(9)
        expect(out2.filter(a => a.type === 'vote' || a.type === 'propose')).to.deep.equal([])
      })
    }
  })

  describe('unequal powers', () => {
    // A: 40, B, C, D: 10 each (total 70). Quorum: > 46.67, so A plus one other; f+1: > 23.33, so A alone.
    const W: ValidatorPower[] = [{ id: 'A', power: 40 }, { id: 'B', power: 10 }, { id: 'C', power: 10 }, { id: 'D', power: 10 }]

    it('quorums and skips are by power, not by count', () => {
      const m = mk('B', W)
      m.start()
      m.onProposal(proposal(0, 'V'))
      expect(prevotes(m, 0, 'V', ['B', 'C', 'D'])).to.deep.equal([]) // 3 of 4 validators, 30 of 70
      expect(prevotes(m, 0, 'V', ['A'])).to.deep.equal([tPrevote(0), vPrecommit(0, 'V')])
      expect(precommits(m, 0, 'V', ['A'])).to.deep.equal([]) // 40 of 70
      expect(precommits(m, 0, 'V', ['C'])).to.deep.equal([decide(0, 'V')]) // 50 of 70

      const m2 = mk('B', W)
      m2.start()
      expect(votes(m2, 'prevote', 2, null, ['C', 'D'])).to.deep.equal([]) // 20 of 70
      expect(votes(m2, 'prevote', 2, null, ['A']).length).to.be.greaterThan(0) // A alone: 40 > 70/3
      expect(m2.round).to.equal(2)
    })

    it('thresholds are strict: exactly 2/3 is no quorum, exactly 1/3 is no skip', () => {
      const E: ValidatorPower[] = [{ id: 'A', power: 20 }, { id: 'B', power: 10 }, { id: 'C', power: 10 }, { id: 'D', power: 20 }] // total 60
      const m = mk('B', E)
      m.start()
      m.onProposal(proposal(0, 'V'))
      expect(prevotes(m, 0, 'V', ['A', 'D'])).to.deep.equal([]) // 40 = 2/3
      expect(prevotes(m, 0, 'V', ['C'])).to.deep.equal([tPrevote(0), vPrecommit(0, 'V')])
      expect(precommits(m, 0, 'V', ['A', 'D'])).to.deep.equal([])
      expect(precommits(m, 0, 'V', ['B'])).to.deep.equal([decide(0, 'V')])
      const m2 = mk('B', E)
      m2.start()
      expect(votes(m2, 'precommit', 4, null, ['A'])).to.deep.equal([]) // 20 = 1/3
      expect(m2.round).to.equal(0)
      expect(votes(m2, 'precommit', 4, null, ['C']).length).to.be.greaterThan(0)
      expect(m2.round).to.equal(4)
    })

    it('A proposes 4 of every 7 slots', () => {
      const seq: string[] = []
      for (let h = 0; h < 700; h++) seq.push(proposerOf(W, h, 0))
      expect(counts(seq)).to.deep.equal({ A: 400, B: 100, C: 100, D: 100 })
    })
  })

  describe('construction and start', () => {
    it('rejects an empty set, duplicate ids and non-positive or non-integer power', () => {
      expect(() => new ConsensusMachine(H, [], null)).to.throw(/empty/)
      expect(() => new ConsensusMachine(H, [{ id: 'A', power: 10 }, { id: 'A', power: 5 }], null)).to.throw(/duplicate/)
      expect(() => new ConsensusMachine(H, [{ id: 'A', power: 0 }], null)).to.throw(/power/)
      expect(() => new ConsensusMachine(H, [{ id: 'A', power: 1.5 }], null)).to.throw(/power/)
      expect(() => new ConsensusMachine(H, [{ id: 'A', power: Number.MAX_SAFE_INTEGER }], null)).to.throw(/too large/)
    })

    it('start() begins at a round the shell preset (resuming after a restart)', () => {
      const m = mk('A')
      m.round = 2
      expect(m.start()).to.deep.equal([tProp(2)])
      expect(m.round).to.equal(2)
    })

    it('messages that arrive before start() are kept and applied at start', () => {
      const m = mk('A')
      expect(m.onProposal(proposal(0, 'V'))).to.deep.equal([])
      expect(prevotes(m, 0, 'V', ['B', 'C', 'D'])).to.deep.equal([])
      expect(m.start()).to.deep.equal([tProp(0), vPrevote(0, 'V'), tPrevote(0), vPrecommit(0, 'V')])
    })
  })

  describe('simulation with a byzantine validator', () => {
    const byzArb = fc.constantFrom(...IDS)
    const unequalArb = fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 4, maxLength: 4 })
      .chain(ps => {
        const total = ps.reduce((a, b) => a + b, 0)
        const ok = IDS.filter((_, i) => ps[i] * 3 < total)
        return ok.length === 0 ? fc.constant(null) : fc.tuple(fc.constant(ps), fc.constantFrom(...ok))
      })
      .filter((x): x is [number[], string] => x !== null)

    it('safety: no two honest machines decide differently (random order, delays, drops, timeouts, equivocation)', () => {
      let decidedRuns = 0
      let laterRounds = 0
      fc.assert(fc.property(fc.integer(), byzArb, fc.double({ min: 0, max: 0.8, noNaN: true }), (seed, byz, drop) => {
        const sim = new Sim(VALS, IDS.filter(id => id !== byz), byz, mulberry32(seed), { mode: 'async', drop })
        sim.run(2500, Infinity)
        sim.checkSafety()
        if (sim.decisions.size >= 2) decidedRuns++
        if (sim.decideRounds.some(r => r > 0)) laterRounds++
      }), { numRuns: 1000 })
      // The runs exercise deciding, also after round 0.
      expect(decidedRuns).to.be.greaterThan(50)
      expect(laterRounds).to.be.greaterThan(10)
    })

    it('safety with unequal powers (byzantine below 1/3 of the power)', () => {
      fc.assert(fc.property(fc.integer(), unequalArb, fc.double({ min: 0, max: 0.8, noNaN: true }), (seed, [powers, byz], drop) => {
        const vals = IDS.map((id, i) => ({ id, power: powers[i] }))
        const sim = new Sim(vals, IDS.filter(id => id !== byz), byz, mulberry32(seed), { mode: 'async', drop })
        sim.run(2500, Infinity)
        sim.checkSafety()
      }), { numRuns: 300 })
    })

    it('liveness under synchrony: every honest machine decides (the same value)', () => {
      fc.assert(fc.property(fc.integer(), byzArb, fc.boolean(), (seed, byz, silent) => {
        const sim = new Sim(VALS, IDS.filter(id => id !== byz), silent ? null : byz, mulberry32(seed), { mode: 'sync', maxDelay: 50 })
        sim.run(200_000, 60_000)
        sim.checkSafety()
        expect(sim.decisions.size, `decided: ${[...sim.decisions].join(' ')}`).to.equal(3)
      }), { numRuns: 150 })
    })

    it('liveness under synchrony with unequal powers', () => {
      fc.assert(fc.property(fc.integer(), unequalArb, (seed, [powers, byz]) => {
        const vals = IDS.map((id, i) => ({ id, power: powers[i] }))
        const sim = new Sim(vals, IDS.filter(id => id !== byz), byz, mulberry32(seed), { mode: 'sync', maxDelay: 50 })
        sim.run(200_000, 60_000)
        sim.checkSafety()
        expect(sim.decisions.size).to.equal(3)
      }), { numRuns: 100 })
    })
  })
})

// ---- helpers ----

function counts (xs: string[]): Record<string, number> {
  const c: Record<string, number> = {}
  for (const x of xs) c[x] = (c[x] ?? 0) + 1
  return c
}

function gcdN (a: number, b: number): number { while (b !== 0) { [a, b] = [b, a % b] } return a }

function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Msg =
  | { kind: 'proposal', from: string, round: number, value: string, polRound: number }
  | { kind: 'vote', from: string, type: VoteType, round: number, value: string | null }

type DistOmit<U, K extends PropertyKey> = U extends unknown ? Omit<U, K> : never
type Ev =
  | { at: number, seq: number, kind: 'msg', to: string, msg: Msg }
  | { at: number, seq: number, kind: 'timer', to: string, step: Step, height: number, round: number }
  | { at: number, seq: number, kind: 'byz' }

/** valid(v) is deterministic and the same at every honest node. */
const isValid = (v: string): boolean => !v.startsWith('bad')

/**
 * A network of honest machines driven like the I/O shell drives one (own proposals and votes are
 * applied to the own machine at once and broadcast; every received message is relayed to the
 * other honest nodes, as gossip does, until the node decides), and a byzantine validator that
 * sends arbitrary, conflicting proposals and votes to different honest nodes.
 * 'sync': events in time order, message delays in [1, maxDelay], no loss.
 * 'async': any pending event next (so arbitrary delays and order, and timeouts firing at any
 * time), and each message on a link lost with a probability drawn for that link in [0, drop].
 */
class Sim {
  readonly machines = new Map<string, ConsensusMachine>()
  readonly decisions = new Map<string, string>()
  readonly decideRounds: number[] = []
  private readonly signed = new Map<string, string | null>()
  private readonly seen = new Map<string, Set<string>>()
  private readonly queue: Ev[] = []
  private readonly values = new Set<string>(['x', 'y', 'bad'])
  /** 'async': the probability that a message on each (directed) link is lost. */
  private readonly linkDrop = new Map<string, number>()
  private seq = 0
  private now = 0

  constructor (readonly vals: ValidatorPower[], readonly honest: string[], readonly byz: string | null, readonly rnd: () => number, readonly opts: { mode: 'sync' | 'async', maxDelay?: number, drop?: number }) {
    for (const id of honest) {
      this.machines.set(id, new ConsensusMachine(H, vals, id, T))
      this.seen.set(id, new Set())
    }
    for (const a of vals) for (const b of honest) this.linkDrop.set(`${a.id}>${b}`, opts.mode === 'async' ? this.rnd() * (opts.drop ?? 0) : 0)
  }

  private int (n: number): number { return Math.floor(this.rnd() * n) }
  private push (ev: DistOmit<Ev, 'seq'>): void { this.queue.push({ ...ev, seq: this.seq++ } as Ev) }
  private send (from: string, to: string, msg: Msg): void {
    if (this.rnd() < (this.linkDrop.get(`${from}>${to}`) ?? 0)) return
    this.push({ at: this.now + 1 + this.int(this.opts.maxDelay ?? 100), kind: 'msg', to, msg })
  }

  run (maxEvents: number, maxTime: number): void {
    for (const id of this.honest) this.handle(id, (this.machines.get(id) as ConsensusMachine).start())
    if (this.byz !== null) this.push({ at: this.int(100), kind: 'byz' })
    for (let n = 0; n < maxEvents && this.queue.length > 0 && this.decisions.size < this.honest.length; n++) {
      let i = 0
      if (this.opts.mode === 'sync') {
        for (let j = 1; j < this.queue.length; j++) {
          const a = this.queue[j]
          const b = this.queue[i]
          if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) i = j
        }
      } else {
        // Mostly messages (so that rounds get somewhere), timers and byzantine moves at any time.
        i = this.int(this.queue.length)
        if (this.queue[i].kind !== 'msg' && this.rnd() < 0.5) i = this.int(this.queue.length)
      }
      const ev = this.queue.splice(i, 1)[0]
      this.now = Math.max(this.now, ev.at)
      if (this.now > maxTime) break
      if (ev.kind === 'msg') this.receive(ev.to, ev.msg)
      else if (ev.kind === 'timer') { if (!this.decisions.has(ev.to)) this.handle(ev.to, (this.machines.get(ev.to) as ConsensusMachine).onTimeout(ev.step, ev.height, ev.round)) }
      else this.byzantine()
    }
  }

  private receive (to: string, msg: Msg): void {
    if (this.decisions.has(to)) return // moved on to the next height: ignores (and does not relay) this one
    const key = JSON.stringify(msg)
    const seen = this.seen.get(to) as Set<string>
    if (seen.has(key)) return
    seen.add(key)
    const m = this.machines.get(to) as ConsensusMachine
    if (msg.kind === 'proposal' && msg.from !== m.proposer(msg.round)) return // the shell checks the sender (and does not relay)
    for (const other of this.honest) if (other !== to && other !== msg.from) this.send(to, other, msg)
    if (msg.kind === 'proposal') {
      this.values.add(msg.value)
      this.handle(to, m.onProposal({ round: msg.round, value: msg.value, polRound: msg.polRound, valid: isValid(msg.value) }))
    } else {
      this.handle(to, m.onVote({ type: msg.type, round: msg.round, validator: msg.from, value: msg.value }))
    }
  }

  private handle (id: string, actions: Action[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'timeout':
          this.push({ at: this.now + a.ms, kind: 'timer', to: id, step: a.step, height: a.height, round: a.round })
          break
        case 'propose': {
          const value = a.value ?? `v:${id}:${a.round}`
          this.receive(id, { kind: 'proposal', from: id, round: a.round, value, polRound: a.value === null ? -1 : a.polRound })
          break
        }
        case 'vote': {
          const k = `${id}:${a.voteType}:${a.round}`
          if (this.signed.has(k)) throw new Error(`honest ${id} voted twice in ${a.voteType} round ${a.round}: ${String(this.signed.get(k))} and ${String(a.value)}`)
          this.signed.set(k, a.value)
          this.receive(id, { kind: 'vote', from: id, type: a.voteType, round: a.round, value: a.value })
          break
        }
        case 'decide':
          if (this.decisions.has(id)) throw new Error(`honest ${id} decided twice`)
          this.decisions.set(id, a.value)
          this.decideRounds.push(a.round)
          break
      }
    }
  }

  /** Arbitrary messages from the byzantine validator: a different one to each honest node. */
  private byzantine (): void {
    const byz = this.byz as string
    const maxRound = Math.max(...[...this.machines.values()].map(m => m.round)) + 1
    const pool = [...this.values]
    for (let k = 0; k < 3; k++) {
      const what = this.int(3)
      // Mostly about the round the honest nodes are in (or the next), sometimes any round so far.
      const near = this.rnd() < 0.7
      const base = this.int(maxRound + 1)
      for (const to of this.honest) {
        const round = near ? Math.max(0, (this.machines.get(to) as ConsensusMachine).round + this.int(3) - 1) : base
        const value = this.rnd() < 0.25 ? null : pool[this.int(pool.length)]
        if (what === 2) {
          if (proposerOf(this.vals, H, round) !== byz || value === null) continue
          this.send(byz, to, { kind: 'proposal', from: byz, round, value, polRound: this.int(round + 1) - 1 })
        } else {
          this.send(byz, to, { kind: 'vote', from: byz, type: what === 0 ? 'prevote' : 'precommit', round, value })
        }
      }
    }
    if (this.queue.some(e => e.kind !== 'byz')) this.push({ at: this.now + 1 + this.int(300), kind: 'byz' })
  }

  checkSafety (): void {
    const ds = new Set(this.decisions.values())
    expect(ds.size, `honest decisions: ${[...this.decisions].join(' ')}`).to.be.at.most(1)
    for (const v of ds) expect(isValid(v), 'decided an invalid value').to.equal(true)
  }
}
