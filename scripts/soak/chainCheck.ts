// The chain checks of the soak run, over RPC:
// - every node's blocks, scanned by `blockchain` ranges from height 1 as it grows, must equal the
//   first block seen at that height (block hash and app hash), and each new block must link to
//   the one before; a node that is down is scanned again once it answers;
// - the txs of every height are read once with `block` (checking its block id again); every tx
//   a node reported committed (a broadcast_tx_commit answer, or a `tx` lookup that found it) must
//   be in that block, and a `tx` lookup on every node must find it at the same height and index,
//   once the node has that height; samples of block txs are looked up too.
import type { BatchAnswer } from '../../node/rpc/client.ts'
import type { BlockMetaJSON, BlockResultJSON, ResultTx } from '../../node/rpc/types.ts'
import { sha256 } from '../../node/core/crypto.ts'
import type { Member } from './members.ts'
import type { Violations } from './util.ts'

export interface TxReport {
  hash: string
  height: number
  /** Its index in the block; -1 until the block's txs are read, -2 when it is not in the block. */
  index: number
  by: string
}

interface NodeProgress {
  /** Every height up to this was compared on this node. */
  checkedUpTo: number
  /** The next scan starts again from height 1. */
  rescan: boolean
  /** Reports still to look up on this node. */
  queue: TxReport[]
}

const HASH_BYTES = 32
/** A node's RPC answers `tx` slowly under load (each lookup reads the block and its results): a pass takes at most this many. */
const LOOKUPS_PER_PASS = 200

export class ChainChecker {
  private readonly blockHash: string[] = ['']
  private readonly appHash: string[] = ['']
  private readonly firstFrom: string[] = ['']
  /** The hashes of each height's txs, 32 bytes each, in block order. */
  private readonly txLists: Buffer[] = [Buffer.alloc(0)]
  private txListsUpTo = 0
  private filling = false
  private readonly awaiting = new Map<number, TxReport[]>()
  private readonly progress = new Map<string, NodeProgress>()
  readonly reports = new Map<string, TxReport>()
  txsCommitted = 0
  lookups = 0

  constructor (members: Member[], private readonly violations: Violations, private readonly random: () => number) {
    for (const m of members) this.progress.set(m.name, { checkedUpTo: 0, rescan: false, queue: [] })
  }

  /** The highest height seen on any node. */
  get top (): number { return this.blockHash.length - 1 }
  get txListHeight (): number { return this.txListsUpTo }
  checkedUpTo (m: Member): number { return this.nodeProgress(m).checkedUpTo }

  private nodeProgress (m: Member): NodeProgress {
    const p = this.progress.get(m.name)
    if (p === undefined) throw new Error(`unknown node ${m.name}`)
    return p
  }

  /** Compares the node's blocks from the last height compared up to its current height. One scan of a node at a time. */
  async scan (m: Member): Promise<void> {
    const p = this.nodeProgress(m)
    if (p.rescan) { p.rescan = false; p.checkedUpTo = 0 }
    const height = await m.readHeight()
    while (p.checkedUpTo < height) {
      const from = p.checkedUpTo + 1
      const to = Math.min(height, from + 19)
      const r = await m.client.call('blockchain', { minHeight: String(from), maxHeight: String(to) })
      const metas = new Map(r.block_metas.map(x => [Number(x.header.height), x]))
      for (let h = from; h <= to; h++) {
        const meta = metas.get(h)
        if (meta === undefined) {
          this.violations.add('lost-block', `${m.name}/${h}`, `${m.name} reports height ${height} but its blockchain ${from}..${to} has no block ${h}`)
          return
        }
        this.observe(m.name, meta)
      }
      p.checkedUpTo = to
    }
    await this.fillTxLists(m)
  }

  /** The node's next scan compares its whole chain again from height 1 (after a restart, and at the end). */
  rescanFromStart (m: Member): void { this.nodeProgress(m).rescan = true }

  private observe (name: string, meta: BlockMetaJSON): void {
    const h = Number(meta.header.height)
    const hash = meta.block_id.hash
    const app = meta.header.app_hash
    if (h <= this.top) {
      if (this.blockHash[h] !== hash || this.appHash[h] !== app) {
        this.violations.add('fork', `${h}/${name}`, `height ${h}: ${name} has block ${hash} app_hash ${app}; ${this.firstFrom[h]} has block ${this.blockHash[h]} app_hash ${this.appHash[h]}`)
      }
      return
    }
    if (h !== this.top + 1) throw new Error(`harness: block ${h} of ${name} observed before ${this.top + 1}`)
    if (h > 1 && meta.header.last_block_id.hash !== this.blockHash[h - 1]) {
      this.violations.add('fork', `link/${h}/${name}`, `height ${h}: ${name}'s block ${hash} links to ${meta.header.last_block_id.hash}, not to block ${h - 1} ${this.blockHash[h - 1]}`)
    }
    this.blockHash.push(hash)
    this.appHash.push(app)
    this.firstFrom.push(name)
  }

  /** Reads the txs of the next heights (up to 100) from this node with `block`. One reader at a time. */
  private async fillTxLists (m: Member): Promise<void> {
    if (this.filling) return
    this.filling = true
    try {
      const hi = Math.min(this.nodeProgress(m).checkedUpTo, this.txListsUpTo + 100)
      const heights = Array.from({ length: Math.max(0, hi - this.txListsUpTo) }, (_, i) => this.txListsUpTo + 1 + i)
      const answers = await m.client.batchAll(heights.map(h => ({ method: 'block' as const, params: { height: String(h) } })), 2)
      for (let i = 0; i < heights.length; i++) {
        const a = answers[i]
        if (!a.ok) break
        this.addTxList(m.name, heights[i], a.result as BlockResultJSON)
      }
    } finally {
      this.filling = false
    }
  }

  private addTxList (name: string, h: number, b: BlockResultJSON): void {
    if (b.block_id.hash !== this.blockHash[h]) {
      this.violations.add('fork', `block/${h}/${name}`, `height ${h}: ${name}'s block RPC answers block ${b.block_id.hash}, its blockchain RPC (or ${this.firstFrom[h]}'s) said ${this.blockHash[h]}`)
    }
    const list = Buffer.concat(b.block.data.txs.map(t => sha256(Buffer.from(t, 'base64'))))
    this.txLists[h] = list
    this.txListsUpTo = h
    this.txsCommitted += b.block.data.txs.length
    for (const r of this.awaiting.get(h) ?? []) this.resolve(r)
    this.awaiting.delete(h)
  }

  private indexIn (h: number, hash: string): number {
    const list = this.txLists[h]
    const want = Buffer.from(hash, 'hex')
    for (let i = 0; i * HASH_BYTES < list.length; i++) {
      if (list.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES).equals(want)) return i
    }
    return -1
  }

  private resolve (r: TxReport): void {
    const idx = this.indexIn(r.height, r.hash)
    if (idx < 0) {
      this.violations.add('lost-tx', `notinblock/${r.hash}`, `tx ${r.hash} reported committed at height ${r.height} (${r.by}) is not in block ${r.height} (${this.txLists[r.height].length / HASH_BYTES} txs, read from the chain first seen on ${this.firstFrom[r.height]})`)
      r.index = -2
      return
    }
    if (r.index >= 0 && r.index !== idx) {
      this.violations.add('lost-tx', `index/${r.hash}`, `tx ${r.hash} reported at ${r.height}/${r.index} (${r.by}) is at index ${idx} of block ${r.height}`)
    }
    r.index = idx
  }

  /** A node said this tx is committed at this height (and index, if known). */
  addReport (hash: string, height: number, by: string, index = -1): void {
    const prev = this.reports.get(hash)
    if (prev !== undefined) {
      if (prev.height !== height || (index >= 0 && prev.index >= 0 && prev.index !== index)) {
        this.violations.add('lost-tx', `moved/${hash}`, `tx ${hash}: ${prev.by} reported it at ${prev.height}/${prev.index}, ${by} at ${height}/${index}`)
      }
      return
    }
    const r: TxReport = { hash, height, index, by }
    this.reports.set(hash, r)
    if (height <= this.txListsUpTo) this.resolve(r)
    else this.awaiting.set(height, [...(this.awaiting.get(height) ?? []), r])
    for (const p of this.progress.values()) p.queue.push(r)
  }

  /** `count` random txs of the heights this node has (read from the block lists). */
  sample (count: number, maxHeight: number): TxReport[] {
    const hi = Math.min(maxHeight, this.txListsUpTo)
    const out: TxReport[] = []
    for (let tries = 0; out.length < count && tries < count * 20 && hi >= 1; tries++) {
      const h = 1 + Math.floor(this.random() * hi)
      const n = this.txLists[h].length / HASH_BYTES
      if (n === 0) continue
      const i = Math.floor(this.random() * n)
      out.push({ hash: this.txLists[h].subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES).toString('hex').toUpperCase(), height: h, index: i, by: 'block' })
    }
    return out
  }

  /** Every tx of heights lo..hi (at most `cap`, sampled evenly when there are more). */
  txsIn (lo: number, hi: number, cap: number): TxReport[] {
    const out: TxReport[] = []
    for (let h = Math.max(1, lo); h <= Math.min(hi, this.txListsUpTo); h++) {
      const list = this.txLists[h]
      for (let i = 0; i * HASH_BYTES < list.length; i++) out.push({ hash: list.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES).toString('hex').toUpperCase(), height: h, index: i, by: 'block' })
    }
    if (out.length <= cap) return out
    const step = out.length / cap
    return Array.from({ length: cap }, (_, i) => out[Math.floor(i * step)])
  }

  /**
   * Looks the txs up with `tx` on the node: each must be found at its height and index.
   * Returns the answers (a network failure throws: the node went away).
   */
  async lookup (m: Member, items: TxReport[]): Promise<Array<ResultTx | null>> {
    if (items.length === 0) return []
    const answers: BatchAnswer[] = await m.client.batchAll(items.map(r => ({ method: 'tx' as const, params: { hash: r.hash } })), 2)
    this.lookups += items.length
    return answers.map((a, i) => {
      const r = items[i]
      if (!a.ok) {
        if (/not found/.test(a.error.message)) {
          this.violations.add('lost-tx', `missing/${r.hash}/${m.name}`, `tx ${r.hash} (committed at ${r.height}/${r.index}, ${r.by}) is missing on ${m.name} (height ${m.height}): ${a.error.message}`)
        } else if (/missing/.test(a.error.message)) {
          this.violations.add('lost-block', `lookup/${r.height}/${m.name}`, `tx ${r.hash} (committed at ${r.height}/${r.index}, ${r.by}): ${m.name} answers ${a.error.message}`)
        } else {
          this.violations.add('harness', `lookup/${m.name}/${a.error.message}`, `tx lookup on ${m.name} failed: ${a.error.message}`)
        }
        return null
      }
      const t = a.result as ResultTx
      if (Number(t.height) !== r.height || (r.index >= 0 && t.index !== r.index) || t.hash !== r.hash) {
        this.violations.add('lost-tx', `moved/${r.hash}/${m.name}`, `tx ${r.hash} (committed at ${r.height}/${r.index}, ${r.by}) is at ${t.height}/${t.index} on ${m.name}`)
      }
      return t
    })
  }

  /** Looks up this node's queued reports (those at heights it has) and `samples` random block txs. */
  async lookupPass (m: Member, samples: number): Promise<void> {
    const p = this.nodeProgress(m)
    p.queue = p.queue.filter(r => r.index !== -2)
    const ready = p.queue.filter(r => r.index >= 0 && r.height <= p.checkedUpTo).slice(0, LOOKUPS_PER_PASS)
    const sampled = this.sample(samples, p.checkedUpTo)
    await this.lookup(m, [...ready, ...sampled])
    const done = new Set(ready)
    p.queue = p.queue.filter(r => !done.has(r))
    for (const s of sampled) this.addReport(s.hash, s.height, `tx lookup on ${m.name}`, s.index)
  }

  /** Txs to look up on this node in its next passes (those around a kill). */
  enqueue (m: Member, items: TxReport[]): void { this.nodeProgress(m).queue.push(...items) }

  /** Every report, and whatever is still queued for this node, looked up on it (the end of the run). */
  async lookupAllReports (m: Member): Promise<number> {
    const p = this.nodeProgress(m)
    const items = [...new Set([...p.queue, ...this.reports.values()])].filter(r => r.index >= 0)
    await this.lookup(m, items)
    p.queue = []
    return items.length
  }
}
