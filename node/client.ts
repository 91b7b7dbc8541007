// The package's public client entry (`import ... from 'aitbc/client'`): the typed JSON-RPC client
// of the node, the JSON shapes of its answers, and the core pieces a program needs to build,
// sign and read transactions, and the structured logger. The miner and the coordinator use only
// this and core types.
export { NodeClient, RpcClientError, RpcNetworkError, MAX_BATCH } from './rpc/client.ts'
export type { BatchAnswer, BatchCall, RpcClientOptions, SubscribeOptions, Subscription } from './rpc/client.ts'
export type * from './rpc/types.ts'
export { signTx, decodeTx, jobIdFromTxHash, receiptIdFromTxHash, JOB_ID_RE, RECEIPT_ID_RE, TX_TYPES } from './core/tx.ts'
export type { Tx, TxBody, TxType, UnsignedTx, JobOptions, ReceiptMetrics } from './core/tx.ts'
export type { ReceiptDetails, ModelInfo } from './core/state.ts'
export { resultCommitment } from './core/verification.ts'
export { SigningKey, addressFromPubkey, isAddress, sha256, toHex, toHexUpper, toBase64, fromHex, utf8Bytes } from './core/crypto.ts'
export { parseAitbc, formatAitbc, parseUaitbc, UAITBC_PER_AITBC } from './core/amount.ts'
export { TxCode, TxError, type TxErrorCode } from './core/errors.ts'
export { createLogger, silentLogger, type Logger } from './logger.ts'
