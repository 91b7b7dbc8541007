// Unsigned integers of 2^32 and more in a transaction body: msgpackr writes such a JS number as a
// float64, which the strict decoder refuses where an integer belongs; the body codecs write them
// as integers, so a seed, a token count or a compute time over 2^32 can be sent and read back.
import { expect } from 'chai'
import { decodeTx, signTx } from '../../node/core/tx.ts'
import { keyOf } from '../helpers/chainSim.ts'
import { count } from '../../miner/jobRunner.ts'

const key = keyOf('range')
const BIG = [2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER]

describe('uints of 2^32 and more in tx bodies', () => {
  for (const n of BIG) {
    it(`submit_job with seed and num_predict ${n} round-trips`, () => {
      const tx = signTx(key, { chainId: 'c', nonce: n, fee: 1000n, body: { type: 'submit_job', model: 'm', prompt: 'p', options: { temperature: null, numPredict: n, seed: n }, maxFee: 1n, maxPricePerSecond: null } })
      const back = decodeTx(tx.bytes)
      expect(back.nonce).to.equal(n)
      expect(back.body).to.deep.include({ options: { temperature: null, numPredict: n, seed: n } })
    })
    it(`record_receipt with compute_ms and token counts ${n} round-trips`, () => {
      const metrics = { computeMs: n, promptTokens: n, completionTokens: n }
      const tx = signTx(key, { chainId: 'c', nonce: 0, fee: 1000n, body: { type: 'record_receipt', jobId: 'job_0123456789abcdef', status: 'failed', result: '', resultHash: new Uint8Array(32), metrics, error: 'x' } })
      expect(decodeTx(tx.bytes, { verify: false }).body).to.deep.include({ metrics })
    })
    it(`register_miner and update_miner with capacity ${n} encode as integers (the static check, not the decoder, bounds capacity)`, () => {
      const r = signTx(key, { chainId: 'c', nonce: 0, fee: 1000n, body: { type: 'register_miner', models: ['m'], pricePerSecond: 1n, capacity: n, stake: 1n } })
      expect(decodeTx(r.bytes).body).to.deep.include({ capacity: n })
      const u = signTx(key, { chainId: 'c', nonce: 0, fee: 1000n, body: { type: 'update_miner', models: null, pricePerSecond: null, capacity: n, active: null } })
      expect(decodeTx(u.bytes).body).to.deep.include({ capacity: n })
    })
  }

  it('values below 2^32 keep their shortest msgpack form (the bytes of existing txs do not change)', () => {
    const tx = signTx(key, { chainId: 'c', nonce: 0, fee: 1000n, body: { type: 'update_miner', models: null, pricePerSecond: null, capacity: 7, active: null } })
    expect(Buffer.from(tx.bytes).toString('hex')).to.contain('94c0c007c0') // [nil, nil, 7, nil]
  })

  it('the miner turns whatever Ollama reports as a token count into a safe integer', () => {
    expect([count(3.7), count(-1), count(Number.NaN), count(Infinity), count(2 ** 60)]).to.deep.equal([3, 0, 0, 0, Number.MAX_SAFE_INTEGER])
  })
})
