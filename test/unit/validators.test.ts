// Validators by stake: create_validator, validator_stake, validator_unbond, unjail (each refused
// case with its code, nothing written), power from stake, the set of the state after block H
// signing from H+2 (headers' next_validators_hash), missed precommits, jailing for downtime,
// double signing (slash, jail, tombstone), unbonded stake returning to the operator.
import { expect } from 'chai'
import { TxError, type TxErrorCode } from '../../node/core/errors.ts'
import { SigningKey, addressBytesFromPubkey, sha256, toHexUpper, utf8Bytes } from '../../node/core/crypto.ts'
import { Overlay, supplyHolds, type ValidatorBond } from '../../node/core/state.ts'
import { applyTx, type BlockContext } from '../../node/core/transition.ts'
import { signTx, type Tx, type TxBody } from '../../node/core/tx.ts'
import { validatorsHash, type Validator } from '../../node/core/block.ts'
import { activeSet, isValidConsensusKey, possessionMessage } from '../../node/core/validatorSet.ts'
import { trackDowntime, punishDoubleSign } from '../../node/core/validatorDuties.ts'
import { parseGenesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { MemChain, signCommit } from '../helpers/memChain.ts'

const AITBC = 1_000_000n
const FEE = 1000n
const key = (n: string): SigningKey => new SigningKey(sha256(utf8Bytes('validators-test/' + n)))
const VALS = ['v0', 'v1', 'v2', 'v3'].map(key)
const OP = key('operator')
const OTHER = key('other')
const CONS = key('consensus')
const idOf = (k: SigningKey): string => toHexUpper(addressBytesFromPubkey(k.publicKey))

function mkChain (o: { vals?: SigningKey[], params?: Record<string, unknown> } = {}): MemChain {
  const g = makeGenesisJSON({
    chainId: 'vt',
    genesisTime: '2025-01-01T00:00:00.000Z',
    validators: (o.vals ?? VALS).map((k, i) => ({ pubKey: k.publicKey, name: `v${i}`, stake: 1000n * AITBC })),
    accounts: [{ address: OP.address, balance: 5000n * AITBC }, { address: OTHER.address, balance: 5000n * AITBC }, ...(o.vals ?? VALS).map(k => ({ address: k.address, balance: 10n * AITBC }))],
    params: { min_fee: '1000', min_validator_stake: String(100n * AITBC), unbonding_blocks: 5, downtime_window: 10, downtime_max_missed: 4, jail_blocks: 3, downtime_slash_fraction: '0.01', ...o.params } as any,
  })
  return new MemChain(parseGenesis(g))
}

const nonces = new Map<string, number>()
function tx (chain: MemChain, k: SigningKey, b: TxBody): Tx {
  const n = chain.mem.account(k.address)?.nonce ?? 0
  return signTx(k, { chainId: chain.chainId, nonce: n, fee: FEE, body: b })
}
void nonces

function createBody (chain: MemChain, operator: SigningKey, cons: SigningKey, stake: bigint, moniker = 'mine'): TxBody {
  return { type: 'create_validator', pubKey: cons.publicKey, moniker, stake, possession: cons.sign(possessionMessage(chain.chainId, operator.address, cons.publicKey)) }
}

function ctxOf (chain: MemChain, height = chain.height + 1): BlockContext {
  return { chainId: chain.chainId, height, time: chain.last.time + 1000, proposer: VALS[0].address, randomness: new Uint8Array(32), validators: [...chain.validators] }
}

/** The tx is refused with `code`, and the overlay holds no write. */
function refused (chain: MemChain, t: Tx, code: TxErrorCode, msg?: RegExp, ctx = ctxOf(chain)): TxError {
  const o = new Overlay(chain.mem)
  const before = { ...o.totals() }
  let err: unknown
  try { applyTx(o, t, ctx, 'deliver') } catch (e) { err = e }
  expect(err, `${t.type} should be refused with ${code}`).to.be.instanceOf(TxError)
  expect((err as TxError).code).to.equal(code)
  if (msg !== undefined) expect((err as TxError).message).to.match(msg)
  expect(o.accounts.size + o.bonds.size + o.miners.size + o.jobs.size, 'writes').to.equal(0)
  expect(o.totals()).to.deep.equal(before)
  return err as TxError
}

/** Runs a block of txs, every validator in `signers` (default all of the set) signing its commit. */
function block (chain: MemChain, txs: Tx[] = [], signers?: SigningKey[]): void {
  const proposer = [...VALS, CONS].find(k => chain.validators.some(v => toHexUpper(v.address) === idOf(k))) as SigningKey
  const built = chain.propose(proposer, chain.last.time + 1000, txs)
  const exec = chain.validate(built.block)
  const all = [...VALS, CONS, key('c2')]
  const who = (signers ?? all).filter(k => chain.validators.some(v => toHexUpper(v.address) === idOf(k)))
  const commit = signCommit(chain.chainId, chain.validators, built.block, 0, who.map(k => ({ key: k, timestamp: chain.last.time + 1500 })))
  chain.commit(built.block, exec, commit)
  expect(supplyHolds(chain.mem.totals()), 'supply invariant').to.equal(true)
}

const bondOf = (chain: MemChain, k: SigningKey): ValidatorBond | undefined => chain.mem.validatorBond(idOf(k))
const inSet = (vals: readonly Validator[], k: SigningKey): boolean => vals.some(v => toHexUpper(v.address) === idOf(k))

describe('validators by stake', () => {
  describe('power from stake', () => {
    it('genesis validators bond their stake and have power stake / power_reduction; a genesis with only a power bonds power x power_reduction', () => {
      const chain = mkChain()
      expect(chain.validators.map(v => v.power)).to.deep.equal([1000, 1000, 1000, 1000])
      expect(bondOf(chain, VALS[0])?.operator).to.equal(VALS[0].address)
      const g = parseGenesis(makeGenesisJSON({ chainId: 'p', validators: [{ pubKey: VALS[0].publicKey, power: 7 }] }))
      expect(g.validators[0].stake).to.equal(7n * AITBC)
      expect(g.validators[0].power).to.equal(7)
      const d = parseGenesis(makeGenesisJSON({ chainId: 'p', validators: [{ pubKey: VALS[0].publicKey }] }))
      expect(d.validators[0].stake).to.equal(1000n * AITBC) // the default self-stake
    })

    it('the active set is the top max_validators by power, ties broken by the lower address', () => {
      const chain = mkChain({ params: { max_validators: 4 } })
      block(chain, [tx(chain, OP, createBody(chain, OP, CONS, 1000n * AITBC))]) // a fifth, of equal power
      const set = activeSet(chain.mem)
      expect(set).to.have.length(4)
      const ids = [...VALS, CONS].map(idOf).sort()
      expect(set.map(v => toHexUpper(v.address))).to.deep.equal(ids.slice(0, 4))
      block(chain, [tx(chain, OP, { type: 'validator_stake', amount: 1n * AITBC })]) // now the most power: first
      expect(toHexUpper(activeSet(chain.mem)[0].address)).to.equal(idOf(CONS))
    })
  })

  describe('create_validator', () => {
    it('bonds the self-stake; the set of the state after block H signs from H+2 and the headers say so', () => {
      const chain = mkChain()
      block(chain, [tx(chain, OP, createBody(chain, OP, CONS, 500n * AITBC))]) // block 1 carries it
      const h = chain.height
      const v = bondOf(chain, CONS)
      expect(v?.operator).to.equal(OP.address)
      expect(v?.stake).to.equal(500n * AITBC)
      expect(chain.mem.account(OP.address)?.balance).to.equal(5000n * AITBC - 500n * AITBC - FEE)
      expect(inSet(chain.validators, CONS), 'not in the set of H+1').to.equal(false)
      expect(inSet(chain.nextValidators, CONS), 'in the set of H+2').to.equal(true)
      const oldHash = validatorsHash(chain.validators)
      block(chain) // H+1: its header names the new set as next
      const b1 = chain.blocks.at(-1)!.block.header
      expect(b1.validatorsHash).to.deep.equal(oldHash)
      expect(b1.nextValidatorsHash).to.deep.equal(validatorsHash(chain.validators))
      expect(chain.height).to.equal(h + 1)
      block(chain) // H+2: signed by the new set, the new validator included
      expect(chain.blocks.at(-1)!.block.header.validatorsHash).to.deep.equal(b1.nextValidatorsHash)
      expect(chain.lastValidators.find(v => toHexUpper(v.address) === idOf(CONS))?.power).to.equal(500)
    })

    it('refuses a key in use, a key that is not a valid ed25519 point, a bond below min_validator_stake, a proof made for another account, a second validator of one operator', () => {
      const chain = mkChain()
      refused(chain, tx(chain, OP, createBody(chain, OP, VALS[1], 500n * AITBC)), 'KEY_IN_USE', /already the key of a validator operated by/)
      const bad = new Uint8Array(32).fill(0xff) // y >= p: no point
      refused(chain, tx(chain, OP, { type: 'create_validator', pubKey: bad, moniker: 'x', stake: 500n * AITBC, possession: new Uint8Array(64) }), 'INVALID_PUBKEY')
      const identity = new Uint8Array(32); identity[0] = 1 // the identity point: small order
      refused(chain, tx(chain, OP, { type: 'create_validator', pubKey: identity, moniker: 'x', stake: 500n * AITBC, possession: new Uint8Array(64) }), 'INVALID_PUBKEY')
      refused(chain, tx(chain, OP, createBody(chain, OP, CONS, 99n * AITBC)), 'STAKE_TOO_LOW', /min_validator_stake/)
      // OTHER's proof names OTHER: OP cannot claim the key with it.
      refused(chain, tx(chain, OP, createBody(chain, OTHER, CONS, 500n * AITBC)), 'BAD_POSSESSION_PROOF', /for operator/)
      // a proof for another chain id
      const wrongChain: TxBody = { type: 'create_validator', pubKey: CONS.publicKey, moniker: 'x', stake: 500n * AITBC, possession: CONS.sign(possessionMessage('other-chain', OP.address, CONS.publicKey)) }
      refused(chain, tx(chain, OP, wrongChain), 'BAD_POSSESSION_PROOF')
      refused(chain, tx(chain, OP, createBody(chain, OP, CONS, 6000n * AITBC)), 'INSUFFICIENT_FUNDS')
      block(chain, [tx(chain, OP, createBody(chain, OP, CONS, 500n * AITBC))])
      // the key now belongs to OP's validator: OTHER cannot take it, even with a proof for itself.
      refused(chain, tx(chain, OTHER, createBody(chain, OTHER, CONS, 500n * AITBC)), 'KEY_IN_USE', new RegExp(OP.address))
      refused(chain, tx(chain, OP, createBody(chain, OP, key('c2'), 500n * AITBC)), 'VALIDATOR_EXISTS')
      expect(isValidConsensusKey(CONS.publicKey)).to.equal(true)
    })
  })

  describe('validator_stake and validator_unbond', () => {
    it('stake adds power; unbond takes it away at H+2 and returns the tokens to the operator after unbonding_blocks', () => {
      const chain = mkChain()
      block(chain, [tx(chain, OP, createBody(chain, OP, CONS, 500n * AITBC))])
      block(chain, [tx(chain, OP, { type: 'validator_stake', amount: 100n * AITBC })])
      expect(bondOf(chain, CONS)?.stake).to.equal(600n * AITBC)
      expect(chain.nextValidators.find(v => toHexUpper(v.address) === idOf(CONS))?.power).to.equal(600)
      const balance = chain.mem.account(OP.address)?.balance as bigint
      block(chain, [tx(chain, OP, { type: 'validator_unbond', amount: 600n * AITBC })])
      const at = chain.height
      expect(bondOf(chain, CONS)?.unbonding).to.deep.equal([{ amount: 600n * AITBC, releaseHeight: at + 5, height: at }])
      expect(inSet(chain.nextValidators, CONS)).to.equal(false)
      while (chain.height < at + 4) block(chain)
      expect(chain.mem.account(OP.address)?.balance).to.equal(balance - FEE)
      block(chain) // at + 5: released
      expect(chain.mem.account(OP.address)?.balance).to.equal(balance - FEE + 600n * AITBC)
      expect(bondOf(chain, CONS)?.unbonding).to.deep.equal([])
    })

    it('refuses an unbond beyond the bond, one that would empty the set, and txs of an account that operates no validator', () => {
      const chain = mkChain()
      refused(chain, tx(chain, VALS[0], { type: 'validator_unbond', amount: 1001n * AITBC }), 'INVALID_AMOUNT', /exceeds the validator's bond/)
      refused(chain, tx(chain, OP, { type: 'validator_unbond', amount: 1n }), 'VALIDATOR_NOT_FOUND')
      refused(chain, tx(chain, OP, { type: 'validator_stake', amount: 1n }), 'VALIDATOR_NOT_FOUND')
      refused(chain, tx(chain, OP, { type: 'unjail' }), 'VALIDATOR_NOT_FOUND')
      const solo = mkChain({ vals: [VALS[0]] })
      refused(solo, tx(solo, VALS[0], { type: 'validator_unbond', amount: 1000n * AITBC }), 'VALIDATOR_SET_EMPTY')
      // below one unit of power is out of the set too
      refused(solo, tx(solo, VALS[0], { type: 'validator_unbond', amount: 1000n * AITBC - 1n }), 'VALIDATOR_SET_EMPTY')
    })
  })

  describe('downtime, jail and unjail', () => {
    it('a validator missing more than downtime_max_missed of downtime_window commits is jailed, slashed, out of the set at H+2; unjail after jail_blocks', () => {
      const chain = mkChain()
      const up = VALS.slice(0, 3)
      for (let i = 0; i < 5; i++) block(chain, [], up) // v3 misses heights 1..5; the 5th miss (> 4) is counted in block 6
      expect(bondOf(chain, VALS[3])?.missed).to.have.length(4)
      expect(bondOf(chain, VALS[3])?.jailedUntil).to.equal(null)
      block(chain, [], up)
      const h = chain.height
      const v = bondOf(chain, VALS[3])
      expect(v?.jailedUntil).to.equal(h + 3)
      expect(v?.stake).to.equal(990n * AITBC)
      expect(v?.slashed).to.equal(10n * AITBC)
      expect(inSet(chain.validators, VALS[3]), 'still in the set of H+1').to.equal(true)
      expect(inSet(chain.nextValidators, VALS[3]), 'out of the set of H+2').to.equal(false)
      refused(chain, tx(chain, VALS[3], { type: 'unjail' }), 'VALIDATOR_JAILED', new RegExp(`until height ${h + 3}`))
      while (chain.height < h + 2) block(chain, [], up)
      block(chain, [tx(chain, VALS[3], { type: 'unjail' })], up) // height h + 3
      expect(bondOf(chain, VALS[3])?.jailedUntil).to.equal(null)
      expect(inSet(chain.nextValidators, VALS[3])).to.equal(true)
      refused(chain, tx(chain, VALS[3], { type: 'unjail' }), 'NOT_JAILED')
    })

    it('misses older than the window are forgotten: one miss in each window never jails', () => {
      const chain = mkChain({ params: { downtime_window: 4, downtime_max_missed: 1 } })
      for (let i = 0; i < 16; i++) block(chain, [], i % 4 === 0 ? VALS.slice(0, 3) : VALS)
      expect(bondOf(chain, VALS[3])?.jailedUntil).to.equal(null)
      expect(bondOf(chain, VALS[3])?.missed.length).to.be.at.most(1)
    })

    it('trackDowntime counts only the validators of the set that signed the last block, and only commits it lacks', () => {
      const chain = mkChain()
      const o = new Overlay(chain.mem)
      const commit = { height: 5, round: 0, blockHash: new Uint8Array(32), signatures: [] }
      trackDowntime(o, 6, commit, chain.validators.filter(v => toHexUpper(v.address) === idOf(VALS[0])))
      expect(o.bonds.size).to.equal(1)
      expect(o.validatorBond(idOf(VALS[0]))?.missed).to.deep.equal([5])
    })

    it('double signing slashes, jails and tombstones for good: unjail and stake are refused', () => {
      const chain = mkChain()
      const o = new Overlay(chain.mem)
      punishDoubleSign(o, idOf(VALS[2]), '1:0:1', 1)
      const v = o.validatorBond(idOf(VALS[2]))
      expect(v?.tombstoned).to.equal(true)
      expect(v?.stake).to.equal(900n * AITBC)
      expect(activeSet(o).some(x => toHexUpper(x.address) === idOf(VALS[2]))).to.equal(false)
      chain.mem.apply(o.changes())
      refused(chain, tx(chain, VALS[2], { type: 'unjail' }), 'TOMBSTONED')
      refused(chain, tx(chain, VALS[2], { type: 'validator_stake', amount: 1n }), 'TOMBSTONED')
    })
  })
})
