// What a miner lists beyond its model names (optional trailing fields of register_miner and
// update_miner): each model's Ollama digest, quantization, parameter size and context length;
// prices per million input and output tokens; the most tokens it generates per job; its public
// HTTP(S) endpoint. Codec and static checks shared by both transaction types.
import type { MsgValue } from '../codec.ts'
import { asAmount, asArr, asArrRange, asSmall, asStr, opt, optUint } from '../fields.ts'
import { TxError } from '../errors.ts'
import type { ModelInfo } from '../state.ts'
import { byteLen } from './txType.ts'
import { DIGEST_RE } from './submitJob.ts'

/** The listing's optional terms; null: not given (register: unset; update: unchanged). */
export interface ListingTerms {
  modelInfo?: ModelInfo[] | null
  priceIn?: bigint | null
  priceOut?: bigint | null
  maxNumPredict?: number | null
  endpoint?: string | null
}

const MAX_LABEL_BYTES = 64
const MAX_ENDPOINT_BYTES = 256
const MAX_CONTEXT_LENGTH = 100_000_000
const ENDPOINT_RE = /^https?:\/\/[^\s/?#]+(:\d{1,5})?(\/[^\s]*)?$/

/** Reads the terms from a body's elements from index `at` on. */
export function decodeTerms (b: MsgValue[], at: number): Required<ListingTerms> {
  return {
    modelInfo: opt(b[at], decodeModelInfo),
    priceIn: opt(b[at + 1], x => asAmount(x, 'price_in')),
    priceOut: opt(b[at + 2], x => asAmount(x, 'price_out')),
    maxNumPredict: opt(b[at + 3], x => asSmall(x, 'max_num_predict')),
    endpoint: opt(b[at + 4], x => asStr(x, 'endpoint')),
  }
}

export function encodeTerms (t: ListingTerms): unknown[] {
  return [
    t.modelInfo == null ? null : t.modelInfo.map(m => [m.name, m.digest, m.quantization, m.parameterSize, optUint(m.contextLength)]),
    t.priceIn ?? null, t.priceOut ?? null, optUint(t.maxNumPredict ?? null), t.endpoint ?? null,
  ]
}

function decodeModelInfo (v: MsgValue): ModelInfo[] {
  if (!Array.isArray(v)) throw new TxError('TX_DECODE', 'model_info is not an array')
  return v.map((e, i) => {
    const t = asArrRange(e, 1, 5, `model_info[${i}]`)
    return {
      name: asStr(t[0], `model_info[${i}].name`),
      digest: opt(t[1], x => asStr(x, `model_info[${i}].digest`)),
      quantization: opt(t[2], x => asStr(x, `model_info[${i}].quantization`)),
      parameterSize: opt(t[3], x => asStr(x, `model_info[${i}].parameter_size`)),
      contextLength: opt(t[4], x => asSmall(x, `model_info[${i}].context_length`)),
    }
  })
}

/** Static checks of the terms; `models`: the model names the listing will have, when known. */
export function checkTerms (t: ListingTerms, models: string[] | null, maxNumPredict: number): void {
  if (t.modelInfo != null) {
    if (models === null) throw new TxError('INVALID_FIELD', 'model_info needs the models it describes (send models too)')
    if (t.modelInfo.length !== models.length || t.modelInfo.some((m, i) => m.name !== models[i])) throw new TxError('INVALID_FIELD', 'model_info must describe the models in their order, one entry each')
    for (const [i, m] of t.modelInfo.entries()) {
      if (m.digest !== null && !DIGEST_RE.test(m.digest)) throw new TxError('INVALID_FIELD', `model_info[${i}].digest must be 64 lower-case hex digits`)
      for (const [k, v] of [['quantization', m.quantization], ['parameter_size', m.parameterSize]] as const) {
        if (v !== null && (v.length === 0 || byteLen(v) > MAX_LABEL_BYTES)) throw new TxError('INVALID_FIELD', `model_info[${i}].${k} must be 1 to ${MAX_LABEL_BYTES} bytes`)
      }
      if (m.contextLength !== null && (m.contextLength < 1 || m.contextLength > MAX_CONTEXT_LENGTH)) throw new TxError('INVALID_FIELD', `model_info[${i}].context_length must be from 1 to ${MAX_CONTEXT_LENGTH}`)
    }
  }
  if (t.maxNumPredict != null && (t.maxNumPredict < 1 || t.maxNumPredict > maxNumPredict)) throw new TxError('INVALID_FIELD', `max_num_predict must be from 1 to the chain's max_num_predict ${maxNumPredict}`)
  if (t.endpoint != null && (byteLen(t.endpoint) > MAX_ENDPOINT_BYTES || !ENDPOINT_RE.test(t.endpoint))) throw new TxError('INVALID_FIELD', `endpoint must be an http:// or https:// URL of at most ${MAX_ENDPOINT_BYTES} bytes`)
}

/** Model info for names that have none: the name alone. */
export function bareModelInfo (models: string[]): ModelInfo[] {
  return models.map(name => ({ name, digest: null, quantization: null, parameterSize: null, contextLength: null }))
}

/** Whether any term is given (update_miner must change something). */
export function anyTerm (t: ListingTerms): boolean {
  return t.modelInfo != null || t.priceIn != null || t.priceOut != null || t.maxNumPredict != null || t.endpoint != null
}

export function asTermsArr (v: MsgValue, base: number, what: string): MsgValue[] { return asArrRange(v, base, base + 5, what) }
export { asArr }
