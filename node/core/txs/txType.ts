// What a transaction type is: its body codec, its stateless checks, its state handler and a short
// description for people (CLI, explorer, docs). One module per type implements TxTypeDef; the
// registry lists them. Errors a type throws from decode or checkStatic are permanent (the tx can
// never become valid: a peer that gossips it is at fault); errors from apply depend on the state.
import type { MsgValue } from '../codec.ts'
import type { Params } from '../params.ts'
import type { AbciEvent } from '../events.ts'
import type { Overlay, StateReader, Job, Miner } from '../state.ts'
import { EMPTY_ACCOUNT } from '../state.ts'
import type { Tx } from '../tx.ts'
import type { BlockContext, Mode } from '../transition.ts'
import { TxError } from '../errors.ts'
import { formatAitbc } from '../amount.ts'

/** The arguments of a state handler. */
export interface HandlerArgs<B> {
  st: Overlay
  tx: Tx
  body: B
  /** The sender's balance minus the fee. */
  spendable: bigint
  ctx: BlockContext
  mode: Mode
  /** Events of this tx; the handler appends its own. */
  events: AbciEvent[]
}

/**
 * What a handler decided, after checking everything: the change of the sender's balance beyond
 * the fee, and the other writes, applied only once the fee is known to be payable.
 */
export interface Effect { delta: bigint, apply?: () => void }

export interface TxTypeDef<T extends string, B extends { type: T }> {
  readonly type: T
  /** One line for people: what the tx does. */
  readonly description: string
  /** Who signs it. */
  readonly signer: string
  /** Only the block's proposer makes it, inside its block: never accepted from clients or gossip; carries no fee. */
  readonly proposerOnly?: true
  /** Decodes the body tuple strictly (TxError TX_DECODE, INVALID_FIELD, INVALID_AMOUNT). */
  decode (v: MsgValue): B
  /** The body tuple, for signing. */
  encode (b: B): unknown[]
  /** One line a person reads in a list of txs (explorer, CLI). */
  summary (b: B, tx: Tx): string
  /** Checks that need only the body and the params. */
  checkStatic (b: B, params: Params): void
  /** Checks the tx against the state, then returns its effect; throws TxError and writes nothing when it is not valid here. */
  apply (a: HandlerArgs<B>): Effect
}

/** An amount for people: "12.5 AITBC". */
export function aitbc (u: bigint): string { return formatAitbc(u) + ' AITBC' }

export function byteLen (s: string): number { return Buffer.byteLength(s, 'utf8') }

export function needFunds (have: bigint, need: bigint, what: string): void {
  if (have < need) throw new TxError('INSUFFICIENT_FUNDS', `insufficient funds: ${what} needs ${need} uaitbc, the account has ${have} uaitbc`)
}

export function getMiner (st: StateReader, address: string): Miner {
  const m = st.miner(address)
  if (m === undefined) throw new TxError('MINER_NOT_FOUND', `${address} is not a registered miner`)
  return m
}

export function getJob (st: StateReader, id: string): Job {
  const j = st.job(id)
  if (j === undefined) throw new TxError('JOB_NOT_FOUND', `job ${id} does not exist`)
  return j
}

export function credit (st: Overlay, address: string, amount: bigint): void {
  const a = st.account(address) ?? EMPTY_ACCOUNT
  st.setAccount(address, { ...a, balance: a.balance + amount })
  st.addTotal('balances', amount)
}

export const MAX_MODELS = 16
export const MAX_MODEL_BYTES = 128
export const MAX_CAPACITY = 1000

export function checkModels (models: string[]): void {
  if (models.length === 0 || models.length > MAX_MODELS) throw new TxError('INVALID_FIELD', `models must list 1 to ${MAX_MODELS} names`)
  if (new Set(models).size !== models.length) throw new TxError('INVALID_FIELD', 'models has duplicates')
  for (const m of models) if (m.length === 0 || byteLen(m) > MAX_MODEL_BYTES) throw new TxError('INVALID_FIELD', `each model name must be 1 to ${MAX_MODEL_BYTES} bytes`)
}

export function checkCapacity (c: number): void {
  if (c < 1 || c > MAX_CAPACITY) throw new TxError('INVALID_FIELD', `capacity must be from 1 to ${MAX_CAPACITY}`)
}

export function checkPositive (amount: bigint, what = 'amount'): void {
  if (amount <= 0n) throw new TxError('INVALID_AMOUNT', `${what} must be positive`)
}
