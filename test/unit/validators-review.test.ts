// Attacks on validator slashing and the set found by a second review of issue 13; each failed
// before its fix: an unbond one block before a double sign escaped most of the slash, one
// incident was slashed once per piece of evidence, ties at max_validators went by stake below one
// unit of power, a tombstoned sole validator could never unbond what it had left.
import { expect } from 'chai'
import { SigningKey, addressBytesFromPubkey, sha256, toHexUpper, utf8Bytes } from '../../node/core/crypto.ts'
import { supplyHolds } from '../../node/core/state.ts'
import { signTx, type Tx, type TxBody } from '../../node/core/tx.ts'
import { voteSignBytes, VOTE_PREVOTE, VOTE_PRECOMMIT } from '../../node/core/block.ts'
import { pack } from '../../node/core/codec.ts'
import { activeSet, possessionMessage } from '../../node/core/validatorSet.ts'
import { parseGenesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { MemChain, signCommit } from '../helpers/memChain.ts'

const AITBC = 1_000_000n
const FEE = 1000n
const key = (n: string): SigningKey => new SigningKey(sha256(utf8Bytes('validators-test/' + n)))
const VALS = ['v0', 'v1', 'v2', 'v3'].map(key)
const OP = key('operator')
const idOf = (k: SigningKey): string => toHexUpper(addressBytesFromPubkey(k.publicKey))

function mkChain (o: { vals?: SigningKey[], stakes?: bigint[], params?: Record<string, unknown> } = {}): MemChain {
  const vals = o.vals ?? VALS
  const g = makeGenesisJSON({
    chainId: 'vt',
    genesisTime: '2025-01-01T00:00:00.000Z',
    validators: vals.map((k, i) => ({ pubKey: k.publicKey, name: `v${i}`, stake: o.stakes?.[i] ?? 1000n * AITBC })),
    accounts: [{ address: OP.address, balance: 5000n * AITBC }, ...vals.map(k => ({ address: k.address, balance: 10n * AITBC }))],
    params: { min_fee: '1000', min_validator_stake: String(100n * AITBC), unbonding_blocks: 5, downtime_window: 10, downtime_max_missed: 4, jail_blocks: 3, downtime_slash_fraction: '0.01', ...o.params } as any,
  })
  return new MemChain(parseGenesis(g))
}
function tx (chain: MemChain, k: SigningKey, b: TxBody): Tx {
  return signTx(k, { chainId: chain.chainId, nonce: chain.mem.account(k.address)?.nonce ?? 0, fee: FEE, body: b })
}
const ALL = (): SigningKey[] => [...VALS, OP, key('v4')]
function block (chain: MemChain, txs: Tx[] = [], evidence?: Uint8Array[]): void {
  const proposer = ALL().find(k => chain.validators.some(v => toHexUpper(v.address) === idOf(k)))!
  const built = chain.propose(proposer, chain.last.time + 1000, txs, { evidence })
  const exec = chain.validate(built.block)
  const who = ALL().filter(k => chain.validators.some(v => toHexUpper(v.address) === idOf(k)))
  chain.commit(built.block, exec, signCommit(chain.chainId, chain.validators, built.block, 0, who.map(k => ({ key: k, timestamp: chain.last.time + 1500 }))))
  expect(supplyHolds(chain.mem.totals())).to.equal(true)
}
/** Two conflicting votes by `k` at (height, round, type), packed as block evidence. */
function dupVote (chainId: string, k: SigningKey, height: number, round = 0, type = VOTE_PREVOTE): Uint8Array {
  const v = (b: number): unknown[] => { const h = new Uint8Array(32).fill(b); return [type, height, round, h, 1, addressBytesFromPubkey(k.publicKey), k.sign(voteSignBytes(chainId, type, height, round, h, 1))] }
  return pack([v(1), v(2)])
}

describe('validators: attacks from the second review', () => {
  it('stake unbonded in block U still votes at U+1, and a double sign at U+1 slashes it too', () => {
    const chain = mkChain({ params: { unbonding_blocks: 20 } })
    block(chain)
    block(chain, [tx(chain, VALS[0], { type: 'validator_unbond', amount: 900n * AITBC })])
    const U = chain.height
    block(chain) // height U+1
    const powerAtU1 = chain.lastValidators.find(v => toHexUpper(v.address) === idOf(VALS[0]))!.power
    block(chain, [], [dupVote(chain.chainId, VALS[0], U + 1)])
    const b = chain.mem.validatorBond(idOf(VALS[0]))!
    expect(powerAtU1).to.equal(1000)
    expect(b.slashed).to.equal(100n * AITBC) // 10% of the 1,000 AITBC that signed twice (was 10: only the bond left)
  })

  it('one incident (prevote and precommit at one height, and the next height) is slashed once; a tombstone ends the punishment', () => {
    const chain = mkChain()
    block(chain); block(chain)
    block(chain, [], [dupVote(chain.chainId, VALS[1], 1, 0, VOTE_PREVOTE), dupVote(chain.chainId, VALS[1], 1, 0, VOTE_PRECOMMIT), dupVote(chain.chainId, VALS[1], 2, 0, VOTE_PREVOTE)])
    const b = chain.mem.validatorBond(idOf(VALS[1]))!
    expect(b.tombstoned).to.equal(true)
    expect(b.slashed).to.equal(100n * AITBC) // was 271: 10% compounded three times
  })

  it('ties at the max_validators cut go by power, then the lower address, not by stake below one unit of power', () => {
    let i = 0; let c = key('c0')
    while (![...VALS].every(k => idOf(k) < idOf(c))) c = key(`c${++i}`)
    const chain = mkChain({ params: { max_validators: 5 } })
    const body: TxBody = { type: 'create_validator', pubKey: c.publicKey, moniker: 'x', stake: 1000n * AITBC + 500_000n, possession: c.sign(possessionMessage(chain.chainId, OP.address, c.publicKey)) }
    block(chain, [tx(chain, OP, body)])
    const p = { ...chain.mem.params, maxValidators: 4 }
    const set = activeSet({ ...chain.mem, params: p, validatorAddresses: () => chain.mem.validatorAddresses(), validatorBond: (a: string) => chain.mem.validatorBond(a) } as any)
    expect(set.map(v => v.power)).to.deep.equal([1000, 1000, 1000, 1000])
    expect(set.some(v => toHexUpper(v.address) === idOf(c)), 'the highest address of five equal powers is cut').to.equal(false)
  })

  it('a tombstoned sole validator (the set kept so the chain goes on) may still unbond what it has left', () => {
    const chain = mkChain({ vals: [VALS[0]] })
    block(chain); block(chain)
    block(chain, [], [dupVote(chain.chainId, VALS[0], 2)])
    block(chain); block(chain)
    const b = chain.mem.validatorBond(idOf(VALS[0]))!
    expect(b.tombstoned).to.equal(true)
    block(chain, [tx(chain, VALS[0], { type: 'validator_unbond', amount: b.stake })]) // was refused VALIDATOR_SET_EMPTY
    expect(chain.mem.validatorBond(idOf(VALS[0]))!.stake).to.equal(0n)
  })
})
