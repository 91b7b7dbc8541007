// Read side of the index: the views the REST API serves, lists with opaque cursors, network
// figures and search. It reads only the coordinator's LevelDB (the node is never asked here).
import { Buffer } from 'node:buffer'
import { formatAitbc } from '../node/core/amount.ts'
import { isAddress } from '../node/core/crypto.ts'
import { isTxType, txTypeDef } from '../node/core/txs/registry.ts'
import { JOB_ID_RE, RECEIPT_ID_RE } from '../node/core/tx.ts'
import { JOB_STATUSES } from '../node/core/state.ts'
import type { TxErrorCode } from '../node/core/errors.ts'
import type { AccountJSON, JobJSON, JobStatusName, MinerJSON, ReceiptJSON } from '../node/client.ts'
import { KEY, pad } from './keys.ts'
import type { CoordinatorStore } from './store.ts'
import { jobView, receiptView, withNodeRecord, type JobRecord, type JobView } from './jobRecord.ts'
import type { BlockRecord, TxRecord } from './blockIndex.ts'
import type { Indexer } from './indexer.ts'
import { emptyMinerTotals, minerPerformance, type MinerPerformance, type MinerTotals } from './chainStats.ts'

/**
 * The API's error codes. A tx that does not decode or verify answers with the node's own TxError
 * code (TX_DECODE, BAD_SIGNATURE, ...) instead.
 */
export type ApiErrorCode = 'BAD_REQUEST' | 'BAD_JSON' | 'BAD_CURSOR' | 'BAD_ADDRESS' | 'BAD_HEIGHT' | 'BAD_HASH' | 'BAD_ID' | 'BAD_LIMIT' | 'BAD_STATUS' |
  'BAD_METRIC' | 'BAD_WINDOW' | 'WINDOW_TOO_LARGE' |
  'NOT_FOUND' | 'NO_RECEIPT' | 'NOT_SUBMIT_JOB' | 'TX_REFUSED' | 'NODE_UNREACHABLE' | 'UNAUTHORIZED' | 'RATE_LIMITED' | 'INTERNAL' | TxErrorCode

/** An error the API answers with: HTTP status, code (also the metric label), message. */
export class ApiError extends Error {
  constructor (readonly status: number, readonly code: ApiErrorCode, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message)
    this.name = 'ApiError'
  }
}

export const DEFAULT_LIMIT = 20
export const MAX_LIMIT = 100
/** Index keys a filtered list may read for one page before it answers with what it found. */
const MAX_SCAN = 5000

// ---- input checks (400 with a message) ----

export function parseLimit (v: unknown): number {
  if (v === undefined || v === '') return DEFAULT_LIMIT
  if (typeof v !== 'string' || !/^\d{1,4}$/.test(v) || Number(v) < 1 || Number(v) > MAX_LIMIT) throw new ApiError(400, 'BAD_LIMIT', `limit must be an integer from 1 to ${MAX_LIMIT}`)
  return Number(v)
}

export function parseHeight (v: unknown): number {
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v) || Number(v) < 1) throw new ApiError(400, 'BAD_HEIGHT', `"${String(v).slice(0, 40)}" is not a block height (a positive integer)`)
  return Number(v)
}

export function parseAddress (v: unknown, what = 'address'): string {
  if (!isAddress(v)) throw new ApiError(400, 'BAD_ADDRESS', `${what} "${String(v).slice(0, 100)}" is not an aitbc address (bech32, lower case, prefix aitbc)`)
  return v as string
}

export function parseHash (v: unknown): string {
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) throw new ApiError(400, 'BAD_HASH', `"${String(v).slice(0, 80)}" is not a hash (64 hex digits)`)
  return v.toUpperCase()
}

export function parseJobId (v: unknown): string {
  if (typeof v !== 'string' || !JOB_ID_RE.test(v)) throw new ApiError(400, 'BAD_ID', `"${String(v).slice(0, 80)}" is not a job id (job_ + 16 lower-case hex digits)`)
  return v
}

export function parseStatus (v: unknown): JobStatusName {
  if (typeof v !== 'string' || !JOB_STATUSES.includes(v as JobStatusName)) throw new ApiError(400, 'BAD_STATUS', `status must be one of ${JOB_STATUSES.join(', ')}`)
  return v as JobStatusName
}

// ---- cursors: opaque to clients, the position of the last item of the page ----

const CURSOR_SHAPES = {
  block: /^\d{12}$/,
  tx: /^\d{12}:\d{12}$/,
  job: /^\d{12}:\d{12}:job_[0-9a-f]{16}$/,
} as const
type CursorKind = keyof typeof CURSOR_SHAPES

export function encodeCursor (kind: CursorKind, position: string): string {
  return Buffer.from(`${kind}|${position}`).toString('base64url')
}

export function decodeCursor (kind: CursorKind, v: unknown): string | undefined {
  if (v === undefined || v === '') return undefined
  const bad = (): never => { throw new ApiError(400, 'BAD_CURSOR', 'cursor is not one this list gave out (pass next_cursor from the previous page as it is)') }
  if (typeof v !== 'string' || v.length > 200 || !/^[A-Za-z0-9_-]+$/.test(v)) bad()
  const text = Buffer.from(v as string, 'base64url').toString('utf8')
  const bar = text.indexOf('|')
  if (bar < 0 || text.slice(0, bar) !== kind) bad()
  const pos = text.slice(bar + 1)
  if (!CURSOR_SHAPES[kind].test(pos)) bad()
  return pos
}

// ---- views ----

export interface TxSummary { hash: string, height: string, index: number, time: string, type: string, sender: string | null, fee: string | null, job_id: string | null, summary: string }

function txSummary (t: TxRecord): TxSummary {
  return { hash: t.hash, height: t.height, index: t.index, time: t.time, type: t.type, sender: t.sender, fee: t.fee, job_id: t.job_id, summary: describeTx(t) }
}

/** One line a person reads in a tx list: from the tx type's module, stored at indexing. */
export function describeTx (t: TxRecord): string {
  return t.summary ?? (isTxType(t.type) ? txTypeDef(t.type).description : t.type)
}

export interface Stats {
  chain_id: string | null
  height: number
  node_height: number | null
  lag: number | null
  latest_block_time: string | null
  /** Mean interval of the last 20 blocks, ms. */
  block_time_ms: number | null
  /** Over the last 60 s of chain time (or the chain's life if shorter). */
  tx_per_s: number
  jobs_per_minute: number
  window_s: number
  txs: number
  jobs: number
  jobs_by_status: Record<string, number>
  miners: number
  accounts: number
}

/** What the reader asks of the indexer: where the index stands. */
export type IndexPosition = Pick<Indexer, 'status' | 'chainInfo' | 'countsNow' | 'indexedHeight'>

export interface IndexReaderModules { store: CoordinatorStore, indexer: IndexPosition }

/** The node's miner, amounts in AITBC, and its figures from the index (chainStats.ts). */
export type MinerView = MinerJSON & { stake_aitbc: string, earned_aitbc: string, price_per_second_aitbc: string, performance: MinerPerformance }
export type AccountView = AccountJSON & { is_miner: boolean }

export class IndexReader {
  private statsCache: { at: number, height: number, stats: Stats } | null = null
  /** Records counted by a key scan, at most every 10 s. */
  private recordCounts: { at: number, miners: number, accounts: number } | null = null
  private readonly store: CoordinatorStore
  private readonly indexer: IndexPosition

  constructor (m: IndexReaderModules) {
    this.store = m.store
    this.indexer = m.indexer
  }

  /** The job as served: the node's aitbc_job record when it is at the same status, else as indexed. */
  async job (id: string): Promise<JobView | undefined> {
    const j = await this.jobRecord(id)
    return j === undefined ? undefined : jobView(j)
  }

  async jobRecord (id: string): Promise<JobRecord | undefined> {
    const [j, node] = await this.store.getMany<JobRecord | JobJSON>([KEY.job(id), KEY.jobRecord(id)])
    return j === undefined ? undefined : withNodeRecord(j as JobRecord, node as JobJSON | undefined)
  }

  async jobs (q: { client?: string, miner?: string, status?: JobStatusName, limit: number, cursor?: string }): Promise<{ jobs: JobView[], next_cursor: string | null }> {
    const prefix = q.client !== undefined ? KEY.jobByClientPrefix(q.client)
      : q.miner !== undefined ? KEY.jobByMinerPrefix(q.miner)
        : q.status !== undefined ? KEY.jobByStatusPrefix(q.status)
          : KEY.jobAllPrefix
    const out: JobView[] = []
    let lt = q.cursor === undefined ? undefined : prefix + q.cursor
    let scanned = 0
    let last: string | undefined
    for (;;) {
      const keys = await this.store.keys(prefix, { reverse: true, lt, limit: Math.min(200, MAX_SCAN - scanned) })
      if (keys.length === 0) { last = undefined; break }
      scanned += keys.length
      const ids = keys.map(k => k.slice(k.lastIndexOf(':') + 1))
      const recs = await this.store.getMany<JobRecord | JobJSON>(ids.flatMap(id => [KEY.job(id), KEY.jobRecord(id)]))
      let full = false
      for (let i = 0; i < keys.length; i++) {
        last = keys[i].slice(prefix.length)
        const j = recs[2 * i] as JobRecord | undefined
        if (j === undefined) continue
        const v = withNodeRecord(j, recs[2 * i + 1] as JobJSON | undefined)
        if (q.client !== undefined && v.client !== q.client) continue
        // A miner's jobs: those it ran and those it re-ran as a verifier.
        if (q.miner !== undefined && v.miner !== q.miner && v.verification?.verifiers.some(r => r.miner === q.miner) !== true) continue
        if (q.status !== undefined && v.status !== q.status) continue
        out.push(jobView(v))
        if (out.length >= q.limit) { full = true; break }
      }
      if (full || scanned >= MAX_SCAN) {
        // More may follow: the next page starts after the last key read.
        const more = (await this.store.keys(prefix, { reverse: true, lt: prefix + (last as string), limit: 1 })).length > 0
        if (!more) last = undefined
        break
      }
      lt = prefix + (last as string)
    }
    return { jobs: out, next_cursor: last === undefined ? null : encodeCursor('job', last) }
  }

  /** aitbc_receipt: by receipt id or job id. */
  async receipt (id: string): Promise<ReceiptJSON> {
    let jobId = id
    if (RECEIPT_ID_RE.test(id)) {
      const j = await this.store.get<string>(KEY.receipt(id))
      if (j === undefined) throw new ApiError(404, 'NOT_FOUND', `receipt ${id} not found`)
      jobId = j
    } else if (!JOB_ID_RE.test(id)) {
      throw new ApiError(400, 'BAD_ID', `"${id.slice(0, 80)}" is neither a receipt id (receipt_ + 16 hex digits) nor a job id`)
    }
    const j = await this.jobRecord(jobId)
    if (j === undefined) throw new ApiError(404, 'NOT_FOUND', `job ${jobId} not found`)
    if (j.receipt_id === null) throw new ApiError(404, 'NO_RECEIPT', `job ${jobId} has no receipt (status ${j.status})`)
    return receiptView(j)
  }

  async miners (model?: string): Promise<MinerView[]> {
    const all = (await this.store.entries<MinerJSON>(KEY.minerPrefix)).map(([, v]) => v).filter(m => model === undefined || m.models.includes(model))
    const totals = await this.store.getMany<MinerTotals>(all.map(m => KEY.minerTotals(m.address)))
    return all.map((m, i) => minerView(m, totals[i]))
  }

  async miner (address: string): Promise<MinerView | undefined> {
    const [m, totals] = await this.store.getMany<MinerJSON | MinerTotals>([KEY.miner(address), KEY.minerTotals(address)])
    return m === undefined ? undefined : minerView(m as MinerJSON, totals as MinerTotals | undefined)
  }

  async account (address: string): Promise<AccountView> {
    const [a, m] = await this.store.getMany<AccountJSON | MinerJSON>([KEY.account(address), KEY.miner(address)])
    const base: AccountJSON = (a as AccountJSON | undefined) ?? { address, balance: '0', balance_aitbc: '0', nonce: '0', bonded: '0', unbonding: '0' }
    return { ...base, is_miner: m !== undefined }
  }

  async block (height: number): Promise<(BlockRecord & { txs: TxSummary[] }) | undefined> {
    const b = await this.store.get<BlockRecord>(KEY.block(height))
    if (b === undefined) return undefined
    const hashes = (await this.store.entries<string>(KEY.txAtHeightPrefix(height))).map(([, v]) => v)
    const txs = (await this.store.getMany<TxRecord>(hashes.map(KEY.tx))).filter((t): t is TxRecord => t !== undefined)
    return { ...b, txs: txs.map(txSummary) }
  }

  async blockHeightByHash (hash: string): Promise<number | undefined> {
    return await this.store.get<number>(KEY.blockByHash(hash))
  }

  async blocks (q: { limit: number, cursor?: string }): Promise<{ blocks: BlockRecord[], next_cursor: string | null }> {
    const entries = await this.store.entries<BlockRecord>(KEY.blockPrefix, { reverse: true, lt: q.cursor === undefined ? undefined : KEY.blockPrefix + q.cursor, limit: q.limit + 1 })
    const page = entries.slice(0, q.limit)
    const more = entries.length > q.limit
    return { blocks: page.map(([, b]) => b), next_cursor: more && page.length > 0 ? encodeCursor('block', pad(Number(page[page.length - 1][1].height))) : null }
  }

  async tx (hash: string): Promise<TxRecord & { summary: string } | undefined> {
    const t = await this.store.get<TxRecord>(KEY.tx(hash))
    return t === undefined ? undefined : { ...t, summary: describeTx(t) }
  }

  async txs (q: { address?: string, limit: number, cursor?: string }): Promise<{ txs: TxSummary[], next_cursor: string | null }> {
    const prefix = q.address !== undefined ? KEY.accountTxPrefix(q.address) : KEY.txAtPrefix
    const entries = await this.store.entries<string>(prefix, { reverse: true, lt: q.cursor === undefined ? undefined : prefix + q.cursor, limit: q.limit + 1 })
    const page = entries.slice(0, q.limit)
    const txs = (await this.store.getMany<TxRecord>(page.map(([, h]) => KEY.tx(h)))).filter((t): t is TxRecord => t !== undefined)
    const more = entries.length > q.limit
    return { txs: txs.map(txSummary), next_cursor: more && page.length > 0 ? encodeCursor('tx', page[page.length - 1][0].slice(prefix.length)) : null }
  }

  /** Network figures from the latest blocks, cached for a second or until the next block. */
  async stats (): Promise<Stats> {
    const st = this.indexer.status()
    const c = this.statsCache
    if (c !== null && c.height === st.indexed_height && Date.now() - c.at < 1000) return { ...c.stats, node_height: st.node_height, lag: st.lag }
    const recent = (await this.store.entries<BlockRecord>(KEY.blockPrefix, { reverse: true, limit: 400 })).map(([, b]) => b)
    let blockTimeMs: number | null = null
    let txPerS = 0
    let jobsPerMin = 0
    let windowS = 0
    if (recent.length > 0) {
      const latest = Date.parse(recent[0].time)
      const last20 = recent.slice(0, 21)
      if (last20.length >= 2) blockTimeMs = Math.round((latest - Date.parse(last20[last20.length - 1].time)) / (last20.length - 1))
      let txs = 0
      let jobs = 0
      let oldest = latest
      for (const b of recent) {
        const t = Date.parse(b.time)
        if (latest - t > 60_000) break
        txs += b.num_txs
        jobs += b.jobs_submitted
        oldest = t
      }
      // The window is the last minute of chain time; on a younger chain, its life so far.
      const genesis = Date.parse(this.indexer.chainInfo?.genesis_time ?? '')
      const life = Number.isNaN(genesis) ? latest - oldest : latest - genesis
      windowS = Math.max(1, Math.min(60, life / 1000))
      txPerS = Math.round(txs / windowS * 100) / 100
      jobsPerMin = Math.round(jobs / windowS * 60 * 100) / 100
    }
    const counts = this.indexer.countsNow
    if (this.recordCounts === null || Date.now() - this.recordCounts.at > 10_000) {
      const [miners, accounts] = await Promise.all([this.store.keys(KEY.minerPrefix), this.store.keys(KEY.accountPrefix)])
      this.recordCounts = { at: Date.now(), miners: miners.length, accounts: accounts.length }
    }
    const stats: Stats = {
      chain_id: st.chain_id,
      height: st.indexed_height,
      node_height: st.node_height,
      lag: st.lag,
      latest_block_time: st.indexed_time,
      block_time_ms: blockTimeMs,
      tx_per_s: txPerS,
      jobs_per_minute: jobsPerMin,
      window_s: Math.round(windowS * 10) / 10,
      txs: counts.txs,
      jobs: counts.jobs,
      jobs_by_status: { ...counts.by_status },
      miners: this.recordCounts.miners,
      accounts: this.recordCounts.accounts,
    }
    this.statsCache = { at: Date.now(), height: st.indexed_height, stats }
    return stats
  }

  /** What a search box entry names: a height, a block or tx hash, an address, a job or receipt id. */
  async search (q: string): Promise<{ kind: 'block' | 'tx' | 'account' | 'miner' | 'job', id: string }> {
    const s = q.trim()
    if (/^\d{1,15}$/.test(s)) {
      const h = Number(s)
      if (h >= 1 && h <= this.indexer.indexedHeight) return { kind: 'block', id: String(h) }
      throw new ApiError(404, 'NOT_FOUND', `no block at height ${s} (the index is at ${this.indexer.indexedHeight})`)
    }
    if (JOB_ID_RE.test(s)) {
      if (await this.store.get(KEY.job(s)) !== undefined) return { kind: 'job', id: s }
      throw new ApiError(404, 'NOT_FOUND', `job ${s} not found`)
    }
    if (RECEIPT_ID_RE.test(s)) {
      const j = await this.store.get<string>(KEY.receipt(s))
      if (j !== undefined) return { kind: 'job', id: j }
      throw new ApiError(404, 'NOT_FOUND', `receipt ${s} not found`)
    }
    if (isAddress(s)) return { kind: (await this.store.get(KEY.miner(s))) !== undefined ? 'miner' : 'account', id: s }
    if (/^[0-9a-fA-F]{64}$/.test(s)) {
      const hash = s.toUpperCase()
      if (await this.store.get(KEY.tx(hash)) !== undefined) return { kind: 'tx', id: hash }
      const h = await this.store.get<number>(KEY.blockByHash(hash))
      if (h !== undefined) return { kind: 'block', id: String(h) }
      throw new ApiError(404, 'NOT_FOUND', `no tx or block with hash ${hash}`)
    }
    throw new ApiError(400, 'BAD_REQUEST', 'search for a block height, a tx or block hash (64 hex digits), an aitbc address, or a job or receipt id')
  }
}

function minerView (m: MinerJSON, totals: MinerTotals | undefined): MinerView {
  return {
    ...m,
    stake_aitbc: formatAitbc(BigInt(m.stake)),
    earned_aitbc: formatAitbc(BigInt(m.earned)),
    price_per_second_aitbc: formatAitbc(BigInt(m.price_per_second)),
    performance: minerPerformance(totals ?? emptyMinerTotals()),
  }
}
