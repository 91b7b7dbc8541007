// Block sync, as CometBFT's blocksync reactor: a node that is behind its peers fetches blocks
// with their commits, verifies each commit against the validator set, executes the block and
// commits it, then consensus resumes. Serving: any peer may ask for our height and for a run of
// our blocks.
import { pack, unpack } from '../core/codec.ts'
import { blockHash, commitHash, decodeBlock, decodeCommit, verifyCommit, type Block, type Commit } from '../core/block.ts'
import { bytesEqual } from '../core/crypto.ts'
import { decodeSyncRequest, encodeSyncRequest } from './messages.ts'
import type { ConsensusApp } from './app.ts'
import type { ConsensusNetwork } from './network.ts'
import type { Logger } from '../logger.ts'

/** Bytes of blocks and commits in one sync answer, at most. */
const MAX_RESPONSE_BYTES = 3 * 1024 * 1024

export interface BlockSyncOptions {
  /** Blocks asked for in one request (default 100). */
  batch?: number
  /** Timeout of a status probe (default 2 s) and of a blocks request (default 15 s). */
  probeTimeoutMs?: number
  fetchTimeoutMs?: number
  /** How long a peer that claimed a height it did not serve is left alone (default 30 s). */
  cooldownMs?: number
  /** Test only: a byzantine validator that lies about its height and serves nothing. */
  byzantine?: { claimedHeight: (h: number) => number, servesBlocks: boolean }
}

/** What block sync needs of the engine while it runs. */
export interface SyncHooks {
  /** True while the engine commits a block (sync waits). */
  busy: () => boolean
  /** Sync is about to commit blocks: consensus at the current height stops. */
  pause: () => void
  /** Sync ended (caught up, or failed): consensus resumes at the next height. */
  resume: () => void
  /** A block was committed by sync, certified by this commit. */
  committed: (commit: Commit) => void
}

export class BlockSync {
  private syncing = false
  private probing = false
  private stopped = false
  /** Peers that claimed heights they did not serve, until when they are left alone. */
  private readonly cooldown = new Map<string, number>()
  private readonly now: () => number

  constructor (private readonly opts: BlockSyncOptions, private readonly m: { app: ConsensusApp, net: ConsensusNetwork, log: Logger, now?: () => number, txs?: (hashes: Uint8Array[]) => Array<Uint8Array | undefined> }) {
    this.now = m.now ?? Date.now
  }

  get isSyncing (): boolean { return this.syncing }

  /** Serves sync requests from peers. */
  serve (): void {
    this.m.net.handle('sync', async (req) => await this.onRequest(req))
  }

  stop (): void { this.stopped = true }

  private async onRequest (req: Uint8Array): Promise<Uint8Array> {
    const r = decodeSyncRequest(req)
    const { app } = this.m
    const liar = this.opts.byzantine
    if (r.kind === 'status') return pack([liar?.claimedHeight(app.height()) ?? app.height()])
    if (r.kind === 'txs') {
      // A proposal's txs by hash (from the mempool or a proposal of this height), in order; null
      // for one not held; the answer stops early rather than grow past the size of one answer.
      const found = this.m.txs?.(r.hashes) ?? []
      const txs: Array<Uint8Array | null> = []
      let size = 0
      for (let i = 0; i < r.hashes.length; i++) {
        const t = found[i] ?? null
        size += (t?.length ?? 0) + 4
        if (size > MAX_RESPONSE_BYTES && txs.length > 0) break
        txs.push(t)
      }
      return pack(txs)
    }
    const out: Array<[Uint8Array, Uint8Array]> = []
    if (liar !== undefined && !liar.servesBlocks) return pack(out)
    let bytes = 0
    for (let h = r.from; h < r.from + r.count && h <= app.height(); h++) {
      const [b, c] = await Promise.all([app.blockBytes(h), app.commitBytes(h)])
      if (b === undefined || c === undefined) break
      out.push([b, c])
      bytes += b.length + c.length
      if (bytes > MAX_RESPONSE_BYTES) break
    }
    return pack(out)
  }

  /**
   * Asks every peer for its height; when one is ahead, fetches its first blocks and checks the
   * first one's commit before anything else: only then does consensus pause while the blocks are
   * committed. A peer that claims a height it does not serve (no blocks, or blocks whose commits
   * do not verify) is penalised and not asked again for a while; consensus never notices it.
   */
  async tick (hooks: SyncHooks): Promise<void> {
    const { net, app, log } = this.m
    if (this.syncing || this.probing || this.stopped || hooks.busy()) return
    const now = this.now()
    const peers = net.peers().filter(p => (this.cooldown.get(p.id) ?? 0) <= now)
    if (peers.length === 0) return
    this.probing = true
    let target: { id: string, height: number } | null = null
    let first: SyncBatch | null = null
    try {
      target = await this.probe(peers.map(p => p.id))
      if (target === null || target.height <= app.height() || this.stopped || hooks.busy()) return
      first = await this.firstBatch(target)
    } finally {
      this.probing = false
    }
    if (first === null || this.stopped || this.syncing || hooks.busy() || first.items[0].block.header.height !== app.height() + 1) return
    this.syncing = true
    try {
      hooks.pause()
      const synced = await this.syncFrom(target.id, target.height, first, hooks)
      if (synced > 0) log.info({ height: app.height(), peer: target.id, blocks: synced }, 'caught up by block sync')
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'block sync failed')
    } finally {
      this.syncing = false
      if (!this.stopped) hooks.resume()
    }
  }

  /** The peer with the greatest claimed height. */
  private async probe (ids: string[]): Promise<{ id: string, height: number } | null> {
    let best: { id: string, height: number } | null = null
    await Promise.all(ids.map(async id => {
      try {
        const res = unpack<[number]>(await this.m.net.request(id, 'sync', encodeSyncRequest({ kind: 'status' }), this.opts.probeTimeoutMs ?? 2000))
        const h = Array.isArray(res) && Number.isSafeInteger(res[0]) ? res[0] : -1
        if (best === null || h > best.height) best = { id, height: h }
      } catch {}
    }))
    return best
  }

  /** The first batch from a peer that claims to be ahead, its first block's commit verified; null (and the peer penalised) when it does not serve one. */
  private async firstBatch (target: { id: string, height: number }): Promise<SyncBatch | null> {
    const from = this.m.app.height() + 1
    try {
      const batch = await this.fetch(target.id, from)
      if (batch.items.length === 0) throw new SyncError(`claimed height ${target.height} but served no block from ${from}`)
      this.verifyAt(batch, 0)
      return batch
    } catch (e) {
      const why = e instanceof SyncError ? e.message : `claimed height ${target.height} but its blocks request failed: ${(e as Error).message}`
      this.m.net.penalize(target.id, `sync: ${why}`)
      this.cooldown.set(target.id, this.now() + (this.opts.cooldownMs ?? 30_000))
      this.m.log.warn({ peer: target.id, reason: why }, 'sync peer does not serve what it claims')
      return null
    }
  }

  private async fetch (peer: string, from: number): Promise<SyncBatch> {
    const res = unpack(await this.m.net.request(peer, 'sync', encodeSyncRequest({ kind: 'blocks', from, count: this.opts.batch ?? 100 }), this.opts.fetchTimeoutMs ?? 15_000))
    if (!Array.isArray(res)) throw new SyncError('malformed sync response')
    const items = res.map(item => {
      if (!Array.isArray(item) || !(item[0] instanceof Uint8Array) || !(item[1] instanceof Uint8Array)) throw new SyncError('malformed sync response')
      try {
        return { block: decodeBlock(item[0]), seen: decodeCommit(item[1]) }
      } catch (e) {
        throw new SyncError(`malformed block in sync response: ${(e as Error).message}`)
      }
    })
    return { items }
  }

  /** The commit that certifies item i (block i+1's last_commit when the batch has it, else the peer's seen commit), verified; throws SyncError. */
  private verifyAt (batch: SyncBatch, i: number): Commit {
    const { app } = this.m
    const { block, seen } = batch.items[i]
    const commit = batch.items[i + 1]?.block.lastCommit ?? seen
    // Each commit against the set of its own height (the chain knows it for the next height on).
    const vals = app.validatorsAt?.(block.header.height) ?? app.validators
    const err = verifyCommit(app.chainId, [...vals], commit, block.header.height, blockHash(block.header))
    if (err !== null) throw new SyncError(`block ${block.header.height} has a bad commit: ${err}`)
    return commit
  }

  /** Starts the app's parallel signature checks of a batch (once); returns the batch. */
  private prepare (b: SyncBatch): SyncBatch {
    const app = this.m.app
    if (b.prepared === undefined && app.prepare !== undefined && b.items.length > 0) {
      // The commits that will certify the blocks (verifyAt's choice), not the peer's seen commits the batch does not use.
      b.prepared = app.prepare(b.items.map(i => i.block), b.items.map((it, i) => b.items[i + 1]?.block.lastCommit ?? it.seen)).catch(() => {})
    }
    return b
  }

  /** Commits blocks from a peer until its height, starting with a fetched batch; returns how many. */
  private async syncFrom (peer: string, target: number, first: SyncBatch, hooks: SyncHooks): Promise<number> {
    const { net, app } = this.m
    let n = 0
    const bad = (why: string): never => { net.penalize(peer, `sync: ${why}`); throw new Error(`peer ${peer}: ${why}`) }
    // The commit that certified our last synced block: a block whose last_commit is that same
    // commit needs no second check of its signatures.
    let verified: Uint8Array | null = null
    let batch: SyncBatch | null = first
    while (batch !== null && batch.items.length > 0 && app.height() < target && !this.stopped) {
      const current: SyncBatch = batch
      const items = current.items
      // Fetch the next batch while this one is checked and written.
      const after: number = items[items.length - 1].block.header.height + 1
      const next: Promise<SyncBatch> = after <= target ? this.fetch(peer, after).then(b => this.prepare(b)) : Promise.resolve({ items: [] })
      next.catch(() => {})
      // The signatures of this batch, checked on every core (started when it arrived), while the next one is fetched.
      await (this.prepare(current).prepared ?? Promise.resolve())
      for (const [i, { block }] of items.entries()) {
        const h = block.header.height
        if (h !== app.height() + 1) bad(`block ${h} does not follow ${app.height()}`)
        let commit: Commit
        try { commit = this.verifyAt(current, i) } catch (e) { bad((e as Error).message) }
        const trusted = verified !== null && bytesEqual(block.header.lastCommitHash, verified)
        const v = app.validate(block, { lastCommitVerified: trusted })
        if (v.error !== null) bad(`invalid block ${h}: ${v.error}`)
        // Synced blocks can be fetched again: only the last of a batch waits for fsync.
        await app.commit(v, commit!, { sync: i === items.length - 1 })
        verified = commitHash(commit!)
        hooks.committed(commit!)
        n++
      }
      try { batch = await next } catch (e) { if (n === 0) throw e; batch = null }
    }
    return n
  }
}

interface SyncBatch { items: Array<{ block: Block, seen: Commit }>, prepared?: Promise<void> }

class SyncError extends Error {
  constructor (message: string) { super(message); this.name = 'SyncError' }
}
