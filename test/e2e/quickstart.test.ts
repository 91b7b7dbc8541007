import { expect } from 'chai'
import { startTestNode, aitbc, type TestNode } from '../helpers/procs.ts'

describe('e2e: the issue\'s quickstart sequence on a real node process', function () {
  this.timeout(60_000)
  let node: TestNode
  before(async () => { node = await startTestNode({ keys: ['alice', 'bob'], fund: { alice: '1000' } }) })
  after(async () => { await node?.stop() })

  it('transfers 12.5 AITBC from alice to bob and shows the balances', async () => {
    const args = ['--node', node.url]
    const t = await aitbc(['transfer', 'bob', '12.5', '--from', 'alice', '--wait', ...args], node.env)
    expect(t.code, t.stderr).to.equal(0)
    expect(t.stdout).to.match(/Committed at height \d+/)
    const b = await aitbc(['balance', 'bob', ...args], node.env)
    expect(b.stdout.trim()).to.equal('12.5 AITBC')
    const a = await aitbc(['balance', 'alice', '--json', ...args], node.env)
    const acct = JSON.parse(a.stdout)
    expect(acct.balance).to.equal((1000_000000n - 12_500000n - 1000n).toString())
    expect(acct.nonce).to.equal('1')
  })

  it('serves Prometheus metrics: height, block interval, txs per block, mempool, peers, RPC by method', async () => {
    const res = await fetch(`${node.url}/metrics`)
    expect(res.status).to.equal(200)
    const text = await res.text()
    const height = Number(/^aitbc_node_height (\d+)$/m.exec(text)?.[1])
    expect(height).to.be.greaterThan(0)
    for (const name of ['aitbc_node_block_interval_seconds_bucket', 'aitbc_node_block_txs_bucket', 'aitbc_node_mempool_txs', 'aitbc_node_mempool_bytes', 'aitbc_node_peers', 'aitbc_node_consensus_timeouts_total', 'aitbc_node_consensus_extra_rounds_total']) {
      expect(text, name).to.include(name)
    }
    expect(text).to.match(/aitbc_node_rpc_requests_total\{method="broadcast_tx_sync",outcome="ok"\} [1-9]/)
    expect(text).to.match(/aitbc_node_rpc_request_seconds_count\{method="aitbc_account"\} [1-9]/)
  })

  it('refuses a transfer it cannot pay, with the node\'s reason and a non-zero exit', async () => {
    const t = await aitbc(['transfer', 'alice', '50', '--from', 'bob', '--node', node.url], node.env)
    expect(t.code).to.not.equal(0)
    expect(t.stderr).to.match(/INSUFFICIENT_FUNDS/)
  })
})
