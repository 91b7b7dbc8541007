// The block a validator is locked on, kept on disk with the lock. Tendermint's locking rule makes
// a validator that precommitted block B at round r prevote only B (or a value with a later polka)
// at later rounds of that height. After a crash the lock is restored from the signer's state, but
// the block itself was only in memory: a validator that cannot re-propose B, and sees no polka
// for anything else, stays locked for good (a lone validator never commits again). So the block is
// written, and fsync'd, before the precommit that locks on it is signed, as CometBFT's WAL keeps
// the proposal's parts.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { concatBytes, sha256, bytesEqual } from '../core/crypto.ts'

export interface LockedBlockRecord { height: number, round: number, blockBytes: Uint8Array }

/** Stores one record: [height u64][round u32][sha256 of the rest][block bytes], written to a temp file, fsync'd and renamed. */
export class LockedBlockFile {
  constructor (private readonly path: string) {}

  save (r: LockedBlockRecord): void {
    const head = Buffer.alloc(12)
    head.writeBigUInt64BE(BigInt(r.height), 0)
    head.writeUInt32BE(r.round, 8)
    const body = concatBytes(head, r.blockBytes)
    const tmp = this.path + '.tmp'
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, concatBytes(sha256(body), body))
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, this.path)
    const dfd = openSync(dirname(this.path), 'r')
    try { fsyncSync(dfd) } finally { closeSync(dfd) }
  }

  /** The stored record, or null when there is none or it does not check out. */
  load (): LockedBlockRecord | null {
    if (!existsSync(this.path)) return null
    const buf = new Uint8Array(readFileSync(this.path))
    if (buf.length < 44) return null
    const body = buf.subarray(32)
    if (!bytesEqual(sha256(body), buf.subarray(0, 32))) return null
    const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    return { height: Number(view.readBigUInt64BE(0)), round: view.readUInt32BE(8), blockBytes: body.slice(12) }
  }
}
