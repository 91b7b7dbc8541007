// Attack: the proposer sets the block time. Block time decides expiry and slashing (a job assigned
// longer than job_timeout_s expires and its miner loses stake), so a proposer that dated its block
// 61 s ahead expired every assigned job and slashed each miner; Infinity or >= 2^53 halted the
// chain, NaN expired everything, a fractional time crashed record_receipt. Now a block (and a
// commit) decodes only with safe integer times, and block time is proposer-based: honest
// validators prevote nil on a proposal whose time is not close to their own clock (engine.test.ts,
// "attack: a proposer that dates its block"); the state transition checks that time advances.
import { expect } from 'chai'
import { pack } from '../../node/core/codec.ts'
import { BlockError } from '../../node/core/errors.ts'
import { executeBlock, validateBlock } from '../../node/core/executor.ts'
import { BlockDecodeError, decodeBlock, encodeBlock, headerTuple, commitTuple, BLOCK_ID_FLAG_COMMIT, type Block } from '../../node/core/block.ts'
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
    params: { job_timeout_s: 60, assign_timeout_s: 60, verification_rate: '0' },
  }))
  const chain = new MemChain(g)
  const submit = signTx(CLIENT, { chainId: g.chainId, nonce: 0, fee: 1000n, body: { type: 'submit_job', model: 'm', prompt: 'hi', options: { temperature: null, numPredict: null, seed: null }, maxFee: AITBC, maxPricePerSecond: null } })
  const b1 = chain.propose(VALS[1], T0 + 1000, [submit])
  chain.commit(b1.block, b1.exec, signCommit(g.chainId, chain.validators, b1.block, 0, VALS.map((key, i) => ({ key, timestamp: T0 + 1000 + i }))))
  // Assigns open the next block (after its beacon), drawn from the state at its start.
  const b2 = chain.propose(VALS[2], T0 + 1500, [])
  expect(b2.exec.txs.map(t => t.type)).to.deep.equal(['beacon', 'assign'])
  chain.commit(b2.block, b2.exec, signCommit(g.chainId, chain.validators, b2.block, 0, VALS.map((key, i) => ({ key, timestamp: T0 + 1500 + i }))))
  return { chain, jobTime: T0 }
}

describe('attack: a proposer that sets the block time', () => {
  it('+61 s would expire the assigned job and slash its miner (why the engine refuses untimely proposals)', () => {
    const { chain } = chainWithAssignedJob()
    const ctx = { chainId: chain.chainId, height: 3, time: T0 + 1500 + 61_000, proposer: addressFromPubkey(VALS[2].publicKey), randomness: new Uint8Array(32), evidence: [], validators: chain.validators }
    const exec = executeBlock(chain.mem, [], ctx)
    expect(exec.beginEvents.map(e => e.type)).to.include.members(['expire_job', 'slash'])
  })

  it('a block whose time does not advance past the last block\'s is refused (BLOCK_BAD_TIME)', () => {
    const { chain } = chainWithAssignedJob()
    const b2 = chain.propose(VALS[3], T0 + 2000, [])
    const block: Block = { ...b2.block, header: { ...b2.block.header, time: chain.last.time } }
    expect(() => validateBlock(chain.view(), block)).to.throw(BlockError, /does not advance/).with.property('code', 'BLOCK_BAD_TIME')
    expect(() => chain.propose(VALS[3], chain.last.time, [])).to.throw(BlockError, /after the last block/).with.property('code', 'BLOCK_BAD_TIME')
  })

  for (const [name, time] of [['Infinity', Infinity], ['2^53', 2 ** 53], ['NaN', NaN], ['a fraction', T0 + 0.5], ['a negative time', -1]] as const) {
    it(`a header time of ${name} does not decode (never reaches the state transition)`, () => {
      const { chain } = chainWithAssignedJob()
      const honest = chain.propose(VALS[3], T0 + 2000, [])
      const t = encodeBlock(honest.block)
      const tuple = [headerTuple({ ...honest.block.header, time }), honest.block.txs, honest.block.evidence, commitTuple(honest.block.lastCommit!)]
      expect(decodeBlock(t).header.time).to.equal(honest.block.header.time)
      expect(() => decodeBlock(pack(tuple))).to.throw(BlockDecodeError, /header time/)
    })
    it(`a commit timestamp of ${name} does not decode`, () => {
      const { chain } = chainWithAssignedJob()
      const honest = chain.propose(VALS[3], T0 + 2000, [])
      const c = honest.block.lastCommit!
      const bad = { ...c, signatures: c.signatures.map((s, i) => i === 0 ? { ...s, timestamp: time, blockIdFlag: BLOCK_ID_FLAG_COMMIT, validatorAddress: addressBytesFromPubkey(VALS[0].publicKey) } : s) }
      expect(() => decodeBlock(pack([headerTuple(honest.block.header), honest.block.txs, honest.block.evidence, commitTuple(bad)]))).to.throw(BlockDecodeError, /timestamp/)
    })
  }
})
