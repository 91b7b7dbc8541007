// beacon: the block proposer's contribution to the chain's randomness, the seed of every draw
// (miners for jobs, samples and verifiers for checks). It carries an ECVRF proof (RFC 9381,
// node/core/vrf.ts) under the proposer's validator key of
//
//   alpha = "AITBC/beacon/v1" || the chain's randomness so far (32 bytes) || height (8 bytes, big-endian) || chain id
//
// and the randomness becomes the first 32 bytes of the VRF output. A VRF output is unique for a
// key and an input, so the proposer cannot try several: its one choice is to propose or not.
// A block carries a beacon (its first tx) exactly when its start has a pending job or a
// verification under way (needsBeacon); other blocks draw nothing and carry none.
import { asArr, asBin } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { concatBytes, sha256, toHex, utf8Bytes } from '../crypto.ts'
import { VRF_PROOF_BYTES, vrfVerify } from '../vrf.ts'
import type { StateReader } from '../state.ts'
import type { Tx } from '../tx.ts'
import type { TxTypeDef } from './txType.ts'

export interface BeaconBody { type: 'beacon', proof: Uint8Array }

const TAG = utf8Bytes('AITBC/beacon/v1')

/** The VRF input of block `height`'s beacon. */
export function beaconAlpha (prev: Uint8Array, height: number, chainId: string): Uint8Array {
  const h = new Uint8Array(8)
  new DataView(h.buffer).setBigUint64(0, BigInt(height))
  return concatBytes(TAG, prev, h, utf8Bytes(chainId))
}

/** Whether a block whose start is this state must carry a beacon: something may draw. */
export function needsBeacon (st: StateReader): boolean {
  for (const _ of st.pendingModels()) return true
  for (const _ of st.verificationJobIds()) return true
  return false
}

const verified = new WeakMap<Tx, { alpha: string, r: Uint8Array | null }>()

/** The randomness a beacon tx gives block `height` (null when its proof does not verify under its sender's key); verified once per tx and input. */
export function beaconRandomness (st: StateReader, tx: Tx, height: number, chainId: string): Uint8Array | null {
  const alpha = beaconAlpha(st.beacon(), height, chainId)
  const id = toHex(alpha)
  const known = verified.get(tx)
  if (known !== undefined && known.alpha === id) return known.r
  const beta = vrfVerify(tx.senderPubkey, alpha, (tx.body as BeaconBody).proof)
  const r = beta === null ? null : beta.slice(0, 32)
  verified.set(tx, { alpha: id, r })
  return r
}

/** The genesis randomness: sha256 of the tag, the chain id and the genesis time. */
export function genesisBeacon (chainId: string, genesisTime: string): Uint8Array {
  return sha256(concatBytes(utf8Bytes('AITBC/beacon/genesis/v1'), utf8Bytes(chainId), utf8Bytes(genesisTime)))
}

export const beacon: TxTypeDef<'beacon', BeaconBody> = {
  type: 'beacon',
  description: "the block proposer's VRF proof over the chain's randomness: the block's draws use its output; made by the proposer as a block's first tx",
  signer: "the block's proposer (validator key)",
  proposerOnly: true,
  decode (v) {
    const b = asArr(v, 1, 'body')
    return { type: 'beacon', proof: asBin(b[0], VRF_PROOF_BYTES, 'proof') }
  },
  encode: b => [b.proof],
  summary: () => 'randomness for the block',
  checkStatic: () => {},
  apply ({ st, tx, ctx, events }) {
    if (tx.sender !== ctx.proposer) throw new TxError('NOT_PROPOSER', `beacon must be signed by the block proposer ${ctx.proposer}, not ${tx.sender}`)
    const r = beaconRandomness(st, tx, ctx.height, ctx.chainId)
    if (r === null) throw new TxError('BAD_BEACON', 'the beacon proof does not verify under the proposer key for this height and randomness')
    events.push(ev('beacon', { proposer: tx.sender, randomness: toHex(r) }))
    return { delta: 0n, apply: () => st.setBeacon(r) }
  },
}
