// Valid messages for the fuzz run to send as they are and to mutate: signed txs of funded
// accounts (keys from the seed, nonces tracked), ids and hashes the chain knows, queries,
// consensus votes and proposals (signed by a key that is not a validator, so that none can
// sway consensus), the node's own consensus gossip as it arrives, and sync requests.
import { signTx, type TxBody } from '../../node/core/tx.ts'
import { SigningKey, sha256, toHex, toHexUpper, utf8Bytes, addressBytesFromPubkey, toBase64 } from '../../node/core/crypto.ts'
import { VOTE_PRECOMMIT, VOTE_PREVOTE, encodeBlock, type Block } from '../../node/core/block.ts'
import { MSG_PROPOSAL, decodeConsensusMessage, encodeProposal, encodeSyncRequest, encodeVote, voteBytesToSign, proposalBytesToSign } from '../../node/consensus/messages.ts'
import { pack } from '../../node/core/codec.ts'
import { FEE, AMOUNT } from '../soak/load.ts'
import type { Rng } from './rng.ts'

/** Captured gossip kept for replay and mutation, at most. */
const MAX_CAPTURED = 200

export interface CorpusInit {
  seed: number
  chainId: string
  accounts: number
}

export class Corpus {
  readonly keys: SigningKey[]
  /** One account per gossiping peer slot, for its barrier txs (funded as the others). */
  readonly barrierKeys: SigningKey[]
  /** A key that signs consensus messages; not a validator. */
  readonly outsider: SigningKey
  readonly chainId: string
  validatorAddress: Uint8Array
  private readonly nonces = new Map<string, number>()
  /** Known to the chain: filled from RPC answers and committed txs as the run goes. */
  readonly blockHashes: string[] = []
  readonly txHashes: string[] = []
  readonly jobIds: string[] = ['job_0000000000000000', 'job_ffffffffffffffff']
  /** The node's own consensus gossip (nonce stripped). */
  readonly captured: Uint8Array[] = []
  /** The chain's latest height, kept up to date by the monitor. */
  height = 1
  private capturedAt = 0

  constructor (o: CorpusInit) {
    const key = (name: string): SigningKey => new SigningKey(sha256(utf8Bytes(`aitbc-fuzz/${o.seed}/${name}`)))
    this.keys = Array.from({ length: o.accounts }, (_, i) => key(`account-${i}`))
    this.barrierKeys = Array.from({ length: 16 }, (_, i) => key(`barrier-${i}`))
    this.outsider = key('outsider')
    this.chainId = o.chainId
    this.validatorAddress = new Uint8Array(20)
  }

  get addresses (): string[] { return this.keys.map(k => k.address) }

  /** The account a gossiping peer's barrier txs come from (its own: no other input uses it). */
  barrierKey (slot: number): SigningKey { return this.barrierKeys[slot % this.barrierKeys.length] }

  signedTransfer (k: SigningKey, nonce: number): Uint8Array {
    return signTx(k, { chainId: this.chainId, nonce, fee: FEE, body: { type: 'transfer', to: this.keys[0].address, amount: AMOUNT } }).bytes
  }

  setNonce (address: string, nonce: number): void { this.nonces.set(address, nonce) }

  /**
   * A signed tx of a funded account, with its next nonce (so most of them are valid and commit).
   * The RPC surfaces and the P2P ones sign with different halves of the accounts, so that neither
   * leaves the other's nonces stale (a broadcast_tx_commit of a tx queued behind a gap waits out
   * its whole timeout).
   */
  tx (rng: Rng, valid = true, side: 'rpc' | 'p2p' = 'rpc'): Uint8Array {
    const half = Math.ceil(this.keys.length / 2)
    const k = rng.pick(side === 'rpc' ? this.keys.slice(0, half) : this.keys.slice(half))
    const nonce = this.nonces.get(k.address) ?? 0
    if (valid) this.nonces.set(k.address, nonce + 1)
    const body: TxBody = rng.weighted<TxBody>([
      [6, { type: 'transfer', to: rng.pick(this.keys).address, amount: AMOUNT }],
      [1, { type: 'stake', amount: AMOUNT }],
      [1, { type: 'unstake', amount: 1n }],
      [1, { type: 'cancel_job', jobId: rng.pick(this.jobIds) }],
    ])
    const tx = signTx(k, { chainId: this.chainId, nonce: valid ? nonce : Math.max(0, nonce + rng.range(-2, 1000)), fee: FEE, body })
    if (valid) this.remember(this.txHashes, tx.hash)
    return tx.bytes
  }

  /** Keeps a hash the chain may know (at most 200 of a kind). */
  remember (list: string[], hash: string): void {
    if (list.includes(hash)) return
    if (list.length >= 200) list.shift()
    list.push(hash)
  }

  /** A tx batch as tx gossip carries it. */
  txBatch (rng: Rng): Uint8Array { return pack(Array.from({ length: rng.range(1, 8) }, () => this.tx(rng, true, 'p2p'))) }

  hash (rng: Rng): string {
    return rng.weighted([
      [2, () => this.blockHashes.length > 0 ? rng.pick(this.blockHashes) : toHexUpper(rng.bytes(32))],
      [2, () => this.txHashes.length > 0 ? rng.pick(this.txHashes) : toHexUpper(rng.bytes(32))],
      [1, () => toHexUpper(rng.bytes(32))],
      [1, () => toBase64(rng.bytes(32))],
      [1, () => '0x' + toHex(rng.bytes(32))],
    ] as const)()
  }

  /** A height near the chain's (past, current, future, edges). */
  nearHeight (rng: Rng): number {
    return rng.weighted([
      [4, () => rng.range(1, Math.max(1, this.height))],
      [2, () => this.height + rng.range(-1, 3)],
      [1, () => rng.pick([0, 1, 2 ** 31, 2 ** 53 - 1])],
    ] as const)()
  }

  query (rng: Rng): string {
    const a = rng.pick(this.addresses)
    const h = this.nearHeight(rng)
    return rng.pick([
      "tm.event='NewBlock'", "tm.event='NewBlockHeader'", "tm.event='Tx'", `tx.height=${h}`, `tx.height>${h}`, `tx.height<=${h} AND tx.height>=1`,
      `block.height=${h}`, `block.height>1 AND block.height<${h}`, `transfer.sender='${a}'`, `transfer.recipient='${a}' AND tx.height>0`,
      `tx.hash='${this.hash(rng)}'`, "message.action EXISTS", "transfer.amount>100", "transfer.sender CONTAINS 'aitbc'",
      "tm.event='Tx' AND tx.height<5", 'block.time > TIME 2024-01-01T00:00:00Z', 'block.date >= DATE 2024-01-01', `job.id='${rng.pick(this.jobIds)}'`,
      'tx.height > 1 AND ' + Array.from({ length: 40 }, (_, i) => `k${i}.x=1`).join(' AND '),
    ])
  }

  private signedVote (rng: Rng, height: number): Uint8Array {
    const v = { type: rng.pick([VOTE_PREVOTE, VOTE_PRECOMMIT]), height, round: rng.pick([0, 0, 1, 2, 5, 1000]), blockHash: rng.chance(0.3) ? new Uint8Array(0) : rng.bytes(32), timestamp: 1_700_000_000_000 + rng.int(1e9) }
    // the validator's address with the outsider's signature, or the outsider's own address
    const validator = rng.chance(0.5) ? this.validatorAddress : addressBytesFromPubkey(this.outsider.publicKey)
    return encodeVote({ ...v, validator, signature: this.outsider.sign(voteBytesToSign(this.chainId, v)) })
  }

  private signedProposal (rng: Rng, height: number): Uint8Array {
    const h32 = (): Uint8Array => rng.bytes(32)
    const block: Block = {
      header: {
        chainId: this.chainId, height, time: 1_700_000_000_000 + rng.int(1e9), lastBlockHash: h32(), lastCommitHash: h32(), dataHash: h32(), validatorsHash: h32(),
        nextValidatorsHash: h32(), consensusHash: h32(), appHash: h32(), lastResultsHash: h32(), evidenceHash: h32(), proposerAddress: this.validatorAddress,
      },
      txs: rng.chance(0.5) ? [this.tx(rng, false, 'p2p')] : [],
      evidence: [],
      lastCommit: null,
    }
    let blockBytes: Uint8Array
    try { blockBytes = encodeBlock(block) } catch { blockBytes = rng.bytes(200) }
    const p = { height, round: rng.pick([0, 1, 3]), polRound: rng.pick([-1, 0]), hash: sha256(blockBytes), timestamp: block.header.time }
    return encodeProposal({ ...p, blockBytes, block, hash: toHexUpper(p.hash), validator: this.validatorAddress, signature: this.outsider.sign(proposalBytesToSign(this.chainId, p)) })
  }

  /** A consensus message: the node's own (captured), or one signed by the outsider for a height near the chain's. */
  consensus (rng: Rng): Uint8Array {
    if (this.captured.length > 0 && rng.chance(0.5)) return rng.pick(this.captured)
    const h = this.nearHeight(rng)
    return rng.chance(0.7) ? this.signedVote(rng, h) : this.signedProposal(rng, h)
  }

  /**
   * A captured proposal with its header, hash and signature kept and its body changed (a tx
   * dropped, added or replaced, evidence added): what a relay holding no key can forge.
   */
  tamperedProposal (rng: Rng): Uint8Array | null {
    const proposals = this.captured.filter(b => b[1] === MSG_PROPOSAL)
    if (proposals.length === 0) return null
    let msg
    try { msg = decodeConsensusMessage(rng.pick(proposals)) } catch { return null }
    if (msg.kind !== 'proposal') return null
    const p = msg.p
    const b = p.block
    const body: Block = rng.oneOf<Block>([
      [2, () => ({ ...b, txs: b.txs.slice(1) })],
      [2, () => ({ ...b, txs: [...b.txs, this.tx(rng, false, 'p2p')] })],
      [1, () => ({ ...b, evidence: [rng.bytes(rng.range(1, 200))] })],
      [1, () => ({ ...b, txs: b.txs.map(t => t.length > 0 && rng.chance(0.5) ? Uint8Array.from(t, (x, i) => i === t.length - 1 ? x ^ 1 : x) : t) })],
    ])
    try { return encodeProposal({ ...p, blockBytes: encodeBlock(body), block: body }) } catch { return null }
  }

  capture (data: Uint8Array): void {
    if (this.captured.length < MAX_CAPTURED) this.captured.push(data)
    else this.captured[this.capturedAt++ % MAX_CAPTURED] = data
  }

  syncRequest (rng: Rng): Uint8Array {
    if (rng.chance(0.15)) return encodeSyncRequest({ kind: 'txs', hashes: Array.from({ length: rng.pick([0, 1, 3, 50]) }, () => rng.bytes(32)) })
    return rng.chance(0.3) ? encodeSyncRequest({ kind: 'status' }) : encodeSyncRequest({ kind: 'blocks', from: this.nearHeight(rng) || 1, count: rng.pick([1, 5, 100, 500, 501, 2 ** 31]) })
  }
}
