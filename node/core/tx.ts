// Transactions (SPEC 4): fixed-position msgpack tuples, domain-tagged ed25519 signatures,
// strict decoding. A Tx object is built only by decodeTx or signTx and is frozen.
import { decodeStrict, DecodeError, pack, type MsgValue } from './codec.ts'
import { addressFromPubkey, concatBytes, isAddress, sha256, SigningKey, toHex, toHexUpper, utf8Bytes, verifySignature } from './crypto.ts'
import { TxError } from './errors.ts'
import { MAX_AMOUNT } from './amount.ts'

export const TX_DOMAIN = utf8Bytes('AITBC/tx/v1')

export const TX_TYPES = ['transfer', 'register_miner', 'update_miner', 'stake', 'unstake', 'submit_job', 'cancel_job', 'assign', 'record_receipt'] as const
export type TxType = typeof TX_TYPES[number]

export interface JobOptions { temperature: number | null, numPredict: number | null, seed: number | null }
export interface ReceiptMetrics { computeMs: number, promptTokens: number, completionTokens: number }

export type TxBody =
  | { type: 'transfer', to: string, amount: bigint }
  | { type: 'register_miner', models: string[], pricePerSecond: bigint, capacity: number, stake: bigint }
  | { type: 'update_miner', models: string[] | null, pricePerSecond: bigint | null, capacity: number | null, active: boolean | null }
  | { type: 'stake', amount: bigint }
  | { type: 'unstake', amount: bigint }
  | { type: 'submit_job', model: string, prompt: string, options: JobOptions, maxFee: bigint, maxPricePerSecond: bigint | null }
  | { type: 'cancel_job', jobId: string }
  | { type: 'assign', jobId: string, miner: string }
  | { type: 'record_receipt', jobId: string, status: 'completed' | 'failed', result: string, resultHash: Uint8Array, metrics: ReceiptMetrics, error: string | null }

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

/** job_ + first 16 lower-case hex digits of the submit_job tx hash. */
export function jobIdFromTxHash (hash: string): string { return 'job_' + hash.slice(0, 16).toLowerCase() }
export function receiptIdFromTxHash (hash: string): string { return 'receipt_' + hash.slice(0, 16).toLowerCase() }
export const JOB_ID_RE = /^job_[0-9a-f]{16}$/
export const RECEIPT_ID_RE = /^receipt_[0-9a-f]{16}$/

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

function bad (message: string): never { throw new TxError('TX_DECODE', message) }

function asStr (v: MsgValue, what: string): string {
  if (typeof v !== 'string') bad(`${what} is not a string`)
  return v
}
function asUint (v: MsgValue, what: string): bigint {
  if (typeof v === 'number') bad(`${what}: a float where an integer belongs`)
  if (typeof v !== 'bigint') bad(`${what} is not an integer`)
  if (v < 0n) bad(`${what}: negative integer where a uint belongs`)
  return v
}
function asAmount (v: MsgValue, what: string): bigint {
  const a = asUint(v, what)
  if (a > MAX_AMOUNT) throw new TxError('INVALID_AMOUNT', `${what} overflows int64`)
  return a
}
function asSmall (v: MsgValue, what: string): number {
  const a = asUint(v, what)
  if (a > MAX_SAFE) bad(`${what} is too large`)
  return Number(a)
}
function asBin (v: MsgValue, len: number, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`${what} is not binary`)
  if (v.length !== len) bad(`${what} is not ${len} bytes`)
  return v
}
function asArr (v: MsgValue, len: number, what: string): MsgValue[] {
  if (!Array.isArray(v)) bad(`${what} is not an array`)
  if (v.length !== len) bad(`${what} has the wrong number of elements (${v.length}, expected ${len})`)
  return v
}
function opt<T> (v: MsgValue, f: (v: MsgValue) => T): T | null { return v === null ? null : f(v) }
function asNumber (v: MsgValue, what: string): number {
  if (typeof v === 'bigint') {
    if (v > MAX_SAFE || v < -MAX_SAFE) bad(`${what} is out of range`)
    return Number(v)
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${what} is not a finite number`)
  return v
}
function asStrList (v: MsgValue, what: string): string[] {
  if (!Array.isArray(v)) bad(`${what} is not an array`)
  return v.map((x, i) => asStr(x, `${what}[${i}]`))
}
function asAddress (v: MsgValue, what: string): string {
  const s = asStr(v, what)
  if (!isAddress(s)) throw new TxError('INVALID_FIELD', `${what} "${s.slice(0, 100)}" is not a valid aitbc address`)
  return s
}
function asJobId (v: MsgValue, what: string): string {
  const s = asStr(v, what)
  if (!JOB_ID_RE.test(s)) throw new TxError('INVALID_FIELD', `${what} "${s.slice(0, 100)}" is not a job id (job_ + 16 hex digits)`)
  return s
}

function decodeBody (type: TxType, v: MsgValue): TxBody {
  switch (type) {
    case 'transfer': {
      const b = asArr(v, 2, 'body')
      return { type, to: asAddress(b[0], 'to'), amount: asAmount(b[1], 'amount') }
    }
    case 'register_miner': {
      const b = asArr(v, 4, 'body')
      return { type, models: asStrList(b[0], 'models'), pricePerSecond: asAmount(b[1], 'price_per_second'), capacity: asSmall(b[2], 'capacity'), stake: asAmount(b[3], 'stake') }
    }
    case 'update_miner': {
      const b = asArr(v, 4, 'body')
      const active = b[3]
      if (active !== null && typeof active !== 'boolean') bad('active is not a bool')
      return {
        type,
        models: opt(b[0], x => asStrList(x, 'models')),
        pricePerSecond: opt(b[1], x => asAmount(x, 'price_per_second')),
        capacity: opt(b[2], x => asSmall(x, 'capacity')),
        active,
      }
    }
    case 'stake': case 'unstake': {
      const b = asArr(v, 1, 'body')
      return { type, amount: asAmount(b[0], 'amount') }
    }
    case 'submit_job': {
      const b = asArr(v, 5, 'body')
      const o = asArr(b[2], 3, 'options')
      return {
        type,
        model: asStr(b[0], 'model'),
        prompt: asStr(b[1], 'prompt'),
        options: {
          temperature: opt(o[0], x => asNumber(x, 'temperature')),
          numPredict: opt(o[1], x => asSmall(x, 'num_predict')),
          seed: opt(o[2], x => asSmall(x, 'seed')),
        },
        maxFee: asAmount(b[3], 'max_fee'),
        maxPricePerSecond: opt(b[4], x => asAmount(x, 'max_price_per_second')),
      }
    }
    case 'cancel_job': {
      const b = asArr(v, 1, 'body')
      return { type, jobId: asJobId(b[0], 'job_id') }
    }
    case 'assign': {
      const b = asArr(v, 2, 'body')
      return { type, jobId: asJobId(b[0], 'job_id'), miner: asAddress(b[1], 'miner') }
    }
    case 'record_receipt': {
      const b = asArr(v, 6, 'body')
      const status = asStr(b[1], 'status')
      if (status !== 'completed' && status !== 'failed') throw new TxError('INVALID_FIELD', `status must be "completed" or "failed", got "${status.slice(0, 40)}"`)
      const m = asArr(b[4], 3, 'metrics')
      return {
        type,
        jobId: asJobId(b[0], 'job_id'),
        status,
        result: asStr(b[2], 'result'),
        resultHash: asBin(b[3], 32, 'result_hash'),
        metrics: { computeMs: asSmall(m[0], 'compute_ms'), promptTokens: asSmall(m[1], 'prompt_tokens'), completionTokens: asSmall(m[2], 'completion_tokens') },
        error: opt(b[5], x => asStr(x, 'error')),
      }
    }
  }
}

export function encodeBody (b: TxBody): unknown[] {
  switch (b.type) {
    case 'transfer': return [b.to, b.amount]
    case 'register_miner': return [b.models, b.pricePerSecond, b.capacity, b.stake]
    case 'update_miner': return [b.models, b.pricePerSecond, b.capacity, b.active]
    case 'stake': case 'unstake': return [b.amount]
    case 'submit_job': return [b.model, b.prompt, [b.options.temperature, b.options.numPredict, b.options.seed], b.maxFee, b.maxPricePerSecond]
    case 'cancel_job': return [b.jobId]
    case 'assign': return [b.jobId, b.miner]
    case 'record_receipt': return [b.jobId, b.status, b.result, b.resultHash, [b.metrics.computeMs, b.metrics.promptTokens, b.metrics.completionTokens], b.error]
  }
}

/**
 * Decodes and checks a transaction's form and signature (stateless). Throws TxError:
 * TX_DECODE for malformed bytes, UNKNOWN_TX_TYPE, INVALID_FIELD / INVALID_AMOUNT for bad fields,
 * BAD_SIGNATURE. Chain id, fee and sizes against params are checked by checkTxStatic.
 */
export function decodeTx (bytes: Uint8Array, opts: { verify?: boolean } = {}): Tx {
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
  const typeName = asStr(value[1], 'type')
  if (!(TX_TYPES as readonly string[]).includes(typeName)) throw new TxError('UNKNOWN_TX_TYPE', `unknown transaction type "${typeName.slice(0, 40)}"`)
  const type = typeName as TxType
  const senderPubkey = asBin(value[2], 32, 'sender_pubkey')
  const nonce = asSmall(value[3], 'nonce')
  const fee = asAmount(value[4], 'fee')
  const body = decodeBody(type, value[5])
  const signature = asBin(value[6], 64, 'signature')
  const signBytes = concatBytes(TX_DOMAIN, Uint8Array.of(0x96), bytes.subarray(spans[0][0], spans[5][1]))
  if (opts.verify !== false && !verifySignature(senderPubkey, signBytes, signature)) {
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
    hash: toHexUpper(sha256(bytes)),
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
