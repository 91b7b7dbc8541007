// ed25519 verification on a pool of worker threads (node:worker_threads), so that every core
// verifies while the main thread serves RPC, gossip and consensus. Requests are batched: those
// made in one turn of the event loop (or up to BATCH_MAX) go to the least busy worker as one
// message. The rule is the node's one rule (node:crypto, RFC 8032): the same answers as
// verifySignature. With no workers (size 0) it verifies on the calling thread.
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { pathToFileURL } from 'node:url'
import { verifySignature } from '../core/crypto.ts'
import type { Logger } from '../logger.ts'
import { repoPath } from '../paths.ts'

const BATCH_MAX = 256
const WORKER_URL = pathToFileURL(repoPath('node', 'chain', 'verifyWorker.mjs'))

interface Item { pub: Uint8Array, msg: Uint8Array, sig: Uint8Array, resolve: (ok: boolean) => void }
interface Slot { worker: Worker, pending: Map<number, Item[]>, load: number }

export class VerifyPool {
  private readonly slots: Slot[] = []
  private batch: Item[] = []
  private scheduled = false
  private nextId = 1
  private closed = false
  /** Signatures checked (for metrics and tests). */
  verified = 0

  constructor (size = availableParallelism(), private readonly log?: Logger) {
    for (let i = 0; i < size; i++) this.spawn()
  }

  get size (): number { return this.slots.length }

  private spawn (): void {
    const worker = new Worker(WORKER_URL)
    const slot: Slot = { worker, pending: new Map(), load: 0 }
    worker.unref()
    worker.on('message', ({ id, ok }: { id: number, ok: Uint8Array }) => {
      const items = slot.pending.get(id)
      if (items === undefined) return
      slot.pending.delete(id)
      slot.load -= items.length
      for (let i = 0; i < items.length; i++) items[i].resolve(ok[i] === 1)
    })
    worker.on('error', (err) => {
      // A worker that fails: its batches are verified here, and it is replaced.
      this.log?.error({ err }, 'signature worker failed; replacing it')
      const i = this.slots.indexOf(slot)
      if (i >= 0) this.slots.splice(i, 1)
      for (const items of slot.pending.values()) for (const it of items) it.resolve(verifySignature(it.pub, it.msg, it.sig))
      slot.pending.clear()
      if (!this.closed) this.spawn()
    })
    this.slots.push(slot)
  }

  /** True when `sig` is a valid ed25519 signature of `msg` by `pub` (malformed keys or signatures: false). */
  async verify (pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): Promise<boolean> {
    this.verified++
    if (this.slots.length === 0 || pub.length !== 32 || sig.length !== 64) return verifySignature(pub, msg, sig)
    return await new Promise<boolean>(resolve => {
      this.batch.push({ pub, msg, sig, resolve })
      if (this.batch.length >= BATCH_MAX) this.flush()
      else if (!this.scheduled) { this.scheduled = true; setImmediate(() => this.flush()) }
    })
  }

  private flush (): void {
    this.scheduled = false
    const items = this.batch
    if (items.length === 0) return
    this.batch = []
    let bytes = 0
    for (const it of items) bytes += 100 + it.msg.length
    const buf = new Uint8Array(bytes)
    const view = new DataView(buf.buffer)
    let at = 0
    for (const it of items) {
      buf.set(it.pub, at)
      buf.set(it.sig, at + 32)
      view.setUint32(at + 96, it.msg.length, true)
      buf.set(it.msg, at + 100)
      at += 100 + it.msg.length
    }
    let slot = this.slots[0]
    for (const s of this.slots) if (s.load < slot.load) slot = s
    const id = this.nextId++
    slot.pending.set(id, items)
    slot.load += items.length
    slot.worker.postMessage({ id, buf: buf.buffer, count: items.length }, [buf.buffer])
  }

  async close (): Promise<void> {
    this.closed = true
    this.flush()
    await Promise.all(this.slots.map(async s => {
      // Answer what is still waiting before the worker goes.
      for (const items of s.pending.values()) for (const it of items) it.resolve(verifySignature(it.pub, it.msg, it.sig))
      s.pending.clear()
      await s.worker.terminate()
    }))
    this.slots.length = 0
  }
}
