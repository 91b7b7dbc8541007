// Hashing, ed25519 and addresses. Signing and verification use node:crypto (OpenSSL, RFC 8032
// strict rules) on every path — mempool, block execution, votes — so that no crafted signature
// passes one check and fails another; @noble/curves derives public keys.
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import { bech32 } from '@scure/base'
import { vrfProve } from './vrf.ts'

export const ADDRESS_PREFIX = 'aitbc'

export function sha256 (data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest())
}

/**
 * The sha256 of a tx's (or any immutable message's) bytes, computed once per bytes object: a
 * tx's hash is asked for at admission, in the proposal, its fetch, validation and the data hash,
 * always of the same Uint8Array. Memoised by identity (a WeakMap: the entry dies with the bytes),
 * so the bytes must never be changed in place after they are hashed; nothing in the node does.
 */
const hashOfBytes = new WeakMap<Uint8Array, Uint8Array>()
export function sha256Once (data: Uint8Array): Uint8Array {
  let h = hashOfBytes.get(data)
  if (h === undefined) { h = sha256(data); hashOfBytes.set(data, h) }
  return h
}

export function sha256Concat (...parts: Uint8Array[]): Uint8Array { return sha256All(parts) }

/** sha256 over the parts in order (an array: a block's thousands of tx hashes are no argument list). */
export function sha256All (parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

export function toHex (b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') }
export function toHexUpper (b: Uint8Array): string { return toHex(b).toUpperCase() }
export function fromHex (s: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new Error('not a hex string')
  return new Uint8Array(Buffer.from(s, 'hex'))
}
export function toBase64 (b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64') }
export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}
export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}
const enc = new TextEncoder()
export function utf8Bytes (s: string): Uint8Array { return enc.encode(s) }

export function publicKeyFromSeed (seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new Error('an ed25519 seed is 32 bytes')
  return ed25519.getPublicKey(seed)
}

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** A signing key: the seed stays inside this object; it is never logged (toJSON hides it). */
export class SigningKey {
  readonly publicKey: Uint8Array
  readonly address: string
  private readonly key: KeyObject
  constructor (seed: Uint8Array) {
    this.publicKey = publicKeyFromSeed(seed)
    this.address = addressFromPubkey(this.publicKey)
    this.key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  }

  sign (message: Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign(null, message, this.key))
  }

  /** An ECVRF proof (RFC 9381, node/core/vrf.ts) of `alpha` under this key pair: the block beacon's. */
  vrfProve (alpha: Uint8Array): Uint8Array {
    const der = this.key.export({ format: 'der', type: 'pkcs8' })
    return vrfProve(new Uint8Array(der.subarray(der.length - 32)), alpha)
  }

  toJSON (): object { return { address: this.address } }
}

const keyCache = new Map<string, KeyObject>()
const KEY_CACHE_MAX = 4096

function publicKeyObject (pub: Uint8Array): KeyObject {
  const id = toHex(pub)
  let k = keyCache.get(id)
  if (k === undefined) {
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' })
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string)
    keyCache.set(id, k)
  }
  return k
}

/**
 * Signatures already verified with this same rule on a worker thread (node/chain/verifyPool.ts):
 * block sync checks a batch's signatures on every core ahead of executing it, and the checks
 * inside block validation then find them here. Keyed by the signature, holding the key and the
 * message it verified for, compared byte for byte on lookup (cheaper than hashing the triple), so
 * a remembered answer counts only for the exact (key, message, signature). Bounded; one use each;
 * only positive answers are kept, so a miss merely verifies again.
 */
const verified = new Map<string, { pub: Uint8Array, message: Uint8Array }>()
const VERIFIED_MAX = 65_536

/** Records that `signature` verified for `pub` and `message` under verifySignature's rule (call only with such an answer). */
export function rememberVerified (pub: Uint8Array, message: Uint8Array, signature: Uint8Array): void {
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string)
  verified.set(toHex(signature), { pub: pub.slice(), message: message.slice() })
}

function takeVerified (pub: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const k = toHex(signature)
  const v = verified.get(k)
  if (v === undefined || !bytesEqual(v.pub, pub) || !bytesEqual(v.message, message)) return false
  verified.delete(k)
  return true
}

/** ed25519 verification with RFC 8032 rules (OpenSSL). False for malformed keys or signatures. */
export function verifySignature (pub: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (pub.length !== 32 || signature.length !== 64) return false
  if (verified.size > 0 && takeVerified(pub, message, signature)) return true
  try {
    return nodeVerify(null, message, publicKeyObject(pub), signature)
  } catch {
    return false
  }
}

export function addressBytesFromPubkey (pub: Uint8Array): Uint8Array {
  return sha256(pub).subarray(0, 20)
}

/**
 * Address encodings seen recently, both ways: every tx names its sender's key and most name an
 * address (a transfer's recipient), and a busy node sees the same few thousand accounts again and
 * again; a sha256 and a bech32 encoding or checksum each time are a measurable share of intake.
 * Bounded (cleared when full); decoded bytes are copied out, so no caller shares them.
 */
const ADDRESS_CACHE_MAX = 16_384
const addressOfPub = new Map<string, string>()
const bytesOfAddress = new Map<string, Uint8Array>()

export function addressFromPubkey (pub: Uint8Array): string {
  const k = toHex(pub)
  let a = addressOfPub.get(k)
  if (a === undefined) {
    a = bech32.encode(ADDRESS_PREFIX, bech32.toWords(addressBytesFromPubkey(pub)))
    if (addressOfPub.size >= ADDRESS_CACHE_MAX) addressOfPub.clear()
    addressOfPub.set(k, a)
  }
  return a
}

export function addressToBytes (address: string): Uint8Array {
  const known = bytesOfAddress.get(address)
  if (known !== undefined) return known.slice()
  const { prefix, words } = bech32.decode(address as `${string}1${string}`)
  if (prefix !== ADDRESS_PREFIX) throw new Error(`address prefix is "${prefix}", expected "${ADDRESS_PREFIX}"`)
  const b = bech32.fromWords(words)
  if (b.length !== 20) throw new Error('address is not 20 bytes')
  if (bytesOfAddress.size >= ADDRESS_CACHE_MAX) bytesOfAddress.clear()
  bytesOfAddress.set(address, new Uint8Array(b))
  return new Uint8Array(b)
}

export function addressFromBytes (b: Uint8Array): string {
  return bech32.encode(ADDRESS_PREFIX, bech32.toWords(b))
}

/** True for a canonical (lower-case, checksummed) aitbc bech32 address. */
export function isAddress (s: unknown): boolean {
  if (typeof s !== 'string' || s.length > 90 || s !== s.toLowerCase()) return false
  try {
    addressToBytes(s)
    return true
  } catch {
    return false
  }
}
