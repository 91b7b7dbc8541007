// The RPC methods (docs/protocol.md section 7). Handlers see only a narrow environment, as CometBFT's rpc/core.
import { Buffer } from 'node:buffer'
import type { Chain, CommittedBlock } from '../chain/chain.ts'
import { txEventMap } from '../chain/chain.ts'
import type { Mempool, AddResult } from '../chain/mempool.ts'
import type { TxIntake } from '../chain/txIntake.ts'
import { KEY, pad } from '../chain/keys.ts'
import { jobListFor } from '../chain/jobIndex.ts'
import { TxError, TxCode } from '../core/errors.ts'
import { toBase64, toHexUpper, addressBytesFromPubkey, sha256 } from '../core/crypto.ts'
import { decodeTx, JOB_ID_RE, RECEIPT_ID_RE } from '../core/tx.ts'
import { JOB_STATUSES, supplyHolds, type Job, type JobStatus } from '../core/state.ts'
import { parseQuery, matchQuery, equalityValue, numericRange, QueryError, type Query } from '../core/query.ts'
import { decodeBlock, type Block } from '../core/block.ts'
import { formatAitbc } from '../core/amount.ts'
import {
  blockIdJSON, blockJSON, commitJSON, headerJSON, txResultJSON, validatorJSON, pubKeyJSON, rfc3339, accountJSON, jobJSON, minerJSON, receiptJSON, eventsJSON, validatorRecordJSON,
} from './format.ts'
import { RpcError, INTERNAL_ERROR, invalid, optInt, reqString, optString, optBool, reqBytes, reqHash, reqAddress, optAddress, paging, type Params } from './params.ts'
import type { TxWatcher } from './txWatcher.ts'
import type { AbciQueryResult, BroadcastTxResult, ResultTx, RpcMethodName, RpcResult, ValidatorWithBondJSON } from './types.ts'

export const COMET_VERSION = '0.38.17'
export const APP_VERSION = '0.1.0'

export interface RpcEnv {
  chain: Chain
  mempool: Mempool
  /** Signature checks on a worker pool (absent: the mempool checks inline). */
  intake?: TxIntake
  watcher: TxWatcher
  node: { id: string, moniker: string, p2pAddr: string, rpcAddr: string, validatorPubKey: Uint8Array | null }
  peers: () => Array<{ id: string, addr: string }>
  catchingUp?: () => boolean
  broadcastCommitTimeoutMs: number
  metrics?: import('../metrics.ts').NodeMetrics
}

/** A method: its parameter names (for positional params) and its handler, whose result type is the one RpcMethods declares. */
export interface MethodDef<M extends RpcMethodName = RpcMethodName> { params: string[], handler: (env: RpcEnv, p: Params) => Promise<RpcResult<M>> | RpcResult<M> }

async function blockAt (env: RpcEnv, p: Params, name = 'height'): Promise<{ height: number, block: Block }> {
  const height = resolveHeight(env, p, name)
  const block = await env.chain.store.getBlock(height)
  if (block === undefined) throw new RpcError(INTERNAL_ERROR, `Internal error: block at height ${height} not found`)
  return { height, block }
}

function resolveHeight (env: RpcEnv, p: Params, name = 'height'): number {
  const latest = env.chain.height
  const base = env.chain.genesis.initialHeight
  const h = optInt(p, name, 0)
  if (latest < base) throw invalid('no blocks yet')
  if (h === undefined || h === 0) return latest
  if (h > latest) throw invalid(`height ${h} must be less than or equal to the current blockchain height ${latest}`)
  if (h < base) throw invalid(`height ${h} is below the initial height ${base}`)
  return h
}

function txErrorResult (e: TxError): { code: number, log: string, codespace: string } {
  return { code: TxCode[e.code], log: `${e.code}: ${e.message}`, codespace: 'aitbc' }
}

function tryTx<T> (f: () => T): T | TxError {
  try { return f() } catch (e) { if (e instanceof TxError) return e; throw e }
}

function parseQ (text: string): Query {
  try { return parseQuery(text) } catch (e) { if (e instanceof QueryError) throw invalid(e.message); throw e }
}

async function txJSON (env: RpcEnv, height: number, index: number, prove: boolean): Promise<ResultTx> {
  const [block, results] = await Promise.all([env.chain.store.getBlock(height), env.chain.store.getResults(height)])
  if (block === undefined || results === undefined) throw new RpcError(INTERNAL_ERROR, `Internal error: block ${height} missing`)
  const bytes = block.txs[index]
  const out: ResultTx = {
    hash: toHexUpper(sha256(bytes)),
    height: String(height),
    index,
    tx_result: txResultJSON(results.txResults[index]),
    tx: toBase64(bytes),
  }
  if (prove) out.proof = { data: toBase64(bytes), root_hash: toHexUpper(block.header.dataHash), proof: { total: String(block.txs.length), index: String(index), leaf_hash: toBase64(sha256(bytes)), aunts: [] } }
  return out
}


/** Candidate (height, index) pairs for a tx query, from the best index available. */
async function txCandidates (env: RpcEnv, q: Query): Promise<Array<[number, number]>> {
  const store = env.chain.store
  const hash = equalityValue(q, 'tx.hash')
  if (hash !== undefined) {
    const loc = await store.txLocation(hash.toUpperCase())
    return loc === undefined ? [] : [[loc.height, loc.index]]
  }
  for (const c of q.conditions) {
    if (c.op !== '=' || c.key === 'tm.event' || c.key === 'tx.height' || c.value === undefined) continue
    const value = c.value.kind === 'string' ? c.value.value : c.value.text
    const prefix = KEY.txEventPrefix(c.key, value)
    const { lo, hi } = heightRange(env, q, 'tx.height')
    const keys = await store.keys(prefix, { gte: prefix + pad(lo), lt: prefix + pad(hi + 1), limit: MAX_SCAN + 1 })
    if (keys.length > MAX_SCAN) throw invalid(`query matches more than ${MAX_SCAN} txs; narrow it (add tx.height bounds or another condition)`)
    return keys.map(k => { const [h, i] = k.slice(prefix.length).split(':'); return [Number(h), Number(i)] as [number, number] })
  }
  const { lo, hi } = heightRange(env, q, 'tx.height')
  if (hi - lo >= MAX_SCAN_BLOCKS) throw invalid(`query would scan more than ${MAX_SCAN_BLOCKS} blocks; add tx.height bounds or an event condition with =`)
  const out: Array<[number, number]> = []
  for (let h = lo; h <= hi; h++) {
    const r = await store.getResults(h)
    if (r !== undefined) for (let i = 0; i < r.txResults.length; i++) out.push([h, i])
  }
  return out
}

/** Most index keys a search reads (as CometBFT, results come in pages of at most 100). */
const MAX_SCAN = 10_000
/** Most blocks a search without an = condition reads. */
const MAX_SCAN_BLOCKS = 10_000

/** The heights a query allows (from its conditions on `key`), within the chain. */
function heightRange (env: RpcEnv, q: Query, key: string): { lo: number, hi: number } {
  const { min, max } = numericRange(q, key)
  return { lo: Math.max(env.chain.genesis.initialHeight, min ?? 0), hi: Math.min(env.chain.height, max ?? Number.MAX_SAFE_INTEGER) }
}

function blockEventMap (height: number, events: CommittedBlock['beginEvents']): Map<string, string[]> {
  const m = new Map<string, string[]>([['tm.event', ['NewBlock']], ['block.height', [String(height)]]])
  for (const e of events) for (const a of e.attributes) { const k = `${e.type}.${a.key}`; const v = m.get(k); if (v === undefined) m.set(k, [a.value]); else v.push(a.value) }
  return m
}

function orderBy (p: Params): 'asc' | 'desc' {
  const o = optString(p, 'order_by', 10) ?? 'asc'
  if (o !== 'asc' && o !== 'desc') throw invalid('order_by must be "asc" or "desc"')
  return o
}

function pageOf<T> (items: T[], page: number, perPage: number): T[] {
  const pages = Math.max(1, Math.ceil(items.length / perPage))
  if (page > pages) throw invalid(`page should be within [1, ${pages}] range, given ${page}`)
  return items.slice((page - 1) * perPage, page * perPage)
}

/** The mempool's whole check and admission: on the intake's worker pool when there is one. */
async function submitTx (env: RpcEnv, bytes: Uint8Array): Promise<AddResult | TxError> {
  if (env.intake === undefined) return tryTx(() => env.mempool.add(bytes))
  try { return await env.intake.submit(bytes) } catch (e) { if (e instanceof TxError) return e; throw e }
}

async function broadcastSync (env: RpcEnv, p: Params): Promise<BroadcastTxResult> {
  const bytes = reqBytes(p, 'tx', env.chain.params.maxTxBytes + 1)
  const r = await submitTx(env, bytes)
  if (r instanceof TxError) return { ...txErrorResult(r), data: '', hash: toHexUpper(sha256(bytes)) }
  return { code: 0, data: '', log: r.result.log, codespace: '', hash: r.tx.hash }
}

/** Answers after the checks by hash and the decoding; the rest finishes after the answer (docs/protocol.md 7.3). */
function broadcastAsync (env: RpcEnv, p: Params): BroadcastTxResult | Promise<BroadcastTxResult> {
  if (env.intake === undefined) return broadcastSync(env, p)
  const bytes = reqBytes(p, 'tx', env.chain.params.maxTxBytes + 1)
  const r = tryTx(() => (env.intake as TxIntake).submitAsync(bytes))
  if (r instanceof TxError) return { ...txErrorResult(r), data: '', hash: toHexUpper(sha256(bytes)) }
  return { code: 0, data: '', log: '', codespace: '', hash: r.hash }
}

/** Why a tx is not in a block: still in the mempool (ready or queued), dropped from it (with the reason), refused, or unknown. */
function txNotFound (env: RpcEnv, hash: string): string {
  const held = env.mempool.lookup(hash)
  if (held !== undefined) return `tx (${hash}) not found in a block: it is in the mempool${held.queued ? ` (queued: nonce ${held.tx.nonce} waits for nonce ${env.mempool.pendingNonce(held.tx.sender)} of ${held.tx.sender})` : ''}`
  const d = env.mempool.dropped(hash)
  if (d !== undefined) return `tx (${hash}) not found: it was dropped from the mempool at height ${d.height}: ${d.code}: ${d.message}`
  return `tx (${hash}) not found`
}

async function getJob (env: RpcEnv, id: string): Promise<Job> {
  if (!JOB_ID_RE.test(id)) throw invalid(`job_id "${id.slice(0, 80)}" is not a job id (job_ + 16 hex digits)`)
  const j = env.chain.state.job(id)
  if (j === undefined) throw invalid(`job ${id} not found`)
  return j
}

function abciResponse (height: number, value: unknown | undefined, key: string, log: string): AbciQueryResult {
  return {
    response: {
      code: value === undefined ? 1 : 0,
      log,
      info: '',
      index: '0',
      key: toBase64(Buffer.from(key)),
      value: value === undefined ? null : toBase64(Buffer.from(JSON.stringify(value))),
      proofOps: null,
      height: String(height),
      codespace: value === undefined ? 'aitbc' : '',
    },
  }
}

export const METHODS: { [M in RpcMethodName]: MethodDef<M> } = {
  health: { params: [], handler: () => ({}) },

  status: {
    params: [],
    handler: (env) => {
      const c = env.chain
      const m = c.meta
      const hasBlocks = m.height >= c.genesis.initialHeight
      const val = env.node.validatorPubKey
      const power = val === null ? 0 : (c.validators.find(v => toHexUpper(v.address) === toHexUpper(addressBytesFromPubkey(val)))?.power ?? 0)
      return {
        node_info: {
          protocol_version: { p2p: '8', block: '11', app: '1' },
          id: env.node.id,
          listen_addr: env.node.p2pAddr,
          network: c.chainId,
          version: COMET_VERSION,
          channels: '',
          moniker: env.node.moniker,
          other: { tx_index: 'on', rpc_address: env.node.rpcAddr, aitbc_version: APP_VERSION },
        },
        sync_info: {
          latest_block_hash: hasBlocks ? m.lastBlockHash : toHexUpper(sha256(new Uint8Array(0))),
          latest_app_hash: m.appHash,
          latest_block_height: String(m.height),
          latest_block_time: rfc3339(m.lastBlockTime),
          earliest_block_height: String(c.genesis.initialHeight),
          catching_up: env.catchingUp?.() ?? false,
        },
        validator_info: val === null
          ? { address: '0000000000000000000000000000000000000000', pub_key: pubKeyJSON(new Uint8Array(32)), voting_power: '0' }
          : { address: toHexUpper(addressBytesFromPubkey(val)), pub_key: pubKeyJSON(val), voting_power: String(power) },
      }
    },
  },

  net_info: {
    params: [],
    handler: (env) => {
      const peers = env.peers()
      return { listening: true, listeners: [env.node.p2pAddr], n_peers: String(peers.length), peers: peers.map(p => ({ node_info: { id: p.id, listen_addr: p.addr }, is_outbound: true, remote_ip: p.addr })) }
    },
  },

  genesis: { params: [], handler: (env) => ({ genesis: env.chain.genesis.json }) },

  block: {
    params: ['height'],
    handler: async (env, p) => { const { block } = await blockAt(env, p); return { block_id: blockIdJSON(block), block: blockJSON(block) } },
  },

  block_by_hash: {
    params: ['hash'],
    handler: async (env, p) => {
      const hash = reqHash(p, 'hash')
      const h = await env.chain.store.heightOfBlockHash(hash)
      if (h === undefined) return { block_id: { hash: '', parts: { total: 0, hash: '' } }, block: null }
      const block = await env.chain.store.getBlock(h) as Block
      return { block_id: blockIdJSON(block), block: blockJSON(block) }
    },
  },

  header: {
    params: ['height'],
    handler: async (env, p) => ({ header: headerJSON((await blockAt(env, p)).block.header) }),
  },

  block_results: {
    params: ['height'],
    handler: async (env, p) => {
      const height = resolveHeight(env, p)
      const r = await env.chain.store.getResults(height)
      if (r === undefined) throw new RpcError(INTERNAL_ERROR, `Internal error: results of height ${height} not found`)
      const block = await env.chain.store.getBlock(height) as Block
      return {
        height: String(height),
        txs_results: r.txResults.map(txResultJSON),
        finalize_block_events: eventsJSON(r.beginEvents),
        validator_updates: [],
        consensus_param_updates: null,
        app_hash: toBase64(block.header.appHash), // []byte in CometBFT's ResultBlockResults: base64
      }
    },
  },

  blockchain: {
    params: ['minHeight', 'maxHeight'],
    handler: async (env, p) => {
      const latest = env.chain.height
      const base = env.chain.genesis.initialHeight
      let max = optInt(p, 'maxHeight', 0) ?? 0
      let min = optInt(p, 'minHeight', 0) ?? 0
      if (max === 0 || max > latest) max = latest
      if (min === 0) min = Math.max(base, max - 19)
      if (min > max) throw invalid(`min height ${min} can't be greater than max height ${max}`)
      min = Math.max(min, max - 19, base)
      const metas = []
      for (let h = max; h >= min; h--) {
        const bytes = await env.chain.store.getBlockBytes(h)
        if (bytes === undefined) continue
        const b = decodeBlock(bytes)
        metas.push({ block_id: blockIdJSON(b), block_size: String(bytes.length), header: headerJSON(b.header), num_txs: String(b.txs.length) })
      }
      return { last_height: String(latest), block_metas: metas }
    },
  },

  commit: {
    params: ['height'],
    handler: async (env, p) => {
      const { height, block } = await blockAt(env, p)
      const commit = await env.chain.store.getCommit(height)
      return { signed_header: { header: headerJSON(block.header), commit: commitJSON(commit ?? null) }, canonical: true }
    },
  },

  validators: {
    params: ['height', 'page', 'per_page'],
    handler: async (env, p) => {
      // The set that signs a height: any past height, and the next one (CometBFT answers up to latest + 1).
      const c = env.chain
      const base = c.genesis.initialHeight
      const asked = optInt(p, 'height', 0)
      let height: number
      if (asked === undefined || asked === 0) height = Math.max(c.height, base)
      else {
        if (asked > Math.max(c.height, base - 1) + 1) throw invalid(`height ${asked} must be less than or equal to the current blockchain height ${c.height} + 1`)
        if (asked < base) throw invalid(`height ${asked} is below the initial height ${base}`)
        height = asked
      }
      const set = await c.validatorsAt(height) ?? []
      const { page, perPage } = paging(p, 30, 100)
      const vals = pageOf(set, page, perPage)
      const withBond = (v: typeof vals[number]): ValidatorWithBondJSON => {
        const b = c.state.validatorBond(toHexUpper(v.address))
        return { ...validatorJSON(v), stake: (b?.stake ?? 0n).toString(), slashed: (b?.slashed ?? 0n).toString(), operator: b?.operator ?? '', moniker: b?.moniker ?? v.name }
      }
      return { block_height: String(height), validators: vals.map(withBond), count: String(vals.length), total: String(set.length) }
    },
  },

  tx: {
    params: ['hash', 'prove'],
    handler: async (env, p) => {
      const hash = reqHash(p, 'hash')
      const loc = await env.chain.store.txLocation(hash)
      if (loc === undefined) throw invalid(txNotFound(env, hash))
      return await txJSON(env, loc.height, loc.index, optBool(p, 'prove') ?? false)
    },
  },

  tx_search: {
    params: ['query', 'prove', 'page', 'per_page', 'order_by'],
    handler: async (env, p) => {
      const q = parseQ(reqString(p, 'query', 1024))
      const prove = optBool(p, 'prove') ?? false
      const { page, perPage } = paging(p)
      const order = orderBy(p)
      const cands = await txCandidates(env, q)
      const matched: Array<[number, number]> = []
      const cache = new Map<number, Awaited<ReturnType<Chain['store']['getResults']>>>()
      const blocks = new Map<number, Block | undefined>()
      for (const [h, i] of cands) {
        if (!cache.has(h)) { cache.set(h, await env.chain.store.getResults(h)); blocks.set(h, await env.chain.store.getBlock(h)) }
        const r = cache.get(h); const b = blocks.get(h)
        if (r === undefined || b === undefined) continue
        if (matchQuery(q, txEventMap(r.txResults[i].events, h, toHexUpper(sha256(b.txs[i]))))) matched.push([h, i])
      }
      matched.sort((a, b) => order === 'asc' ? (a[0] - b[0] || a[1] - b[1]) : (b[0] - a[0] || b[1] - a[1]))
      const slice = matched.length === 0 ? [] : pageOf(matched, page, perPage)
      const txs = []
      for (const [h, i] of slice) txs.push(await txJSON(env, h, i, prove))
      return { txs, total_count: String(matched.length) }
    },
  },

  block_search: {
    params: ['query', 'page', 'per_page', 'order_by'],
    handler: async (env, p) => {
      const q = parseQ(reqString(p, 'query', 1024))
      const { page, perPage } = paging(p)
      const order = orderBy(p)
      let heights: number[] = []
      const eq = q.conditions.find(c => c.op === '=' && c.key !== 'tm.event' && c.key !== 'block.height' && c.value !== undefined)
      const { lo, hi } = heightRange(env, q, 'block.height')
      if (eq !== undefined && eq.value !== undefined) {
        const value = eq.value.kind === 'string' ? eq.value.value : eq.value.text
        const prefix = KEY.blockEventPrefix(eq.key, value)
        const keys = await env.chain.store.keys(prefix, { gte: prefix + pad(lo), lt: prefix + pad(hi + 1), limit: MAX_SCAN + 1 })
        if (keys.length > MAX_SCAN) throw invalid(`query matches more than ${MAX_SCAN} blocks; narrow it (add block.height bounds)`)
        heights = [...new Set(keys.map(k => Number(k.slice(prefix.length))))]
      } else {
        if (hi - lo >= MAX_SCAN_BLOCKS) throw invalid(`query would scan more than ${MAX_SCAN_BLOCKS} blocks; add block.height bounds`)
        for (let h = lo; h <= hi; h++) heights.push(h)
      }
      const matched: number[] = []
      for (const h of heights) {
        const r = await env.chain.store.getResults(h)
        if (r !== undefined && matchQuery(q, blockEventMap(h, r.beginEvents))) matched.push(h)
      }
      matched.sort((a, b) => order === 'asc' ? a - b : b - a)
      const slice = matched.length === 0 ? [] : pageOf(matched, page, perPage)
      const blocks = []
      for (const h of slice) { const b = await env.chain.store.getBlock(h) as Block; blocks.push({ block_id: blockIdJSON(b), block: blockJSON(b) }) }
      return { blocks, total_count: String(matched.length) }
    },
  },

  check_tx: {
    params: ['tx'],
    handler: (env, p) => {
      const bytes = reqBytes(p, 'tx', env.chain.params.maxTxBytes + 1)
      const r = tryTx(() => env.mempool.check(bytes))
      return r instanceof TxError ? txResultJSON(txErrorResult(r)) : txResultJSON(r.result)
    },
  },

  broadcast_tx_async: { params: ['tx'], handler: (env, p) => broadcastAsync(env, p) },

  // CheckTx then return.
  broadcast_tx_sync: { params: ['tx'], handler: async (env, p) => await broadcastSync(env, p) },

  broadcast_tx_commit: {
    params: ['tx'],
    handler: async (env, p) => {
      const bytes = reqBytes(p, 'tx', env.chain.params.maxTxBytes + 1)
      const hash = toHexUpper(sha256(bytes))
      const wait = env.watcher.watch(hash, env.broadcastCommitTimeoutMs)
      let r: AddResult | TxError
      try {
        r = await submitTx(env, bytes)
      } catch (e) {
        wait.cancel() // else its timer would reject a promise nobody awaits: an unhandled rejection
        throw e
      }
      if (r instanceof TxError) {
        wait.cancel()
        return { check_tx: txResultJSON(txErrorResult(r)), tx_result: txResultJSON({ code: 0, log: '', codespace: '' }), hash, height: '0' }
      }
      const out = await wait.promise
      if (out.kind === 'evicted') {
        return { check_tx: txResultJSON(r.result), tx_result: txResultJSON(txErrorResult(out.error)), hash, height: '0' }
      }
      return { check_tx: txResultJSON(r.result), tx_result: txResultJSON(out.result), hash, height: String(out.height) }
    },
  },

  unconfirmed_txs: {
    params: ['limit'],
    handler: (env, p) => {
      const limit = optInt(p, 'limit', 1, 100) ?? 30
      const m = env.mempool
      const txs = m.list(limit)
      if (txs.length < limit) txs.push(...m.listQueued(limit - txs.length))
      return { n_txs: String(txs.length), total: String(m.size + m.queuedSize), total_bytes: String(m.sizeBytes + m.queuedBytesTotal), queued: String(m.queuedSize), txs: txs.map(t => toBase64(t.bytes)) }
    },
  },

  num_unconfirmed_txs: {
    params: [],
    handler: (env) => {
      const m = env.mempool
      const n = String(m.size + m.queuedSize)
      return { n_txs: n, total: n, total_bytes: String(m.sizeBytes + m.queuedBytesTotal), queued: String(m.queuedSize), txs: null }
    },
  },

  abci_info: {
    params: [],
    handler: (env) => ({
      response: {
        data: 'aitbc',
        version: APP_VERSION,
        app_version: '1',
        last_block_height: String(env.chain.height),
        last_block_app_hash: toBase64(Buffer.from(env.chain.meta.appHash, 'hex')),
      },
    }),
  },

  abci_query: {
    params: ['path', 'data', 'height', 'prove'],
    handler: async (env, p) => {
      const path = reqString(p, 'path', 256)
      optInt(p, 'height', 0)
      const m = /^\/(account|job|miner|receipt)\/(.+)$/.exec(path)
      if (m === null) throw invalid(`unknown path "${path.slice(0, 80)}"; paths are /account/<address>, /job/<id>, /miner/<address>, /receipt/<id>`)
      const [, kind, arg] = m
      const h = env.chain.height
      const lookup: Record<string, () => Promise<unknown>> = {
        account: async () => await METHODS.aitbc_account.handler(env, { address: arg }),
        job: async () => await METHODS.aitbc_job.handler(env, { job_id: arg }),
        miner: async () => await METHODS.aitbc_miner.handler(env, { address: arg }),
        receipt: async () => await METHODS.aitbc_receipt.handler(env, { id: arg }),
      }
      try {
        return abciResponse(h, await lookup[kind](), path, '')
      } catch (e) {
        if (e instanceof RpcError) return abciResponse(h, undefined, path, e.message.replace(/^Invalid params: /, ''))
        throw e
      }
    },
  },

  // ---- AITBC methods ----
  aitbc_account: {
    params: ['address'],
    handler: (env, p) => {
      const a = reqAddress(p, 'address')
      return { ...accountJSON(a, env.chain.state.account(a), env.chain.state.miner(a)), pending_nonce: String(env.mempool.pendingNonce(a)) }
    },
  },

  aitbc_job: {
    params: ['job_id'],
    handler: async (env, p) => jobJSON(await getJob(env, reqString(p, 'job_id', 100))),
  },

  aitbc_jobs: {
    params: ['client', 'miner', 'status', 'page', 'per_page'],
    handler: async (env, p) => {
      const client = optAddress(p, 'client')
      const miner = optAddress(p, 'miner')
      const status = optString(p, 'status', 20)
      if (status !== undefined && !JOB_STATUSES.includes(status as JobStatus)) throw invalid(`status must be one of ${JOB_STATUSES.join(', ')}`)
      const { page, perPage } = paging(p, 30, 100)
      if (page * perPage > MAX_SCAN) throw invalid(`page ${page} of ${perPage} reaches past the ${MAX_SCAN} newest jobs of this list; narrow it with client, miner or status`)
      const store = env.chain.store
      // The narrowest index list, newest first; a job is read only when it is on the page.
      const list = jobListFor({ client, miner, status: status as JobStatus | undefined })
      const wanted = (id: string): Job | undefined => {
        const j = env.chain.state.job(id)
        return j !== undefined && (list.filterClient === undefined || j.client === list.filterClient) ? j : undefined
      }
      const jobs: Job[] = []
      let total: number
      if (list.filterClient === undefined) {
        total = env.chain.jobCounters.get(list.prefix)
        const keys = await store.keys(list.prefix, { reverse: true, limit: page * perPage })
        for (const k of keys.slice((page - 1) * perPage)) { const j = wanted(k.slice(k.lastIndexOf(':') + 1)); if (j !== undefined) jobs.push(j) }
      } else {
        // Both client and miner: the miner's list, filtered, at most MAX_SCAN keys.
        const keys = await store.keys(list.prefix, { reverse: true, limit: MAX_SCAN + 1 })
        if (keys.length > MAX_SCAN) throw invalid(`the miner has more than ${MAX_SCAN} jobs to filter by client; add status`)
        const all = keys.map(k => wanted(k.slice(k.lastIndexOf(':') + 1))).filter((j): j is Job => j !== undefined)
        total = all.length
        jobs.push(...all.slice((page - 1) * perPage, page * perPage))
      }
      return { jobs: jobs.map(jobJSON), total_count: String(total), page: String(page), per_page: String(perPage) }
    },
  },

  aitbc_miner: {
    params: ['address'],
    handler: (env, p) => {
      const a = reqAddress(p, 'address')
      const m = env.chain.state.miner(a)
      if (m === undefined) throw invalid(`${a} is not a registered miner`)
      return minerJSON(m)
    },
  },

  aitbc_miners: {
    params: ['model'],
    handler: (env, p) => {
      const model = optString(p, 'model', 128)
      const list = env.chain.state.minerAddresses().map(a => env.chain.state.miner(a)).filter(m => m !== undefined && (model === undefined || m.models.includes(model)))
      return { miners: list.map(m => minerJSON(m as NonNullable<typeof m>)), total: String(list.length) }
    },
  },

  aitbc_validators: {
    params: [],
    handler: (env) => {
      const c = env.chain
      const st = c.state
      const inSet = new Map(c.validators.map(v => [toHexUpper(v.address), v.power]))
      const list = st.validatorAddresses().map(a => st.validatorBond(a)).filter(v => v !== undefined).map(v => validatorRecordJSON(v, st.params, inSet.get(v.address)))
      // Most power first, as the set is ordered.
      list.sort((x, y) => Number(y.power) - Number(x.power) || (x.address < y.address ? -1 : 1))
      return { height: String(c.height), validators: list, total: String(list.length), downtime_window: st.params.downtimeWindow, downtime_max_missed: st.params.downtimeMaxMissed }
    },
  },

  aitbc_receipt: {
    params: ['id'],
    handler: async (env, p) => {
      const id = reqString(p, 'id', 100)
      let jobId = id
      if (RECEIPT_ID_RE.test(id)) {
        const j = await env.chain.store.receiptJobId(id)
        if (j === undefined) throw invalid(`receipt ${id} not found`)
        jobId = j
      } else if (!JOB_ID_RE.test(id)) {
        throw invalid(`id "${id.slice(0, 80)}" is neither a receipt id (receipt_ + 16 hex digits) nor a job id`)
      }
      const job = await getJob(env, jobId)
      if (job.receiptId === null) throw invalid(`job ${job.id} has no receipt yet (status ${job.status})`)
      return receiptJSON(job)
    },
  },

  aitbc_params: {
    params: [],
    handler: (env) => ({ chain_id: env.chain.chainId, ...env.chain.genesis.json.app_state.params }),
  },

  aitbc_supply: {
    params: [],
    handler: (env) => {
      const t = env.chain.state.totals()
      return {
        height: String(env.chain.height),
        supply: t.supply.toString(),
        balances: t.balances.toString(),
        escrow: t.escrow.toString(),
        bonded: t.bonded.toString(),
        unbonding: t.unbonding.toString(),
        burned: t.burned.toString(),
        supply_aitbc: formatAitbc(t.supply),
        invariant_holds: supplyHolds(t),
      }
    },
  },
}

/** Decodes a tx for display (aitbc tx, explorer). */
export function safeDecode (bytes: Uint8Array): ReturnType<typeof decodeTx> | null {
  try { return decodeTx(bytes, { verify: false }) } catch { return null }
}
