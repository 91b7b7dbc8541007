// Transactions: fixed-position msgpack tuples, domain-tagged ed25519 signatures, strict
// decoding. This module is the envelope [chain_id, type, sender_pubkey, nonce, fee, body,
// signature]; each type's body codec lives in txs/ and is found through the registry. A Tx
// object is built only by decodeTx or signTx and is frozen.
import { decodeStrict, DecodeError, pack } from './codec.ts'
import { addressFromPubkey, concatBytes, sha256Once, SigningKey, toHex, toHexUpper, utf8Bytes, verifySignature } from './crypto.ts'
import { TxError } from './errors.ts'
import { asAmount, asBin, asSmall, asStr, bad } from './fields.ts'
import { isTxType, txTypeDef, type TxBody, type TxType } from './txs/registry.ts'

export { TX_TYPES, type TxBody, type TxType, type TxBodyOf } from './txs/registry.ts'
export type { JobOptions } from './txs/submitJob.ts'
export type { ReceiptMetrics } from './txs/recordReceipt.ts'
export { jobIdFromTxHash, receiptIdFromTxHash, JOB_ID_RE, RECEIPT_ID_RE } from './ids.ts'

export const TX_DOMAIN = utf8Bytes('AITBC/tx/v1')

export interface Tx {
  readonly chainId: string
  readonly type: TxType
  readonly senderPubkey: Uint8Array
  readonly sender: string
  readonly nonce: number
  readonly fee: bigint
  readonly body: TxBody
  readonly signature: Uint8Array
  /** The full encoded transaction. */
  readonly bytes: Uint8Array
  /** Upper-case hex sha256 of bytes. */
  readonly hash: string
  /** AITBC/tx/v1 || 0x96 || the first six elements' bytes. */
  readonly signBytes: Uint8Array
}

/** The body tuple of a body, for signing. */
export function encodeBody (b: TxBody): unknown[] {
  return txTypeDef(b.type).encode(b as never)
}

/**
 * Decodes and checks a transaction's form and signature (stateless). Throws TxError:
 * TX_DECODE for malformed bytes, UNKNOWN_TX_TYPE, INVALID_FIELD / INVALID_AMOUNT for bad fields,
 * BAD_SIGNATURE. Chain id, fee and sizes against params are checked by checkTxStatic.
 */
export function decodeTx (bytes: Uint8Array, opts: { verify?: boolean } = {}): Tx {
  try {
    return decodeEnvelope(bytes, opts.verify !== false)
  } catch (e) {
    if (e instanceof TxError) throw e.asPermanent()
    throw e
  }
}

function decodeEnvelope (bytes: Uint8Array, verify: boolean): Tx {
  let decoded
  try {
    decoded = decodeStrict(bytes)
  } catch (e) {
    if (e instanceof DecodeError) bad(`not a transaction: ${e.message}`)
    throw e
  }
  const { value, spans } = decoded
  if (!Array.isArray(value)) bad('not a transaction: not a msgpack array')
  if (value.length !== 7) bad(`not a transaction: ${value.length} elements, expected 7`)
  if (typeof value[0] !== 'string') bad('chain_id is not a string')
  const chainId = value[0]
  const type = asStr(value[1], 'type')
  if (!isTxType(type)) throw new TxError('UNKNOWN_TX_TYPE', `unknown transaction type "${type.slice(0, 40)}"`)
  const senderPubkey = asBin(value[2], 32, 'sender_pubkey')
  const nonce = asSmall(value[3], 'nonce')
  const fee = asAmount(value[4], 'fee')
  const body = txTypeDef(type).decode(value[5])
  const signature = asBin(value[6], 64, 'signature')
  // The tuple's header and the signature's bin header are the only bytes the signature does not
  // cover: only their shortest forms are accepted, so that nobody can re-frame a signed tx into
  // other bytes (another hash, another job id) that are just as valid.
  if (bytes[0] !== 0x97) bad('not a transaction: the tuple must start with 0x97 (an array of 7 in its shortest form)')
  if (bytes[spans[6][0]] !== 0xc4) bad('signature must be written as bin 8 (0xc4 0x40)')
  const signBytes = concatBytes(TX_DOMAIN, Uint8Array.of(0x96), bytes.subarray(spans[0][0], spans[5][1]))
  if (verify && !verifySignature(senderPubkey, signBytes, signature)) {
    throw new TxError('BAD_SIGNATURE', 'signature does not verify for sender_pubkey')
  }
  const tx: Tx = {
    chainId,
    type,
    senderPubkey,
    sender: addressFromPubkey(senderPubkey),
    nonce,
    fee,
    body,
    signature,
    bytes,
    hash: toHexUpper(sha256Once(bytes)),
    signBytes,
  }
  return Object.freeze(tx)
}

export interface UnsignedTx { chainId: string, nonce: number, fee: bigint, body: TxBody }

/** Builds and signs a transaction. */
export function signTx (key: SigningKey, u: UnsignedTx): Tx {
  const head = [u.chainId, u.body.type, key.publicKey, BigInt(u.nonce), u.fee, encodeBody(u.body)]
  const unsigned = pack(head)
  const signBytes = concatBytes(TX_DOMAIN, unsigned)
  const signature = key.sign(signBytes)
  // The tuple of seven: header 0x97, the six elements exactly as in the signed bytes, then the signature.
  const sigBytes = pack(signature)
  const bytes = concatBytes(Uint8Array.of(0x97), unsigned.subarray(1), sigBytes)
  return decodeTx(bytes, { verify: false })
}

/** The tx as JSON for RPC answers (amounts as decimal strings, bytes as hex). */
export function txToJSON (tx: Tx): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(tx.body)) {
    if (k === 'type') continue
    body[snake(k)] = jsonValue(v)
  }
  return { hash: tx.hash, chain_id: tx.chainId, type: tx.type, sender: tx.sender, sender_pubkey: toHex(tx.senderPubkey), nonce: String(tx.nonce), fee: tx.fee.toString(), body }
}

function snake (k: string): string { return k.replace(/[A-Z]/g, c => '_' + c.toLowerCase()) }
export function jsonValue (v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return toHex(v)
  if (Array.isArray(v)) return v.map(jsonValue)
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) o[snake(k)] = jsonValue(x)
    return o
  }
  return v
}
