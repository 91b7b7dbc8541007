// Benchmark of the randomness beacon's VRF (node/core/vrf.ts, ECVRF-EDWARDS25519-SHA512-TAI):
// proofs and verifications a second on one core, beside node:crypto's ed25519 verify rate
// measured in the same run (the machine's own limit, to compare runs on loaded machines).
import { randomBytes } from 'node:crypto'
import { vrfProve, vrfPublicKey, vrfVerify } from '../node/core/vrf.ts'
import { fmt, measureVerifyRate } from './lib.ts'

function rate (ms: number, f: (i: number) => void): { perSec: number, msEach: number } {
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < ms) { f(n); n++ }
  const s = (performance.now() - t0) / 1000
  return { perSec: n / s, msEach: s * 1000 / n }
}

export async function runVrfBench (): Promise<void> {
  const seed = new Uint8Array(randomBytes(32))
  const pk = vrfPublicKey(seed)
  // Beacon-shaped inputs: 64 bytes of previous randomness and an 8-byte height.
  const alphas = Array.from({ length: 256 }, () => new Uint8Array(randomBytes(72)))
  const proofs = alphas.map(a => vrfProve(seed, a))
  for (let i = 0; i < alphas.length; i++) if (vrfVerify(pk, alphas[i], proofs[i]) === null) throw new Error('VRF proof did not verify')
  const prove = rate(3000, i => vrfProve(seed, alphas[i % alphas.length]))
  const verify = rate(3000, i => vrfVerify(pk, alphas[i % alphas.length], proofs[i % alphas.length]))
  console.log(`VRF prove (one core): ${fmt(prove.perSec)} /s (${fmt(prove.msEach, 2)} ms each)`)
  console.log(`VRF verify (one core): ${fmt(verify.perSec)} /s (${fmt(verify.msEach, 2)} ms each)`)
  console.log(`ed25519 verify (node:crypto, one core, same run): ${fmt(measureVerifyRate())} /s`)
}
