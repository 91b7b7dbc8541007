// Shared pieces of the benchmarks: the machine's own limits measured in the same run, process
// memory, percentiles.
import { createPrivateKey, createPublicKey, sign, verify, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { Worker } from 'node:worker_threads'
import { SigningKey } from '../node/core/crypto.ts'

/** ed25519 verifications a second on one core with node:crypto (the path the node uses). */
export function measureVerifyRate (ms = 1500): number {
  const key = new SigningKey(new Uint8Array(randomBytes(32)))
  const msg = randomBytes(200)
  const sig = key.sign(msg)
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key.publicKey])
  const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' })
  let n = 0
  const end = performance.now() + ms
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) verify(null, msg, pub, sig)
    n += 100
  }
  return n / (ms / 1000)
}

/**
 * ed25519 verifications a second on all cores at once (one worker thread each, the same rule):
 * the machine's ceiling for everything that must verify, which on a shared or throttled machine
 * is less than the number of cores times the one-core rate.
 */
export async function measureAllCoresVerifyRate (ms = 1500, threads = availableParallelism()): Promise<{ threads: number, perSec: number }> {
  const code = `
    const { generateKeyPairSync, sign, verify } = require('node:crypto')
    const { parentPort, workerData } = require('node:worker_threads')
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const msg = Buffer.alloc(200, 7)
    const sig = sign(null, msg, privateKey)
    let n = 0
    const end = performance.now() + workerData
    while (performance.now() < end) { for (let i = 0; i < 100; i++) verify(null, msg, publicKey, sig); n += 100 }
    parentPort.postMessage(n / (workerData / 1000))`
  const rates = await Promise.all(Array.from({ length: threads }, async () => await new Promise<number>((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: ms })
    w.once('message', (r: number) => { resolve(r); void w.terminate() })
    w.once('error', reject)
  })))
  return { threads, perSec: rates.reduce((a, b) => a + b, 0) }
}

export function measureSignRate (ms = 1000): number {
  const pk = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), randomBytes(32)]), format: 'der', type: 'pkcs8' })
  const msg = randomBytes(200)
  let n = 0
  const end = performance.now() + ms
  while (performance.now() < end) { for (let i = 0; i < 100; i++) sign(null, msg, pk); n += 100 }
  return n / (ms / 1000)
}

/** Peak and current resident memory of a process, in MB (Linux /proc). */
export function memoryOf (pid: number): { peakMb: number, rssMb: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (k: string): number => Number((new RegExp(`${k}:\\s+(\\d+)`).exec(s) ?? [])[1] ?? 0)
  return { peakMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 }
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))]
}

export function machine (): string {
  const c = cpus()
  return `${c.length} x ${c[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`
}

export function fmt (n: number, digits = 0): string { return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) }

/** CPU seconds (user + system) a process has used so far, all its threads (Linux /proc). */
export function cpuSecondsOf (pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[11]) + Number(rest[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
}

/** The 1-minute load average (other engineers share this machine: it says how much of it the run had). */
export function loadAverage (): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
}
