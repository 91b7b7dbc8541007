// Typed errors with string codes (the code is also the RPC error data, the log field and the
// metric label) and the numeric CometBFT-style result code a tx result carries.

export const TxCode = {
  OK: 0,
  TX_DECODE: 2,
  TX_TOO_LARGE: 3,
  WRONG_CHAIN_ID: 4,
  BAD_SIGNATURE: 5,
  NONCE_USED: 6,
  NONCE_SKIPPED: 7,
  FEE_TOO_LOW: 8,
  INSUFFICIENT_FUNDS: 9,
  INVALID_AMOUNT: 10,
  UNKNOWN_TX_TYPE: 11,
  INVALID_FIELD: 12,
  PROMPT_TOO_LARGE: 13,
  RESULT_TOO_LARGE: 14,
  JOB_NOT_FOUND: 15,
  JOB_NOT_PENDING: 16,
  JOB_ALREADY_SETTLED: 17,
  NOT_JOB_CLIENT: 18,
  NOT_ASSIGNED_MINER: 19,
  WRONG_ASSIGNMENT: 20,
  NOT_PROPOSER: 21,
  ASSIGN_ONLY_IN_BLOCK: 22,
  MINER_EXISTS: 23,
  MINER_NOT_FOUND: 24,
  STAKE_TOO_LOW: 25,
  MEMPOOL_FULL: 26,
  TX_IN_MEMPOOL: 27,
  TX_ALREADY_COMMITTED: 28,
  RESULT_HASH_MISMATCH: 29,
  MINER_BUSY: 30,
  BAD_BEACON: 31,
  VALIDATOR_EXISTS: 32,
  VALIDATOR_NOT_FOUND: 33,
  KEY_IN_USE: 34,
  INVALID_PUBKEY: 35,
  BAD_POSSESSION_PROOF: 36,
  VALIDATOR_JAILED: 37,
  NOT_JAILED: 38,
  TOMBSTONED: 39,
  VALIDATOR_SET_EMPTY: 40,
  MEMPOOL_QUEUE_FULL: 41,
  TX_EXPIRED: 42,
} as const
export type TxErrorCode = keyof typeof TxCode

/**
 * A transaction that cannot be accepted: in the mempool, in a block, or at decoding. `permanent`
 * is true when the failure needs no state (malformed, bad signature, wrong chain, a static check):
 * the tx can never become valid, so a peer that gossips it is at fault and its hash may be
 * remembered as bad. Other failures (nonces, funds, job states) may pass later.
 */
export class TxError extends Error {
  readonly code: TxErrorCode
  permanent = false
  constructor (code: TxErrorCode, message: string) {
    super(message)
    this.name = 'TxError'
    this.code = code
  }

  /** Marks the error as one that no state can cure; returns it. */
  asPermanent (): this { this.permanent = true; return this }

  get numericCode (): number { return TxCode[this.code] }
}

export type BlockErrorCode =
  | 'BLOCK_DECODE' | 'BLOCK_WRONG_HEIGHT' | 'BLOCK_WRONG_PARENT' | 'BLOCK_WRONG_CHAIN'
  | 'BLOCK_BAD_TIME' | 'BLOCK_BAD_TX' | 'BLOCK_BAD_HASH' | 'BLOCK_BAD_PROPOSER'
  | 'BLOCK_BAD_SIGNATURE' | 'BLOCK_BAD_COMMIT' | 'BLOCK_UNASSIGNED_JOB' | 'BLOCK_BEACON' | 'BLOCK_TOO_LARGE' | 'BLOCK_BAD_EVIDENCE'

export class BlockError extends Error {
  readonly code: BlockErrorCode
  constructor (code: BlockErrorCode, message: string) {
    super(message)
    this.name = 'BlockError'
    this.code = code
  }
}

export class GenesisError extends Error {
  readonly code = 'GENESIS_INVALID'
  constructor (message: string) {
    super(message)
    this.name = 'GenesisError'
  }
}
