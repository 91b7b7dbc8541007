// Shared pieces of the benchmarks: the machine's own limits measured in the same run, process
// memory, percentiles.
import { createPrivateKey, createPublicKey, sign, verify, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { Worker } from 'node:worker_threads'
import WebSocket from 'ws'
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

/**
 * Watches a node's NewBlock events (its WebSocket) for the txs a benchmark sent: `sent(key)` when a
 * tx goes out (key: `keyOf` of its base64 bytes, the base64 itself by default); `done` resolves
 * once `total` of them are in blocks. Broadcast-to-commit latencies in ms, block arrival times.
 */
export interface CommitWatch {
  sent: (key: string, at?: number) => void
  done: Promise<void>
  latencies: number[]
  blockTimes: number[]
  committed: number
  lastCommitAt: number
  /** Rejects `done`'s wait with how many committed, after `ms`. */
  wait: (ms: number) => Promise<void>
  close: () => void
}

export async function watchCommits (rpcUrl: string, total: number, keyOf: (b64: string) => string = b64 => b64): Promise<CommitWatch> {
  const sentAt = new Map<string, number>()
  const ws = new WebSocket(rpcUrl.replace('http', 'ws') + '/websocket')
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'subscribe', params: { query: "tm.event='NewBlock'" } }))
  const w: CommitWatch = {
    sent: (key, at = performance.now()) => { sentAt.set(key, at) },
    done: Promise.resolve(),
    latencies: [],
    blockTimes: [],
    committed: 0,
    lastCommitAt: 0,
    wait: async (ms) => { await Promise.race([w.done, new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`only ${w.committed}/${total} committed after ${ms / 1000} s`)), ms).unref())]) },
    close: () => ws.close(),
  }
  w.done = new Promise<void>(resolve => {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString())
      const txs: string[] | undefined = msg.result?.data?.value?.block?.data?.txs
      if (txs === undefined) return
      const now = performance.now()
      w.blockTimes.push(now)
      for (const b64 of txs) {
        const k = keyOf(b64)
        const t = sentAt.get(k)
        if (t === undefined) continue
        w.latencies.push(now - t)
        sentAt.delete(k)
        w.committed++
      }
      if (txs.length > 0) w.lastCommitAt = now
      if (w.committed >= total) resolve()
    })
  })
  return w
}
