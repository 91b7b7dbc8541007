// The per-tx memos of the hot path (issue 11): addresses encoded and decoded once
// (addressFromPubkey, addressToBytes), signatures checked ahead on the worker pool remembered for
// exactly one (key, message, signature); and decodeTx, whose signature check must not be skipped
// for bytes decoded before without it (block sync's pass). Each memo must give the
// answers of the computation it replaces; the attacks below try to make one answer stand for
// another input.
import { expect } from 'chai'
import { decodeTx, signTx } from '../../node/core/tx.ts'
import { addressFromPubkey, addressToBytes, addressBytesFromPubkey, addressFromBytes, isAddress, rememberVerified, verifySignature, utf8Bytes } from '../../node/core/crypto.ts'
import { TxError } from '../../node/core/errors.ts'
import { keyOf } from '../helpers/chainSim.ts'

const alice = keyOf('memo-alice')
const bob = keyOf('memo-bob')
const good = signTx(alice, { chainId: 'memo', nonce: 3, fee: 1000n, body: { type: 'transfer', to: bob.address, amount: 7n } })

function withBadSignature (): Uint8Array {
  const b = new Uint8Array(good.bytes)
  b[b.length - 1] ^= 1
  return b
}

describe('hot-path memos', () => {
  describe('decodeTx', () => {
    it('bytes first decoded without the signature check (block sync\'s pass) still fail it when checked', () => {
      const bad = withBadSignature()
      expect(decodeTx(bad, { verify: false }).nonce).to.equal(3)
      expect(() => decodeTx(bad)).to.throw(TxError).with.property('code', 'BAD_SIGNATURE')
      expect(() => decodeTx(bad)).to.throw(TxError).with.property('code', 'BAD_SIGNATURE')
    })
    it('decodes to a frozen tx; equal bytes in another object decode equally', () => {
      const a = decodeTx(good.bytes)
      expect(Object.isFrozen(a)).to.equal(true)
      const copy = decodeTx(new Uint8Array(good.bytes))
      expect({ ...copy, bytes: null, signBytes: null, senderPubkey: null, signature: null }).to.deep.equal({ ...a, bytes: null, signBytes: null, senderPubkey: null, signature: null })
      expect(copy.hash).to.equal(a.hash)
    })
    it('a failed decode is not remembered: the same bytes fail again with the same error', () => {
      const broken = good.bytes.slice(0, 20)
      const first = (() => { try { decodeTx(broken); return null } catch (e) { return e as TxError } })()
      expect(first).to.be.instanceOf(TxError)
      expect(() => decodeTx(broken)).to.throw(TxError).with.property('code', first?.code)
    })
  })

  describe('address memo', () => {
    it('gives the same address as the uncached computation, for many keys', () => {
      for (let i = 0; i < 50; i++) {
        const k = keyOf(`memo-${i}`)
        const direct = addressFromBytes(addressBytesFromPubkey(k.publicKey))
        expect(addressFromPubkey(k.publicKey)).to.equal(direct)
        expect(addressFromPubkey(k.publicKey)).to.equal(direct)
      }
    })
    it('decoded bytes are a copy each time: a caller that writes into them changes no later answer', () => {
      const b1 = addressToBytes(bob.address)
      b1.fill(0)
      const b2 = addressToBytes(bob.address)
      expect(Buffer.from(b2).equals(Buffer.from(addressBytesFromPubkey(bob.publicKey)))).to.equal(true)
    })
    it('invalid addresses keep failing (nothing invalid is remembered as valid)', () => {
      const flipped = bob.address.slice(0, -1) + (bob.address.endsWith('q') ? 'p' : 'q')
      for (let i = 0; i < 2; i++) {
        expect(isAddress(flipped)).to.equal(false)
        expect(() => addressToBytes(flipped)).to.throw()
        expect(isAddress(bob.address.toUpperCase())).to.equal(false)
      }
      expect(isAddress(bob.address)).to.equal(true)
    })
  })

  describe('remembered signatures', () => {
    it('count for the exact key and message only, once, even when the caller reuses its buffers', () => {
      const msg = utf8Bytes('remembered message')
      const sig = alice.sign(msg)
      rememberVerified(alice.publicKey, msg, sig)
      // The caller writes another message into the same buffer: the remembered answer was for the old bytes.
      const reused = msg
      reused[0] ^= 1
      expect(verifySignature(alice.publicKey, reused, sig)).to.equal(false)
      reused[0] ^= 1
      expect(verifySignature(alice.publicKey, msg, sig)).to.equal(true) // remembered (or verified again): true either way
      // A remembered signature under one key does not verify under another.
      rememberVerified(alice.publicKey, msg, sig)
      expect(verifySignature(bob.publicKey, msg, sig)).to.equal(false)
    })
  })
})
