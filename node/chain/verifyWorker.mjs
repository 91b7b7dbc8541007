// A signature-verification worker of VerifyPool (node/chain/verifyPool.ts). Plain JavaScript, so
// that it loads in a worker thread without the TypeScript loader. It applies the node's one rule
// for ed25519 (node:crypto, RFC 8032, as verifySignature in node/core/crypto.ts).
// In: { id, buf } where buf holds items [pub 32][sig 64][len u32 LE][msg len]. Out: { id, ok: Uint8Array } (1 = verifies).
import { parentPort } from 'node:worker_threads'
import { createPublicKey, verify } from 'node:crypto'

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const KEY_CACHE_MAX = 4096
const keys = new Map()

function keyOf (pub) {
  const id = pub.toString('hex')
  let k = keys.get(id)
  if (k === undefined) {
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' })
    if (keys.size >= KEY_CACHE_MAX) keys.delete(keys.keys().next().value)
    keys.set(id, k)
  }
  return k
}

parentPort.on('message', ({ id, buf, count }) => {
  const b = Buffer.from(buf)
  const ok = new Uint8Array(count)
  let at = 0
  for (let i = 0; i < count; i++) {
    const pub = b.subarray(at, at + 32)
    const sig = b.subarray(at + 32, at + 96)
    const len = b.readUInt32LE(at + 96)
    const msg = b.subarray(at + 100, at + 100 + len)
    at += 100 + len
    try { ok[i] = verify(null, msg, keyOf(pub), sig) ? 1 : 0 } catch { ok[i] = 0 }
  }
  parentPort.postMessage({ id, ok }, [ok.buffer])
})
