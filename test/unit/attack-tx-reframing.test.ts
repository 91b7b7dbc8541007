// Attack: re-framing a signed transaction. The signature covers the six signed elements' bytes,
// not the tuple's own header nor the signature's bin header; a relay that rewrote those into
// longer msgpack forms got other bytes (another tx hash, another job id) that still verified.
// Only the shortest forms are accepted now.
import { expect } from 'chai'
import { decodeTx, signTx } from '../../node/core/tx.ts'
import { concatBytes } from '../../node/core/crypto.ts'
import { TxError } from '../../node/core/errors.ts'
import { keyOf } from '../helpers/chainSim.ts'

const tx = signTx(keyOf('reframe'), { chainId: 'c', nonce: 0, fee: 1000n, body: { type: 'transfer', to: keyOf('bob').address, amount: 5n } })
const sigAt = tx.bytes.length - 66

describe('attack: re-framing a signed transaction', () => {
  it('the tuple header as array 16 (dc 00 07) instead of fixarray (97): TX_DECODE', () => {
    const b = concatBytes(Uint8Array.of(0xdc, 0x00, 0x07), tx.bytes.subarray(1))
    expect(() => decodeTx(b)).to.throw(TxError, /0x97/).with.property('code', 'TX_DECODE')
  })
  it('the signature as bin 16 (c5 00 40) instead of bin 8 (c4 40): TX_DECODE', () => {
    expect(Buffer.from(tx.bytes.subarray(sigAt, sigAt + 2)).toString('hex')).to.equal('c440')
    const b = concatBytes(tx.bytes.subarray(0, sigAt), Uint8Array.of(0xc5, 0x00, 0x40), tx.bytes.subarray(sigAt + 2))
    expect(() => decodeTx(b)).to.throw(TxError, /bin 8/).with.property('code', 'TX_DECODE')
  })
  it('the canonical bytes still decode, to the same hash', () => {
    expect(decodeTx(tx.bytes).hash).to.equal(tx.hash)
  })
})
