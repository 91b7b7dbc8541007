// Sealed results: how the client of a checked job reads its text at once while the verifiers
// cannot. The miner's commit_result carries the salt and the text encrypted to the client's
// ed25519 key (converted to X25519); only the client can open it, and it can check what it opened
// against the commitment on chain. The chain never opens a seal: this is not consensus code and
// may use randomness (the ephemeral key).
//
//   sealed = eph_pub (32) || ChaCha20-Poly1305(key, nonce 0, salt (32) || utf8(text))
//   key    = HKDF-SHA256(ikm = X25519(eph_priv, client_x25519), salt = eph_pub || client_x25519,
//                        info = "AITBC/seal/v1" || job id)
// The key is fresh for every seal (a new ephemeral key), so a fixed nonce is safe.
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { randomBytes } from 'node:crypto'
import { concatBytes, utf8Bytes } from './core/crypto.ts'
import { resultCommitment } from './core/verification.ts'

const INFO = utf8Bytes('AITBC/seal/v1')
/** Bytes a seal adds to its text: the ephemeral key, the salt and the tag. */
export const SEAL_OVERHEAD = 32 + 32 + 16

function keyOf (shared: Uint8Array, ephPub: Uint8Array, clientX: Uint8Array, jobId: string): Uint8Array {
  return hkdf(sha256, shared, concatBytes(ephPub, clientX), concatBytes(INFO, utf8Bytes(jobId)), 32)
}

/** Seals a job's salt and text to its client's ed25519 public key. */
export function sealResult (clientPubkey: Uint8Array, jobId: string, salt: Uint8Array, text: string): Uint8Array {
  if (salt.length !== 32) throw new Error('the salt is 32 bytes')
  const clientX = ed25519.utils.toMontgomery(clientPubkey)
  const ephPriv = new Uint8Array(randomBytes(32))
  const ephPub = x25519.getPublicKey(ephPriv)
  const key = keyOf(x25519.getSharedSecret(ephPriv, clientX), ephPub, clientX, jobId)
  const box = chacha20poly1305(key, new Uint8Array(12)).encrypt(concatBytes(salt, utf8Bytes(text)))
  return concatBytes(ephPub, box)
}

export interface OpenedResult { salt: Uint8Array, text: string, /** The commitment the chain holds for it matches. */ matches: boolean }

/**
 * Opens a seal with the client's ed25519 seed; null when it does not open (not sealed to this key,
 * or altered). `matches` says whether salt and text are what the miner committed to.
 */
export function openSealedResult (clientSeed: Uint8Array, jobId: string, miner: string, commitment: string, sealed: Uint8Array): OpenedResult | null {
  if (sealed.length < SEAL_OVERHEAD) return null
  try {
    const clientX = x25519.getPublicKey(ed25519.utils.toMontgomerySecret(clientSeed))
    const ephPub = sealed.subarray(0, 32)
    const key = keyOf(x25519.getSharedSecret(ed25519.utils.toMontgomerySecret(clientSeed), ephPub), ephPub, clientX, jobId)
    const plain = chacha20poly1305(key, new Uint8Array(12)).decrypt(sealed.subarray(32))
    const salt = plain.slice(0, 32)
    const text = new TextDecoder('utf-8', { fatal: true }).decode(plain.subarray(32))
    return { salt, text, matches: resultCommitment(jobId, miner, salt, text) === commitment }
  } catch {
    return null
  }
}
