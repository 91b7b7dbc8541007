// The WebSocket surface (/websocket): JSON-RPC frames (subscribe with crafted queries, every
// other method), broken text, binary and oversized frames, raw garbage after the upgrade on a
// bare socket, and storms of connections past the node's limit. Each answer passes
// checkRpcAnswer; the server may close a connection, never with 1011 (an internal error).
import { connect } from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { checkRpcAnswer } from './checks.ts'
import { rpcPayloadText, WS_METHODS, METHOD_NAMES } from './rpcInputs.ts'
import { jsonText, mutateString, oddJson } from './gen.ts'
import { report, type FuzzContext, type Surface, type SurfaceName } from './surface.ts'
import { MAX_BODY_BYTES, MAX_WS_CONNECTIONS } from '../../node/rpc/server.ts'
import type { Rng } from './rng.ts'

/** Longer than broadcast_tx_commit waits for its block (10 s). */
const REPLY_MS = 12_000
const SUB_METHODS = [...Object.keys(WS_METHODS), ...Object.keys(WS_METHODS), ...METHOD_NAMES]

/** One client connection: sends a frame and waits for the next answer that is not an event. */
class WsClient {
  private ws: WebSocket | null = null
  private waiting: ((text: string | null) => void) | null = null

  constructor (private readonly ctx: FuzzContext, private readonly where: string) {}

  private url (): string { return `ws://${this.ctx.rpcHost}:${this.ctx.rpcPort}/websocket` }

  /** Opens the connection if it is not open; a refusal for too many clients (1013, during a storm) is tried again. */
  async open (): Promise<WebSocket> {
    for (let attempt = 0; ; attempt++) {
      try { return await this.openOnce() } catch (e) {
        if (attempt >= 40 || !String((e as Error).message).includes('1013')) throw e
        await new Promise(resolve => setTimeout(resolve, 250))
      }
    }
  }

  private async openOnce (): Promise<WebSocket> {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) return this.ws
    const ws = new WebSocket(this.url(), { maxPayload: 64 * 1024 * 1024 })
    this.ws = ws
    ws.on('message', (data) => {
      const text = data.toString()
      if (isEvent(text)) { checkEvent(this.ctx, this.where, text); return }
      const w = this.waiting; this.waiting = null; w?.(text)
    })
    ws.on('close', (code) => {
      this.ctx.stats.count(this.ctx.stats.wsCloses, code)
      if (code === 1011) this.ctx.v.add('transport', 'ws-1011', `${this.where}: the server closed a WebSocket with 1011 (internal error)`)
      const w = this.waiting; this.waiting = null; w?.(null)
    })
    ws.on('error', () => {})
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); ws.once('close', (code) => reject(new Error(`closed before open (${code})`))) })
    return ws
  }

  /** Sends a frame; resolves with the answer, or null if none came (closed, or nothing within REPLY_MS). */
  async exchange (frame: string | Buffer, binary = false): Promise<string | null> {
    const ws = await this.open()
    const answer = new Promise<string | null>(resolve => {
      const t = setTimeout(() => { this.waiting = null; resolve(null) }, REPLY_MS)
      this.waiting = (text) => { clearTimeout(t); resolve(text) }
    })
    ws.send(frame, { binary })
    return await answer
  }

  close (): void { try { this.ws?.terminate() } catch {} this.ws = null }
}

function isEvent (text: string): boolean {
  return text.includes('"query":') && text.includes('"data":') && !text.includes('"error":')
}

function checkEvent (ctx: FuzzContext, where: string, text: string): void {
  try { JSON.parse(text) } catch { ctx.v.add('bad-answer', 'ws-event', `${where}: an event frame is not JSON: ${text.slice(0, 200)}`) }
}

/** A raw WebSocket upgrade on a bare socket, then garbage frames; returns the close code the server sent, if any. */
async function rawGarbage (ctx: FuzzContext, rng: Rng): Promise<number | null> {
  const key = randomBytes(16).toString('base64')
  const expect = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
  const frames: Buffer[] = [
    Buffer.from(rng.bytes(rng.range(1, 300))),
    Buffer.from([0x81, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f]), // unmasked text frame from a client
    Buffer.from([0x8f, 0x80, 0, 0, 0, 0]), // reserved opcode
    Buffer.from([0xf1, 0x80, 0, 0, 0, 0]), // reserved bits
    Buffer.from([0x09, 0x80, 0, 0, 0, 0]), // fragmented ping
    Buffer.from([0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), // 2^63 bytes announced
    Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe7]), // close with code 999
    Buffer.from([0x01, 0x81, 0, 0, 0, 0, 0x41, 0x01, 0x81, 0, 0, 0, 0, 0x41]), // a fragment, then a new message before it ended
    Buffer.from([0x81, 0x84, 1, 2, 3, 4, 0xfe ^ 1, 0xff ^ 2, 0xfe ^ 3, 0xff ^ 4]), // invalid UTF-8 text
  ]
  const frame = rng.pick(frames)
  return await new Promise((resolve, reject) => {
    const s = connect(ctx.rpcPort, ctx.rpcHost)
    let buf = Buffer.alloc(0)
    let upgraded = false
    let closeCode: number | null = null
    const t = setTimeout(() => { s.destroy(); resolve(closeCode) }, 3000)
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.subarray(0, end).toString('latin1')
        if (!head.startsWith('HTTP/1.1 101') || !head.includes(expect)) { clearTimeout(t); s.destroy(); resolve(Number(/HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0) >= 500 ? 1011 : null); return }
        upgraded = true
        buf = buf.subarray(end + 4)
        s.write(frame)
      }
      if (buf.length >= 4 && (buf[0] & 0x0f) === 0x08) closeCode = buf.readUInt16BE(2)
    })
    s.on('close', () => { clearTimeout(t); resolve(closeCode) })
    s.on('error', e => { const code = (e as NodeJS.ErrnoException).code; if (code === 'ECONNRESET' || code === 'EPIPE') return; clearTimeout(t); reject(e) })
    s.write(`GET /websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`)
  })
}

/** Opens more connections than the node takes, at once; all must open or be refused cleanly, then close. */
async function storm (ctx: FuzzContext, rng: Rng, where: string): Promise<number> {
  const n = MAX_WS_CONNECTIONS + rng.range(1, 40)
  const socks = Array.from({ length: n }, () => new WebSocket(`ws://${ctx.rpcHost}:${ctx.rpcPort}/websocket`))
  const outcomes = await Promise.all(socks.map(async ws => await new Promise<number>(resolve => {
    const t = setTimeout(() => resolve(-1), 10_000)
    ws.on('error', () => {})
    ws.on('open', () => { setTimeout(() => { clearTimeout(t); resolve(0) }, 200) })
    ws.on('close', (code) => { clearTimeout(t); resolve(code) })
  })))
  for (const ws of socks) { try { ws.terminate() } catch {} }
  for (const c of outcomes) if (c > 0) ctx.stats.count(ctx.stats.wsCloses, c)
  const bad = outcomes.filter(c => c !== 0 && c !== 1013 && c !== 1006)
  if (bad.length > 0) ctx.v.add('transport', `storm/${bad[0]}`, `${where}: a storm of ${n} connections ended with close codes ${[...new Set(bad)].join(', ')}`)
  return n
}

export function wsSurface (ctx: FuzzContext, workers: number): Surface {
  const name: SurfaceName = 'ws'
  const clients = new Map<number, WsClient>()
  const clientFor = (slot: number): WsClient => {
    let c = clients.get(slot)
    if (c === undefined) { c = new WsClient(ctx, `${name}[${slot}]`); clients.set(slot, c) }
    return c
  }
  return {
    name,
    workers,
    send: async (rng, index, worker) => {
      const where = `${name}#${index}`
      const kind = rng.weighted([[80, 'rpc'], [6, 'subscribe'], [5, 'broken'], [3, 'binary'], [2, 'oversized'], [3, 'raw'], [index % 2000 === 7 ? 1000 : 0, 'storm']] as const)
      try {
        if (kind === 'storm') return await storm(ctx, rng, where)
        if (kind === 'raw') {
          const code = await rawGarbage(ctx, rng)
          if (code !== null) ctx.stats.count(ctx.stats.wsCloses, code)
          if (code === 1011) ctx.v.add('transport', 'raw-1011', `${where}: garbage frames got close code 1011 (internal error)`)
          return 1
        }
        const c = clientFor(worker)
        let text: string | Buffer
        if (kind === 'oversized') text = '{"jsonrpc":"2.0","id":1,"method":"status","params":{"x":"' + 'a'.repeat(MAX_BODY_BYTES + rng.int(1000)) + '"}}'
        else if (kind === 'binary') text = Buffer.from(rng.chance(0.5) ? rpcPayloadText(rng, ctx.corpus) : rng.bytes(rng.length(500)))
        else if (kind === 'broken') text = mutateString(rng, rpcPayloadText(rng, ctx.corpus, SUB_METHODS))
        else if (kind === 'subscribe') text = jsonText({ jsonrpc: '2.0', id: index, method: rng.pick(['subscribe', 'unsubscribe']), params: { query: rng.chance(0.6) ? ctx.corpus.query(rng) : rng.chance(0.5) ? mutateString(rng, ctx.corpus.query(rng)) : oddJson(rng) } })
        else text = rpcPayloadText(rng, ctx.corpus, SUB_METHODS)
        const answer = await c.exchange(text, kind === 'binary')
        if (kind === 'oversized') { c.close(); return 1 }
        if (answer === null) { ctx.stats.wsNoReply++; return 1 }
        let json: unknown
        try { json = JSON.parse(answer) } catch { ctx.v.add('bad-answer', 'ws-json', `${where}: an answer is not JSON: ${answer.slice(0, 200)}`); return 1 }
        for (const r of Array.isArray(json) ? json : [json]) { if (r !== null && typeof r === 'object' && 'error' in r) ctx.stats.rpcErrors++; else ctx.stats.rpcResults++ }
        report(ctx, where, checkRpcAnswer(json), typeof text === 'string' ? text : text.toString('hex'))
      } catch (e) {
        if (!ctx.stopping()) ctx.v.add('transport', `ws/${(e as Error).message.slice(0, 40)}`, `${where}: ${(e as Error).message}`)
      }
      return 1
    },
    teardown: async () => { for (const c of clients.values()) c.close() },
  }
}
