// One byzantine validator of four per attack, real processes on loopback (test/helpers/testnet.ts
// with AITBC_TEST_BYZANTINE, see node/consensus/byzantine.ts): in each test the three honest
// validators keep committing, and hold identical block hashes and app hashes at every height.
// Also the honest side of the oversized-block finding: a mempool filled far beyond what one block
// may carry still gets committed, block after block.
import { expect } from 'chai'
import { startTestnet, waitHeight, assertSameChain, type Testnet, type NetNode } from '../helpers/testnet.ts'
import { until } from '../helpers/procs.ts'
import { signTx } from '../../node/core/tx.ts'
import type { ByzantineMode } from '../../node/consensus/byzantine.ts'

const FEE = 1000n

async function height (n: NetNode): Promise<number> { return await n.height().catch(() => -1) }

/** Runs a 4-validator net with validator 3 byzantine, waits for `blocks` more blocks on the honest three, checks they agree. */
async function withByzantine (mode: ByzantineMode, blocks: number, check: (net: Testnet, honest: NetNode[]) => Promise<void>): Promise<void> {
  const net = await startTestnet({ validators: 4, blockTimeMs: 100, emptyBlockMs: 200, byzantine: { 3: mode } })
  try {
    const honest = net.validators.slice(0, 3)
    const start = Math.max(...await Promise.all(honest.map(height)))
    await waitHeight(honest, start + blocks, 90_000)
    const top = Math.min(...await Promise.all(honest.map(height)))
    await assertSameChain(honest, top)
    await check(net, honest)
    // The byzantine validator itself must still run: a crash would end its attack early and make the checks above pass for the wrong reason.
    const byz = net.validators[3]
    expect(byz.proc?.child.exitCode ?? null, `the byzantine validator exited: ${byz.log().slice(-2000)}`).to.equal(null)
    expect(await byz.height(), 'the byzantine validator still answers RPC').to.be.at.least(0)
  } finally {
    await net.stopAll()
  }
}

/** Addresses (upper hex) of the proposers of blocks 1..top as one node has them. */
async function proposers (n: NetNode, top: number): Promise<string[]> {
  const out: string[] = []
  for (let max = top; max >= 1; max -= 20) {
    const r = await n.client.call('blockchain', { minHeight: String(Math.max(1, max - 19)), maxHeight: String(max) })
    for (const m of r.block_metas) out.push(m.header.proposer_address)
  }
  return out
}

describe('e2e: one byzantine validator of four, per attack', function () {
  this.timeout(240_000)

  it('time-warp (proposals dated 61 s ahead): prevoted nil, never committed; block times stay near real time', async () => {
    await withByzantine('time-warp', 12, async (net, honest) => {
      const byz = (await net.validators[3].client.status()).validator_info.address
      const top = await height(honest[0])
      expect(await proposers(honest[0], top)).to.not.include(byz)
      const latest = (await honest[0].client.call('block', {})).block.header.time
      expect(Date.parse(latest)).to.be.below(Date.now() + 2000)
      expect(honest.some(n => /untimely proposal/.test(n.log())), 'an honest validator logged the untimely proposal').to.equal(true)
    })
  })

  it('oversized-proposal (blocks over max_block_bytes): refused as too large, never committed', async () => {
    await withByzantine('oversized-proposal', 12, async (net, honest) => {
      const byz = (await net.validators[3].client.status()).validator_info.address
      expect(await proposers(honest[0], await height(honest[0]))).to.not.include(byz)
      expect(honest.some(n => /max_block_bytes/.test(n.log()))).to.equal(true)
    })
  })

  it('lying-sync (claims 1000 blocks more, serves none): penalised, and consensus never pauses for it', async () => {
    await withByzantine('lying-sync', 10, async (net, honest) => {
      await until('an honest validator penalised the liar', () => honest.some(n => /does not serve what it claims/.test(n.log())), 20_000)
      // An honest validator that falls behind on a loaded machine may catch up from an honest peer; never from the liar.
      const liar = net.validators[3].multiaddr.split('/p2p/')[1]
      for (const n of honest) {
        const fromLiar = n.log().split('\n').filter(l => l.includes('caught up by block sync') && l.includes(liar))
        expect(fromLiar, `${n.name} synced from the liar`).to.deep.equal([])
      }
    })
  })

  it('future-flood (thousands of unsigned votes for the next height): rejected, not held, the flooder struck', async () => {
    await withByzantine('future-flood', 8, async (_net, honest) => {
      await until('the flooder struck or banned', () => honest.some(n => /banned|strike/i.test(n.log())), 20_000)
    })
  })

  it('gossip-replay (the same bad transactions over and over): struck and banned; the bad txs never enter a mempool', async () => {
    await withByzantine('gossip-replay', 8, async (_net, honest) => {
      await until('the replayer banned', () => honest.some(n => /banned/i.test(n.log())), 30_000)
      for (const n of honest) expect(Number((await n.client.call('num_unconfirmed_txs')).n_txs)).to.be.below(50)
    })
  })
})

describe('e2e: a mempool filled far beyond one block (honest validators)', function () {
  this.timeout(240_000)
  let net: Testnet
  before(async () => {
    // Transactions of about 60 KB: 100 of them are about 6 MB, twice what one block may carry.
    net = await startTestnet({ validators: 4, blockTimeMs: 200, emptyBlockMs: 500, keys: ['alice'], params: { max_prompt_bytes: 60_000, max_tx_bytes: 65_536, assign_timeout_s: 3600 } })
  })
  after(async () => { await net?.stopAll() })

  it('every tx is committed over several blocks, each block within max_block_bytes, and the nodes agree', async () => {
    const alice = net.keyring.get('alice')
    const v0 = net.validators[0]
    const txs = Array.from({ length: 100 }, (_, i) => signTx(alice, { chainId: net.chainId, nonce: i, fee: FEE, body: { type: 'submit_job', model: 'nobody-serves-this', prompt: String(i).padEnd(59_000, '.'), options: { temperature: null, numPredict: null, seed: null }, maxFee: 1_000_000n, maxPricePerSecond: null } }))
    for (const tx of txs) {
      const r = await v0.client.broadcastSync(tx.bytes)
      expect(r.code, r.log).to.equal(0)
    }
    await until('every tx committed', async () => {
      const a = await v0.client.account(alice.address)
      return Number(a.nonce) === txs.length
    }, 120_000, 250)
    const top = Math.min(...await Promise.all(net.validators.map(height)))
    await assertSameChain(net.validators, top)
    // No block went over the limit, and the txs took several blocks.
    let withTxs = 0
    for (let max = top; max >= 1; max -= 20) {
      const r = await v0.client.call('blockchain', { minHeight: String(Math.max(1, max - 19)), maxHeight: String(max) })
      for (const m of r.block_metas) {
        expect(Number(m.block_size)).to.be.at.most(3 * 1024 * 1024)
        if (Number(m.num_txs) > 0) withTxs++
      }
    }
    expect(withTxs).to.be.at.least(2)
  })
})
