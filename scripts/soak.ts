// `npm run soak -- --minutes 30 [--kill-every 60] [--validators 4] [--tps 250] [--seed 1]`:
// a soak test of a network of real validator processes on loopback (test/helpers/testnet.ts)
// under a steady load of transfers, while a validator chosen by the seed is killed with SIGKILL
// every `--kill-every` seconds and restarted. Checked continuously and at the end: every node's
// blocks (block hash and app hash at each height), every tx a node reported committed (found
// again on every node at the same height and index), the supply, that the chain keeps
// committing and each restarted validator catches up (recovery time), and each validator's
// resident memory. Prints the figures and PASS, or FAIL with every violation; exits 1 on FAIL.
// test/e2e/soak.test.ts runs `runSoak` in-process for 3 minutes.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { startTestnet, type Testnet } from '../test/helpers/testnet.ts'
import { until } from '../test/helpers/procs.ts'
import { homePaths, readKeyFile } from '../node/config.ts'
import { SigningKey, sha256, utf8Bytes } from '../node/core/crypto.ts'
import { RpcClientError } from '../node/rpc/client.ts'
import { ChainChecker } from './soak/chainCheck.ts'
import { Killer, type KillRecord } from './soak/killer.ts'
import { LoadGenerator, type LoadAccount, type LoadStats } from './soak/load.ts'
import { Member } from './soak/members.ts'
import { MemorySampler, longestLived, type ValidatorMemory } from './soak/memory.ts'
import { DEFAULTS, parseSoakArgs, type SoakOptions } from './soak/options.ts'
import { SupplyChecker } from './soak/supply.ts'
import { Stopper, Violations, errorText, seededRandom, type Violation } from './soak/util.ts'

export { DEFAULTS, parseSoakArgs, type SoakOptions }

const CHAIN_ID = 'aitbc-soak'
const ACCOUNT_BALANCE = 10n ** 12n
const SCAN_EVERY_MS = 1000
const LOOKUP_EVERY_MS = 3000
const LOOKUP_SAMPLES = 4
const SUPPLY_EVERY_MS = 5000
const MEMORY_EVERY_MS = 2000
const PROGRESS_EVERY_MS = 30_000
const FINAL_WAIT_MS = 180_000
const FINAL_SAMPLES = 500

export interface NodeLogSummary { name: string, errors: number, warnings: number, doubleSignRefusals: number, lastErrors: string[] }

export interface SoakReport {
  pass: boolean
  violations: Violation[]
  /** Violations beyond the kept 50 of a kind. */
  moreViolations: number
  options: Omit<SoakOptions, 'log' | 'signal' | 'onStarted'>
  loadSeconds: number
  heights: Array<{ name: string, height: number }>
  txsCommitted: number
  load: LoadStats
  /** Txs some node reported committed (broadcast_tx_commit answers, lookups that found them). */
  txsReported: number
  txLookups: number
  kills: KillRecord[]
  skippedKills: number
  worstRecoverySec: number | null
  memory: ValidatorMemory[]
  supplyReadings: number
  logs: NodeLogSummary[]
  logsKeptIn?: string
  /** The temp dir (removed when the run ends) and every validator pid the run started. */
  dir: string
  pids: number[]
}

/** The load's accounts: `senders` batch senders and one broadcast_tx_commit sender per validator, keys from the seed. */
function loadAccounts (o: SoakOptions): LoadAccount[] {
  const key = (name: string): SigningKey => new SigningKey(sha256(utf8Bytes(`aitbc-soak/${o.seed}/${name}`)))
  const batch = Array.from({ length: o.senders }, (_, i) => key(`sender-${i}`))
  const commit = Array.from({ length: o.validators }, (_, i) => key(`commit-${i}`))
  return [
    ...batch.map((k, i) => ({ key: k, to: batch[(i + 1) % batch.length].address, home: i % o.validators, mode: 'batch' as const })),
    ...commit.map((k, i) => ({ key: k, to: batch[i % batch.length].address, home: i, mode: 'commit' as const })),
  ]
}

function summarizeLog (name: string, text: string): NodeLogSummary {
  const lines = text.split('\n')
  const errors = lines.filter(l => /"level":(50|60)/.test(l))
  return {
    name,
    errors: errors.length,
    warnings: lines.filter(l => /"level":40/.test(l)).length,
    doubleSignRefusals: lines.filter(l => /DOUBLE_SIGN|refusing to sign/.test(l)).length,
    lastErrors: errors.slice(-5).map(l => l.slice(0, 600)),
  }
}

function keepLogs (net: Testnet, dir: string): void {
  mkdirSync(dir, { recursive: true })
  for (const f of readdirSync(net.dir).filter(x => x.endsWith('.log'))) copyFileSync(join(net.dir, f), join(dir, f))
}

/** A loop that runs `step` every `everyMs` until `stop`; `step` handles its own errors. */
async function every (stop: Stopper, everyMs: number, step: () => Promise<void>): Promise<void> {
  while (!stop.stopped) {
    const t0 = Date.now()
    await step()
    await stop.pace(everyMs - (Date.now() - t0))
  }
}

/** A node that is down or restarting may fail a call; an up node that answers an RPC error is a violation. */
function onCheckError (violations: Violations, m: Member, what: string, e: unknown): void {
  if (m.state === 'up' && e instanceof RpcClientError && !/non-JSON/.test(e.message)) {
    violations.add('harness', `${what}/${m.name}/${e.message}`, `${what} on ${m.name}: ${e.message}`)
  }
}

interface Run {
  o: SoakOptions
  net: Testnet
  members: Member[]
  violations: Violations
  checker: ChainChecker
  supply: SupplyChecker
  memory: MemorySampler
  startedAt: number
  log: (line: string) => void
}

/** The checks that run along the load: block scans, tx lookups and supply readings. */
function backgroundChecks (r: Run, stop: Stopper): Array<Promise<void>> {
  const { members, checker, violations } = r
  const scans = members.map(async m => await every(stop, SCAN_EVERY_MS, async () => {
    if (m.state !== 'down') await checker.scan(m).catch(e => onCheckError(violations, m, 'block scan', e))
  }))
  const lookups = members.map(async m => await every(stop, LOOKUP_EVERY_MS, async () => {
    if (m.state === 'up') await checker.lookupPass(m, LOOKUP_SAMPLES).catch(e => onCheckError(violations, m, 'tx lookup', e))
  }))
  const supply = every(stop, SUPPLY_EVERY_MS, async () => {
    await Promise.all(members.filter(m => m.state === 'up').map(async m => await r.supply.checkNode(m).catch(e => onCheckError(violations, m, 'aitbc_supply', e))))
  })
  return [...scans, ...lookups, supply]
}

/** What runs to the end: memory samples, the stall watchdog and progress lines. */
function monitors (r: Run, stop: Stopper, load: () => LoadStats, kills: () => number): Array<Promise<void>> {
  const { members, checker, violations } = r
  const memory = every(stop, MEMORY_EVERY_MS, async () => r.memory.sample(members))
  const stallMs = r.o.livenessTimeoutSec * 1000
  let best = 0
  let bestAt = Date.now()
  const watchdog = every(stop, 1000, async () => {
    const hs = await Promise.all(members.filter(m => m.state !== 'down').map(async m => await m.readHeight().catch(() => -1)))
    const top = Math.max(-1, ...hs)
    if (top > best) { best = top; bestAt = Date.now(); return }
    if (Date.now() - bestAt > stallMs) {
      violations.add('liveness', `stall/${best}`, `no new block for ${r.o.livenessTimeoutSec} s at height ${best} (${members.map(m => `${m.name} ${m.state} at ${m.height}`).join(', ')})`)
    }
  })
  const progress = every(stop, PROGRESS_EVERY_MS, async () => {
    const s = load()
    r.log(`${Math.round((Date.now() - r.startedAt) / 1000)} s (machine load ${loadavg()[0].toFixed(1)}): height ${checker.top}, ${checker.txsCommitted} txs committed, ${s.accepted} accepted, ${kills()} kills, ${checker.reports.size} reported, ${checker.lookups} looked up, ${violations.count} violations; ${members.map(m => `${m.name} ${m.state} ${m.height}`).join(', ')}`)
  })
  return [memory, watchdog, progress]
}

/** After the load: every node up and at one height, the mempools empty, every chain compared from 1, every report looked up on every node, the balances summed. */
async function finalChecks (r: Run, addresses: string[]): Promise<void> {
  const { members, checker, violations } = r
  const allAtOneHeight = async (): Promise<boolean> => {
    if (members.some(m => m.state !== 'up')) return false
    const hs = await Promise.all(members.map(async m => await m.readHeight()))
    return hs.every(h => h === hs[0])
  }
  const atOneHeight = await until('every validator up and at one height', allAtOneHeight, FINAL_WAIT_MS, 250).then(() => true, e => {
    violations.add('recovery', 'final', `at the end: ${errorText(e)}; ${members.map(m => `${m.name} ${m.state} at ${m.height}`).join(', ')}`)
    return false
  })
  const pools = async (): Promise<number[]> => await Promise.all(members.map(async m => Number((await m.client.call('num_unconfirmed_txs', {})).n_txs)))
  const settled = atOneHeight && await until('every mempool empty', async () => (await pools()).every(n => n === 0), FINAL_WAIT_MS, 250).then(() => true, async () => {
    violations.add('liveness', 'mempools', `${FINAL_WAIT_MS / 1000} s after the load, txs are still waiting in mempools while blocks are committed: ${(await pools().catch(() => [])).map((n, i) => `${members[i].name} ${n}`).join(', ')}`)
    return false
  })
  const answering = members.filter(x => x.state !== 'down')
  const onEach = async (what: string, step: (m: Member) => Promise<unknown>): Promise<void> => {
    await Promise.all(answering.map(async m => await step(m).catch(e => violations.add('harness', `final/${what}/${m.name}`, `final ${what} on ${m.name}: ${errorText(e)}`))))
  }
  await onEach('comparison of every block', async m => { checker.rescanFromStart(m); await checker.scan(m) })
  if (answering.length > 0) {
    await until('the txs of every height read', async () => { await checker.scan(answering[0]); return checker.txListHeight >= checker.checkedUpTo(answering[0]) }, FINAL_WAIT_MS, 10)
      .catch(e => violations.add('harness', 'final/txlists', errorText(e)))
  }
  await onEach('tx lookups', async m => {
    await checker.lookupPass(m, FINAL_SAMPLES)
    await checker.lookupAllReports(m)
    await checker.lookup(m, checker.txsIn(m.height - 20, m.height, 10_000))
  })
  await onEach('supply reading', async m => await r.supply.checkNode(m))
  if (settled) await r.supply.checkBalances(members[0], addresses).catch(e => violations.add('harness', 'balances', `summing the balances: ${errorText(e)}`))
}

function buildReport (r: Run, extra: { loadSeconds: number, load: LoadStats, killer: Killer, dir: string, pids: number[], logsKeptIn?: string }): SoakReport {
  const recoveries = extra.killer.kills.map(k => k.recoverySec).filter((x): x is number => x !== null)
  const { log: _log, signal: _signal, onStarted: _onStarted, ...options } = r.o
  return {
    pass: r.violations.count === 0,
    violations: r.violations.list,
    moreViolations: r.violations.count - r.violations.list.length,
    options,
    loadSeconds: extra.loadSeconds,
    heights: r.members.map(m => ({ name: m.name, height: m.height })),
    txsCommitted: r.checker.txsCommitted,
    load: extra.load,
    txsReported: r.checker.reports.size,
    txLookups: r.checker.lookups,
    kills: extra.killer.kills,
    skippedKills: extra.killer.skipped,
    worstRecoverySec: recoveries.length > 0 ? Math.max(...recoveries) : null,
    memory: r.memory.validators,
    supplyReadings: r.supply.readings,
    logs: r.members.map(m => summarizeLog(m.name, m.node.log())),
    logsKeptIn: extra.logsKeptIn,
    dir: extra.dir,
    pids: extra.pids,
  }
}

/** Runs the soak and returns its report; every process it started is stopped and its temp dir removed, whatever happens. */
export async function runSoak (opts: Partial<SoakOptions> & { keepLogsOnFail?: boolean } = {}): Promise<SoakReport> {
  const o: SoakOptions = { ...DEFAULTS, ...opts }
  const log = o.log ?? (() => {})
  const accounts = loadAccounts(o)
  const net = await startTestnet({ validators: o.validators, blockTimeMs: o.blockTimeMs, emptyBlockMs: Math.max(1000, o.blockTimeMs), keys: [], accounts: accounts.map(a => ({ address: a.key.address, balance: ACCOUNT_BALANCE })), chainId: CHAIN_ID, start: false })
  const pids: number[] = []
  const abort = new Stopper()
  const loadStop = new Stopper()
  const checksStop = new Stopper()
  const monitorStop = new Stopper()
  const killerHalt = new Stopper()
  const onAbort = (): void => { for (const s of [abort, loadStop, checksStop, monitorStop, killerHalt]) s.stop() }
  // A task that throws (a bug of the harness) ends the run at once; runSoak then rethrows it.
  let failure: { error: unknown } | undefined
  const guard = async (task: Promise<unknown>): Promise<void> => { await task.catch(error => { failure ??= { error }; onAbort() }) }
  o.signal?.addEventListener('abort', onAbort)
  if (o.signal?.aborted === true) onAbort()
  try {
    const members = net.validators.map((n, i) => new Member(i, n))
    await Promise.all(members.map(async m => { await m.node.start(); m.starts++ }))
    const trackPids = (): number[] => { for (const m of members) if (m.pid !== undefined && !pids.includes(m.pid)) pids.push(m.pid); return members.map(m => m.pid).filter((p): p is number => p !== undefined) }
    trackPids()
    o.onStarted?.({ dir: net.dir, pids: trackPids })
    await until('height 1 on every validator', async () => abort.stopped || (await Promise.all(members.map(async m => await m.readHeight().catch(() => 0)))).every(h => h >= 1), 60_000, 100)
    for (const m of members) m.state = 'up'

    const startedAt = Date.now()
    const violations = new Violations(startedAt, v => log(`VIOLATION at ${v.atSec} s [${v.kind}] ${v.message}`))
    const genesisSupply = await members[0].client.call('aitbc_supply', {})
    const run: Run = { o, net, members, violations, checker: new ChainChecker(members, violations, seededRandom(o.seed ^ 0x5eed)), supply: new SupplyChecker(genesisSupply, violations), memory: new MemorySampler(members), startedAt, log }
    log(`soak: ${o.validators} validators, ${o.tps} tx/s target, ${o.blockTimeMs} ms blocks, a kill every ${o.killEverySec} s (down ${o.downSec} s), ${o.minutes} min, seed ${o.seed}; temp dir ${net.dir}`)

    const window = Math.max(50, Math.ceil(o.tps / o.senders * 3))
    const load = new LoadGenerator(members, accounts, CHAIN_ID, o.tps, window, loadStop, (hash, height, by) => run.checker.addReport(hash, height, by))
    const killer = new Killer(members, run.checker, violations, o, seededRandom(o.seed), loadStop, killerHalt, startedAt, startedAt + o.minutes * 60_000, log)

    const loadDone = guard(load.run())
    const killerDone = guard(killer.run())
    const checksDone = guard(Promise.all(backgroundChecks(run, checksStop)))
    const monitorsDone = guard(Promise.all([...monitors(run, monitorStop, () => load.stats, () => killer.kills.length), every(monitorStop, 500, async () => { trackPids() })]))
    await loadStop.pace(o.minutes * 60_000)
    loadStop.stop()
    const loadSeconds = (Date.now() - startedAt) / 1000
    await loadDone
    log(`load stopped after ${loadSeconds.toFixed(0)} s; waiting for the last kill cycle and the final checks`)
    const haltTimer = setTimeout(() => killerHalt.stop(), FINAL_WAIT_MS)
    await killerDone
    clearTimeout(haltTimer)
    checksStop.stop()
    await checksDone
    if (!abort.stopped) await guard(finalChecks(run, [...accounts.map(a => a.key.address), ...net.validators.map(n => readKeyFile(homePaths(n.home).privKey).address)]))
    monitorStop.stop()
    await monitorsDone
    if (failure !== undefined) throw failure.error
    if (o.signal?.aborted === true) violations.add('harness', 'aborted', 'the run was aborted')
    run.memory.sample(members)
    await Promise.all(members.map(async m => await m.readHeight().catch(() => m.height)))
    const report = buildReport(run, { loadSeconds, load: load.stats, killer, dir: net.dir, pids })
    const keepTo = o.keepLogs ?? (opts.keepLogsOnFail === true && !report.pass ? mkdtempSync(join(tmpdir(), 'aitbc-soak-logs-')) : undefined)
    if (keepTo !== undefined) { keepLogs(net, keepTo); report.logsKeptIn = keepTo }
    return report
  } finally {
    o.signal?.removeEventListener('abort', onAbort)
    onAbort()
    await net.stopAll()
  }
}

const mb = (x: number): string => `${Math.round(x)} MB`

/** The report as the CLI prints it. */
export function formatReport (r: SoakReport): string {
  const out: string[] = []
  const o = r.options
  out.push(`soak of ${o.validators} validators, ${(r.loadSeconds / 60).toFixed(1)} min of load at ${o.tps} tx/s target, ${o.blockTimeMs} ms blocks, a kill every ${o.killEverySec} s, seed ${o.seed}`)
  out.push(`heights reached: ${r.heights.map(h => `${h.name} ${h.height}`).join(', ')}`)
  out.push(`txs committed: ${r.txsCommitted} (${(r.txsCommitted / r.loadSeconds).toFixed(0)} tx/s over the load); broadcast accepted ${r.load.accepted}, broadcast_tx_commit answered with a height ${r.load.commitAnswers}, commit waits that timed out or were evicted ${r.load.commitMisses}, network errors ${r.load.networkErrors}`)
  out.push(`refusals: ${[...r.load.refused].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}${r.load.unexpected.length > 0 ? `; unexpected: ${r.load.unexpected.join(' | ')}` : ''}`)
  out.push(`txs reported committed and looked up on every node: ${r.txsReported}; tx lookups ${r.txLookups}; supply readings ${r.supplyReadings}`)
  const rec = r.kills.map(k => k.recoverySec === null ? 'never' : `${k.recoverySec.toFixed(1)}`)
  out.push(`kills: ${r.kills.length}${r.skippedKills > 0 ? ` (${r.skippedKills} skipped: a validator was not up)` : ''}; victims ${r.kills.map(k => k.victim.replace('validator-', 'v')).join(' ') || '-'}`)
  out.push(`recovery (restart to caught up), s: ${rec.join(' ') || '-'}; worst ${r.worstRecoverySec === null ? '-' : `${r.worstRecoverySec.toFixed(1)} s`}; others' two blocks after a kill, worst ${r.kills.length === 0 ? '-' : r.kills.some(k => k.othersCommittedSec === null) ? 'never' : `${Math.max(...r.kills.map(k => k.othersCommittedSec ?? 0)).toFixed(1)} s`}`)
  for (const v of r.memory) {
    const p = longestLived(v)
    const growth = p === undefined ? '' : `; longest process ${((p.lastAt - p.startedAt) / 60_000).toFixed(1)} min: ${p.rssAfterOneMinuteMb === null ? '-' : mb(p.rssAfterOneMinuteMb)} after 1 min, ${mb(p.lastRssMb)} at its end; VmRSS by minute ${p.rssByMinuteMb.map(x => Math.round(x)).join(' ') || '-'} MB`
    out.push(`memory ${v.name}: peak VmRSS ${mb(v.peakRssMb)} (VmHWM ${mb(v.hwmMb)}) over ${v.processes.length} processes${growth}`)
  }
  for (const l of r.logs) if (l.errors > 0 || l.doubleSignRefusals > 0) out.push(`log ${l.name}: ${l.errors} error lines, ${l.warnings} warnings, ${l.doubleSignRefusals} double-sign refusals; last: ${l.lastErrors.join(' | ')}`)
  if (r.logsKeptIn !== undefined) out.push(`node logs kept in ${r.logsKeptIn}`)
  if (r.pass) out.push('PASS')
  else {
    out.push(`FAIL: ${r.violations.length + r.moreViolations} violations`)
    for (const v of r.violations) out.push(`  at ${v.atSec} s [${v.kind}] ${v.message}`)
    if (r.moreViolations > 0) out.push(`  ... and ${r.moreViolations} more`)
  }
  return out.join('\n')
}

async function main (): Promise<void> {
  let opts: ReturnType<typeof parseSoakArgs>
  try { opts = parseSoakArgs(process.argv.slice(2)) } catch (e) { process.exitCode = (e as { exitCode?: number }).exitCode ?? 2; return }
  const ac = new AbortController()
  const onSignal = (): void => { console.error('soak: stopping (signal)'); ac.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const t = (): string => new Date().toISOString().slice(11, 19)
  const report = await runSoak({ ...opts, signal: ac.signal, log: line => console.log(`[${t()}] ${line}`) })
  console.log(formatReport(report))
  process.exitCode = report.pass ? 0 : 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch(e => { console.error(e); process.exitCode = 1 })
}
