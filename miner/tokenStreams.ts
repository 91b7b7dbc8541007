// TokenStreams: the live tokens of the jobs this miner runs, for their clients (GET
// /v1/jobs/:id/stream on the status server, a signed request: node/streamAuth.ts). Each job has a
// buffer from its first token until its receipt is final (and a short grace after), so a reader
// that connects late gets every token from the first; buffers are bounded in bytes per job and
// in jobs kept.

export const MAX_STREAM_BYTES_PER_JOB = 1024 * 1024
export const MAX_STREAMS = 256
/** How long a stream stays readable after its job is final. */
export const STREAM_GRACE_MS = 30_000

export type StreamEvent = { token: string } | { end: true } | { error: string }

interface JobStream {
  clientKey: string | null
  events: StreamEvent[]
  bytes: number
  ended: boolean
  final: boolean
  listeners: Set<(e: StreamEvent) => void>
  timer?: NodeJS.Timeout
}

export class TokenStreams {
  private readonly streams = new Map<string, JobStream>()

  constructor (private readonly o: { maxBytes?: number, maxStreams?: number, graceMs?: number } = {}) {}

  /** Opens the buffer of a job about to run (its client's ed25519 key, hex). */
  open (jobId: string, clientKey: string | null): void {
    if (this.streams.has(jobId)) return
    const max = this.o.maxStreams ?? MAX_STREAMS
    if (this.streams.size >= max) {
      // Drop the oldest stream whose job is final, else the oldest ended one.
      const victim = [...this.streams].find(([, s]) => s.final) ?? [...this.streams].find(([, s]) => s.ended)
      if (victim === undefined) return
      this.drop(victim[0])
    }
    this.streams.set(jobId, { clientKey, events: [], bytes: 0, ended: false, final: false, listeners: new Set() })
  }

  has (jobId: string): boolean { return this.streams.has(jobId) }

  clientKey (jobId: string): string | null | undefined { return this.streams.get(jobId)?.clientKey }

  push (jobId: string, token: string): void {
    const s = this.streams.get(jobId)
    if (s === undefined || s.ended || token === '') return
    s.bytes += Buffer.byteLength(token, 'utf8')
    if (s.bytes > (this.o.maxBytes ?? MAX_STREAM_BYTES_PER_JOB)) { this.emit(s, { error: 'the stream passed its byte bound; read the result on chain' }); s.ended = true; return }
    this.emit(s, { token })
  }

  /** The run ended (error: it failed). */
  end (jobId: string, error: string | null = null): void {
    const s = this.streams.get(jobId)
    if (s === undefined || s.ended) return
    this.emit(s, error === null ? { end: true } : { error })
    s.ended = true
  }

  /** The job is final on chain: the stream goes after the grace period. */
  final (jobId: string): void {
    const s = this.streams.get(jobId)
    if (s === undefined) return
    if (!s.ended) this.end(jobId, 'the job ended')
    s.final = true
    s.timer = setTimeout(() => this.drop(jobId), this.o.graceMs ?? STREAM_GRACE_MS)
    s.timer.unref()
  }

  /** Everything buffered so far, then each new event; returns the unsubscribe. Events end with {end} or {error}. */
  subscribe (jobId: string, onEvent: (e: StreamEvent) => void): () => void {
    const s = this.streams.get(jobId)
    if (s === undefined) return () => {}
    for (const e of s.events) onEvent(e)
    if (s.ended) return () => {}
    s.listeners.add(onEvent)
    return () => { s.listeners.delete(onEvent) }
  }

  close (): void {
    for (const id of [...this.streams.keys()]) this.drop(id)
  }

  private emit (s: JobStream, e: StreamEvent): void {
    s.events.push(e)
    for (const l of s.listeners) l(e)
    if (!('token' in e)) s.listeners.clear()
  }

  private drop (jobId: string): void {
    const s = this.streams.get(jobId)
    if (s === undefined) return
    if (s.timer !== undefined) clearTimeout(s.timer)
    if (!s.ended) this.emit(s, { error: 'the stream was dropped' })
    s.listeners.clear()
    this.streams.delete(jobId)
  }
}
