// The P2P surfaces, from raw libp2p peers: gossip payloads on 'txs' and 'consensus' (valid
// encodings, their mutations, random bytes, wires without the nonce), sync requests (valid,
// mutated, random, empty, oversized, unframed), and handshakes (malformed, oversized, other
// chains, none at all) from a fresh identity each. Peers the node bans are replaced by new
// identities; that a fresh honest peer can always join again is itself checked.
import { randomBytes as randomBytesNode } from 'node:crypto'
import { pack, unpack } from '../../node/core/codec.ts'
import { sha256, utf8Bytes } from '../../node/core/crypto.ts'
import { decodeBlock, decodeCommit } from '../../node/core/block.ts'
import { decodeSyncRequest, decodeTxsAnswer } from '../../node/consensus/messages.ts'
import { encodeHandshake } from '../../node/p2p/handshake.ts'
import { leak } from './checks.ts'
import { concat, deepMsgpack, oddJson, mutateBytes, mutateMsgpack, oddMsgValue, oddString, randomBytes, safePack } from './gen.ts'
import { RawPeer, type PeerTarget, type Topic } from './peer.ts'
import type { Rng } from './rng.ts'
import type { FuzzContext, Surface, SurfaceName } from './surface.ts'
import type { NodeClient } from '../../node/rpc/client.ts'

const JOIN_TIMEOUT_MS = 15_000
const SYNC_TIMEOUT_MS = 15_000
/**
 * Every this many gossip messages a peer sends a valid tx of its own and waits until the node's
 * mempool or chain has it (the account's pending nonce moves): the node has then validated what
 * the peer sent before it on that stream, so the run measures what the node processed, not what
 * gossipsub buffered.
 */
const BARRIER_EVERY = 50
const BARRIER_TIMEOUT_MS = 10_000

/** Peers that gossip and sync; one is replaced under a new identity when the node drops it. */
export class PeerPool {
  private readonly peers: Array<{ peer: RawPeer | null, joining: Promise<RawPeer> | null, sent: number }>
  private identities = 0

  constructor (private readonly ctx: FuzzContext, private readonly target: PeerTarget, size: number, private readonly client: NodeClient) {
    this.peers = Array.from({ length: size }, () => ({ peer: null, joining: null, sent: 0 }))
  }

  /** A ready peer for this slot (joining a new identity if the last one was dropped). */
  async get (slot: number): Promise<{ peer: RawPeer, tick: () => Promise<void> }> {
    const s = this.peers[slot % this.peers.length]
    if (s.peer === null || !s.peer.ready()) {
      s.joining ??= this.join(s.peer).finally(() => { s.joining = null })
      s.peer = null
      s.peer = await s.joining
    }
    const peer = s.peer
    return {
      peer,
      tick: async () => { if (++s.sent % BARRIER_EVERY === 0) await this.barrier(peer, slot) },
    }
  }

  private async barrier (peer: RawPeer, slot: number): Promise<void> {
    const key = this.ctx.corpus.barrierKey(slot)
    let nonce: number
    try { nonce = Number((await this.client.call('aitbc_account', { address: key.address })).pending_nonce) } catch { return }
    const tx = this.ctx.corpus.signedTransfer(key, nonce)
    try { await peer.publishWire('txs', concat(new Uint8Array(randomBytesNode(8)), pack([tx]))) } catch { return }
    const end = Date.now() + BARRIER_TIMEOUT_MS
    while (Date.now() < end && !this.ctx.stopping()) {
      try { if (Number((await this.client.call('aitbc_account', { address: key.address })).pending_nonce) > nonce) return } catch {}
      if (!peer.ready()) return // dropped (banned): what it sent before is moot
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    this.ctx.stats.barrierTimeouts++
  }

  private async join (old: RawPeer | null): Promise<RawPeer> {
    await old?.stop().catch(() => {})
    let lastErr: unknown
    for (let attempt = 0; attempt < 5; attempt++) {
      const n = this.identities++
      this.ctx.stats.p2pIdentities++
      const peer = new RawPeer(this.target, (t, data) => { if (t === 'consensus') this.ctx.corpus.capture(data) })
      try {
        await peer.start(sha256(utf8Bytes(`aitbc-fuzz/${this.ctx.seed}/peer-${n}`)))
        await peer.connect()
        if (await peer.waitReady(JOIN_TIMEOUT_MS)) return peer
        lastErr = new Error('the node did not subscribe to our topics in time')
      } catch (e) { lastErr = e }
      await peer.stop().catch(() => {})
      await new Promise(resolve => setTimeout(resolve, 1000 * (attempt + 1)))
    }
    this.ctx.v.add('p2p', 'join', `a fresh peer with an honest handshake could not join the node after 5 identities: ${(lastErr as Error)?.message}`)
    throw lastErr
  }

  async stop (): Promise<void> {
    await Promise.all(this.peers.map(async s => { await (s.joining?.catch(() => null)); await s.peer?.stop().catch(() => {}) }))
  }
}

function wire (rng: Rng, payload: Uint8Array): Uint8Array {
  if (rng.chance(0.02)) return payload.subarray(0, rng.int(8)) // shorter than the nonce
  if (rng.chance(0.01)) return payload // no nonce: the payload's first 8 bytes are taken as one
  return concat(rng.bytes(8), payload)
}

function oddPayload (rng: Rng, tag?: number): Uint8Array {
  return rng.weighted([
    [3, () => safePack(oddMsgValue(rng)) ?? rng.bytes(10)],
    [1, () => deepMsgpack(rng)],
    [2, () => safePack(tag === undefined ? [oddMsgValue(rng)] : [tag, ...Array.from({ length: rng.range(0, 10) }, () => oddMsgValue(rng))]) ?? rng.bytes(10)],
    [1, () => randomBytes(rng, 4096)],
  ] as const)()
}

function txPayload (rng: Rng, ctx: FuzzContext): Uint8Array {
  const c = ctx.corpus
  return rng.weighted([
    [25, () => c.txBatch(rng)],
    [20, () => pack(Array.from({ length: rng.range(1, 5) }, () => mutateMsgpack(rng, c.tx(rng, false, 'p2p'))))],
    [20, () => mutateMsgpack(rng, c.txBatch(rng))],
    [10, () => mutateBytes(rng, c.txBatch(rng))],
    [10, () => randomBytes(rng)],
    [10, () => oddPayload(rng)],
    [2, () => { const t = c.tx(rng, false, 'p2p'); return pack(Array.from({ length: 2001 }, (_, i) => i % 2 === 0 ? t : t.subarray(0, 4))) }],
    [1, () => pack([])],
  ] as const)()
}

function consensusPayload (rng: Rng, ctx: FuzzContext): Uint8Array {
  const c = ctx.corpus
  return rng.weighted([
    [15, () => c.consensus(rng)],
    [5, () => c.tamperedProposal(rng) ?? c.consensus(rng)],
    [40, () => mutateMsgpack(rng, c.consensus(rng))],
    [20, () => mutateBytes(rng, c.consensus(rng))],
    [10, () => randomBytes(rng)],
    [15, () => oddPayload(rng, rng.pick([1, 2, 3, 0]))],
  ] as const)()
}

export function gossipSurface (ctx: FuzzContext, pool: PeerPool, topic: Topic, workers: number, slotBase: number): Surface {
  const name: SurfaceName = topic === 'txs' ? 'p2p-txs' : 'p2p-consensus'
  const payload = topic === 'txs' ? txPayload : consensusPayload
  return {
    name,
    workers,
    send: async (rng, _index, worker) => {
      const data = wire(rng, payload(rng, ctx))
      const { peer, tick } = await pool.get(slotBase + worker)
      try { await peer.publishWire(topic, data) } catch (e) {
        // a peer dropped between the check and the publish (the node banned it): not sent; the next input rejoins
        if (!/NoPeersSubscribedToTopic|not started|closed/i.test((e as Error).message)) ctx.stats.harnessError(e)
        ctx.stats.notSent++
        return 0
      }
      await tick()
      return 1
    },
  }
}

type SyncInput = { frame: Uint8Array, valid: boolean } | { raw: Uint8Array }

function syncInput (rng: Rng, ctx: FuzzContext): SyncInput {
  const c = ctx.corpus
  return rng.weighted<() => SyncInput>([
    [30, () => ({ frame: c.syncRequest(rng), valid: true })],
    [30, () => ({ frame: mutateMsgpack(rng, c.syncRequest(rng)), valid: false })],
    [10, () => ({ frame: mutateBytes(rng, c.syncRequest(rng)), valid: false })],
    [10, () => ({ frame: randomBytes(rng), valid: false })],
    [3, () => ({ frame: new Uint8Array(0), valid: false })],
    [10, () => ({ frame: oddPayload(rng, rng.pick([1, 2])), valid: false })],
    [1, () => ({ frame: new Uint8Array(4 * 1024 * 1024 + rng.range(1, 1000)), valid: false })],
    [3, () => ({ raw: rng.pick([Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x08, 1, 2), rng.bytes(rng.range(1, 64))]) })],
  ])()
}

/** A sync answer: status 0 and a body that decodes (for a valid request), or status 1 and a message that names no internals. */
function checkSyncAnswer (ctx: FuzzContext, where: string, input: SyncInput, answer: Uint8Array | null): void {
  if (answer === null) return
  const valid = 'frame' in input && input.valid
  if (answer.length === 0 || answer[0] > 1) { ctx.v.add('p2p', 'sync-status', `${where}: a sync answer with status ${answer[0] ?? 'none'}`); return }
  const body = answer.subarray(1)
  if (answer[0] === 1) {
    ctx.stats.syncRemoteErrors++
    const text = new TextDecoder().decode(body)
    const l = leak(text)
    if (l !== null) ctx.v.add('p2p', `sync-leak/${text.slice(0, 40)}`, `${where}: a sync error shows ${l}: ${text.slice(0, 300)}`)
    if (valid) ctx.v.add('p2p', `sync-refused/${text.slice(0, 40)}`, `${where}: a valid sync request was refused: ${text.slice(0, 200)}`)
    return
  }
  ctx.stats.syncOk++
  if (!valid || !('frame' in input)) return
  try {
    const req = decodeSyncRequest(input.frame)
    const v = unpack(body)
    if (req.kind === 'status') { if (!Array.isArray(v) || typeof v[0] !== 'number') throw new Error('status answer is not [height]'); return }
    if (req.kind === 'txs') { decodeTxsAnswer(body); return }
    if (!Array.isArray(v)) throw new Error('blocks answer is not a list')
    v.forEach((pair: unknown, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw new Error(`entry ${i} is not [block, commit]`)
      const b = decodeBlock(pair[0] as Uint8Array)
      decodeCommit(pair[1] as Uint8Array)
      if (b.header.height !== req.from + i) throw new Error(`entry ${i} is height ${b.header.height}, expected ${req.from + i}`)
    })
  } catch (e) {
    ctx.v.add('p2p', 'sync-answer', `${where}: the answer to a valid sync request does not decode: ${(e as Error).message}`)
  }
}

export function syncSurface (ctx: FuzzContext, pool: PeerPool, workers: number, slotBase: number): Surface {
  const name: SurfaceName = 'p2p-sync'
  return {
    name,
    workers,
    send: async (rng, index, worker) => {
      const input = syncInput(rng, ctx)
      const { peer } = await pool.get(slotBase + worker)
      let answer: Uint8Array | null = null
      // raw bytes are not a whole frame: the node waits for the rest and gives up on its own; no answer is expected
      try { answer = await peer.sync('frame' in input ? input.frame : input, 'frame' in input && input.frame.length <= 4 * 1024 * 1024 ? SYNC_TIMEOUT_MS : 2000) } catch (e) {
        // no stream (the connection closed under it): not sent
        ctx.stats.harnessError(e)
        ctx.stats.notSent++
        return 0
      }
      checkSyncAnswer(ctx, `${name}#${index}`, input, answer)
      return 1
    },
  }
}

/** Our hello and our answer to the node's, one of them (or both) malformed. */
function handshakeInput (rng: Rng, ctx: FuzzContext): { hello: Uint8Array | { raw: Uint8Array }, reply: (honest: Uint8Array) => Uint8Array | null, honest: boolean } {
  const t = ctx.target
  const json = (o: unknown): Uint8Array => utf8Bytes(JSON.stringify(o))
  const bad = (): Uint8Array => rng.weighted<() => Uint8Array>([
    [3, () => json({ chainId: rng.chance(0.5) ? t.chainId : oddString(rng), genesisHash: rng.chance(0.5) ? t.genesisHash : oddString(rng), height: rng.chance(0.5) ? ctx.corpus.height : oddJson(rng) })],
    [2, () => json({ chainId: t.chainId, genesisHash: t.genesisHash, height: rng.pick([-1, 1.5, 2 ** 53, '5', null, 1e308]) })],
    [2, () => mutateBytes(rng, encodeHandshake({ chainId: t.chainId, genesisHash: t.genesisHash, height: ctx.corpus.height }))],
    [1, () => json(rng.pick([[], null, 1, 'x', { chainId: 1 }, { __proto__: { chainId: t.chainId } }, { chainId: t.chainId, genesisHash: t.genesisHash, height: 1, extra: 'a'.repeat(3000) }]))],
    [1, () => utf8Bytes('{"chainId":"' + 'a'.repeat(rng.pick([4090, 5000, 100_000])) + '"}')],
    [1, () => Uint8Array.of(0xff, 0xfe, 0xfd)],
    [1, () => new Uint8Array(0)],
    [1, () => randomBytes(rng, 512)],
  ])()
  return rng.weighted<() => ReturnType<typeof handshakeInput>>([
    [5, () => ({ hello: bad(), reply: h => h, honest: false })],
    [2, () => ({ hello: encodeHandshake({ chainId: t.chainId, genesisHash: t.genesisHash, height: ctx.corpus.height }), reply: () => bad(), honest: false })],
    [1, () => ({ hello: { raw: rng.pick([Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), rng.bytes(rng.range(1, 100))]) }, reply: () => null, honest: false })],
    [1, () => ({ hello: bad(), reply: () => null, honest: false })],
    [1, () => ({ hello: encodeHandshake({ chainId: t.chainId, genesisHash: t.genesisHash, height: ctx.corpus.height }), reply: h => h, honest: true })],
  ])()
}

export function handshakeSurface (ctx: FuzzContext, target: PeerTarget, workers: number): Surface {
  const name: SurfaceName = 'p2p-handshake'
  return {
    name,
    workers,
    send: async (rng, index) => {
      const where = `${name}#${index}`
      const input = handshakeInput(rng, ctx)
      const peer = new RawPeer(target)
      peer.handshakeReply = input.reply
      ctx.stats.p2pIdentities++
      try {
        await peer.start(sha256(utf8Bytes(`aitbc-fuzz/${ctx.seed}/handshake-${index}`)), { gossip: false })
        let failure = ''
        const answer = await peer.connect(input.hello, 15_000).catch((e: Error) => { failure = e.message; return null })
        // the node answers every framed hello with its own status first (so a peer on another chain learns why)
        if (answer !== null) {
          let ok = false
          try { const o = JSON.parse(new TextDecoder().decode(answer)); ok = o.chainId === target.chainId && o.genesisHash === target.genesisHash } catch {}
          if (!ok) ctx.v.add('p2p', 'handshake-answer', `${where}: the node's handshake answer is not its status: ${new TextDecoder().decode(answer).slice(0, 200)}`)
        } else if (input.honest) {
          ctx.v.add('p2p', 'handshake-honest', `${where}: an honest handshake from a fresh identity got no answer (${failure})`)
        }
      } catch (e) { ctx.stats.harnessError(e) } finally { await peer.stop().catch(() => {}) }
      return 1
    },
  }
}
