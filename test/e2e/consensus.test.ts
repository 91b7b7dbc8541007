// Validators in consensus, with real node processes on loopback: agreement under load, crashes,
// loss of quorum, a paused validator, a 2/2 split, a byzantine double-signer, and a late full node.
import { expect } from 'chai'
import { startTestnet, waitHeight, assertSameChain, type Testnet, type NetNode } from '../helpers/testnet.ts'
import { until } from '../helpers/procs.ts'
import { signTx } from '../../node/core/tx.ts'
import { toBase64 } from '../../node/core/crypto.ts'

async function maxHeight (nodes: NetNode[]): Promise<number> {
  return Math.max(...await Promise.all(nodes.map(async n => await n.height().catch(() => -1))))
}

/** Observes for `ms` that no node in `nodes` commits a block beyond `h` (a liveness halt is the point). */
async function assertNoProgress (nodes: NetNode[], ms: number): Promise<number> {
  const h = await maxHeight(nodes)
  await new Promise(resolve => setTimeout(resolve, ms)) // an observation window, not synchronisation
  expect(await maxHeight(nodes), 'no block may be committed without 2/3 of the power').to.equal(h)
  return h
}

describe('e2e: 4 validators in BFT consensus', function () {
  this.timeout(240_000)
  let net: Testnet
  const [v0, v1, v2, v3] = [0, 1, 2, 3]
  const node = (i: number): NetNode => net.validators[i]

  before(async () => { net = await startTestnet({ validators: 4, blockTimeMs: 100, emptyBlockMs: 300 }) })
  after(async () => { await net?.stopAll() })

  it('agree on every block hash and app_hash under a stream of transactions sent to every node', async () => {
    const alice = net.keyring.get('alice')
    const bob = net.keyring.get('bob')
    const hashes: string[] = []
    for (let n = 0; n < 60; n++) {
      const tx = signTx(n % 2 === 0 ? alice : bob, { chainId: net.chainId, nonce: Math.floor(n / 2), fee: 1000n, body: { type: 'transfer', to: n % 2 === 0 ? bob.address : alice.address, amount: 1000n } })
      // Each sender's txs go to one node in order (nonces); the two senders use different nodes.
      const r = await node(n % 2 === 0 ? v0 : v2).client.call('broadcast_tx_sync', { tx: toBase64(tx.bytes) })
      expect(r.code, r.log).to.equal(0)
      hashes.push(r.hash)
    }
    for (const h of hashes) await until(`tx ${h} on ${node(v3).name}`, async () => await node(v3).client.call('tx', { hash: h }).then(() => true, () => false), 60_000)
    const top = await maxHeight(net.validators)
    await waitHeight(net.validators, top, 30_000)
    await assertSameChain(net.validators, top)
    const a = await node(v1).client.account(alice.address)
    expect(a.nonce).to.equal('30')
  })

  it('keep committing when one validator is killed with SIGKILL; it restarts and catches up', async () => {
    await node(v3).stop('SIGKILL')
    const h = await maxHeight(net.validators.slice(0, 3))
    await waitHeight(net.validators.slice(0, 3), h + 5, 60_000)
    await node(v3).start()
    const target = await node(v0).height()
    await waitHeight([node(v3)], target, 60_000)
    await assertSameChain(net.validators, target)
  })

  it('commit nothing and never fork with two of four stopped; resume when one comes back', async () => {
    await Promise.all([node(v2).stop('SIGKILL'), node(v3).stop('SIGKILL')])
    const h = await assertNoProgress([node(v0), node(v1)], 5000)
    await node(v2).start()
    await waitHeight([node(v0), node(v1), node(v2)], h + 3, 60_000)
    await node(v3).start()
    const target = await node(v0).height()
    await waitHeight(net.validators, target, 60_000)
    await assertSameChain(net.validators, target)
  })

  it('a validator paused for 10 s (SIGSTOP) catches up after SIGCONT and votes again', async () => {
    const paused = node(v1)
    paused.proc!.child.kill('SIGSTOP')
    try {
      const h = await maxHeight([node(v0), node(v2), node(v3)])
      await new Promise(resolve => setTimeout(resolve, 10_000)) // the pause the scenario asks for
      expect(await node(v0).height()).to.be.greaterThan(h)
    } finally {
      paused.proc!.child.kill('SIGCONT')
    }
    const target = await node(v0).height()
    await waitHeight([paused], target, 60_000)
    // Its precommit appears in a later commit.
    const addr = (await paused.client.status()).validator_info.address
    await until(`${paused.name}'s precommit in a commit`, async () => {
      const c = await node(v0).client.call('commit', {})
      return c.signed_header.commit.signatures.some((s: any) => s.validator_address === addr && s.block_id_flag === 2)
    }, 60_000, 200)
    await assertSameChain(net.validators, target)
  })

  it('halt when split 2/2, then recover when the split heals', async () => {
    await Promise.all(net.validators.map(async n => await n.stop('SIGTERM')))
    await Promise.all([
      node(v0).start({ peers: [node(v1).multiaddr] }), node(v1).start({ peers: [node(v0).multiaddr] }),
      node(v2).start({ peers: [node(v3).multiaddr] }), node(v3).start({ peers: [node(v2).multiaddr] }),
    ])
    const h = await assertNoProgress(net.validators, 5000)
    // Heal: the second half restarts knowing every peer.
    await Promise.all([node(v2).stop(), node(v3).stop()])
    await Promise.all([node(v2).start(), node(v3).start()])
    await waitHeight(net.validators, h + 3, 60_000)
    const top = await maxHeight(net.validators)
    await waitHeight(net.validators, top, 30_000)
    await assertSameChain(net.validators, top)
  })
})

describe('e2e: a byzantine validator that signs two different prevotes', function () {
  this.timeout(180_000)
  let net: Testnet
  before(async () => {
    net = await startTestnet({ validators: 4, blockTimeMs: 100, emptyBlockMs: 300, start: false })
    await Promise.all(net.validators.map(async (n, i) => await n.start(i === 3 ? { env: { AITBC_TEST_BYZANTINE: 'double-prevote' } } : {})))
  })
  after(async () => { await net?.stopAll() })

  it('is caught: evidence lands in a block, its bond is slashed, and honest nodes never fork', async () => {
    const honest = net.validators.slice(0, 3)
    const byz = net.validators[3]
    const byzAddr = (await byz.client.status()).validator_info.address
    const slashed = await until('the byzantine validator slashed', async () => {
      const r = await honest[0].client.call('aitbc_validators', {})
      const v = r.validators.find(x => x.address === byzAddr)
      return v !== undefined && BigInt(v.slashed) > 0n ? v : undefined
    }, 90_000, 250)
    expect(BigInt(slashed.stake) + BigInt(slashed.slashed)).to.equal(1000_000000n)
    // Every slash in the chain's events takes slash_fraction (0.1) of the bond left, once per offence.
    const found = await honest[0].client.call('block_search', { query: `slash.validator='${byzAddr}'`, per_page: '100' })
    expect(Number(found.total_count)).to.be.greaterThan(0)
    let stake = 1000_000000n
    const offences = new Set<string>()
    const heights = found.blocks.map((b: any) => Number(b.block.header.height)).sort((a: number, b: number) => a - b)
    for (const h of heights) {
      const r = await honest[0].client.call('block_results', { height: String(h) })
      for (const e of r.finalize_block_events.filter((x: any) => x.type === 'slash')) {
        const attr = (k: string): string => e.attributes.find(a => a.key === k)!.value
        expect(attr('validator')).to.equal(byzAddr)
        expect(offences.has(attr('offence')), `offence ${attr('offence')} punished twice`).to.equal(false)
        offences.add(attr('offence'))
        const amount = BigInt(attr('amount'))
        expect(amount).to.equal(stake / 10n)
        stake -= amount
      }
    }
    const now = (await honest[0].client.call('aitbc_validators', {})).validators.find(x => x.address === byzAddr)!
    expect(BigInt(now.stake) <= stake, 'the bond only shrinks').to.equal(true)
    // Double signing also jails and tombstones: out of the set (two blocks after the slash), never back.
    expect(now.status).to.equal('tombstoned')
    await until('the double-signer out of the set', async () => !(await honest[0].client.call('validators', {})).validators.some(x => x.address === byzAddr), 30_000)
    const supply = await honest[0].client.call('aitbc_supply', {})
    expect(supply.invariant_holds).to.equal(true)
    expect(BigInt(supply.burned) > 0n, "burned > 0").to.equal(true)
    const top = await maxHeight(honest)
    await waitHeight(honest, top, 30_000)
    await assertSameChain(honest, top)
  })
})

describe('e2e: a full node that starts 500 blocks late', function () {
  this.timeout(300_000)
  let net: Testnet
  before(async () => { net = await startTestnet({ validators: 4, blockTimeMs: 10, emptyBlockMs: 10 }) })
  after(async () => { await net?.stopAll() })

  it('syncs to the head by block sync, verifying commits, and then follows the chain', async () => {
    await waitHeight(net.validators, 500, 240_000)
    const full = await net.addFullNode('full-0')
    await full.start()
    const target = await net.validators[0].height()
    await waitHeight([full], target, 120_000)
    await waitHeight([full], target + 10, 60_000)
    await assertSameChain([...net.validators, full], target + 10)
    const s = await full.client.status()
    expect(s.validator_info.voting_power).to.equal('0')
  })
})
