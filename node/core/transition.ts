// The state transition (SPEC 4): one path for every transaction, whether it is checked for the
// mempool or delivered in a block; block-begin work (unbonding, expiry, slashing) and the
// deterministic miner draw. Pure: time, height and the previous block hash come from ctx.
import { TxError, BlockError } from './errors.ts'
import { decodeTx, jobIdFromTxHash, receiptIdFromTxHash, type Tx, type TxBody } from './tx.ts'
import { sha256, sha256Concat, toHex, toHexUpper, utf8Bytes, verifySignature, bytesEqual } from './crypto.ts'
import { unpack } from './codec.ts'
import { voteSignBytes, type Validator } from './block.ts'
import { MAX_AMOUNT } from './amount.ts'
import {
  EMPTY_ACCOUNT, Overlay, isOpen, REPUTATION_COMPLETED, REPUTATION_EXPIRED, REPUTATION_INITIAL, REPUTATION_MAX,
  type Job, type Miner, type StateReader,
} from './state.ts'

export interface EventAttribute { key: string, value: string }
export interface AbciEvent { type: string, attributes: EventAttribute[] }
export interface TxResult { code: number, log: string, codespace: string, events: AbciEvent[] }

export interface BlockContext {
  chainId: string
  height: number
  /** Block time, ms since the epoch (from the header, never the local clock). */
  time: number
  /** Account address (bech32) of the block's proposer; fees go there. */
  proposer: string
  /** Hash of the previous block (empty at the first block): seeds the miner draw. */
  prevBlockHash: Uint8Array
  /** Duplicate-vote evidence carried by the block (packed vote pairs). */
  evidence?: Uint8Array[]
  /** The validator set that signs this chain (to verify evidence). */
  validators?: Validator[]
}

export type Mode = 'check' | 'deliver'

const MAX_MODELS = 16
const MAX_MODEL_BYTES = 128
const MAX_ERROR_BYTES = 4096
const MAX_CAPACITY = 1000
const MAX_NUM_PREDICT = 1_000_000

function ev (type: string, attrs: Record<string, string | number | bigint>): AbciEvent {
  return { type, attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: String(v) })) }
}

function byteLen (s: string): number { return Buffer.byteLength(s, 'utf8') }

/** Checks that need only the tx and the params (no state). */
export function checkTxStatic (tx: Tx, chainId: string, params: StateReader['params']): void {
  if (tx.chainId !== chainId) throw new TxError('WRONG_CHAIN_ID', `wrong chain id "${tx.chainId.slice(0, 60)}", this chain is "${chainId}"`)
  if (tx.bytes.length > params.maxTxBytes) throw new TxError('TX_TOO_LARGE', `transaction is ${tx.bytes.length} bytes, max_tx_bytes is ${params.maxTxBytes}`)
  if (tx.type === 'assign') {
    if (tx.fee !== 0n) throw new TxError('INVALID_AMOUNT', 'an assign transaction carries no fee')
  } else if (tx.fee < params.minFee) {
    throw new TxError('FEE_TOO_LOW', `fee ${tx.fee} uaitbc is below min_fee ${params.minFee} uaitbc`)
  }
  const b = tx.body
  switch (b.type) {
    case 'transfer': case 'stake': case 'unstake':
      if (b.amount <= 0n) throw new TxError('INVALID_AMOUNT', 'amount must be positive')
      break
    case 'register_miner':
      checkModels(b.models)
      checkCapacity(b.capacity)
      break
    case 'update_miner':
      if (b.models === null && b.pricePerSecond === null && b.capacity === null && b.active === null) throw new TxError('INVALID_FIELD', 'update_miner changes nothing')
      if (b.models !== null) checkModels(b.models)
      if (b.capacity !== null) checkCapacity(b.capacity)
      break
    case 'submit_job':
      if (b.model.length === 0 || byteLen(b.model) > MAX_MODEL_BYTES) throw new TxError('INVALID_FIELD', `model must be 1 to ${MAX_MODEL_BYTES} bytes`)
      if (b.prompt.length === 0) throw new TxError('INVALID_FIELD', 'prompt is empty')
      if (byteLen(b.prompt) > params.maxPromptBytes) throw new TxError('PROMPT_TOO_LARGE', `prompt is ${byteLen(b.prompt)} bytes, max_prompt_bytes is ${params.maxPromptBytes}`)
      if (b.options.temperature !== null && (b.options.temperature < 0 || b.options.temperature > 100)) throw new TxError('INVALID_FIELD', 'temperature must be from 0 to 100')
      if (b.options.numPredict !== null && b.options.numPredict > MAX_NUM_PREDICT) throw new TxError('INVALID_FIELD', `num_predict must be at most ${MAX_NUM_PREDICT}`)
      if (b.maxFee <= 0n) throw new TxError('INVALID_AMOUNT', 'max_fee must be positive')
      break
    case 'record_receipt':
      if (byteLen(b.result) > params.maxResultBytes) throw new TxError('RESULT_TOO_LARGE', `result is ${byteLen(b.result)} bytes, max_result_bytes is ${params.maxResultBytes}`)
      if (toHex(sha256(utf8Bytes(b.result))) !== toHex(b.resultHash)) throw new TxError('RESULT_HASH_MISMATCH', 'result_hash is not the sha256 of result')
      if (b.error !== null && byteLen(b.error) > MAX_ERROR_BYTES) throw new TxError('INVALID_FIELD', `error is longer than ${MAX_ERROR_BYTES} bytes`)
      if (b.status === 'completed' && b.error !== null) throw new TxError('INVALID_FIELD', 'a completed receipt carries no error')
      break
    case 'cancel_job': case 'assign':
      break
  }
}

function checkModels (models: string[]): void {
  if (models.length === 0 || models.length > MAX_MODELS) throw new TxError('INVALID_FIELD', `models must list 1 to ${MAX_MODELS} names`)
  if (new Set(models).size !== models.length) throw new TxError('INVALID_FIELD', 'models has duplicates')
  for (const m of models) if (m.length === 0 || byteLen(m) > MAX_MODEL_BYTES) throw new TxError('INVALID_FIELD', `each model name must be 1 to ${MAX_MODEL_BYTES} bytes`)
}
function checkCapacity (c: number): void {
  if (c < 1 || c > MAX_CAPACITY) throw new TxError('INVALID_FIELD', `capacity must be from 1 to ${MAX_CAPACITY}`)
}

function needFunds (have: bigint, need: bigint, what: string): void {
  if (have < need) throw new TxError('INSUFFICIENT_FUNDS', `insufficient funds: ${what} needs ${need} uaitbc, the account has ${have} uaitbc`)
}

/**
 * Checks and applies one transaction to `st`. Throws TxError and writes nothing when the tx is
 * not valid here. In 'check' mode (mempool) no proposer is paid and assign is refused.
 */
export function applyTx (st: Overlay, tx: Tx, ctx: BlockContext, mode: Mode): TxResult {
  checkTxStatic(tx, ctx.chainId, st.params)
  const sender = tx.sender
  const acc = st.account(sender) ?? EMPTY_ACCOUNT
  if (tx.nonce < acc.nonce) throw new TxError('NONCE_USED', `nonce ${tx.nonce} was already used; the next nonce of ${sender} is ${acc.nonce}`)
  if (tx.nonce > acc.nonce) throw new TxError('NONCE_SKIPPED', `nonce ${tx.nonce} skips ahead; the next nonce of ${sender} is ${acc.nonce}`)
  const events: AbciEvent[] = [ev('message', { action: tx.type, sender, nonce: tx.nonce })]
  // Each handler checks everything first, then returns the balance change of the sender beyond the fee.
  const effect = handlers[tx.body.type](st, tx, tx.body as never, acc.balance - tx.fee, ctx, mode, events)
  needFunds(acc.balance, tx.fee, 'the fee')
  // All checks passed: write.
  const after = st.account(sender) ?? EMPTY_ACCOUNT // a handler may have credited the sender (receipt pay)
  st.setAccount(sender, { balance: after.balance - tx.fee + effect.delta, nonce: acc.nonce + 1 })
  st.addTotal('balances', effect.delta - tx.fee)
  if (tx.fee > 0n) {
    if (mode === 'deliver') {
      const p = st.account(ctx.proposer) ?? EMPTY_ACCOUNT
      st.setAccount(ctx.proposer, { ...p, balance: p.balance + tx.fee })
      st.addTotal('balances', tx.fee)
    }
    events.push(ev('tx', { fee: tx.fee, fee_payer: sender }))
  }
  effect.apply?.()
  return { code: 0, log: '', codespace: '', events }
}

type Handler<B> = (st: Overlay, tx: Tx, body: B, spendable: bigint, ctx: BlockContext, mode: Mode, events: AbciEvent[]) => { delta: bigint, apply?: () => void }
type Handlers = { [K in TxBody['type']]: Handler<Extract<TxBody, { type: K }>> }

function getMiner (st: StateReader, address: string): Miner {
  const m = st.miner(address)
  if (m === undefined) throw new TxError('MINER_NOT_FOUND', `${address} is not a registered miner`)
  return m
}

function getJob (st: StateReader, id: string): Job {
  const j = st.job(id)
  if (j === undefined) throw new TxError('JOB_NOT_FOUND', `job ${id} does not exist`)
  return j
}

function credit (st: Overlay, address: string, amount: bigint): void {
  const a = st.account(address) ?? EMPTY_ACCOUNT
  st.setAccount(address, { ...a, balance: a.balance + amount })
  st.addTotal('balances', amount)
}

const handlers: Handlers = {
  transfer (st, tx, b, spendable, _ctx, _mode, events) {
    needFunds(spendable + tx.fee, b.amount + tx.fee, `transfer of ${b.amount} uaitbc plus the fee`)
    events.push(ev('transfer', { sender: tx.sender, recipient: b.to, amount: b.amount }))
    return { delta: -b.amount, apply: () => credit(st, b.to, b.amount) }
  },

  register_miner (st, tx, b, spendable, ctx, _mode, events) {
    if (st.miner(tx.sender) !== undefined) throw new TxError('MINER_EXISTS', `${tx.sender} is already a registered miner (use update_miner or stake)`)
    if (b.stake < st.params.minMinerStake) throw new TxError('STAKE_TOO_LOW', `stake ${b.stake} uaitbc is below min_miner_stake ${st.params.minMinerStake} uaitbc`)
    needFunds(spendable + tx.fee, b.stake + tx.fee, `stake of ${b.stake} uaitbc plus the fee`)
    events.push(ev('register_miner', { miner: tx.sender, models: b.models.join(','), stake: b.stake, price_per_second: b.pricePerSecond, capacity: b.capacity }))
    return {
      delta: -b.stake,
      apply: () => {
        st.setMiner({
          address: tx.sender, models: [...b.models], pricePerSecond: b.pricePerSecond, capacity: b.capacity, stake: b.stake, unbonding: [], active: true,
          reputation: REPUTATION_INITIAL, activeJobs: 0, jobsCompleted: 0, jobsFailed: 0, jobsExpired: 0, earned: 0n, slashed: 0n, registeredHeight: ctx.height,
        })
        st.addTotal('bonded', b.stake)
      },
    }
  },

  update_miner (st, tx, b, _spendable, _ctx, _mode, events) {
    const m = getMiner(st, tx.sender)
    if (b.capacity !== null && b.capacity < m.activeJobs) {
      throw new TxError('MINER_BUSY', `capacity ${b.capacity} is below the ${m.activeJobs} job(s) assigned to this miner; lower it after they settle`)
    }
    events.push(ev('update_miner', { miner: tx.sender }))
    return {
      delta: 0n,
      apply: () => st.setMiner({
        ...m,
        models: b.models ?? m.models,
        pricePerSecond: b.pricePerSecond ?? m.pricePerSecond,
        capacity: b.capacity ?? m.capacity,
        active: b.active ?? m.active,
      }),
    }
  },

  stake (st, tx, b, spendable, _ctx, _mode, events) {
    const m = getMiner(st, tx.sender)
    needFunds(spendable + tx.fee, b.amount + tx.fee, `stake of ${b.amount} uaitbc plus the fee`)
    if (m.stake + b.amount > MAX_AMOUNT) throw new TxError('INVALID_AMOUNT', 'stake would overflow int64')
    events.push(ev('stake', { miner: tx.sender, amount: b.amount }))
    return { delta: -b.amount, apply: () => { st.setMiner({ ...m, stake: m.stake + b.amount }); st.addTotal('bonded', b.amount) } }
  },

  unstake (st, tx, b, _spendable, ctx, _mode, events) {
    const m = getMiner(st, tx.sender)
    if (b.amount > m.stake) throw new TxError('INVALID_AMOUNT', `unstake of ${b.amount} uaitbc exceeds the bonded stake of ${m.stake} uaitbc`)
    if (m.activeJobs > 0 && m.stake - b.amount < st.params.minMinerStake) {
      throw new TxError('STAKE_TOO_LOW', `cannot unbond below min_miner_stake while ${m.activeJobs} job(s) are assigned to this miner`)
    }
    const releaseHeight = ctx.height + st.params.unbondingBlocks
    events.push(ev('unstake', { miner: tx.sender, amount: b.amount, release_height: releaseHeight }))
    return {
      delta: 0n,
      apply: () => {
        st.setMiner({ ...m, stake: m.stake - b.amount, unbonding: [...m.unbonding, { amount: b.amount, releaseHeight }] })
        st.addTotal('bonded', -b.amount)
        st.addTotal('unbonding', b.amount)
      },
    }
  },

  submit_job (st, tx, b, spendable, ctx, _mode, events) {
    const id = jobIdFromTxHash(tx.hash)
    if (st.job(id) !== undefined) throw new TxError('INVALID_FIELD', `job id ${id} is taken (a transaction with the same hash prefix); change the nonce or the prompt`)
    needFunds(spendable + tx.fee, b.maxFee + tx.fee, `max_fee of ${b.maxFee} uaitbc plus the fee`)
    events.push(ev('submit_job', { job_id: id, client: tx.sender, model: b.model, max_fee: b.maxFee }))
    return {
      delta: -b.maxFee,
      apply: () => {
        st.setJob({
          id, txHash: tx.hash, client: tx.sender, model: b.model, prompt: b.prompt, options: { ...b.options }, maxFee: b.maxFee, maxPricePerSecond: b.maxPricePerSecond,
          status: 'pending', submittedHeight: ctx.height, submittedTime: ctx.time, miner: null, pricePerSecond: null, assignedHeight: null, assignedTime: null,
          assignTxHash: null, receiptId: null, settleTxHash: null, result: null, resultHash: null, metrics: null, error: null, paid: null, refund: null, slashed: null,
          settledHeight: null, settledTime: null,
        })
        st.addTotal('escrow', b.maxFee)
      },
    }
  },

  cancel_job (st, tx, b, _spendable, ctx, _mode, events) {
    const j = getJob(st, b.jobId)
    if (j.client !== tx.sender) throw new TxError('NOT_JOB_CLIENT', `only the job's client ${j.client} can cancel ${j.id}`)
    if (j.status !== 'pending') throw new TxError('JOB_NOT_PENDING', `job ${j.id} is ${j.status}; only a pending job can be cancelled`)
    events.push(ev('cancel_job', { job_id: j.id, client: j.client, refund: j.maxFee }))
    return {
      delta: j.maxFee,
      apply: () => {
        st.setJob({ ...j, status: 'cancelled', refund: j.maxFee, paid: 0n, settleTxHash: tx.hash, settledHeight: ctx.height, settledTime: ctx.time })
        st.addTotal('escrow', -j.maxFee)
      },
    }
  },

  assign (st, tx, b, _spendable, ctx, mode, events) {
    if (mode === 'check') throw new TxError('ASSIGN_ONLY_IN_BLOCK', 'assign transactions are made by the block proposer inside a block, not broadcast')
    if (tx.sender !== ctx.proposer) throw new TxError('NOT_PROPOSER', `assign must be signed by the block proposer ${ctx.proposer}, not ${tx.sender}`)
    const j = getJob(st, b.jobId)
    if (j.status !== 'pending') throw new TxError('JOB_NOT_PENDING', `job ${j.id} is ${j.status}; only a pending job can be assigned`)
    const chosen = drawMiner(st, j, ctx.prevBlockHash)
    if (chosen === null) throw new TxError('WRONG_ASSIGNMENT', `no miner is eligible for job ${j.id}`)
    if (chosen.address !== b.miner) throw new TxError('WRONG_ASSIGNMENT', `assign names ${b.miner} but the draw for ${j.id} picks ${chosen.address}`)
    events.push(ev('assign', { job_id: j.id, miner: chosen.address, client: j.client, model: j.model }))
    return {
      delta: 0n,
      apply: () => {
        st.setJob({ ...j, status: 'assigned', miner: chosen.address, pricePerSecond: chosen.pricePerSecond, assignedHeight: ctx.height, assignedTime: ctx.time, assignTxHash: tx.hash })
        st.setMiner({ ...chosen, activeJobs: chosen.activeJobs + 1 })
      },
    }
  },

  record_receipt (st, tx, b, _spendable, ctx, _mode, events) {
    const j = getJob(st, b.jobId)
    if (!isOpen(j.status)) throw new TxError('JOB_ALREADY_SETTLED', `job ${j.id} is already ${j.status}`)
    if (j.status !== 'assigned') throw new TxError('NOT_ASSIGNED_MINER', `job ${j.id} is not assigned to any miner yet`)
    if (j.miner !== tx.sender) throw new TxError('NOT_ASSIGNED_MINER', `job ${j.id} is assigned to ${j.miner}, not ${tx.sender}`)
    const m = getMiner(st, tx.sender)
    let paid = 0n
    if (b.status === 'completed') {
      const chainMs = Math.max(0, ctx.time - (j.assignedTime ?? ctx.time))
      const billedMs = BigInt(Math.min(b.metrics.computeMs, chainMs))
      paid = billedMs * (j.pricePerSecond ?? 0n) / 1000n
      if (paid > j.maxFee) paid = j.maxFee
    }
    const refund = j.maxFee - paid
    const receiptId = receiptIdFromTxHash(tx.hash)
    events.push(ev('record_receipt', { receipt_id: receiptId, job_id: j.id, miner: tx.sender, client: j.client, status: b.status, paid, refund }))
    return {
      delta: paid,
      apply: () => {
        st.setJob({
          ...j, status: b.status, receiptId, settleTxHash: tx.hash, result: b.result, resultHash: toHex(b.resultHash), metrics: { ...b.metrics }, error: b.error,
          paid, refund, settledHeight: ctx.height, settledTime: ctx.time,
        })
        const completed = b.status === 'completed'
        st.setMiner({
          ...m,
          activeJobs: m.activeJobs - 1,
          jobsCompleted: m.jobsCompleted + (completed ? 1 : 0),
          jobsFailed: m.jobsFailed + (completed ? 0 : 1),
          earned: m.earned + paid,
          reputation: completed ? Math.min(REPUTATION_MAX, m.reputation + REPUTATION_COMPLETED) : m.reputation,
        })
        st.addTotal('escrow', -j.maxFee)
        if (refund > 0n) credit(st, j.client, refund)
      },
    }
  },
}

/** Whether a miner may take this job now. */
export function isEligible (st: StateReader, m: Miner, j: Job): boolean {
  return m.active && m.activeJobs < m.capacity && m.stake >= st.params.minMinerStake && m.reputation > 0 &&
    m.models.includes(j.model) && (j.maxPricePerSecond === null || m.pricePerSecond <= j.maxPricePerSecond)
}

/**
 * The deterministic draw (SPEC 4): among eligible miners, sorted by address, pick one with
 * probability stake x reputation, from sha256(previous block hash || job id).
 */
export function drawMiner (st: StateReader, j: Job, prevBlockHash: Uint8Array): Miner | null {
  const eligible: Miner[] = []
  let total = 0n
  for (const a of st.minerAddresses()) {
    const m = st.miner(a)
    if (m !== undefined && isEligible(st, m, j)) {
      eligible.push(m)
      total += m.stake * BigInt(m.reputation)
    }
  }
  if (eligible.length === 0 || total === 0n) return null
  const seed = BigInt('0x' + toHex(sha256Concat(prevBlockHash, utf8Bytes(j.id))))
  let r = seed % total
  for (const m of eligible) {
    const w = m.stake * BigInt(m.reputation)
    if (r < w) return m
    r -= w
  }
  return eligible[eligible.length - 1]
}

/**
 * Pending jobs that some miner can take now, in submission order, with the draw's choice. A
 * generator: it reads the state afresh at each step, so the proposer can apply each assign before
 * asking for the next. Models whose miners are all busy are skipped at once.
 */
export function * assignableJobs (st: StateReader, prevBlockHash: Uint8Array): Generator<{ job: Job, miner: Miner }> {
  const canServe = (model: string): boolean => st.minerAddresses().some(a => {
    const m = st.miner(a)
    return m !== undefined && m.active && m.models.includes(model) && m.activeJobs < m.capacity && m.stake >= st.params.minMinerStake && m.reputation > 0
  })
  for (const model of [...st.pendingModels()].sort()) {
    if (!canServe(model)) continue
    const ids = [...st.pendingJobIds(model)]
    for (const id of ids) {
      if (!canServe(model)) break
      const j = st.job(id)
      if (j === undefined || j.status !== 'pending') continue
      const m = drawMiner(st, j, prevBlockHash)
      if (m !== null) yield { job: j, miner: m }
    }
  }
}

const EVIDENCE_MAX_AGE = 100_000

/**
 * Checks one piece of duplicate-vote evidence: two votes signed by one validator for one height,
 * round and type on different blocks, not punished before. Returns what to slash, or an error.
 */
export function checkEvidence (st: StateReader, bytes: Uint8Array, ctx: BlockContext): { address: string, offence: string, amount: bigint } | string {
  let t: any
  try { t = unpack(bytes) } catch { return 'evidence is not msgpack' }
  const isVote = (v: any): boolean => Array.isArray(v) && v.length === 7 && [1, 2].includes(v[0]) && Number.isSafeInteger(v[1]) && Number.isSafeInteger(v[2]) &&
    v[3] instanceof Uint8Array && Number.isSafeInteger(v[4]) && v[5] instanceof Uint8Array && v[5].length === 20 && v[6] instanceof Uint8Array && v[6].length === 64
  if (!Array.isArray(t) || t.length !== 2 || !isVote(t[0]) || !isVote(t[1])) return 'evidence is not a pair of votes'
  const [a, b] = t
  if (a[0] !== b[0] || a[1] !== b[1] || a[2] !== b[2] || !bytesEqual(a[5], b[5])) return 'evidence votes are not for one validator, height, round and type'
  if (bytesEqual(a[3], b[3])) return 'evidence votes are for the same block'
  if (a[1] >= ctx.height || a[1] < ctx.height - EVIDENCE_MAX_AGE) return `evidence height ${a[1]} is not within the last ${EVIDENCE_MAX_AGE} blocks`
  const address = toHexUpper(a[5])
  const val = ctx.validators?.find(v => toHexUpper(v.address) === address)
  if (val === undefined) return `evidence names ${address}, not a validator`
  for (const v of [a, b]) {
    if (!verifySignature(val.pubKey, voteSignBytes(ctx.chainId, v[0], v[1], v[2], v[3], v[4]), v[6])) return 'evidence vote signature does not verify'
  }
  const bond = st.validatorBond(address) ?? { address, stake: 0n, slashed: 0n, offences: [] }
  const offence = `${a[1]}:${a[2]}:${a[0]}`
  if (bond.offences.includes(offence)) return `validator ${address} was already punished for height ${a[1]} round ${a[2]}`
  return { address, offence, amount: bond.stake * BigInt(st.params.slashFractionPpm) / 1_000_000n }
}

/** Block-begin work: evidence is punished, unbonded stake returns, overdue jobs expire (refund, slash). */
export function beginBlock (st: Overlay, ctx: BlockContext): AbciEvent[] {
  const events: AbciEvent[] = []
  const p = st.params
  for (const e of ctx.evidence ?? []) {
    const r = checkEvidence(st, e, ctx)
    if (typeof r === 'string') throw new BlockError('BLOCK_BAD_EVIDENCE', r)
    const bond = st.validatorBond(r.address) ?? { address: r.address, stake: 0n, slashed: 0n, offences: [] }
    st.setValidatorBond({ ...bond, stake: bond.stake - r.amount, slashed: bond.slashed + r.amount, offences: [...bond.offences, r.offence] })
    st.addTotal('bonded', -r.amount)
    st.addTotal('burned', r.amount)
    events.push(ev('slash', { validator: r.address, amount: r.amount, reason: 'duplicate_vote', offence: r.offence }))
  }
  for (const a of st.minerAddresses()) {
    const m = st.miner(a)
    if (m === undefined || m.unbonding.length === 0) continue
    const due = m.unbonding.filter(u => u.releaseHeight <= ctx.height)
    if (due.length === 0) continue
    const amount = due.reduce((s, u) => s + u.amount, 0n)
    st.setMiner({ ...m, unbonding: m.unbonding.filter(u => u.releaseHeight > ctx.height) })
    st.addTotal('unbonding', -amount)
    credit(st, a, amount)
    events.push(ev('unbond', { miner: a, amount }))
  }
  const expiredPending: Job[] = []
  for (const id of st.pendingJobIds()) {
    const j = st.job(id)
    if (j === undefined || j.status !== 'pending') continue
    if (j.submittedTime + p.assignTimeoutS * 1000 >= ctx.time) break
    expiredPending.push(j)
  }
  const expiredAssigned: Job[] = []
  for (const id of st.assignedJobIds()) {
    const j = st.job(id)
    if (j === undefined || j.status !== 'assigned') continue
    if ((j.assignedTime ?? 0) + p.jobTimeoutS * 1000 >= ctx.time) break
    expiredAssigned.push(j)
  }
  for (const j of expiredPending) {
    st.setJob({ ...j, status: 'expired', paid: 0n, refund: j.maxFee, slashed: 0n, settledHeight: ctx.height, settledTime: ctx.time })
    st.addTotal('escrow', -j.maxFee)
    credit(st, j.client, j.maxFee)
    events.push(ev('expire_job', { job_id: j.id, client: j.client, stage: 'pending', refund: j.maxFee, miner: '', slashed: 0 }))
  }
  for (const j of expiredAssigned) {
    const m = st.miner(j.miner as string) as Miner
    const slash = m.stake * BigInt(p.slashFractionPpm) / 1_000_000n
    st.setMiner({
      ...m, stake: m.stake - slash, slashed: m.slashed + slash, activeJobs: m.activeJobs - 1, jobsExpired: m.jobsExpired + 1,
      reputation: Math.max(0, m.reputation - REPUTATION_EXPIRED),
    })
    st.addTotal('bonded', -slash)
    st.addTotal('burned', slash)
    st.setJob({ ...j, status: 'expired', paid: 0n, refund: j.maxFee, slashed: slash, settledHeight: ctx.height, settledTime: ctx.time })
    st.addTotal('escrow', -j.maxFee)
    credit(st, j.client, j.maxFee)
    events.push(ev('expire_job', { job_id: j.id, client: j.client, stage: 'assigned', refund: j.maxFee, miner: m.address, slashed: slash }))
    if (slash > 0n) events.push(ev('slash', { miner: m.address, amount: slash, reason: 'job_expired', job_id: j.id }))
  }
  return events
}

export interface BlockExecution {
  overlay: Overlay
  txs: Tx[]
  txResults: TxResult[]
  beginEvents: AbciEvent[]
}

/**
 * Executes a block's transactions against `base` as every validator does: begin-block work,
 * each tx (a tx that fails makes the block invalid), then the check that the proposer assigned
 * every job it could. Throws BlockError.
 */
export function executeBlock (base: StateReader, txBytes: Uint8Array[], ctx: BlockContext, decoded?: Tx[]): BlockExecution {
  const overlay = new Overlay(base)
  const beginEvents = beginBlock(overlay, ctx)
  const txs: Tx[] = []
  const txResults: TxResult[] = []
  for (let i = 0; i < txBytes.length; i++) {
    try {
      const tx = decoded?.[i] ?? decodeTx(txBytes[i])
      txResults.push(applyTx(overlay, tx, ctx, 'deliver'))
      txs.push(tx)
    } catch (e) {
      if (e instanceof TxError) throw new BlockError('BLOCK_BAD_TX', `tx ${i} is invalid: ${e.code}: ${e.message}`)
      throw e
    }
  }
  const left = assignableJobs(overlay, ctx.prevBlockHash).next()
  if (left.done !== true) throw new BlockError('BLOCK_UNASSIGNED_JOB', `the proposer left job ${left.value.job.id} unassigned although ${left.value.miner.address} can take it`)
  return { overlay, txs, txResults, beginEvents }
}
