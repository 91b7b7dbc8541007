// The application side of consensus: ConsensusApp over the committed chain, the mempool and the
// block executor. Proposals take their txs from the mempool; validation and block sync execute
// blocks with the same executor; commits go to the chain in one atomic batch.
import { BlockError } from '../core/errors.ts'
import { createProposal, validateBlock, type BlockExecution } from '../core/executor.ts'
import { BLOCK_ID_FLAG_COMMIT, VOTE_PRECOMMIT, voteSignBytes, type Block, type Commit } from '../core/block.ts'
import { bytesEqual, rememberVerified, toHex } from '../core/crypto.ts'
import { decodeTx } from '../core/tx.ts'
import type { VerifyPool } from './verifyPool.ts'
import type { SigningKey } from '../core/crypto.ts'
import type { ConsensusApp, ProposeRequest, ValidatedBlock } from '../consensus/app.ts'
import type { Chain } from './chain.ts'
import type { Mempool } from './mempool.ts'

export class ChainApp implements ConsensusApp {
  /** Executions of blocks this app validated or proposed, until they are committed or dropped. */
  private readonly executions = new WeakMap<ValidatedBlock, BlockExecution>()
  private readonly workListeners = new Set<() => void>()

  constructor (private readonly chain: Chain, private readonly mempool: Mempool, private readonly signer: SigningKey | null, private readonly pool?: VerifyPool) {
    mempool.on('added', () => { for (const f of this.workListeners) f() })
  }

  get chainId (): string { return this.chain.chainId }
  get initialHeight (): number { return this.chain.genesis.initialHeight }
  get validators (): Chain['validators'] { return this.chain.validators }
  validatorsAt (height: number): Chain['validators'] | undefined { return this.chain.validatorsAtSync(height) }
  get synchrony (): ConsensusApp['synchrony'] { return this.chain.genesis.synchrony }
  get pacing (): ConsensusApp['pacing'] { return { blockTimeMs: this.chain.params.blockTimeMs, emptyBlockIntervalMs: this.chain.params.emptyBlockIntervalMs } }

  height (): number { return this.chain.height }
  lastBlockTime (): number { return this.chain.meta.lastBlockTime }
  hasWork (): boolean { return this.mempool.size > 0 || this.chain.state.openJobs.size > 0 }
  onWork (f: () => void): void { this.workListeners.add(f) }
  offWork (f: () => void): void { this.workListeners.delete(f) }

  txBytes (hash: string): Uint8Array | undefined { return this.mempool.lookup(hash)?.tx.bytes }

  propose (req: ProposeRequest): ValidatedBlock {
    if (this.signer === null) throw new Error('this node has no validator key: it cannot propose')
    const p = this.chain.params
    const { block, exec } = createProposal(this.chain.view(), { signer: this.signer, time: req.time, lastCommit: req.lastCommit, txs: this.mempool.list(p.maxBlockTxs), evidence: req.evidence })
    return this.remember({ block, error: null }, exec)
  }

  validate (block: Block, opts: { lastCommitVerified?: boolean, proposer?: Uint8Array } = {}): ValidatedBlock {
    try {
      const exec = validateBlock(this.chain.view(), block, { ...opts, knownTx: h => this.mempool.get(h) })
      return this.remember({ block, error: null }, exec)
    } catch (e) {
      if (e instanceof BlockError) return { block, error: e.message }
      throw e
    }
  }

  async prepare (blocks: Block[], commits: Commit[]): Promise<void> {
    const pool = this.pool
    if (pool === undefined || pool.size === 0) return
    const checks: Array<Promise<void>> = []
    // A commit is usually both a block's certificate and the next block's last_commit: each signature is checked once.
    const asked = new Set<string>()
    const check = (pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): void => {
      const k = toHex(sig)
      if (asked.has(k)) return
      asked.add(k)
      checks.push(pool.verify(pub, msg, sig).then(ok => { if (ok) rememberVerified(pub, msg, sig) }))
    }
    for (const b of blocks) {
      for (const bytes of b.txs) {
        let tx
        try { tx = decodeTx(bytes, { verify: false }) } catch { continue } // validation will say why
        if (this.mempool.get(tx.hash) === undefined) check(tx.senderPubkey, tx.signBytes, tx.signature)
      }
    }
    const vals = this.chain.validators
    for (const c of [...commits, ...blocks.map(b => b.lastCommit).filter((c): c is Commit => c !== null)]) {
      for (const s of c.signatures) {
        if (s.blockIdFlag !== BLOCK_ID_FLAG_COMMIT) continue
        const v = vals.find(x => bytesEqual(x.address, s.validatorAddress))
        if (v !== undefined) check(v.pubKey, voteSignBytes(this.chain.chainId, VOTE_PRECOMMIT, c.height, c.round, c.blockHash, s.timestamp), s.signature)
      }
    }
    await Promise.all(checks)
  }

  async commit (v: ValidatedBlock, commit: Commit, opts: { sync?: boolean } = {}): Promise<void> {
    const exec = this.executions.get(v)
    if (v.error !== null || exec === undefined) throw new Error('commit of a block that was not validated here')
    await this.chain.commitBlock(v.block, commit, exec, opts)
  }

  async blockBytes (height: number): Promise<Uint8Array | undefined> { return await this.chain.store.getBlockBytes(height) }
  async commitBytes (height: number): Promise<Uint8Array | undefined> { return await this.chain.store.getCommitBytes(height) }

  async commitAt (height: number): Promise<Commit | undefined> { return await this.chain.store.getCommit(height) }

  private remember (v: ValidatedBlock, exec: BlockExecution): ValidatedBlock {
    this.executions.set(v, exec)
    return v
  }
}
