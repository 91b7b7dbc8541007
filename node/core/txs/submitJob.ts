// submit_job: a client asks for an inference and escrows its maximum fee; the job is pending.
import { asAmount, asArr, asNumber, asSmall, asStr, opt, optUint } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { jobIdFromTxHash } from '../ids.ts'
import { byteLen, checkPositive, MAX_MODEL_BYTES, needFunds, type TxTypeDef, aitbc } from './txType.ts'

export interface JobOptions { temperature: number | null, numPredict: number | null, seed: number | null }
export interface SubmitJobBody { type: 'submit_job', model: string, prompt: string, options: JobOptions, maxFee: bigint, maxPricePerSecond: bigint | null }

export const MAX_NUM_PREDICT = 1_000_000

export const submitJob: TxTypeDef<'submit_job', SubmitJobBody> = {
  type: 'submit_job',
  description: 'asks for an inference (model, prompt, options) and escrows max_fee; the job is pending until a miner is assigned',
  signer: 'the client',
  decode (v) {
    const b = asArr(v, 5, 'body')
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
    }
  },
  encode: b => [b.model, b.prompt, [b.options.temperature, optUint(b.options.numPredict), optUint(b.options.seed)], b.maxFee, b.maxPricePerSecond],
  summary: (b, tx) => `${jobIdFromTxHash(tx.hash)} on ${b.model}, max fee ${aitbc(b.maxFee)}`,
  checkStatic (b, params) {
    if (b.model.length === 0 || byteLen(b.model) > MAX_MODEL_BYTES) throw new TxError('INVALID_FIELD', `model must be 1 to ${MAX_MODEL_BYTES} bytes`)
    if (b.prompt.length === 0) throw new TxError('INVALID_FIELD', 'prompt is empty')
    if (byteLen(b.prompt) > params.maxPromptBytes) throw new TxError('PROMPT_TOO_LARGE', `prompt is ${byteLen(b.prompt)} bytes, max_prompt_bytes is ${params.maxPromptBytes}`)
    if (b.options.temperature !== null && (b.options.temperature < 0 || b.options.temperature > 100)) throw new TxError('INVALID_FIELD', 'temperature must be from 0 to 100')
    if (b.options.numPredict !== null && b.options.numPredict > MAX_NUM_PREDICT) throw new TxError('INVALID_FIELD', `num_predict must be at most ${MAX_NUM_PREDICT}`)
    checkPositive(b.maxFee, 'max_fee')
  },
  apply ({ st, tx, body: b, spendable, ctx, events }) {
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
}
