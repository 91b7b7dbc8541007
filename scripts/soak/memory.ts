// Resident memory of each validator process, sampled from /proc/<pid>/status (VmRSS; VmHWM is
// the kernel's own peak between samples). Each process (a start) is kept apart, so that growth
// within one long-lived process shows: its RSS one minute after it started against its last.
import { memoryOf } from '../../bench/lib.ts'
import type { Member } from './members.ts'

export interface ProcessMemory {
  pid: number
  startedAt: number
  lastAt: number
  peakRssMb: number
  hwmMb: number
  /** The first sample at least one minute after the start. */
  rssAfterOneMinuteMb: number | null
  lastRssMb: number
  /** VmRSS at each whole minute of its life (the first sample after each). */
  rssByMinuteMb: number[]
}

export interface ValidatorMemory { name: string, peakRssMb: number, hwmMb: number, processes: ProcessMemory[] }

export class MemorySampler {
  private readonly byName = new Map<string, ValidatorMemory>()

  constructor (members: Member[]) {
    for (const m of members) this.byName.set(m.name, { name: m.name, peakRssMb: 0, hwmMb: 0, processes: [] })
  }

  sample (members: Member[]): void {
    const now = Date.now()
    for (const m of members) {
      const pid = m.pid
      if (pid === undefined) continue
      let mem: { peakMb: number, rssMb: number }
      try { mem = memoryOf(pid) } catch { continue } // it ended between the check and the read
      if (mem.rssMb === 0) continue // killed and not yet reaped: /proc has no VmRSS
      const v = this.byName.get(m.name) as ValidatorMemory
      let p = v.processes.find(x => x.pid === pid)
      if (p === undefined) {
        p = { pid, startedAt: now, lastAt: now, peakRssMb: 0, hwmMb: 0, rssAfterOneMinuteMb: null, lastRssMb: 0, rssByMinuteMb: [] }
        v.processes.push(p)
      }
      p.lastAt = now
      p.lastRssMb = mem.rssMb
      p.peakRssMb = Math.max(p.peakRssMb, mem.rssMb)
      p.hwmMb = Math.max(p.hwmMb, mem.peakMb)
      if (p.rssAfterOneMinuteMb === null && now - p.startedAt >= 60_000) p.rssAfterOneMinuteMb = mem.rssMb
      if (now - p.startedAt >= (p.rssByMinuteMb.length + 1) * 60_000) p.rssByMinuteMb.push(mem.rssMb)
      v.peakRssMb = Math.max(v.peakRssMb, mem.rssMb)
      v.hwmMb = Math.max(v.hwmMb, mem.peakMb)
    }
  }

  get validators (): ValidatorMemory[] { return [...this.byName.values()] }
}

/** The process of a validator that lived longest. */
export function longestLived (v: ValidatorMemory): ProcessMemory | undefined {
  return v.processes.reduce<ProcessMemory | undefined>((best, p) => best === undefined || p.lastAt - p.startedAt > best.lastAt - best.startedAt ? p : best, undefined)
}
