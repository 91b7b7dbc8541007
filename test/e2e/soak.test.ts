// The soak run (scripts/soak.ts) in-process, short: 4 validators under load for 3 minutes, one
// killed with SIGKILL and restarted every 40 s; any violation fails. And the runner stops every
// process it started and removes its temp dir also when a run is aborted or fails half-way.
import { expect } from 'chai'
import { existsSync } from 'node:fs'
import { runSoak, formatReport, type SoakReport } from '../../scripts/soak.ts'

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

function expectCleanedUp (dir: string, pids: number[]): void {
  expect(dir, 'the temp dir').to.not.equal('')
  expect(existsSync(dir), `${dir} removed`).to.equal(false)
  expect(pids.length, 'validator pids seen').to.be.greaterThan(0)
  expect(pids.filter(alive), 'validator processes still running').to.deep.equal([])
}

const verbose = process.env.AITBC_TEST_VERBOSE !== undefined
const log = verbose ? (line: string) => console.log(`    ${line}`) : undefined

describe('e2e: soak, 4 validators under load with a SIGKILL every 40 s', function () {
  this.timeout(12 * 60_000)

  it('runs 3 minutes with no fork, no lost tx, a constant supply, and every restarted validator catching up', async () => {
    const report: SoakReport = await runSoak({ minutes: 3, killEverySec: 40, tps: 150, seed: 9, log })
    const text = formatReport(report)
    if (verbose) console.log(text)
    expect(report.violations, text).to.deep.equal([])
    expect(report.pass, text).to.equal(true)
    expect(report.kills.length, text).to.be.at.least(3)
    expect(report.kills.every(k => k.recoverySec !== null && k.othersCommittedSec !== null), text).to.equal(true)
    expect(report.txsCommitted, text).to.be.greaterThan(3 * 60 * 150 * 0.5)
    expect(report.load.commitAnswers, text).to.be.greaterThan(0)
    expect(report.txsReported, text).to.be.greaterThan(report.load.commitAnswers / 2)
    expect(report.supplyReadings, text).to.be.greaterThan(10)
    expect(report.memory.every(v => v.peakRssMb > 0), text).to.equal(true)
    expectCleanedUp(report.dir, report.pids)
  })

  it('stops every validator and removes its temp dir when the run is aborted during a kill', async () => {
    const ac = new AbortController()
    let dir = ''
    let pids: () => number[] = () => []
    let seen: number[] = []
    const report = await runSoak({
      minutes: 3, killEverySec: 8, tps: 50, seed: 2, signal: ac.signal,
      onStarted: info => { dir = info.dir; pids = info.pids },
      log: line => { log?.(line); if (/^kill 1 at/.test(line)) { seen = pids(); ac.abort() } },
    })
    expect(report.pass).to.equal(false)
    expect(report.violations.map(v => v.message)).to.include('the run was aborted')
    expect(seen.length, 'validators running when aborted').to.equal(3)
    expect(report.dir).to.equal(dir)
    expectCleanedUp(dir, report.pids)
  })

  it('stops every validator and removes its temp dir when the run throws', async () => {
    let dir = ''
    let pids: () => number[] = () => []
    let seen: number[] = []
    const run = runSoak({
      minutes: 3, killEverySec: 8, tps: 50, seed: 3,
      onStarted: info => { dir = info.dir; pids = info.pids },
      log: line => { if (/^kill 1: .* back at/.test(line)) { seen = pids(); throw new Error('a failure in the middle of the run') } },
    })
    let err: unknown
    await run.catch(e => { err = e })
    expect((err as Error)?.message).to.equal('a failure in the middle of the run')
    expect(seen.length, 'validators running when it threw').to.equal(4)
    expectCleanedUp(dir, seen)
  })
})
