// The JSON-RPC server on 8006: POST / (single or batch), GET /<method>?arg=... (CometBFT URI
// style), and WebSocket at /websocket with subscribe/unsubscribe/unsubscribe_all.
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import { JSONRPCServer, JSONRPCErrorException, createJSONRPCErrorResponse, type JSONRPCResponse } from 'json-rpc-2.0'
import { METHODS, type RpcEnv } from './methods.ts'
import { RpcError, namedParams, invalid, reqString, PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INTERNAL_ERROR } from './params.ts'
import { parseQuery, matchQuery, QueryError, type Query } from '../core/query.ts'
import { txEventMap, type CommittedBlock } from '../chain/chain.ts'
import { blockIdJSON, blockJSON, headerJSON, txResultJSON, eventsJSON } from './format.ts'
import { toBase64 } from '../core/crypto.ts'
import type { Logger } from '../logger.ts'

export const MAX_BODY_BYTES = 1024 * 1024
export const MAX_BATCH = 10
/** WebSocket clients at once, and subscriptions per client (CometBFT: max_subscription_clients, max_subscriptions_per_client). */
export const MAX_WS_CONNECTIONS = 100
export const MAX_SUBS_PER_CONN = 10
const MAX_WS_BUFFER = 32 * 1024 * 1024

/** What a caller sees of an unexpected failure: never its message, which may name internals (it is logged). */
const INTERNAL_MESSAGE = 'Internal error: the node failed to answer this request (the node logged why)'

export interface RpcServerOptions { host: string, port: number }

interface Sub { id: string | number | null, query: Query, text: string }

export class RpcServer {
  readonly app: FastifyInstance
  private readonly rpc = new JSONRPCServer<{ ws?: WsConn }>({ errorListener: () => {} })
  private readonly conns = new Set<WsConn>()
  /** Events go out after the commit that made them, not inside it, each message's JSON built once for every subscriber. */
  private readonly onBlock = (b: CommittedBlock): void => {
    if (this.conns.size === 0) return
    setImmediate(() => {
      const events = new BlockEvents(b)
      for (const c of this.conns) c.onBlock(events)
    })
  }

  constructor (private readonly opts: RpcServerOptions, private readonly env: RpcEnv, private readonly log: Logger) {
    this.app = Fastify({ bodyLimit: MAX_BODY_BYTES, logger: false })
    this.rpc.mapErrorToJSONRPCErrorResponse = (id, error) => {
      if (error instanceof RpcError) return createJSONRPCErrorResponse(id, error.code, error.message, error.data)
      if (error instanceof JSONRPCErrorException) return createJSONRPCErrorResponse(id, error.code, error.message, error.data)
      this.log.error({ err: error }, 'rpc handler failed')
      return createJSONRPCErrorResponse(id, INTERNAL_ERROR, INTERNAL_MESSAGE)
    }
    this.rpc.handleMethodNotFound = async (request: any) => createJSONRPCErrorResponse(request.id ?? null, METHOD_NOT_FOUND, `Method not found: "${String(request.method).slice(0, 80)}"`) as any
    const m = this.env.metrics
    for (const [name, def] of Object.entries(METHODS)) {
      this.rpc.addMethod(name, async (params) => {
        const end = m?.rpcSeconds.startTimer({ method: name })
        try {
          const r = await def.handler(this.env, namedParams(params, def.params))
          m?.rpcRequests.inc({ method: name, outcome: 'ok' })
          return r
        } catch (e) {
          m?.rpcRequests.inc({ method: name, outcome: 'error' })
          throw e
        } finally {
          end?.()
        }
      })
    }
    const wsOnly = (name: string) => async (params: any, sp: { ws?: WsConn }, id: string | number | null): Promise<unknown> => {
      if (sp?.ws === undefined) throw new RpcError(METHOD_NOT_FOUND, `Method "${name}" is only available over WebSocket (/websocket)`)
      return sp.ws.call(name, params, id)
    }
    for (const name of ['subscribe', 'unsubscribe', 'unsubscribe_all']) this.rpc.addMethodAdvanced(name, async (request, sp) => {
      try {
        const result = await wsOnly(name)(request.params, sp, request.id ?? null)
        return { jsonrpc: '2.0', id: request.id ?? null, result } as JSONRPCResponse
      } catch (e) {
        return this.rpc.mapErrorToJSONRPCErrorResponse(request.id ?? null, e)
      }
    })
    this.routes()
  }

  /** Answers one parsed JSON-RPC payload (object or batch). */
  async handle (payload: unknown, sp: { ws?: WsConn } = {}): Promise<unknown> {
    if (Array.isArray(payload)) {
      if (payload.length === 0) return createJSONRPCErrorResponse(null, INVALID_REQUEST, 'Invalid Request: empty batch')
      if (payload.length > MAX_BATCH) return createJSONRPCErrorResponse(null, INVALID_REQUEST, `Invalid Request: batch of ${payload.length} requests, the limit is ${MAX_BATCH}`)
      const out = await Promise.all(payload.map(async r => await this.handleOne(r, sp)))
      const present = out.filter(r => r !== null)
      return present.length === 0 ? null : present
    }
    return await this.handleOne(payload, sp)
  }

  private async handleOne (r: unknown, sp: { ws?: WsConn }): Promise<unknown> {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return createJSONRPCErrorResponse(null, INVALID_REQUEST, 'Invalid Request: not a JSON-RPC request object')
    const o = r as Record<string, unknown>
    const id = (typeof o.id === 'string' || typeof o.id === 'number') ? o.id : null
    // JSON-RPC 2.0: an id is a string, a number or null. Any other id is never echoed back (a
    // deeply nested one would overflow JSON.stringify when the answer is serialised).
    if (o.id !== undefined && o.id !== null && id === null) return createJSONRPCErrorResponse(null, INVALID_REQUEST, 'Invalid Request: "id" must be a string, a number or null')
    if (o.jsonrpc !== '2.0') return createJSONRPCErrorResponse(id, INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
    if (typeof o.method !== 'string') return createJSONRPCErrorResponse(id, INVALID_REQUEST, 'Invalid Request: "method" must be a string')
    if (o.id === undefined) o.id = null // CometBFT answers every request; a missing id is answered with id null
    return await this.rpc.receive(o as any, sp)
  }

  private routes (): void {
    const app = this.app
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body))
    app.setErrorHandler((err: any, _req, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        void reply.code(413).send(createJSONRPCErrorResponse(null, INVALID_REQUEST, `Invalid Request: body exceeds ${MAX_BODY_BYTES} bytes`))
        return
      }
      const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
      // A client's mistake (4xx) is not the node's error: logged at debug without its stack, so that no caller can flood the error log.
      if (status < 500) this.log.debug({ code: err.code, status }, 'rpc http request refused')
      else this.log.error({ err }, 'rpc http error')
      void reply.code(status).send(createJSONRPCErrorResponse(null, status < 500 ? INVALID_REQUEST : INTERNAL_ERROR, status < 500 ? `Invalid Request: ${String(err.message).slice(0, 200)}` : INTERNAL_MESSAGE))
    })
    app.post('/', async (req, reply) => {
      let payload: unknown
      try {
        payload = JSON.parse(String(req.body ?? ''))
      } catch (e) {
        return await reply.code(200).send(createJSONRPCErrorResponse(null, PARSE_ERROR, `Parse error: ${(e as Error).message}`))
      }
      const out = await this.handle(payload)
      if (out === null) return await reply.code(204).send()
      return await reply.send(out)
    })
    void app.register(websocket, { options: { maxPayload: MAX_BODY_BYTES } })
    void app.register(async (scoped) => {
      scoped.get('/websocket', { websocket: true }, (socket) => {
        if (this.conns.size >= MAX_WS_CONNECTIONS) {
          socket.close(1013, `too many WebSocket clients (at most ${MAX_WS_CONNECTIONS}); try again later`)
          return
        }
        const conn = new WsConn(socket, this, this.log)
        this.conns.add(conn)
        socket.on('close', () => this.conns.delete(conn))
      })
    })
    app.get('/metrics', async (_req, reply) => {
      const reg = this.env.metrics?.registry
      if (reg === undefined) return await reply.code(404).send('metrics are off')
      return await reply.header('content-type', reg.contentType).send(await reg.metrics())
    })
    app.get('/', async () => ({ jsonrpc: '2.0', id: -1, result: { methods: Object.keys(METHODS).sort(), websocket: ['subscribe', 'unsubscribe', 'unsubscribe_all'] } }))
    app.get('/:method', async (req, reply) => {
      const { method } = req.params as { method: string }
      const query = req.query as Record<string, string>
      const params: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(query)) params[k] = typeof v === 'string' && /^".*"$/s.test(v) ? v.slice(1, -1) : v
      const out = await this.handle({ jsonrpc: '2.0', id: -1, method, params })
      return await reply.send(out)
    })
  }

  async start (): Promise<string> {
    this.env.chain.on('block', this.onBlock)
    return await this.app.listen({ host: this.opts.host, port: this.opts.port })
  }

  async stop (): Promise<void> {
    this.env.chain.off('block', this.onBlock)
    for (const c of this.conns) c.close()
    await this.app.close()
  }
}

/** One WebSocket client: any method, plus event subscriptions delivered with the subscribe id. */
class WsConn {
  private readonly subs = new Map<string, Sub>()

  constructor (private readonly socket: WebSocket, private readonly server: RpcServer, private readonly log: Logger) {
    socket.on('message', (data, isBinary) => {
      // Nothing a client sends may become an unhandled rejection (that would stop the node).
      this.onMessage(data.toString(), isBinary).catch((err: unknown) => {
        this.log.error({ err }, 'websocket request failed')
        try { this.send(createJSONRPCErrorResponse(null, INTERNAL_ERROR, INTERNAL_MESSAGE)) } catch {}
      })
    })
  }

  private send (msg: unknown): void { this.sendText(JSON.stringify(msg)) }

  private sendText (text: string): void {
    if (this.socket.readyState !== this.socket.OPEN) return
    if (this.socket.bufferedAmount > MAX_WS_BUFFER) {
      this.log.warn({ buffered: this.socket.bufferedAmount }, 'closing a WebSocket client that does not read its events')
      this.socket.close(1008, 'too slow: events are not being read')
      return
    }
    this.socket.send(text)
  }

  private async onMessage (text: string, isBinary: boolean): Promise<void> {
    let payload: unknown
    try {
      if (isBinary) throw new Error('binary frames are not JSON-RPC')
      payload = JSON.parse(text)
    } catch (e) {
      this.send(createJSONRPCErrorResponse(null, PARSE_ERROR, `Parse error: ${(e as Error).message}`))
      return
    }
    const out = await this.server.handle(payload, { ws: this })
    if (out !== null) this.send(out)
  }

  call (name: string, raw: unknown, id: string | number | null): unknown {
    const p = namedParams(raw, name === 'unsubscribe_all' ? [] : ['query'])
    if (name === 'unsubscribe_all') { this.subs.clear(); return {} }
    const text = reqString(p, 'query', 1024)
    if (name === 'unsubscribe') {
      if (!this.subs.delete(text)) throw invalid(`subscription not found: ${text}`)
      return {}
    }
    if (this.subs.has(text)) throw invalid(`already subscribed to ${text}`)
    if (this.subs.size >= MAX_SUBS_PER_CONN) throw invalid(`at most ${MAX_SUBS_PER_CONN} subscriptions per connection`)
    let query: Query
    try { query = parseQuery(text) } catch (e) { if (e instanceof QueryError) throw invalid(e.message); throw e }
    this.subs.set(text, { id, query, text })
    return {}
  }

  onBlock (events: BlockEvents): void {
    for (const s of this.subs.values()) {
      for (const e of events.all()) if (matchQuery(s.query, e.map)) this.sendText(e.message(s.id, s.text))
    }
  }

  close (): void { this.socket.close(1001, 'server shutting down') }
}

export type { WsConn }

/** One event of a block as subscribers receive it: its attributes (to match queries) and its data's JSON, built once. */
interface BlockEvent { map: Map<string, string[]>, message: (id: string | number | null, query: string) => string }

/**
 * The events of one committed block (NewBlock, NewBlockHeader, one Tx per transaction), computed
 * lazily and once however many clients subscribe: each message is the shared JSON of its data
 * and attributes, with the subscription's id and query spliced in.
 */
class BlockEvents {
  private list: BlockEvent[] | null = null
  constructor (private readonly b: CommittedBlock) {}

  all (): BlockEvent[] {
    if (this.list !== null) return this.list
    const b = this.b
    const h = b.block.header.height
    const blockAttrs = new Map<string, string[]>([['block.height', [String(h)]]])
    for (const e of b.beginEvents) for (const a of e.attributes) { const k = `${e.type}.${a.key}`; blockAttrs.set(k, [...(blockAttrs.get(k) ?? []), a.value]) }
    const out: BlockEvent[] = []
    const add = (map: Map<string, string[]>, data: () => unknown): void => {
      let body: string | null = null
      out.push({
        map,
        message: (id, query) => {
          body ??= `"data":${JSON.stringify(data())},"events":${JSON.stringify(Object.fromEntries(map))}`
          return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"query":${JSON.stringify(query)},${body}}}`
        },
      })
    }
    add(new Map([...blockAttrs, ['tm.event', ['NewBlock']]]), () => ({
      type: 'tendermint/event/NewBlock',
      value: { block: blockJSON(b.block), block_id: blockIdJSON(b.block), result_finalize_block: { events: eventsJSON(b.beginEvents), tx_results: b.txResults.map(txResultJSON), validator_updates: [], app_hash: toBase64(b.block.header.appHash) } },
    }))
    add(new Map([...blockAttrs, ['tm.event', ['NewBlockHeader']]]), () => ({ type: 'tendermint/event/NewBlockHeader', value: { header: headerJSON(b.block.header) } }))
    b.txs.forEach((tx, i) => add(txEventMap(b.txResults[i].events, h, tx.hash), () => ({
      type: 'tendermint/event/Tx',
      value: { TxResult: { height: String(h), index: i, tx: toBase64(tx.bytes), result: txResultJSON(b.txResults[i]) } },
    })))
    this.list = out
    return out
  }
}
