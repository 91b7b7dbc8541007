// The transaction vectors of test/fixtures/transactions.json, made by an independent
// implementation of docs/protocol.md section 2: every valid one decodes to the same fields, hash
// and sender; every invalid one is refused with exactly the code the table below names.
import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { decodeTx, encodeBody, signTx } from '../../node/core/tx.ts'
import { TxError, type TxErrorCode } from '../../node/core/errors.ts'
import { SigningKey, toHex } from '../../node/core/crypto.ts'

const here = dirname(fileURLToPath(import.meta.url))
const V = JSON.parse(readFileSync(join(here, '../fixtures/transactions.json'), 'utf8'))

/** The code each invalid vector must be refused with, by the vector's name. */
const EXPECTED_CODE: Record<string, TxErrorCode> = {
  'signature with one bit flipped': 'BAD_SIGNATURE',
  'amount as float64': 'TX_DECODE',
  'eight elements': 'TX_DECODE',
  'trailing byte': 'TX_DECODE',
  'transfer body with three elements': 'TX_DECODE',
  'sender key of 31 bytes': 'TX_DECODE',
  'unknown type': 'UNKNOWN_TX_TYPE',
  'negative amount': 'TX_DECODE',
  'chain id not a string': 'TX_DECODE',
  'result_hash of 16 bytes': 'TX_DECODE',
  'signed by another key': 'BAD_SIGNATURE',
  'not msgpack at all': 'TX_DECODE',
}

function norm (v: unknown): unknown {
  if (typeof v === 'bigint' || typeof v === 'number') return String(v)
  if (v instanceof Uint8Array) return toHex(v)
  if (Array.isArray(v)) return v.map(norm)
  return v
}

function refusal (hex: string): TxError {
  try {
    decodeTx(Buffer.from(hex, 'hex'))
  } catch (e) {
    if (e instanceof TxError) return e
    throw e
  }
  throw new Error('the transaction was accepted')
}

describe('transaction vectors (independent implementation)', () => {
  const valid = V.vectors.filter((x: any) => x.valid === true)
  const invalid = V.vectors.filter((x: any) => x.valid !== true)

  it('has valid and invalid vectors, each name once', () => {
    expect(valid.length).to.be.at.least(9)
    expect(invalid.length).to.be.at.least(1)
    const names = V.vectors.map((x: any) => x.name)
    expect(new Set(names).size).to.equal(names.length)
  })

  for (const v of valid) {
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

  for (const v of invalid) {
    it(`refuses with ${EXPECTED_CODE[v.name] ?? 'a code the table must name'}: ${v.name} (${v.why})`, () => {
      const expected = EXPECTED_CODE[v.name]
      expect(expected, `no expected code for invalid vector "${v.name}": add it to EXPECTED_CODE`).to.be.a('string')
      const err = refusal(v.hex)
      expect(err.code, err.message).to.equal(expected)
      // Decoding needs no state: every refusal here is permanent.
      expect(err.permanent).to.equal(true)
    })
  }

  it('the table names no vector that does not exist', () => {
    const names = new Set(invalid.map((x: any) => x.name))
    expect(Object.keys(EXPECTED_CODE).filter(n => !names.has(n))).to.deep.equal([])
  })

  it('derives the vector keys from their seeds', () => {
    const seeds: Record<string, number> = { client: 1, miner: 2, validator: 3, other: 4 }
    for (const [name, b] of Object.entries(seeds)) {
      expect(new SigningKey(new Uint8Array(32).fill(b)).address).to.equal(V.keys[name])
    }
  })

  it('signs what it decodes: our own encoding round-trips for every body of the vectors', () => {
    const key = new SigningKey(new Uint8Array(32).fill(1))
    for (const v of valid) {
      const orig = decodeTx(Buffer.from(v.hex, 'hex'))
      const mine = signTx(key, { chainId: orig.chainId, nonce: orig.nonce, fee: orig.fee, body: orig.body })
      const again = decodeTx(mine.bytes)
      expect(norm(encodeBody(again.body))).to.deep.equal(norm(encodeBody(orig.body)))
      expect(again.sender).to.equal(key.address)
    }
  })
})
