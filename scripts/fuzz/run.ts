// The fuzz run: starts the node, sends every surface its share of the inputs with a few workers
// each, watches the node throughout (process, height, memory), then checks that it still
// commits, that a fresh peer can still join and that it logged no error, and reports.
import { loadavg } from 'node:os'
import { NodeClient } from '../../node/rpc/client.ts'
import { Corpus } from './corpus.ts'
import { FuzzViolations } from './checks.ts'
import { Monitor } from './monitor.ts'
import { DEFAULTS, WEIGHTS, type FuzzOptions } from './options.ts'
import { Rng } from './rng.ts'
import { startTarget } from './target.ts'
import { FuzzStats, SURFACES, type FuzzContext, type Surface, type SurfaceName } from './surface.ts'
import { postSurface, uriSurface } from './http.ts'
import { wsSurface } from './ws.ts'
import { PeerPool, gossipSurface, handshakeSurface, syncSurface } from './p2p.ts'
import { RawPeer, type PeerTarget } from './peer.ts'
import { sha256, utf8Bytes } from '../../node/core/crypto.ts'
import type { Violation } from '../soak/util.ts'
import type { FuzzViolationKind } from './checks.ts'

const CHAIN_ID = 'aitbc-fuzz'
const ACCOUNTS = 8
/** Workers per surface: inputs in flight at once. */
const WORKERS: Record<SurfaceName, number> = { 'rpc-post': 8, 'rpc-uri': 4, ws: 4, 'p2p-txs': 6, 'p2p-consensus': 6, 'p2p-sync': 4, 'p2p-handshake': 1 }

export interface FuzzReport {
  pass: boolean
  seed: number
  inputs: Record<SurfaceName, number>
  totalInputs: number
  surfaceSeconds: Partial<Record<SurfaceName, number>>
  seconds: number
  rate: number
  crashes: number
  http5xx: number
  httpStatus: Record<string, number>
  rpcResults: number
  rpcErrors: number
  wsCloses: Record<string, number>
  wsNoReply: number
  httpRetries: number
  syncOk: number
  syncRemoteErrors: number
  p2pIdentities: number
  notSent: number
  barrierTimeouts: number
  heightStart: number
  heightEnd: number
  rssBaselineMb: number
  rssPeakMb: number
  rssBoundMb: number
  harnessErrors: Record<string, number>
  nodeLogErrors: number
  nodeLogWarnings: number
  violations: Array<Violation<FuzzViolationKind>>
  moreViolations: number
  load: number[]
  dir: string
}

/** Shares `total` among the surfaces by weight (largest remainders), every chosen surface at least one. */
export function quotas (total: number, surfaces: readonly SurfaceName[]): Map<SurfaceName, number> {
  const w = surfaces.reduce((s, x) => s + WEIGHTS[x], 0)
  const exact = surfaces.map(s => [s, total * WEIGHTS[s] / w] as const)
  const out = new Map(exact.map(([s, x]) => [s, Math.floor(x)]))
  let left = total - [...out.values()].reduce((a, b) => a + b, 0)
  for (const [s] of [...exact].sort((a, b) => (b[1] % 1) - (a[1] % 1))) { if (left <= 0) break; out.set(s, (out.get(s) ?? 0) + 1); left-- }
  return out
}

/** Runs one surface's quota with its workers; a worker's failure is the harness's, counted and survived. */
async function drive (ctx: FuzzContext, s: Surface, quota: number, done: (n: number) => void): Promise<void> {
  let taken = 0
  const t0 = Date.now()
  await s.setup?.()
  const worker = async (w: number): Promise<void> => {
    while (taken < quota && !ctx.stopping()) {
      const i = taken++
      try { done(await s.send(Rng.forInput(ctx.seed, s.name, i), i, w)) } catch (e) { ctx.stats.harnessError(e); ctx.stats.notSent++ }
    }
  }
  await Promise.all(Array.from({ length: s.workers }, async (_, w) => { await worker(w) }))
  ctx.stats.seconds.set(s.name, Math.round((Date.now() - t0) / 1000))
  await s.teardown?.()
}

function scanLog (text: string): { errors: string[], warnings: number } {
  const errors: string[] = []
  let warnings = 0
  for (const line of text.split('\n')) {
    if (line === '') continue
    let o: { level?: number, msg?: string, err?: unknown }
    try { o = JSON.parse(line) } catch { if (/Error|error/.test(line)) errors.push(line.slice(0, 300)); continue }
    if ((o.level ?? 0) >= 50) errors.push(`${o.msg ?? ''} ${JSON.stringify(o.err ?? '').slice(0, 200)}`)
    else if (o.level === 40) warnings++
  }
  return { errors, warnings }
}

export async function runFuzz (opts: Partial<FuzzOptions> = {}): Promise<FuzzReport> {
  const o: FuzzOptions = { ...DEFAULTS, ...opts }
  const log = o.log ?? (() => {})
  const started = Date.now()
  const v = new FuzzViolations(started, x => log(`VIOLATION ${x.kind}: ${x.message.slice(0, 400)}`))
  const stats = new FuzzStats()
  const corpus = new Corpus({ seed: o.seed, chainId: CHAIN_ID, accounts: ACCOUNTS })
  log(`fuzz: seed ${o.seed}, ${o.inputs} inputs over ${o.surfaces.join(', ')}`)
  const target = await startTarget({ chainId: CHAIN_ID, accounts: [...corpus.addresses, ...corpus.barrierKeys.map(k => k.address)], blockTimeMs: o.blockTimeMs, emptyBlockMs: o.emptyBlockMs })
  corpus.validatorAddress = target.validatorAddress
  const client = new NodeClient(target.node.url, { retries: 0, timeoutMs: 10_000 })
  let stopping = false
  const ctx: FuzzContext = { seed: o.seed, corpus, v, stats, target, rpcHost: '127.0.0.1', rpcPort: target.node.rpcPort, stopping: () => stopping }
  const monitor = new Monitor(target, client, v, { stallMs: o.stallSec * 1000, rssFactor: o.rssFactor, rssSlackMb: o.rssSlackMb }, h => { corpus.height = h })
  const peerTarget: PeerTarget = { chainId: CHAIN_ID, genesisHash: target.genesisHash, addr: target.node.multiaddr, height: () => corpus.height }
  const pool = new PeerPool(ctx, peerTarget, WORKERS['p2p-txs'] + WORKERS['p2p-consensus'] + WORKERS['p2p-sync'], client)
  const timers: NodeJS.Timeout[] = []
  let report: FuzzReport | undefined
  // A socket of the harness's own reset by the node (a refused frame, a ban) must not end the run;
  // anything else still does.
  const onUncaught = (e: Error & { code?: string }): void => {
    if (e.code === 'ECONNRESET' || e.code === 'EPIPE') { stats.harnessError(e); return }
    throw e
  }
  process.on('uncaughtException', onUncaught)
  try {
    await monitor.baseline()
    log(`node up: pid ${target.pid() ?? '?'}, height ${monitor.height}, RSS baseline ${monitor.baselineRssMb.toFixed(0)} MB (bound ${monitor.rssBoundMb.toFixed(0)} MB)`)
    const refreshNonces = async (): Promise<void> => {
      for (const k of corpus.keys) {
        try { corpus.setNonce(k.address, Number((await client.call('aitbc_account', { address: k.address })).pending_nonce)) } catch {}
      }
      try { const st = await client.status(); corpus.remember(corpus.blockHashes, st.sync_info.latest_block_hash) } catch {}
    }
    await refreshNonces()
    timers.push(setInterval(() => { void refreshNonces() }, 5000))
    monitor.start()
    const q = quotas(o.inputs, o.surfaces)
    const surfaces: Surface[] = []
    for (const name of o.surfaces) {
      const w = WORKERS[name]
      if (name === 'rpc-post') surfaces.push(postSurface(ctx, w))
      else if (name === 'rpc-uri') surfaces.push(uriSurface(ctx, w))
      else if (name === 'ws') surfaces.push(wsSurface(ctx, w))
      else if (name === 'p2p-txs') surfaces.push(gossipSurface(ctx, pool, 'txs', w, 0))
      else if (name === 'p2p-consensus') surfaces.push(gossipSurface(ctx, pool, 'consensus', w, WORKERS['p2p-txs']))
      else if (name === 'p2p-sync') surfaces.push(syncSurface(ctx, pool, w, WORKERS['p2p-txs'] + WORKERS['p2p-consensus']))
      else surfaces.push(handshakeSurface(ctx, peerTarget, w))
    }
    let sent = 0
    const fuzzStart = Date.now()
    timers.push(setInterval(() => {
      const secs = (Date.now() - fuzzStart) / 1000
      const open = o.surfaces.filter(s => !stats.seconds.has(s)).map(s => `${s} ${stats.inputs.get(s) ?? 0}/${q.get(s) ?? 0}`).join(', ')
      log(`  ${sent}/${o.inputs} inputs, ${(sent / secs).toFixed(0)}/s, height ${monitor.height}, RSS ${monitor.lastRssMb.toFixed(0)} MB, identities ${stats.p2pIdentities}, violations ${v.count}; running: ${open}`)
    }, 10_000))
    timers.push(setInterval(() => { if (!monitor.checkAlive()) stopping = true }, 200))
    await Promise.all(surfaces.map(async s => await drive(ctx, s, q.get(s.name) ?? 0, n => { sent += n; stats.inputs.set(s.name, (stats.inputs.get(s.name) ?? 0) + n) })))
    const fuzzSecs = (Date.now() - fuzzStart) / 1000
    stopping = true
    await pool.stop()
    if (monitor.checkAlive()) {
      await monitor.checkCommitsAfter()
      // A fresh honest peer can still join, and the RPC still answers.
      const peer = new RawPeer(peerTarget)
      try {
        await peer.start(sha256(utf8Bytes(`aitbc-fuzz/${o.seed}/final`)))
        await peer.connect()
        if (!await peer.waitReady(15_000)) v.add('p2p', 'final-join', 'after the inputs a fresh honest peer could not join the node')
      } catch (e) { v.add('p2p', 'final-join', `after the inputs a fresh honest peer could not join: ${(e as Error).message}`) } finally { await peer.stop().catch(() => {}) }
      try { await client.call('health') } catch (e) { v.add('transport', 'final-health', `after the inputs health does not answer: ${(e as Error).message}`) }
    }
    monitor.stop()
    const scanned = scanLog(target.node.log())
    for (const e of scanned.errors) v.add('node-log', e.slice(0, 80), `the node logged an error: ${e}`)
    const total = [...stats.inputs.values()].reduce((a, b) => a + b, 0)
    report = {
      pass: false,
      seed: o.seed,
      inputs: Object.fromEntries(SURFACES.map(s => [s, stats.inputs.get(s) ?? 0])) as Record<SurfaceName, number>,
      totalInputs: total,
      surfaceSeconds: Object.fromEntries(stats.seconds),
      seconds: Math.round(fuzzSecs),
      rate: Math.round(total / fuzzSecs),
      crashes: target.exited() ? 1 : 0,
      http5xx: stats.http5xx,
      httpStatus: Object.fromEntries([...stats.httpStatus].sort((a, b) => a[0] - b[0]).map(([k, n]) => [String(k), n])),
      rpcResults: stats.rpcResults,
      rpcErrors: stats.rpcErrors,
      wsCloses: Object.fromEntries([...stats.wsCloses].map(([k, n]) => [String(k), n])),
      wsNoReply: stats.wsNoReply,
      httpRetries: stats.httpRetries,
      syncOk: stats.syncOk,
      syncRemoteErrors: stats.syncRemoteErrors,
      p2pIdentities: stats.p2pIdentities,
      notSent: stats.notSent,
      barrierTimeouts: stats.barrierTimeouts,
      heightStart: monitor.heightAtStart,
      heightEnd: monitor.height,
      rssBaselineMb: Math.round(monitor.baselineRssMb),
      rssPeakMb: Math.round(monitor.peakRssMb),
      rssBoundMb: Math.round(monitor.rssBoundMb),
      harnessErrors: Object.fromEntries(stats.harness),
      nodeLogErrors: scanned.errors.length,
      nodeLogWarnings: scanned.warnings,
      violations: v.list,
      moreViolations: [...v.dropped.values()].reduce((a, b) => a + b, 0),
      load: loadavg().map(x => Math.round(x * 100) / 100),
      dir: target.net.dir,
    }
    report.pass = v.count === 0
    return report
  } finally {
    process.off('uncaughtException', onUncaught)
    stopping = true
    for (const t of timers) clearInterval(t)
    monitor.stop()
    await pool.stop().catch(() => {})
    if (o.keep) process.env.AITBC_KEEP_TESTNET = '1'
    await target.stop()
  }
}

export function formatReport (r: FuzzReport): string {
  const lines = [
    `fuzz ${r.pass ? 'PASSED' : 'FAILED'}: seed ${r.seed} (repeat with --seed ${r.seed})`,
    `inputs: ${r.totalInputs} in ${r.seconds} s (${r.rate}/s): ${Object.entries(r.inputs).map(([s, n]) => `${s} ${n}${r.surfaceSeconds[s as SurfaceName] !== undefined ? ` (${r.surfaceSeconds[s as SurfaceName]} s)` : ''}`).join(', ')}`,
    `crashes: ${r.crashes}   HTTP 5xx: ${r.http5xx}   HTTP statuses: ${Object.entries(r.httpStatus).map(([k, n]) => `${k}:${n}`).join(' ')}`,
    `JSON-RPC answers: ${r.rpcResults} results, ${r.rpcErrors} errors   HTTP retries on a fresh connection: ${r.httpRetries}   WebSocket closes: ${Object.entries(r.wsCloses).map(([k, n]) => `${k}:${n}`).join(' ') || 'none'}, no reply: ${r.wsNoReply}`,
    `sync answers: ${r.syncOk} ok, ${r.syncRemoteErrors} refused   P2P identities used: ${r.p2pIdentities}   inputs the harness could not send: ${r.notSent}   gossip barriers timed out: ${r.barrierTimeouts}`,
    `height: ${r.heightStart} -> ${r.heightEnd}   RSS: baseline ${r.rssBaselineMb} MB, peak ${r.rssPeakMb} MB, bound ${r.rssBoundMb} MB`,
    `node log: ${r.nodeLogErrors} errors, ${r.nodeLogWarnings} warnings   load average: ${r.load.join(' ')}`,
  ]
  const harness = Object.entries(r.harnessErrors)
  if (harness.length > 0) lines.push(`harness errors (not violations): ${harness.slice(0, 5).map(([m, n]) => `${n}x ${m}`).join('; ')}`)
  lines.push(`violations: ${r.violations.length + r.moreViolations}`)
  for (const x of r.violations.slice(0, 30)) lines.push(`  [${x.atSec}s] ${x.kind}: ${x.message.slice(0, 500)}`)
  return lines.join('\n')
}
