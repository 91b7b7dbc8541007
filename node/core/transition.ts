// The state transition: one path for every transaction, whether it is checked for the mempool
// or delivered in a block (the envelope's rules here, each type's rules in txs/), and the
// block-begin work (evidence, unbonding, expiry, slashing). Pure: time, height and the previous
// block hash come from ctx.
import { TxError, BlockError } from './errors.ts'
import type { Tx } from './tx.ts'
import { toHexUpper, verifySignature, bytesEqual } from './crypto.ts'
import { unpack } from './codec.ts'
import { voteSignBytes, type Commit, type Validator } from './block.ts'
import { punishDoubleSign, releaseValidatorUnbonding, trackDowntime } from './validatorDuties.ts'
import { ev, type AbciEvent } from './events.ts'
import { txTypeDef } from './txs/registry.ts'
import { credit, needFunds } from './txs/txType.ts'
import { slashMiner } from './slashing.ts'
import { advanceVerifications } from './verification.ts'
import { EMPTY_ACCOUNT, REPUTATION_EXPIRED, type Job, type Miner, type Overlay, type StateReader } from './state.ts'
import type { Params } from './params.ts'

export type { AbciEvent, EventAttribute } from './events.ts'
export interface TxResult { code: number, log: string, codespace: string, events: AbciEvent[] }

export interface BlockContext {
  chainId: string
  height: number
  /** Block time, ms since the epoch (from the header, never the local clock). */
  time: number
  /** Account address (bech32) of the block's proposer; fees go there. */
  proposer: string
  /** The block's randomness (blockRandomness): seeds the miner draw and verification samples. */
  randomness: Uint8Array
  /** Duplicate-vote evidence carried by the block (packed vote pairs). */
  evidence?: Uint8Array[]
  /** The validator set that signs this block's height. */
  validators?: Validator[]
  /** The block's last_commit (verified) and the set that signed it: missed precommits are counted from them. */
  lastCommit?: Commit | null
  lastValidators?: readonly Validator[]
}

/** 'check': the mempool's admission (no proposer is paid; proposer-only types are refused). 'deliver': inside a block. */
export type Mode = 'check' | 'deliver'

/**
 * Checks that need only the tx and the params (no state): chain id, size, fee, then the type's
 * own static checks. A TxError from here is permanent: the tx can never become valid.
 */
export function checkTxStatic (tx: Tx, chainId: string, params: Params): void {
  try {
    checkEnvelope(tx, chainId, params)
  } catch (e) {
    if (e instanceof TxError) throw e.asPermanent()
    throw e
  }
}

function checkEnvelope (tx: Tx, chainId: string, params: Params): void {
  if (tx.chainId !== chainId) throw new TxError('WRONG_CHAIN_ID', `wrong chain id "${tx.chainId.slice(0, 60)}", this chain is "${chainId}"`)
  if (tx.bytes.length > params.maxTxBytes) throw new TxError('TX_TOO_LARGE', `transaction is ${tx.bytes.length} bytes, max_tx_bytes is ${params.maxTxBytes}`)
  const def = txTypeDef(tx.type)
  if (def.proposerOnly === true) {
    if (tx.fee !== 0n) throw new TxError('INVALID_AMOUNT', `an ${tx.type} transaction carries no fee`)
  } else if (tx.fee < params.minFee) {
    throw new TxError('FEE_TOO_LOW', `fee ${tx.fee} uaitbc is below min_fee ${params.minFee} uaitbc`)
  }
  def.checkStatic(tx.body as never, params)
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
  const def = txTypeDef(tx.type)
  if (def.proposerOnly === true && mode === 'check') throw new TxError('ASSIGN_ONLY_IN_BLOCK', `${tx.type} transactions are made by the block proposer inside a block, not broadcast`).asPermanent()
  const events: AbciEvent[] = [ev('message', { action: tx.type, sender, nonce: tx.nonce })]
  // The type's handler checks everything first, then returns the balance change of the sender beyond the fee.
  const effect = def.apply({ st, tx, body: tx.body as never, spendable: acc.balance - tx.fee, ctx, mode, events })
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

/**
 * How old evidence may be, in blocks: less than unbonding_blocks, so that stake unbonded at or
 * after an offence is still unbonding when its evidence lands (and is slashed with the bond).
 */
export function evidenceMaxAge (p: Params): number { return Math.max(0, p.unbondingBlocks - 1) }

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
  const maxAge = evidenceMaxAge(st.params)
  if (a[1] >= ctx.height || a[1] < ctx.height - maxAge) return `evidence height ${a[1]} is not within the last ${maxAge} blocks (unbonding_blocks - 1)`
  const address = toHexUpper(a[5])
  const bond = st.validatorBond(address)
  if (bond === undefined) return `evidence names ${address}, not a validator`
  for (const v of [a, b]) {
    if (!verifySignature(bond.pubKey, voteSignBytes(ctx.chainId, v[0], v[1], v[2], v[3], v[4]), v[6])) return 'evidence vote signature does not verify'
  }
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
    events.push(...punishDoubleSign(st, r.address, r.offence, Number(r.offence.split(':')[0])))
  }
  events.push(...trackDowntime(st, ctx.height, ctx.lastCommit, ctx.lastValidators))
  events.push(...releaseValidatorUnbonding(st, ctx.height))
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
    // A job whose miner committed to a result has deadlines of its own (verification.ts).
    if (j === undefined || j.status !== 'assigned' || j.verification !== null) continue
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
    const before = st.miner(j.miner as string) as Miner
    // The slash reaches unbonding started since the job was assigned: unstaking with a job in hand does not dodge it.
    const { miner: m, slash: s } = slashMiner(st, { ...before, locked: before.locked - j.stakeLock }, j.assignedHeight ?? ctx.height, p.slashFractionPpm)
    const slash = s.total
    st.setMiner({ ...m, activeJobs: m.activeJobs - 1, jobsExpired: m.jobsExpired + 1, reputation: Math.max(0, m.reputation - REPUTATION_EXPIRED) })
    st.setJob({ ...j, status: 'expired', paid: 0n, refund: j.maxFee, slashed: slash, settledHeight: ctx.height, settledTime: ctx.time })
    st.addTotal('escrow', -j.maxFee)
    credit(st, j.client, j.maxFee)
    events.push(ev('expire_job', { job_id: j.id, client: j.client, stage: 'assigned', refund: j.maxFee, miner: m.address, slashed: slash }))
    if (slash > 0n) events.push(ev('slash', { miner: m.address, amount: slash, reason: 'job_expired', job_id: j.id }))
  }
  events.push(...advanceVerifications(st, ctx))
  return events
}

