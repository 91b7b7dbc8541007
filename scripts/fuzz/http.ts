// The HTTP surfaces: JSON-RPC by POST (single, batch, broken JSON, odd content types, raw
// malformed HTTP on a bare socket) and the CometBFT URI form (GET /<method>?k=v, odd paths,
// odd verbs). Every answer: no 5xx, and a JSON-RPC body passes checkRpcAnswer.
import { Agent, request } from 'node:http'
import { connect } from 'node:net'
import { checkOtherBody, checkRpcAnswer } from './checks.ts'
import { rpcPayloadText, uriValue, rpcCall, uriEncode, METHOD_NAMES } from './rpcInputs.ts'
import { oddString, randomString } from './gen.ts'
import { report, type FuzzContext, type Surface, type SurfaceName } from './surface.ts'
import type { Rng } from './rng.ts'

const TIMEOUT_MS = 30_000

interface HttpAnswer { status: number, body: string }

class HttpClient {
  private readonly agent: Agent
  constructor (private readonly ctx: FuzzContext, sockets: number) { this.agent = new Agent({ keepAlive: true, maxSockets: sockets }) }

  /** One request on a kept-alive connection; if that connection was closed under it (the server closes one after some refusals), once more on a fresh one. */
  async send (method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    try { return await this.once(method, path, body, headers, this.agent) } catch (e) {
      if (!/ECONNRESET|socket hang up|EPIPE/.test((e as Error).message)) throw e
      this.ctx.stats.httpRetries++
      return await this.once(method, path, body, headers, false)
    }
  }

  private async once (method: string, path: string, body: string | undefined, headers: Record<string, string>, agent: Agent | false): Promise<HttpAnswer> {
    return await new Promise((resolve, reject) => {
      const req = request({ host: this.ctx.rpcHost, port: this.ctx.rpcPort, method, path, agent, headers: body === undefined ? headers : { 'content-length': String(Buffer.byteLength(body)), ...headers }, timeout: TIMEOUT_MS }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)))
      req.on('error', reject)
      req.end(body)
    })
  }

  close (): void { this.agent.destroy() }
}

/** Checks one HTTP answer: its status, then its body as JSON-RPC (or as a plain error page). */
function checkAnswer (ctx: FuzzContext, where: string, a: HttpAnswer, input: string): void {
  ctx.stats.count(ctx.stats.httpStatus, a.status)
  if (a.status >= 500) {
    ctx.stats.http5xx++
    ctx.v.add('http-5xx', `${a.status}/${a.body.slice(0, 60)}`, `${where}: HTTP ${a.status} ${a.body.slice(0, 200)} (input: ${input.slice(0, 300)})`)
    return
  }
  if (a.status === 204 || a.body === '') return
  let json: unknown
  try { json = JSON.parse(a.body) } catch { report(ctx, where, checkOtherBody(a.body), input); return }
  const rpcShaped = Array.isArray(json) || (json !== null && typeof json === 'object' && 'jsonrpc' in json)
  if (!rpcShaped) { report(ctx, where, checkOtherBody(a.body), input); return }
  for (const r of Array.isArray(json) ? json : [json]) {
    if (r !== null && typeof r === 'object' && 'error' in r) ctx.stats.rpcErrors++
    else ctx.stats.rpcResults++
  }
  report(ctx, where, checkRpcAnswer(json), input)
}

/** Runs one exchange; a failure of the connection is a violation, except a reset of a request whose headers exceed what HTTP servers read (16 KiB: the server answers 431 and closes while it is still being written). */
async function transport (ctx: FuzzContext, where: string, input: string, f: () => Promise<void>, oversizedHeaders = false): Promise<void> {
  try { await f() } catch (e) {
    if (ctx.stopping()) return
    if (oversizedHeaders && /ECONNRESET|EPIPE|socket hang up/.test((e as Error).message)) { ctx.stats.count(ctx.stats.httpStatus, 431); return }
    ctx.v.add('transport', `${where.split('#')[0]}/${(e as Error).message.slice(0, 40)}`, `${where}: ${(e as Error).message} (input: ${input.slice(0, 200)})`)
  }
}

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', '', '*/*', 'application/json; charset=latin1']

/** Raw bytes on a bare socket: malformed request lines, headers, lengths and encodings. */
function rawRequest (rng: Rng): string {
  const body = '{"jsonrpc":"2.0","id":1,"method":"status"}'
  return rng.pick([
    () => `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${rng.pick(['-1', '99999999999', '1e3', '0x10', '5, 6', ''])}\r\n\r\n${body}`,
    () => `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${rng.pick(['zz\r\n', 'ffffffffffff\r\nab', '5\r\nab\r\n0\r\n\r\n', '-1\r\n'])}`,
    () => `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n${body}`,
    () => `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
    () => `GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(rng.pick([9000, 20_000, 70_000]))}\r\n\r\n`,
    () => `GET /${randomString(rng, 30)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    () => `${rng.pick(['GET', 'POST', 'BREW', 'G\u0000ET', ''])} ${rng.pick(['/', '*', 'http://x/', '//', '/status?'])} ${rng.pick(['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1x', ''])}\r\n\r\n`,
    () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    () => `GET /status\r\n\r\n`,
    () => `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"jsonrpc":`,
    () => String.fromCharCode(...rng.bytes(rng.range(1, 400))),
    () => `GET /websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: ${rng.pick(['13', '8', 'x'])}\r\nSec-WebSocket-Key: ${rng.pick(['', 'short', 'dGhlIHNhbXBsZSBub25jZQ=='])}\r\n\r\n`,
  ])()
}

function complete (text: string): boolean {
  const end = text.indexOf('\r\n\r\n')
  const len = /content-length: (\d+)/i.exec(text.slice(0, end))
  return len === null ? /^HTTP\/1\.[01] (1|204|304)/.test(text) || /transfer-encoding/i.test(text.slice(0, end)) === false : Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(len[1])
}

/** Sends raw bytes, reads until the server closes, a whole answer came, or 3 s, and returns the status of each answer it saw. */
async function rawExchange (ctx: FuzzContext, bytes: string): Promise<number[]> {
  return await new Promise((resolve, reject) => {
    const s = connect(ctx.rpcPort, ctx.rpcHost)
    const chunks: Buffer[] = []
    const done = (): void => {
      clearTimeout(t)
      s.destroy()
      const text = Buffer.concat(chunks).toString('latin1')
      resolve([...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map(m => Number(m[1])))
    }
    const t = setTimeout(done, 3000)
    // a complete answer (headers and a body of its content-length) ends the wait: a kept-alive server would not close
    s.on('data', c => { chunks.push(c); if (/\r\n\r\n/.test(Buffer.concat(chunks).toString('latin1')) && complete(Buffer.concat(chunks).toString('latin1'))) done() })
    s.on('close', done)
    s.on('error', e => { if ((e as NodeJS.ErrnoException).code === 'ECONNRESET' || (e as NodeJS.ErrnoException).code === 'EPIPE') done(); else { clearTimeout(t); reject(e) } })
    s.write(Buffer.from(bytes, 'latin1'))
  })
}

export function postSurface (ctx: FuzzContext, workers: number): Surface {
  const http = new HttpClient(ctx, workers)
  const name: SurfaceName = 'rpc-post'
  return {
    name,
    workers,
    send: async (rng, index) => {
      const where = `${name}#${index}`
      if (rng.chance(0.02)) {
        const raw = rawRequest(rng)
        await transport(ctx, where, raw, async () => {
          for (const status of await rawExchange(ctx, raw)) {
            ctx.stats.count(ctx.stats.httpStatus, status)
            if (status >= 500) { ctx.stats.http5xx++; ctx.v.add('http-5xx', `raw/${status}`, `${where}: HTTP ${status} to raw bytes ${JSON.stringify(raw.slice(0, 200))}`) }
          }
        })
        return 1
      }
      const text = rng.chance(0.005) ? '[' + '{"jsonrpc":"2.0","id":1,"method":"status"},'.repeat(30_000) + '1]' : rpcPayloadText(rng, ctx.corpus)
      const headers = rng.chance(0.1) ? { 'content-type': rng.pick(CONTENT_TYPES) } : { 'content-type': 'application/json' }
      await transport(ctx, where, text, async () => checkAnswer(ctx, where, await http.send('POST', rng.chance(0.02) ? rng.pick(['/?x=1', '//', '/status']) : '/', text, headers), text))
      return 1
    },
    teardown: async () => { http.close() },
  }
}

function uriPath (rng: Rng, ctx: FuzzContext): string {
  if (rng.chance(0.05)) {
    return rng.pick(['/', '/metrics', '/websocket', '//status', '/status/', '/status/x', '/%2e%2e/status', '/%ZZ', '/status%00', '/st%61tus', '/' + uriEncode(oddString(rng)), '/' + 'a'.repeat(5000), '/?' + 'a=1&'.repeat(2000)])
  }
  const { method, params } = rpcCall(rng, ctx.corpus, METHOD_NAMES)
  const pairs = Object.keys(params).map(k => `${uriEncode(k)}=${uriValue(rng, ctx.corpus, k)}`)
  if (rng.chance(0.1) && pairs.length > 0) pairs.push(pairs[0]) // a repeated key: an array in the parsed query
  if (rng.chance(0.05)) pairs.push(rng.pick(['=', '&', 'a', 'a=', '=b', '__proto__=1', 'constructor[prototype][x]=1', 'height[]=1', 'height[a]=1']))
  return `/${uriEncode(method)}${pairs.length > 0 || rng.chance(0.2) ? '?' : ''}${pairs.join('&')}`
}

export function uriSurface (ctx: FuzzContext, workers: number): Surface {
  const http = new HttpClient(ctx, workers)
  const name: SurfaceName = 'rpc-uri'
  return {
    name,
    workers,
    send: async (rng, index) => {
      const where = `${name}#${index}`
      const path = uriPath(rng, ctx)
      // HEAD only with short paths: Node's own client misreads the 431 a server sends to a HEAD with oversized headers
      const verb = rng.chance(0.95) ? 'GET' : rng.pick(path.length < 4000 ? ['HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'POST', 'TRACE'] : ['PUT', 'DELETE', 'POST'])
      await transport(ctx, where, `${verb} ${path}`, async () => checkAnswer(ctx, where, await http.send(verb, path, verb === 'POST' || verb === 'PUT' ? '' : undefined), `${verb} ${path}`), path.length > 16_000)
      return 1
    },
    teardown: async () => { http.close() },
  }
}
