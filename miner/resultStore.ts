// ResultStore: the salts and texts this miner committed to, on disk, so that a miner restarted
// between its commit_result and its reveal_result can still reveal (a lost salt is a result
// nobody can open: the miner is slashed as silent). One file per job, `<dir>/<job id>.json`,
// mode 0600 in a folder of mode 0700; each is written to a temporary file, fsync'd and renamed
// over the old one (then the folder fsync'd), so that a crash leaves the old file or the new one,
// never a torn one. An entry is saved before its commitment leaves the process and removed once
// the job's verification is over.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { JOB_ID_RE } from '../node/client.ts'
import type { JobRole } from './inferenceJob.ts'

export interface StoredResult {
  jobId: string
  role: JobRole
  /** The address the commitment is bound to (this miner). */
  committer: string
  /** 32 bytes, hex. */
  salt: string
  /** The text committed to (already cut to max_result_bytes): what reveal_result sends. */
  text: string
  /** The commitment sent (hex), for checking against the chain. */
  commitment: string
  /** RFC 3339, when the entry was written. */
  storedAt: string
}

const SALT_RE = /^[0-9a-f]{64}$/

/** Whether a parsed file is a StoredResult (files written by another version or by hand are checked, not trusted). */
export function isStoredResult (v: unknown): v is StoredResult {
  if (typeof v !== 'object' || v === null) return false
  const r = v as Record<string, unknown>
  return typeof r.jobId === 'string' && JOB_ID_RE.test(r.jobId) && (r.role === 'miner' || r.role === 'verifier') && typeof r.committer === 'string' &&
    typeof r.salt === 'string' && SALT_RE.test(r.salt) && typeof r.text === 'string' && typeof r.commitment === 'string' && typeof r.storedAt === 'string'
}

export class ResultStore {
  private opened = false

  constructor (readonly dir: string) {}

  /** Writes the entry atomically (temp file, fsync, rename, fsync of the folder), mode 0600; creates the folder (mode 0700) when needed. */
  save (r: StoredResult): void {
    if (!JOB_ID_RE.test(r.jobId)) throw new Error(`not a job id: ${r.jobId}`)
    if (!this.opened) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 })
      chmodSync(this.dir, 0o700)
      this.opened = true
    }
    const file = this.file(r.jobId)
    const tmp = join(this.dir, `.${r.jobId}.json.tmp-${process.pid}`)
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, JSON.stringify(r) + '\n')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, file)
    this.syncDir()
  }

  /** The entry of a job, or undefined when there is none (or it does not parse). */
  load (jobId: string): StoredResult | undefined {
    if (!JOB_ID_RE.test(jobId)) return undefined
    try {
      const v: unknown = JSON.parse(readFileSync(this.file(jobId), 'utf8'))
      return isStoredResult(v) && v.jobId === jobId ? v : undefined
    } catch {
      return undefined
    }
  }

  /** Every entry, and the names of files that are not entries (left alone for a person to look at). */
  list (): { entries: StoredResult[], unreadable: string[] } {
    let names: string[]
    try { names = readdirSync(this.dir) } catch { return { entries: [], unreadable: [] } }
    const entries: StoredResult[] = []
    const unreadable: string[] = []
    for (const n of names.sort()) {
      const m = /^(job_[0-9a-f]{16})\.json$/.exec(n)
      if (m === null) { if (!n.startsWith('.')) unreadable.push(n); continue }
      const r = this.load(m[1])
      if (r === undefined) unreadable.push(n); else entries.push(r)
    }
    return { entries, unreadable }
  }

  remove (jobId: string): void {
    if (!JOB_ID_RE.test(jobId)) return
    rmSync(this.file(jobId), { force: true })
    this.syncDir()
  }

  private file (jobId: string): string { return join(this.dir, `${jobId}.json`) }

  private syncDir (): void {
    let fd: number | undefined
    try {
      fd = openSync(this.dir, 'r')
      fsyncSync(fd)
    } catch { /* some file systems cannot fsync a folder */ } finally {
      if (fd !== undefined) closeSync(fd)
    }
  }
}
