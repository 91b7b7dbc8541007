// The validator's signer with double-sign protection, as CometBFT's FilePV: before any vote or
// proposal signature leaves the process, the (height, round, step) it signs is written and
// fsync'd; a later request for an earlier or the same position with other bytes is refused, also
// after a crash and restart.
import { openSync, writeSync, fsyncSync, fdatasyncSync, closeSync, readFileSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { SigningKey, toHex, fromHex, bytesEqual, sha256 } from '../core/crypto.ts'

export const STEP_PROPOSE = 1
export const STEP_PREVOTE = 2
export const STEP_PRECOMMIT = 3

export interface SignState {
  height: number
  round: number
  step: number
  signBytesHash: string
  signature: string
  /** The consensus lock at this height (a precommit for a block locks on it), restored after a restart. */
  lock?: { round: number, value: string }
}

export class DoubleSignError extends Error {
  readonly code = 'DOUBLE_SIGN_REFUSED'
  constructor (message: string) { super(message); this.name = 'DoubleSignError' }
}

export class PrivValidator {
  private last: SignState
  private readonly file: SignStateFile

  constructor (readonly key: SigningKey, stateFile: string) {
    this.file = new SignStateFile(stateFile)
    this.last = this.file.read() ?? { height: 0, round: 0, step: 0, signBytesHash: '', signature: '' }
  }

  get lastSigned (): Readonly<SignState> { return this.last }

  /**
   * Signs `signBytes` at (height, round, step) if that position is later than anything signed
   * before; the same position with the same bytes returns the same signature.
   */
  sign (height: number, round: number, step: number, signBytes: Uint8Array, lock?: { round: number, value: string }): Uint8Array {
    const l = this.last
    const hash = toHex(sha256(signBytes))
    const cmp = height !== l.height ? height - l.height : round !== l.round ? round - l.round : step - l.step
    if (cmp < 0) throw new DoubleSignError(`refusing to sign height ${height} round ${round} step ${step}: already signed height ${l.height} round ${l.round} step ${l.step}`)
    if (cmp === 0) {
      if (l.signBytesHash === hash) return fromHex(l.signature)
      throw new DoubleSignError(`refusing to sign different bytes at height ${height} round ${round} step ${step}`)
    }
    const signature = this.key.sign(signBytes)
    const keep = height === l.height ? l.lock : undefined
    const next: SignState = { height, round, step, signBytesHash: hash, signature: toHex(signature), ...(lock ?? keep ? { lock: lock ?? keep } : {}) }
    this.file.write(next)
    this.last = next
    return signature
  }

  sameAs (other: Uint8Array): boolean { return bytesEqual(this.key.publicKey, other) }
}

const SLOT = 512

/** The last signed (height, round, step) recorded in a state file, or null if there is none. */
export function readSignState (path: string): SignState | null { return new SignStateFile(path).read() }

/**
 * The last-signed state on disk in two checksummed slots written alternately in place, each
 * write followed by fdatasync (about half a millisecond here, against several for write-rename
 * with two fsyncs). A torn write spoils only the slot being written; the other still holds the
 * previous state, and reading takes the valid slot with the highest sequence number.
 */
class SignStateFile {
  private seq = 0
  private fd: number | null = null
  constructor (private readonly path: string) {}

  read (): SignState | null {
    if (!existsSync(this.path)) return null
    const buf = readFileSync(this.path)
    let best: { seq: number, state: SignState } | null = null
    for (let i = 0; i < 2; i++) {
      const text = buf.subarray(i * SLOT, (i + 1) * SLOT).toString('utf8').trim()
      try {
        const rec = JSON.parse(text) as { seq: number, state: SignState, sum: string }
        if (rec.sum !== toHex(sha256(new TextEncoder().encode(`${rec.seq}:${JSON.stringify(rec.state)}`)))) continue
        if (best === null || rec.seq > best.seq) best = { seq: rec.seq, state: rec.state }
      } catch {}
    }
    if (best === null) throw new Error(`${this.path}: no valid signing state in it; refusing to sign (restore it, or remove it only if this key never signed on this chain)`)
    this.seq = best.seq
    return best.state
  }

  write (state: SignState): void {
    if (this.fd === null) {
      const fresh = !existsSync(this.path)
      this.fd = openSync(this.path, fresh ? 'w+' : 'r+', 0o600)
      if (fresh) {
        writeSync(this.fd, Buffer.alloc(2 * SLOT, 0x20), 0, 2 * SLOT, 0)
        fsyncSync(this.fd)
        const dfd = openSync(dirname(this.path), 'r')
        try { fsyncSync(dfd) } finally { closeSync(dfd) }
      }
    }
    const seq = this.seq + 1
    const body = JSON.stringify({ seq, state, sum: toHex(sha256(new TextEncoder().encode(`${seq}:${JSON.stringify(state)}`))) })
    if (body.length >= SLOT) throw new Error('signing state record too large')
    writeSync(this.fd, Buffer.from(body.padEnd(SLOT, ' ')), 0, SLOT, (seq % 2) * SLOT)
    fdatasyncSync(this.fd)
    this.seq = seq
  }
}
