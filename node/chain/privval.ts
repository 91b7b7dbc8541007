// The validator's signer with double-sign protection, as CometBFT's FilePV: before any vote or
// proposal signature leaves the process, the (height, round, step) it signs is written and
// fsync'd; a later request for an earlier or the same position with other bytes is refused, also
// after a crash and restart.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { SigningKey, toHex, fromHex, bytesEqual, sha256 } from '../core/crypto.ts'

export const STEP_PROPOSE = 1
export const STEP_PREVOTE = 2
export const STEP_PRECOMMIT = 3

interface SignState { height: number, round: number, step: number, signBytesHash: string, signature: string }

export class DoubleSignError extends Error {
  readonly code = 'DOUBLE_SIGN_REFUSED'
  constructor (message: string) { super(message); this.name = 'DoubleSignError' }
}

export class PrivValidator {
  private last: SignState

  constructor (readonly key: SigningKey, private readonly stateFile: string) {
    this.last = existsSync(stateFile)
      ? JSON.parse(readFileSync(stateFile, 'utf8')) as SignState
      : { height: 0, round: 0, step: 0, signBytesHash: '', signature: '' }
  }

  get lastSigned (): Readonly<SignState> { return this.last }

  /**
   * Signs `signBytes` at (height, round, step) if that position is later than anything signed
   * before; the same position with the same bytes returns the same signature.
   */
  sign (height: number, round: number, step: number, signBytes: Uint8Array): Uint8Array {
    const l = this.last
    const hash = toHex(sha256(signBytes))
    const cmp = height !== l.height ? height - l.height : round !== l.round ? round - l.round : step - l.step
    if (cmp < 0) throw new DoubleSignError(`refusing to sign height ${height} round ${round} step ${step}: already signed height ${l.height} round ${l.round} step ${l.step}`)
    if (cmp === 0) {
      if (l.signBytesHash === hash) return fromHex(l.signature)
      throw new DoubleSignError(`refusing to sign different bytes at height ${height} round ${round} step ${step}`)
    }
    const signature = this.key.sign(signBytes)
    const next: SignState = { height, round, step, signBytesHash: hash, signature: toHex(signature) }
    writeFileDurable(this.stateFile, JSON.stringify(next))
    this.last = next
    return signature
  }

  sameAs (other: Uint8Array): boolean { return bytesEqual(this.key.publicKey, other) }
}

/** Write to a temp file, fsync, rename over, fsync the folder: the state is either old or new. */
export function writeFileDurable (file: string, data: string, mode = 0o600): void {
  const tmp = `${file}.tmp`
  const fd = openSync(tmp, 'w', mode)
  try {
    writeSync(fd, data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  const dfd = openSync(dirname(file), 'r')
  try { fsyncSync(dfd) } finally { closeSync(dfd) }
}
