// The deterministic miner draw: which miner a pending job goes to. Every validator recomputes it
// from the state and the previous block hash, so a block whose assign names another miner is
// invalid.
import { sha256Concat, toHex, utf8Bytes } from './crypto.ts'
import type { Job, Miner, StateReader } from './state.ts'

/** Whether a miner may take this job now. */
export function isEligible (st: StateReader, m: Miner, j: Job): boolean {
  return canServeModel(st, m, j.model) && (j.maxPricePerSecond === null || m.pricePerSecond <= j.maxPricePerSecond)
}

/** Whether a miner is active, has free capacity and enough stake, and lists the model. */
function canServeModel (st: StateReader, m: Miner, model: string): boolean {
  return m.active && m.activeJobs < m.capacity && m.stake >= st.params.minMinerStake && m.reputation > 0 && m.models.includes(model)
}

/**
 * Among eligible miners, sorted by address, picks one with probability stake x reputation, from
 * sha256(previous block hash || job id) modulo the total weight.
 */
export function drawMiner (st: StateReader, j: Job, prevBlockHash: Uint8Array): Miner | null {
  const eligible: Miner[] = []
  let total = 0n
  for (const a of st.minerAddresses()) {
    const m = st.miner(a)
    if (m !== undefined && isEligible(st, m, j)) {
      eligible.push(m)
      total += m.stake * BigInt(m.reputation)
    }
  }
  if (eligible.length === 0 || total === 0n) return null
  const seed = BigInt('0x' + toHex(sha256Concat(prevBlockHash, utf8Bytes(j.id))))
  let r = seed % total
  for (const m of eligible) {
    const w = m.stake * BigInt(m.reputation)
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
export function * assignableJobs (st: StateReader, prevBlockHash: Uint8Array): Generator<{ job: Job, miner: Miner }> {
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
      const m = drawMiner(st, j, prevBlockHash)
      if (m !== null) yield { job: j, miner: m }
    }
  }
}
