// Attack: the proposer sets the block time. Block time decides expiry and slashing (a job assigned
// longer than job_timeout_s expires and its miner loses stake), so a proposer that dates its block
// 61 s ahead expired every assigned job and slashed each miner; Infinity or >= 2^53 halted the
// chain, NaN expired everything, a fractional time crashed record_receipt. Block time is now BFT
// time: the power-weighted median of the last commit's precommit timestamps, which less than 1/3
// of the power cannot move; every validator recomputes it and refuses any other time.
import { expect } from 'chai'
import { pack } from '../../node/core/codec.ts'
import { BlockError } from '../../node/core/errors.ts'
import { executeBlock, validateBlock } from '../../node/core/executor.ts'
import { BlockDecodeError, decodeBlock, encodeBlock, headerTuple, medianTime, commitTuple, BLOCK_ID_FLAG_COMMIT, type Block } from '../../node/core/block.ts'
import { addressFromPubkey, addressBytesFromPubkey } from '../../node/core/crypto.ts'
import { signTx } from '../../node/core/tx.ts'
import { parseGenesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { MemChain, keyNamed, signCommit } from '../helpers/memChain.ts'

const VALS = [0, 1, 2, 3].map(i => keyNamed(`time-validator-${i}`))
const CLIENT = keyNamed('time-client')
const MINER = keyNamed('time-miner')
const T0 = Date.parse('2025-03-01T00:00:00.000Z')
const AITBC = 1_000_000n

function chainWithAssignedJob (): { chain: MemChain, jobTime: number } {
  const g = parseGenesis(makeGenesisJSON({
    chainId: 'aitbc-time',
    genesisTime: new Date(T0).toISOString(),
    validators: VALS.map(k => ({ pubKey: k.publicKey, power: 10 })),
    accounts: [{ address: CLIENT.address, balance: 100n * AITBC }, { address: MINER.address, balance: AITBC }],
    miners: [{ address: MINER.address, models: ['m'], pricePerSecond: 1000n, capacity: 4, stake: 100n * AITBC }],
    params: { job_timeout_s: 60, assign_timeout_s: 60 },
  }))
  const chain = new MemChain(g)
  const submit = signTx(CLIENT, { chainId: g.chainId, nonce: 0, fee: 1000n, body: { type: 'submit_job', model: 'm', prompt: 'hi', options: { temperature: null, numPredict: null, seed: null }, maxFee: AITBC, maxPricePerSecond: null } })
  const b1 = chain.propose(VALS[1], [submit])
  expect(b1.exec.txs.map(t => t.type)).to.deep.equal(['submit_job', 'assign'])
  chain.commit(b1.block, b1.exec, signCommit(g.chainId, chain.validators, b1.block, 0, VALS.map((key, i) => ({ key, timestamp: T0 + 1000 + i }))))
  return { chain, jobTime: T0 }
}

describe('attack: a proposer that sets the block time', () => {
  it('+61 s would expire the assigned job and slash its miner; the block is refused (BLOCK_BAD_TIME)', () => {
    const { chain } = chainWithAssignedJob()
    const honest = chain.propose(VALS[2], [])
    expect(honest.block.header.time).to.equal(T0 + 1001) // the weighted median of 1000..1003
    const warped = honest.block.header.time + 61_000
    // What the warped time would do if it were accepted:
    const ctx = { chainId: chain.chainId, height: 2, time: warped, proposer: addressFromPubkey(VALS[2].publicKey), prevBlockHash: chain.last.hash, evidence: [], validators: chain.validators }
    const exec = executeBlock(chain.mem, [], ctx)
    expect(exec.beginEvents.map(e => e.type)).to.include.members(['expire_job', 'slash'])
    // It is not accepted: the header's time must be the BFT time of the last commit.
    const block: Block = { ...honest.block, header: { ...honest.block.header, time: warped } }
    expect(() => validateBlock(chain.view(), block)).to.throw(BlockError, /not the BFT time/).with.property('code', 'BLOCK_BAD_TIME')
  })

  it('the proposer\'s own precommit cannot move the median: one timestamp of 2^53 - 1 or 0 among four', () => {
    const { chain } = chainWithAssignedJob()
    const b2 = chain.propose(VALS[2], [])
    for (const extreme of [Number.MAX_SAFE_INTEGER, 0]) {
      const c = signCommit(chain.chainId, chain.validators, b2.block, 0, VALS.map((key, i) => ({ key, timestamp: i === 2 ? extreme : T0 + 2000 + i })))
      const t = medianTime(c, chain.validators) as number
      expect(t).to.be.within(T0 + 2000, T0 + 2003)
    }
  })

  it('a median that does not advance past the last block time is refused', () => {
    const { chain } = chainWithAssignedJob()
    const b2 = chain.propose(VALS[2], [])
    chain.commit(b2.block, b2.exec, signCommit(chain.chainId, chain.validators, b2.block, 0, VALS.map(key => ({ key, timestamp: b2.block.header.time }))))
    const b3 = chain.propose(VALS[3], [])
    expect(() => validateBlock(chain.view(), b3.block)).to.throw(BlockError, /does not advance/).with.property('code', 'BLOCK_BAD_TIME')
  })

  for (const [name, time] of [['Infinity', Infinity], ['2^53', 2 ** 53], ['NaN', NaN], ['a fraction', T0 + 0.5], ['a negative time', -1]] as const) {
    it(`a header time of ${name} does not decode (never reaches the state transition)`, () => {
      const { chain } = chainWithAssignedJob()
      const honest = chain.propose(VALS[2], [])
      const t = encodeBlock(honest.block)
      const tuple = [headerTuple({ ...honest.block.header, time }), honest.block.txs, honest.block.evidence, commitTuple(honest.block.lastCommit!)]
      expect(decodeBlock(t).header.time).to.equal(honest.block.header.time)
      expect(() => decodeBlock(pack(tuple))).to.throw(BlockDecodeError, /header time/)
    })
    it(`a commit timestamp of ${name} does not decode`, () => {
      const { chain } = chainWithAssignedJob()
      const honest = chain.propose(VALS[2], [])
      const c = honest.block.lastCommit!
      const bad = { ...c, signatures: c.signatures.map((s, i) => i === 0 ? { ...s, timestamp: time, blockIdFlag: BLOCK_ID_FLAG_COMMIT, validatorAddress: addressBytesFromPubkey(VALS[0].publicKey) } : s) }
      expect(() => decodeBlock(pack([headerTuple(honest.block.header), honest.block.txs, honest.block.evidence, commitTuple(bad)]))).to.throw(BlockDecodeError, /timestamp/)
    })
  }
})
