// The consensus engine (node/consensus/engine.ts) with in-process fakes: a network that delivers
// each published message to every other connected engine (asynchronously, in publish order), an
// application over the node's block executor on an in-memory chain (MemChain), a fixed injected
// clock, and real short consensus timeouts (the engine calls setTimeout itself; there is no seam
// for a fake scheduler). Tests wait with a poll-until-deadline helper and assert no timings.
import { expect } from 'chai'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addressBytesFromPubkey, bytesEqual, toHexUpper, type SigningKey } from '../../node/core/crypto.ts'
import { BlockError } from '../../node/core/errors.ts'
import { unpack } from '../../node/core/codec.ts'
import { createProposal, validateBlock, type BlockExecution } from '../../node/core/executor.ts'
import { blockHash, encodeBlock, encodeCommit, verifyCommit, voteSignBytes, BLOCK_ID_FLAG_ABSENT, BLOCK_ID_FLAG_COMMIT, VOTE_PREVOTE, type Block, type Commit } from '../../node/core/block.ts'
import { signTx, type Tx } from '../../node/core/tx.ts'
import { ConsensusEngine } from '../../node/consensus/engine.ts'
import type { ByzantineMode } from '../../node/consensus/byzantine.ts'
import { proposerOf, type TimeoutConfig } from '../../node/consensus/machine.ts'
import { decodeConsensusMessage, decodeSyncRequest, encodeProposal, encodeTxHashProposal, encodeVote, proposalBytesToSign, type SignedProposal, type SignedVote } from '../../node/consensus/messages.ts'
import { pack } from '../../node/core/codec.ts'
import { sha256 } from '../../node/core/crypto.ts'
import type { ConsensusApp, ProposeRequest, ValidatedBlock } from '../../node/consensus/app.ts'
import type { ConsensusNetwork, GossipTopic, Verdict } from '../../node/consensus/network.ts'
import { PrivValidator } from '../../node/chain/privval.ts'
import { silentLogger } from '../../node/logger.ts'
import { parseGenesis, type Genesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { MemChain, keyNamed } from '../helpers/memChain.ts'

const AITBC = 1_000_000n
const T0 = Date.parse('2024-09-01T00:00:00.000Z')
const VALS = [0, 1, 2, 3].map(i => keyNamed(`engine-validator-${i}`))
const ALICE = keyNamed('engine-alice')
const BOB = keyNamed('engine-bob')
const FAST: TimeoutConfig = { proposeMs: 150, proposeDeltaMs: 50, prevoteMs: 100, prevoteDeltaMs: 50, precommitMs: 100, precommitDeltaMs: 50 }

const GENESIS: Genesis = parseGenesis(makeGenesisJSON({
  chainId: 'aitbc-engine-test',
  genesisTime: new Date(T0).toISOString(),
  validators: VALS.map((k, i) => ({ pubKey: k.publicKey, power: 10, name: `v${i}`, stake: 100n * AITBC })),
  accounts: [{ address: ALICE.address, balance: 100n * AITBC }, { address: BOB.address, balance: 100n * AITBC }],
  params: { min_fee: '1000', slash_fraction: '0.1' },
}))
const IDS = GENESIS.validators.map(v => ({ id: v.address, power: v.power }))
const idOf = (k: SigningKey): string => toHexUpper(addressBytesFromPubkey(k.publicKey))

/** Polls until `cond` holds; fails after the deadline. Asserts nothing about how long it took. */
async function waitFor (what: string, cond: () => boolean, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** Gossip between in-process engines: a message published by one reaches every other connected one, in order, from a queue drained on the next turn of the event loop. */
class FakeHub {
  private readonly handlers = new Map<string, (data: Uint8Array, from: string) => Verdict | Promise<Verdict>>()
  private readonly servers = new Map<string, (req: Uint8Array, from: string) => Promise<Uint8Array>>()
  /** Requests made (by requester, to peer) and penalties given (by whom, to whom, why). */
  readonly requests: Array<{ from: string, to: string }> = []
  readonly penalties: Array<{ by: string, peer: string, reason: string }> = []
  /** Answers requests to a peer that is not an engine (a hostile relay in attack tests). */
  serve (peer: string, handler: (req: Uint8Array) => Promise<Uint8Array>): void { this.servers.set(peer, handler) }
  private readonly queue: Array<{ to: string, from: string, data: Uint8Array }> = []
  private draining = false
  /** Every consensus message published, by sender. */
  readonly published: Array<{ from: string, data: Uint8Array }> = []
  /** Verdicts the receivers gave. */
  readonly verdicts: Array<Verdict | Promise<Verdict>> = []

  network (id: string): ConsensusNetwork {
    return {
      publish: async (topic: GossipTopic, data: Uint8Array) => {
        if (topic !== 'consensus') return
        this.published.push({ from: id, data })
        for (const to of this.handlers.keys()) if (to !== id) this.queue.push({ to, from: id, data })
        this.schedule()
      },
      onGossip: (topic, handler) => { if (topic === 'consensus') this.handlers.set(id, handler) },
      handle: (_protocol, handler) => { this.servers.set(id, handler) },
      // Requests reach the engine that serves them (the proposer or relay of a proposal with tx hashes).
      request: async (peer, _protocol, req) => {
        const serve = this.servers.get(peer)
        this.requests.push({ from: id, to: peer })
        if (serve === undefined) throw new Error(`no peer ${peer}`)
        return await serve(req, id)
      },
      peers: () => [],
      penalize: (peer, reason) => { this.penalties.push({ by: id, peer, reason }) },
    }
  }

  /** Delivers a message to one engine now, as a peer would, and returns its verdict. */
  deliver (to: string, data: Uint8Array, from = 'test-peer'): Verdict | Promise<Verdict> {
    const h = this.handlers.get(to)
    if (h === undefined) throw new Error(`${to} has no consensus handler`)
    return h(data, from)
  }

  private schedule (): void {
    if (this.draining) return
    this.draining = true
    setImmediate(() => {
      this.draining = false
      for (const m of this.queue.splice(0)) {
        const h = this.handlers.get(m.to)
        if (h !== undefined) this.verdicts.push(h(m.data, m.from))
      }
    })
  }
}

/** ConsensusApp over the node's block executor on an in-memory chain; its "mempool" is a list of txs. */
class MemApp implements ConsensusApp {
  readonly chain = new MemChain(GENESIS)
  readonly pending: Tx[] = []
  private readonly execs = new WeakMap<ValidatedBlock, BlockExecution>()
  private readonly work = new Set<() => void>()
  readonly chainId = GENESIS.chainId
  readonly initialHeight = GENESIS.initialHeight
  readonly validators = this.chain.validators
  readonly synchrony = GENESIS.synchrony
  readonly pacing: ConsensusApp['pacing']

  /** holdsTxs false: the app offers no txs to the engine (every tx of a peer's proposal is fetched). */
  constructor (private readonly signer: SigningKey, pacingMs = 20, private readonly holdsTxs = true) { this.pacing = { blockTimeMs: pacingMs, emptyBlockIntervalMs: pacingMs } }

  txBytes (hash: string): Uint8Array | undefined { return this.holdsTxs ? this.pending.find(t => t.hash === hash)?.bytes : undefined }

  height (): number { return this.chain.height }
  lastBlockTime (): number { return this.chain.last.time }
  hasWork (): boolean { return this.pending.length > 0 }
  onWork (f: () => void): void { this.work.add(f) }
  offWork (f: () => void): void { this.work.delete(f) }

  addTx (tx: Tx): void { this.pending.push(tx); for (const f of this.work) f() }

  propose (req: ProposeRequest): ValidatedBlock {
    const { block, exec } = createProposal(this.chain.view(), { signer: this.signer, time: req.time, lastCommit: req.lastCommit, txs: this.pending, evidence: req.evidence })
    const v = { block, error: null }
    this.execs.set(v, exec)
    return v
  }

  validate (block: Block, opts: { lastCommitVerified?: boolean } = {}): ValidatedBlock {
    try {
      const exec = validateBlock(this.chain.view(), block, { lastCommitVerified: opts.lastCommitVerified })
      const v = { block, error: null }
      this.execs.set(v, exec)
      return v
    } catch (e) {
      if (e instanceof BlockError) return { block, error: e.message }
      throw e
    }
  }

  async commit (v: ValidatedBlock, commit: Commit): Promise<void> {
    const exec = this.execs.get(v)
    if (v.error !== null || exec === undefined) throw new Error('commit of a block that was not validated here')
    this.chain.commit(v.block, exec, commit)
    const done = new Set(exec.txs.map(t => t.hash))
    for (let i = this.pending.length - 1; i >= 0; i--) if (done.has(this.pending[i].hash)) this.pending.splice(i, 1)
  }

  private at (h: number): { block: Block, commit: Commit | null } | undefined { return this.chain.blocks[h - this.initialHeight] }
  async blockBytes (h: number): Promise<Uint8Array | undefined> { const b = this.at(h); return b === undefined ? undefined : encodeBlock(b.block) }
  async commitBytes (h: number): Promise<Uint8Array | undefined> { const c = this.at(h)?.commit; return c === undefined || c === null ? undefined : encodeCommit(c) }
  async commitAt (h: number): Promise<Commit | undefined> { return this.at(h)?.commit ?? undefined }
}

describe('consensus engine with a fake network, a fake application and a fixed clock', function () {
  this.timeout(30_000)
  let dir: string
  let engines: ConsensusEngine[] = []
  /** The engines' clock: fixed, so block and vote times are the genesis time plus one second, then +1 ms a block. */
  const now = (): number => T0 + 1000

  function node (hub: FakeHub, i: number, o: { byzantine?: ByzantineMode, pacingMs?: number, timeouts?: TimeoutConfig, now?: () => number, holdsTxs?: boolean } = {}): { engine: ConsensusEngine, app: MemApp } {
    const app = new MemApp(VALS[i], o.pacingMs, o.holdsTxs)
    const pv = new PrivValidator(VALS[i], join(dir, `pv-${i}.json`))
    const engine = new ConsensusEngine(app, pv, hub.network(idOf(VALS[i])), silentLogger(), { timeouts: o.timeouts ?? FAST, now: o.now ?? now, byzantine: o.byzantine, syncIntervalMs: 60_000 })
    engines.push(engine)
    return { engine, app }
  }

  /** Every app holds the same committed blocks up to `height`, each certified by a commit with more than 2/3 of the power. */
  function expectSameChain (apps: MemApp[], height: number): void {
    for (let h = 1; h <= height; h++) {
      const hashes = apps.map(a => toHexUpper(blockHash(a.chain.blocks[h - 1].block.header)))
      expect(new Set(hashes).size, `block hashes at height ${h}`).to.equal(1)
      for (const a of apps) {
        const { block, commit } = a.chain.blocks[h - 1]
        expect(verifyCommit(GENESIS.chainId, a.validators, commit as Commit, h, blockHash(block.header)), `commit of height ${h}`).to.equal(null)
      }
    }
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'aitbc-engine-'))
    engines = []
  })

  afterEach(async () => {
    await Promise.all(engines.map(async e => await e.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('4 engines commit the same blocks at several heights, with the txs they were given', async () => {
    const hub = new FakeHub()
    const nodes = [0, 1, 2, 3].map(i => node(hub, i))
    const apps = nodes.map(n => n.app)
    const txs = [0, 1, 2].map(n => signTx(ALICE, { chainId: GENESIS.chainId, nonce: n, fee: 1000n, body: { type: 'transfer', to: BOB.address, amount: AITBC } }))
    for (const a of apps) for (const t of txs) a.addTx(t)
    await Promise.all(nodes.map(async n => await n.engine.start()))
    await waitFor('4 engines at height 5', () => apps.every(a => a.height() >= 5))
    expectSameChain(apps, 5)
    for (const a of apps) {
      expect(a.chain.mem.account(ALICE.address)?.nonce).to.equal(3)
      expect(a.chain.mem.account(BOB.address)?.balance).to.equal(103n * AITBC)
      expect(a.pending).to.deep.equal([])
    }
    // Each height's block came from a validator, and consecutive blocks link up.
    for (let h = 2; h <= 5; h++) {
      const [prev, cur] = [apps[0].chain.blocks[h - 2].block, apps[0].chain.blocks[h - 1].block]
      expect(bytesEqual(cur.header.lastBlockHash, blockHash(prev.header))).to.equal(true)
      expect(cur.lastCommit?.height).to.equal(h - 1)
    }
  })

  it('with one of 4 engines offline, the other 3 still commit (its proposer turns time out)', async () => {
    const hub = new FakeHub()
    const nodes = [0, 1, 2].map(i => node(hub, i))
    const apps = nodes.map(n => n.app)
    await Promise.all(nodes.map(async n => await n.engine.start()))
    await waitFor('3 engines at height 5', () => apps.every(a => a.height() >= 5))
    expectSameChain(apps, 5)
    const offline = VALS[3].publicKey
    const offlineAddress = addressBytesFromPubkey(offline)
    for (let h = 1; h <= 5; h++) {
      const { block, commit } = apps[0].chain.blocks[h - 1]
      expect(bytesEqual(block.header.proposerAddress, offlineAddress), `height ${h} proposed by the offline validator`).to.equal(false)
      const sig = (commit as Commit).signatures.find(s => bytesEqual(s.validatorAddress, offlineAddress))
      expect(sig?.blockIdFlag).to.equal(BLOCK_ID_FLAG_ABSENT)
      expect((commit as Commit).signatures.filter(s => s.blockIdFlag === BLOCK_ID_FLAG_COMMIT)).to.have.length(3)
    }
    // The offline validator was the round-0 proposer of some height: that height needed a later round.
    const offlineTurns = [1, 2, 3, 4, 5].filter(h => proposerOf(IDS, h, 0) === idOf(VALS[3]))
    expect(offlineTurns.length).to.be.at.least(1)
    for (const h of offlineTurns) expect(apps[0].chain.blocks[h - 1].commit?.round, `round of height ${h}`).to.be.at.least(1)
  })

  it('a validator that double-prevotes: the others hold duplicate-vote evidence, and a block carries it and slashes its bond', async () => {
    const hub = new FakeHub()
    const nodes = [0, 1, 2, 3].map(i => node(hub, i, { byzantine: i === 3 ? 'double-prevote' : undefined }))
    const honest = nodes.slice(0, 3)
    const byzantine = idOf(VALS[3])
    const held = honest.map(() => [] as Array<[SignedVote, SignedVote]>)
    honest.forEach((n, i) => {
      const pool = n.engine.evidence
      const add = pool.addDuplicateVote.bind(pool)
      pool.addDuplicateVote = (a, b) => { held[i].push([a, b]); return add(a, b) }
    })
    await Promise.all(nodes.map(async n => await n.engine.start()))
    const apps = honest.map(n => n.app)
    const withEvidence = (a: MemApp): Block | undefined => a.chain.blocks.find(b => b.block.evidence.length > 0)?.block
    await waitFor('a committed block with evidence', () => apps.every(a => withEvidence(a) !== undefined))
    for (const [i, pairs] of held.entries()) {
      expect(pairs.length, `evidence held by honest engine ${i}`).to.be.at.least(1)
      for (const [a, b] of pairs) {
        expect([toHexUpper(a.validator), toHexUpper(b.validator)]).to.deep.equal([byzantine, byzantine])
        expect([a.type, b.type]).to.deep.equal([VOTE_PREVOTE, VOTE_PREVOTE])
        expect(a.height === b.height && a.round === b.round).to.equal(true)
        expect(bytesEqual(a.blockHash, b.blockHash)).to.equal(false)
      }
    }
    const block = withEvidence(apps[0]) as Block
    const [va, vb] = unpack<any[]>(block.evidence[0])
    expect(toHexUpper(va[5])).to.equal(byzantine)
    expect(toHexUpper(vb[5])).to.equal(byzantine)
    expect(bytesEqual(va[3], vb[3])).to.equal(false)
    await waitFor('the slash applied on every honest app', () => apps.every(a => (a.chain.mem.validatorBond(byzantine)?.offences.length ?? 0) >= 1))
    for (const a of apps) {
      const bond = a.chain.mem.validatorBond(byzantine)
      // The first offence burns 10% of the 100 AITBC bond; each later one 10% of what is left.
      expect((bond?.slashed ?? 0n) >= 10n * AITBC).to.equal(true)
      expect((bond?.stake ?? 0n) + (bond?.slashed ?? 0n)).to.equal(100n * AITBC)
      for (const o of bond?.offences ?? []) expect(o).to.match(/^\d+:\d+:1$/) // height:round:prevote
      for (const v of [0, 1, 2].map(i => idOf(VALS[i]))) expect(a.chain.mem.validatorBond(v)?.slashed).to.equal(0n)
    }
  })

  it('a proposal from a validator that is not the round\'s proposer is rejected; the proposer\'s is accepted and prevoted', async () => {
    const hub = new FakeHub()
    const proposerId = proposerOf(IDS, 1, 0)
    const proposer = VALS.find(k => idOf(k) === proposerId) as SigningKey
    const [self, impostor] = VALS.filter(k => k !== proposer)
    const selfIndex = VALS.indexOf(self)
    // Slow pacing and timeouts: the engine starts the height only when a valid proposal arrives.
    const slow: TimeoutConfig = { proposeMs: 60_000, proposeDeltaMs: 0, prevoteMs: 60_000, prevoteDeltaMs: 0, precommitMs: 60_000, precommitDeltaMs: 0 }
    const { engine, app } = node(hub, selfIndex, { pacingMs: 3_600_000, timeouts: slow })
    await engine.start()
    const proposal = (signer: SigningKey, claimed: SigningKey, round = 0): SignedProposal => {
      const { block } = createProposal(app.chain.view(), { signer: claimed, time: T0 + 1000, lastCommit: null, txs: [] })
      const hash = blockHash(block.header)
      return {
        height: 1, round, polRound: -1, blockBytes: encodeBlock(block), block, hash: toHexUpper(hash), timestamp: T0 + 1000,
        validator: addressBytesFromPubkey(claimed.publicKey), signature: signer.sign(proposalBytesToSign(GENESIS.chainId, { height: 1, round, hash, polRound: -1, timestamp: T0 + 1000 })),
      }
    }
    const selfId = idOf(self)
    const own = (): Array<ReturnType<typeof decodeConsensusMessage>> => hub.published.filter(m => m.from === selfId).map(m => decodeConsensusMessage(m.data))

    expect(hub.deliver(selfId, encodeProposal(proposal(impostor, impostor)))).to.equal('reject')
    expect(hub.deliver(selfId, encodeProposal(proposal(impostor, proposer)))).to.equal('reject') // claims to be the proposer, signed by another key
    expect(hub.deliver(selfId, encodeProposal(proposal(proposer, proposer, 1)))).to.equal('reject') // the proposer of round 0 is not that of round 1
    expect(own(), 'messages the engine sent after the wrong proposals').to.deep.equal([])
    expect(app.height()).to.equal(0)

    const good = proposal(proposer, proposer)
    expect(hub.deliver(selfId, encodeProposal(good))).to.equal('accept')
    const prevotes = own().filter(m => m.kind === 'vote' && m.v.type === VOTE_PREVOTE)
    expect(prevotes).to.have.length(1)
    const pv = prevotes[0] as { kind: 'vote', v: SignedVote }
    expect(toHexUpper(pv.v.blockHash)).to.equal(good.hash)
    expect(pv.v.round).to.equal(0)
  })

  describe('attack: floods of consensus messages', () => {
    const slow: TimeoutConfig = { proposeMs: 60_000, proposeDeltaMs: 0, prevoteMs: 60_000, prevoteDeltaMs: 0, precommitMs: 60_000, precommitDeltaMs: 0 }
    const vote = (k: SigningKey, height: number, round: number, o: { badSig?: boolean, hash?: Uint8Array } = {}): Uint8Array => {
      const blockHash = o.hash ?? new Uint8Array(32).fill(height % 256)
      const v = { type: VOTE_PREVOTE, height, round, blockHash, timestamp: T0 + 5000, validator: addressBytesFromPubkey(k.publicKey) }
      const signature = o.badSig === true ? new Uint8Array(64).fill(7) : k.sign(voteSignBytes(GENESIS.chainId, VOTE_PREVOTE, height, round, blockHash, v.timestamp))
      return encodeVote({ ...v, signature })
    }

    it('future-height votes with bad signatures are rejected and none is held (they were held, up to 20,000)', async () => {
      const hub = new FakeHub()
      const { engine } = node(hub, 0, { pacingMs: 3_600_000, timeouts: slow })
      await engine.start()
      const verdicts = new Set<Verdict | Promise<Verdict>>()
      for (let i = 0; i < 3000; i++) verdicts.add(hub.deliver(idOf(VALS[0]), vote(VALS[1 + (i % 3)], 2 + (i % 2), i % 40, { badSig: true }), `junk-peer-${i % 7}`))
      expect([...verdicts]).to.deep.equal(['reject'])
      expect(engine.heldMessages).to.equal(0)
    })

    it('a signed future vote is held once however often it is replayed; heights beyond the window and far rounds are ignored', async () => {
      const hub = new FakeHub()
      const { engine } = node(hub, 0, { pacingMs: 3_600_000, timeouts: slow })
      await engine.start()
      const v = vote(VALS[1], 2, 0)
      expect(hub.deliver(idOf(VALS[0]), v)).to.equal('accept')
      for (let i = 0; i < 1000; i++) expect(hub.deliver(idOf(VALS[0]), v, `peer-${i}`)).to.equal('ignore')
      expect(engine.heldMessages).to.equal(1)
      expect(hub.deliver(idOf(VALS[0]), vote(VALS[2], 4, 0))).to.equal('ignore') // height + 3
      expect(hub.deliver(idOf(VALS[0]), vote(VALS[2], 2, 1000))).to.equal('ignore') // round 1000
      expect(hub.deliver(idOf(VALS[0]), vote(VALS[2], 1, 1000))).to.equal('ignore') // this height, round 1000
      expect(engine.heldMessages).to.equal(1)
      // A signed vote from a key outside the validator set is rejected, not held.
      expect(hub.deliver(idOf(VALS[0]), vote(keyNamed('not-a-validator'), 2, 0))).to.equal('reject')
      expect(engine.heldMessages).to.equal(1)
    })

    it('what is held is bounded by what validators can sign: one message per height, round, type and validator', async () => {
      const hub = new FakeHub()
      const { engine } = node(hub, 0, { pacingMs: 3_600_000, timeouts: slow })
      await engine.start()
      let held = 0
      for (let round = 0; round <= 50; round++) {
        for (const k of VALS.slice(1)) {
          // Each validator signs two different prevotes per round (an equivocator): only the first is kept.
          for (const fill of [1, 2]) if (hub.deliver(idOf(VALS[0]), vote(k, 2, round, { hash: new Uint8Array(32).fill(fill) }), 'greedy-peer') === 'accept') held++
        }
      }
      expect(held).to.equal(engine.heldMessages)
      expect(held).to.equal(51 * 3)
    })

    it('a proposer that signs a second, different proposal for its round gets it ignored (not validated again)', async () => {
      const hub = new FakeHub()
      const proposerId = proposerOf(IDS, 1, 0)
      const proposer = VALS.find(k => idOf(k) === proposerId) as SigningKey
      const self = VALS.find(k => k !== proposer) as SigningKey
      const { engine, app } = node(hub, VALS.indexOf(self), { pacingMs: 3_600_000, timeouts: slow })
      await engine.start()
      let validations = 0
      const validate = app.validate.bind(app)
      app.validate = (b, o) => { validations++; return validate(b, o) }
      const make = (salt: number, txs: Tx[] = []): Uint8Array => {
        const { block } = createProposal(app.chain.view(), { signer: proposer, time: T0 + 1000, lastCommit: null, txs })
        const hash = blockHash(block.header)
        const p: SignedProposal = { height: 1, round: 0, polRound: -1, blockBytes: encodeBlock(block), block, hash: toHexUpper(hash), timestamp: T0 + salt, validator: addressBytesFromPubkey(proposer.publicKey), signature: proposer.sign(proposalBytesToSign(GENESIS.chainId, { height: 1, round: 0, hash, polRound: -1, timestamp: T0 + salt })) }
        return encodeProposal(p)
      }
      expect(hub.deliver(idOf(self), make(1))).to.equal('accept')
      // Same block, other signature timestamp: the same hash, accepted without a second validation.
      expect(hub.deliver(idOf(self), make(2))).to.equal('accept')
      // Another block for the same round: ignored, never validated (each validation executes a block).
      const other = [signTx(ALICE, { chainId: GENESIS.chainId, nonce: 0, fee: 1000n, body: { type: 'transfer', to: BOB.address, amount: 1n } })]
      for (let i = 0; i < 20; i++) expect(hub.deliver(idOf(self), make(3 + i, other))).to.equal('ignore')
      expect(validations).to.equal(1)
      expect(engine.heldMessages).to.equal(0)
    })
  })

  describe('attack: a relay that tampers with a proposal\'s body (found by mutating captured proposals)', () => {
    const slow: TimeoutConfig = { proposeMs: 60_000, proposeDeltaMs: 0, prevoteMs: 60_000, prevoteDeltaMs: 0, precommitMs: 60_000, precommitDeltaMs: 0 }
    const tx = (nonce: number): Tx => signTx(ALICE, { chainId: GENESIS.chainId, nonce, fee: 1000n, body: { type: 'transfer', to: BOB.address, amount: 1n } })
    const tampers: Array<[string, (b: Block) => Block]> = [
      ['a tx dropped', b => ({ ...b, txs: b.txs.slice(1) })],
      ['a tx added', b => ({ ...b, txs: [...b.txs, tx(1).bytes] })],
      ['evidence added', b => ({ ...b, evidence: [new Uint8Array(40).fill(1)] })],
    ]
    for (const [name, tamper] of tampers) {
      it(`the copy with ${name} (header and signature intact) is rejected, and the genuine proposal that follows is still prevoted`, async () => {
        const hub = new FakeHub()
        const proposerId = proposerOf(IDS, 1, 0)
        const proposer = VALS.find(k => idOf(k) === proposerId) as SigningKey
        const self = VALS.find(k => k !== proposer) as SigningKey
        const { engine, app } = node(hub, VALS.indexOf(self), { pacingMs: 3_600_000, timeouts: slow })
        await engine.start()
        const { block } = createProposal(app.chain.view(), { signer: proposer, time: T0 + 1000, lastCommit: null, txs: [tx(0)] })
        const hash = blockHash(block.header)
        const signed = (b: Block): Uint8Array => encodeProposal({
          height: 1, round: 0, polRound: -1, blockBytes: encodeBlock(b), block: b, hash: toHexUpper(hash), timestamp: T0 + 1000,
          validator: addressBytesFromPubkey(proposer.publicKey), signature: proposer.sign(proposalBytesToSign(GENESIS.chainId, { height: 1, round: 0, hash, polRound: -1, timestamp: T0 + 1000 })),
        })
        // The relay holds no key: its copy has the proposer's header, hash and signature, another body.
        expect(hub.deliver(idOf(self), signed(tamper(block)), 'relay')).to.equal('reject')
        expect(hub.deliver(idOf(self), signed(block), 'proposer')).to.equal('accept')
        const prevotes = hub.published.filter(m => m.from === idOf(self)).map(m => decodeConsensusMessage(m.data)).filter(m => m.kind === 'vote' && m.v.type === VOTE_PREVOTE)
        expect(prevotes).to.have.length(1)
        expect(toHexUpper((prevotes[0] as { kind: 'vote', v: SignedVote }).v.blockHash), 'the prevote is for the genuine block, not nil').to.equal(toHexUpper(hash))
      })
    }
  })

  describe('proposals with tx hashes', () => {
    const slow: TimeoutConfig = { proposeMs: 60_000, proposeDeltaMs: 0, prevoteMs: 60_000, prevoteDeltaMs: 0, precommitMs: 60_000, precommitDeltaMs: 0 }
    const tx = (nonce: number, amount = 1n): Tx => signTx(ALICE, { chainId: GENESIS.chainId, nonce, fee: 1000n, body: { type: 'transfer', to: BOB.address, amount } })
    const kinds = (hub: FakeHub): string[] => [...new Set(hub.published.map(m => decodeConsensusMessage(m.data)).filter(m => m.kind !== 'vote').map(m => m.kind))]

    it('when every app holds the txs, proposals carry only their hashes and no tx is fetched', async () => {
      const hub = new FakeHub()
      const nodes = [0, 1, 2, 3].map(i => node(hub, i))
      const apps = nodes.map(n => n.app)
      for (const a of apps) for (const t of [0, 1, 2].map(n => tx(n))) a.addTx(t)
      await Promise.all(nodes.map(async n => await n.engine.start()))
      await waitFor('4 engines at height 3', () => apps.every(a => a.height() >= 3))
      expectSameChain(apps, 3)
      expect(apps[0].chain.blocks.reduce((n, b) => n + b.block.txs.length, 0)).to.equal(3)
      expect(kinds(hub)).to.deep.equal(['tx-hashes'])
      expect(hub.requests).to.deep.equal([])
    })

    it('engines that lack the txs fetch them from the peer that sent the proposal and commit the same blocks', async () => {
      const hub = new FakeHub()
      const nodes = [0, 1, 2, 3].map(i => node(hub, i, { holdsTxs: i === 0 }))
      const apps = nodes.map(n => n.app)
      // Only validator 0 was given the txs: the others see them first in its proposals.
      for (const t of [0, 1, 2, 3].map(n => tx(n))) apps[0].addTx(t)
      await Promise.all(nodes.map(async n => await n.engine.start()))
      await waitFor('4 engines with the 4 txs committed', () => apps.every(a => a.chain.mem.account(ALICE.address)?.nonce === 4))
      const top = Math.min(...apps.map(a => a.height()))
      expectSameChain(apps, top)
      expect(hub.requests.length, 'txs fetched').to.be.greaterThan(0)
      expect(hub.requests.every(r => r.to === idOf(VALS[0])), 'fetched from the proposer that sent them').to.equal(true)
      expect(hub.penalties).to.deep.equal([])
    })

    describe('attack: the relay of a proposal with tx hashes', () => {
      /** One engine (not the proposer, holding no txs) and the signed proposal of height 1 with two txs. */
      async function setup (): Promise<{ hub: FakeHub, self: string, proposal: SignedProposal, prevotes: () => SignedVote[] }> {
        const hub = new FakeHub()
        const proposer = VALS.find(k => idOf(k) === proposerOf(IDS, 1, 0)) as SigningKey
        const selfKey = VALS.find(k => k !== proposer) as SigningKey
        const { engine, app } = node(hub, VALS.indexOf(selfKey), { pacingMs: 3_600_000, timeouts: slow, holdsTxs: false })
        await engine.start()
        const { block } = createProposal(app.chain.view(), { signer: proposer, time: T0 + 1000, lastCommit: null, txs: [tx(0), tx(1)] })
        const hash = blockHash(block.header)
        const proposal: SignedProposal = {
          height: 1, round: 0, polRound: -1, block, hash: toHexUpper(hash), timestamp: T0 + 1000,
          validator: addressBytesFromPubkey(proposer.publicKey), signature: proposer.sign(proposalBytesToSign(GENESIS.chainId, { height: 1, round: 0, hash, polRound: -1, timestamp: T0 + 1000 })),
        }
        const self = idOf(selfKey)
        const prevotes = (): SignedVote[] => hub.published.filter(m => m.from === self).map(m => decodeConsensusMessage(m.data)).flatMap(m => m.kind === 'vote' && m.v.type === VOTE_PREVOTE ? [m.v] : [])
        return { hub, self, proposal, prevotes }
      }
      /** A peer that answers txs requests from `txs` (by hash), after `edit`. */
      const server = (txs: Uint8Array[], edit: (answer: Array<Uint8Array | null>) => Array<Uint8Array | null> = a => a) => async (req: Uint8Array): Promise<Uint8Array> => {
        const r = decodeSyncRequest(req)
        if (r.kind !== 'txs') throw new Error('not a txs request')
        return pack(edit(r.hashes.map(h => txs.find(t => bytesEqual(sha256(t), h)) ?? null)))
      }
      const cases: Array<[string, (txs: Uint8Array[]) => (a: Array<Uint8Array | null>) => Array<Uint8Array | null>, boolean]> = [
        ['serves another valid tx in place of one', () => a => [tx(0, 2n).bytes, ...a.slice(1)], true],
        ['serves more txs than asked', txs => a => [...a, txs[0]], true],
        ['serves nothing', () => () => [], true],
        ['no longer holds them (null)', () => a => a.map(() => null), false],
      ]
      for (const [name, edit, penalised] of cases) {
        it(`a relay that ${name}: its copy is ignored${penalised ? ' and the relay penalised' : ''}; the copy from an honest peer is prevoted`, async () => {
          const { hub, self, proposal, prevotes } = await setup()
          hub.serve('liar', server(proposal.block.txs, edit(proposal.block.txs)))
          hub.serve('honest', server(proposal.block.txs))
          const msg = encodeTxHashProposal(proposal)
          expect(await hub.deliver(self, msg, 'liar')).to.equal('ignore')
          expect(prevotes()).to.deep.equal([])
          expect(hub.penalties.map(p => p.peer)).to.deep.equal(penalised ? ['liar'] : [])
          expect(await hub.deliver(self, msg, 'honest')).to.equal('accept')
          expect(prevotes().map(v => toHexUpper(v.blockHash))).to.deep.equal([proposal.hash])
        })
      }

      it('a relay that swaps a tx hash (header and signature intact): rejected at decoding, nothing fetched', async () => {
        const { hub, self, proposal } = await setup()
        const swapped = encodeTxHashProposal({ ...proposal, block: { ...proposal.block, txs: [proposal.block.txs[0], tx(5).bytes] } })
        expect(await hub.deliver(self, swapped, 'relay')).to.equal('reject')
        expect(hub.requests).to.deep.equal([])
      })

      it('a relay that never answers: ignored; a later copy is fetched again', async () => {
        const { hub, self, proposal, prevotes } = await setup()
        hub.serve('silent', async () => { throw new Error('timed out') })
        hub.serve('honest', server(proposal.block.txs))
        const msg = encodeTxHashProposal(proposal)
        expect(await hub.deliver(self, msg, 'silent')).to.equal('ignore')
        expect(await hub.deliver(self, msg, 'honest')).to.equal('accept')
        expect(prevotes().map(v => toHexUpper(v.blockHash))).to.deep.equal([proposal.hash])
        expect(hub.penalties).to.deep.equal([])
      })
    })
  })

  describe('attack: a proposer that dates its block (proposer-based time)', () => {
    const slow: TimeoutConfig = { proposeMs: 60_000, proposeDeltaMs: 0, prevoteMs: 60_000, prevoteDeltaMs: 0, precommitMs: 60_000, precommitDeltaMs: 0 }
    const CLOCK = T0 + 60_000
    const cases: Array<[string, number, boolean]> = [
      ['on time', CLOCK, true],
      ['0.5 s ahead (within the precision)', CLOCK + 500, true],
      ['61 s ahead (would expire every assigned job and slash its miner)', CLOCK + 61_000, false],
      ['1 s ahead', CLOCK + 1000, false],
      ['15 s behind (within the message delay)', CLOCK - 15_000, true],
      ['16 s behind (more than the message delay and the precision)', CLOCK - 16_000, false],
    ]
    for (const [name, time, timely] of cases) {
      it(`a fresh proposal dated ${name}: ${timely ? 'prevoted' : 'prevoted nil'}`, async () => {
        const hub = new FakeHub()
        const proposerId = proposerOf(IDS, 1, 0)
        const proposer = VALS.find(k => idOf(k) === proposerId) as SigningKey
        const self = VALS.find(k => k !== proposer) as SigningKey
        const { engine, app } = node(hub, VALS.indexOf(self), { pacingMs: 3_600_000, timeouts: slow, now: () => CLOCK })
        await engine.start()
        const { block } = createProposal(app.chain.view(), { signer: proposer, time, lastCommit: null, txs: [] })
        const hash = blockHash(block.header)
        const p: SignedProposal = { height: 1, round: 0, polRound: -1, blockBytes: encodeBlock(block), block, hash: toHexUpper(hash), timestamp: time, validator: addressBytesFromPubkey(proposer.publicKey), signature: proposer.sign(proposalBytesToSign(GENESIS.chainId, { height: 1, round: 0, hash, polRound: -1, timestamp: time })) }
        expect(hub.deliver(idOf(self), encodeProposal(p))).to.equal('accept')
        const prevotes = hub.published.filter(m => m.from === idOf(self)).map(m => decodeConsensusMessage(m.data)).filter(m => m.kind === 'vote' && m.v.type === VOTE_PREVOTE) as Array<{ kind: 'vote', v: SignedVote }>
        expect(prevotes).to.have.length(1)
        expect(prevotes[0].v.blockHash.length === 0 ? 'nil' : toHexUpper(prevotes[0].v.blockHash)).to.equal(timely ? toHexUpper(hash) : 'nil')
      })
    }
  })
})
