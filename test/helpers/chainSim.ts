// A tiny in-memory chain for unit and property tests of the pure core: the node's own genesis
// state (genesisState), blocks built by the node's block executor (createProposal, as the
// proposer does) and checked by it (validateBlock, as every validator does), committed with
// MemState.apply. Block time and height come from the test, never from the clock. For tests that
// need a state no honest proposer makes (a job left unassigned), begin/assignAll/commit run the
// steps one by one.
import { expect } from 'chai'
import { SigningKey, fromHex, sha256, sha256Concat, utf8Bytes } from '../../node/core/crypto.ts'
import { resultCommitment } from '../../node/core/verification.ts'
import { parseGenesis, type DEFAULT_PARAMS_JSON, type Genesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import {
  MemState, Overlay, encodeChangeSet, encodeJob, encodeMiner, isOpen, supplyHolds,
  type Account, type Job, type Miner, type StateReader, type Totals,
} from '../../node/core/state.ts'
import { applyTx, beginBlock, type AbciEvent, type BlockContext, type TxResult } from '../../node/core/transition.ts'
import { createProposal, lastBlockAfter, proposeAssigns, proposeBeacon, validateBlock, type ChainView } from '../../node/core/executor.ts'
import { nextAppHash, validatorFromPubkey, type Block, type Validator } from '../../node/core/block.ts'
import { genesisState, type LastBlock } from '../../genesis/state.ts'
import { vrfProofToHash } from '../../node/core/vrf.ts'
import { beaconAlpha, needsBeacon } from '../../node/core/txs/beacon.ts'
import { jobIdFromTxHash, signTx, type Tx, type TxBody } from '../../node/core/tx.ts'

export const GENESIS_TIME = '2024-01-01T00:00:00.000Z'
export const T0 = Date.parse(GENESIS_TIME)
export const CHAIN_ID = 'aitbc-test'

/** A deterministic key per name. */
export function keyOf (name: string): SigningKey {
  return new SigningKey(sha256(utf8Bytes('aitbc-test-key/' + name)))
}

export type ParamsJSON = Partial<typeof DEFAULT_PARAMS_JSON>

export interface SimMinerSpec { key: SigningKey, models: string[], pricePerSecond?: bigint, capacity?: number, stake: bigint }

export interface SimOptions {
  chainId?: string
  validator?: SigningKey
  accounts?: Array<{ key: SigningKey, balance: bigint }>
  miners?: SimMinerSpec[]
  params?: ParamsJSON
  /** Check supply and recomputed totals after every committed block (default true). */
  checkInvariants?: boolean
}

export interface BlockOptions {
  /** Milliseconds after the previous block (default 1000). */
  dt?: number
  /** Absolute block time (overrides dt). */
  time?: number
  /** Whether the proposer assigns every assignable job (default true). */
  assign?: boolean
  /** Leave out txs no longer valid when the block is built, as a proposer does (default: throw their TxError). */
  dropInvalid?: boolean
}

export interface BlockOutcome {
  ctx: BlockContext
  overlay: Overlay
  beginEvents: AbciEvent[]
  /** Results of the txs given, in order. */
  results: TxResult[]
  /** The proposer's assign txs, in the order applied. */
  assigns: Tx[]
  /** The block, when it was built by the executor (not with assign: false). */
  block?: Block
}

// ---- tx bodies ----
export const body = {
  transfer: (to: string, amount: bigint): TxBody => ({ type: 'transfer', to, amount }),
  register: (models: string[], stake: bigint, pricePerSecond = 20_000n, capacity = 1): TxBody =>
    ({ type: 'register_miner', models, pricePerSecond, capacity, stake }),
  update: (u: { models?: string[], pricePerSecond?: bigint, capacity?: number, active?: boolean }): TxBody =>
    ({ type: 'update_miner', models: u.models ?? null, pricePerSecond: u.pricePerSecond ?? null, capacity: u.capacity ?? null, active: u.active ?? null }),
  stake: (amount: bigint): TxBody => ({ type: 'stake', amount }),
  unstake: (amount: bigint): TxBody => ({ type: 'unstake', amount }),
  submit: (model: string, prompt: string, maxFee: bigint, maxPricePerSecond: bigint | null = null): TxBody =>
    ({ type: 'submit_job', model, prompt, options: { temperature: null, numPredict: null, seed: null }, maxFee, maxPricePerSecond }),
  cancel: (jobId: string): TxBody => ({ type: 'cancel_job', jobId }),
  assign: (jobId: string, miner: string): TxBody => ({ type: 'assign', jobId, miner }),
  receipt: (jobId: string, status: 'completed' | 'failed', result: string, computeMs: number, o: { error?: string | null, resultHash?: Uint8Array } = {}): TxBody => ({
    type: 'record_receipt', jobId, status, result, resultHash: o.resultHash ?? sha256(utf8Bytes(result)),
    metrics: { computeMs, promptTokens: 3, completionTokens: 5 }, error: o.error ?? (status === 'failed' ? 'ollama: model crashed' : null),
  }),
  /** A commit_result for `committer`'s text (salt: 32 bytes of `saltByte`); the miner's carries a (test) seal, a verifier's none. */
  commit: (jobId: string, committer: string, text: string, o: { saltByte?: number, sealed?: Uint8Array | null, computeMs?: number, completionTokens?: number } = {}): TxBody => ({
    type: 'commit_result', jobId, commitment: fromHex(resultCommitment(jobId, committer, new Uint8Array(32).fill(o.saltByte ?? 7), text)),
    metrics: { computeMs: o.computeMs ?? 1000, promptTokens: 3, completionTokens: o.completionTokens ?? 5 }, sealed: o.sealed === undefined ? new Uint8Array(80 + byteLength(text)) : o.sealed,
  }),
  reveal: (jobId: string, text: string, saltByte = 7): TxBody => ({ type: 'reveal_result', jobId, salt: new Uint8Array(32).fill(saltByte), result: text }),
}

function byteLength (s: string): number { return Buffer.byteLength(s, 'utf8') }

export interface StateDump {
  totals: Totals
  accounts: Record<string, { balance: string, nonce: number }>
  miners: Record<string, unknown[]>
  jobs: Record<string, unknown[]>
}

export class ChainSim {
  readonly genesis: Genesis
  readonly mem: MemState
  readonly validator: SigningKey
  readonly validators: Validator[]
  readonly chainId: string
  readonly supply: bigint
  readonly checkInvariants: boolean
  /** The last committed block (before the first: the genesis position). */
  last: LastBlock
  /** Every address and job id the sim has seen, for dumps. */
  readonly addresses = new Set<string>()
  readonly jobIds: string[] = []
  /** Txs left out of blocks built with dropInvalid, and why. */
  readonly dropped: Array<{ tx: Tx, error: Error }> = []
  private readonly keys = new Map<string, SigningKey>()
  /** Nonces handed out by sign() and not yet committed. */
  private readonly pendingNonces = new Map<string, number>()

  constructor (opts: SimOptions = {}) {
    this.validator = opts.validator ?? keyOf('validator')
    this.chainId = opts.chainId ?? CHAIN_ID
    this.checkInvariants = opts.checkInvariants ?? true
    const json = makeGenesisJSON({
      chainId: this.chainId,
      genesisTime: GENESIS_TIME,
      validators: [{ pubKey: this.validator.publicKey }],
      accounts: (opts.accounts ?? []).map(a => ({ address: a.key.address, balance: a.balance })),
      miners: (opts.miners ?? []).map(m => ({ address: m.key.address, models: m.models, pricePerSecond: m.pricePerSecond ?? 20_000n, capacity: m.capacity ?? 1, stake: m.stake })),
      // One miner is the usual test: no verification unless the test turns it on.
      params: { verification_rate: '0', ...(opts.params ?? {}) },
    })
    this.genesis = parseGenesis(json)
    this.validators = this.genesis.validators.map(v => validatorFromPubkey(v.pubKey, v.power, v.name))
    const { changes, last } = genesisState(this.genesis)
    this.mem = new MemState(this.genesis.params)
    this.mem.apply(changes)
    this.supply = changes.totals.supply
    this.last = last
    for (const k of [this.validator, ...(opts.accounts ?? []).map(a => a.key), ...(opts.miners ?? []).map(m => m.key)]) this.addKey(k)
  }

  /** Height and time of the last committed block (genesis: initial_height - 1, genesis time). */
  get height (): number { return this.last.height }
  get time (): number { return this.last.time }
  /** The last block's hash (empty before the first block): seeds the draw. */
  get prevHash (): Uint8Array { return this.last.hash }
  /** The next block's randomness: its beacon's output (what the validator's VRF gives for the next height). */
  get randomness (): Uint8Array {
    return (vrfProofToHash(this.validator.vrfProve(beaconAlpha(this.mem.beacon(), this.height + 1, this.chainId))) as Uint8Array).slice(0, 32)
  }

  /** What the block executor reads. */
  view (): ChainView {
    return { chainId: this.chainId, initialHeight: this.genesis.initialHeight, validators: this.validators, state: this.mem, last: this.last }
  }

  get params (): MemState['params'] { return this.mem.params }

  addKey (k: SigningKey): void { this.keys.set(k.address, k); this.addresses.add(k.address) }
  keyFor (address: string): SigningKey {
    const k = this.keys.get(address)
    if (k === undefined) throw new Error(`the sim has no key for ${address}`)
    return k
  }

  account (address: string, st: StateReader = this.mem): Account { return st.account(address) ?? { balance: 0n, nonce: 0 } }
  balance (address: string, st: StateReader = this.mem): bigint { return this.account(address, st).balance }
  miner (address: string, st: StateReader = this.mem): Miner {
    const m = st.miner(address)
    if (m === undefined) throw new Error(`${address} is not a miner`)
    return m
  }

  job (id: string, st: StateReader = this.mem): Job {
    const j = st.job(id)
    if (j === undefined) throw new Error(`no job ${id}`)
    return j
  }

  totals (st: StateReader = this.mem): Totals { return { ...st.totals() } }

  /**
   * The next nonce for a key, counting txs signed by sign() since the last commit. The
   * validator's first one skips the next block's beacon, which comes first in the block.
   */
  nextNonce (address: string): number {
    const pending = this.pendingNonces.get(address)
    if (pending !== undefined) return pending
    const n = this.account(address).nonce
    return address === this.validator.address && needsBeacon(this.mem) ? n + 1 : n
  }

  /** The next block's beacon (null when it draws nothing): a block made by hand starts with it. */
  nextBeacon (): Tx | null {
    return proposeBeacon(this.mem, this.validator, this.height + 1, this.chainId)?.tx ?? null
  }

  /** A block's txs, with the next block's beacon first when it needs one. */
  withBeacon (txs: Uint8Array[]): Uint8Array[] {
    const b = this.nextBeacon()
    return b === null ? txs : [b.bytes, ...txs]
  }

  /** Signs a tx (fee defaults to min_fee; nonce to the next one, which it then reserves). */
  sign (key: SigningKey, b: TxBody, o: { nonce?: number, fee?: bigint, chainId?: string } = {}): Tx {
    this.addKey(key)
    const nonce = o.nonce ?? this.nextNonce(key.address)
    if (o.nonce === undefined) this.pendingNonces.set(key.address, nonce + 1)
    const fee = o.fee ?? (b.type === 'assign' || b.type === 'beacon' ? 0n : this.params.minFee)
    const tx = signTx(key, { chainId: o.chainId ?? this.chainId, nonce, fee, body: b })
    if (b.type === 'submit_job') this.jobIds.push(jobIdFromTxHash(tx.hash))
    if (b.type === 'transfer') this.addresses.add(b.to)
    return tx
  }

  /** The context of the next block. */
  nextCtx (o: BlockOptions = {}): BlockContext {
    return { chainId: this.chainId, height: this.height + 1, time: o.time ?? this.time + (o.dt ?? 1000), proposer: this.validator.address, randomness: this.randomness, evidence: [], validators: this.validators }
  }

  /**
   * An overlay for the next block with beginBlock run and, when the block draws, its beacon
   * applied (the block's first tx: a block made by hand starts with it).
   */
  begin (o: BlockOptions = {}): { overlay: Overlay, ctx: BlockContext, beginEvents: AbciEvent[], beacon: { tx: Tx, result: TxResult } | null } {
    const ctx = this.nextCtx(o)
    const overlay = new Overlay(this.mem)
    const made = proposeBeacon(this.mem, this.validator, ctx.height, this.chainId)
    const beginEvents = beginBlock(overlay, ctx)
    const beacon = made === null ? null : { tx: made.tx, result: applyTx(overlay, made.tx, ctx, 'deliver') }
    return { overlay, ctx, beginEvents, beacon }
  }

  /**
   * Builds a block with the executor from exactly these txs (if one is not valid, its TxError
   * propagates and nothing is committed), validates it as a validator would, and commits it.
   * With assign: false, runs the steps one by one and leaves jobs unassigned.
   */
  block (txs: Tx[], o: BlockOptions = {}): BlockOutcome {
    if (o.assign === false) return this.blockWithoutAssigns(txs, o)
    const ctx = this.nextCtx(o)
    let built
    try {
      built = createProposal(this.view(), { signer: this.validator, time: ctx.time, lastCommit: null, txs, onTxRejected: (tx, e) => { if (o.dropInvalid !== true) throw e; this.dropped.push({ tx, error: e }) } })
    } catch (e) {
      this.pendingNonces.clear()
      throw e
    }
    const { block, exec } = built
    // Builder and validator agree on every block the sim makes.
    const checked = validateBlock(this.view(), block, { lastCommitVerified: true })
    expect(encodeChangeSet(checked.overlay.changes())).to.deep.equal(encodeChangeSet(exec.overlay.changes()))
    this.apply(exec.overlay, ctx, lastBlockAfter(block, exec))
    // The block: its beacon (when it draws), the assigns, then these txs.
    const own = exec.txs.filter(t => t.type !== 'assign' && t.type !== 'beacon').length
    return { ctx, overlay: exec.overlay, beginEvents: exec.beginEvents, results: exec.txResults.slice(exec.txs.length - own), assigns: exec.txs.filter(t => t.type === 'assign'), block }
  }

  private blockWithoutAssigns (txs: Tx[], o: BlockOptions): BlockOutcome {
    const { overlay, ctx, beginEvents } = this.begin(o)
    let results: TxResult[]
    try {
      results = txs.map(tx => applyTx(overlay, tx, ctx, 'deliver'))
    } catch (e) {
      this.pendingNonces.clear()
      throw e
    }
    this.commit(overlay, ctx)
    return { ctx, overlay, beginEvents, results, assigns: [] }
  }

  /** The proposer's assigns: one signed assign per assignable job, applied as it goes. */
  assignAll (overlay: Overlay, ctx: BlockContext): Tx[] {
    return proposeAssigns(overlay, ctx, this.validator).map(a => a.tx)
  }

  /** Commits an overlay as block ctx.height (a block the steps made by hand: its hash is a stand-in). */
  commit (overlay: Overlay, ctx: BlockContext): void {
    const changes = overlay.changes()
    const hash = sha256Concat(this.last.hash, utf8Bytes(String(ctx.height)), encodeChangeSet(changes))
    this.apply(overlay, ctx, { height: ctx.height, hash, time: ctx.time, appHash: nextAppHash(this.last.appHash, encodeChangeSet(changes)), resultsHash: this.last.resultsHash })
  }

  private apply (overlay: Overlay, ctx: BlockContext, last: LastBlock): void {
    const changes = overlay.changes()
    for (const id of changes.jobs.keys()) if (!this.jobIds.includes(id)) this.jobIds.push(id)
    for (const a of changes.accounts.keys()) this.addresses.add(a)
    this.mem.apply(changes)
    this.last = last
    this.pendingNonces.clear()
    if (this.checkInvariants) this.assertInvariants()
  }

  /** Totals recomputed from the records alone. */
  recomputeTotals (): Totals {
    let balances = 0n; let escrow = 0n; let bonded = 0n; let unbonding = 0n; let burned = 0n
    for (const a of this.mem.accounts.values()) balances += a.balance
    for (const j of this.mem.openJobs.values()) escrow += j.maxFee
    for (const m of this.mem.miners.values()) {
      bonded += m.stake
      burned += m.slashed
      for (const u of m.unbonding) unbonding += u.amount
    }
    for (const b of this.mem.bonds.values()) {
      bonded += b.stake
      burned += b.slashed
    }
    // A caught lie's slash pays the verifiers that caught it: that part is not burned.
    for (const id of this.jobIds) {
      const v = this.mem.job(id)?.verification
      if (v?.outcome === 'fail') for (const r of v.runs) if (r.outcome === 'agree') burned -= r.paid
    }
    return { supply: this.supply, balances, escrow, bonded, unbonding, burned }
  }

  assertInvariants (): void {
    const t = this.mem.totals()
    expect(supplyHolds(t), 'supply invariant').to.equal(true)
    expect(t).to.deep.equal(this.recomputeTotals())
    for (const m of this.mem.miners.values()) {
      expect(m.activeJobs, `activeJobs of ${m.address}`).to.be.at.least(0)
      expect(m.activeJobs, `activeJobs of ${m.address}`).to.be.at.most(m.capacity)
      // A slot is held by an assigned job the miner has not committed to yet, and by a re-run it was drawn for and has not committed.
      const jobs = [...this.mem.openJobs.values()]
      const own = jobs.filter(j => j.status === 'assigned' && j.miner === m.address && j.verification === null).length
      const reruns = jobs.filter(j => j.verification?.phase === 'commit' && j.verification.runs.some(r => r.miner === m.address && r.commitment === null && r.outcome !== 'silent')).length
      expect(m.activeJobs, `activeJobs of ${m.address} vs assigned jobs and re-runs`).to.equal(own + reruns)
      // Its locked stake is what its open checked jobs lock.
      const locked = jobs.filter(j => j.miner === m.address).reduce((x, j) => x + j.stakeLock, 0n)
      expect(m.locked, `locked stake of ${m.address}`).to.equal(locked)
    }
    for (const j of this.mem.openJobs.values()) expect(isOpen(j.status)).to.equal(true)
  }

  /** Everything the sim knows of, readable through any StateReader (e.g. an Overlay). */
  dump (st: StateReader = this.mem): StateDump {
    const accounts: StateDump['accounts'] = {}
    for (const a of [...this.addresses].sort()) {
      const acc = st.account(a)
      if (acc !== undefined) accounts[a] = { balance: acc.balance.toString(), nonce: acc.nonce }
    }
    const miners: StateDump['miners'] = {}
    for (const a of st.minerAddresses()) miners[a] = encodeMiner(st.miner(a) as Miner)
    const jobs: StateDump['jobs'] = {}
    for (const id of this.jobIds) {
      const j = st.job(id)
      if (j !== undefined) jobs[id] = encodeJob(j)
    }
    return { totals: { ...st.totals() }, accounts, miners, jobs }
  }
}
