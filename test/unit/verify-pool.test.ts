// The signature worker pool (node/chain/verifyPool.ts) gives the answers of verifySignature (the
// node's one rule) for good, altered, malformed and low-order inputs, in batches across workers;
// the intake (node/chain/txIntake.ts) runs the mempool's checks around it: a bad signature is
// refused and remembered, a copy in flight is TX_IN_MEMPOOL, an async broadcast that fails is
// remembered by hash with its reason.
import { expect } from 'chai'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VerifyPool } from '../../node/chain/verifyPool.ts'
import { TxIntake } from '../../node/chain/txIntake.ts'
import { Mempool } from '../../node/chain/mempool.ts'
import { Chain } from '../../node/chain/chain.ts'
import { ChainStore } from '../../node/chain/store.ts'
import { verifySignature, rememberVerified, utf8Bytes } from '../../node/core/crypto.ts'
import { TxError } from '../../node/core/errors.ts'
import { signTx } from '../../node/core/tx.ts'
import { silentLogger } from '../../node/logger.ts'
import { parseGenesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { keyNamed } from '../helpers/memChain.ts'

const K = keyNamed('pool-key')
const OTHER = keyNamed('pool-other')

describe('VerifyPool and TxIntake', () => {
  let pool: VerifyPool
  before(() => { pool = new VerifyPool(2) })
  after(async () => { await pool.close() })

  it('answers as verifySignature for each kind of input, batched over two workers', async () => {
    const msg = utf8Bytes('message')
    const sig = K.sign(msg)
    const flipped = new Uint8Array(sig); flipped[10] ^= 1
    const highS = new Uint8Array(sig); highS[63] |= 0xf0 // s out of range: RFC 8032 refuses it
    const cases: Array<[string, Uint8Array, Uint8Array, Uint8Array]> = [
      ['valid', K.publicKey, msg, sig],
      ['another message', K.publicKey, utf8Bytes('other'), sig],
      ['another key', OTHER.publicKey, msg, sig],
      ['altered signature', K.publicKey, msg, flipped],
      ['s above the group order', K.publicKey, msg, highS],
      ['all-zero key', new Uint8Array(32), msg, sig],
      ['short key', new Uint8Array(31), msg, sig],
      ['short signature', K.publicKey, msg, sig.subarray(0, 63)],
      ['empty message', K.publicKey, new Uint8Array(0), K.sign(new Uint8Array(0))],
    ]
    // Many at once, so that they spread over batches and workers.
    const runs = Array.from({ length: 50 }, () => cases).flat()
    const got = await Promise.all(runs.map(async ([, p, m, s]) => await pool.verify(p, m, s)))
    runs.forEach(([name, p, m, s], i) => expect(got[i], name).to.equal(verifySignature(p, m, s)))
    expect(got[0]).to.equal(true)
  })

  it('a signature checked on the pool and remembered passes verifySignature once; nothing else changes', async () => {
    const msg = utf8Bytes('remembered')
    const sig = K.sign(msg)
    expect(await pool.verify(K.publicKey, msg, sig)).to.equal(true)
    rememberVerified(K.publicKey, msg, sig)
    expect(verifySignature(K.publicKey, msg, sig)).to.equal(true)
    // Another message, key or signature is not covered by what was remembered.
    const other = new Uint8Array(sig); other[5] ^= 1
    rememberVerified(K.publicKey, utf8Bytes('something else'), sig)
    expect(verifySignature(K.publicKey, msg, other)).to.equal(false)
    expect(verifySignature(OTHER.publicKey, msg, sig)).to.equal(false)
    expect(verifySignature(K.publicKey, utf8Bytes('remembered!'), sig)).to.equal(false)
    expect(verifySignature(K.publicKey, msg, sig)).to.equal(true) // checked again, by OpenSSL
  })

  describe('intake', () => {
    let dir: string
    let store: ChainStore
    let chain: Chain
    let mempool: Mempool
    let intake: TxIntake
    const CHAIN_ID = 'aitbc-pool-test'
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'aitbc-pool-'))
      store = await ChainStore.open(dir)
      const g = parseGenesis(makeGenesisJSON({ chainId: CHAIN_ID, genesisTime: '2024-03-01T00:00:00.000Z', validators: [{ pubKey: OTHER.publicKey }], accounts: [{ address: K.address, balance: 10n ** 9n }], params: { min_fee: '1000' } }))
      chain = new Chain(g, store, silentLogger())
      await chain.init()
      mempool = new Mempool({ maxTxs: 100, maxBytes: 1 << 20 }, chain, silentLogger())
      intake = new TxIntake(mempool, pool, silentLogger())
    })
    afterEach(async () => { chain.removeAllListeners(); await store.close(); rmSync(dir, { recursive: true, force: true }) })

    const transfer = (nonce: number, amount = 1n) => signTx(K, { chainId: CHAIN_ID, nonce, fee: 1000n, body: { type: 'transfer', to: OTHER.address, amount } })

    it('admits good txs, in or out of order; a copy in flight is TX_IN_MEMPOOL', async () => {
      const [a, b] = [transfer(0), transfer(1)]
      const pb = intake.submit(b.bytes)
      const dup = intake.submit(b.bytes).then(() => null, (e: TxError) => e.code)
      const pa = intake.submit(a.bytes)
      expect((await pb).queued).to.equal(true)
      expect((await pa).queued).to.equal(false)
      expect(await dup).to.equal('TX_IN_MEMPOOL')
      expect(mempool.list().map(t => t.nonce)).to.deep.equal([0, 1])
    })

    it('a bad signature: BAD_SIGNATURE, permanent, remembered (a resend costs no verify)', async () => {
      const bytes = new Uint8Array(transfer(0).bytes); bytes[bytes.length - 1] ^= 1
      const e = await intake.submit(bytes).then(() => null, (x: TxError) => x)
      expect([e?.code, e?.permanent]).to.deep.equal(['BAD_SIGNATURE', true])
      const n = mempool.verifications
      const again = await intake.submit(bytes).then(() => null, (x: TxError) => x)
      expect(again?.code).to.equal('BAD_SIGNATURE')
      expect(mempool.verifications).to.equal(n)
      expect(mempool.size).to.equal(0)
    })

    it('an async broadcast answers after the decoding; one that fails later is remembered by hash with its reason', async () => {
      const bad = new Uint8Array(transfer(0).bytes); bad[bad.length - 1] ^= 1
      const tx = intake.submitAsync(bad)
      expect(() => intake.submitAsync(new Uint8Array([1, 2, 3]))).to.throw(TxError, /not a transaction/)
      for (let i = 0; i < 3000 && mempool.dropped(tx.hash) === undefined; i++) await new Promise(resolve => setTimeout(resolve, 10))
      expect(mempool.dropped(tx.hash)?.code).to.equal('BAD_SIGNATURE')
      const ok = intake.submitAsync(transfer(0).bytes)
      for (let i = 0; i < 3000 && !mempool.has(ok.hash); i++) await new Promise(resolve => setTimeout(resolve, 10))
      expect(mempool.has(ok.hash)).to.equal(true)
    })
  })
})
