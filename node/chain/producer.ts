// Block building for the proposer: txs from the mempool (those still valid), then the assigns
// the deterministic draw requires, then the header with the app hash of the executed state.
import { Overlay } from '../core/state.ts'
import { applyTx, assignableJobs, beginBlock, checkEvidence, type BlockContext, type BlockExecution, type TxResult } from '../core/transition.ts'
import { TxError } from '../core/errors.ts'
import { signTx, type Tx } from '../core/tx.ts'
import { commitHash, dataHash, validatorsHash, EMPTY_HASH, type Block, type Commit, type Header } from '../core/block.ts'
import { fromHex, addressBytesFromPubkey } from '../core/crypto.ts'
import type { PrivValidator } from './privval.ts'
import type { Chain } from './chain.ts'
import type { Mempool } from './mempool.ts'

export interface BuiltBlock { block: Block, exec: BlockExecution }

/** Builds (proposes) the next block from the mempool, adding the assigns the draw requires. */
export function buildBlock (chain: Chain, mempool: Mempool, pv: PrivValidator, time: number, lastCommit: Commit | null, evidence: Uint8Array[] = []): BuiltBlock {
  const meta = chain.meta
  const height = meta.height + 1
  const prevBlockHash = meta.lastBlockHash === '' ? new Uint8Array(0) : fromHex(meta.lastBlockHash)
  const base: BlockContext = { chainId: chain.chainId, height, time, proposer: pv.key.address, prevBlockHash, validators: chain.validators }
  // Only evidence that is valid and new (each offence once) goes in.
  const seen = new Set<string>()
  evidence = evidence.filter(e => {
    const r = checkEvidence(chain.state, e, base)
    if (typeof r === 'string' || seen.has(`${r.address}:${r.offence}`)) return false
    seen.add(`${r.address}:${r.offence}`)
    return true
  })
  const ctx: BlockContext = { ...base, evidence }
  const overlay = new Overlay(chain.state)
  const beginEvents = beginBlock(overlay, ctx)
  const txs: Tx[] = []
  const txResults: TxResult[] = []
  const p = chain.params
  let bytes = 0
  for (const tx of mempool.list(p.maxBlockTxs)) {
    if (bytes + tx.bytes.length > p.maxBlockBytes) break
    try {
      txResults.push(applyTx(overlay, tx, ctx, 'deliver'))
      txs.push(tx)
      bytes += tx.bytes.length
    } catch (e) {
      if (!(e instanceof TxError)) throw e // invalid now (the mempool's re-check evicts it after this block)
    }
  }
  for (const { job, miner } of assignableJobs(overlay, prevBlockHash)) {
    const nonce = overlay.account(pv.key.address)?.nonce ?? 0
    const tx = signTx(pv.key, { chainId: chain.chainId, nonce, fee: 0n, body: { type: 'assign', jobId: job.id, miner: miner.address } })
    txResults.push(applyTx(overlay, tx, ctx, 'deliver'))
    txs.push(tx)
  }
  const txBytes = txs.map(t => t.bytes)
  const vh = validatorsHash(chain.validators)
  const header: Header = {
    chainId: chain.chainId,
    height,
    time,
    lastBlockHash: prevBlockHash,
    lastCommitHash: commitHash(lastCommit),
    dataHash: dataHash(txBytes),
    validatorsHash: vh,
    nextValidatorsHash: vh,
    consensusHash: EMPTY_HASH,
    appHash: chain.appHashAfter(overlay.changes()),
    lastResultsHash: fromHex(meta.lastResultsHash),
    evidenceHash: evidence.length === 0 ? EMPTY_HASH : dataHash(evidence),
    proposerAddress: addressBytesFromPubkey(pv.key.publicKey),
  }
  return { block: { header, txs: txBytes, evidence, lastCommit }, exec: { overlay, txs, txResults, beginEvents } }
}
