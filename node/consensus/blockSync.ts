// Block sync, as CometBFT's blocksync reactor: a node that is behind its peers fetches blocks
// with their commits, verifies each commit against the validator set, executes the block and
// commits it, then consensus resumes. Serving: any peer may ask for our height and for a run of
// our blocks.
import { pack, unpack } from '../core/codec.ts'
import { blockHash, commitHash, decodeBlock, decodeCommit, verifyCommit, type Commit } from '../core/block.ts'
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

  constructor (private readonly opts: BlockSyncOptions, private readonly m: { app: ConsensusApp, net: ConsensusNetwork, log: Logger }) {}

  get isSyncing (): boolean { return this.syncing }

  /** Serves sync requests from peers. */
  serve (): void {
    this.m.net.handle('sync', async (req) => await this.onRequest(req))
  }

  stop (): void { this.stopped = true }

  private async onRequest (req: Uint8Array): Promise<Uint8Array> {
    const r = decodeSyncRequest(req)
    const { app } = this.m
    if (r.kind === 'status') return pack([app.height()])
    const out: Array<[Uint8Array, Uint8Array]> = []
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

  /** Asks every peer for its height; when one is ahead, pauses consensus and catches up from it. */
  async tick (hooks: SyncHooks): Promise<void> {
    const { net, app, log } = this.m
    if (this.syncing || this.probing || this.stopped || hooks.busy()) return
    const peers = net.peers()
    if (peers.length === 0) return
    // Probing peers' heights does not pause consensus; only a real catch-up does.
    this.probing = true
    let best: { id: string, height: number } | null = null
    try {
      await Promise.all(peers.map(async p => {
        try {
          const res = unpack<[number]>(await net.request(p.id, 'sync', encodeSyncRequest({ kind: 'status' }), this.opts.probeTimeoutMs ?? 2000))
          const h = Array.isArray(res) && Number.isSafeInteger(res[0]) ? res[0] : -1
          if (best === null || h > best.height) best = { id: p.id, height: h }
        } catch {}
      }))
    } finally {
      this.probing = false
    }
    const target = best as { id: string, height: number } | null
    if (target === null || target.height <= app.height() || this.stopped || this.syncing || hooks.busy()) return
    this.syncing = true
    try {
      hooks.pause()
      const synced = await this.syncFrom(target.id, target.height, hooks)
      if (synced > 0) log.info({ height: app.height(), peer: target.id, blocks: synced }, 'caught up by block sync')
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'block sync failed')
    } finally {
      this.syncing = false
      if (!this.stopped) hooks.resume()
    }
  }

  /** Fetches, verifies and commits blocks from a peer until its height; returns how many. */
  private async syncFrom (peer: string, target: number, hooks: SyncHooks): Promise<number> {
    const { net, app } = this.m
    let n = 0
    const batch = this.opts.batch ?? 100
    const fetch = async (from: number): Promise<unknown> => unpack(await net.request(peer, 'sync', encodeSyncRequest({ kind: 'blocks', from, count: batch }), this.opts.fetchTimeoutMs ?? 15_000))
    const bad = (why: string): never => { net.penalize(peer, `sync: ${why}`); throw new Error(`peer ${peer}: ${why}`) }
    // The commit that certified our last synced block: a block whose last_commit is that same
    // commit needs no second check of its signatures.
    let verified: Uint8Array | null = null
    let next = fetch(app.height() + 1)
    while (app.height() < target && !this.stopped) {
      const res = await next
      if (!Array.isArray(res) || res.length === 0) break
      const items = res.map(item => {
        if (!Array.isArray(item) || !(item[0] instanceof Uint8Array) || !(item[1] instanceof Uint8Array)) bad('malformed sync response')
        return { block: decodeBlock(item[0]), seen: decodeCommit(item[1]) }
      })
      // Fetch the next batch while this one is checked and written.
      const after = items[items.length - 1].block.header.height + 1
      next = after <= target ? fetch(after) : Promise.resolve([])
      for (const [i, { block, seen }] of items.entries()) {
        const h = block.header.height
        if (h !== app.height() + 1) bad(`block ${h} does not follow ${app.height()}`)
        // As CometBFT's block sync: block h is certified by block h+1's last_commit when the
        // batch has it (the chain's own record), else by the peer's seen commit.
        const commit = items[i + 1]?.block.lastCommit ?? seen
        const err = verifyCommit(app.chainId, [...app.validators], commit, h, blockHash(block.header))
        if (err !== null) bad(`block ${h} has a bad commit: ${err}`)
        const trusted = verified !== null && bytesEqual(block.header.lastCommitHash, verified)
        const v = app.validate(block, { lastCommitVerified: trusted })
        if (v.error !== null) bad(`invalid block ${h}: ${v.error}`)
        // Synced blocks can be fetched again: only the last of a batch waits for fsync.
        await app.commit(v, commit, { sync: i === items.length - 1 })
        verified = commitHash(commit)
        hooks.committed(commit)
        n++
      }
    }
    await next.catch(() => {})
    return n
  }
}
