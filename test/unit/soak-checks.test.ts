// The soak run's checks against fake nodes (no processes): each one must notice what it is for —
// two nodes that disagree on a block or an app hash, a block missing below a node's height, a tx
// reported committed that is not in its block or that a node's `tx` lookup cannot find, and a
// supply reading that does not add up.
import { expect } from 'chai'
import { ChainChecker } from '../../scripts/soak/chainCheck.ts'
import { Member } from '../../scripts/soak/members.ts'
import { SupplyChecker } from '../../scripts/soak/supply.ts'
import { Violations, seededRandom } from '../../scripts/soak/util.ts'
import { RpcClientError, type BatchAnswer, type BatchCall } from '../../node/rpc/client.ts'
import type { NetNode } from '../helpers/testnet.ts'
import type { BlockMetaJSON, BlockResultJSON, SupplyResult } from '../../node/rpc/types.ts'
import { sha256, toHexUpper } from '../../node/core/crypto.ts'

interface FakeBlock { height: number, hash: string, app: string, parent: string, txs: Uint8Array[] }

function chain (n: number, tag = 'a'): FakeBlock[] {
  const out: FakeBlock[] = []
  for (let h = 1; h <= n; h++) {
    const txs = Array.from({ length: h % 3 }, (_, i) => new TextEncoder().encode(`${tag}-tx-${h}-${i}`))
    out.push({ height: h, hash: toHexUpper(sha256(new TextEncoder().encode(`block-${h}`))), app: `APP${h}`, parent: h === 1 ? '' : out[h - 2].hash, txs })
  }
  return out
}

const txHash = (t: Uint8Array): string => toHexUpper(sha256(t))

/** A node's RPC over a list of blocks: status, blockchain, block, tx, aitbc_supply. */
class FakeRpc {
  missingTx = new Set<string>()
  supply: SupplyResult = { height: '1', supply: '100', balances: '60', escrow: '0', bonded: '40', unbonding: '0', burned: '0', supply_aitbc: '0.0001', invariant_holds: true }
  constructor (public blocks: FakeBlock[]) {}

  async status (): Promise<unknown> { return { sync_info: { latest_block_height: String(this.blocks.length) } } }

  private meta (b: FakeBlock): BlockMetaJSON {
    return { block_id: { hash: b.hash, parts: { total: 1, hash: b.hash } }, block_size: '0', num_txs: String(b.txs.length), header: { height: String(b.height), app_hash: b.app, last_block_id: { hash: b.parent, parts: { total: 0, hash: '' } } } as unknown as BlockMetaJSON['header'] }
  }

  async call (method: string, p: any): Promise<unknown> {
    if (method === 'blockchain') {
      return { last_height: String(this.blocks.length), block_metas: this.blocks.filter(b => b.height >= Number(p.minHeight) && b.height <= Number(p.maxHeight)).reverse().map(b => this.meta(b)) }
    }
    if (method === 'block') {
      const b = this.blocks[Number(p.height) - 1]
      return { block_id: { hash: b.hash, parts: { total: 1, hash: b.hash } }, block: { data: { txs: b.txs.map(t => Buffer.from(t).toString('base64')) } } } as unknown as BlockResultJSON
    }
    if (method === 'tx') {
      for (const b of this.blocks) {
        const i = b.txs.findIndex(t => txHash(t) === p.hash)
        if (i >= 0 && !this.missingTx.has(p.hash)) return { hash: p.hash, height: String(b.height), index: i }
      }
      throw new RpcClientError(`tx (${String(p.hash)}) not found`, -32602)
    }
    if (method === 'aitbc_supply') return this.supply
    throw new Error(`fake: ${method}`)
  }

  async batchAll (calls: BatchCall[]): Promise<BatchAnswer[]> {
    return await Promise.all(calls.map(async c => await this.call(c.method, c.params).then(result => ({ ok: true as const, result }), (error: RpcClientError) => ({ ok: false as const, error }))))
  }
}

function member (i: number, rpc: FakeRpc): Member {
  const m = new Member(i, { name: `validator-${i}`, url: 'http://127.0.0.1:1', client: rpc } as unknown as NetNode)
  m.state = 'up'
  return m
}

function setup (...rpcs: FakeRpc[]): { members: Member[], violations: Violations, checker: ChainChecker } {
  const members = rpcs.map((r, i) => member(i, r))
  const violations = new Violations(Date.now())
  return { members, violations, checker: new ChainChecker(members, violations, seededRandom(1)) }
}

describe('soak checks (fake nodes)', () => {
  it('two nodes with the same chain: no violation, every tx counted, a reported tx found on both', async () => {
    const blocks = chain(45)
    const { members, violations, checker } = setup(new FakeRpc(blocks), new FakeRpc(blocks))
    for (const m of members) await checker.scan(m)
    expect(checker.top).to.equal(45)
    expect(checker.txsCommitted).to.equal(blocks.reduce((n, b) => n + b.txs.length, 0))
    checker.addReport(txHash(blocks[4].txs[1]), 5, 'broadcast_tx_commit on validator-0')
    for (const m of members) await checker.lookupPass(m, 3)
    expect(violations.list).to.deep.equal([])
    expect(checker.lookups).to.be.greaterThan(2)
  })

  it('a different app hash, or a different block, at one height is a fork', async () => {
    const a = chain(30)
    const b = chain(30).map(x => x.height === 12 ? { ...x, app: 'OTHER' } : x)
    const c = chain(30).map(x => x.height === 20 ? { ...x, hash: 'F'.repeat(64) } : x)
    const { members, violations, checker } = setup(new FakeRpc(a), new FakeRpc(b), new FakeRpc(c))
    for (const m of members) await checker.scan(m)
    const forks = violations.list.filter(v => v.kind === 'fork').map(v => v.message)
    expect(forks.some(f => /height 12: validator-1 .* app_hash OTHER/.test(f)), forks.join('\n')).to.equal(true)
    expect(forks.some(f => /height 20: validator-2 has block FFFF/.test(f)), forks.join('\n')).to.equal(true)
  })

  it('a block missing below the height a node reports is a lost block', async () => {
    const rpc = new FakeRpc(chain(10))
    const { members, violations, checker } = setup(rpc)
    rpc.blocks = rpc.blocks.filter(b => b.height !== 7)
    rpc.status = async () => ({ sync_info: { latest_block_height: '10' } })
    await checker.scan(members[0])
    expect(violations.list.map(v => v.kind)).to.include('lost-block')
  })

  it('a tx reported at a height whose block does not hold it, or that a node cannot find, is a lost tx', async () => {
    const blocks = chain(10)
    const second = new FakeRpc(blocks)
    const { members, violations, checker } = setup(new FakeRpc(blocks), second)
    for (const m of members) await checker.scan(m)
    checker.addReport('AB'.repeat(32), 4, 'broadcast_tx_commit on validator-0')
    const present = txHash(blocks[7].txs[0])
    second.missingTx.add(present)
    checker.addReport(present, 8, 'broadcast_tx_commit on validator-0')
    for (const m of members) await checker.lookupPass(m, 0)
    const lost = violations.list.filter(v => v.kind === 'lost-tx').map(v => v.message)
    expect(lost.some(l => /is not in block 4/.test(l)), lost.join('\n')).to.equal(true)
    expect(lost.some(l => l.includes(present) && /missing on validator-1/.test(l)), lost.join('\n')).to.equal(true)
    expect(lost).to.have.length(2)
  })

  it('the same tx reported at two heights is a violation', async () => {
    const blocks = chain(10)
    const { members, violations, checker } = setup(new FakeRpc(blocks))
    await checker.scan(members[0])
    const h = txHash(blocks[4].txs[0])
    checker.addReport(h, 5, 'a')
    checker.addReport(h, 6, 'b')
    expect(violations.list.map(v => v.kind)).to.deep.equal(['lost-tx'])
  })

  it('a supply reading off the genesis, burned tokens or a broken invariant are supply violations', async () => {
    const rpc = new FakeRpc(chain(1))
    const violations = new Violations(Date.now())
    const supply = new SupplyChecker({ ...rpc.supply }, violations)
    const m = member(0, rpc)
    await supply.checkNode(m)
    expect(violations.list).to.deep.equal([])
    rpc.supply = { ...rpc.supply, height: '2', balances: '50', burned: '10' }
    await supply.checkNode(m)
    rpc.supply = { ...rpc.supply, height: '3', balances: '61', burned: '0', invariant_holds: false }
    await supply.checkNode(m)
    const msgs = violations.list.map(v => v.message)
    expect(msgs[0]).to.match(/height 2: burned 10/)
    expect(msgs[1]).to.match(/height 3: invariant_holds false; .*= 101, supply 100/)
  })
})
