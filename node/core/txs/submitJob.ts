// submit_job: a client asks for an inference — a prompt, or chat messages — and escrows its
// maximum fee; the job is pending until a miner is assigned. Optional trailing fields (absent in
// older bodies, which keep their bytes): chat messages, a pinned model digest, caps on per-token
// prices, and whether the client accepts unverified work.
import { asAmount, asArr, asArrRange, asBool, asNumber, asSmall, asStr, opt, optUint, trimTrailing } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { jobIdFromTxHash } from '../ids.ts'
import { sha256, toHex, utf8Bytes } from '../crypto.ts'
import { byteLen, checkPositive, MAX_MODEL_BYTES, needFunds, type TxTypeDef, aitbc } from './txType.ts'

export interface JobOptions { temperature: number | null, numPredict: number | null, seed: number | null }
export type ChatRole = 'system' | 'user' | 'assistant'
export interface ChatMessage { role: ChatRole, content: string }

export interface SubmitJobBody {
  type: 'submit_job'
  model: string
  /** The prompt; empty for a chat job. */
  prompt: string
  options: JobOptions
  maxFee: bigint
  maxPricePerSecond: bigint | null
  /** A chat job's messages (then prompt is empty); null for a prompt job. */
  messages?: ChatMessage[] | null
  /** Ollama's digest of the model (64 lower-case hex digits) that the miner must serve. */
  modelDigest?: string | null
  /** Caps on the miner's prices per million input and output tokens. */
  maxPriceIn?: bigint | null
  maxPriceOut?: bigint | null
  /** The client accepts unverified work: the job is never checked (and can go to a model that fewer than two miners serve). */
  unverified?: boolean | null
}

export const CHAT_ROLES: readonly ChatRole[] = ['system', 'user', 'assistant']
export const MAX_MESSAGES = 64
export const DIGEST_RE = /^[0-9a-f]{64}$/

/** The bytes a job's input takes: the prompt, or every message's content. */
export function inputBytes (b: { prompt: string, messages?: ChatMessage[] | null }): number {
  return b.messages == null ? byteLen(b.prompt) : b.messages.reduce((s, m) => s + byteLen(m.content), 0)
}

/** The seed a job runs with: the client's, or one the chain fixes from the job id (so every run of a job, the verifiers' too, uses the same). */
export function jobSeed (jobId: string, clientSeed: number | null): number {
  if (clientSeed !== null) return clientSeed
  return parseInt(toHex(sha256(utf8Bytes('AITBC/seed/v1' + jobId)).subarray(0, 6)), 16)
}

export const submitJob: TxTypeDef<'submit_job', SubmitJobBody> = {
  type: 'submit_job',
  description: 'asks for an inference (model, prompt or chat messages, options) and escrows max_fee; the job is pending until a miner is assigned',
  signer: 'the client',
  decode (v) {
    const b = asArrRange(v, 5, 10, 'body')
    const o = asArr(b[2], 3, 'options')
    return {
      type: 'submit_job',
      model: asStr(b[0], 'model'),
      prompt: asStr(b[1], 'prompt'),
      options: {
        temperature: opt(o[0], x => asNumber(x, 'temperature')),
        numPredict: opt(o[1], x => asSmall(x, 'num_predict')),
        seed: opt(o[2], x => asSmall(x, 'seed')),
      },
      maxFee: asAmount(b[3], 'max_fee'),
      maxPricePerSecond: opt(b[4], x => asAmount(x, 'max_price_per_second')),
      messages: opt(b[5], decodeMessages),
      modelDigest: opt(b[6], x => asStr(x, 'model_digest')),
      maxPriceIn: opt(b[7], x => asAmount(x, 'max_price_in')),
      maxPriceOut: opt(b[8], x => asAmount(x, 'max_price_out')),
      unverified: opt(b[9], x => asBool(x, 'unverified')),
    }
  },
  encode: b => trimTrailing([
    b.model, b.prompt, [b.options.temperature, optUint(b.options.numPredict), optUint(b.options.seed)], b.maxFee, b.maxPricePerSecond,
    b.messages == null ? null : b.messages.map(m => [m.role, m.content]), b.modelDigest ?? null, b.maxPriceIn ?? null, b.maxPriceOut ?? null, b.unverified ?? null,
  ], 5),
  summary: (b, tx) => `${jobIdFromTxHash(tx.hash)} on ${b.model}${b.messages == null ? '' : ' (chat)'}, max fee ${aitbc(b.maxFee)}`,
  checkStatic (b, params) {
    if (b.model.length === 0 || byteLen(b.model) > MAX_MODEL_BYTES) throw new TxError('INVALID_FIELD', `model must be 1 to ${MAX_MODEL_BYTES} bytes`)
    if (b.messages == null) {
      if (b.prompt.length === 0) throw new TxError('INVALID_FIELD', 'prompt is empty')
    } else {
      if (b.prompt.length > 0) throw new TxError('INVALID_FIELD', 'a chat job carries messages and an empty prompt')
      if (b.messages.length === 0 || b.messages.length > MAX_MESSAGES) throw new TxError('INVALID_FIELD', `messages must list 1 to ${MAX_MESSAGES} messages`)
      if (!b.messages.some(m => m.role === 'user')) throw new TxError('INVALID_FIELD', 'messages must include a user message')
    }
    const bytes = inputBytes(b)
    if (bytes > params.maxPromptBytes) throw new TxError('PROMPT_TOO_LARGE', `${b.messages == null ? 'prompt is' : 'messages are'} ${bytes} bytes, max_prompt_bytes is ${params.maxPromptBytes}`)
    if (b.options.temperature !== null && (b.options.temperature < 0 || b.options.temperature > 100)) throw new TxError('INVALID_FIELD', 'temperature must be from 0 to 100')
    if (b.options.numPredict !== null && b.options.numPredict > params.maxNumPredict) throw new TxError('INVALID_FIELD', `num_predict must be at most max_num_predict ${params.maxNumPredict}`)
    if (b.modelDigest != null && !DIGEST_RE.test(b.modelDigest)) throw new TxError('INVALID_FIELD', 'model_digest must be 64 lower-case hex digits (the digest of ollama list / api/tags)')
    checkPositive(b.maxFee, 'max_fee')
  },
  apply ({ st, tx, body: b, spendable, ctx, events }) {
    const id = jobIdFromTxHash(tx.hash)
    if (st.job(id) !== undefined) throw new TxError('INVALID_FIELD', `job id ${id} is taken (a transaction with the same hash prefix); change the nonce or the prompt`)
    needFunds(spendable + tx.fee, b.maxFee + tx.fee, `max_fee of ${b.maxFee} uaitbc plus the fee`)
    events.push(ev('submit_job', { job_id: id, client: tx.sender, model: b.model, max_fee: b.maxFee, kind: b.messages == null ? 'prompt' : 'chat' }))
    return {
      delta: -b.maxFee,
      apply: () => {
        st.setJob({
          id, txHash: tx.hash, client: tx.sender, clientKey: tx.senderPubkey, model: b.model, prompt: b.prompt, options: { ...b.options }, maxFee: b.maxFee, maxPricePerSecond: b.maxPricePerSecond,
          messages: b.messages == null ? null : b.messages.map(m => ({ ...m })), modelDigest: b.modelDigest ?? null, maxPriceIn: b.maxPriceIn ?? null, maxPriceOut: b.maxPriceOut ?? null,
          unverified: b.unverified === true, checked: false, stakeLock: 0n, seed: jobSeed(id, b.options.seed), numPredict: b.options.numPredict ?? st.params.maxNumPredict,
          status: 'pending', submittedHeight: ctx.height, submittedTime: ctx.time, miner: null, pricePerSecond: null, priceIn: null, priceOut: null,
          assignedHeight: null, assignedTime: null, assignTxHash: null, receiptId: null, settleTxHash: null, result: null, resultHash: null, sealed: null, metrics: null, details: null,
          error: null, paid: null, refund: null, slashed: null, settledHeight: null, settledTime: null, verification: null,
        })
        st.addTotal('escrow', b.maxFee)
      },
    }
  },
}

function decodeMessages (v: import('../codec.ts').MsgValue): ChatMessage[] {
  if (!Array.isArray(v)) throw new TxError('TX_DECODE', 'messages is not an array')
  return v.map((m, i) => {
    const t = asArr(m, 2, `messages[${i}]`)
    const role = asStr(t[0], `messages[${i}].role`)
    if (!(CHAT_ROLES as readonly string[]).includes(role)) throw new TxError('INVALID_FIELD', `messages[${i}].role must be system, user or assistant, got "${role.slice(0, 20)}"`)
    return { role: role as ChatRole, content: asStr(t[1], `messages[${i}].content`) }
  })
}
