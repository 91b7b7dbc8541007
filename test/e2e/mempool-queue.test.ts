// The queue of future nonces against a real node process (docs/protocol.md 2.7): 32 workers
// share one queue of 2,000 pre-signed transfers of 4 senders and send each with its own HTTP
// request, so a sender's nonces arrive out of order; every answer is code 0 and every tx
// commits. Then what a client sees of a queued tx: the "queued" log, unconfirmed_txs and
// num_unconfirmed_txs, and, after queue_expiry_blocks, `tx` naming TX_EXPIRED.
import { expect } from 'chai'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, until, type TestNode } from '../helpers/procs.ts'
import { signTx, type Tx } from '../../node/core/tx.ts'
import { toBase64, type SigningKey } from '../../node/core/crypto.ts'
import { Keyring } from '../../cli/keyring.ts'

const CHAIN_ID = 'aitbc-test'
const SENDERS = ['s0', 's1', 's2', 's3']
const PER_SENDER = 500
const WORKERS = 32

describe('e2e: the mempool queue of future nonces', function () {
  this.timeout(240_000)
  let node: TestNode
  let keys: SigningKey[]
  let carol: SigningKey

  async function rpc (method: string, params: Record<string, unknown>): Promise<any> {
    const res = await fetch(node.url + '/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
    return await res.json()
  }

  before(async () => {
    node = await startTestNode({ keys: [...SENDERS, 'carol'], blockTimeMs: 200, emptyBlockMs: 300 })
    const ring = new Keyring(node.aitbcHome)
    keys = SENDERS.map(s => ring.get(s))
    carol = ring.get('carol')
  })

  after(async () => { await node?.stop() })

  it('32 workers sharing one queue of 2,000 nonces of 4 senders, one tx per request: every answer is code 0 and every tx commits', async () => {
    const queue: Tx[] = []
    for (let n = 0; n < PER_SENDER; n++) for (const k of keys) queue.push(signTx(k, { chainId: CHAIN_ID, nonce: n, fee: 1000n, body: { type: 'transfer', to: carol.address, amount: 1n } }))
    let next = 0
    let queued = 0
    const refused: string[] = []
    await Promise.all(Array.from({ length: WORKERS }, async () => {
      while (next < queue.length) {
        const t = queue[next++]
        const r = await rpc('broadcast_tx_sync', { tx: toBase64(t.bytes) })
        if (r.result?.code !== 0) refused.push(JSON.stringify(r).slice(0, 300))
        else if (/^queued: /.test(r.result.log)) queued++
      }
    }))
    expect(refused, refused.slice(0, 3).join("\n")).to.deep.equal([])
    await until('every tx committed', async () => {
      for (const k of keys) {
        const a = await rpc('aitbc_account', { address: k.address })
        if (Number(a.result.nonce) < PER_SENDER) return false
      }
      return true
    }, 180_000, 250)
    // Every one of our txs is in a block (not only as many nonces).
    for (const t of [queue[0], queue[777], queue[queue.length - 1]]) {
      const r = await rpc('tx', { hash: t.hash })
      expect(r.result?.hash, JSON.stringify(r)).to.equal(t.hash)
    }
    const n = await rpc('num_unconfirmed_txs', {})
    expect(n.result.total).to.equal('0')
    // Under load some arrive ahead of their turn; on an idle machine possibly none (no timing assert).
    expect(queued).to.be.at.least(0)
  })

  it('broadcast_tx_async: what fails after the answer is logged and `tx` names the reason; what fails before is answered', async () => {
    const acct = await rpc('aitbc_account', { address: carol.address })
    const t = signTx(carol, { chainId: CHAIN_ID, nonce: Number(acct.result.pending_nonce), fee: 1000n, body: { type: 'transfer', to: keys[0].address, amount: 7n } })
    const bad = new Uint8Array(t.bytes); bad[bad.length - 1] ^= 1
    const r = await rpc('broadcast_tx_async', { tx: toBase64(bad) })
    expect([r.result.code, r.result.log]).to.deep.equal([0, ''])
    const hash = r.result.hash
    const x = await until('async failure findable', async () => {
      const q = await rpc('tx', { hash })
      return /dropped from the mempool/.test(q.error?.message ?? '') ? q : false
    }, 60_000, 100)
    expect(x.error.message).to.match(/: BAD_SIGNATURE: signature does not verify/)
    await until('logged', () => /async broadcast refused by the mempool check/.test(node.log()), 30_000)
    const malformed = await rpc('broadcast_tx_async', { tx: toBase64(new Uint8Array([0x93, 1, 2, 3])) })
    expect(malformed.result.log).to.match(/^TX_DECODE: /)
    const good = await rpc('broadcast_tx_async', { tx: toBase64(t.bytes) })
    expect(good.result.code).to.equal(0)
    await until('async tx committed', async () => (await rpc('tx', { hash: t.hash })).result?.hash === t.hash, 60_000, 100)
  })

  it('a queued tx: code 0 with a "queued" log, listed by unconfirmed_txs and counted by num_unconfirmed_txs; after queue_expiry_blocks, `tx` says it expired', async () => {
    // A short expiry, to see it happen: node config, read at start.
    await node.proc.stop('SIGTERM')
    writeFileSync(join(node.home, 'config', 'config.json'), JSON.stringify({ mempool: { queueExpiryBlocks: 5 } }))
    await node.restart()
    const acct = await rpc('aitbc_account', { address: carol.address })
    const pn = Number(acct.result.pending_nonce)
    const t = signTx(carol, { chainId: CHAIN_ID, nonce: pn + 3, fee: 1000n, body: { type: 'transfer', to: keys[0].address, amount: 5n } })
    const r = await rpc('broadcast_tx_sync', { tx: toBase64(t.bytes) })
    expect(r.result.code, r.result.log).to.equal(0)
    expect(r.result.hash).to.equal(t.hash)
    expect(r.result.log).to.match(new RegExp(`^queued: nonce ${pn + 3} waits for nonce ${pn} of ${carol.address}`))
    const u = await rpc('unconfirmed_txs', { limit: 100 })
    expect(u.result.txs).to.include(toBase64(t.bytes))
    expect(u.result.queued).to.equal('1')
    const n = await rpc('num_unconfirmed_txs', {})
    expect(n.result.total).to.equal('1')
    expect(n.result.n_txs).to.equal('1')
    expect(n.result.queued).to.equal('1')
    expect(n.result.total_bytes).to.equal(String(t.bytes.length))
    const waiting = await rpc('tx', { hash: t.hash })
    expect(waiting.error.message).to.match(/in the mempool \(queued: nonce \d+ waits for nonce \d+/)
    // The same tx again: already here.
    const again = await rpc('broadcast_tx_sync', { tx: toBase64(t.bytes) })
    expect(again.result.log).to.match(/^TX_IN_MEMPOOL: /)
    const gone = await until('queued tx expired', async () => {
      const x = await rpc('tx', { hash: t.hash })
      return /dropped from the mempool/.test(x.error?.message ?? '') ? x : false
    }, 60_000, 200)
    expect(gone.error.message).to.match(new RegExp(`tx \\(${t.hash}\\) not found: it was dropped from the mempool at height \\d+: TX_EXPIRED: tx waited 5 blocks in the queue for nonce ${pn} of ${carol.address}`))
    expect((await rpc('num_unconfirmed_txs', {})).result.total).to.equal('0')
    expect(node.log()).to.match(/queued tx expired/)
  })
})
