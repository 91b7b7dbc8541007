// Builds a chain offline, straight into validator-0's store of a (stopped) testnet, as the
// network would have: the proposer of each height builds the block from the txs given for it,
// and every validator signs its commit. For benchmarks that need a long chain quickly.
import { readFileSync } from 'node:fs'
import { addressBytesFromPubkey } from '../node/core/crypto.ts'
import { parseGenesis } from '../genesis/genesis.ts'
import { blockHash, voteSignBytes, VOTE_PRECOMMIT, BLOCK_ID_FLAG_COMMIT, type Commit } from '../node/core/block.ts'
import type { Tx } from '../node/core/tx.ts'
import { homePaths, readKeyFile } from '../node/config.ts'
import { ChainStore } from '../node/chain/store.ts'
import { Chain } from '../node/chain/chain.ts'
import { Mempool } from '../node/chain/mempool.ts'
import { createProposal } from '../node/core/executor.ts'
import { silentLogger } from '../node/logger.ts'
import type { Testnet } from '../test/helpers/testnet.ts'

export async function generateChain (net: Testnet, blocks: number, txsFor: (height: number, chainId: string) => Tx[]): Promise<{ ms: number, txs: number }> {
  const v0 = net.validators[0]
  const genesis = parseGenesis(JSON.parse(readFileSync(homePaths(v0.home).genesis, 'utf8')))
  const store = await ChainStore.open(homePaths(v0.home).db)
  const chain = new Chain(genesis, store, silentLogger())
  await chain.init()
  const mempool = new Mempool({ maxTxs: 100_000, maxBytes: 1 << 28 }, chain, silentLogger())
  const valKeys = net.validators.map(n => readKeyFile(homePaths(n.home).privKey))
  const t0 = performance.now()
  let lastCommit: Commit | null = null
  let time = Date.parse(genesis.genesisTime)
  let txs = 0
  try {
    for (let h = 1; h <= blocks; h++) {
      const want = txsFor(h, genesis.chainId)
      for (const tx of want) mempool.add(tx.bytes)
      time += 1000
      const { block, exec } = createProposal(chain.view(), { signer: valKeys[h % valKeys.length], time, lastCommit, txs: mempool.list(genesis.params.maxBlockTxs) })
      if (block.txs.length !== want.length) throw new Error(`block ${h} holds ${block.txs.length} txs, expected ${want.length}`)
      txs += block.txs.length
      const hash = blockHash(block.header)
      const commit: Commit = {
        height: h, round: 0, blockHash: hash,
        signatures: valKeys.map(k => ({ blockIdFlag: BLOCK_ID_FLAG_COMMIT, validatorAddress: addressBytesFromPubkey(k.publicKey), timestamp: time, signature: k.sign(voteSignBytes(genesis.chainId, VOTE_PRECOMMIT, h, 0, hash, time)) })),
      }
      await chain.commitBlock(block, commit, exec, { sync: h === blocks })
      lastCommit = commit
    }
  } finally {
    await store.close()
  }
  return { ms: performance.now() - t0, txs }
}
