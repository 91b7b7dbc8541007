// An unmodified CometBFT client (Comet38Client of @cosmjs/tendermint-rpc) against a real node
// process: every query it implements, real signed transfers, and WebSocket subscriptions.
import { expect } from 'chai'
import { Comet38Client, connectComet, isComet38Client } from '@cosmjs/tendermint-rpc'
import { startTestNode, until, type TestNode } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { signTx, type Tx } from '../../node/core/tx.ts'
import { SigningKey, sha256, toHexUpper } from '../../node/core/crypto.ts'
import { randomSeed } from '../../node/config.ts'

const CHAIN_ID = 'aitbc-test'
const FEE = 1000n

const hex = (b: Uint8Array): string => toHexUpper(b)
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

interface Listenable<T> { subscribe: (l: { next: (v: T) => void, error: (e: unknown) => void, complete: () => void }) => { unsubscribe: () => void } }

/** The first event of a stream that satisfies `pred`, with a deadline; the caller unsubscribes (which sends unsubscribe). */
async function firstEvent<T> (stream: Listenable<T>, what: string, pred: (v: T) => boolean = () => true, timeoutMs = 15_000): Promise<{ value: T, sub: { unsubscribe: () => void } }> {
  return await new Promise((resolve, reject) => {
    let done = false
    let sub: { unsubscribe: () => void } | undefined
    const timer = setTimeout(() => { if (!done) { done = true; sub?.unsubscribe(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)) } }, timeoutMs)
    sub = stream.subscribe({
      next: (v) => {
        if (done || !pred(v)) return
        done = true
        clearTimeout(timer)
        // Keep the subscription for the caller to close (closing sends unsubscribe).
        queueMicrotask(() => resolve({ value: v, sub: sub as { unsubscribe: () => void } }))
      },
      error: (e) => { if (!done) { done = true; clearTimeout(timer); reject(e instanceof Error ? e : new Error(String(e))) } },
      complete: () => { if (!done) { done = true; clearTimeout(timer); reject(new Error(`${what}: the stream completed`)) } },
    })
  })
}

describe('e2e: Comet38Client (@cosmjs/tendermint-rpc) against a real node', function () {
  this.timeout(60_000)
  let node: TestNode
  let client: Comet38Client
  let alice: SigningKey
  let bob: SigningKey
  let nonce = 0
  /** A transfer committed by broadcast_tx_commit in `before`, the anchor of the queries. */
  let anchor: { tx: Tx, height: number }

  /** A transfer signed by alice with her next nonce (all of her txs in this file go through here). */
  const transfer = (to: string, amount: bigint): Tx => signTx(alice, { chainId: CHAIN_ID, nonce: nonce++, fee: FEE, body: { type: 'transfer', to, amount } })

  before(async () => {
    node = await startTestNode()
    const kr = new Keyring(node.aitbcHome)
    alice = kr.get('alice')
    bob = kr.get('bob')
    nonce = Number((await node.client.account(alice.address)).nonce)
    // The anchor goes in a block above 1, so that it has a parent block with a commit.
    await until('block 1', async () => Number((await node.client.status()).sync_info.latest_block_height) >= 1)
    client = await Comet38Client.connect(node.url)
    const tx = transfer(bob.address, 5_000_000n)
    const r = await client.broadcastTxCommit({ tx: tx.bytes })
    expect(r.checkTx.code, r.checkTx.log).to.equal(0)
    expect(r.txResult?.code, r.txResult?.log).to.equal(0)
    anchor = { tx, height: r.height }
  })
  after(async () => {
    client?.disconnect()
    await node?.stop()
  })

  it('health answers', async () => {
    expect(await client.health()).to.equal(null)
  })

  it('status: node info, sync info at the node\'s head, the validator', async () => {
    const s = await client.status()
    const raw = await node.client.status()
    expect(s.nodeInfo.network).to.equal(CHAIN_ID)
    expect(s.nodeInfo.version).to.match(/^0\.38\.\d+$/)
    expect(hex(s.nodeInfo.id)).to.equal(String(raw.node_info.id).toUpperCase())
    expect(s.syncInfo.catchingUp).to.equal(false)
    expect(s.syncInfo.latestBlockHeight).to.be.at.least(anchor.height)
    expect(s.syncInfo.earliestBlockHeight).to.equal(1)
    // The hash the status names is the hash of the block at that height.
    const b = await client.block(s.syncInfo.latestBlockHeight)
    expect(hex(s.syncInfo.latestBlockHash)).to.equal(hex(b.blockId.hash))
    expect(hex(s.syncInfo.latestAppHash)).to.have.length(64)
    expect(s.validatorInfo.votingPower > 0n).to.equal(true)
    const vals = await client.validators({})
    expect(hex(s.validatorInfo.address)).to.equal(hex(vals.validators[0].address))
  })

  it('connectComet picks Comet38Client (node_info.version 0.38.x)', async () => {
    const c = await connectComet(node.url)
    try {
      expect(isComet38Client(c)).to.equal(true)
      expect(c).to.be.instanceOf(Comet38Client)
      const s = await c.status()
      expect(s.nodeInfo.version.startsWith('0.38.')).to.equal(true)
    } finally { c.disconnect() }
  })

  it('block: the anchor tx is in the block at its height; header links to the previous block', async () => {
    const b = await client.block(anchor.height)
    expect(b.block.header.height).to.equal(anchor.height)
    expect(b.block.header.chainId).to.equal(CHAIN_ID)
    expect(b.block.txs.map(hex)).to.include(hex(anchor.tx.bytes))
    expect(hex(b.block.header.dataHash)).to.have.length(64)
    const prev = await client.block(anchor.height - 1)
    expect(prev.block.header.height).to.equal(anchor.height - 1)
    // As in CometBFT, the header's last_block_id and the last commit's block_id are the previous
    // block's block_id, part-set header included.
    expect(b.block.header.lastBlockId).to.deep.equal(prev.blockId)
    expect(b.block.lastCommit?.height).to.equal(anchor.height - 1)
    expect(b.block.lastCommit?.blockId).to.deep.equal(prev.blockId)
    // The proposer is the (only) validator.
    const vals = await client.validators({})
    expect(hex(b.block.header.proposerAddress)).to.equal(hex(vals.validators[0].address))
    // The latest block (no height) is at least the anchor's.
    const latest = await client.block()
    expect(latest.block.header.height).to.be.at.least(anchor.height)
  })

  it('blockchain: metas of a range, newest first, with the same ids and tx counts as block', async () => {
    const r = await client.blockchain(anchor.height - 1, anchor.height)
    expect(r.lastHeight).to.be.at.least(anchor.height)
    expect(r.blockMetas.map(m => m.header.height)).to.deep.equal([anchor.height, anchor.height - 1])
    const b = await client.block(anchor.height)
    const meta = r.blockMetas[0]
    expect(hex(meta.blockId.hash)).to.equal(hex(b.blockId.hash))
    expect(meta.numTxs).to.equal(b.block.txs.length)
    expect(meta.blockSize).to.be.greaterThan(0)
  })

  it('block_results: code 0 and a transfer event naming the recipient', async () => {
    const r = await client.blockResults(anchor.height)
    expect(r.height).to.equal(anchor.height)
    const b = await client.block(anchor.height)
    expect(r.results).to.have.length(b.block.txs.length)
    const i = b.block.txs.findIndex(t => hex(t) === hex(anchor.tx.bytes))
    const res = r.results[i]
    expect(res.code).to.equal(0)
    const tr = res.events.find(e => e.type === 'transfer')
    expect(tr, 'transfer event').to.not.equal(undefined)
    expect(tr?.attributes).to.deep.include({ key: 'recipient', value: bob.address })
    expect(tr?.attributes).to.deep.include({ key: 'amount', value: '5000000' })
    expect(r.validatorUpdates).to.deep.equal([])
    // Fields the client does not decode follow CometBFT's JSON too: app_hash is []byte, so base64.
    const raw = await node.client.call('block_results', { height: String(anchor.height) })
    expect(raw.app_hash).to.equal(b64(b.block.header.appHash))
  })

  it('block_search by block.height finds that block', async () => {
    const r = await client.blockSearch({ query: `block.height=${anchor.height}` })
    expect(r.totalCount).to.equal(1)
    const b = await client.block(anchor.height)
    expect(r.blocks[0].blockId).to.deep.equal(b.blockId)
    expect(r.blocks[0].block.txs.map(hex)).to.deep.equal(b.block.txs.map(hex))
  })

  it('validators: the genesis validator set at a height', async () => {
    const g = await client.genesis()
    const v = await client.validators({ height: anchor.height })
    expect(v.blockHeight).to.equal(anchor.height)
    expect(v.total).to.equal(g.validators.length)
    expect(v.count).to.equal(v.validators.length)
    expect(v.validators.map(x => hex(x.address))).to.deep.equal(g.validators.map(x => hex(x.address)))
    expect(v.validators[0].pubkey?.algorithm).to.equal('ed25519')
    const all = await client.validatorsAll()
    expect(all.validators).to.have.length(v.validators.length)
  })

  it('tx by hash: height, index, bytes and result as committed', async () => {
    const r = await client.tx({ hash: sha256(anchor.tx.bytes) })
    expect(hex(r.hash)).to.equal(anchor.tx.hash)
    expect(r.height).to.equal(anchor.height)
    expect(hex(r.tx)).to.equal(hex(anchor.tx.bytes))
    expect(r.result.code).to.equal(0)
    expect(r.result.events.some(e => e.type === 'transfer' && e.attributes.some(a => a.key === 'recipient' && a.value === bob.address))).to.equal(true)
    const b = await client.block(anchor.height)
    expect(hex(b.block.txs[r.index])).to.equal(hex(anchor.tx.bytes))
    // With a proof
    const p = await client.tx({ hash: sha256(anchor.tx.bytes), prove: true })
    expect(hex(p.proof?.rootHash ?? new Uint8Array(0))).to.equal(hex(b.block.header.dataHash))
    expect(hex(p.proof?.data ?? new Uint8Array(0))).to.equal(hex(anchor.tx.bytes))
  })

  it('tx of an unknown hash is an error naming the hash', async () => {
    const h = sha256(Buffer.from('no such tx'))
    let err: Error | undefined
    try { await client.tx({ hash: h }) } catch (e) { err = e as Error }
    expect(err?.message).to.contain(hex(h)).and.to.contain('not found')
  })

  it('tx_search by transfer.recipient and by tx.height', async () => {
    const byRecipient = await client.txSearch({ query: `transfer.recipient='${bob.address}'` })
    expect(byRecipient.totalCount).to.be.at.least(1)
    expect(byRecipient.txs.map(t => hex(t.hash))).to.include(anchor.tx.hash)
    for (const t of byRecipient.txs) {
      expect(t.result.code).to.equal(0)
      expect(t.result.events.some(e => e.type === 'transfer' && e.attributes.some(a => a.key === 'recipient' && a.value === bob.address))).to.equal(true)
    }
    const byHeight = await client.txSearch({ query: `tx.height=${anchor.height}` })
    const b = await client.block(anchor.height)
    expect(byHeight.totalCount).to.equal(b.block.txs.length)
    expect(byHeight.txs.map(t => hex(t.tx))).to.deep.equal(b.block.txs.map(hex))
    for (const t of byHeight.txs) expect(t.height).to.equal(anchor.height)
    const both = await client.txSearchAll({ query: `tx.height=${anchor.height} AND transfer.recipient='${bob.address}'` })
    expect(both.txs.map(t => hex(t.hash))).to.deep.equal([anchor.tx.hash])
    const none = await client.txSearch({ query: `transfer.recipient='${new SigningKey(randomSeed()).address}'` })
    expect(none.totalCount).to.equal(0)
    expect(none.txs).to.deep.equal([])
  })

  it('broadcastTxSync: accepted with code 0 and the tx hash, then committed', async () => {
    const carol = new SigningKey(randomSeed()).address
    const tx = transfer(carol, 1_234_567n)
    const r = await client.broadcastTxSync({ tx: tx.bytes })
    expect(r.code, r.log).to.equal(0)
    expect(hex(r.hash)).to.equal(tx.hash)
    const committed = await until('the synced tx in a block', async () => await client.tx({ hash: r.hash }).catch(() => undefined))
    expect(committed.result.code).to.equal(0)
    const acct = await node.client.account(carol)
    expect(acct.balance).to.equal('1234567')
  })

  it('broadcastTxCommit: height, hash, check_tx and tx_result of the block', async () => {
    const carol = new SigningKey(randomSeed()).address
    const tx = transfer(carol, 42n)
    const r = await client.broadcastTxCommit({ tx: tx.bytes })
    expect(hex(r.hash)).to.equal(tx.hash)
    expect(r.checkTx.code).to.equal(0)
    expect(r.txResult?.code).to.equal(0)
    expect(r.height).to.be.greaterThan(anchor.height)
    expect(r.txResult?.events.find(e => e.type === 'transfer')?.attributes).to.deep.include({ key: 'recipient', value: carol })
    const t = await client.tx({ hash: r.hash })
    expect(t.height).to.equal(r.height)
    // A refused tx (its nonce was just used) answers with the check_tx code, height 0.
    const again = signTx(alice, { chainId: CHAIN_ID, nonce: nonce - 1, fee: FEE, body: { type: 'transfer', to: carol, amount: 1n } })
    const refused = await client.broadcastTxCommit({ tx: again.bytes })
    expect(refused.checkTx.code).to.equal(6) // NONCE_USED
    expect(refused.checkTx.log).to.match(/NONCE_USED/)
    expect(refused.height).to.equal(0)
  })

  it('numUnconfirmedTxs counts the mempool and drains to 0', async () => {
    const carol = new SigningKey(randomSeed()).address
    const txs = [transfer(carol, 1n), transfer(carol, 2n), transfer(carol, 3n)]
    for (const tx of txs) expect((await client.broadcastTxSync({ tx: tx.bytes })).code).to.equal(0)
    const n = await client.numUnconfirmedTxs()
    expect(n.total).to.be.within(0, 3) // the producer may already have taken some
    if (n.total === 0) expect(n.totalBytes).to.equal(0)
    else expect(n.totalBytes).to.be.at.least(n.total * 100)
    await until('the mempool drained', async () => (await client.numUnconfirmedTxs()).total === 0)
    const drained = await client.numUnconfirmedTxs()
    expect(drained.totalBytes).to.equal(0)
    expect((await node.client.account(carol)).balance).to.equal('6')
  })

  it('commit: the signed header of a height, signed by the validator', async () => {
    const c = await client.commit(anchor.height)
    const b = await client.block(anchor.height)
    expect(c.canonical).to.equal(true)
    expect(c.header.height).to.equal(anchor.height)
    expect(c.commit.height).to.equal(anchor.height)
    expect(c.commit.blockId).to.deep.equal(b.blockId)
    expect(hex(c.header.appHash)).to.equal(hex(b.block.header.appHash))
    const vals = await client.validators({})
    expect(c.commit.signatures).to.have.length(1)
    expect(hex(c.commit.signatures[0].validatorAddress ?? new Uint8Array(0))).to.equal(hex(vals.validators[0].address))
    expect(c.commit.signatures[0].signature?.length).to.equal(64)
    // The next block's last_commit is this commit.
    const next = await client.block(anchor.height + 1)
    expect(next.block.lastCommit?.blockId).to.deep.equal(b.blockId)
    expect(next.block.lastCommit?.signatures.map(x => hex(x.signature ?? new Uint8Array(0)))).to.deep.equal(c.commit.signatures.map(x => hex(x.signature ?? new Uint8Array(0))))
  })

  it('genesis: chain id, validators and the funded accounts', async () => {
    const g = await client.genesis()
    expect(g.chainId).to.equal(CHAIN_ID)
    expect(g.validators).to.have.length(1)
    expect(g.genesisTime.getTime()).to.be.greaterThan(0)
    const accounts = (g.appState as any).accounts as Array<{ address: string, balance: string }>
    expect(accounts.find(a => a.address === alice.address)?.balance).to.equal('1000000000')
    expect((g.appState as any).params.min_fee).to.equal('1000')
  })

  it('abciInfo: the last height and app hash agree with block', async () => {
    const i = await client.abciInfo()
    expect(i.data).to.equal('aitbc')
    const h = i.lastBlockHeight as number
    expect(h).to.be.at.least(anchor.height)
    const b = await client.block(h)
    // AITBC's header of block h carries the app hash after h (CometBFT's carries the one after
    // h-1); abci_info's last_block_app_hash must be the one in the header of last_block_height.
    expect(hex(i.lastBlockAppHash ?? new Uint8Array(0))).to.equal(hex(b.block.header.appHash))
  })

  it('abciQuery /account/<address>: the same balance and nonce as aitbc_account', async () => {
    const r = await client.abciQuery({ path: `/account/${alice.address}`, data: new Uint8Array(0) })
    expect(r.code).to.equal(0)
    const v = JSON.parse(Buffer.from(r.value).toString('utf8'))
    const a = await node.client.account(alice.address)
    expect(v.address).to.equal(alice.address)
    expect(v.balance).to.equal(a.balance)
    expect(v.nonce).to.equal(a.nonce)
    expect(Buffer.from(r.key).toString('utf8')).to.equal(`/account/${alice.address}`)
    const missing = await client.abciQuery({ path: '/job/job_0000000000000000', data: new Uint8Array(0) })
    expect(missing.code).to.not.equal(0)
    expect(missing.log).to.match(/not found/)
    expect(missing.value).to.have.length(0)
  })

  describe('over WebSocket', () => {
    let ws: Comet38Client
    before(async () => {
      ws = await Comet38Client.connect(node.url.replace(/^http/, 'ws'))
      // @cosmjs/socket 0.39's QueueingStreamingSocket sets isProcessingQueue when the socket opens
      // and clears it only after sending a queued request: if the queue is empty at that moment,
      // no later request is ever sent. Queue the first request in this same tick, before the
      // socket can open (a client-side bug, not the server's).
      await ws.health()
    })
    after(() => { ws?.disconnect() })

    it('answers queries as HTTP does', async () => {
      const s = await ws.status()
      expect(s.nodeInfo.network).to.equal(CHAIN_ID)
      const b = await ws.block(anchor.height)
      expect(b.block.txs.map(hex)).to.include(hex(anchor.tx.bytes))
    })

    it('subscribeNewBlock delivers new blocks that block() confirms', async () => {
      const before = (await client.status()).syncInfo.latestBlockHeight
      const { value: ev, sub } = await firstEvent(ws.subscribeNewBlock(), 'a NewBlock event above the head', b => b.header.height > before)
      sub.unsubscribe()
      expect(ev.header.chainId).to.equal(CHAIN_ID)
      const b = await client.block(ev.header.height)
      expect(hex(b.block.header.appHash)).to.equal(hex(ev.header.appHash))
      expect(hex(b.block.header.lastBlockId?.hash ?? new Uint8Array(0))).to.equal(hex(ev.header.lastBlockId?.hash ?? new Uint8Array(0)))
      expect(ev.txs.map(hex)).to.deep.equal(b.block.txs.map(hex))
    })

    it('subscribeNewBlockHeader delivers headers equal to the blocks\' headers', async () => {
      const before = (await client.status()).syncInfo.latestBlockHeight
      const { value: h, sub } = await firstEvent(ws.subscribeNewBlockHeader(), 'a NewBlockHeader event above the head', x => x.height > before)
      sub.unsubscribe()
      const b = await client.block(h.height)
      expect(h).to.deep.equal(b.block.header)
    })

    it('subscribeTx with a transfer.recipient query receives the broadcast tx', async () => {
      const carol = new SigningKey(randomSeed()).address
      const stream = ws.subscribeTx(`transfer.recipient='${carol}'`)
      const got = firstEvent(stream, `a Tx event for ${carol}`)
      // The subscription is registered once a NewBlock event (subscribed after it on the same
      // connection) arrives: the server handles a connection's requests in order.
      const { sub: nb } = await firstEvent(ws.subscribeNewBlock(), 'a NewBlock event (subscription barrier)')
      nb.unsubscribe()
      const other = transfer(bob.address, 1n)
      const tx = transfer(carol, 777n)
      expect((await client.broadcastTxSync({ tx: other.bytes })).code).to.equal(0)
      expect((await client.broadcastTxSync({ tx: tx.bytes })).code).to.equal(0)
      const { value: ev, sub } = await got
      sub.unsubscribe()
      expect(hex(ev.hash)).to.equal(tx.hash)
      expect(hex(ev.tx)).to.equal(hex(tx.bytes))
      expect(ev.result.code).to.equal(0)
      expect(ev.result.events.find(e => e.type === 'transfer')?.attributes).to.deep.include({ key: 'recipient', value: carol })
      const t = await client.tx({ hash: ev.hash })
      expect(t.height).to.equal(ev.height)
      expect(b64(t.tx)).to.equal(b64(tx.bytes))
    })
  })
})
