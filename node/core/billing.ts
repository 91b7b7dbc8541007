// What a completed job costs its client: by tokens when the miner prices tokens, else by time.
// Never more than max_fee. Pure integer arithmetic.
import type { Job } from './state.ts'
import type { ReceiptMetrics } from './txs/recordReceipt.ts'
import { inputBytes } from './txs/submitJob.ts'

/** Prompt tokens a job can be billed for beyond its bytes: the model's prompt or chat template. */
export const TEMPLATE_TOKENS = 128

/** The most prompt tokens a job can be billed for: a token is at least a byte of input, plus the template. */
export function promptTokenBound (j: Pick<Job, 'prompt' | 'messages'>): number {
  return inputBytes(j) + TEMPLATE_TOKENS * (1 + (j.messages?.length ?? 0))
}

/**
 * The bill of a completed run. Token pricing (the miner's prices when it was assigned, per
 * million): floor((prompt tokens x price_in + completion tokens x price_out) / 10^6), the
 * prompt tokens at most promptTokenBound and the completion tokens at most num_predict. Time
 * pricing: min(compute_ms, chain ms since the assignment) x price_per_second / 1000. Both at
 * most max_fee.
 */
export function billOf (j: Job, m: ReceiptMetrics, chainMs: number): bigint {
  let bill: bigint
  if (j.priceIn !== null || j.priceOut !== null) {
    const input = BigInt(Math.min(m.promptTokens, promptTokenBound(j)))
    const output = BigInt(Math.min(m.completionTokens, j.numPredict))
    bill = (input * (j.priceIn ?? 0n) + output * (j.priceOut ?? 0n)) / 1_000_000n
  } else {
    bill = BigInt(Math.min(m.computeMs, Math.max(0, chainMs))) * (j.pricePerSecond ?? 0n) / 1000n
  }
  return bill > j.maxFee ? j.maxFee : bill
}
