// The node's libp2p networking layer: TCP + noise + yamux + identify + gossipsub, a chain
// handshake on every connection, one request/response protocol (sync), strikes and bans, and
// redialing of configured peers with exponential backoff.
//
// Gossip wire format: StrictNoSign gossipsub messages whose data is an 8-byte random nonce
// followed by the payload; the message id is sha256(topic ‖ data). So every publish() is sent
// (re-publishing the same payload later goes out again), there is no per-message signature
// cost, and deduplication of payloads is the application's job (its validator answers
// 'ignore' for a payload it already has).
//
// Request/response wire format (one stream per request): request = one length-prefixed frame
// with the payload; response = one length-prefixed frame, first byte 0 (ok, payload follows)
// or 1 (error, UTF-8 message follows).
import { createHash, randomBytes } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, StrictNoSign, TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import { lpStream } from '@libp2p/utils'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { NetworkError } from './errors.ts'
import { HANDSHAKE_MAX_BYTES, HANDSHAKE_PROTOCOL, checkHandshake, encodeHandshake } from './handshake.ts'
import { StrikeBook } from './strikes.ts'

export { NetworkError } from './errors.ts'
export type { NetworkErrorCode } from './errors.ts'

export type Topic = 'txs' | 'consensus'
export type Verdict = 'accept' | 'reject' | 'ignore'

export interface NetworkLogger {
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  debug: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
}

export interface NetworkOptions {
  host: string
  port: number // 0 = any free port
  peers: string[] // multiaddrs with /p2p/<peerId>, dialled at start and redialled after disconnect
  nodeKeySeed: Uint8Array // 32-byte ed25519 seed from which the libp2p identity is derived
  chainId: string
  genesisHash: string
  status: () => { height: number }
  logger: NetworkLogger
  maxMessageBytes?: number // default 4 MiB, for gossip payloads, requests and responses
  strikeThreshold?: number // default 20: at this many strikes the peer is disconnected and banned
  strikeDecayMs?: number // default 60 s: one strike is forgiven per period
  banMs?: number // default 60 s: ban after too many strikes or a malformed handshake
  mismatchBanMs?: number // default 10 min: ban of a peer on another chain id or genesis
  handshakeTimeoutMs?: number // default 5 s
  redialMinMs?: number // default 250 ms
  redialMaxMs?: number // default 10 s
}

export interface PeerInfo { id: string, addr: string, height: number, outbound: boolean }

export interface Network {
  readonly peerId: string
  start: () => Promise<void>
  stop: () => Promise<void>
  multiaddrs: () => string[]
  /** Handshaken peers only. */
  peers: () => PeerInfo[]
  /**
   * Gossips to every subscribed peer (flood publish). Resolves without sending when there are no
   * peers. Payloads are limited to min(maxMessageBytes, 3.75 MiB): gossipsub cannot frame more.
   */
  publish: (topic: Topic, data: Uint8Array) => Promise<void>
  /** Installs the topic's validator: accept = deliver and forward; ignore = drop; reject = drop and strike the sender. */
  onGossip: (topic: Topic, handler: (data: Uint8Array, from: string) => Verdict | Promise<Verdict>) => void
  handle: (protocol: 'sync', handler: (req: Uint8Array, from: string) => Promise<Uint8Array>) => void
  request: (peer: string, protocol: 'sync', req: Uint8Array, timeoutMs: number) => Promise<Uint8Array>
  penalize: (peer: string, reason: string) => void
  strikes: (peer: string) => number
  isBanned: (peer: string) => boolean
  on: (event: 'peer:ready' | 'peer:gone', f: (p: PeerInfo) => void) => void
  /** Resolves once at least n handshaken peers subscribe to the topic (and, with mesh, are in our mesh for it: needed before relying on forwarding). */
  waitForSubscribers: (topic: Topic, n: number, timeoutMs: number, opts?: { mesh?: boolean }) => Promise<void>
}

const TOPICS: readonly Topic[] = ['txs', 'consensus']
const NONCE_BYTES = 8
const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
const REQUEST_READ_TIMEOUT_MS = 10_000
const FRAME_SLACK_BYTES = 64 * 1024
// gossipsub length-prefixes outbound RPCs with it-length-prefixed's fixed 4 MiB limit and
// silently drops an RPC over it; keep room for the envelope and piggybacked control messages.
const GOSSIP_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024 - 256 * 1024
// Errors thrown by it-length-prefixed / lpStream for a frame over the size limit or a bad length.
const FRAME_ERRORS = new Set(['InvalidDataLengthError', 'InvalidMessageLengthError', 'InvalidDataLengthLengthError'])

export async function createNetwork (opts: NetworkOptions): Promise<Network> {
  if (!(opts.nodeKeySeed instanceof Uint8Array) || opts.nodeKeySeed.length !== 32) {
    throw new NetworkError('BAD_ARGUMENT', 'nodeKeySeed must be 32 bytes')
  }
  const privateKey = await generateKeyPairFromSeed('Ed25519', opts.nodeKeySeed)
  return new P2PNetwork(opts, privateKey)
}

interface PeerState {
  info?: PeerInfo // set once a handshake succeeded
  pending: Set<symbol> // handshakes in flight
  waiters: Array<(ready: boolean) => void>
}

interface Dialer { id: string, addr: Multiaddr, peerId: PeerId, delayMs: number, timer?: NodeJS.Timeout, dialing: boolean }

type Node = Libp2p<{ identify: Identify, pubsub: GossipSub }>

class P2PNetwork implements Network {
  readonly peerId: string
  private node?: Node
  private running = false
  private readonly log: NetworkLogger
  private readonly maxBytes: number
  private readonly cfg: Required<Pick<NetworkOptions, 'strikeThreshold' | 'banMs' | 'mismatchBanMs' | 'handshakeTimeoutMs' | 'redialMinMs' | 'redialMaxMs'>>
  private readonly strikeBook: StrikeBook
  private readonly bans = new Map<string, number>() // peer -> banned until (ms)
  private readonly state = new Map<string, PeerState>()
  private readonly dialers = new Map<string, Dialer>()
  private readonly gossipHandlers = new Map<Topic, (data: Uint8Array, from: string) => Verdict | Promise<Verdict>>()
  private syncHandler?: (req: Uint8Array, from: string) => Promise<Uint8Array>
  private readonly listeners = { 'peer:ready': [] as Array<(p: PeerInfo) => void>, 'peer:gone': [] as Array<(p: PeerInfo) => void> }
  private readonly syncProtocol: string

  constructor (private readonly opts: NetworkOptions, private readonly privateKey: PrivateKey) {
    this.peerId = peerIdFromPrivateKey(privateKey).toString()
    this.log = opts.logger
    this.maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.cfg = {
      strikeThreshold: opts.strikeThreshold ?? 20,
      banMs: opts.banMs ?? 60_000,
      mismatchBanMs: opts.mismatchBanMs ?? 600_000,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5_000,
      redialMinMs: opts.redialMinMs ?? 250,
      redialMaxMs: opts.redialMaxMs ?? 10_000
    }
    this.strikeBook = new StrikeBook(opts.strikeDecayMs ?? 60_000)
    this.syncProtocol = `/aitbc/${opts.chainId}/sync/1`
  }

  private topicName (t: Topic): string { return `/aitbc/${this.opts.chainId}/${t}/1` }

  // ---------------------------------------------------------------- lifecycle

  async start (): Promise<void> {
    if (this.running) return
    const dialers: Dialer[] = []
    for (const s of this.opts.peers) {
      let addr: Multiaddr
      try { addr = multiaddr(s) } catch (err) { throw new NetworkError('BAD_ARGUMENT', `bad peer multiaddr ${s}: ${errMsg(err)}`) }
      const id = addr.getComponents().filter(c => c.name === 'p2p').pop()?.value
      if (id === undefined) throw new NetworkError('BAD_ARGUMENT', `peer multiaddr ${s} has no /p2p/<peerId>`)
      if (id === this.peerId) continue
      dialers.push({ id, addr, peerId: peerIdFromString(id), delayMs: this.cfg.redialMinMs, dialing: false })
    }
    const frameLimit = 2 * this.maxBytes + FRAME_SLACK_BYTES
    const node: Node = await createLibp2p({
      privateKey: this.privateKey,
      start: false,
      addresses: { listen: [`/ip4/${this.opts.host}/tcp/${this.opts.port}`] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: {
        denyDialPeer: (p) => this.isBanned(p.toString()),
        denyInboundEncryptedConnection: (p) => this.isBanned(p.toString()),
        denyOutboundEncryptedConnection: (p) => this.isBanned(p.toString())
      },
      connectionManager: { reconnectRetries: 0 }, // we redial configured peers ourselves
      services: {
        identify: identify(),
        pubsub: gossipsub({
          globalSignaturePolicy: StrictNoSign,
          msgIdFn: (msg: Message) => msgId(msg.topic, msg.data),
          floodPublish: true,
          emitSelf: false,
          fallbackToFloodsub: false,
          allowPublishToZeroTopicPeers: true,
          ignoreDuplicatePublishError: true,
          allowedTopics: TOPICS.map(t => this.topicName(t)),
          // a gossipsub frame may carry more than one message (IWANT replies): twice the
          // payload limit plus framing; over that the stream breaks (see hookOversizedFrames)
          maxInboundDataLength: frameLimit
        })
      }
    })
    this.node = node
    node.addEventListener('connection:open', (evt) => { this.onConnectionOpen(evt.detail) })
    node.addEventListener('peer:disconnect', (evt) => { this.onPeerDisconnect(evt.detail) })
    await node.handle(HANDSHAKE_PROTOCOL, (stream, conn) => this.onHandshakeStream(stream, conn), { maxInboundStreams: 8 })
    await node.handle(this.syncProtocol, (stream, conn) => this.onSyncStream(stream, conn), { maxInboundStreams: 64 })
    this.hookOversizedFrames(node.services.pubsub)
    for (const t of TOPICS) {
      node.services.pubsub.topicValidators.set(this.topicName(t), (from, msg) => this.validateGossip(t, from, msg))
    }
    this.running = true
    try {
      await node.start()
    } catch (err) {
      this.running = false
      this.node = undefined
      try { await node.stop() } catch {}
      throw err
    }
    for (const t of TOPICS) node.services.pubsub.subscribe(this.topicName(t)) // only once gossipsub runs
    this.log.info({ peerId: this.peerId, addrs: this.multiaddrs(), chainId: this.opts.chainId }, 'p2p started')
    for (const d of dialers) {
      this.dialers.set(d.id, d)
      void this.dial(d)
    }
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const d of this.dialers.values()) clearTimeout(d.timer)
    this.dialers.clear()
    for (const s of this.state.values()) flushWaiters(s, false)
    this.state.clear()
    const node = this.node
    this.node = undefined
    await node?.stop()
    this.log.info({ peerId: this.peerId }, 'p2p stopped')
  }

  multiaddrs (): string[] {
    if (this.node === undefined) return []
    return this.node.getMultiaddrs().map(a => {
      const s = a.toString()
      return s.includes('/p2p/') ? s : `${s}/p2p/${this.peerId}`
    })
  }

  peers (): PeerInfo[] {
    const out: PeerInfo[] = []
    for (const s of this.state.values()) if (s.info !== undefined) out.push({ ...s.info })
    return out
  }

  on (event: 'peer:ready' | 'peer:gone', f: (p: PeerInfo) => void): void { this.listeners[event].push(f) }

  private emit (event: 'peer:ready' | 'peer:gone', p: PeerInfo): void {
    for (const f of this.listeners[event]) {
      try { f({ ...p }) } catch (err) { this.log.error({ err: errMsg(err), event }, 'p2p event listener threw') }
    }
  }

  // ---------------------------------------------------------------- handshake

  private ourStatus (): { chainId: string, genesisHash: string, height: number } {
    let height = 0
    try { height = this.opts.status().height } catch (err) { this.log.error({ err: errMsg(err) }, 'p2p status() threw') }
    return { chainId: this.opts.chainId, genesisHash: this.opts.genesisHash, height }
  }

  private peerState (id: string): PeerState {
    let s = this.state.get(id)
    if (s === undefined) { s = { pending: new Set(), waiters: [] }; this.state.set(id, s) }
    return s
  }

  /** Each side opens its own handshake stream on every new connection. */
  private onConnectionOpen (conn: Connection): void {
    if (!this.running) return
    const id = conn.remotePeer.toString()
    const s = this.peerState(id)
    const token = Symbol('handshake-out')
    s.pending.add(token)
    void this.handshakeOut(conn).finally(() => { this.handshakeDone(s, token) })
  }

  private async handshakeOut (conn: Connection): Promise<void> {
    const id = conn.remotePeer.toString()
    const { signal, clear } = deadline(this.cfg.handshakeTimeoutMs)
    let stream: Stream | undefined
    try {
      stream = await conn.newStream(HANDSHAKE_PROTOCOL, { signal })
      const lp = lpStream(stream, { maxDataLength: HANDSHAKE_MAX_BYTES })
      await lp.write(encodeHandshake(this.ourStatus()), { signal })
      const reply = await lp.read({ signal })
      await stream.close({ signal })
      this.onHandshake(conn, reply.subarray())
    } catch (err) {
      stream?.abort(asError(err))
      this.log.debug({ peer: id, addr: conn.remoteAddr.toString(), err: errMsg(err) }, 'p2p handshake failed')
      // no handshake on this connection and none elsewhere: the peer is not one of ours
      if (this.running && conn.status === 'open' && this.state.get(id)?.info === undefined) {
        conn.abort(new Error('handshake failed'))
      }
    } finally {
      clear()
    }
  }

  private async onHandshakeStream (stream: Stream, conn: Connection): Promise<void> {
    const id = conn.remotePeer.toString()
    const s = this.peerState(id)
    const token = Symbol('handshake-in')
    s.pending.add(token)
    const { signal, clear } = deadline(this.cfg.handshakeTimeoutMs)
    try {
      const lp = lpStream(stream, { maxDataLength: HANDSHAKE_MAX_BYTES })
      const req = await lp.read({ signal })
      // answer first, so that a peer on another chain also learns why it is dropped
      await lp.write(encodeHandshake(this.ourStatus()), { signal })
      await stream.close({ signal })
      this.onHandshake(conn, req.subarray())
    } catch (err) {
      stream.abort(asError(err))
      this.log.debug({ peer: id, err: errMsg(err) }, 'p2p inbound handshake failed')
    } finally {
      clear()
      this.handshakeDone(s, token)
    }
  }

  private handshakeDone (s: PeerState, token: symbol): void {
    s.pending.delete(token)
    if (s.pending.size === 0 && s.info === undefined) flushWaiters(s, false)
  }

  private onHandshake (conn: Connection, bytes: Uint8Array): void {
    if (!this.running) return
    const id = conn.remotePeer.toString()
    const addr = conn.remoteAddr.toString()
    const check = checkHandshake(bytes, this.opts)
    if (!check.ok) {
      if (!this.isBanned(id)) {
        this.log.warn({ peer: id, addr, code: check.code, reason: check.reason }, 'p2p peer dropped after handshake')
      }
      this.ban(id, check.code === 'MALFORMED' ? this.cfg.banMs : this.cfg.mismatchBanMs, check.reason)
      return
    }
    if (conn.status !== 'open') return
    const s = this.peerState(id)
    if (s.info !== undefined) { s.info.height = check.status.height; return }
    s.info = { id, addr, height: check.status.height, outbound: conn.direction === 'outbound' }
    const d = this.dialers.get(id)
    if (d !== undefined) d.delayMs = this.cfg.redialMinMs
    this.log.info({ peer: id, addr, height: s.info.height, outbound: s.info.outbound }, 'p2p peer ready')
    flushWaiters(s, true)
    this.emit('peer:ready', s.info)
  }

  /** True once the peer is handshaken; waits for handshakes in flight; false if there are none. */
  private whenReady (id: string): boolean | Promise<boolean> {
    const s = this.state.get(id)
    if (s === undefined) return false
    if (s.info !== undefined) return true
    if (s.pending.size === 0) return false
    return new Promise(resolve => { s.waiters.push(resolve) })
  }

  private onPeerDisconnect (peer: PeerId): void {
    const id = peer.toString()
    const s = this.state.get(id)
    if (s !== undefined) {
      this.state.delete(id)
      flushWaiters(s, false)
      if (s.info !== undefined) {
        this.log.info({ peer: id, addr: s.info.addr }, 'p2p peer gone')
        this.emit('peer:gone', s.info)
      }
    }
    const d = this.dialers.get(id)
    if (d !== undefined) this.scheduleDial(d)
  }

  // ---------------------------------------------------------------- dialing

  private scheduleDial (d: Dialer, waitMs?: number): void {
    if (!this.running || d.timer !== undefined) return
    const wait = waitMs ?? d.delayMs
    if (waitMs === undefined) d.delayMs = Math.min(d.delayMs * 2, this.cfg.redialMaxMs)
    d.timer = setTimeout(() => {
      d.timer = undefined
      void this.dial(d)
    }, wait)
  }

  private async dial (d: Dialer): Promise<void> {
    const node = this.node
    if (!this.running || node === undefined || d.dialing) return
    if (node.getConnections(d.peerId).length > 0) return
    const banLeft = (this.bans.get(d.id) ?? 0) - Date.now()
    if (banLeft > 0) { this.scheduleDial(d, banLeft + 1); return }
    d.dialing = true
    try {
      await node.dial(d.addr)
    } catch (err) {
      this.log.debug({ peer: d.id, addr: d.addr.toString(), err: errMsg(err), retryMs: d.delayMs }, 'p2p dial failed')
      this.scheduleDial(d)
    } finally {
      d.dialing = false
    }
  }

  // ---------------------------------------------------------------- strikes and bans

  strikes (peer: string): number { return this.strikeBook.get(peer, Date.now()) }

  isBanned (peer: string): boolean {
    const until = this.bans.get(peer)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.bans.delete(peer)
    return false
  }

  penalize (peer: string, reason: string): void {
    if (peer === this.peerId) return
    const n = this.strikeBook.add(peer, Date.now())
    this.log.debug({ peer, reason, strikes: n }, 'p2p strike')
    if (n >= this.cfg.strikeThreshold) {
      this.log.warn({ peer, reason, strikes: n, banMs: this.cfg.banMs }, 'p2p peer banned: too many strikes')
      this.strikeBook.clear(peer)
      this.ban(peer, this.cfg.banMs, `too many strikes (last: ${reason})`)
    }
  }

  private ban (peer: string, ms: number, reason: string): void {
    const until = Date.now() + ms
    if ((this.bans.get(peer) ?? 0) < until) this.bans.set(peer, until)
    const node = this.node
    if (node === undefined) return
    let pid: PeerId
    try { pid = peerIdFromString(peer) } catch { return }
    node.hangUp(pid).catch((err: unknown) => { this.log.debug({ peer, reason, err: errMsg(err) }, 'p2p hang up failed') })
  }

  // ---------------------------------------------------------------- gossip

  onGossip (topic: Topic, handler: (data: Uint8Array, from: string) => Verdict | Promise<Verdict>): void {
    if (!TOPICS.includes(topic)) throw new NetworkError('BAD_ARGUMENT', `unknown topic ${String(topic)}`)
    this.gossipHandlers.set(topic, handler)
  }

  async publish (topic: Topic, data: Uint8Array): Promise<void> {
    const node = this.node
    if (!this.running || node === undefined) throw new NetworkError('NOT_STARTED', 'network is not started')
    if (!TOPICS.includes(topic)) throw new NetworkError('BAD_ARGUMENT', `unknown topic ${String(topic)}`)
    const limit = Math.min(this.maxBytes, GOSSIP_MAX_PAYLOAD_BYTES)
    if (data.length > limit) throw new NetworkError('TOO_LARGE', `gossip of ${data.length} bytes exceeds ${limit}${limit < this.maxBytes ? ' (gossipsub frame limit)' : ''}`)
    const wire = new Uint8Array(NONCE_BYTES + data.length)
    wire.set(randomBytes(NONCE_BYTES), 0)
    wire.set(data, NONCE_BYTES)
    await node.services.pubsub.publish(this.topicName(topic), wire)
  }

  private validateGossip (topic: Topic, source: PeerId, msg: Message): TopicValidatorResult | Promise<TopicValidatorResult> {
    const from = source.toString()
    const ready = this.whenReady(from)
    if (ready === true) return this.judgeGossip(topic, from, msg.data)
    if (ready === false) return this.notReady(topic, from)
    return ready.then(ok => ok ? this.judgeGossip(topic, from, msg.data) : this.notReady(topic, from))
  }

  private notReady (topic: Topic, from: string): TopicValidatorResult {
    this.log.debug({ peer: from, topic }, 'p2p gossip from a peer without handshake ignored')
    return TopicValidatorResult.Ignore
  }

  private judgeGossip (topic: Topic, from: string, wire: Uint8Array): TopicValidatorResult | Promise<TopicValidatorResult> {
    if (wire.length < NONCE_BYTES || wire.length - NONCE_BYTES > this.maxBytes) {
      const reason = wire.length < NONCE_BYTES ? 'malformed gossip (no nonce)' : `oversized gossip (${wire.length - NONCE_BYTES} > ${this.maxBytes} bytes)`
      this.log.debug({ peer: from, topic, bytes: wire.length }, `p2p ${reason} dropped`)
      this.penalize(from, reason)
      return TopicValidatorResult.Reject
    }
    const handler = this.gossipHandlers.get(topic)
    if (handler === undefined) return TopicValidatorResult.Ignore
    let verdict: Verdict | Promise<Verdict>
    try {
      verdict = handler(wire.subarray(NONCE_BYTES), from)
    } catch (err) {
      return this.handlerThrew(topic, from, err)
    }
    // A handler may answer later (tx gossip checks signatures on worker threads).
    if (verdict instanceof Promise) return verdict.then(v => this.applyVerdict(topic, from, v), err => this.handlerThrew(topic, from, err))
    return this.applyVerdict(topic, from, verdict)
  }

  private handlerThrew (topic: Topic, from: string, err: unknown): TopicValidatorResult {
    this.log.debug({ peer: from, topic, err: errMsg(err) }, 'p2p gossip handler threw: message dropped')
    this.penalize(from, `gossip handler threw on ${topic}`)
    return TopicValidatorResult.Reject
  }

  private applyVerdict (topic: Topic, from: string, verdict: Verdict): TopicValidatorResult {
    switch (verdict) {
      case 'accept': return TopicValidatorResult.Accept
      case 'ignore': return TopicValidatorResult.Ignore
      case 'reject':
        this.log.debug({ peer: from, topic }, 'p2p gossip rejected')
        this.penalize(from, `gossip rejected on ${topic}`)
        return TopicValidatorResult.Reject
      default:
        this.log.error({ topic, verdict }, 'p2p gossip handler returned no verdict: message ignored')
        return TopicValidatorResult.Ignore
    }
  }

  /**
   * A gossipsub frame over maxInboundDataLength breaks gossipsub's read loop, which then drops
   * the peer from gossip but keeps the connection. Count that against the peer and hang up, so
   * that a later connection starts clean. The hook is gossipsub's own seam for this error.
   */
  private hookOversizedFrames (pubsub: GossipSub): void {
    const ps = pubsub as unknown as { handlePeerReadStreamError?: (err: unknown, peerId: PeerId) => void }
    const original = ps.handlePeerReadStreamError
    if (typeof original !== 'function') {
      this.log.warn({}, 'p2p: gossipsub has no handlePeerReadStreamError; oversized gossip frames are not counted')
      return
    }
    ps.handlePeerReadStreamError = (err: unknown, peerId: PeerId) => {
      original.call(pubsub, err, peerId)
      const name = (err as { name?: unknown } | null)?.name
      if (typeof name === 'string' && FRAME_ERRORS.has(name)) {
        const peer = peerId.toString()
        this.log.debug({ peer, err: errMsg(err) }, 'p2p oversized or malformed gossip frame')
        this.penalize(peer, 'oversized gossip frame')
        this.node?.hangUp(peerId).catch(() => {})
      }
    }
  }

  async waitForSubscribers (topic: Topic, n: number, timeoutMs: number, opts: { mesh?: boolean } = {}): Promise<void> {
    const t = this.topicName(topic)
    const count = (): number => {
      const ps = this.node?.services.pubsub
      if (ps === undefined) return 0
      // getMeshPeers is on gossipsub's class but not on its exported interface
      const mesh = opts.mesh === true ? new Set((ps as unknown as { getMeshPeers: (t: string) => string[] }).getMeshPeers(t)) : undefined
      return ps.getSubscribers(t).filter(p => {
        const id = p.toString()
        return this.state.get(id)?.info !== undefined && (mesh === undefined || mesh.has(id))
      }).length
    }
    const end = Date.now() + timeoutMs
    while (count() < n) {
      if (!this.running) throw new NetworkError('NOT_STARTED', 'network stopped while waiting for subscribers')
      if (Date.now() > end) throw new NetworkError('TIMEOUT', `fewer than ${n} subscribers on ${topic} after ${timeoutMs} ms (have ${count()})`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  // ---------------------------------------------------------------- request / response

  handle (protocol: 'sync', handler: (req: Uint8Array, from: string) => Promise<Uint8Array>): void {
    if (protocol !== 'sync') throw new NetworkError('BAD_ARGUMENT', `unknown protocol ${String(protocol)}`)
    this.syncHandler = handler
  }

  private lp (stream: Stream): ReturnType<typeof lpStream<Stream>> {
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, this.maxBytes + FRAME_SLACK_BYTES)
    return lpStream(stream, { maxDataLength: this.maxBytes + 1, maxBufferSize: this.maxBytes + FRAME_SLACK_BYTES })
  }

  private async onSyncStream (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    if (!await this.whenReady(from)) {
      this.log.debug({ peer: from }, 'p2p sync request from a peer without handshake refused')
      stream.abort(new Error('no handshake'))
      return
    }
    const lp = this.lp(stream)
    let req: Uint8Array
    const { signal, clear } = deadline(REQUEST_READ_TIMEOUT_MS)
    try {
      req = (await lp.read({ signal })).subarray()
      if (req.length > this.maxBytes) throw Object.assign(new Error(`request of ${req.length} bytes exceeds ${this.maxBytes}`), { name: 'InvalidDataLengthError' })
    } catch (err) {
      const name = (err as { name?: unknown } | null)?.name
      const frameError = typeof name === 'string' && FRAME_ERRORS.has(name)
      this.log.debug({ peer: from, err: errMsg(err) }, frameError ? 'p2p oversized or malformed sync request dropped' : 'p2p sync request read failed')
      if (frameError) this.penalize(from, 'oversized or malformed sync request')
      stream.abort(asError(err))
      return
    } finally {
      clear()
    }
    let frame: Uint8Array
    const handler = this.syncHandler
    try {
      if (handler === undefined) throw new Error('no sync handler')
      const resp = await handler(req, from)
      if (resp.length > this.maxBytes) throw new Error(`response of ${resp.length} bytes exceeds ${this.maxBytes}`)
      frame = new Uint8Array(1 + resp.length)
      frame[0] = 0
      frame.set(resp, 1)
    } catch (err) {
      const text = new TextEncoder().encode(errMsg(err).slice(0, 1024))
      frame = new Uint8Array(1 + text.length)
      frame[0] = 1
      frame.set(text, 1)
    }
    try {
      await lp.write(frame)
      await stream.close()
    } catch (err) {
      stream.abort(asError(err))
      this.log.debug({ peer: from, err: errMsg(err) }, 'p2p sync response write failed')
    }
  }

  async request (peer: string, protocol: 'sync', req: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const node = this.node
    if (!this.running || node === undefined) throw new NetworkError('NOT_STARTED', 'network is not started')
    if (protocol !== 'sync') throw new NetworkError('BAD_ARGUMENT', `unknown protocol ${String(protocol)}`)
    if (req.length > this.maxBytes) throw new NetworkError('TOO_LARGE', `${protocol} request of ${req.length} bytes exceeds ${this.maxBytes}`)
    if (this.state.get(peer)?.info === undefined) throw new NetworkError('NOT_CONNECTED', `${protocol} request to ${peer}: no handshaken connection`)
    const { signal, clear } = deadline(timeoutMs)
    let stream: Stream | undefined
    try {
      stream = await node.dialProtocol(peerIdFromString(peer), this.syncProtocol, { signal })
      const lp = this.lp(stream)
      await lp.write(req, { signal })
      const frame = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(() => {})
      if (frame.length === 0) throw new NetworkError('PROTOCOL', `${protocol} request to ${peer}: empty response`)
      const body = frame.subarray(1)
      if (frame[0] === 0) {
        if (body.length > this.maxBytes) {
          this.penalize(peer, 'oversized sync response')
          throw new NetworkError('TOO_LARGE', `${protocol} response from ${peer} of ${body.length} bytes exceeds ${this.maxBytes}`)
        }
        return body
      }
      if (frame[0] === 1) throw new NetworkError('REMOTE_ERROR', `${protocol} request to ${peer} failed: remote error: ${new TextDecoder().decode(body)}`)
      this.penalize(peer, 'malformed sync response')
      throw new NetworkError('PROTOCOL', `${protocol} request to ${peer}: bad response status ${frame[0]}`)
    } catch (err) {
      stream?.abort(asError(err))
      if (err instanceof NetworkError) throw err
      if (signal.aborted) throw new NetworkError('TIMEOUT', `${protocol} request to ${peer} timed out after ${timeoutMs} ms`, { cause: err })
      const name = (err as { name?: unknown } | null)?.name
      if (typeof name === 'string' && FRAME_ERRORS.has(name)) {
        this.penalize(peer, 'oversized or malformed sync response')
        throw new NetworkError('TOO_LARGE', `${protocol} response from ${peer} rejected: ${errMsg(err)}`, { cause: err })
      }
      throw new NetworkError('PROTOCOL', `${protocol} request to ${peer} failed: ${errMsg(err)}`, { cause: err })
    } finally {
      clear()
    }
  }
}

// ---------------------------------------------------------------- helpers

function msgId (topic: string, data: Uint8Array): Uint8Array {
  return createHash('sha256').update(topic).update(data).digest()
}

function flushWaiters (s: PeerState, ready: boolean): void {
  const ws = s.waiters.splice(0)
  for (const w of ws) w(ready)
}

/** An abort signal that fires after ms, and a clear() that must be called (no dangling timers). */
function deadline (ms: number): { signal: AbortSignal, clear: () => void } {
  const ac = new AbortController()
  const t = setTimeout(() => { ac.abort(new Error(`timed out after ${ms} ms`)) }, ms)
  return { signal: ac.signal, clear: () => { clearTimeout(t) } }
}

function errMsg (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function asError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
