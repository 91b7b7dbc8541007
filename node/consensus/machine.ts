// The Tendermint consensus algorithm (Buchman, Kwon, Milosevic, "The latest gossip on BFT
// consensus", arXiv 1807.04938, Algorithm 1) as a pure state machine for one height. Inputs are
// verified messages and fired timeouts; outputs are actions for the I/O shell (propose, vote,
// schedule a timeout, decide). It reads no clock and knows nothing of what blocks contain:
// values are opaque block hashes (hex), and the shell tells it whether a proposed value is valid.

export type Step = 'propose' | 'prevote' | 'precommit'
export type VoteType = 'prevote' | 'precommit'

export interface ValidatorPower { id: string, power: number }

/**
 * A proposal as the machine sees it. `timely` (proposer-based time): whether its block time was
 * close enough to this validator's clock when it arrived; a fresh proposal (polRound -1) that is
 * not timely gets a nil prevote, but may still be locked on and decided if 2/3 prevote it.
 */
export interface ProposalIn { round: number, value: string, polRound: number, valid: boolean, timely?: boolean }
export interface VoteIn { type: VoteType, round: number, validator: string, value: string | null }

export type Action =
  | { type: 'propose', height: number, round: number, value: string | null, polRound: number } // value null: build a new block
  | { type: 'vote', voteType: VoteType, height: number, round: number, value: string | null }
  | { type: 'timeout', step: Step, height: number, round: number, ms: number }
  | { type: 'decide', height: number, round: number, value: string }

export interface TimeoutConfig { proposeMs: number, proposeDeltaMs: number, prevoteMs: number, prevoteDeltaMs: number, precommitMs: number, precommitDeltaMs: number }
export const DEFAULT_TIMEOUTS: TimeoutConfig = { proposeMs: 3000, proposeDeltaMs: 500, prevoteMs: 1000, prevoteDeltaMs: 500, precommitMs: 1000, precommitDeltaMs: 500 }

/** Above this many slots per period, weights are scaled down (each keeps at least one slot). */
const MAX_PROPOSER_PERIOD = 10_000
const proposerSchedules = new Map<string, string[]>()

/**
 * The proposer of (height, round): a weighted round robin by voting power (smooth weighted round
 * robin over the set, sorted by id, from zero priorities), indexed by height + round. One period
 * of the schedule is computed once per validator set; in each period every validator proposes
 * exactly its weight (power / gcd of powers, scaled to at most MAX_PROPOSER_PERIOD slots in all).
 */
export function proposerOf (vals: ValidatorPower[], height: number, round: number): string {
  const sorted = [...vals].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  const key = sorted.map(v => `${v.id}:${v.power}`).join(',')
  let schedule = proposerSchedules.get(key)
  if (schedule === undefined) {
    const g = sorted.reduce((acc, v) => gcd(acc, v.power), 0)
    let weights = sorted.map(v => v.power / g)
    const sum = weights.reduce((s, w) => s + w, 0)
    if (sum > MAX_PROPOSER_PERIOD) weights = weights.map(w => Math.max(1, Math.round(w * MAX_PROPOSER_PERIOD / sum)))
    const total = weights.reduce((s, w) => s + w, 0)
    const prio = weights.map(() => 0)
    schedule = []
    for (let i = 0; i < total; i++) {
      for (let j = 0; j < prio.length; j++) prio[j] += weights[j]
      let pick = 0
      for (let j = 1; j < prio.length; j++) if (prio[j] > prio[pick]) pick = j
      prio[pick] -= total
      schedule.push(sorted[pick].id)
    }
    if (proposerSchedules.size >= 16) proposerSchedules.clear()
    proposerSchedules.set(key, schedule)
  }
  return schedule[(height + round) % schedule.length]
}

function gcd (a: number, b: number): number { while (b !== 0) { [a, b] = [b, a % b] } return a }

/**
 * Votes of one type and round, tallied by value. A validator counts once towards `total` (2f+1 of
 * any kind, f+1 of a round) and once towards each value it voted for: like the paper, which counts
 * messages, a vote for v counts even if its (byzantine) sender also voted for something else —
 * otherwise a node that saw an equivocator's other vote first could miss a quorum the others
 * decided on, and never decide. Safe with less than 1/3 byzantine power: two quorums in one round
 * would share more than 1/3 of the power, all of it equivocating.
 */
class VoteSet {
  readonly byValidator = new Map<string, Set<string | null>>()
  readonly powerByValue = new Map<string | null, number>() // key: value, or null for nil
  total = 0
  add (validator: string, value: string | null, power: number): boolean {
    let values = this.byValidator.get(validator)
    if (values === undefined) {
      values = new Set()
      this.byValidator.set(validator, values)
      this.total += power
    }
    if (values.has(value)) return false
    values.add(value)
    this.powerByValue.set(value, (this.powerByValue.get(value) ?? 0) + power)
    return true
  }

  power (value: string | null): number { return this.powerByValue.get(value) ?? 0 }
}

export class ConsensusMachine {
  round = 0
  step: Step = 'propose'
  lockedValue: string | null = null
  lockedRound = -1
  validValue: string | null = null
  validRound = -1
  decision: string | null = null
  /** Proposals by round: normally one, more if the proposer equivocated (all are kept, as in the paper's message log). */
  private readonly proposals = new Map<number, ProposalIn[]>()
  private readonly prevotes = new Map<number, VoteSet>()
  private readonly precommits = new Map<number, VoteSet>()
  private readonly fired = new Set<string>() // "first time" rules already applied
  private readonly power: Map<string, number>
  private readonly totalPower: number
  private started = false

  constructor (readonly height: number, readonly validators: ValidatorPower[], readonly self: string | null, readonly timeouts: TimeoutConfig = DEFAULT_TIMEOUTS) {
    if (validators.length === 0) throw new Error('consensus: empty validator set')
    this.power = new Map()
    for (const v of validators) {
      if (!Number.isSafeInteger(v.power) || v.power <= 0) throw new Error(`consensus: validator ${v.id} has invalid power ${v.power}`)
      if (this.power.has(v.id)) throw new Error(`consensus: duplicate validator ${v.id}`)
      this.power.set(v.id, v.power)
    }
    this.totalPower = validators.reduce((s, v) => s + v.power, 0)
    if (!Number.isSafeInteger(this.totalPower * 3)) throw new Error('consensus: total voting power too large')
  }

  private quorum (p: number): boolean { return p * 3 > this.totalPower * 2 }
  private oneThird (p: number): boolean { return p * 3 > this.totalPower }
  private votes (type: VoteType, round: number): VoteSet {
    const m = type === 'prevote' ? this.prevotes : this.precommits
    let s = m.get(round)
    if (s === undefined) { s = new VoteSet(); m.set(round, s) }
    return s
  }

  proposer (round: number): string { return proposerOf(this.validators, this.height, round) }
  isValidator (id: string): boolean { return this.power.has(id) }

  /** Starts this height at `round` (0 unless the shell set it, e.g. to resume after rounds it signed in before a restart). */
  start (): Action[] {
    if (this.started) return []
    this.started = true
    const out: Action[] = []
    this.startRound(this.round, out)
    this.evaluate(out)
    return out
  }

  get isStarted (): boolean { return this.started }

  private startRound (r: number, out: Action[]): void {
    this.round = r
    this.step = 'propose'
    // Unlike the paper (line 21) the proposer schedules timeoutPropose too, as CometBFT does: if
    // its own proposal never comes back (building or signing failed), it still prevotes nil.
    out.push({ type: 'timeout', step: 'propose', height: this.height, round: r, ms: this.timeouts.proposeMs + r * this.timeouts.proposeDeltaMs })
    if (this.self !== null && this.proposer(r) === this.self) {
      out.push({ type: 'propose', height: this.height, round: r, value: this.validValue, polRound: this.validValue !== null ? this.validRound : -1 })
    }
  }

  private vote (type: VoteType, value: string | null, out: Action[]): void {
    if (this.self !== null && this.power.has(this.self)) out.push({ type: 'vote', voteType: type, height: this.height, round: this.round, value })
  }

  /** A proposal from the proposer of its round (the shell checked sender and signature). */
  onProposal (p: ProposalIn): Action[] {
    const list = this.proposals.get(p.round) ?? []
    if (list.some(q => q.value === p.value && q.polRound === p.polRound)) return []
    list.push({ ...p })
    this.proposals.set(p.round, list)
    const out: Action[] = []
    if (this.started) this.evaluate(out)
    return out
  }

  /** A vote from a validator of this height (the shell checked its signature). */
  onVote (v: VoteIn): Action[] {
    const power = this.power.get(v.validator)
    if (power === undefined) return []
    if (!this.votes(v.type, v.round).add(v.validator, v.value, power)) return []
    const out: Action[] = []
    if (this.started) this.evaluate(out)
    return out
  }

  onTimeout (step: Step, height: number, round: number): Action[] {
    const out: Action[] = []
    if (height !== this.height || this.decision !== null) return out
    if (step === 'propose' && round === this.round && this.step === 'propose') {
      this.vote('prevote', null, out)
      this.step = 'prevote'
    } else if (step === 'prevote' && round === this.round && this.step === 'prevote') {
      this.vote('precommit', null, out)
      this.step = 'precommit'
    } else if (step === 'precommit' && round === this.round) {
      this.startRound(this.round + 1, out)
    }
    this.evaluate(out)
    return out
  }

  private once (key: string): boolean {
    if (this.fired.has(key)) return false
    this.fired.add(key)
    return true
  }

  /** Applies every rule of Algorithm 1 that the messages now enable, until none does. */
  private evaluate (out: Action[]): void {
    for (let guard = 0; guard < 64; guard++) {
      if (this.decision !== null) return
      const before = out.length
      const r = this.round
      const props = this.proposals.get(r) ?? []

      // Decide: a proposal of any round r' with 2f+1 precommits for it.
      for (const [pr, ps] of this.proposals) {
        for (const p of ps) {
          if (this.quorum(this.votes('precommit', pr).power(p.value)) && p.valid) {
            this.decision = p.value
            out.push({ type: 'decide', height: this.height, round: pr, value: p.value })
            return
          }
        }
      }

      // Round skip: f+1 messages of a higher round (to the highest such round).
      let skipTo = -1
      for (const rr of new Set([...this.prevotes.keys(), ...this.precommits.keys()])) {
        if (rr <= r || rr <= skipTo) continue
        const senders = new Set([...this.votes('prevote', rr).byValidator.keys(), ...this.votes('precommit', rr).byValidator.keys()])
        let p = 0
        for (const s of senders) p += this.power.get(s) ?? 0
        if (this.oneThird(p)) skipTo = rr
      }
      if (skipTo >= 0) { this.startRound(skipTo, out); continue }

      if (this.step === 'propose') {
        for (const prop of props) {
          if (prop.polRound === -1) {
            const ok = prop.valid && prop.timely !== false && (this.lockedRound === -1 || this.lockedValue === prop.value)
            this.vote('prevote', ok ? prop.value : null, out)
            this.step = 'prevote'
            break
          }
          if (prop.polRound >= 0 && prop.polRound < r && this.quorum(this.votes('prevote', prop.polRound).power(prop.value))) {
            const ok = prop.valid && (this.lockedRound <= prop.polRound || this.lockedValue === prop.value)
            this.vote('prevote', ok ? prop.value : null, out)
            this.step = 'prevote'
            break
          }
        }
        if (this.step !== 'propose') continue
      }

      const pv = this.votes('prevote', r)
      if (this.step === 'prevote' && this.quorum(pv.total) && this.once(`tpv:${r}`)) {
        out.push({ type: 'timeout', step: 'prevote', height: this.height, round: r, ms: this.timeouts.prevoteMs + r * this.timeouts.prevoteDeltaMs })
      }

      // At most one value can have 2f+1 prevotes in a round (with less than 1/3 byzantine power).
      const prop = props.find(p => p.valid && this.quorum(pv.power(p.value)))
      if (prop !== undefined && (this.step === 'prevote' || this.step === 'precommit') && this.once(`lock:${r}`)) {
        if (this.step === 'prevote') {
          this.lockedValue = prop.value
          this.lockedRound = r
          this.vote('precommit', prop.value, out)
          this.step = 'precommit'
        }
        this.validValue = prop.value
        this.validRound = r
        continue
      }

      if (this.step === 'prevote' && this.quorum(pv.power(null))) {
        this.vote('precommit', null, out)
        this.step = 'precommit'
        continue
      }

      if (this.quorum(this.votes('precommit', r).total) && this.once(`tpc:${r}`)) {
        out.push({ type: 'timeout', step: 'precommit', height: this.height, round: r, ms: this.timeouts.precommitMs + r * this.timeouts.precommitDeltaMs })
      }
      if (out.length === before) return
    }
  }

  /** Validators whose precommits for `value` in `round` we hold (for the commit). */
  precommitsFor (round: number, value: string): string[] {
    const s = this.votes('precommit', round)
    return [...s.byValidator].filter(([, vs]) => vs.has(value)).map(([id]) => id)
  }

  /** A value that has 2f+1 precommits in some round although we lack (a valid) proposal for it. */
  committedWithoutProposal (): { round: number, value: string } | null {
    for (const [round, s] of this.precommits) {
      for (const [value, p] of s.powerByValue) {
        if (value !== null && this.quorum(p)) {
          if (!(this.proposals.get(round) ?? []).some(q => q.value === value && q.valid)) return { round, value }
        }
      }
    }
    return null
  }
}
