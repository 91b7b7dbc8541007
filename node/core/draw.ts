// The deterministic miner draw: which miner a pending job goes to. Every validator recomputes it
// from the state at the start of the block and the block's randomness, so a block whose assign
// names another miner is invalid.
import { sha256Concat, toHex, utf8Bytes } from './crypto.ts'
import { BLOCK_ID_FLAG_COMMIT, type Commit } from './block.ts'
import type { Job, Miner, StateReader } from './state.ts'
import { drawWeight, stakeLockFor, willCheck } from './verification.ts'

const RANDOMNESS_TAG = utf8Bytes('AITBC/randomness/v1')

/**
 * A block's randomness, for its draws: sha256 over the previous block's hash and the precommit
 * signatures its last_commit carries (in the commit's order, by validator). Nobody can compute
 * those signatures in advance without every signer's key; the one choice left is the proposer's,
 * which precommits beyond 2/3 of the power to include. At the first block: the previous hash alone.
 */
export function blockRandomness (lastCommit: Commit | null, prevBlockHash: Uint8Array): Uint8Array {
  const sigs = lastCommit === null ? [] : lastCommit.signatures.filter(s => s.blockIdFlag === BLOCK_ID_FLAG_COMMIT).map(s => s.signature)
  return sha256Concat(RANDOMNESS_TAG, prevBlockHash, ...sigs)
}

/** Whether a miner bills by tokens (it set a price per million input or output tokens). */
export function billsByTokens (m: Pick<Miner, 'priceIn' | 'priceOut'>): boolean { return m.priceIn !== null || m.priceOut !== null }

/** Whether a miner may take this job now: it serves the model (and the pinned digest), has room, stake and reputation, and its prices and token limit fit the job. */
export function isEligible (st: StateReader, m: Miner, j: Job): boolean {
  if (!canServeModel(st, m, j.model)) return false
  // A job to be checked goes only to a miner someone else can check, whose free stake covers what a caught lie costs.
  if (st.params.verificationRatePpm > 0 && !j.unverified) {
    if (!willCheck(st, j, m)) return false
    if (m.stake - m.locked < stakeLockFor(st.params, j.maxFee)) return false
  }
  if (j.modelDigest !== null && m.modelInfo.find(i => i.name === j.model)?.digest !== j.modelDigest) return false
  if (m.maxNumPredict !== null && j.numPredict > m.maxNumPredict) return false
  if (billsByTokens(m)) {
    if (j.maxPriceIn !== null && (m.priceIn ?? 0n) > j.maxPriceIn) return false
    if (j.maxPriceOut !== null && (m.priceOut ?? 0n) > j.maxPriceOut) return false
    return true
  }
  return j.maxPricePerSecond === null || m.pricePerSecond <= j.maxPricePerSecond
}

/** Whether a miner is active, has free capacity and enough stake, and lists the model. */
function canServeModel (st: StateReader, m: Miner, model: string): boolean {
  return m.active && m.activeJobs < m.capacity && m.stake >= st.params.minMinerStake && m.reputation > 0 && m.models.includes(model)
}

/**
 * Among eligible miners, sorted by address, picks one with probability stake x reputation, from
 * sha256(block randomness || job id) modulo the total weight.
 */
export function drawMiner (st: StateReader, j: Job, randomness: Uint8Array): Miner | null {
  const eligible: Miner[] = []
  let total = 0n
  for (const a of st.minerAddresses()) {
    const m = st.miner(a)
    if (m !== undefined && isEligible(st, m, j)) {
      eligible.push(m)
      total += drawWeight(m)
    }
  }
  if (eligible.length === 0 || total === 0n) return null
  const seed = BigInt('0x' + toHex(sha256Concat(randomness, utf8Bytes(j.id))))
  let r = seed % total
  for (const m of eligible) {
    const w = drawWeight(m)
    if (r < w) return m
    r -= w
  }
  return eligible[eligible.length - 1]
}

/**
 * Pending jobs that some miner can take now, in canonical order (models sorted, then each model's
 * jobs in submission order), with the draw's choice. A generator: it reads the state afresh at
 * each step, so the proposer can apply each assign before asking for the next. Models whose
 * miners are all busy are skipped at once.
 */
export function * assignableJobs (st: StateReader, randomness: Uint8Array): Generator<{ job: Job, miner: Miner }> {
  const canServe = (model: string): boolean => st.minerAddresses().some(a => {
    const m = st.miner(a)
    return m !== undefined && canServeModel(st, m, model)
  })
  for (const model of [...st.pendingModels()].sort()) {
    if (!canServe(model)) continue
    const ids = [...st.pendingJobIds(model)]
    for (const id of ids) {
      if (!canServe(model)) break
      const j = st.job(id)
      if (j === undefined || j.status !== 'pending') continue
      const m = drawMiner(st, j, randomness)
      if (m !== null) yield { job: j, miner: m }
    }
  }
}
