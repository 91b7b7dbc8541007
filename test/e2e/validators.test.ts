// Validators by stake with real processes: a fifth node joins a running 4-validator network as a
// full node, bonds with `aitbc validator create`, enters the set and signs commits while load
// runs; it stops, is jailed after the (small) downtime window while the chain goes on, restarts,
// unjails and signs again; a sixth node started afterwards syncs across every set change from
// height 1. Same block hash and app hash at every height on every node; the supply invariant.
import { expect } from 'chai'
import { startTestnet, waitHeight, assertSameChain, type Testnet, type NetNode } from '../helpers/testnet.ts'
import { aitbc, until } from '../helpers/procs.ts'
import { homePaths, readKeyFile } from '../../node/config.ts'
import { addressBytesFromPubkey, toBase64, toHexUpper } from '../../node/core/crypto.ts'
import { signTx } from '../../node/core/tx.ts'

const PARAMS = { downtime_window: 20, downtime_max_missed: 14, jail_blocks: 5, min_validator_stake: '100000000', unbonding_blocks: 50 }

describe('e2e: validators by stake (join, jail, unjail, sync across set changes)', function () {
  this.timeout(300_000)
  let net: Testnet
  let joiner: NetNode
  let joinerId = ''
  let load: { stop: () => Promise<number> } | null = null

  before(async () => { net = await startTestnet({ validators: 4, blockTimeMs: 200, emptyBlockMs: 500, params: PARAMS }) })
  after(async () => { await load?.stop(); await net?.stopAll() })
  // On a failure, where every node stands and the end of its log (a CI run is read after the fact).
  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || net === undefined) return
    for (const n of net.nodes) {
      const h = await n.height().catch(() => -1)
      console.error(`--- ${n.name}: height ${h}, running ${n.proc !== null}\n${n.log().split('\n').slice(-25).join('\n')}`)
    }
    const vals = await v0().client.call('aitbc_validators', {}).catch(() => null)
    console.error(`--- aitbc_validators: ${JSON.stringify(vals?.validators?.map(v => [v.moniker, v.status, v.voting_power, v.missed_blocks]))}`)
  })

  const v0 = (): NetNode => net.validators[0]
  const cli = async (args: string[]): Promise<{ stdout: string, stderr: string, code: number }> => await aitbc([...args, '--node', v0().url], joiner.env)
  const status = async (n: NetNode, id: string): Promise<string | undefined> => (await n.client.call('aitbc_validators', {})).validators.find(v => v.address === id)?.status
  /** A committed height whose commit carries `id`'s precommit, at or after `from`. */
  const signedAfter = async (id: string, from: number): Promise<number> => await until(`a commit signed by ${id} after height ${from}`, async () => {
    const top = await v0().height()
    for (let h = Math.max(from, top - 5); h <= top; h++) {
      const c = await v0().client.call('commit', { height: String(h) })
      if (c.signed_header.commit.signatures.some((s: any) => s.validator_address === id && s.block_id_flag === 2)) return h
    }
    return false
  }, 90_000, 300)

  /** Transfers alice → carol from one node while the test runs (each sync answer before the next). */
  function startLoad (): { stop: () => Promise<number> } {
    const alice = net.keyring.get('alice')
    let stopped = false
    let sent = 0
    const run = (async () => {
      let nonce = Number((await v0().client.account(alice.address)).nonce)
      while (!stopped) {
        const tx = signTx(alice, { chainId: net.chainId, nonce, fee: 1000n, body: { type: 'transfer', to: net.keyring.get('bob').address, amount: 1000n } })
        const r = await net.validators[nonce % 3].client.call('broadcast_tx_sync', { tx: toBase64(tx.bytes) }).catch(() => null)
        if (r?.code === 0) { nonce++; sent++ }
        await new Promise(resolve => setTimeout(resolve, 50)) // pacing of the load, not synchronisation
      }
    })()
    return { stop: async () => { stopped = true; await run; return sent } }
  }

  it('a fifth node syncs as a full node, bonds with `aitbc validator create`, enters the set at H+2 and signs commits under load', async () => {
    load = startLoad()
    joiner = await net.addFullNode('validator-4')
    await joiner.start()
    await waitHeight([joiner], await v0().height(), 60_000)
    joinerId = toHexUpper(addressBytesFromPubkey(readKeyFile(homePaths(joiner.home).privKey).publicKey))
    const r = await cli(['validator', 'create', '--home', joiner.home, '--stake', '200', '--from', 'bob', '--moniker', 'joiner', '--wait', '--json'])
    expect(r.code, r.stderr + r.stdout).to.equal(0)
    const res = JSON.parse(r.stdout)
    expect(res.code).to.equal(0)
    const h = Number(res.height)
    // Not in the set of H+1; in the set of H+2 (validators?height), with power 200.
    const at1 = await v0().client.call('validators', { height: String(h + 1) })
    expect(at1.validators.map(v => v.address)).to.not.include(joinerId)
    await waitHeight([v0()], h + 2, 30_000)
    const at2 = await v0().client.call('validators', { height: String(h + 2) })
    expect(at2.validators.find(v => v.address === joinerId)?.voting_power).to.equal('200')
    const header1 = await v0().client.call('header', { height: String(h + 1) })
    const header2 = await v0().client.call('header', { height: String(h + 2) })
    expect(header1.header.next_validators_hash).to.equal(header2.header.validators_hash)
    expect(header1.header.validators_hash).to.not.equal(header1.header.next_validators_hash)
    await signedAfter(joinerId, h + 2) // the running node signs, with no restart
    expect(joiner.log()).to.match(/in the validator set: it signs from this height/)
    expect(await status(v0(), joinerId)).to.equal('bonded')
    const list = await cli(['validators'])
    expect(list.stdout).to.match(/joiner .* 200 .* bonded/)
  })

  it('stops, is jailed after the downtime window while the chain goes on, restarts, unjails and signs again', async () => {
    // The joiner holds 200 of 4,200: without it, three of the four others still hold more than
    // two thirds, so one slow validator on a loaded machine does not stall the chain it must jail on.
    await joiner.stop('SIGKILL')
    await until('the joiner jailed', async () => await status(v0(), joinerId) === 'jailed', 90_000, 300)
    const h = await v0().height()
    await waitHeight(net.validators, h + 5, 60_000) // the chain continues without it
    const vals = await v0().client.call('validators', {})
    expect(vals.validators.map(v => v.address)).to.not.include(joinerId)
    await joiner.start()
    await waitHeight([joiner], await v0().height(), 60_000)
    const u = await until('unjail accepted (after jail_blocks)', async () => {
      const r = await cli(['validator', 'unjail', '--from', 'bob', '--wait', '--json'])
      return r.code === 0 && JSON.parse(r.stdout).code === 0 ? JSON.parse(r.stdout) : false
    }, 90_000, 1000)
    // Unjailed at u.height, it is back in the set at u.height + 2; until then its status reads "unbonding".
    await until('the joiner bonded again', async () => await status(v0(), joinerId) === 'bonded', 30_000, 200)
    await signedAfter(joinerId, Number(u.height) + 2)
  })

  it('a sixth node started afterwards syncs across every set change from height 1: same hashes everywhere, supply invariant', async () => {
    const sent = await load?.stop()
    load = null
    expect(sent).to.be.greaterThan(10)
    const late = await net.addFullNode('late-full-node')
    await late.start()
    const top = await v0().height()
    const all = [...net.validators, joiner, late]
    await waitHeight(all, top, 120_000)
    await assertSameChain(all, top)
    const genesisSupply = (await v0().client.call('aitbc_supply', {})).supply
    for (const n of all) {
      const s = await n.client.call('aitbc_supply', {})
      expect(s.invariant_holds, n.name).to.equal(true)
      expect(s.supply, n.name).to.equal(genesisSupply)
    }
    // Every node knows the joiner's record alike (jail, slash, unjail).
    const recs = await Promise.all(all.map(async n => (await n.client.call('aitbc_validators', {})).validators.find(v => v.address === joinerId)))
    // (the same app hash at every height says the records agree; here: the jail's slash is there on each)
    expect(recs.map(r => r?.slashed), JSON.stringify(recs.map(r => [r?.status, r?.slashed, r?.missed_blocks]))).to.deep.equal(all.map(() => recs[0]?.slashed))
    expect(BigInt(recs[0]?.slashed ?? '0') > 0n, 'the downtime slash').to.equal(true)
  })
})
