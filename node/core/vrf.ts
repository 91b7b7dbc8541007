// Verifiable random function for the chain's per-block randomness beacon.
//
// The proposer of a block proves VRF(its validator key, previous randomness || height) and puts
// the proof in the block; everyone verifies it against the proposer's public key and takes its
// output (beta) as the block's randomness. Only the holder of the key can compute the output, and
// the output is unique per (key, input): a proposer cannot try inputs or proofs until it likes the
// result (it cannot grind), it can only abstain from proposing.
//
// This is ECVRF-EDWARDS25519-SHA512-TAI (suite_string 0x03) of RFC 9381, section 5 with the
// parameters of section 5.5: edwards25519 (cofactor 8, q = L the prime order of the base point),
// SHA-512, ptLen = qLen = 32, cLen = 16, little-endian integers, points encoded and decoded as in
// RFC 8032 section 5.1.2/5.1.3 (decoding is strict: y >= p and "x = 0 with the sign bit set" are
// invalid), the secret scalar and public key derived from the 32-byte seed as in RFC 8032 section
// 5.1.5, encode_to_curve by try-and-increment (5.4.1.1), nonces as in RFC 8032 (5.4.2.2).
// The verifier always validates the public key (5.4.5: a key of small order is refused), so the
// output has full uniqueness and full collision resistance (RFC 9381 section 3). Only beta is
// unique: the holder of the key can make other valid proofs for the same input (Gamma plus a
// small-order point), all with the same beta, so use beta, never pi, as the value or an identifier.
//
// Proving uses @noble/curves' constant-time scalar multiplication for the secret scalars; the
// arithmetic mod L (s = k + c*x) is JavaScript BigInt and not constant-time.
import { ed25519 } from '@noble/curves/ed25519.js'
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js'
import { sha512 } from '@noble/hashes/sha2.js'

const Point = ed25519.Point
/** The prime order of the base point (q in RFC 9381, L in RFC 8032). */
const L = Point.Fn.ORDER

const SUITE = 0x03
const PT_LEN = 32
const C_LEN = 16
const Q_LEN = 32
/** Length of a proof pi = Gamma (32) || c (16) || s (32). */
export const VRF_PROOF_BYTES = PT_LEN + C_LEN + Q_LEN
/** Length of an output beta (a SHA-512 digest). */
export const VRF_OUTPUT_BYTES = 64
export const VRF_PUBLIC_KEY_BYTES = 32
export const VRF_SEED_BYTES = 32

function leToInt (b: Uint8Array): bigint {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i])
  return n
}

function intToLe (n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len)
  for (let i = 0; i < len; i++) { out[i] = Number(n & 0xffn); n >>= 8n }
  return out
}

function concat (...parts: Uint8Array[]): Uint8Array {
  let len = 0
  for (const p of parts) len += p.length
  const out = new Uint8Array(len)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/** RFC 8032 5.1.3 decoding (strict); null where it fails. */
function stringToPoint (b: Uint8Array): EdwardsPoint | null {
  if (b.length !== PT_LEN) return null
  try { return Point.fromBytes(b, false) } catch { return null }
}

/** k*P for a secret scalar (constant-time multiplication; 0 mod L gives the identity). */
function mulSecret (p: EdwardsPoint, k: bigint): EdwardsPoint {
  const r = k % L
  return r === 0n ? Point.ZERO : p.multiply(r)
}

/** n*P for a public scalar 0 <= n < L. */
function mulPublic (p: EdwardsPoint, n: bigint): EdwardsPoint {
  return p.multiplyUnsafe(n)
}

interface SecretKey { x: bigint, Y: EdwardsPoint, pk: Uint8Array, nonceKey: Uint8Array }

/** RFC 8032 5.1.5: x = clamp(SHA-512(seed)[0..31]), Y = x*B; the second half keys the nonces. */
function expandSeed (seed: Uint8Array): SecretKey {
  if (!(seed instanceof Uint8Array) || seed.length !== VRF_SEED_BYTES) throw new Error(`a VRF secret key is a ${VRF_SEED_BYTES}-byte ed25519 seed`)
  const h = sha512(seed)
  const head = h.slice(0, 32)
  head[0] &= 248
  head[31] &= 127
  head[31] |= 64
  const x = leToInt(head)
  const Y = mulSecret(Point.BASE, x)
  return { x, Y, pk: Y.toBytes(), nonceKey: h.slice(32, 64) }
}

/**
 * RFC 9381 5.4.1.1, ECVRF_encode_to_curve_try_and_increment: the first ctr in 0..255 for which
 * SHA-512(suite_string || 0x01 || salt || alpha || ctr || 0x00)[0..31] decodes to a point whose
 * cofactor multiple is not the identity; H is that multiple. The salt is PK_string.
 */
function encodeToCurve (salt: Uint8Array, alpha: Uint8Array): { H: EdwardsPoint, ctr: number } {
  for (let ctr = 0; ctr <= 255; ctr++) {
    const hash = sha512(concat(Uint8Array.of(SUITE, 0x01), salt, alpha, Uint8Array.of(ctr, 0x00)))
    const P = stringToPoint(hash.subarray(0, PT_LEN))
    if (P === null) continue
    const H = P.clearCofactor()
    if (!H.is0()) return { H, ctr }
  }
  // Fails with probability about 2^-256 per input; RFC 9381 says to fail.
  throw new Error('VRF encode_to_curve: no valid point in 256 tries')
}

/** RFC 9381 5.4.2.2: k = SHA-512(SHA-512(SK)[32..63] || h_string) mod q. Returns the digest too. */
function nonceGeneration (nonceKey: Uint8Array, hString: Uint8Array): { k: bigint, kString: Uint8Array } {
  const kString = sha512(concat(nonceKey, hString))
  return { k: leToInt(kString) % L, kString }
}

/** RFC 9381 5.4.3: c = first cLen bytes of SHA-512(suite || 0x02 || P1 || .. || P5 || 0x00), little-endian. */
function challengeGeneration (points: EdwardsPoint[]): bigint {
  const cString = sha512(concat(Uint8Array.of(SUITE, 0x02), ...points.map(p => p.toBytes()), Uint8Array.of(0x00)))
  return leToInt(cString.subarray(0, C_LEN))
}

/** RFC 9381 5.4.4: Gamma must decode, s must be < q; the proof must be exactly 80 bytes. */
function decodeProof (pi: Uint8Array): { Gamma: EdwardsPoint, c: bigint, s: bigint } | null {
  if (!(pi instanceof Uint8Array) || pi.length !== VRF_PROOF_BYTES) return null
  const Gamma = stringToPoint(pi.subarray(0, PT_LEN))
  if (Gamma === null) return null
  const c = leToInt(pi.subarray(PT_LEN, PT_LEN + C_LEN))
  const s = leToInt(pi.subarray(PT_LEN + C_LEN))
  if (s >= L) return null
  return { Gamma, c, s }
}

/** RFC 9381 5.2 step 5: beta = SHA-512(suite || 0x03 || point_to_string(cofactor * Gamma) || 0x00). */
function gammaToHash (Gamma: EdwardsPoint): Uint8Array {
  return sha512(concat(Uint8Array.of(SUITE, 0x03), Gamma.clearCofactor().toBytes(), Uint8Array.of(0x00)))
}

/** RFC 9381 5.4.5: Y must decode and cofactor * Y must not be the identity (no small-order keys). */
function validateKey (pk: Uint8Array): EdwardsPoint | null {
  const Y = stringToPoint(pk)
  if (Y === null || Y.isSmallOrder()) return null
  return Y
}

/** RFC 9381 5.1, ECVRF_prove: the 80-byte proof pi of alpha under the 32-byte ed25519 seed. */
export function vrfProve (secretSeed: Uint8Array, alpha: Uint8Array): Uint8Array {
  if (!(alpha instanceof Uint8Array)) throw new Error('VRF alpha must be bytes')
  const { x, Y, pk, nonceKey } = expandSeed(secretSeed)
  const { H } = encodeToCurve(pk, alpha)
  const hString = H.toBytes()
  const Gamma = mulSecret(H, x)
  const { k } = nonceGeneration(nonceKey, hString)
  const c = challengeGeneration([Y, H, Gamma, mulSecret(Point.BASE, k), mulSecret(H, k)])
  const s = (k + c * (x % L)) % L
  return concat(Gamma.toBytes(), intToLe(c, C_LEN), intToLe(s, Q_LEN))
}

/**
 * RFC 9381 5.2, ECVRF_proof_to_hash: the 64-byte output beta of a proof, or null if pi does not
 * decode. It does not check the proof: use it only on a proof that vrfVerify accepted (or one
 * you made), or call vrfVerify, which returns beta.
 */
export function vrfProofToHash (pi: Uint8Array): Uint8Array | null {
  try {
    const d = decodeProof(pi)
    return d === null ? null : gammaToHash(d.Gamma)
  } catch { return null }
}

/**
 * RFC 9381 5.3, ECVRF_verify with validate_key: beta if pi is a valid proof of alpha under the
 * public key, else null. Never throws: wrong lengths, non-bytes, encodings that do not decode,
 * small-order keys and s >= q are all null.
 */
export function vrfVerify (publicKey: Uint8Array, alpha: Uint8Array, pi: Uint8Array): Uint8Array | null {
  try {
    if (!(publicKey instanceof Uint8Array) || !(alpha instanceof Uint8Array)) return null
    const Y = validateKey(publicKey)
    if (Y === null) return null
    const d = decodeProof(pi)
    if (d === null) return null
    const { Gamma, c, s } = d
    const { H } = encodeToCurve(publicKey, alpha)
    const U = mulPublic(Point.BASE, s).subtract(mulPublic(Y, c))
    const V = mulPublic(H, s).subtract(mulPublic(Gamma, c))
    if (challengeGeneration([Y, H, Gamma, U, V]) !== c) return null
    return gammaToHash(Gamma)
  } catch { return null }
}

/** beta of vrfProve(secretSeed, alpha): the VRF's value itself. */
export function vrfOutput (secretSeed: Uint8Array, alpha: Uint8Array): Uint8Array {
  const beta = vrfProofToHash(vrfProve(secretSeed, alpha))
  if (beta === null) throw new Error('VRF: own proof does not decode')
  return beta
}

/** The VRF public key of a seed: the ed25519 public key (RFC 8032 5.1.5). */
export function vrfPublicKey (secretSeed: Uint8Array): Uint8Array {
  return expandSeed(secretSeed).pk
}

/**
 * Internal steps, exported for the tests against the RFC's intermediate values (x, H and ctr, k,
 * U = k*B, V = k*H, c) and for building forgeries that the verifier must refuse. Not an API.
 */
export const vrfInternals = {
  L,
  expandSeed: (seed: Uint8Array) => { const e = expandSeed(seed); return { x: e.x % L, xBytes: intToLe(e.x, 32), pk: e.pk } },
  encodeToCurve: (salt: Uint8Array, alpha: Uint8Array) => { const r = encodeToCurve(salt, alpha); return { H: r.H.toBytes(), ctr: r.ctr } },
  nonce: (seed: Uint8Array, hString: Uint8Array) => {
    const { k, kString } = nonceGeneration(expandSeed(seed).nonceKey, hString)
    return { k, kString, kBytes: intToLe(k, 32), U: mulSecret(Point.BASE, k).toBytes(), V: mulSecret(Point.fromBytes(hString), k).toBytes() }
  },
  /** c of five encoded points (each must decode). */
  challenge: (points: Uint8Array[]) => challengeGeneration(points.map(p => Point.fromBytes(p))),
  decodeProof: (pi: Uint8Array) => { const d = decodeProof(pi); return d === null ? null : { Gamma: d.Gamma.toBytes(), c: d.c, s: d.s } },
  encodeProof: (Gamma: Uint8Array, c: bigint, s: bigint) => concat(Gamma, intToLe(c, C_LEN), intToLe(s, Q_LEN)),
  intToLe,
  leToInt,
}
