// The consensus engine: the I/O shell around ConsensusMachine. It verifies gossiped proposals
// and votes, validates proposed blocks by executing them, signs through the PrivValidator (which
// refuses to sign twice), runs the timers, commits decided blocks with their precommits, paces
// heights (block_time_ms with work, empty_block_interval_ms without), keeps duplicate votes as
// evidence, and catches up from peers by block sync. It orders opaque transactions: all it knows
// of the application is buildBlock and executeBlock.
import { ConsensusMachine, type Action, type Step, type TimeoutConfig, DEFAULT_TIMEOUTS } from './machine.ts'
import {
  decodeConsensusMessage, encodeProposal, encodeVote, voteBytesToSign, proposalBytesToSign, isDuplicateVote, ConsensusMessageError,
  decodeSyncRequest, encodeSyncRequest, type SignedProposal, type SignedVote,
} from './messages.ts'
import { blockHash, commitHash, dataHash, encodeBlock, decodeBlock, encodeCommit, decodeCommit, validatorsHash, verifyCommit, VOTE_PRECOMMIT, VOTE_PREVOTE, EMPTY_HASH, BLOCK_ID_FLAG_ABSENT, BLOCK_ID_FLAG_COMMIT, type Block, type Commit, type Validator } from '../core/block.ts'
import { addressFromPubkey, bytesEqual, fromHex, toHexUpper, verifySignature } from '../core/crypto.ts'
import { executeBlock, type BlockContext, type BlockExecution } from '../core/transition.ts'
import { decodeTx, type Tx } from '../core/tx.ts'
import { TxError } from '../core/errors.ts'
import { pack, unpack } from '../core/codec.ts'
import { buildBlock } from '../chain/producer.ts'
import { DoubleSignError, PrivValidator, STEP_PRECOMMIT, STEP_PREVOTE, STEP_PROPOSE } from '../chain/privval.ts'
import type { Chain } from '../chain/chain.ts'
import type { Mempool } from '../chain/mempool.ts'
import type { Logger } from '../logger.ts'

export type Verdict = 'accept' | 'reject' | 'ignore'
/** What the engine needs of the network (node/p2p/network.ts provides it). */
export interface ConsensusNetwork {
  publish: (topic: 'txs' | 'consensus', data: Uint8Array) => Promise<void>
  onGossip: (topic: 'txs' | 'consensus', handler: (data: Uint8Array, from: string) => Verdict) => void
  handle: (protocol: 'sync', handler: (req: Uint8Array, from: string) => Promise<Uint8Array>) => void
  request: (peer: string, protocol: 'sync', req: Uint8Array, timeoutMs: number) => Promise<Uint8Array>
  peers: () => Array<{ id: string, height: number }>
  penalize: (peer: string, reason: string) => void
  on?: (event: 'peer:ready', f: () => void) => void
}

export interface EngineOptions {
  timeouts?: TimeoutConfig
  now?: () => number
  syncIntervalMs?: number
  syncBatch?: number
  /** Test only: misbehave ('double-prevote'). */
  byzantine?: string
  metrics?: { consensusRounds: { inc: () => void }, consensusTimeouts: { inc: (l: { step: string }) => void } }
}

interface Validated { block: Block, exec: BlockExecution | null, error: string | null }

const MAX_FUTURE_MSGS = 20_000
const TX_BATCH_MAX = 2000
const TX_BATCH_BYTES = 1024 * 1024
const TX_BATCH_MS = 5
/** While a height stalls this long, our own messages of it are gossiped again at this period. */
const REGOSSIP_AFTER_MS = 2000
/** Votes more rounds ahead than this are dropped (bounded memory). */
const MAX_ROUNDS_AHEAD = 50
/** Conflicting votes counted per height, beyond which they only feed evidence. */
const MAX_EQUIVOCATIONS = 1000

export class ConsensusEngine {
  private machine: ConsensusMachine | null = null
  private readonly timers = new Set<NodeJS.Timeout>()
  private startTimer: NodeJS.Timeout | null = null
  private syncTimer: NodeJS.Timeout | null = null
  private stopped = true
  private syncing = false
  private probing = false
  private committing = false
  private lastCommitAt = 0
  private readonly vals: Validator[]
  private readonly valById = new Map<string, Validator>()
  private readonly selfId: string | null
  private readonly timeouts: TimeoutConfig
  private readonly now: () => number
  /** Blocks seen in proposals of this height, by hash, with their validation. */
  private blocks = new Map<string, Validated>()
  /** Signed votes of this height: `${type}:${round}:${validator}:${value}`. */
  private signedVotes = new Map<string, SignedVote>()
  /** The first vote of each validator per type and round (a second one is an equivocation). */
  private firstVotes = new Map<string, SignedVote>()
  private equivocations = 0
  private readonly future: Array<{ height: number, data: Uint8Array, from: string }> = []
  /** Duplicate-vote evidence seen (packed [voteA, voteB]), waiting for a block. */
  readonly evidence: Uint8Array[] = []
  private lastCommit: Commit | null = null
  /** Our own proposal and votes at this height, gossiped again to peers that (re)connect and while the height stalls. */
  private mine: Uint8Array[] = []
  private regossipTimer: NodeJS.Timeout | null = null
  private txBatch: Uint8Array[] = []
  private txBatchBytes = 0
  private txFlushTimer: NodeJS.Timeout | null = null
  private readonly onTx = (tx: Tx, source: 'rpc' | 'p2p'): void => {
    if (source === 'rpc') this.queueTxGossip(tx.bytes)
    if (this.machine !== null && !this.machine.isStarted && !this.stopped) this.scheduleStart(true)
  }

  constructor (
    private readonly chain: Chain,
    private readonly mempool: Mempool,
    private readonly pv: PrivValidator | null,
    private readonly net: ConsensusNetwork | null,
    private readonly log: Logger,
    private readonly opts: EngineOptions = {},
  ) {
    this.vals = chain.validators
    for (const v of this.vals) this.valById.set(toHexUpper(v.address), v)
    const me = pv === null ? null : toHexUpper(pv.key.publicKey.length === 32 ? this.vals.find(v => bytesEqual(v.pubKey, pv.key.publicKey))?.address ?? new Uint8Array(0) : new Uint8Array(0))
    this.selfId = me !== null && this.valById.has(me) ? me : null
    this.timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS
    this.now = opts.now ?? Date.now
    this.byzantine = opts.byzantine === 'double-prevote'
    if (this.byzantine) log.warn({}, 'TEST-ONLY BYZANTINE MODE: this validator signs two different prevotes at every height')
  }

  private readonly byzantine: boolean

  get isValidator (): boolean { return this.selfId !== null }
  get currentRound (): number { return this.machine?.round ?? 0 }
  get isSyncing (): boolean { return this.syncing }

  async start (): Promise<void> {
    this.stopped = false
    const h = this.chain.height
    if (h >= this.chain.genesis.initialHeight) this.lastCommit = (await this.chain.store.getCommit(h)) ?? null
    this.net?.onGossip('consensus', (data, from) => this.onConsensusGossip(data, from))
    this.net?.onGossip('txs', (data) => this.onTxGossip(data))
    this.net?.handle('sync', async (req) => await this.onSyncRequest(req))
    this.mempool.on('added', this.onTx)
    this.lastCommitAt = this.now()
    this.newHeight()
    this.syncTimer = setInterval(() => { void this.syncTick() }, this.opts.syncIntervalMs ?? 1000)
    this.net?.on?.('peer:ready', () => this.regossip())
    this.regossipTimer = setInterval(() => { if (this.now() - this.lastCommitAt > REGOSSIP_AFTER_MS) this.regossip() }, REGOSSIP_AFTER_MS)
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.mempool.off('added', this.onTx)
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    if (this.startTimer !== null) clearTimeout(this.startTimer)
    if (this.syncTimer !== null) clearInterval(this.syncTimer)
    if (this.regossipTimer !== null) clearInterval(this.regossipTimer)
    this.flushTxGossip()
    while (this.committing || this.syncing) await new Promise(resolve => setTimeout(resolve, 10))
  }

  // ---- heights ----

  private hasWork (): boolean { return this.mempool.size > 0 || this.chain.state.openJobs.size > 0 }

  private newHeight (): void {
    const h = this.chain.height + 1
    this.blocks = new Map()
    this.signedVotes = new Map()
    this.mine = []
    this.firstVotes = new Map()
    this.equivocations = 0
    this.machine = new ConsensusMachine(h, this.vals.map(v => ({ id: toHexUpper(v.address), power: v.power })), this.selfId, this.timeouts)
    // Replay buffered messages of this height (they may start it early).
    const mine = this.future.filter(m => m.height === h)
    for (let i = this.future.length - 1; i >= 0; i--) if (this.future[i].height <= h) this.future.splice(i, 1)
    for (const m of mine) this.onConsensusGossip(m.data, m.from)
    this.scheduleStart(this.hasWork())
  }

  private scheduleStart (work: boolean): void {
    if (this.machine === null || this.machine.isStarted) return
    const p = this.chain.params
    // Heights are paced from the previous block's time, so that a block comes every block_time_ms
    // when there is work (consensus time included), and every empty_block_interval_ms otherwise.
    const last = Math.min(this.chain.meta.lastBlockTime, this.lastCommitAt)
    const due = last + (work ? p.blockTimeMs : p.emptyBlockIntervalMs)
    if (this.startTimer !== null) clearTimeout(this.startTimer)
    this.startTimer = setTimeout(() => { this.startTimer = null; this.startMachine() }, Math.max(0, due - this.now()))
  }

  private startMachine (): void {
    const m = this.machine
    if (m === null || m.isStarted || this.stopped || this.syncing) return
    if (this.startTimer !== null) { clearTimeout(this.startTimer); this.startTimer = null }
    // A validator that signed at this height before a restart resumes at the next round.
    const last = this.pv?.lastSigned
    if (last !== undefined && last.height === m.height && last.step > 0) {
      m.round = last.round + 1
      if (last.lock !== undefined) { m.lockedRound = last.lock.round; m.lockedValue = last.lock.value }
    }
    this.run(m.start())
  }

  // ---- actions ----

  private run (actions: Action[]): void {
    for (const a of actions) {
      if (this.stopped) return
      switch (a.type) {
        case 'timeout': {
          const t = setTimeout(() => {
            this.timers.delete(t)
            if (this.stopped || this.machine?.height !== a.height) return
            const before = this.machine.round
            const acts = this.machine.onTimeout(a.step as Step, a.height, a.round)
            if (acts.length > 0) this.opts.metrics?.consensusTimeouts.inc({ step: a.step })
            if (this.machine.round > before) this.opts.metrics?.consensusRounds.inc()
            this.run(acts)
          }, a.ms)
          this.timers.add(t)
          break
        }
        case 'propose': this.propose(a.height, a.round, a.value, a.polRound); break
        case 'vote': this.castVote(a.voteType === 'prevote' ? VOTE_PREVOTE : VOTE_PRECOMMIT, a.height, a.round, a.value); break
        case 'decide': void this.decide(a.height, a.round, a.value); break
      }
    }
  }

  private propose (height: number, round: number, value: string | null, polRound: number): void {
    if (this.pv === null) return
    let block: Block
    let exec: BlockExecution | null
    if (value !== null && this.blocks.get(value)?.exec != null) {
      const v = this.blocks.get(value) as Validated
      block = v.block
      exec = v.exec
    } else {
      const time = Math.max(this.now(), this.chain.meta.lastBlockTime + 1)
      const built = buildBlock(this.chain, this.mempool, this.pv, time, this.lastCommit, this.evidence.splice(0, 50))
      block = built.block
      exec = built.exec
      polRound = -1
    }
    const hash = blockHash(block.header)
    const ts = this.now()
    let sig: Uint8Array
    try {
      sig = this.pv.sign(height, round, STEP_PROPOSE, proposalBytesToSign(this.chain.chainId, { height, round, hash, polRound, timestamp: ts }))
    } catch (e) {
      if (e instanceof DoubleSignError) {
        // Let the round time out like any proposer that does not propose.
        this.log.warn({ height, round, reason: e.message }, 'not proposing: already signed at this position')
        this.run([{ type: 'timeout', step: 'propose', height, round, ms: this.timeouts.proposeMs + round * this.timeouts.proposeDeltaMs }])
        return
      }
      throw e
    }
    const blockBytes = encodeBlock(block)
    const p: SignedProposal = { height, round, polRound, blockBytes, block, hash: toHexUpper(hash), timestamp: ts, validator: fromHex(this.selfId as string), signature: sig }
    this.blocks.set(p.hash, { block, exec, error: null })
    this.gossipMine(encodeProposal(p))
    this.log.debug({ height, round, hash: p.hash, txs: block.txs.length }, 'proposed block')
    this.acceptProposal(p)
  }

  private castVote (type: number, height: number, round: number, value: string | null): void {
    if (this.pv === null || this.selfId === null) return
    const blockHashBytes = value === null ? new Uint8Array(0) : fromHex(value)
    const ts = this.now()
    let sig: Uint8Array
    try {
      // A precommit for a block is a lock: it is recorded with the signature, before it leaves.
      const lock = type === VOTE_PRECOMMIT && value !== null ? { round, value } : undefined
      sig = this.pv.sign(height, round, type === VOTE_PREVOTE ? STEP_PREVOTE : STEP_PRECOMMIT, voteBytesToSign(this.chain.chainId, { type, height, round, blockHash: blockHashBytes, timestamp: ts }), lock)
    } catch (e) {
      if (e instanceof DoubleSignError) { this.log.warn({ height, round, type, reason: e.message }, 'not voting: already signed at this position'); return }
      throw e
    }
    const v: SignedVote = { type, height, round, blockHash: blockHashBytes, timestamp: ts, validator: fromHex(this.selfId), signature: sig }
    this.gossipMine(encodeVote(v))
    this.acceptVote(v)
    if (this.byzantine && type === VOTE_PREVOTE) this.doubleSign(v)
  }

  private async decide (height: number, round: number, value: string): Promise<void> {
    const m = this.machine
    const v = this.blocks.get(value)
    if (m === null || m.height !== height || v === undefined || v.exec === null) return
    const sigs = this.vals.map(val => {
      const id = toHexUpper(val.address)
      const sv = this.signedVotes.get(`${VOTE_PRECOMMIT}:${round}:${id}:${value}`)
      if (sv !== undefined) return { blockIdFlag: BLOCK_ID_FLAG_COMMIT, validatorAddress: val.address, timestamp: sv.timestamp, signature: sv.signature }
      return { blockIdFlag: BLOCK_ID_FLAG_ABSENT, validatorAddress: val.address, timestamp: 0, signature: new Uint8Array(0) }
    })
    const commit: Commit = { height, round, blockHash: fromHex(value), signatures: sigs }
    await this.commit(v.block, commit, v.exec)
  }

  private async commit (block: Block, commit: Commit, exec: BlockExecution): Promise<void> {
    this.committing = true
    try {
      for (const t of this.timers) clearTimeout(t)
      this.timers.clear()
      await this.chain.commitBlock(block, commit, exec)
      // Evidence that made it into this block is no longer pending.
      for (const e of block.evidence) {
        const i = this.evidence.findIndex(x => bytesEqual(x, e))
        if (i >= 0) this.evidence.splice(i, 1)
      }
      this.lastCommit = commit
      this.lastCommitAt = this.now()
      if (commit.round > 0) this.log.info({ height: block.header.height, round: commit.round, txs: block.txs.length }, 'committed block after more than one round')
      else this.log.debug({ height: block.header.height, round: commit.round, txs: block.txs.length }, 'committed block')
    } finally {
      this.committing = false
    }
    if (!this.stopped && !this.syncing) this.newHeight()
  }

  private gossipMine (msg: Uint8Array): void {
    this.mine.push(msg)
    void this.net?.publish('consensus', msg).catch(e => this.log.debug({ err: e }, 'publish failed'))
  }

  /**
   * Gossip is fire-and-forget: a peer that was down or partitioned missed our messages of this
   * height. Sending them again (as CometBFT's reactor gossips votes to peers that lack them) is
   * what lets rounds line up again after a restart or a healed split.
   */
  private regossip (): void {
    if (this.net === null || this.stopped || this.machine === null) return
    for (const m of this.mine) void this.net.publish('consensus', m).catch(() => {})
  }

  // ---- incoming ----

  /**
   * Txs that clients sent here are gossiped in batches (one message per few milliseconds rather
   * than one per tx): per-message costs of gossipsub dominate otherwise.
   */
  private queueTxGossip (bytes: Uint8Array): void {
    if (this.net === null) return
    this.txBatch.push(bytes)
    this.txBatchBytes += bytes.length
    if (this.txBatch.length >= TX_BATCH_MAX || this.txBatchBytes >= TX_BATCH_BYTES) this.flushTxGossip()
    else if (this.txFlushTimer === null) this.txFlushTimer = setTimeout(() => this.flushTxGossip(), TX_BATCH_MS)
  }

  private flushTxGossip (): void {
    if (this.txFlushTimer !== null) { clearTimeout(this.txFlushTimer); this.txFlushTimer = null }
    if (this.txBatch.length === 0) return
    const msg = pack(this.txBatch)
    this.txBatch = []
    this.txBatchBytes = 0
    void this.net?.publish('txs', msg).catch(e => this.log.debug({ err: e }, 'publish txs failed'))
  }

  /** A batch of txs from a peer: each goes through the mempool's checks; malformed ones count against the peer. */
  private onTxGossip (data: Uint8Array): Verdict {
    let list: unknown
    try { list = unpack(data) } catch { return 'reject' }
    if (!Array.isArray(list) || list.length === 0 || list.length > TX_BATCH_MAX || !list.every(b => b instanceof Uint8Array)) return 'reject'
    let bad = false
    let added = 0
    for (const b of list as Uint8Array[]) {
      try {
        this.mempool.add(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), 'p2p')
        added++
      } catch (e) {
        if (!(e instanceof TxError)) continue
        switch (e.code) {
          case 'TX_DECODE': case 'BAD_SIGNATURE': case 'WRONG_CHAIN_ID': case 'TX_TOO_LARGE': case 'UNKNOWN_TX_TYPE': case 'ASSIGN_ONLY_IN_BLOCK':
            bad = true
            break
          default: // duplicates, nonce races, full mempool, state-dependent failures
        }
      }
    }
    return bad ? 'reject' : added > 0 ? 'accept' : 'ignore'
  }


  private onConsensusGossip (data: Uint8Array, from: string): Verdict {
    let msg
    try {
      msg = decodeConsensusMessage(data)
    } catch (e) {
      if (e instanceof ConsensusMessageError) return 'reject'
      throw e
    }
    const m = this.machine
    if (m === null) return 'ignore'
    const height = msg.kind === 'proposal' ? msg.p.height : msg.v.height
    if (height > m.height) {
      if (height <= m.height + 2 && this.future.length < MAX_FUTURE_MSGS) this.future.push({ height, data, from })
      return 'accept'
    }
    if (height < m.height) return 'ignore'
    if (msg.kind === 'proposal') return this.checkProposal(msg.p) ? 'accept' : 'reject'
    return this.checkVote(msg.v) ? 'accept' : 'reject'
  }

  private checkProposal (p: SignedProposal): boolean {
    const m = this.machine as ConsensusMachine
    const id = toHexUpper(p.validator)
    if (m.proposer(p.round) !== id) return false
    const val = this.valById.get(id) as Validator
    if (!verifySignature(val.pubKey, proposalBytesToSign(this.chain.chainId, { height: p.height, round: p.round, hash: fromHex(p.hash), polRound: p.polRound, timestamp: p.timestamp }), p.signature)) return false
    if (id === this.selfId) return true // our own, already accepted
    this.acceptProposal(p)
    return true
  }

  private acceptProposal (p: SignedProposal): void {
    const m = this.machine as ConsensusMachine
    let v = this.blocks.get(p.hash)
    if (v === undefined) {
      v = this.validateBlock(p.block)
      this.blocks.set(p.hash, v)
      if (v.error !== null) this.log.warn({ height: p.height, round: p.round, hash: p.hash, reason: v.error }, 'invalid proposed block')
    }
    if (!m.isStarted) this.startMachine()
    this.run(m.onProposal({ round: p.round, value: p.hash, polRound: p.polRound, valid: v.error === null }))
  }

  private checkVote (v: SignedVote): boolean {
    const id = toHexUpper(v.validator)
    const val = this.valById.get(id)
    if (val === undefined) return false
    if (!verifySignature(val.pubKey, voteBytesToSign(this.chain.chainId, v), v.signature)) return false
    if (id === this.selfId) return true
    this.acceptVote(v)
    return true
  }

  private acceptVote (v: SignedVote): void {
    const m = this.machine as ConsensusMachine
    const id = toHexUpper(v.validator)
    if (v.round > m.round + MAX_ROUNDS_AHEAD) return
    const value = v.blockHash.length === 0 ? null : toHexUpper(v.blockHash)
    const first = this.firstVotes.get(`${v.type}:${v.round}:${id}`)
    if (first === undefined) {
      this.firstVotes.set(`${v.type}:${v.round}:${id}`, v)
    } else {
      if (!isDuplicateVote(first, v)) return
      // An equivocation: evidence for a block, and (once) counted as the paper counts messages.
      const ev = this.encodeEvidence(first, v)
      if (!this.evidence.some(e => bytesEqual(e, ev))) {
        this.log.warn({ validator: id, height: v.height, round: v.round, type: v.type }, 'duplicate vote: keeping it as evidence')
        this.evidence.push(ev)
      }
      if (this.signedVotes.has(`${v.type}:${v.round}:${id}:${value}`) || this.equivocations++ > MAX_EQUIVOCATIONS) return
    }
    this.signedVotes.set(`${v.type}:${v.round}:${id}:${value}`, v)
    if (!m.isStarted && v.round >= 0) this.startMachine()
    this.run(m.onVote({ type: v.type === VOTE_PREVOTE ? 'prevote' : 'precommit', round: v.round, validator: id, value }))
    const missing = m.committedWithoutProposal()
    if (missing !== null) void this.syncTick()
  }

  /**
   * TEST ONLY (AITBC_TEST_BYZANTINE=double-prevote): also signs a conflicting prevote for another
   * block, bypassing the PrivValidator, so that tests can see evidence and slashing at work.
   */
  private doubleSign (v: SignedVote): void {
    if (this.pv === null) return
    const other = sha(new Uint8Array([...v.blockHash, ...Buffer.from(String(v.timestamp))]))
    const w: SignedVote = { ...v, blockHash: other, signature: this.pv.key.sign(voteBytesToSign(this.chain.chainId, { ...v, blockHash: other })) }
    void this.net?.publish('consensus', encodeVote(w)).catch(() => {})
  }

  private encodeEvidence (a: SignedVote, b: SignedVote): Uint8Array {
    const [x, y] = toHexUpper(a.blockHash) < toHexUpper(b.blockHash) ? [a, b] : [b, a]
    return pack([[x.type, x.height, x.round, x.blockHash, x.timestamp, x.validator, x.signature], [y.type, y.height, y.round, y.blockHash, y.timestamp, y.validator, y.signature]])
  }

  /** Checks a proposed block against the chain and executes it (valid(v) of the algorithm). */
  private validateBlock (block: Block, lastCommitVerified = false): Validated {
    const c = this.chain
    const h = block.header
    const fail = (error: string): Validated => ({ block, exec: null, error })
    if (h.chainId !== c.chainId) return fail('wrong chain id')
    if (h.height !== c.height + 1) return fail(`height ${h.height}, expected ${c.height + 1}`)
    const prev = c.meta.lastBlockHash === '' ? new Uint8Array(0) : fromHex(c.meta.lastBlockHash)
    if (!bytesEqual(h.lastBlockHash, prev)) return fail('last_block_id is not our last block')
    if (h.time <= c.meta.lastBlockTime) return fail('block time does not advance')
    if (!bytesEqual(h.lastCommitHash, commitHash(block.lastCommit))) return fail('last_commit_hash does not match last_commit')
    if (h.height > c.genesis.initialHeight && !lastCommitVerified) {
      if (block.lastCommit === null) return fail('missing last_commit')
      const err = verifyCommit(c.chainId, this.vals, block.lastCommit, h.height - 1, prev)
      if (err !== null) return fail(`last_commit: ${err}`)
    }
    if (!bytesEqual(h.dataHash, dataHash(block.txs))) return fail('data_hash does not match the txs')
    if (!bytesEqual(h.evidenceHash, block.evidence.length === 0 ? EMPTY_HASH : dataHash(block.evidence))) return fail('evidence_hash does not match the evidence')
    const vh = validatorsHash(this.vals)
    if (!bytesEqual(h.validatorsHash, vh) || !bytesEqual(h.nextValidatorsHash, vh)) return fail('validators_hash does not match')
    if (!bytesEqual(h.lastResultsHash, fromHex(c.meta.lastResultsHash))) return fail('last_results_hash does not match')
    const proposer = this.valById.get(toHexUpper(h.proposerAddress))
    if (proposer === undefined) return fail('proposer is not a validator')
    const decoded: Tx[] = []
    try {
      for (const b of block.txs) {
        const known = this.mempool.get(toHexUpper(sha(b)))
        decoded.push(known ?? decodeTx(b))
      }
    } catch (e) {
      return fail(`a tx does not decode: ${(e as Error).message}`)
    }
    const ctx: BlockContext = { chainId: c.chainId, height: h.height, time: h.time, proposer: addressFromPubkey(proposer.pubKey), prevBlockHash: prev, evidence: block.evidence, validators: this.vals }
    try {
      const exec = executeBlock(c.state, block.txs, ctx, decoded)
      if (!bytesEqual(c.appHashAfter(exec.overlay.changes()), h.appHash)) return fail('app_hash does not match the executed state')
      return { block, exec, error: null }
    } catch (e) {
      return fail((e as Error).message)
    }
  }

  // ---- block sync ----

  private async onSyncRequest (req: Uint8Array): Promise<Uint8Array> {
    const r = decodeSyncRequest(req)
    if (r.kind === 'status') return pack([this.chain.height])
    const out: Array<[Uint8Array, Uint8Array]> = []
    let bytes = 0
    for (let h = r.from; h < r.from + r.count && h <= this.chain.height; h++) {
      const [b, c] = await Promise.all([this.chain.store.getBlockBytes(h), this.chain.store.get(`c:${h.toString().padStart(12, '0')}`)])
      if (b === undefined || c === undefined) break
      out.push([b, c])
      bytes += b.length + c.length
      if (bytes > 3 * 1024 * 1024) break
    }
    return pack(out)
  }

  private async syncTick (): Promise<void> {
    if (this.syncing || this.probing || this.stopped || this.net === null || this.committing) return
    const peers = this.net.peers()
    if (peers.length === 0) return
    // Probing peers' heights does not pause consensus; only a real catch-up does.
    this.probing = true
    let best: { id: string, height: number } | null = null
    try {
      await Promise.all(peers.map(async p => {
        try {
          const res = unpack<[number]>(await this.net!.request(p.id, 'sync', encodeSyncRequest({ kind: 'status' }), 2000))
          const h = Array.isArray(res) && Number.isSafeInteger(res[0]) ? res[0] : -1
          if (best === null || h > best.height) best = { id: p.id, height: h }
        } catch {}
      }))
    } finally {
      this.probing = false
    }
    const target = best as { id: string, height: number } | null
    if (target === null || target.height <= this.chain.height || this.stopped || this.syncing || this.committing) return
    this.syncing = true
    try {
      // Behind: stop consensus at this height and fetch blocks with their commits.
      this.pauseMachine()
      const synced = await this.syncFrom(target.id, target.height)
      if (synced > 0) this.log.info({ height: this.chain.height, peer: target.id, blocks: synced }, 'caught up by block sync')
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'block sync failed')
    } finally {
      this.syncing = false
      if (!this.stopped && (this.machine === null || this.machine.height !== this.chain.height + 1)) this.newHeight()
    }
  }


  private pauseMachine (): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    if (this.startTimer !== null) { clearTimeout(this.startTimer); this.startTimer = null }
    this.machine = null
  }

  /** Fetches, verifies and commits blocks from a peer until its height; returns how many. */
  async syncFrom (peer: string, target: number): Promise<number> {
    let n = 0
    const batch = this.opts.syncBatch ?? 100
    const fetch = async (from: number): Promise<unknown> => unpack(await this.net!.request(peer, 'sync', encodeSyncRequest({ kind: 'blocks', from, count: batch }), 15_000))
    const bad = (why: string): never => { this.net!.penalize(peer, `sync: ${why}`); throw new Error(`peer ${peer}: ${why}`) }
    // The commit that certified our last synced block: a block whose last_commit is that same
    // commit needs no second check of its signatures.
    let verified: Uint8Array | null = null
    let next = fetch(this.chain.height + 1)
    while (this.chain.height < target && !this.stopped) {
      const res = await next
      if (!Array.isArray(res) || res.length === 0) break
      const items = res.map(item => {
        if (!Array.isArray(item) || !(item[0] instanceof Uint8Array) || !(item[1] instanceof Uint8Array)) bad('malformed sync response')
        return { block: decodeBlock(item[0]), seen: decodeCommit(item[1]) }
      })
      // Fetch the next batch while this one is checked and written.
      const after = items[items.length - 1].block.header.height + 1
      next = after <= target ? fetch(after) : Promise.resolve([])
      for (const [i, { block, seen }] of items.entries()) {
        const h = block.header.height
        if (h !== this.chain.height + 1) bad(`block ${h} does not follow ${this.chain.height}`)
        // As CometBFT's block sync: block h is certified by block h+1's last_commit when the
        // batch has it (the chain's own record), else by the peer's seen commit.
        const commit = items[i + 1]?.block.lastCommit ?? seen
        const hash = blockHash(block.header)
        const err = verifyCommit(this.chain.chainId, this.vals, commit, h, hash)
        if (err !== null) bad(`block ${h} has a bad commit: ${err}`)
        const trusted = verified !== null && bytesEqual(block.header.lastCommitHash, verified)
        const v = this.validateBlock(block, trusted)
        if (v.error !== null || v.exec === null) bad(`invalid block ${h}: ${v.error}`)
        this.committing = true
        try {
          // Synced blocks can be fetched again: only the last of a batch waits for fsync.
          await this.chain.commitBlock(block, commit, v.exec as BlockExecution, { sync: i === items.length - 1 })
        } finally {
          this.committing = false
        }
        verified = commitHash(commit)
        this.lastCommit = commit
        this.lastCommitAt = this.now()
        n++
      }
    }
    await next.catch(() => {})
    return n
  }

}

import { createHash } from 'node:crypto'
function sha (b: Uint8Array): Uint8Array { return new Uint8Array(createHash('sha256').update(b).digest()) }
export { encodeCommit }
