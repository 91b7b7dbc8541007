// Block sync (node/consensus/blockSync.ts) with a fake network. Attack: a peer claims a height it
// does not serve. Block sync used to pause consensus (and reset the round) before fetching
// anything, every second, for as long as the peer kept lying; against more than 1/3 of the power
// the chain halted. Now the first batch is fetched and its first commit verified before consensus
// pauses; a peer that claims what it does not serve is penalised and left alone for a while.
import { expect } from 'chai'
import { pack } from '../../node/core/codec.ts'
import { BlockError } from '../../node/core/errors.ts'
import { validateBlock, type BlockExecution } from '../../node/core/executor.ts'
import { encodeBlock, encodeCommit, type Block, type Commit } from '../../node/core/block.ts'
import { decodeSyncRequest } from '../../node/consensus/messages.ts'
import { BlockSync, type SyncHooks } from '../../node/consensus/blockSync.ts'
import type { ConsensusApp, ValidatedBlock } from '../../node/consensus/app.ts'
import type { ConsensusNetwork } from '../../node/consensus/network.ts'
import { silentLogger } from '../../node/logger.ts'
import { parseGenesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { MemChain, keyNamed, signCommit } from '../helpers/memChain.ts'

const VALS = [0, 1, 2, 3].map(i => keyNamed(`sync-validator-${i}`))
const OUTSIDERS = [0, 1, 2].map(i => keyNamed(`sync-outsider-${i}`))
const T0 = Date.parse('2025-05-01T00:00:00.000Z')
const GENESIS = parseGenesis(makeGenesisJSON({ chainId: 'aitbc-sync', genesisTime: new Date(T0).toISOString(), validators: VALS.map(k => ({ pubKey: k.publicKey, power: 10 })) }))

/** A chain of n empty blocks, each with the commit of all four validators. */
function servedChain (n: number): MemChain {
  const c = new MemChain(GENESIS)
  for (let h = 1; h <= n; h++) {
    const b = c.propose(VALS[h % 4], T0 + h * 1000, [])
    c.commit(b.block, b.exec, signCommit(c.chainId, c.validators, b.block, 0, VALS.map((key, i) => ({ key, timestamp: T0 + h * 1000 + i }))))
  }
  return c
}

/** The syncing node's application: the executor over an in-memory chain. */
class SyncingApp implements Pick<ConsensusApp, 'chainId' | 'validators' | 'height' | 'validate' | 'commit'> {
  readonly chain = new MemChain(GENESIS)
  private readonly execs = new WeakMap<ValidatedBlock, BlockExecution>()
  readonly chainId = GENESIS.chainId
  readonly validators = this.chain.validators
  height (): number { return this.chain.height }
  validate (block: Block, opts: { lastCommitVerified?: boolean } = {}): ValidatedBlock {
    try {
      const exec = validateBlock(this.chain.view(), block, opts)
      const v = { block, error: null }
      this.execs.set(v, exec)
      return v
    } catch (e) {
      if (e instanceof BlockError) return { block, error: e.message }
      throw e
    }
  }

  async commit (v: ValidatedBlock, commit: Commit): Promise<void> { this.chain.commit(v.block, this.execs.get(v) as BlockExecution, commit) }
}

/** Peers that answer sync requests as the test says. */
function fakeNet (peers: Record<string, { height: number, blocks: (from: number, count: number) => Array<[Uint8Array, Uint8Array]> }>): ConsensusNetwork & { penalties: Array<{ peer: string, reason: string }>, blockRequests: string[] } {
  const penalties: Array<{ peer: string, reason: string }> = []
  const blockRequests: string[] = []
  return {
    penalties,
    blockRequests,
    publish: async () => {},
    onGossip: () => {},
    handle: () => {},
    peers: () => Object.keys(peers).map(id => ({ id, height: 0 })),
    penalize: (peer, reason) => { penalties.push({ peer, reason }) },
    request: async (peer, _p, req) => {
      const r = decodeSyncRequest(req)
      if (r.kind === 'status') return pack([peers[peer].height])
      if (r.kind !== 'blocks') throw new Error(`unexpected ${r.kind} request`)
      blockRequests.push(peer)
      return pack(peers[peer].blocks(r.from, r.count))
    },
  }
}

function hooks (): SyncHooks & { paused: number, resumed: number } {
  const h = { paused: 0, resumed: 0, busy: () => false, pause: () => { h.paused++ }, resume: () => { h.resumed++ }, committed: () => {} }
  return h
}

function served (c: MemChain, from: number, count: number, commitOf = (b: { block: Block, commit: Commit | null }) => b.commit as Commit): Array<[Uint8Array, Uint8Array]> {
  return c.blocks.filter(b => b.block.header.height >= from && b.block.header.height < from + count).map(b => [encodeBlock(b.block), encodeCommit(commitOf(b))])
}

describe('block sync', () => {
  it('attack: a peer that claims height 1000 and serves nothing never pauses consensus; it is penalised and left alone', async () => {
    let now = 0
    const app = new SyncingApp()
    const net = fakeNet({ liar: { height: 1000, blocks: () => [] } })
    const sync = new BlockSync({ cooldownMs: 30_000 }, { app: app as unknown as ConsensusApp, net, log: silentLogger(), now: () => now })
    const h = hooks()
    for (let i = 0; i < 5; i++) { await sync.tick(h); now += 1000 }
    expect(h.paused, 'consensus paused').to.equal(0)
    expect(h.resumed, 'consensus reset').to.equal(0)
    expect(net.penalties).to.have.length(1)
    expect(net.penalties[0]).to.deep.include({ peer: 'liar' })
    expect(net.penalties[0].reason).to.match(/claimed height 1000 but served no block/)
    expect(net.blockRequests, 'asked again while cooling down').to.deep.equal(['liar'])
    now += 30_000
    await sync.tick(h)
    expect(net.blockRequests).to.deep.equal(['liar', 'liar'])
    expect(h.paused).to.equal(0)
  })

  it('attack: a peer that serves blocks whose commits do not verify never pauses consensus', async () => {
    const real = servedChain(3)
    const app = new SyncingApp()
    // The same blocks, each "certified" by a commit that outsiders signed.
    const forged = (b: { block: Block }): Commit => signCommit(real.chainId, OUTSIDERS.map((k, i) => ({ ...real.validators[i], pubKey: k.publicKey, address: real.validators[i].address })), b.block, 0, OUTSIDERS.map(key => ({ key, timestamp: T0 })))
    const net = fakeNet({ forger: { height: 3, blocks: (f, n) => served(real, f, n, forged).slice(0, 1) } })
    const sync = new BlockSync({}, { app: app as unknown as ConsensusApp, net, log: silentLogger() })
    const h = hooks()
    await sync.tick(h)
    expect(h.paused).to.equal(0)
    expect(app.height()).to.equal(0)
    expect(net.penalties.map(p => p.peer)).to.deep.equal(['forger'])
    expect(net.penalties[0].reason).to.match(/bad commit/)
  })

  it('an honest peer ahead: consensus pauses, every block is verified and committed, consensus resumes', async () => {
    const real = servedChain(5)
    const app = new SyncingApp()
    const net = fakeNet({ liar: { height: 9, blocks: () => [] }, honest: { height: 5, blocks: (f, n) => served(real, f, Math.min(n, 2)) } })
    const sync = new BlockSync({ batch: 2 }, { app: app as unknown as ConsensusApp, net, log: silentLogger() })
    const h = hooks()
    await sync.tick(h) // the liar claims more: it is tried first, penalised, and nothing happens
    expect([h.paused, app.height()]).to.deep.equal([0, 0])
    await sync.tick(h) // now the honest one
    expect([h.paused, h.resumed, app.height()]).to.deep.equal([1, 1, 5])
    for (let i = 0; i < 5; i++) expect(app.chain.blocks[i].block.header.appHash).to.deep.equal(real.blocks[i].block.header.appHash)
  })
})
