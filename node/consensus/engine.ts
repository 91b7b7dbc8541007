// The consensus engine: the I/O shell around ConsensusMachine (the pure Tendermint rules). It
// verifies gossiped proposals and votes, asks the application to build and validate blocks, signs
// through the PrivValidator (which refuses to sign twice), runs the timers, commits decided blocks
// with their precommits and paces heights. It orders opaque blocks: all it knows of the
// application is the ConsensusApp interface. Gossip of our own messages, block sync and evidence
// live in their own modules.
import { ConsensusMachine, proposerOf, type Action, type Step, type TimeoutConfig, DEFAULT_TIMEOUTS } from './machine.ts'
import {
  decodeConsensusMessage, encodeTxHashProposal, encodeVote, voteBytesToSign, proposalBytesToSign, completeProposal, decodeTxsAnswer,
  encodeSyncRequest, ConsensusMessageError, MAX_TXS_REQUEST,
  type ConsensusMessage, type SignedProposal, type SignedVote, type TxHashProposal,
} from './messages.ts'
import { blockHash, decodeBlock, encodeBlock, VOTE_PRECOMMIT, VOTE_PREVOTE, BLOCK_ID_FLAG_ABSENT, BLOCK_ID_FLAG_COMMIT, type Commit, type Validator } from '../core/block.ts'
import { bytesEqual, fromHex, sha256Once, toHexUpper, verifySignature } from '../core/crypto.ts'
import { DoubleSignError, type PrivValidator, STEP_PRECOMMIT, STEP_PREVOTE, STEP_PROPOSE } from '../chain/privval.ts'
import type { ConsensusApp, ValidatedBlock } from './app.ts'
import type { ConsensusNetwork, Verdict } from './network.ts'
import { ConsensusGossip, MAX_FUTURE_HEIGHTS } from './gossip.ts'
import { BlockSync, type SyncHooks } from './blockSync.ts'
import { EvidencePool } from './evidence.ts'
import { HeightVotes, valueOf } from './heightVotes.ts'
import { Byzantine, type ByzantineMode } from './byzantine.ts'
import { LockedBlockFile } from './lockedBlock.ts'
import type { Logger } from '../logger.ts'

export type { Verdict, ConsensusNetwork } from './network.ts'

export interface EngineOptions {
  timeouts?: TimeoutConfig
  now?: () => number
  syncIntervalMs?: number
  syncBatch?: number
  /** Where the block this validator is locked on is kept across a crash (none: in memory only). */
  lockedBlockFile?: string
  /** Test only: misbehave on purpose (see byzantine.ts). */
  byzantine?: ByzantineMode | null
  metrics?: { consensusRounds: { inc: () => void }, consensusTimeouts: { inc: (l: { step: string }) => void } }
}

/** While a height stalls this long, our own messages of it are gossiped again at this period. */
const REGOSSIP_AFTER_MS = 2000
/** Votes and proposals more rounds ahead than this are dropped (bounded memory). */
const MAX_ROUNDS_AHEAD = 50
/** How long the peer that relayed a proposal with tx hashes has to send the txs we lack. */
const TX_FETCH_TIMEOUT_MS = 3000
/** Bytes of txs fetched for one proposal, at most (a block is far smaller: max_block_bytes). */
const MAX_FETCH_BYTES = 8 * 1024 * 1024

/** What a proposal is signed over (both wire forms carry it). */
type ProposalHead = Pick<SignedProposal, 'height' | 'round' | 'polRound' | 'hash' | 'timestamp' | 'validator' | 'signature'>

function headOf (msg: ConsensusMessage): ProposalHead | null {
  return msg.kind === 'proposal' ? msg.p : msg.kind === 'tx-hashes' ? msg.c : null
}

/** What a held future message is, for de-duplication: a validator signs one of each. */
function futureSlot (msg: ConsensusMessage): string {
  const p = headOf(msg)
  if (p !== null) return `p:${p.height}:${p.round}`
  const v = (msg as { v: SignedVote }).v
  return `v:${v.height}:${v.round}:${v.type}:${toHexUpper(v.validator)}`
}

export class ConsensusEngine {
  private machine: ConsensusMachine | null = null
  private readonly timers = new Set<NodeJS.Timeout>()
  private startTimer: NodeJS.Timeout | null = null
  private syncTimer: NodeJS.Timeout | null = null
  private regossipTimer: NodeJS.Timeout | null = null
  private stopped = true
  private committing = false
  private lastCommitAt = 0
  /** When this node started consensus at the last height (local clock), to pace the next. */
  private heightStartedAt: number | null = null
  private valById = new Map<string, Validator>()
  private selfId: string | null = null
  /** The validator set of the current height. */
  private vals: readonly Validator[] = []
  private readonly timeouts: TimeoutConfig
  private readonly now: () => number
  /** Blocks seen in proposals of this height, by hash, with the application's verdict. */
  private blocks = new Map<string, ValidatedBlock>()
  /** The proposal accepted for each round of this height (its block hash). */
  private proposalOfRound = new Map<number, string>()
  /** The txs of this height's proposed blocks, by hash (served to peers that lack some). */
  private proposalTxs = new Map<string, Uint8Array>()
  /** Blocks of proposals with tx hashes whose missing txs are being fetched. */
  private fetching = new Set<string>()
  private powers: Array<{ id: string, power: number }> = []
  private votes = new HeightVotes()
  private lastCommit: Commit | null = null
  private readonly gossip: ConsensusGossip
  private readonly sync: BlockSync | null
  readonly evidence = new EvidencePool()
  private readonly byzantine: Byzantine | null
  private readonly lockedBlock: LockedBlockFile | null
  private readonly onWork = (): void => {
    if (this.machine !== null && !this.machine.isStarted && !this.stopped) this.scheduleStart(true)
  }

  private readonly syncHooks: SyncHooks = {
    busy: () => this.committing,
    pause: () => this.pauseMachine(),
    resume: () => { if (this.machine === null || this.machine.height !== this.app.height() + 1) this.newHeight() },
    committed: (commit) => { this.lastCommit = commit; this.lastCommitAt = this.now(); this.heightStartedAt = null },
  }

  constructor (
    private readonly app: ConsensusApp,
    private readonly pv: PrivValidator | null,
    private readonly net: ConsensusNetwork | null,
    private readonly log: Logger,
    private readonly opts: EngineOptions = {},
  ) {
    this.useSet(app.validators)
    this.timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS
    this.now = opts.now ?? Date.now
    this.gossip = new ConsensusGossip(net, log)
    this.lockedBlock = opts.lockedBlockFile === undefined ? null : new LockedBlockFile(opts.lockedBlockFile)
    this.byzantine = opts.byzantine != null && pv !== null ? new Byzantine(opts.byzantine, { key: pv.key, chainId: app.chainId, gossip: this.gossip, net }) : null
    if (this.byzantine !== null) log.warn({ mode: this.byzantine.mode }, this.byzantine.describe())
    this.sync = net === null ? null : new BlockSync({ batch: opts.syncBatch, byzantine: this.byzantine ?? undefined }, { app, net, log, now: this.now, txs: hashes => hashes.map(h => this.txByHash(toHexUpper(h))) })
  }

  get isValidator (): boolean { return this.selfId !== null }
  get currentRound (): number { return this.machine?.round ?? 0 }
  get isSyncing (): boolean { return this.sync?.isSyncing ?? false }
  /** Messages held for later heights (bounded; for metrics and tests). */
  get heldMessages (): number { return this.gossip.held }

  async start (): Promise<void> {
    this.stopped = false
    const h = this.app.height()
    if (h >= this.app.initialHeight) this.lastCommit = (await this.app.commitAt(h)) ?? null
    this.net?.onGossip('consensus', (data, from) => this.onGossip(data, from))
    this.sync?.serve()
    this.app.onWork(this.onWork)
    this.lastCommitAt = this.now()
    this.newHeight()
    this.syncTimer = setInterval(() => { void this.sync?.tick(this.syncHooks) }, this.opts.syncIntervalMs ?? 1000)
    this.net?.on?.('peer:ready', () => this.regossip())
    this.regossipTimer = setInterval(() => { if (this.now() - this.lastCommitAt > REGOSSIP_AFTER_MS) this.regossip() }, REGOSSIP_AFTER_MS)
    this.byzantine?.start(() => this.app.height())
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.byzantine?.stop()
    this.sync?.stop()
    this.app.offWork(this.onWork)
    this.clearTimers()
    if (this.startTimer !== null) clearTimeout(this.startTimer)
    if (this.syncTimer !== null) clearInterval(this.syncTimer)
    if (this.regossipTimer !== null) clearInterval(this.regossipTimer)
    while (this.committing || this.isSyncing) await new Promise(resolve => setTimeout(resolve, 10))
  }

  // ---- heights ----

  /** The set of a height (the application's; a fixed set when it keeps none). */
  private setOf (height: number): readonly Validator[] | undefined {
    return this.app.validatorsAt === undefined ? this.app.validators : this.app.validatorsAt(height)
  }

  /** Switches to a height's validator set: who votes, with what power, and whether this node is one of them. */
  private useSet (vals: readonly Validator[]): void {
    if (vals === this.vals) return
    const wasValidator = this.selfId !== null
    this.vals = vals
    this.valById = new Map(vals.map(v => [toHexUpper(v.address), v]))
    this.powers = vals.map(v => ({ id: toHexUpper(v.address), power: v.power }))
    const mine = this.pv === null ? undefined : vals.find(v => bytesEqual(v.pubKey, this.pv!.key.publicKey))
    this.selfId = mine === undefined ? null : toHexUpper(mine.address)
    if (this.selfId !== null && !wasValidator) this.log.info({ height: this.app.height() + 1, power: mine?.power }, 'this node is in the validator set: it signs from this height')
    if (this.selfId === null && wasValidator) this.log.info({ height: this.app.height() + 1 }, 'this node left the validator set: it follows as a full node')
  }

  private newHeight (): void {
    const h = this.app.height() + 1
    this.useSet(this.setOf(h) ?? this.app.validators)
    this.blocks = new Map()
    this.proposalOfRound = new Map()
    this.proposalTxs = new Map()
    this.fetching = new Set()
    this.votes = new HeightVotes()
    this.machine = new ConsensusMachine(h, this.powers, this.selfId, this.timeouts)
    // Replay messages held for this height (they may start it early).
    for (const m of this.gossip.enterHeight(h)) {
      const verdict = this.onGossip(m.data, m.from, m.receivedAt)
      if (verdict instanceof Promise) verdict.catch(e => this.log.error({ err: e }, 'a held consensus message failed'))
    }
    this.scheduleStart(this.app.hasWork())
  }

  private scheduleStart (work: boolean): void {
    if (this.machine === null || this.machine.isStarted) return
    const p = this.app.pacing
    // Heights are paced from when the last one started, so that a block comes every block_time_ms
    // when there is work (consensus time included), and every empty_block_interval_ms otherwise.
    const last = Math.min(this.heightStartedAt ?? this.lastCommitAt, this.lastCommitAt)
    const due = last + (work ? p.blockTimeMs : p.emptyBlockIntervalMs)
    if (this.startTimer !== null) clearTimeout(this.startTimer)
    this.startTimer = setTimeout(() => { this.startTimer = null; this.startMachine() }, Math.max(0, due - this.now()))
  }

  private startMachine (): void {
    const m = this.machine
    if (m === null || m.isStarted || this.stopped || this.isSyncing) return
    if (this.startTimer !== null) { clearTimeout(this.startTimer); this.startTimer = null }
    this.heightStartedAt = this.now()
    // A validator that signed at this height before a restart resumes at the next round.
    const last = this.pv?.lastSigned
    if (last !== undefined && last.height === m.height && last.step > 0) {
      m.round = last.round + 1
      if (last.lock !== undefined) {
        m.lockedRound = last.lock.round
        m.lockedValue = last.lock.value
        this.restoreLockedBlock(m.height, last.lock.value)
      }
    }
    this.run(m.start())
  }

  /** After a restart, the block we are locked on comes back from disk, so that we can propose it again. */
  private restoreLockedBlock (height: number, value: string): void {
    const rec = this.lockedBlock?.load()
    if (rec == null || rec.height !== height || this.blocks.has(value)) return
    let block
    try { block = decodeBlock(rec.blockBytes) } catch { return }
    if (toHexUpper(blockHash(block.header)) !== value) return
    const v = this.app.validate(block)
    if (v.error === null) this.blocks.set(value, v)
    this.log.info({ height, value, valid: v.error === null }, 'restored the block this validator is locked on')
  }

  private clearTimers (): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  private pauseMachine (): void {
    this.clearTimers()
    if (this.startTimer !== null) { clearTimeout(this.startTimer); this.startTimer = null }
    this.machine = null
  }

  // ---- actions ----

  private run (actions: Action[]): void {
    for (const a of actions) {
      if (this.stopped) return
      switch (a.type) {
        case 'timeout': this.startTimeout(a.step as Step, a.height, a.round, a.ms); break
        case 'propose': this.propose(a.height, a.round, a.value, a.polRound); break
        case 'vote': this.castVote(a.voteType === 'prevote' ? VOTE_PREVOTE : VOTE_PRECOMMIT, a.height, a.round, a.value); break
        case 'decide': void this.decide(a.height, a.round, a.value); break
      }
    }
  }

  private startTimeout (step: Step, height: number, round: number, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (this.stopped || this.machine?.height !== height) return
      const before = this.machine.round
      const acts = this.machine.onTimeout(step, height, round)
      if (acts.length > 0) this.opts.metrics?.consensusTimeouts.inc({ step })
      if (this.machine.round > before) this.opts.metrics?.consensusRounds.inc()
      this.run(acts)
    }, ms)
    this.timers.add(t)
  }

  private propose (height: number, round: number, value: string | null, polRound: number): void {
    if (this.pv === null) return
    let v: ValidatedBlock
    // With no valid value from this height's rounds, a validator locked on a block proposes that block.
    const choice = value ?? this.machine?.lockedValue ?? null
    const known = choice === null ? undefined : this.blocks.get(choice)
    if (known !== undefined && known.error === null) {
      v = known
    } else {
      const offered = this.evidence.forProposal()
      // Proposer-based time: the proposer's clock, validators check it against theirs.
      const time = Math.max(this.now(), this.app.lastBlockTime() + 1)
      v = this.app.propose({ time, lastCommit: this.lastCommit, evidence: offered })
      this.evidence.onProposed(offered, v.block)
      if (this.byzantine !== null) {
        // Only a tampered block replaces the executed one: an untouched block keeps its execution, which commit needs.
        const tampered = this.byzantine.tamper(v.block)
        if (tampered !== v.block) v = { block: tampered, error: null }
      }
      polRound = -1
    }
    const block = v.block
    const hash = blockHash(block.header)
    const ts = this.now()
    let sig: Uint8Array
    try {
      sig = this.pv.sign(height, round, STEP_PROPOSE, proposalBytesToSign(this.app.chainId, { height, round, hash, polRound, timestamp: ts }))
    } catch (e) {
      if (e instanceof DoubleSignError) {
        // Let the round time out like any proposer that does not propose.
        this.log.warn({ height, round, reason: e.message }, 'not proposing: already signed at this position')
        this.startTimeout('propose', height, round, this.timeouts.proposeMs + round * this.timeouts.proposeDeltaMs)
        return
      }
      throw e
    }
    const p: SignedProposal = { height, round, polRound, block, hash: toHexUpper(hash), timestamp: ts, validator: fromHex(this.selfId as string), signature: sig }
    this.blocks.set(p.hash, v)
    this.rememberTxs(block.txs)
    this.proposalOfRound.set(round, p.hash)
    // Tx hashes, not txs: peers hold what the mempools gossiped and fetch the rest from whoever relays it.
    this.gossip.publishOwn(encodeTxHashProposal(p))
    this.log.debug({ height, round, hash: p.hash, txs: block.txs.length }, 'proposed block')
    this.acceptProposal(p)
  }

  private castVote (type: number, height: number, round: number, value: string | null): void {
    if (this.pv === null || this.selfId === null) return
    const blockHashBytes = value === null ? new Uint8Array(0) : fromHex(value)
    const ts = this.now()
    let sig: Uint8Array
    try {
      // A precommit for a block is a lock: the block is kept on disk and the lock recorded with the signature, before it leaves.
      const lock = type === VOTE_PRECOMMIT && value !== null ? { round, value } : undefined
      if (lock !== undefined) this.keepLockedBlock(height, round, value as string)
      sig = this.pv.sign(height, round, type === VOTE_PREVOTE ? STEP_PREVOTE : STEP_PRECOMMIT, voteBytesToSign(this.app.chainId, { type, height, round, blockHash: blockHashBytes, timestamp: ts }), lock)
    } catch (e) {
      if (e instanceof DoubleSignError) { this.log.warn({ height, round, type, reason: e.message }, 'not voting: already signed at this position'); return }
      throw e
    }
    const v: SignedVote = { type, height, round, blockHash: blockHashBytes, timestamp: ts, validator: fromHex(this.selfId), signature: sig }
    this.gossip.publishOwn(encodeVote(v))
    this.acceptVote(v)
    if (type === VOTE_PREVOTE) this.byzantine?.afterPrevote(v)
  }

  private keepLockedBlock (height: number, round: number, value: string): void {
    const v = this.blocks.get(value)
    if (this.lockedBlock === null || v === undefined) return
    this.lockedBlock.save({ height, round, blockBytes: encodeBlock(v.block) })
  }

  private async decide (height: number, round: number, value: string): Promise<void> {
    const m = this.machine
    const v = this.blocks.get(value)
    if (m === null || m.height !== height || v === undefined || v.error !== null) return
    const sigs = this.vals.map(val => {
      const sv = this.votes.get(VOTE_PRECOMMIT, round, toHexUpper(val.address), value)
      if (sv !== undefined) return { blockIdFlag: BLOCK_ID_FLAG_COMMIT, validatorAddress: val.address, timestamp: sv.timestamp, signature: sv.signature }
      return { blockIdFlag: BLOCK_ID_FLAG_ABSENT, validatorAddress: val.address, timestamp: 0, signature: new Uint8Array(0) }
    })
    await this.commit(v, { height, round, blockHash: fromHex(value), signatures: sigs })
  }

  private async commit (v: ValidatedBlock, commit: Commit): Promise<void> {
    this.committing = true
    try {
      this.clearTimers()
      await this.app.commit(v, commit)
      this.evidence.onCommitted(v.block)
      // Precommits that arrived while the block was written go into the next block's last_commit.
      this.lastCommit = this.withLatePrecommits(commit)
      this.lastCommitAt = this.now()
      const fields = { height: v.block.header.height, round: commit.round, txs: v.block.txs.length }
      if (commit.round > 0) this.log.info(fields, 'committed block after more than one round')
      else this.log.debug(fields, 'committed block')
    } finally {
      this.committing = false
    }
    if (!this.stopped && !this.isSyncing) this.newHeight()
  }

  /**
   * The commit with the precommits for its block that arrived after the decision (as CometBFT's
   * LastCommit gathers them): the next block's last_commit then names every validator that
   * signed in time, so missed-signature counting (downtime) does not punish the slower 1/3.
   */
  private withLatePrecommits (c: Commit, late?: SignedVote): Commit {
    const value = toHexUpper(c.blockHash)
    let sigs: Commit['signatures'] | null = null
    for (const [i, s] of c.signatures.entries()) {
      if (s.blockIdFlag === BLOCK_ID_FLAG_COMMIT) continue
      const id = toHexUpper(s.validatorAddress)
      const sv = late !== undefined ? (toHexUpper(late.validator) === id ? late : undefined) : this.votes.get(VOTE_PRECOMMIT, c.round, id, value)
      if (sv === undefined) continue
      sigs ??= [...c.signatures]
      sigs[i] = { blockIdFlag: BLOCK_ID_FLAG_COMMIT, validatorAddress: s.validatorAddress, timestamp: sv.timestamp, signature: sv.signature }
    }
    return sigs === null ? c : { ...c, signatures: sigs }
  }

  /** A precommit of the last height for its committed block, verified against that height's set, joins the last commit. */
  private onLatePrecommit (v: SignedVote): void {
    const c = this.lastCommit
    if (c === null || v.type !== VOTE_PRECOMMIT || v.height !== c.height || v.round !== c.round || !bytesEqual(v.blockHash, c.blockHash)) return
    const val = this.setOf(v.height)?.find(x => bytesEqual(x.address, v.validator))
    if (val === undefined || !verifySignature(val.pubKey, voteBytesToSign(this.app.chainId, v), v.signature)) return
    this.lastCommit = this.withLatePrecommits(c, v)
  }

  private regossip (): void {
    if (this.stopped || this.machine === null) return
    this.gossip.regossip()
  }

  // ---- incoming ----

  private onGossip (data: Uint8Array, from: string, receivedAt = this.now()): Verdict | Promise<Verdict> {
    let msg
    try {
      msg = decodeConsensusMessage(data)
    } catch (e) {
      if (e instanceof ConsensusMessageError) return 'reject'
      throw e
    }
    const m = this.machine
    if (m === null) return 'ignore'
    const head = headOf(msg)
    const height = head?.height ?? (msg as { v: SignedVote }).v.height
    const round = head?.round ?? (msg as { v: SignedVote }).v.round
    if (height < m.height) {
      if (msg.kind === 'vote' && height === m.height - 1) this.onLatePrecommit(msg.v)
      return 'ignore'
    }
    // Far-future heights and rounds are not kept: nobody honest is that far ahead.
    if (height > m.height + MAX_FUTURE_HEIGHTS || round > (height === m.height ? m.round : 0) + MAX_ROUNDS_AHEAD) return 'ignore'
    if (height > m.height) {
      // A later height's message is held for when we get there, but only once its signature is
      // checked against the validator set (and, for a proposal, that height's proposer).
      const ok = this.verifyFuture(msg, height)
      if (ok === null) return 'ignore'
      if (!ok) return 'reject'
      return this.gossip.hold(m.height, height, data, from, futureSlot(msg), receivedAt) ? 'accept' : 'ignore'
    }
    if (msg.kind === 'proposal') return this.checkProposal(msg.p, receivedAt)
    if (msg.kind === 'tx-hashes') return this.checkTxHashProposal(msg.c, from, receivedAt)
    return this.checkVote(msg.v) ? 'accept' : 'reject'
  }

  /** Whether a later height's message is signed by a validator of that height (null: that set is not known yet). */
  private verifyFuture (msg: ConsensusMessage, height: number): boolean | null {
    // Against the set of that height (known two heights ahead).
    const vals = this.setOf(height)
    if (vals === undefined) return null
    const byId = vals === this.vals ? this.valById : new Map(vals.map(v => [toHexUpper(v.address), v]))
    const p = headOf(msg)
    if (p === null) {
      const v = (msg as { v: SignedVote }).v
      const val = byId.get(toHexUpper(v.validator))
      return val !== undefined && verifySignature(val.pubKey, voteBytesToSign(this.app.chainId, v), v.signature)
    }
    const id = toHexUpper(p.validator)
    const val = byId.get(id)
    const powers = vals === this.vals ? this.powers : vals.map(v => ({ id: toHexUpper(v.address), power: v.power }))
    if (val === undefined || proposerOf(powers, height, p.round) !== id) return false
    return verifySignature(val.pubKey, proposalBytesToSign(this.app.chainId, { height: p.height, round: p.round, hash: fromHex(p.hash), polRound: p.polRound, timestamp: p.timestamp }), p.signature)
  }

  /** Whether a proposal of this height comes from its round's proposer, signed by it. */
  private signedByProposer (p: ProposalHead): boolean {
    const id = toHexUpper(p.validator)
    if ((this.machine as ConsensusMachine).proposer(p.round) !== id) return false
    const val = this.valById.get(id) as Validator
    return verifySignature(val.pubKey, proposalBytesToSign(this.app.chainId, { height: p.height, round: p.round, hash: fromHex(p.hash), polRound: p.polRound, timestamp: p.timestamp }), p.signature)
  }

  private checkProposal (p: SignedProposal, receivedAt: number): Verdict {
    if (!this.signedByProposer(p)) return 'reject'
    return this.takeProposal(p, receivedAt)
  }

  /** A proposal whose signature is its round proposer's. */
  private takeProposal (p: SignedProposal, receivedAt: number): Verdict {
    if (toHexUpper(p.validator) === this.selfId) return 'accept' // our own, already accepted
    // One proposal per round: a proposer that signs others for its round gets none of them validated.
    const seen = this.proposalOfRound.get(p.round)
    if (seen !== undefined && seen !== p.hash) return 'ignore'
    this.proposalOfRound.set(p.round, p.hash)
    this.acceptProposal(p, this.isTimely(p, receivedAt))
    return 'accept'
  }

  /**
   * Proposer-based time (CometBFT's PBTS): a fresh proposal's block time must be no later than our
   * clock plus the precision when it arrives (the proposer cannot date its block ahead) and no
   * earlier than our clock minus the message delay (10% longer each round, so that slow networks
   * still get a timely proposal through) minus the precision (nor date it far back). A
   * re-proposal (polRound >= 0) already had 2/3 of the prevotes and is not checked again.
   */
  private isTimely (p: SignedProposal, receivedAt: number): boolean {
    if (p.polRound >= 0) return true
    const { precisionMs, messageDelayMs } = this.app.synchrony
    const t = p.block.header.time
    const delay = messageDelayMs * 1.1 ** p.round
    const timely = receivedAt >= t - precisionMs && receivedAt <= t + delay + precisionMs
    if (!timely) this.log.warn({ height: p.height, round: p.round, blockTime: t, receivedAt }, 'untimely proposal: its block time is too far from this validator\'s clock; prevoting nil')
    return timely
  }

  /**
   * A proposal with tx hashes: once its signature is the round proposer's, its txs come from this
   * node's mempool and this height's proposals; the ones missing are fetched from the peer that
   * relayed it (which, having accepted it, held them all), each checked against its hash. Then it
   * is a proposal like any other. A relay that serves a tx that does not match is penalised.
   */
  private checkTxHashProposal (c: TxHashProposal, from: string, receivedAt: number): Verdict | Promise<Verdict> {
    if (!this.signedByProposer(c)) return 'reject'
    if (toHexUpper(c.validator) === this.selfId) return 'accept'
    const seen = this.proposalOfRound.get(c.round)
    if (seen !== undefined && seen !== c.hash) return 'ignore'
    const known = this.blocks.get(c.hash)
    const txs = known !== undefined ? known.block.txs : c.txHashes.map(h => this.txByHash(toHexUpper(h)))
    const missing: number[] = []
    for (const [i, t] of txs.entries()) if (t === undefined) missing.push(i)
    if (missing.length === 0) return this.acceptTxHashProposal(c, txs as Uint8Array[], receivedAt)
    if (this.fetching.has(c.hash) || this.net === null) return 'ignore'
    this.fetching.add(c.hash)
    this.proposalOfRound.set(c.round, c.hash)
    return this.fetchTxs(from, missing.map(i => c.txHashes[i])).then(got => {
      this.fetching.delete(c.hash)
      if (this.stopped || this.machine?.height !== c.height) return 'ignore'
      for (const [j, i] of missing.entries()) txs[i] = got[j]
      return this.acceptTxHashProposal(c, txs as Uint8Array[], receivedAt)
    }, (e: Error) => {
      this.fetching.delete(c.hash)
      // Another copy of it (a regossip, another relay) may try again.
      if (this.machine?.height === c.height && this.proposalOfRound.get(c.round) === c.hash && !this.blocks.has(c.hash)) this.proposalOfRound.delete(c.round)
      if (e instanceof ConsensusMessageError) this.net?.penalize(from, e.message)
      this.log.debug({ height: c.height, round: c.round, hash: c.hash, peer: from, missing: missing.length, err: e.message }, 'could not fetch the txs of a proposal')
      return 'ignore'
    })
  }

  private acceptTxHashProposal (c: TxHashProposal, txs: Uint8Array[], receivedAt: number): Verdict {
    let p: SignedProposal
    try { p = completeProposal(c, txs) } catch (e) { if (e instanceof ConsensusMessageError) return 'ignore'; throw e }
    return this.takeProposal(p, receivedAt)
  }

  /** The txs for these hashes from one peer, in order; a ConsensusMessageError when it serves a wrong one. */
  private async fetchTxs (peer: string, hashes: Uint8Array[]): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    let bytes = 0
    while (out.length < hashes.length) {
      const ask = hashes.slice(out.length, out.length + MAX_TXS_REQUEST)
      const answer = decodeTxsAnswer(await (this.net as ConsensusNetwork).request(peer, 'sync', encodeSyncRequest({ kind: 'txs', hashes: ask }), TX_FETCH_TIMEOUT_MS))
      if (answer.length === 0 || answer.length > ask.length) throw new ConsensusMessageError(`answered ${answer.length} txs for ${ask.length} hashes`)
      for (const [j, t] of answer.entries()) {
        if (t === null) throw new Error('the peer no longer holds a tx of the proposal')
        if (!bytesEqual(sha256Once(t), ask[j])) throw new ConsensusMessageError('served a tx that does not match the proposal\'s hash')
        bytes += t.length
        // Not the relay's fault: the proposer listed that much. No valid block is this large.
        if (bytes > MAX_FETCH_BYTES) throw new Error(`the proposal's txs exceed ${MAX_FETCH_BYTES} bytes (more than max_block_bytes allows)`)
        out.push(t)
      }
    }
    return out
  }

  private rememberTxs (txs: readonly Uint8Array[]): void {
    for (const t of txs) this.proposalTxs.set(toHexUpper(sha256Once(t)), t)
  }

  /** A tx of this height's proposals or of the application's pool, by hash (upper hex). */
  private txByHash (hash: string): Uint8Array | undefined {
    return this.proposalTxs.get(hash) ?? this.app.txBytes?.(hash)
  }

  private acceptProposal (p: SignedProposal, timely = true): void {
    const m = this.machine as ConsensusMachine
    let v = this.blocks.get(p.hash)
    if (v === undefined) {
      v = this.app.validate(p.block, { proposer: p.validator })
      this.blocks.set(p.hash, v)
      this.rememberTxs(p.block.txs)
      if (v.error !== null) this.log.warn({ height: p.height, round: p.round, hash: p.hash, reason: v.error }, 'invalid proposed block')
    }
    if (!m.isStarted) this.startMachine()
    this.run(m.onProposal({ round: p.round, value: p.hash, polRound: p.polRound, valid: v.error === null, timely }))
  }

  private checkVote (v: SignedVote): boolean {
    const id = toHexUpper(v.validator)
    const val = this.valById.get(id)
    if (val === undefined) return false
    if (!verifySignature(val.pubKey, voteBytesToSign(this.app.chainId, v), v.signature)) return false
    if (id === this.selfId) return true
    this.acceptVote(v)
    return true
  }

  private acceptVote (v: SignedVote): void {
    const m = this.machine as ConsensusMachine
    const id = toHexUpper(v.validator)
    if (v.round > m.round + MAX_ROUNDS_AHEAD) return
    const outcome = this.votes.add(v)
    if (outcome.kind === 'known') return
    if (outcome.kind === 'equivocation') {
      // Evidence for a block, and (once) counted as the paper counts messages.
      if (this.evidence.addDuplicateVote(outcome.first, v)) this.log.warn({ validator: id, height: v.height, round: v.round, type: v.type }, 'duplicate vote: keeping it as evidence')
      if (!outcome.counted) return
    }
    if (!m.isStarted && v.round >= 0) this.startMachine()
    this.run(m.onVote({ type: v.type === VOTE_PREVOTE ? 'prevote' : 'precommit', round: v.round, validator: id, value: valueOf(v) }))
    if (m.committedWithoutProposal() !== null) void this.sync?.tick(this.syncHooks)
  }
}
