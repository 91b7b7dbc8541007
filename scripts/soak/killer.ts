// The kills: every `killEverySec` a validator chosen by the seeded generator among those up is
// killed with SIGKILL; the others must commit new blocks while it is down; after `downSec` it is
// restarted on the same home, must come back with at least the blocks it had, and must catch up
// (its recovery: from the restart until its height reaches the others'). Then its whole chain is
// compared again and every tx of the heights around the kill is queued for lookup on it.
import { until } from '../../test/helpers/procs.ts'
import type { ChainChecker } from './chainCheck.ts'
import type { Member } from './members.ts'
import { errorText, type Stopper, type Violations } from './util.ts'

export interface KillRecord {
  n: number
  victim: string
  atSec: number
  heightBefore: number
  /** Seconds until the others committed two blocks after the kill (null: they did not). */
  othersCommittedSec: number | null
  /** Seconds from the restart until its RPC answered. */
  startSec: number | null
  /** Seconds from the restart until its height reached the others' (null: it did not). */
  recoverySec: number | null
  heightAfterRestart: number | null
  /** Txs of the heights around the kill queued for lookup on it once it caught up. */
  txsAroundKill: number
}

export interface KillerSettings {
  killEverySec: number
  downSec: number
  recoveryTimeoutSec: number
  livenessTimeoutSec: number
}

/** The heights on either side of the height a victim had when it was killed, whose txs are looked up on it. */
const AROUND_KILL = 5
const AROUND_KILL_CAP = 2000

export class Killer {
  readonly kills: KillRecord[] = []
  skipped = 0

  constructor (
    private readonly members: Member[],
    private readonly checker: ChainChecker,
    private readonly violations: Violations,
    private readonly s: KillerSettings,
    private readonly random: () => number,
    /** Ends the schedule (the load is over). */
    private readonly schedule: Stopper,
    /** Ends a kill cycle under way (the run was aborted, or the final wait is over). */
    private readonly halt: Stopper,
    private readonly startedAt: number,
    /** No kill starts at or after this time (the load ends then). */
    private readonly endsAt: number,
    private readonly log: (line: string) => void,
  ) {}

  private elapsedSec (): number { return Math.round((Date.now() - this.startedAt) / 100) / 10 }

  async run (): Promise<void> {
    let tick = 1
    while (!this.schedule.stopped) {
      const at = this.startedAt + tick * this.s.killEverySec * 1000
      if (at >= this.endsAt) break
      await this.schedule.pace(at - Date.now())
      if (this.schedule.stopped) break
      tick = Math.floor((Date.now() - this.startedAt) / (this.s.killEverySec * 1000)) + 1
      const up = this.members.filter(m => m.state === 'up')
      if (up.length < this.members.length) {
        this.skipped++
        this.log(`kill skipped at ${this.elapsedSec()} s: ${this.members.filter(m => m.state !== 'up').map(m => `${m.name} is ${m.state}`).join(', ')}`)
        continue
      }
      await this.closeTogether()
      await this.cycle(up[Math.floor(this.random() * up.length)])
    }
  }

  /**
   * Waits (up to 20 s) until every validator is within a few heights of the highest, so that a kill
   * does not meet a validator still busy catching up (with one of four down and one behind, the
   * chain rightly halts). After that it kills anyway.
   */
  private async closeTogether (): Promise<void> {
    const ok = await until('validators within 3 heights of each other', async () => {
      if (this.halt.stopped) return true
      const hs = await Promise.all(this.members.map(async m => await m.readHeight().catch(() => -1)))
      return Math.max(...hs) - Math.min(...hs) <= 3
    }, 20_000, 200).then(() => true, () => false)
    if (!ok) this.log(`kill at ${this.elapsedSec()} s: validators still apart after 20 s (${this.members.map(m => `${m.name}=${m.height}`).join(' ')}); killing anyway`)
  }

  /** Highest height among these nodes (a node that does not answer counts with its last height). */
  private async topOf (nodes: Member[]): Promise<number> {
    const hs = await Promise.all(nodes.map(async m => await m.readHeight().catch(() => m.height)))
    return Math.max(...hs)
  }

  private async cycle (victim: Member): Promise<void> {
    const others = this.members.filter(m => m !== victim)
    const heightBefore = await victim.readHeight().catch(() => victim.height)
    const othersTop = await this.topOf(others)
    const rec: KillRecord = { n: this.kills.length + 1, victim: victim.name, atSec: this.elapsedSec(), heightBefore, othersCommittedSec: null, startSec: null, recoverySec: null, heightAfterRestart: null, txsAroundKill: 0 }
    this.kills.push(rec)
    victim.state = 'down'
    await victim.node.stop('SIGKILL')
    const killedAt = Date.now()
    this.log(`kill ${rec.n} at ${rec.atSec} s: ${victim.name} (SIGKILL) at height ${heightBefore}`)

    rec.othersCommittedSec = await this.othersCommit(others, othersTop + 2)
    if (rec.othersCommittedSec === null) {
      this.violations.add('liveness', `kill/${rec.n}`, `kill ${rec.n}: with ${victim.name} down, ${others.map(m => `${m.name}=${m.height}`).join(' ')} did not reach height ${othersTop + 2} within ${this.s.livenessTimeoutSec} s`)
    }
    await this.halt.pace(killedAt + this.s.downSec * 1000 - Date.now()) // the time it stays down
    if (this.halt.stopped) return

    let restartAt = Date.now()
    for (let start = 1; ; start++) {
      restartAt = Date.now()
      if (!await this.restart(victim, rec)) return
      rec.startSec = (Date.now() - restartAt) / 1000
      if (start === 1) {
        rec.heightAfterRestart = await victim.readHeight().catch(() => null)
        if (rec.heightAfterRestart !== null && rec.heightAfterRestart < heightBefore) {
          this.violations.add('lost-block', `restart/${rec.n}`, `kill ${rec.n}: ${victim.name} came back at height ${rec.heightAfterRestart}, below the ${heightBefore} it had committed before the kill`)
        }
      }
      rec.recoverySec = await this.caughtUp(victim, others, restartAt, this.s.recoveryTimeoutSec * 1000)
      if (victim.pid !== undefined || start === 3 || this.halt.stopped) break
    }
    if (rec.recoverySec === null) {
      if (victim.pid === undefined || this.halt.stopped) { victim.state = 'down'; return }
      this.violations.add('recovery', `kill/${rec.n}`, `kill ${rec.n}: ${victim.name} restarted at height ${rec.heightAfterRestart} did not catch up with ${others.map(m => `${m.name}=${m.height}`).join(' ')} within ${this.s.recoveryTimeoutSec} s (now at ${victim.height})`)
      // It stays out of the load and of the kills until it does catch up, however long that takes.
      const late = await this.caughtUp(victim, others, restartAt, Infinity)
      if (late === null) { victim.state = victim.pid === undefined ? 'down' : 'recovering'; return }
      this.log(`kill ${rec.n}: ${victim.name} caught up after ${late.toFixed(1)} s, past the timeout`)
    }
    victim.state = 'up'
    this.log(`kill ${rec.n}: ${victim.name} back at height ${rec.heightAfterRestart} after ${rec.startSec?.toFixed(1)} s, caught up in ${rec.recoverySec?.toFixed(1) ?? 'more than the timeout'} s`)
    this.checker.rescanFromStart(victim)
    const around = this.checker.txsIn(heightBefore - AROUND_KILL, heightBefore + AROUND_KILL, AROUND_KILL_CAP)
    this.checker.enqueue(victim, around)
    rec.txsAroundKill = around.length
  }

  /** Seconds until every one of `nodes` is at `target`, or null after the liveness timeout. */
  private async othersCommit (nodes: Member[], target: number): Promise<number | null> {
    const t0 = Date.now()
    const ok = await until(`height ${target}`, async () => {
      if (this.halt.stopped) return true
      const hs = await Promise.all(nodes.map(async m => await m.readHeight().catch(() => -1)))
      return hs.every(h => h >= target)
    }, this.s.livenessTimeoutSec * 1000, 100).then(() => true, () => false)
    return ok ? (Date.now() - t0) / 1000 : null
  }

  /** Starts the victim again; a start that fails is a violation and is tried again, three times in all. */
  private async restart (victim: Member, rec: KillRecord): Promise<boolean> {
    victim.state = 'recovering'
    for (let attempt = 1; attempt <= 3 && !this.halt.stopped; attempt++) {
      try {
        await victim.node.start()
        victim.starts++
        return true
      } catch (e) {
        this.violations.add('restart', `kill/${rec.n}/${attempt}`, `kill ${rec.n}: restart ${attempt} of ${victim.name} failed: ${errorText(e).slice(0, 1500)}`)
        await victim.node.stop('SIGKILL')
      }
    }
    victim.state = 'down'
    return false
  }

  /**
   * Seconds from `since` until the victim's height reaches the others' (read just before its own,
   * in the same poll), or null after `timeoutMs`.
   */
  private async caughtUp (victim: Member, others: Member[], since: number, timeoutMs: number): Promise<number | null> {
    const deadline = since + timeoutMs
    while (!this.halt.stopped && Date.now() < deadline) {
      const target = await this.topOf(others)
      const h = await victim.readHeight().catch(() => -1)
      if (h >= target) return (Date.now() - since) / 1000
      if (victim.pid === undefined) {
        this.violations.add('restart', `exited/${victim.name}/${since}`, `${victim.name} exited while catching up: ${victim.node.log().slice(-1500)}`)
        return null
      }
      await this.halt.pace(100) // poll period
    }
    return null
  }
}
