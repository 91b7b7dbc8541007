// ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381) of node/core/vrf.ts: the three test vectors of RFC 9381
// appendix B.3 (examples 16, 17, 18) byte for byte, with their intermediate values, then the
// verifier's refusals (tampered proofs, wrong key or input, s >= q, small-order and non-canonical
// keys, bad lengths), determinism, and a round-trip property.
import { expect } from 'chai'
import fc from 'fast-check'
import { ed25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js'
import { publicKeyFromSeed } from '../../node/core/crypto.ts'
import { vrfInternals, vrfOutput, vrfProofToHash, vrfProve, vrfPublicKey, vrfVerify, VRF_PROOF_BYTES } from '../../node/core/vrf.ts'

const Point = ed25519.Point
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

interface Vector { name: string, sk: string, pk: string, alpha: string, x: string, ctr: number, H: string, kHash: string, k: string, U: string, V: string, pi: string, beta: string }

// RFC 9381 appendix B.3. x is the clamped secret scalar as 32 little-endian bytes; kHash is the
// 64-byte SHA-512 of the nonce generation (5.4.2.2 step 3) and k that value mod q as 32 bytes.
const VECTORS: Vector[] = [
  {
    name: 'example 16 (alpha empty)',
    sk: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    alpha: '',
    x: '307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f',
    ctr: 0,
    H: '91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318',
    kHash: '7100f3d9eadb6dc4743b029736ff283f5be494128df128df2817106f345b8594b6d6da2d6fb0b4c0257eb337675d96eab49cf39e66cc2c9547c2bf8b2a6afae4',
    k: '8a49edbd1492a8ee09766befe50a7d563051bf3406cbffc20a88def030730f0f',
    U: 'aef27c725be964c6a9bf4c45ca8e35df258c1878b838f37d9975523f09034071',
    V: '5016572f71466c646c119443455d6cb9b952f07d060ec8286d678615d55f954f',
    pi: '8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805',
    beta: '90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae',
  },
  {
    name: 'example 17 (alpha 0x72)',
    sk: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    alpha: '72',
    x: '68bd9ed75882d52815a97585caf4790a7f6c6b3b7f821c5e259a24b02e502e51',
    ctr: 1,
    H: '5b659fc3d4e9263fd9a4ed1d022d75eaacc20df5e09f9ea937502396598dc551',
    kHash: '42589bbf0c485c3c91c1621bb4bfe04aed7be76ee48f9b00793b2342acb9c167cab856f9f9d4febc311330c20b0a8afd3743d05433e8be8d32522ecdc16cc5ce',
    k: 'd8c3a66921444cb3427d5d989f9b315aa8ca3375e9ec4d52207711a1fdb44107',
    U: '1dcb0a4821a2c48bf53548228b7f170962988f6d12f5439f31987ef41f034ab3',
    V: 'fd03c0bf498c752161bae4719105a074630a2aa5f200ff7b3995f7bfb1513423',
    pi: 'f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02',
    beta: 'eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031',
  },
  {
    name: 'example 18 (alpha 0xaf82)',
    sk: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    alpha: 'af82',
    x: '909a8b755ed902849023a55b15c23d11ba4d7f4ec5c2f51b1325a181991ea95c',
    ctr: 0,
    H: 'bf4339376f5542811de615e3313d2b36f6f53c0acfebb482159711201192576a',
    kHash: '38b868c335ccda94a088428cbf3ec8bc7955bfaffe1f3bd2aa2c59fc31a0febc59d0e1af3715773ce11b3bbdd7aba8e3505d4b9de6f7e4a96e67e0d6bb6d6c3a',
    k: '5ffdbc72135d936014e8ab708585fda379405542b07e3bd2c0bd48437fbac60a',
    U: '2bae73e15a64042fcebf062abe7e432b2eca6744f3e8265bc38e009cd577ecd5',
    V: '88cba1cb0d4f9b649d9a86026b69de076724a93a65c349c988954f0961c5d506',
    pi: '9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e',
    beta: '645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f',
  },
]

const { L } = vrfInternals
const P = 2n ** 255n - 19n

function flipBit (b: Uint8Array, byte: number, bit: number): Uint8Array {
  const c = b.slice()
  c[byte] ^= 1 << bit
  return c
}

/** A 32-byte encoding of y (with sign bit 0): y may be >= p, which is a non-canonical encoding. */
function encodeY (y: bigint): Uint8Array { return vrfInternals.intToLe(y, 32) }

function decodes (b: Uint8Array): boolean { try { Point.fromBytes(b); return true } catch { return false } }

describe('VRF (ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381)', () => {
  describe('RFC 9381 appendix B.3 vectors', () => {
    for (const v of VECTORS) {
      describe(v.name, () => {
        const sk = hex(v.sk)
        const alpha = hex(v.alpha)

        it('derives x and the public key from the seed as RFC 8032 does', () => {
          const e = vrfInternals.expandSeed(sk)
          expect(toHex(e.xBytes)).to.equal(v.x)
          expect(toHex(e.pk)).to.equal(v.pk)
          expect(toHex(vrfPublicKey(sk))).to.equal(v.pk)
          expect(toHex(publicKeyFromSeed(sk))).to.equal(v.pk) // the same key as the validator's ed25519 key
        })

        it('encodes alpha to the curve by try-and-increment (H, ctr)', () => {
          const { H, ctr } = vrfInternals.encodeToCurve(hex(v.pk), alpha)
          expect(toHex(H)).to.equal(v.H)
          expect(ctr).to.equal(v.ctr)
        })

        it('generates the nonce k and U = k*B, V = k*H', () => {
          const n = vrfInternals.nonce(sk, hex(v.H))
          expect(toHex(n.kString)).to.equal(v.kHash)
          expect(toHex(n.kBytes)).to.equal(v.k)
          expect(vrfInternals.leToInt(hex(v.kHash)) % L).to.equal(vrfInternals.leToInt(hex(v.k)))
          expect(toHex(n.U)).to.equal(v.U)
          expect(toHex(n.V)).to.equal(v.V)
        })

        it('proves pi and gives beta byte for byte', () => {
          const pi = vrfProve(sk, alpha)
          expect(pi.length).to.equal(80)
          expect(toHex(pi)).to.equal(v.pi)
          expect(toHex(vrfProofToHash(pi)!)).to.equal(v.beta)
          expect(toHex(vrfOutput(sk, alpha))).to.equal(v.beta)
        })

        it('c of the proof is the challenge of (Y, H, Gamma, U, V)', () => {
          const d = vrfInternals.decodeProof(hex(v.pi))!
          expect(d.c).to.equal(vrfInternals.challenge([hex(v.pk), hex(v.H), d.Gamma, hex(v.U), hex(v.V)]))
        })

        it('verifies the proof and returns beta', () => {
          const beta = vrfVerify(hex(v.pk), alpha, hex(v.pi))
          expect(beta).to.not.equal(null)
          expect(toHex(beta!)).to.equal(v.beta)
        })
      })
    }
  })

  describe('verification refuses', () => {
    const v = VECTORS[1]
    const pk = hex(v.pk)
    const alpha = hex(v.alpha)
    const pi = hex(v.pi)

    it('a proof with any one bit flipped in Gamma, c or s (one bit in every byte, and every bit of the first byte of each part)', () => {
      for (let i = 0; i < VRF_PROOF_BYTES; i++) {
        for (const bit of (i === 0 || i === 32 || i === 48) ? [0, 1, 2, 3, 4, 5, 6, 7] : [i % 8]) {
          expect(vrfVerify(pk, alpha, flipBit(pi, i, bit)), `byte ${i} bit ${bit}`).to.equal(null)
        }
      }
    })

    it('a proof for another key, and another key\'s proof', () => {
      expect(vrfVerify(hex(VECTORS[0].pk), alpha, pi)).to.equal(null)
      expect(vrfVerify(pk, hex(VECTORS[0].alpha), hex(VECTORS[0].pi))).to.equal(null)
    })

    it('a proof of another alpha', () => {
      expect(vrfVerify(pk, hex('73'), pi)).to.equal(null)
      expect(vrfVerify(pk, new Uint8Array(), pi)).to.equal(null)
      expect(vrfVerify(pk, hex('7200'), pi)).to.equal(null)
    })

    it('s >= q (s + q would satisfy the equations; it is refused at decoding)', () => {
      const d = vrfInternals.decodeProof(pi)!
      for (const s of [d.s + L, L, 2n ** 256n - 1n]) {
        const bad = vrfInternals.encodeProof(d.Gamma, d.c, s)
        expect(vrfVerify(pk, alpha, bad)).to.equal(null)
        expect(vrfProofToHash(bad)).to.equal(null)
      }
      // s = q - 1 is in range: a proof that decodes but does not verify.
      const edge = vrfInternals.encodeProof(d.Gamma, d.c, L - 1n)
      expect(vrfProofToHash(edge)).to.not.equal(null)
      expect(vrfVerify(pk, alpha, edge)).to.equal(null)
    })

    it('every small-order public key (the 8 torsion points and their non-canonical encodings)', () => {
      const keys = ED25519_TORSION_SUBGROUP.map(hex)
      // Non-canonical encodings y + p of the torsion points with y < 19 (y = 0 and y = 1), and x = 0 with the sign bit.
      keys.push(encodeY(P), encodeY(P + 1n), hex('0100000000000000000000000000000000000000000000000000000000000080'))
      for (const k of keys) {
        expect(vrfVerify(k, alpha, pi), toHex(k)).to.equal(null)
        expect(vrfVerify(k, new Uint8Array(), hex(VECTORS[0].pi)), toHex(k)).to.equal(null)
      }
    })

    it('a forged proof under the identity key, which satisfies the verification equations without key validation', () => {
      const Y = Point.ZERO
      const Ybytes = Y.toBytes()
      const a = hex('0102')
      const H = Point.fromBytes(vrfInternals.encodeToCurve(Ybytes, a).H)
      const k = 123456789n
      const Gamma = Point.ZERO
      const c = vrfInternals.challenge([Ybytes, H.toBytes(), Gamma.toBytes(), Point.BASE.multiply(k).toBytes(), H.multiply(k).toBytes()])
      const s = k
      // The equations of RFC 9381 5.3 steps 9-12 hold: U = s*B - c*Y, V = s*H - c*Gamma give back c.
      const U = Point.BASE.multiplyUnsafe(s).subtract(Y.multiplyUnsafe(c))
      const V = H.multiplyUnsafe(s).subtract(Gamma.multiplyUnsafe(c))
      expect(vrfInternals.challenge([Ybytes, H.toBytes(), Gamma.toBytes(), U.toBytes(), V.toBytes()])).to.equal(c)
      expect(vrfVerify(Ybytes, a, vrfInternals.encodeProof(Gamma.toBytes(), c, s))).to.equal(null)
    })

    it('a forged proof under the order-2 key (0, -1), which satisfies the verification equations without key validation', () => {
      const Ybytes = hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')
      const Y = Point.fromBytes(Ybytes)
      expect(Y.double().is0()).to.equal(true)
      const a = hex('0102')
      const H = Point.fromBytes(vrfInternals.encodeToCurve(Ybytes, a).H)
      const Gamma = Point.ZERO
      // Guess that c is even (then c*Y is the identity and U = k*B); half of the k work.
      let forged: Uint8Array | null = null
      for (let k = 1n; forged === null; k++) {
        const c = vrfInternals.challenge([Ybytes, H.toBytes(), Gamma.toBytes(), Point.BASE.multiply(k).toBytes(), H.multiply(k).toBytes()])
        if (c % 2n !== 0n) continue
        const U = Point.BASE.multiplyUnsafe(k).subtract(Y.multiplyUnsafe(c))
        const V = H.multiplyUnsafe(k).subtract(Gamma.multiplyUnsafe(c))
        expect(vrfInternals.challenge([Ybytes, H.toBytes(), Gamma.toBytes(), U.toBytes(), V.toBytes()])).to.equal(c)
        forged = vrfInternals.encodeProof(Gamma.toBytes(), c, k)
      }
      expect(vrfVerify(Ybytes, a, forged)).to.equal(null)
    })

    it('public keys and Gammas that are not canonical encodings of a point on the curve', () => {
      // The smallest y that is not the y of a curve point, and the smallest y < 19 of a point not of small order.
      let offCurve = 2n
      while (decodes(encodeY(offCurve))) offCurve++
      let mixed = 2n
      while (!decodes(encodeY(mixed)) || Point.fromBytes(encodeY(mixed)).isSmallOrder()) mixed++
      expect(mixed < 19n).to.equal(true)
      for (const k of [encodeY(offCurve), encodeY(mixed + P), encodeY(P + 18n)]) {
        expect(vrfVerify(k, alpha, pi), toHex(k)).to.equal(null)
      }
      const d = vrfInternals.decodeProof(pi)!
      const offGamma = vrfInternals.encodeProof(encodeY(offCurve), d.c, d.s)
      expect(vrfVerify(pk, alpha, offGamma)).to.equal(null)
      expect(vrfProofToHash(offGamma)).to.equal(null)
      // The same point as Gamma = (x, mixed), encoded canonically and as y + p: only the first decodes.
      expect(vrfProofToHash(vrfInternals.encodeProof(encodeY(mixed), d.c, d.s))).to.not.equal(null)
      expect(vrfProofToHash(vrfInternals.encodeProof(encodeY(mixed + P), d.c, d.s))).to.equal(null)
    })

    it('truncated or extended proofs and keys, and inputs that are not bytes, without throwing', () => {
      for (const bad of [pi.subarray(0, 79), pi.subarray(0, 48), new Uint8Array(), new Uint8Array([...pi, 0]), new Uint8Array(160)]) {
        expect(vrfVerify(pk, alpha, bad)).to.equal(null)
        expect(vrfProofToHash(bad)).to.equal(null)
      }
      for (const badKey of [pk.subarray(0, 31), new Uint8Array([...pk, 0]), new Uint8Array()]) {
        expect(vrfVerify(badKey, alpha, pi)).to.equal(null)
      }
      const notBytes: any[] = [null, undefined, 'ab', 7, {}, Array.from(pi)]
      for (const x of notBytes) {
        expect(vrfVerify(x, alpha, pi)).to.equal(null)
        expect(vrfVerify(pk, x, pi)).to.equal(null)
        expect(vrfVerify(pk, alpha, x)).to.equal(null)
        expect(vrfProofToHash(x)).to.equal(null)
      }
      expect(vrfVerify(pk, alpha, pi)).to.not.equal(null) // the original still verifies
    })
  })

  describe('proving', () => {
    it('is deterministic', () => {
      const sk = hex(VECTORS[2].sk)
      const a = new TextEncoder().encode('previous randomness || height')
      expect(toHex(vrfProve(sk, a))).to.equal(toHex(vrfProve(sk, a)))
      expect(toHex(vrfOutput(sk, a))).to.equal(toHex(vrfOutput(sk, a)))
    })

    it('refuses a seed that is not 32 bytes', () => {
      expect(() => vrfProve(new Uint8Array(31), new Uint8Array())).to.throw()
      expect(() => vrfProve(new Uint8Array(64), new Uint8Array())).to.throw()
    })

    it('round-trips with verify, and beta differs between alphas (property, fixed seed)', function () {
      this.timeout(120_000)
      fc.assert(fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ maxLength: 80 }),
        (seed, a1, a2) => {
          fc.pre(toHex(a1) !== toHex(a2))
          const pk = vrfPublicKey(seed)
          const pi1 = vrfProve(seed, a1)
          const pi2 = vrfProve(seed, a2)
          const b1 = vrfVerify(pk, a1, pi1)
          const b2 = vrfVerify(pk, a2, pi2)
          expect(b1).to.not.equal(null)
          expect(b2).to.not.equal(null)
          expect(toHex(b1!)).to.equal(toHex(vrfOutput(seed, a1)))
          expect(toHex(b1!)).to.equal(toHex(vrfProofToHash(pi1)!))
          expect(toHex(b1!)).to.not.equal(toHex(b2!))
          expect(vrfVerify(pk, a2, pi1)).to.equal(null)
        }), { seed: 0x5eed_0381, numRuns: 40 })
    })
  })

  describe('uniqueness', () => {
    it('a second, different proof (Gamma plus a point of order 2) by the key holder verifies, but to the same beta', () => {
      // Proofs are not unique (RFC 9381 section 3 asks uniqueness of beta only): beta hashes
      // cofactor * Gamma, which clears the torsion part, so beta cannot be ground this way.
      const v = VECTORS[0]
      const sk = hex(v.sk)
      const alpha = hex(v.alpha)
      const { x } = vrfInternals.expandSeed(sk)
      const H = Point.fromBytes(hex(v.H))
      const T = Point.fromBytes(hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'))
      const Gamma2 = H.multiply(x).add(T).toBytes()
      let pi2: Uint8Array | null = null
      for (let k = 1n; pi2 === null; k++) {
        const c = vrfInternals.challenge([hex(v.pk), hex(v.H), Gamma2, Point.BASE.multiply(k).toBytes(), H.multiply(k).toBytes()])
        if (c % 2n === 0n) pi2 = vrfInternals.encodeProof(Gamma2, c, (k + c * x) % L) // c*T is the identity
      }
      expect(toHex(pi2)).to.not.equal(v.pi)
      const beta = vrfVerify(hex(v.pk), alpha, pi2)
      expect(beta).to.not.equal(null)
      expect(toHex(beta!)).to.equal(v.beta)
    })
  })

  describe('speed', () => {
    it('on one core (proofs and verifications a second)', function () {
      this.timeout(60_000)
      const sk = hex(VECTORS[0].sk)
      const pk = hex(VECTORS[0].pk)
      const alphas = Array.from({ length: 64 }, (_, i) => new TextEncoder().encode(`randomness-${i}`))
      const proofs = alphas.map(a => vrfProve(sk, a)) // warm-up as well
      for (let i = 0; i < alphas.length; i++) expect(vrfVerify(pk, alphas[i], proofs[i])).to.not.equal(null)
      const rate = (f: (i: number) => void): number => {
        let n = 0
        const t0 = performance.now()
        while (performance.now() - t0 < 1000) { f(n % alphas.length); n++ }
        return n / ((performance.now() - t0) / 1000)
      }
      const prove = rate(i => vrfProve(sk, alphas[i]))
      const verify = rate(i => vrfVerify(pk, alphas[i], proofs[i]))
      console.log(`        vrf: ${prove.toFixed(0)} proofs/s, ${verify.toFixed(0)} verifications/s (one core)`)
      expect(prove).to.be.greaterThan(0)
      expect(verify).to.be.greaterThan(0)
    })
  })
})
