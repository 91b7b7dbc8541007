// A raw libp2p peer of the fuzz run, on the node's own stack (tcp + noise + yamux + identify +
// gossipsub with StrictNoSign and the same message ids), that speaks the chain's handshake and
// sync protocols by hand, so that it can send what an honest node never would: gossip payloads
// of any bytes, malformed handshakes, sync frames of any length. Its identity comes from a seed;
// a banned peer starts again under a new one, as an attacker would.
import { createHash } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, StrictNoSign, type GossipSub, type Message } from '@libp2p/gossipsub'
import { lpStream } from '@libp2p/utils'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, Stream, Connection } from '@libp2p/interface'
import { HANDSHAKE_PROTOCOL, encodeHandshake } from '../../node/p2p/handshake.ts'

type Node = Libp2p<{ identify: Identify, pubsub: GossipSub }>

export type Topic = 'txs' | 'consensus'

export interface PeerTarget {
  chainId: string
  genesisHash: string
  /** The node's multiaddr with /p2p/<id>. */
  addr: string
  height: () => number
}

/** What our side of a handshake sends: our honest status by default. */
export type HandshakeReply = (honest: Uint8Array) => Uint8Array | null

const BIG_FRAME = 64 * 1024 * 1024

/**
 * libp2p refuses more than 5 inbound connections a second from one host (the connection
 * manager's inboundConnectionThreshold); every peer of the run dials from 127.0.0.1, so new
 * connections are paced below that, over all peers together.
 */
const DIALS_PER_SECOND = 4
let nextDialAt = 0
async function paceDial (): Promise<void> {
  const now = Date.now()
  const at = Math.max(now, nextDialAt)
  nextDialAt = at + 1000 / DIALS_PER_SECOND
  if (at > now) await new Promise(resolve => setTimeout(resolve, at - now))
}

export class RawPeer {
  private node: Node | null = null
  private conn: Connection | null = null
  /** What this peer answers to the node's handshake (null: no answer, the stream is left open). */
  handshakeReply: HandshakeReply = honest => honest

  constructor (private readonly target: PeerTarget, private readonly onGossip: (topic: Topic, data: Uint8Array) => void = () => {}) {}

  topic (t: Topic): string { return `/aitbc/${this.target.chainId}/${t}/1` }
  get syncProtocol (): string { return `/aitbc/${this.target.chainId}/sync/1` }
  get peerId (): string { return this.node?.peerId.toString() ?? '' }

  private honest (): Uint8Array { return encodeHandshake({ chainId: this.target.chainId, genesisHash: this.target.genesisHash, height: this.target.height() }) }

  async start (identitySeed: Uint8Array, opts: { gossip?: boolean } = {}): Promise<void> {
    const gossip = opts.gossip ?? true
    const node = await createLibp2p({
      privateKey: await generateKeyPairFromSeed('Ed25519', identitySeed),
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { reconnectRetries: 0 },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          globalSignaturePolicy: StrictNoSign,
          msgIdFn: (msg: Message) => createHash('sha256').update(msg.topic).update(msg.data).digest(),
          floodPublish: true,
          emitSelf: false,
          fallbackToFloodsub: false,
          ignoreDuplicatePublishError: true,
          allowPublishToZeroTopicPeers: false,
          maxInboundDataLength: BIG_FRAME,
        }),
      },
    }) as Node
    this.node = node
    await node.handle(HANDSHAKE_PROTOCOL, async (stream: Stream) => {
      try {
        const lp = lpStream(stream, { maxDataLength: BIG_FRAME })
        await lp.read({ signal: AbortSignal.timeout(10_000) })
        const reply = this.handshakeReply(this.honest())
        if (reply === null) return
        await lp.write(reply)
        await stream.close()
      } catch (e) { stream.abort(e as Error) }
    })
    if (gossip) {
      node.services.pubsub.addEventListener('message', (evt) => {
        const m = evt.detail
        const t: Topic | null = m.topic === this.topic('txs') ? 'txs' : m.topic === this.topic('consensus') ? 'consensus' : null
        if (t !== null && m.data.length > 8) this.onGossip(t, m.data.subarray(8))
      })
      node.services.pubsub.subscribe(this.topic('txs'))
      node.services.pubsub.subscribe(this.topic('consensus'))
    }
  }

  /** Dials the node and runs our side of the handshake with these bytes (or a raw non-framed write); returns the node's answer. */
  async connect (hello: Uint8Array | { raw: Uint8Array } = this.honest(), timeoutMs = 10_000): Promise<Uint8Array | null> {
    const node = this.need()
    await paceDial()
    const signal = AbortSignal.timeout(timeoutMs)
    this.conn = await node.dial(multiaddr(this.target.addr), { signal })
    const stream = await this.conn.newStream(HANDSHAKE_PROTOCOL, { signal })
    try {
      if ('raw' in hello) {
        stream.send(hello.raw)
        await stream.close({ signal }).catch(() => {})
        return null
      }
      const lp = lpStream(stream, { maxDataLength: BIG_FRAME })
      await lp.write(hello, { signal })
      const answer = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(() => {})
      return answer
    } catch (e) {
      stream.abort(e as Error)
      throw e
    }
  }

  /** Open to the node, handshaken, and the node subscribed to both topics as this peer sees it. */
  ready (): boolean {
    const node = this.node
    if (node === null || this.conn === null || this.conn.status !== 'open') return false
    const id = this.conn.remotePeer.toString()
    return (['txs', 'consensus'] as const).every(t => node.services.pubsub.getSubscribers(this.topic(t)).some(p => p.toString() === id))
  }

  async waitReady (timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs
    while (Date.now() < end) {
      if (this.ready()) return true
      if (this.conn !== null && this.conn.status !== 'open') return false
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    return false
  }

  /** Publishes bytes as they are on the wire (the node expects an 8-byte nonce before the payload). */
  async publishWire (t: Topic, wire: Uint8Array): Promise<void> {
    await this.need().services.pubsub.publish(this.topic(t), wire)
  }

  /** A sync exchange: the request (framed, or raw bytes), then one framed answer (or null when the node closes without one). */
  async sync (req: Uint8Array | { raw: Uint8Array }, timeoutMs: number): Promise<Uint8Array | null> {
    if (this.conn === null) throw new Error('not connected')
    const signal = AbortSignal.timeout(timeoutMs)
    const stream = await this.conn.newStream(this.syncProtocol, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: BIG_FRAME })
      if ('raw' in req) stream.send(req.raw)
      else await lp.write(req, { signal })
      const answer = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(() => {})
      return answer
    } catch (e) {
      stream.abort(e as Error)
      const name = (e as Error).name
      if (signal.aborted || name === 'StreamResetError' || name === 'UnexpectedEOFError' || name === 'StreamAbortedError' || name === 'StreamClosedError' || /reset|closed|EOF|aborted/i.test((e as Error).message)) return null
      throw e
    }
  }

  async stop (): Promise<void> {
    const node = this.node
    this.node = null
    this.conn = null
    await node?.stop()
  }

  private need (): Node {
    if (this.node === null) throw new Error('peer not started')
    return this.node
  }
}
