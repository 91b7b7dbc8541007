// Crash safety on a real node process (one atomic batch per block): transactions stream in from several
// senders while the node is killed with SIGKILL at different moments (right after a commit was
// answered, while the mempool waits for the next block, right after the validator persisted its
// proposal or its precommit signature, as LevelDB appends a block's batch to its log, and while the
// node is still starting up). After
// each restart every transaction the node reported committed must still be there at the same
// height, the chain must link and keep growing, and the supply must add up.
import { expect } from 'chai'
import { readSignState } from '../../node/chain/privval.ts'
import { watch, type FSWatcher } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, until, type TestNode } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { signTx } from '../../node/core/tx.ts'
import { addressFromPubkey, type SigningKey } from '../../node/core/crypto.ts'
import { NodeClient, RpcNetworkError } from '../../node/rpc/client.ts'

const CHAIN_ID = 'aitbc-test'
const SENDERS = ['s0', 's1', 's2', 's3']
const PROBE = 'probe'
const FUNDED = [...SENDERS, PROBE]
const FEE = 1000n
const AMOUNT = 1234n
const BLOCK_TIME_MS = 100

interface Recorded { hash: string, height: number, sender: string, nonce: number }
interface BlockSeen { hash: string, appHash: string }

describe('e2e: SIGKILL during a transaction stream, then restart', function () {
  this.timeout(180_000)
  let node: TestNode
  let keys: Map<string, SigningKey>
  let validatorAddress: string
  let genesisSupply: bigint
  let genesisBonded: string
  let stopping = false // ends the senders' loops (also when the test fails half-way)

  before(async () => {
    node = await startTestNode({ keys: FUNDED, blockTimeMs: BLOCK_TIME_MS, emptyBlockMs: 300 })
    const kr = new Keyring(node.aitbcHome)
    keys = new Map(FUNDED.map(k => [k, kr.get(k)]))
    const status = await node.client.status()
    validatorAddress = addressFromPubkey(new Uint8Array(Buffer.from(status.validator_info.pub_key.value, 'base64')))
    const g = await node.client.call('aitbc_supply')
    genesisSupply = BigInt(g.supply)
    genesisBonded = String(g.bonded)
    expect(BigInt(genesisBonded) > 0n, 'the genesis validator bonds a self-stake').to.equal(true)
  })
  after(async () => { stopping = true; await node?.stop() })

  it('keeps every committed tx, links every block, keeps producing and keeps the supply, across 7 kills', async () => {
    const recorded: Recorded[] = []
    const unexpected: string[] = []
    const blocksSeen = new Map<number, BlockSeen>()
    let countWaiter: { target: number, resolve: () => void } | null = null

    const record = (r: Recorded): void => {
      recorded.push(r)
      if (countWaiter !== null && recorded.length >= countWaiter.target) { const w = countWaiter; countWaiter = null; w.resolve() }
    }
    /** Resolves synchronously from the sender that records the n-th committed tx. */
    const committedCount = async (n: number): Promise<void> => {
      if (recorded.length >= n) return
      await new Promise<void>(resolve => { countWaiter = { target: n, resolve } })
    }

    // ---- the stream: each sender signs consecutive nonces and waits for each commit ----
    const sender = async (name: string, to: string): Promise<void> => {
      const key = keys.get(name) as SigningKey
      const client = new NodeClient(node.url, { retries: 0, timeoutMs: 30_000 })
      let nonce: number | null = null
      while (!stopping) {
        try {
          if (nonce === null) nonce = Number((await client.account(key.address)).pending_nonce)
          const tx = signTx(key, { chainId: CHAIN_ID, nonce, fee: FEE, body: { type: 'transfer', to, amount: AMOUNT } })
          const res = await client.broadcastCommit(tx.bytes)
          if (res.check_tx.code !== 0) {
            // Expected only right after a restart (a tx lost with the old mempool, or committed without our seeing the answer).
            if (!/NONCE|ALREADY_COMMITTED/i.test(String(res.check_tx.log))) unexpected.push(`${name} nonce ${nonce}: check_tx ${res.check_tx.code} ${res.check_tx.log}`)
            nonce = null
            continue
          }
          if (res.height === '0' || res.tx_result.code !== 0) {
            unexpected.push(`${name} nonce ${nonce}: not committed: height ${res.height} code ${res.tx_result.code} ${res.tx_result.log}`)
            nonce = null
            continue
          }
          expect(res.hash).to.equal(tx.hash)
          record({ hash: tx.hash, height: Number(res.height), sender: name, nonce })
          nonce++
        } catch (e) {
          if (!(e instanceof RpcNetworkError)) {
            // e.g. the connection reset in the middle of an answer, or a broadcast_tx_commit timeout around a kill
            if (!/timed out|fetch failed|terminated|socket|non-JSON/i.test((e as Error).message)) unexpected.push(`${name}: ${(e as Error).message}`)
          }
          nonce = null
          // The node is down (killed) or restarting: wait until it answers again.
          await until(`node back for ${name}`, async () => stopping || await client.call('health').then(() => true, () => false), 60_000, 20).catch(() => {})
        }
      }
    }
    const senders = SENDERS.map((s, i) => sender(s, keys.get(SENDERS[(i + 1) % SENDERS.length])!.address))

    // ---- checks after each restart ----
    const blockMetas = async (lo: number, hi: number): Promise<Map<number, any>> => {
      const out = new Map<number, any>()
      for (let max = hi; max >= lo; max -= 20) {
        const min = Math.max(lo, max - 19)
        const r = await node.client.call('blockchain', { minHeight: String(min), maxHeight: String(max) })
        for (const m of r.block_metas) out.set(Number(m.header.height), m)
      }
      return out
    }

    const verify = async (label: string, before: { height: number, appHash: string }): Promise<void> => {
      const status = await node.client.status()
      const height = Number(status.sync_info.latest_block_height)
      const maxRecorded = recorded.reduce((m, r) => Math.max(m, r.height), 0)
      expect(height, `${label}: height after restart`).to.be.at.least(maxRecorded)
      expect(height, `${label}: height after restart`).to.be.at.least(before.height)

      // every tx the node said was committed is still there, at the same height, with code 0
      const snapshot = recorded.slice()
      for (let i = 0; i < snapshot.length; i += 25) {
        await Promise.all(snapshot.slice(i, i + 25).map(async r => {
          const t = await node.client.call('tx', { hash: r.hash })
          expect(t.hash, `${label}: tx ${r.hash}`).to.equal(r.hash)
          expect(Number(t.height), `${label}: height of tx ${r.hash} (${r.sender} nonce ${r.nonce})`).to.equal(r.height)
          expect(t.tx_result.code, `${label}: code of tx ${r.hash}`).to.equal(0)
        }))
      }

      // every block links to the one before; app hashes are present; nothing seen before changed
      const metas = await blockMetas(1, height)
      for (let h = 1; h <= height; h++) {
        const m = metas.get(h)
        expect(m, `${label}: block ${h} missing`).to.not.equal(undefined)
        const hdr = m.header
        expect(hdr.app_hash, `${label}: app_hash of block ${h}`).to.match(/^[0-9A-F]{64}$/)
        if (h === 1) expect(hdr.last_block_id.hash).to.equal('')
        else expect(hdr.last_block_id.hash, `${label}: block ${h} last_block_id`).to.equal(metas.get(h - 1).block_id.hash)
        const seen = blocksSeen.get(h)
        if (seen !== undefined) {
          expect(m.block_id.hash, `${label}: hash of block ${h} changed across the restart`).to.equal(seen.hash)
          expect(hdr.app_hash, `${label}: app_hash of block ${h} changed across the restart`).to.equal(seen.appHash)
        }
        blocksSeen.set(h, { hash: m.block_id.hash, appHash: hdr.app_hash })
      }
      if (before.height > 0) {
        expect(blocksSeen.get(before.height)?.appHash, `${label}: app_hash at the height seen before the kill`).to.equal(before.appHash)
      }
      // the loaded state's app hash is the latest block's
      const s2 = await node.client.status()
      const b = await node.client.call('block', { height: s2.sync_info.latest_block_height })
      expect(s2.sync_info.latest_app_hash).to.equal(b.block.header.app_hash)

      // the producer goes on: the probe's next nonce is committed in a new block
      const probe = keys.get(PROBE) as SigningKey
      const nonce = Number((await node.client.account(probe.address)).nonce)
      const ptx = signTx(probe, { chainId: CHAIN_ID, nonce, fee: FEE, body: { type: 'transfer', to: keys.get('s0')!.address, amount: AMOUNT } })
      const pres = await node.client.broadcastCommit(ptx.bytes)
      expect(pres.check_tx.code, `${label}: probe check_tx ${pres.check_tx.log}`).to.equal(0)
      expect(pres.tx_result.code, `${label}: probe tx_result ${pres.tx_result.log}`).to.equal(0)
      expect(Number(pres.height), `${label}: probe height`).to.be.greaterThan(height)

      await verifySupply(label)
    }

    /** The supply invariant, and supply = the sum of every account's balance (no jobs or miners here). Needs a quiet chain. */
    const verifySupply = async (label: string): Promise<void> => {
      // Accounts and totals must be read at one height: retry until no block came in between.
      await until(`${label}: a consistent supply reading`, async () => {
        const s = await node.client.call('aitbc_supply')
        const accounts = await Promise.all([...FUNDED.map(k => keys.get(k)!.address), validatorAddress].map(async a => await node.client.account(a)))
        const s2 = await node.client.call('aitbc_supply')
        if (s.height !== s2.height) return false
        expect(s.invariant_holds, `${label}: invariant`).to.equal(true)
        expect(BigInt(s.supply), `${label}: supply`).to.equal(genesisSupply)
        expect(s.escrow).to.equal('0')
        // The validator's self-bond (validators by stake) is the only stake: nothing bonds or unbonds here.
        expect(s.bonded, `${label}: bonded`).to.equal(genesisBonded)
        expect(s.unbonding).to.equal('0')
        const sum = accounts.reduce((acc, a) => acc + BigInt(a.balance), 0n)
        expect(sum + BigInt(s.bonded), `${label}: sum of balances and the bond`).to.equal(BigInt(s.supply))
        expect(sum).to.equal(BigInt(s.balances))
        return true
      }, 20_000, 5)
    }

    const latest = async (): Promise<{ height: number, appHash: string }> => {
      const s = await node.client.status()
      return { height: Number(s.sync_info.latest_block_height), appHash: s.sync_info.latest_app_hash }
    }

    const kill = async (): Promise<void> => {
      node.proc.child.kill('SIGKILL')
      expect(await node.proc.exited).to.equal('SIGKILL')
    }

    /** Kills the node at the moment `trigger` resolves (it must kill synchronously), then restarts and verifies. */
    const cycle = async (label: string, trigger: () => Promise<void>): Promise<void> => {
      await committedCount(recorded.length + 20)
      const before = await latest()
      await trigger()
      if (node.proc.child.exitCode === null && node.proc.child.signalCode === null) await kill()
      else expect(await node.proc.exited).to.equal('SIGKILL')
      const afterKill = await latest().catch(() => null)
      expect(afterKill, 'the node still answers after SIGKILL').to.equal(null)
      const pv = readSignState(join(node.home, 'data', 'priv_validator_state.json')) as { height: number, round: number, step: number }
      await node.restart()
      await verify(label, before)
      // The height the signer last signed is committed either in that round (the write finished
      // before the kill) or in a later one (the restarted producer moved on): never refused.
      const c = await node.client.call('commit', { height: String(pv.height) })
      expect(c.signed_header.commit.round, `${label}: round of block ${pv.height}`).to.be.at.least(pv.round)
      outcomes.push(`${label}: signer at ${pv.height}/${pv.round}/${pv.step}, block ${pv.height} committed in round ${c.signed_header.commit.round}; ${recorded.length} txs recorded`)
    }

    const fsTrigger = (dir: string, match: (file: string) => boolean, nth = 1): () => Promise<void> => async () => {
      await new Promise<void>((resolve, reject) => {
        let n = 0
        let w: FSWatcher | null = null
        const fire = (): void => { w?.close(); node.proc.child.kill('SIGKILL'); resolve() }
        w = watch(dir, (_ev, file) => { if (file !== null && match(String(file)) && ++n >= nth) fire() })
        w.on('error', reject)
      })
    }

    const outcomes: string[] = []
    // 1: the instant a broadcast_tx_commit answer arrives (the block was just written; events and answers still going out)
    await cycle('kill right after a commit answer', async () => {
      const target = recorded.length + 7
      await committedCount(target)
      node.proc.child.kill('SIGKILL')
    })

    // 2: while every sender waits in the mempool for the next block
    await cycle('kill with a full mempool', async () => {
      await until('every sender waiting in the mempool', async () => Number((await node.client.call('num_unconfirmed_txs')).n_txs) >= SENDERS.length, 20_000, 2)
      node.proc.child.kill('SIGKILL')
    })

    // 3: right after the signer persisted a proposal signature (before the block is written)
    const dataDir = join(node.home, 'data')
    await cycle('kill right after signing', fsTrigger(dataDir, f => f === 'priv_validator_state.json', 1))

    // 4: right after the signer persisted its prevote
    await cycle('kill right after the prevote signature', fsTrigger(dataDir, f => f === 'priv_validator_state.json', 2))

    // 5: right after the signer persisted its precommit (locked on the block, which is not written yet):
    // the restarted validator must propose that same block again, or its lock keeps it from ever committing
    await cycle('kill right after the precommit signature', fsTrigger(dataDir, f => f === 'priv_validator_state.json', 3))

    // 6: while LevelDB writes a block's batch (the write-ahead log changes)
    await cycle('kill during the block write', fsTrigger(join(dataDir, 'chain'), f => f.endsWith('.log'), 1))

    // 7: as soon as the restarted node answers, before it has produced anything more; then once more as it starts
    await cycle('kill while starting', async () => {
      node.proc.child.kill('SIGKILL')
      await node.proc.exited
      await node.restart()
      node.proc.child.kill('SIGKILL')
    })

    // the stream keeps going after the last restart
    await committedCount(recorded.length + 20)
    stopping = true
    await Promise.all(senders)
    const final = await latest()
    await verify('final', final)
    await verifySupply('final')

    // the event index agrees with the state: each account's nonce = the number of its indexed
    // transfers, and every recorded tx is among them at its height
    for (const name of FUNDED) {
      const address = keys.get(name)!.address
      const found = new Map<string, number>()
      for (let page = 1; ; page++) {
        const r = await node.client.call('tx_search', { query: `transfer.sender='${address}'`, page: String(page), per_page: '100' })
        for (const t of r.txs) found.set(t.hash, Number(t.height))
        if (found.size >= Number(r.total_count) || r.txs.length === 0) break
      }
      const acct = await node.client.account(address)
      expect(found.size, `${name}: indexed transfers vs nonce`).to.equal(Number(acct.nonce))
      for (const r of recorded.filter(x => x.sender === name)) expect(found.get(r.hash), `${name}: index entry of ${r.hash}`).to.equal(r.height)
    }

    if (process.env.AITBC_TEST_VERBOSE !== undefined) console.log(outcomes.join('\n'))
    expect(unexpected, unexpected.join('\n')).to.deep.equal([])
    expect(outcomes).to.have.length(7)
    expect(recorded.length).to.be.greaterThan(100)
    // every sender's recorded nonces strictly increase, and so do their heights
    for (const name of SENDERS) {
      const mine = recorded.filter(r => r.sender === name)
      for (let i = 1; i < mine.length; i++) {
        expect(mine[i].nonce, `${name}: nonces`).to.be.greaterThan(mine[i - 1].nonce)
        expect(mine[i].height, `${name}: heights`).to.be.greaterThan(mine[i - 1].height)
      }
    }
    // no restart ran into the signer's double-sign protection, nor failed to produce
    const log = node.log()
    if (process.env.AITBC_TEST_VERBOSE !== undefined) console.log(log.split('\n').filter(l => /"level":(4|5|6)0/.test(l)).join('\n'))
    expect(log).to.not.match(/DOUBLE_SIGN|refusing to sign/)
    expect(log).to.not.match(/block production failed/)
  })
})
