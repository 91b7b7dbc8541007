// Every transaction type, in one place. Adding a type = its module in this folder, one line
// here, and its tests; the envelope (tx.ts), the state transition, the CLI's and the explorer's
// descriptions all read this table. The mapped type makes the compiler check that every entry
// is a complete TxTypeDef whose name matches its key.
import type { TxTypeDef } from './txType.ts'
import type { Tx } from '../tx.ts'
import { transfer } from './transfer.ts'
import { registerMiner } from './registerMiner.ts'
import { updateMiner } from './updateMiner.ts'
import { stake } from './stake.ts'
import { unstake } from './unstake.ts'
import { submitJob } from './submitJob.ts'
import { cancelJob } from './cancelJob.ts'
import { assign } from './assign.ts'
import { recordReceipt } from './recordReceipt.ts'
import { commitResult } from './commitResult.ts'
import { revealResult } from './revealResult.ts'
import { beacon } from './beacon.ts'
import { createValidator } from './createValidator.ts'
import { validatorStake } from './validatorStake.ts'
import { validatorUnbond } from './validatorUnbond.ts'
import { unjail } from './unjail.ts'

export const TX_TYPE_DEFS = {
  transfer,
  register_miner: registerMiner,
  update_miner: updateMiner,
  stake,
  unstake,
  submit_job: submitJob,
  cancel_job: cancelJob,
  assign,
  record_receipt: recordReceipt,
  commit_result: commitResult,
  reveal_result: revealResult,
  beacon,
  create_validator: createValidator,
  validator_stake: validatorStake,
  validator_unbond: validatorUnbond,
  unjail,
} satisfies { [K in string]: TxTypeDef<K, { type: K }> }

type Defs = typeof TX_TYPE_DEFS
export type TxType = keyof Defs
type BodyOf<D> = D extends TxTypeDef<any, infer B> ? B : never
/** The body of a transaction of any type, discriminated by `type`. */
export type TxBody = { [K in TxType]: BodyOf<Defs[K]> }[TxType]
export type TxBodyOf<K extends TxType> = Extract<TxBody, { type: K }>

/** The type names, in registry order. */
export const TX_TYPES = Object.keys(TX_TYPE_DEFS) as TxType[]

export function isTxType (name: string): name is TxType { return Object.hasOwn(TX_TYPE_DEFS, name) }

/** The definition of a type, typed by its name. */
export function txTypeDef<K extends TxType> (type: K): TxTypeDef<K, TxBodyOf<K>> {
  return TX_TYPE_DEFS[type] as unknown as TxTypeDef<K, TxBodyOf<K>>
}

/** One line a person reads about a tx: what it did, from its type's module. */
export function summarizeTx (tx: Tx): string {
  return txTypeDef(tx.type).summary(tx.body as never, tx)
}
