import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { decodeTx, encodeBody, signTx } from '../../node/core/tx.ts'
import { TxError } from '../../node/core/errors.ts'
import { SigningKey, toHex } from '../../node/core/crypto.ts'

const here = dirname(fileURLToPath(import.meta.url))
// ../shared/vectors beside the repository (SPEC's independent implementation), else the copy in test/fixtures.
function loadVectors (): any {
  for (const p of [join(here, '../../../shared/vectors/transactions.json'), join(here, '../fixtures/transactions.json')]) {
    try { return JSON.parse(readFileSync(p, 'utf8')) } catch {}
  }
  throw new Error('transactions.json vectors not found')
}
const V = loadVectors()

function norm (v: unknown): unknown {
  if (typeof v === 'bigint' || typeof v === 'number') return String(v)
  if (v instanceof Uint8Array) return toHex(v)
  if (Array.isArray(v)) return v.map(norm)
  return v
}

describe('transaction vectors (SPEC 4, independent implementation)', () => {
  for (const v of V.vectors.filter((x: any) => x.valid)) {
    it(`accepts: ${v.name}`, () => {
      const tx = decodeTx(Buffer.from(v.hex, 'hex'))
      expect(tx.hash).to.equal(v.hash)
      expect(tx.sender).to.equal(v.sender)
      expect(toHex(tx.senderPubkey)).to.equal(v.sender_pubkey)
      expect(tx.chainId).to.equal(v.chain_id)
      expect(tx.type).to.equal(v.type)
      expect(String(tx.nonce)).to.equal(v.nonce)
      expect(tx.fee.toString()).to.equal(v.fee)
      expect(norm(encodeBody(tx.body))).to.deep.equal(norm(v.body))
    })
  }
  for (const v of V.vectors.filter((x: any) => !x.valid)) {
    it(`refuses: ${v.name} (${v.why})`, () => {
      let err: unknown
      try { decodeTx(Buffer.from(v.hex, 'hex')) } catch (e) { err = e }
      expect(err).to.be.instanceOf(TxError)
    })
  }
  it('derives the vector keys from their seeds', () => {
    const seeds: Record<string, number> = { client: 1, miner: 2, validator: 3, other: 4 }
    for (const [name, b] of Object.entries(seeds)) {
      expect(new SigningKey(new Uint8Array(32).fill(b)).address).to.equal(V.keys[name])
    }
  })
  it('signs what it decodes: our own encoding round-trips for every body of the vectors', () => {
    const key = new SigningKey(new Uint8Array(32).fill(1))
    for (const v of V.vectors.filter((x: any) => x.valid)) {
      const orig = decodeTx(Buffer.from(v.hex, 'hex'))
      const mine = signTx(key, { chainId: orig.chainId, nonce: orig.nonce, fee: orig.fee, body: orig.body })
      const again = decodeTx(mine.bytes)
      expect(norm(encodeBody(again.body))).to.deep.equal(norm(encodeBody(orig.body)))
      expect(again.sender).to.equal(key.address)
    }
  })
  it('names the problem of each invalid vector', () => {
    const msgs = V.vectors.filter((x: any) => !x.valid).map((v: any) => {
      try { decodeTx(Buffer.from(v.hex, 'hex')); return 'accepted' } catch (e) { return `${(e as TxError).code}: ${(e as Error).message}` }
    })
    expect(msgs.join('\n')).to.match(/BAD_SIGNATURE/).and.match(/float/).and.match(/trailing/).and.match(/negative/).and.match(/UNKNOWN_TX_TYPE/)
  })
})
