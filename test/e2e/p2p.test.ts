// The libp2p networking layer with real nodes on loopback, all in this process (ports 0).
// Every wait is a poll or an event with a deadline; no test sleeps.
import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { checkHandshake, encodeHandshake } from '../../node/p2p/handshake.ts'
import { StrikeBook } from '../../node/p2p/strikes.ts'
import { createNetwork, NetworkError, type Network, type NetworkOptions, type PeerInfo, type Verdict } from '../../node/p2p/network.ts'
import { until, freePort, ROOT } from '../helpers/procs.ts'

const CHAIN = 'aitbc-p2p-test'
const GENESIS = 'aa'.repeat(32)

interface LogEntry { level: string, obj: Record<string, unknown>, msg?: string }

function seed (name: string): Uint8Array { return createHash('sha256').update(name).digest() }

function captureLogger (): { entries: LogEntry[], logger: NetworkOptions['logger'] } {
  const entries: LogEntry[] = []
  const at = (level: string) => (obj: object, msg?: string) => { entries.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { entries, logger: { info: at('info'), warn: at('warn'), debug: at('debug'), error: at('error') } }
}

interface TestNode { net: Network, log: LogEntry[], got: Map<string, Array<{ data: string, from: string }>>, addr: string }

describe('p2p network (libp2p on loopback)', function () {
  this.timeout(30_000)
  const running: Network[] = []

  async function node (name: string, o: Partial<NetworkOptions> & { height?: number, verdict?: (data: string) => Verdict } = {}): Promise<TestNode> {
    const { entries, logger } = captureLogger()
    const got = new Map<string, Array<{ data: string, from: string }>>([['txs', []], ['consensus', []]])
    const net = await createNetwork({
      host: '127.0.0.1',
      port: 0,
      peers: [],
      nodeKeySeed: seed(name),
      chainId: CHAIN,
      genesisHash: GENESIS,
      status: () => ({ height: o.height ?? 0 }),
      logger,
      redialMinMs: 50,
      redialMaxMs: 500,
      ...o
    })
    for (const topic of ['txs', 'consensus'] as const) {
      net.onGossip(topic, (data, from) => {
        const text = Buffer.from(data).toString()
        got.get(topic)?.push({ data: text, from })
        return o.verdict?.(text) ?? 'accept'
      })
    }
    await net.start()
    running.push(net)
    return { net, log: entries, got, addr: net.multiaddrs()[0] }
  }

  const isPeer = (a: Network, b: Network): boolean => a.peers().some(p => p.id === b.peerId)
  const received = (n: TestNode, topic: string, data: string): boolean => (n.got.get(topic) ?? []).some(m => m.data === data)

  afterEach(async () => {
    await Promise.all(running.splice(0).map(async n => { await n.stop() }))
  })

  it('derives a stable peer id from the seed', async () => {
    const a1 = await createNetwork({ host: '127.0.0.1', port: 0, peers: [], nodeKeySeed: seed('stable'), chainId: CHAIN, genesisHash: GENESIS, status: () => ({ height: 0 }), logger: captureLogger().logger })
    const a2 = await createNetwork({ host: '127.0.0.1', port: 0, peers: [], nodeKeySeed: seed('stable'), chainId: CHAIN, genesisHash: GENESIS, status: () => ({ height: 0 }), logger: captureLogger().logger })
    const b = await createNetwork({ host: '127.0.0.1', port: 0, peers: [], nodeKeySeed: seed('other'), chainId: CHAIN, genesisHash: GENESIS, status: () => ({ height: 0 }), logger: captureLogger().logger })
    expect(a1.peerId).to.equal(a2.peerId).and.match(/^12D3KooW/)
    expect(b.peerId).to.not.equal(a1.peerId)
    await a1.start()
    running.push(a1)
    expect(a1.multiaddrs()[0]).to.match(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a1.peerId}$`))
    try {
      await createNetwork({ host: '127.0.0.1', port: 0, peers: [], nodeKeySeed: new Uint8Array(31), chainId: CHAIN, genesisHash: GENESIS, status: () => ({ height: 0 }), logger: captureLogger().logger })
      expect.fail('a short seed must be refused')
    } catch (err) { expect((err as NetworkError).code).to.equal('BAD_ARGUMENT') }
  })

  it('connects two nodes through peers, handshakes both ways and reports heights', async () => {
    const a = await node('two-a', { height: 7 })
    const readyOnA: PeerInfo[] = []
    a.net.on('peer:ready', p => readyOnA.push(p))
    const b = await node('two-b', { height: 3, peers: [a.addr] })
    await until('A and B see each other', () => isPeer(a.net, b.net) && isPeer(b.net, a.net), 10_000)
    const onB = b.net.peers().find(p => p.id === a.net.peerId)
    const onA = a.net.peers().find(p => p.id === b.net.peerId)
    expect(onB).to.include({ height: 7, outbound: true })
    expect(onA).to.include({ height: 3, outbound: false })
    expect(readyOnA.map(p => p.id)).to.deep.equal([b.net.peerId])
  })

  it('gossip from A reaches B and C, and B\'s gossip reaches C through A', async () => {
    const a = await node('g-a')
    const b = await node('g-b', { peers: [a.addr] })
    const c = await node('g-c', { peers: [a.addr] })
    await a.net.waitForSubscribers('txs', 2, 10_000)
    await a.net.publish('txs', Buffer.from('tx-1'))
    await until('B and C get tx-1', () => received(b, 'txs', 'tx-1') && received(c, 'txs', 'tx-1'), 10_000)
    expect(b.got.get('txs')?.find(m => m.data === 'tx-1')?.from).to.equal(a.net.peerId)
    expect(received(a, 'txs', 'tx-1')).to.equal(false) // emitSelf off
    expect(b.got.get('consensus')).to.have.length(0) // topics are separate

    // B -> A -> C needs C in A's mesh, which gossipsub builds on its heartbeat
    await a.net.waitForSubscribers('consensus', 2, 10_000, { mesh: true })
    await b.net.waitForSubscribers('consensus', 1, 10_000)
    await b.net.publish('consensus', Buffer.from('vote-1'))
    await until('A and C get vote-1', () => received(a, 'consensus', 'vote-1') && received(c, 'consensus', 'vote-1'), 10_000)
    expect(c.got.get('consensus')?.find(m => m.data === 'vote-1')?.from).to.equal(a.net.peerId) // the propagation source
  })

  it('two nodes that list each other as peers end up with one peer each and gossip both ways', async () => {
    const [portA, portB] = [await freePort(), await freePort()]
    const idOf = async (name: string): Promise<string> => (await createNetwork({ host: '127.0.0.1', port: 0, peers: [], nodeKeySeed: seed(name), chainId: CHAIN, genesisHash: GENESIS, status: () => ({ height: 0 }), logger: captureLogger().logger })).peerId
    const addrA = `/ip4/127.0.0.1/tcp/${portA}/p2p/${await idOf('mutual-a')}`
    const addrB = `/ip4/127.0.0.1/tcp/${portB}/p2p/${await idOf('mutual-b')}`
    const [a, b] = await Promise.all([node('mutual-a', { port: portA, peers: [addrB] }), node('mutual-b', { port: portB, peers: [addrA] })])
    await until('mutually connected', () => isPeer(a.net, b.net) && isPeer(b.net, a.net), 10_000)
    expect(a.net.peers()).to.have.length(1)
    expect(b.net.peers()).to.have.length(1)
    await a.net.waitForSubscribers('txs', 1, 10_000)
    await b.net.waitForSubscribers('txs', 1, 10_000)
    await a.net.publish('txs', Buffer.from('a->b'))
    await b.net.publish('txs', Buffer.from('b->a'))
    await until('both directions delivered', () => received(b, 'txs', 'a->b') && received(a, 'txs', 'b->a'), 10_000)
  })

  it('publishes without peers and without throwing', async () => {
    const a = await node('lonely')
    await a.net.publish('txs', Buffer.from('nobody'))
    expect(a.net.peers()).to.deep.equal([])
  })

  it('a rejecting validator stops forwarding (A-B-C in a line) and counts a strike', async () => {
    const a = await node('line-a')
    const b = await node('line-b', { peers: [a.addr], verdict: d => {
      if (d.startsWith('crash')) throw new Error('validator bug or undecodable message')
      return d.startsWith('bad') ? 'reject' : d.startsWith('dup') ? 'ignore' : 'accept'
    } })
    const c = await node('line-c', { peers: [b.addr] })
    await until('line connected', () => isPeer(a.net, b.net) && isPeer(c.net, b.net), 10_000)
    expect(isPeer(a.net, c.net)).to.equal(false)
    await b.net.waitForSubscribers('txs', 2, 10_000, { mesh: true })
    await a.net.waitForSubscribers('txs', 1, 10_000)

    await a.net.publish('txs', Buffer.from('bad-1'))
    await a.net.publish('txs', Buffer.from('dup-1'))
    await a.net.publish('txs', Buffer.from('crash-1'))
    await a.net.publish('txs', Buffer.from('good-1'))
    await until('C gets good-1 through B', () => received(c, 'txs', 'good-1'), 10_000)
    await until('B judged all four', () => ['bad-1', 'dup-1', 'crash-1'].every(d => received(b, 'txs', d)), 10_000)
    expect(received(c, 'txs', 'bad-1')).to.equal(false)
    expect(received(c, 'txs', 'dup-1')).to.equal(false)
    expect(received(c, 'txs', 'crash-1')).to.equal(false)
    // reject strikes, ignore does not, a handler that throws counts as reject
    await until('two strikes on B against A', () => b.net.strikes(a.net.peerId) === 2, 10_000)
    expect(b.log.some(e => e.level === 'debug' && e.msg === 'p2p gossip handler threw: message dropped')).to.equal(true)
    expect(isPeer(b.net, a.net)).to.equal(true)
  })

  for (const [what, override, code] of [
    ['chain id', { chainId: 'another-chain' }, 'CHAIN_ID_MISMATCH'],
    ['genesis hash', { genesisHash: 'bb'.repeat(32) }, 'GENESIS_MISMATCH']
  ] as const) {
    it(`drops a peer with another ${what} after the handshake and logs why`, async () => {
      const a = await node(`mm-a-${code}`)
      const readyOnA: PeerInfo[] = []
      a.net.on('peer:ready', p => readyOnA.push(p))
      const x = await node(`mm-x-${code}`, { ...override, peers: [a.addr] })
      const dropped = (n: TestNode): LogEntry | undefined => n.log.find(e => e.level === 'warn' && e.obj.code === code)
      await until('both sides log the mismatch', () => dropped(a) !== undefined && dropped(x) !== undefined, 10_000)
      expect(String(dropped(a)?.obj.reason)).to.match(what === 'chain id' ? /another-chain/ : /bbbb/)
      expect(dropped(a)?.obj.peer).to.equal(x.net.peerId)
      await until('no peers on either side', () => a.net.peers().length === 0 && x.net.peers().length === 0, 10_000)
      expect(readyOnA).to.have.length(0)
      expect(a.net.isBanned(x.net.peerId)).to.equal(true)
      expect(x.net.isBanned(a.net.peerId)).to.equal(true) // so x does not redial a for a while
    })
  }

  it('request/response round trip; remote errors, timeouts and unknown peers give clear errors', async () => {
    const a = await node('rr-a')
    const b = await node('rr-b', { peers: [a.addr] })
    let release: () => void = () => {}
    const hang = new Promise<void>(resolve => { release = resolve })
    b.net.handle('sync', async (req, from) => {
      const q = Buffer.from(req).toString()
      if (q === 'boom') throw new Error('no such block 42')
      if (q === 'hang') { await hang; return new Uint8Array() }
      return Buffer.from(`${q}:${from === a.net.peerId ? 'from-a' : 'from-?'}`)
    })
    await until('A and B handshaken', () => isPeer(a.net, b.net) && isPeer(b.net, a.net), 10_000)

    const resp = await a.net.request(b.net.peerId, 'sync', Buffer.from('blocks 1-10'), 5_000)
    expect(Buffer.from(resp).toString()).to.equal('blocks 1-10:from-a')
    const big = Buffer.alloc(1024 * 1024, 7)
    b.net.handle('sync', async (req) => { const q = Buffer.from(req).toString(); if (q === 'boom') throw new Error('no such block 42'); if (q === 'hang') { await hang; return new Uint8Array() } return q === 'big' ? big : req })
    expect(Buffer.compare(Buffer.from(await a.net.request(b.net.peerId, 'sync', Buffer.from('big'), 5_000)), big)).to.equal(0)

    const fails = async (req: string, timeoutMs: number): Promise<NetworkError> => {
      try { await a.net.request(b.net.peerId, 'sync', Buffer.from(req), timeoutMs) } catch (err) { return err as NetworkError }
      throw new Error('request should have failed')
    }
    const remote = await fails('boom', 5_000)
    expect(remote).to.be.instanceOf(NetworkError)
    expect(remote.code).to.equal('REMOTE_ERROR')
    expect(remote.message).to.include('no such block 42')

    const t0 = Date.now()
    const timedOut = await fails('hang', 300)
    expect(timedOut.code).to.equal('TIMEOUT')
    expect(timedOut.message).to.match(/timed out after 300 ms/)
    expect(Date.now() - t0).to.be.below(3_000)
    release()

    try { await a.net.request('12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq', 'sync', Buffer.from('x'), 1_000); expect.fail('unknown peer') } catch (err) {
      expect((err as NetworkError).code).to.equal('NOT_CONNECTED')
    }
    // a remote error counts nothing against anyone
    expect(a.net.strikes(b.net.peerId)).to.equal(0)
    expect(b.net.strikes(a.net.peerId)).to.equal(0)
  })

  it('drops and penalises oversized gossip and requests, and keeps working', async () => {
    const a = await node('big-a', { maxMessageBytes: 1024 * 1024 })
    const b = await node('big-b', { maxMessageBytes: 1024, peers: [a.addr] })
    b.net.handle('sync', async req => req)
    await until('handshaken', () => isPeer(a.net, b.net) && isPeer(b.net, a.net), 10_000)
    await a.net.waitForSubscribers('txs', 1, 10_000)

    await a.net.publish('txs', Buffer.alloc(2000, 'x'))
    await until('B strikes A for the oversized gossip', () => b.net.strikes(a.net.peerId) === 1, 10_000)
    expect(b.got.get('txs')).to.have.length(0) // the handler never saw it
    expect(b.log.some(e => e.level === 'debug' && /oversized gossip/.test(e.msg ?? ''))).to.equal(true)
    await a.net.publish('txs', Buffer.from('small'))
    await until('B still gets small gossip', () => received(b, 'txs', 'small'), 10_000)

    try { await a.net.request(b.net.peerId, 'sync', Buffer.alloc(4000, 1), 5_000); expect.fail('oversized request') } catch (err) {
      expect(err).to.be.instanceOf(NetworkError)
    }
    await until('B strikes A for the oversized request', () => b.net.strikes(a.net.peerId) === 2, 10_000)
    expect(Buffer.from(await a.net.request(b.net.peerId, 'sync', Buffer.from('ok'), 5_000)).toString()).to.equal('ok')

    // publishing over our own limit is a caller error
    try { await b.net.publish('txs', Buffer.alloc(2000)); expect.fail('too large') } catch (err) { expect((err as NetworkError).code).to.equal('TOO_LARGE') }
  })

  it('gossips payloads up to 3.75 MiB and refuses larger ones at publish', async () => {
    const a = await node('max-a')
    const b = await node('max-b', { peers: [a.addr] })
    await a.net.waitForSubscribers('consensus', 1, 10_000)
    const max = 4 * 1024 * 1024 - 256 * 1024
    const sizes: number[] = []
    b.net.onGossip('consensus', d => { sizes.push(d.length); return 'accept' })
    await a.net.publish('consensus', new Uint8Array(max))
    await until('B gets the largest payload', () => sizes.includes(max), 10_000)
    try { await a.net.publish('consensus', new Uint8Array(max + 1)); expect.fail('too large') } catch (err) { expect((err as NetworkError).code).to.equal('TOO_LARGE') }
  })

  it('a gossip frame over the hard limit is struck, hung up on, and the configured peer comes back', async () => {
    const a = await node('frame-a', { maxMessageBytes: 4 * 1024 * 1024 })
    const b = await node('frame-b', { maxMessageBytes: 1024, peers: [a.addr] }) // hard frame limit about 66 KiB
    await until('handshaken', () => isPeer(a.net, b.net) && isPeer(b.net, a.net), 10_000)
    await a.net.waitForSubscribers('txs', 1, 10_000)
    const gone: PeerInfo[] = []
    b.net.on('peer:gone', p => gone.push(p))
    await a.net.publish('txs', Buffer.alloc(200 * 1024, 'y'))
    await until('B strikes A and hangs up', () => b.net.strikes(a.net.peerId) === 1 && gone.length === 1, 10_000)
    expect(b.log.some(e => e.msg === 'p2p oversized or malformed gossip frame')).to.equal(true) // the frame limit, not the validator
    await until('B redials A', () => isPeer(b.net, a.net) && isPeer(a.net, b.net), 10_000)
    await a.net.waitForSubscribers('txs', 1, 10_000)
    await a.net.publish('txs', Buffer.from('after'))
    await until('gossip works again', () => received(b, 'txs', 'after'), 10_000)
  })

  it('penalize: past the threshold the peer is disconnected and banned for a while', async () => {
    const a = await node('ban-a', { banMs: 1500 })
    const b = await node('ban-b', { peers: [a.addr] })
    const goneOnA: PeerInfo[] = []
    a.net.on('peer:gone', p => goneOnA.push(p))
    await until('handshaken', () => isPeer(a.net, b.net) && isPeer(b.net, a.net), 10_000)
    for (let i = 1; i < 20; i++) a.net.penalize(b.net.peerId, 'test')
    expect(a.net.strikes(b.net.peerId)).to.equal(19)
    expect(isPeer(a.net, b.net)).to.equal(true)
    const bannedAt = Date.now()
    a.net.penalize(b.net.peerId, 'test')
    expect(a.net.isBanned(b.net.peerId)).to.equal(true)
    await until('A drops B', () => goneOnA.length === 1 && !isPeer(a.net, b.net), 10_000)
    // B keeps redialling; A refuses it until the ban ends
    await until('B is back after the ban', () => isPeer(a.net, b.net), 15_000)
    expect(Date.now() - bannedAt).to.be.at.least(1400)
    expect(a.net.isBanned(b.net.peerId)).to.equal(false)
  })

  it('redials a peer that went away once it is back on the same port and identity', async () => {
    const a = await node('redial-a')
    const port = Number(a.addr.split('/')[4])
    const b = await node('redial-b', { peers: [a.addr] })
    await until('connected', () => isPeer(b.net, a.net), 10_000)
    const gone: PeerInfo[] = []
    const ready: PeerInfo[] = []
    b.net.on('peer:gone', p => gone.push(p))
    b.net.on('peer:ready', p => ready.push(p))
    const oldId = a.net.peerId
    await a.net.stop()
    await until('B notices A is gone', () => gone.length === 1 && b.net.peers().length === 0, 10_000)
    await until('B retries and fails at least twice', () => b.log.filter(e => e.msg === 'p2p dial failed').length >= 2, 10_000)
    const a2 = await node('redial-a', { port, height: 12 })
    expect(a2.net.peerId).to.equal(oldId)
    expect(a2.addr).to.equal(a.addr)
    await until('B reconnects to the restarted A', () => isPeer(b.net, a2.net) && isPeer(a2.net, b.net), 15_000)
    expect(ready.map(p => p.id)).to.deep.equal([oldId])
    expect(b.net.peers()[0].height).to.equal(12)
  })

  it('stop() leaves nothing running: a process with two networks exits by itself', async () => {
    const code = `
      import { createNetwork } from ${JSON.stringify(ROOT + '/node/p2p/network.ts')}
      const logger = { info () {}, warn () {}, debug () {}, error () {} }
      const base = { host: '127.0.0.1', port: 0, chainId: 'c', genesisHash: 'g', status: () => ({ height: 1 }), logger }
      const a = await createNetwork({ ...base, peers: [], nodeKeySeed: new Uint8Array(32).fill(1) })
      await a.start()
      const b = await createNetwork({ ...base, peers: [a.multiaddrs()[0]], nodeKeySeed: new Uint8Array(32).fill(2) })
      let got = false
      b.onGossip('txs', () => { got = true; return 'accept' })
      b.handle('sync', async r => r)
      await b.start()
      await a.waitForSubscribers('txs', 1, 10000)
      await a.publish('txs', new Uint8Array([1]))
      await a.request(b.peerId, 'sync', new Uint8Array([2]), 5000)
      const end = Date.now() + 10000
      while (!got && Date.now() < end) await new Promise(r => setTimeout(r, 10))
      await a.stop()
      await b.stop()
      console.log(got ? 'DONE' : 'NO-GOSSIP')
    `
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', './node/polyfill.ts', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const exit = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => { child.kill('SIGKILL'); resolve(null) }, 25_000)
      child.on('exit', (c) => { clearTimeout(killer); resolve(c) })
    })
    expect(exit, `child did not exit by itself; output:\n${out}`).to.equal(0)
    expect(out).to.include('DONE')
  })
})

describe('p2p handshake and strikes (pure)', () => {
  const ours = { chainId: CHAIN, genesisHash: GENESIS }
  const raw = (v: unknown): Uint8Array => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))

  it('accepts a matching status and reports the height', () => {
    expect(checkHandshake(encodeHandshake({ ...ours, height: 9 }), ours)).to.deep.equal({ ok: true, status: { ...ours, height: 9 } })
    expect(checkHandshake(raw({ ...ours, genesisHash: GENESIS.toUpperCase(), height: 0 }), ours).ok).to.equal(true)
  })

  it('classifies mismatches and malformed handshakes without throwing', () => {
    const code = (b: Uint8Array): string => { const r = checkHandshake(b, ours); return r.ok ? 'OK' : r.code }
    expect(code(raw({ ...ours, chainId: 'x', height: 1 }))).to.equal('CHAIN_ID_MISMATCH')
    expect(code(raw({ ...ours, genesisHash: 'cc', height: 1 }))).to.equal('GENESIS_MISMATCH')
    for (const bad of [raw('not json'), raw([1, 2]), raw(null), raw({ ...ours }), raw({ ...ours, height: -1 }), raw({ ...ours, height: 1.5 }), raw({ ...ours, height: '1' }), raw({ chainId: 1, genesisHash: GENESIS, height: 1 }), new Uint8Array([0xff, 0xfe])]) {
      expect(code(bad)).to.equal('MALFORMED')
    }
  })

  it('forgives one strike per decay period', () => {
    const book = new StrikeBook(1000)
    expect(book.add('p', 0)).to.equal(1)
    expect(book.add('p', 10)).to.equal(2)
    expect(book.add('p', 20)).to.equal(3)
    expect(book.get('p', 999)).to.equal(3)
    expect(book.get('p', 1000)).to.equal(2)
    expect(book.get('p', 2500)).to.equal(1)
    expect(book.add('p', 2600)).to.equal(2)
    expect(book.get('p', 10_000)).to.equal(0)
    expect(book.get('q', 0)).to.equal(0)
  })
})
