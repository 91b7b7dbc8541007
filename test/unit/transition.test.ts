// Table-driven tests of the state transition (docs/protocol.md section 3): every tx type, the job lifecycle,
// settlement, expiry, the miner draw and block execution. Every rejection asserts the TxError
// code and that nothing changed, both in an overlay and as a block through executeBlock.
import { expect } from 'chai'
import { BlockError, TxError, type TxErrorCode } from '../../node/core/errors.ts'
import { sha256, toHex, utf8Bytes } from '../../node/core/crypto.ts'
import { pack, unpack } from '../../node/core/codec.ts'
import {
  Overlay, REPUTATION_EXPIRED, REPUTATION_INITIAL, decodeAccount, decodeJob, decodeMiner, encodeAccount, encodeChangeSet,
  encodeJob, encodeMiner, supplyHolds, type Job, type Miner,
} from '../../node/core/state.ts'
import { applyTx, type BlockContext, type Mode } from '../../node/core/transition.ts'
import { assignableJobs, drawMiner } from '../../node/core/draw.ts'
import { executeBlock } from '../../node/core/executor.ts'
import { decodeTx, jobIdFromTxHash, receiptIdFromTxHash, type Tx } from '../../node/core/tx.ts'
import type { SigningKey } from '../../node/core/crypto.ts'
import { ChainSim, body, keyOf, type BlockOptions, type ParamsJSON, type SimMinerSpec } from '../helpers/chainSim.ts'

const AITBC = 1_000_000n
const FEE = 1000n
const ALICE = keyOf('alice')
const BOB = keyOf('bob')
const DAVE = keyOf('dave')
const POOR = keyOf('poor')
const NOBODY = keyOf('nobody')
const M1 = keyOf('miner1')
const M2 = keyOf('miner2')

const PARAMS: ParamsJSON = {
  min_fee: '1000', max_prompt_bytes: 64, max_result_bytes: 64, min_miner_stake: '100000000', slash_fraction: '0.1',
  unbonding_blocks: 3, assign_timeout_s: 60, job_timeout_s: 60,
}
const TWO_MINERS: SimMinerSpec[] = [
  { key: M1, models: ['llama3'], pricePerSecond: 20_000n, capacity: 2, stake: 200n * AITBC },
  { key: M2, models: ['llama3', 'mistral'], pricePerSecond: 50_000n, capacity: 1, stake: 300n * AITBC },
]

function mkSim (o: { miners?: SimMinerSpec[], params?: ParamsJSON } = {}): ChainSim {
  return new ChainSim({
    accounts: [
      { key: ALICE, balance: 1000n * AITBC }, { key: BOB, balance: 1000n * AITBC }, { key: DAVE, balance: 1000n * AITBC },
      { key: POOR, balance: 5000n }, { key: M1, balance: 10n * AITBC }, { key: M2, balance: 10n * AITBC },
    ],
    miners: o.miners ?? TWO_MINERS,
    params: { ...PARAMS, ...o.params },
  })
}

/** A job on a model no miner serves: it stays pending. */
function pendingJob (sim: ChainSim, client: SigningKey = ALICE, maxFee = 1n * AITBC, model = 'phi3'): string {
  const tx = sim.sign(client, body.submit(model, 'why is the sky blue?', maxFee))
  sim.block([tx])
  const id = jobIdFromTxHash(tx.hash)
  expect(sim.job(id).status).to.equal('pending')
  return id
}

/** A llama3 job, assigned by the proposer at the start of the block after the one that includes it (`o`: that block's options). */
function assignedJob (sim: ChainSim, client: SigningKey = ALICE, maxFee = 1n * AITBC, o: BlockOptions = {}): { id: string, miner: SigningKey } {
  const tx = sim.sign(client, body.submit('llama3', 'why is the sky blue?', maxFee))
  sim.block([tx])
  sim.block([], o)
  const id = jobIdFromTxHash(tx.hash)
  const j = sim.job(id)
  expect(j.status).to.equal('assigned')
  return { id, miner: sim.keyFor(j.miner as string) }
}

function otherMiner (m: SigningKey): SigningKey { return m.address === M1.address ? M2 : M1 }

/**
 * Applies tx to a fresh overlay and expects TxError `code` with no write at all; in 'deliver'
 * mode also runs it as a block through executeBlock (BLOCK_BAD_TX) and checks nothing was committed.
 */
function expectReject (sim: ChainSim, tx: Tx, code: TxErrorCode, mode: Mode = 'deliver'): void {
  // The next block as far as its beacon (when it draws), as a block made by hand starts.
  const { overlay: ov, ctx } = sim.begin()
  const before = sim.dump(ov)
  const written = (): number => ov.accounts.size + ov.miners.size + ov.jobs.size
  const writtenBefore = written()
  let err: unknown
  try { applyTx(ov, tx, ctx, mode) } catch (e) { err = e }
  expect(err, 'applyTx should throw').to.be.instanceOf(TxError)
  expect((err as TxError).code).to.equal(code)
  expect(sim.dump(ov)).to.deep.equal(before)
  expect(written(), 'records written').to.equal(writtenBefore)
  if (mode === 'deliver') {
    const committed = sim.dump()
    let berr: unknown
    try { executeBlock(sim.mem, sim.withBeacon([tx.bytes]), ctx, undefined, { assignAll: false }) } catch (e) { berr = e }
    expect(berr).to.be.instanceOf(BlockError)
    expect((berr as BlockError).code).to.equal('BLOCK_BAD_TX')
    expect((berr as BlockError).message).to.contain(code)
    expect(sim.dump()).to.deep.equal(committed)
  }
}

function minBig (a: bigint, b: bigint): bigint { return a < b ? a : b }

interface RejectCase {
  name: string
  code: TxErrorCode
  mode?: Mode
  sim?: () => ChainSim
  /** Builds the state and returns the tx to reject. */
  tx: (sim: ChainSim) => Tx
}

const rejectCases: Record<string, RejectCase[]> = {
  transfer: [
    { name: 'amount plus fee above the balance', code: 'INSUFFICIENT_FUNDS', tx: s => s.sign(POOR, body.transfer(BOB.address, 4001n)) },
    { name: 'the whole balance leaves nothing for the fee', code: 'INSUFFICIENT_FUNDS', tx: s => s.sign(ALICE, body.transfer(BOB.address, 1000n * AITBC)) },
    { name: 'an account that does not exist', code: 'INSUFFICIENT_FUNDS', tx: s => s.sign(NOBODY, body.transfer(BOB.address, 1n)) },
    { name: 'zero amount', code: 'INVALID_AMOUNT', tx: s => s.sign(ALICE, body.transfer(BOB.address, 0n)) },
    { name: 'fee below min_fee', code: 'FEE_TOO_LOW', tx: s => s.sign(ALICE, body.transfer(BOB.address, 5n), { fee: FEE - 1n }) },
    { name: 'zero fee', code: 'FEE_TOO_LOW', tx: s => s.sign(ALICE, body.transfer(BOB.address, 5n), { fee: 0n }) },
    { name: 'wrong chain id', code: 'WRONG_CHAIN_ID', tx: s => s.sign(ALICE, body.transfer(BOB.address, 5n), { chainId: 'other-chain' }) },
    {
      name: 'reused nonce', code: 'NONCE_USED',
      tx: s => { s.block([s.sign(ALICE, body.transfer(BOB.address, 5n))]); return s.sign(ALICE, body.transfer(BOB.address, 5n), { nonce: 0 }) },
    },
    { name: 'skipped nonce', code: 'NONCE_SKIPPED', tx: s => s.sign(ALICE, body.transfer(BOB.address, 5n), { nonce: 1 }) },
  ],
  register_miner: [
    { name: 'stake below min_miner_stake', code: 'STAKE_TOO_LOW', tx: s => s.sign(DAVE, body.register(['llama3'], 100n * AITBC - 1n)) },
    { name: 'already registered', code: 'MINER_EXISTS', tx: s => s.sign(M1, body.register(['llama3'], 100n * AITBC)) },
    { name: 'stake above the balance', code: 'INSUFFICIENT_FUNDS', tx: s => s.sign(POOR, body.register(['llama3'], 100n * AITBC)) },
    { name: 'capacity 0', code: 'INVALID_FIELD', tx: s => s.sign(DAVE, body.register(['llama3'], 100n * AITBC, 20_000n, 0)) },
    { name: 'no models', code: 'INVALID_FIELD', tx: s => s.sign(DAVE, body.register([], 100n * AITBC)) },
    { name: 'duplicate models', code: 'INVALID_FIELD', tx: s => s.sign(DAVE, body.register(['llama3', 'llama3'], 100n * AITBC)) },
  ],
  update_miner: [
    { name: 'nothing to change', code: 'INVALID_FIELD', tx: s => s.sign(M1, body.update({})) },
    { name: 'not a miner', code: 'MINER_NOT_FOUND', tx: s => s.sign(ALICE, body.update({ active: false })) },
    { name: 'capacity 0', code: 'INVALID_FIELD', tx: s => s.sign(M1, body.update({ capacity: 0 })) },
    {
      name: 'capacity below the jobs it is running', code: 'MINER_BUSY',
      tx: s => {
        // three llama3 jobs fill both miners (capacity 2 + 1) whatever the draw
        s.block([0, 1, 2].map(i => s.sign(ALICE, body.submit('llama3', `prompt ${i}`, AITBC))))
        s.block([]) // assigned at the start of the next block
        expect(s.miner(M1.address).activeJobs).to.equal(2)
        return s.sign(M1, body.update({ capacity: 1 }))
      },
    },
  ],
  stake: [
    { name: 'not a miner', code: 'MINER_NOT_FOUND', tx: s => s.sign(ALICE, body.stake(AITBC)) },
    { name: 'zero amount', code: 'INVALID_AMOUNT', tx: s => s.sign(M1, body.stake(0n)) },
    { name: 'amount plus fee above the balance', code: 'INSUFFICIENT_FUNDS', tx: s => s.sign(M1, body.stake(10n * AITBC)) },
  ],
  unstake: [
    { name: 'more than bonded', code: 'INVALID_AMOUNT', tx: s => s.sign(M1, body.unstake(200n * AITBC + 1n)) },
    { name: 'zero amount', code: 'INVALID_AMOUNT', tx: s => s.sign(M1, body.unstake(0n)) },
    { name: 'not a miner', code: 'MINER_NOT_FOUND', tx: s => s.sign(ALICE, body.unstake(1n)) },
    {
      name: 'below min_miner_stake while running a job', code: 'STAKE_TOO_LOW',
      tx: s => { const { miner } = assignedJob(s); return s.sign(miner, body.unstake(s.miner(miner.address).stake - 100n * AITBC + 1n)) },
    },
    {
      name: 'fee unpaid by a miner with an empty account', code: 'INSUFFICIENT_FUNDS',
      sim: () => new ChainSim({ miners: [{ key: M1, models: ['llama3'], stake: 100n * AITBC }], params: PARAMS }),
      tx: s => s.sign(M1, body.unstake(AITBC)),
    },
  ],
  submit_job: [
    { name: 'prompt over max_prompt_bytes', code: 'PROMPT_TOO_LARGE', tx: s => s.sign(ALICE, body.submit('llama3', 'x'.repeat(65), AITBC)) },
    { name: 'prompt over max_prompt_bytes in UTF-8 bytes, not characters', code: 'PROMPT_TOO_LARGE', tx: s => s.sign(ALICE, body.submit('llama3', '€'.repeat(22), AITBC)) },
    { name: 'empty prompt', code: 'INVALID_FIELD', tx: s => s.sign(ALICE, body.submit('llama3', '', AITBC)) },
    { name: 'zero max_fee', code: 'INVALID_AMOUNT', tx: s => s.sign(ALICE, body.submit('llama3', 'hi', 0n)) },
    { name: 'max_fee plus fee above the balance', code: 'INSUFFICIENT_FUNDS', tx: s => s.sign(POOR, body.submit('llama3', 'hi', 4001n)) },
    { name: 'fee below min_fee', code: 'FEE_TOO_LOW', tx: s => s.sign(ALICE, body.submit('llama3', 'hi', AITBC), { fee: 1n }) },
  ],
  cancel_job: [
    { name: 'by someone other than the client', code: 'NOT_JOB_CLIENT', tx: s => s.sign(BOB, body.cancel(pendingJob(s, ALICE))) },
    { name: 'after assignment', code: 'JOB_NOT_PENDING', tx: s => s.sign(ALICE, body.cancel(assignedJob(s).id)) },
    { name: 'unknown job', code: 'JOB_NOT_FOUND', tx: s => s.sign(ALICE, body.cancel('job_0123456789abcdef')) },
    {
      name: 'twice', code: 'JOB_NOT_PENDING',
      tx: s => { const id = pendingJob(s); s.block([s.sign(ALICE, body.cancel(id))]); return s.sign(ALICE, body.cancel(id)) },
    },
  ],
  assign: [
    {
      name: "in 'check' mode (mempool)", code: 'ASSIGN_ONLY_IN_BLOCK', mode: 'check',
      tx: s => { const tx = s.sign(ALICE, body.submit('llama3', 'hi', AITBC)); s.block([tx], { assign: false }); return s.sign(s.validator, body.assign(jobIdFromTxHash(tx.hash), M1.address)) },
    },
    {
      name: 'signed by a non-proposer', code: 'NOT_PROPOSER',
      tx: s => { const tx = s.sign(ALICE, body.submit('llama3', 'hi', AITBC)); s.block([tx], { assign: false }); return s.sign(ALICE, body.assign(jobIdFromTxHash(tx.hash), M1.address)) },
    },
    {
      name: 'naming a miner the draw did not pick', code: 'WRONG_ASSIGNMENT',
      tx: s => {
        const tx = s.sign(ALICE, body.submit('llama3', 'hi', AITBC))
        s.block([tx], { assign: false })
        const chosen = drawMiner(s.mem, s.job(jobIdFromTxHash(tx.hash)), s.randomness) as Miner
        return s.sign(s.validator, body.assign(jobIdFromTxHash(tx.hash), otherMiner(s.keyFor(chosen.address)).address))
      },
    },
    {
      name: 'naming an account that is not a miner', code: 'WRONG_ASSIGNMENT',
      tx: s => { const tx = s.sign(ALICE, body.submit('llama3', 'hi', AITBC)); s.block([tx], { assign: false }); return s.sign(s.validator, body.assign(jobIdFromTxHash(tx.hash), BOB.address)) },
    },
    { name: 'a job no miner can take', code: 'WRONG_ASSIGNMENT', tx: s => s.sign(s.validator, body.assign(pendingJob(s), M1.address)) },
    {
      name: 'a job already assigned', code: 'JOB_NOT_PENDING',
      tx: s => { const { id, miner } = assignedJob(s); return s.sign(s.validator, body.assign(id, miner.address)) },
    },
    { name: 'unknown job', code: 'JOB_NOT_FOUND', tx: s => s.sign(s.validator, body.assign('job_0123456789abcdef', M1.address)) },
    {
      name: 'with a fee', code: 'INVALID_AMOUNT',
      tx: s => { const tx = s.sign(ALICE, body.submit('llama3', 'hi', AITBC)); s.block([tx], { assign: false }); return s.sign(s.validator, body.assign(jobIdFromTxHash(tx.hash), M1.address), { fee: FEE }) },
    },
  ],
  record_receipt: [
    {
      name: 'by a miner that is not the assigned one', code: 'NOT_ASSIGNED_MINER',
      tx: s => { const { id, miner } = assignedJob(s); return s.sign(otherMiner(miner), body.receipt(id, 'completed', 'blue', 1000)) },
    },
    { name: 'by the client', code: 'NOT_ASSIGNED_MINER', tx: s => s.sign(ALICE, body.receipt(assignedJob(s).id, 'completed', 'blue', 1000)) },
    { name: 'for a pending job', code: 'NOT_ASSIGNED_MINER', tx: s => s.sign(M1, body.receipt(pendingJob(s), 'completed', 'blue', 1000)) },
    {
      name: 'a second receipt for a settled job', code: 'JOB_ALREADY_SETTLED',
      tx: s => {
        const { id, miner } = assignedJob(s)
        s.block([s.sign(miner, body.receipt(id, 'completed', 'blue', 1000))])
        return s.sign(miner, body.receipt(id, 'failed', '', 0))
      },
    },
    {
      name: 'for a cancelled job', code: 'JOB_ALREADY_SETTLED',
      tx: s => { const id = pendingJob(s); s.block([s.sign(ALICE, body.cancel(id))]); return s.sign(M1, body.receipt(id, 'completed', 'blue', 1000)) },
    },
    {
      name: 'result_hash that is not sha256(result)', code: 'RESULT_HASH_MISMATCH',
      tx: s => { const { id, miner } = assignedJob(s); return s.sign(miner, body.receipt(id, 'completed', 'blue', 1000, { resultHash: sha256(utf8Bytes('red')) })) },
    },
    {
      name: 'result over max_result_bytes', code: 'RESULT_TOO_LARGE',
      tx: s => { const { id, miner } = assignedJob(s); return s.sign(miner, body.receipt(id, 'completed', 'y'.repeat(65), 1000)) },
    },
    {
      name: 'a completed receipt with an error', code: 'INVALID_FIELD',
      tx: s => { const { id, miner } = assignedJob(s); return s.sign(miner, body.receipt(id, 'completed', 'blue', 1000, { error: 'oops' })) },
    },
    { name: 'unknown job', code: 'JOB_NOT_FOUND', tx: s => s.sign(M1, body.receipt('job_0123456789abcdef', 'completed', 'blue', 1000)) },
    {
      name: 'fee below min_fee', code: 'FEE_TOO_LOW',
      tx: s => { const { id, miner } = assignedJob(s); return s.sign(miner, body.receipt(id, 'completed', 'blue', 1000), { fee: 0n }) },
    },
  ],
}

describe('transition: rejected transactions change nothing', () => {
  for (const [group, cases] of Object.entries(rejectCases)) {
    describe(group, () => {
      for (const c of cases) {
        it(`${c.name}: ${c.code}`, () => {
          const sim = (c.sim ?? mkSim)()
          const tx = c.tx(sim)
          expectReject(sim, tx, c.code, c.mode)
        })
      }
    })
  }
})

describe('transition: transfer', () => {
  it('moves the amount, charges the fee to the proposer and advances the nonce', () => {
    const sim = mkSim()
    const v = sim.validator.address
    const t0 = sim.totals()
    const { results } = sim.block([sim.sign(ALICE, body.transfer(NOBODY.address, 123n)), sim.sign(ALICE, body.transfer(BOB.address, 7n))])
    expect(results.every(r => r.code === 0)).to.equal(true)
    expect(sim.account(ALICE.address)).to.deep.equal({ balance: 1000n * AITBC - 130n - 2n * FEE, nonce: 2 })
    expect(sim.account(NOBODY.address)).to.deep.equal({ balance: 123n, nonce: 0 })
    expect(sim.balance(BOB.address)).to.equal(1000n * AITBC + 7n)
    expect(sim.balance(v)).to.equal(2n * FEE)
    expect(sim.totals()).to.deep.equal(t0)
  })

  it('can spend exactly the whole balance (amount + fee)', () => {
    const sim = mkSim()
    sim.block([sim.sign(POOR, body.transfer(BOB.address, 4000n))])
    expect(sim.balance(POOR.address)).to.equal(0n)
  })

  it('to oneself costs only the fee', () => {
    const sim = mkSim()
    sim.block([sim.sign(ALICE, body.transfer(ALICE.address, 500n))])
    expect(sim.account(ALICE.address)).to.deep.equal({ balance: 1000n * AITBC - FEE, nonce: 1 })
  })

  it("in 'check' mode charges the sender but pays no proposer", () => {
    const sim = mkSim()
    const ov = new Overlay(sim.mem)
    applyTx(ov, sim.sign(ALICE, body.transfer(BOB.address, 5n)), sim.nextCtx(), 'check')
    expect(sim.balance(ALICE.address, ov)).to.equal(1000n * AITBC - 5n - FEE)
    expect(ov.account(sim.validator.address)).to.equal(undefined)
  })
})

describe('transition: miners', () => {
  it('register_miner bonds the stake and lists the miner, which then gets jobs for its model', () => {
    const sim = mkSim()
    const t0 = sim.totals()
    sim.block([sim.sign(DAVE, body.register(['gemma'], 100n * AITBC, 10_000n, 3))])
    const m = sim.miner(DAVE.address)
    expect(m).to.include({ capacity: 3, active: true, reputation: REPUTATION_INITIAL, activeJobs: 0, registeredHeight: sim.height })
    expect(m.stake).to.equal(100n * AITBC)
    expect(m.pricePerSecond).to.equal(10_000n)
    expect(m.models).to.deep.equal(['gemma'])
    expect(sim.balance(DAVE.address)).to.equal(900n * AITBC - FEE)
    expect(sim.totals().bonded).to.equal(t0.bonded + 100n * AITBC)
    expect(sim.mem.minerAddresses()).to.include(DAVE.address)
    const tx = sim.sign(ALICE, body.submit('gemma', 'hi', AITBC))
    sim.block([tx])
    expect(sim.job(jobIdFromTxHash(tx.hash)).status, 'assigns open a block: not in the block that submits it').to.equal('pending')
    sim.block([])
    expect(sim.job(jobIdFromTxHash(tx.hash))).to.include({ status: 'assigned', miner: DAVE.address })
    expect(sim.job(jobIdFromTxHash(tx.hash)).pricePerSecond).to.equal(10_000n)
  })

  it('update_miner changes only the given fields; an inactive miner gets no job', () => {
    const sim = mkSim({ miners: [TWO_MINERS[0]] })
    sim.block([sim.sign(M1, body.update({ pricePerSecond: 7n }))])
    expect(sim.miner(M1.address)).to.include({ capacity: 2, active: true })
    expect(sim.miner(M1.address).pricePerSecond).to.equal(7n)
    sim.block([sim.sign(M1, body.update({ active: false }))])
    const id = pendingJob(sim, ALICE, AITBC, 'llama3')
    sim.block([sim.sign(M1, body.update({ active: true, models: ['llama3', 'qwen'] }))])
    sim.block([])
    expect(sim.job(id)).to.include({ status: 'assigned', miner: M1.address })
    expect(sim.miner(M1.address).models).to.deep.equal(['llama3', 'qwen'])
  })

  it('stake bonds more', () => {
    const sim = mkSim()
    const t0 = sim.totals()
    sim.block([sim.sign(M1, body.stake(3n * AITBC))])
    expect(sim.miner(M1.address).stake).to.equal(203n * AITBC)
    expect(sim.balance(M1.address)).to.equal(7n * AITBC - FEE)
    expect(sim.totals().bonded).to.equal(t0.bonded + 3n * AITBC)
  })

  for (const ub of [0, 1, 3]) {
    it(`unstake: tokens come back in beginBlock after unbonding_blocks = ${ub}`, () => {
      const sim = mkSim({ miners: [TWO_MINERS[0]], params: { unbonding_blocks: ub } })
      const t0 = sim.totals()
      const bal0 = sim.balance(M1.address)
      // a llama3 job in the same block: after the unstake M1 is below min_miner_stake, so it is not drawn
      const submit = sim.sign(ALICE, body.submit('llama3', 'hi', AITBC))
      sim.block([sim.sign(M1, body.unstake(150n * AITBC)), submit])
      expect(sim.job(jobIdFromTxHash(submit.hash)).status).to.equal('pending')
      const h = sim.height
      expect(sim.miner(M1.address).stake).to.equal(50n * AITBC)
      expect(sim.miner(M1.address).unbonding).to.deep.equal([{ amount: 150n * AITBC, releaseHeight: h + ub, height: h }])
      expect(sim.totals()).to.deep.include({ bonded: t0.bonded - 150n * AITBC, unbonding: 150n * AITBC })
      expect(sim.balance(M1.address)).to.equal(bal0 - FEE)
      while (sim.height + 1 < Math.max(h + ub, h + 1)) {
        sim.block([])
        expect(sim.miner(M1.address).unbonding).to.have.length(1)
      }
      const { beginEvents } = sim.block([])
      expect(sim.height).to.equal(Math.max(h + ub, h + 1))
      expect(sim.miner(M1.address).unbonding).to.deep.equal([])
      expect(sim.balance(M1.address)).to.equal(bal0 - FEE + 150n * AITBC)
      expect(sim.totals().unbonding).to.equal(0n)
      expect(beginEvents.filter(e => e.type === 'unbond')).to.have.length(1)
    })
  }

  it('unstake of the whole stake with no job running is allowed', () => {
    const sim = mkSim()
    sim.block([sim.sign(M1, body.unstake(200n * AITBC))])
    expect(sim.miner(M1.address).stake).to.equal(0n)
  })
})

describe('transition: jobs', () => {
  it('submit_job escrows max_fee: the balance goes down by max_fee + fee', () => {
    const sim = mkSim()
    const t0 = sim.totals()
    const tx = sim.sign(ALICE, body.submit('phi3', 'hello', 3n * AITBC, 9n))
    sim.block([tx])
    expect(sim.balance(ALICE.address)).to.equal(1000n * AITBC - 3n * AITBC - FEE)
    expect(sim.totals()).to.deep.include({ escrow: 3n * AITBC, balances: t0.balances - 3n * AITBC })
    const j = sim.job(jobIdFromTxHash(tx.hash))
    expect(j).to.include({ status: 'pending', client: ALICE.address, model: 'phi3', prompt: 'hello', submittedHeight: sim.height, submittedTime: sim.time, txHash: tx.hash })
    expect(j.maxFee).to.equal(3n * AITBC)
    expect(j.maxPricePerSecond).to.equal(9n)
  })

  it('cancel_job by the client while pending refunds max_fee in full', () => {
    const sim = mkSim()
    const id = pendingJob(sim, ALICE, 3n * AITBC)
    const bal = sim.balance(ALICE.address)
    sim.block([sim.sign(ALICE, body.cancel(id))])
    expect(sim.balance(ALICE.address)).to.equal(bal + 3n * AITBC - FEE)
    expect(sim.job(id)).to.include({ status: 'cancelled', settledHeight: sim.height })
    expect(sim.job(id).refund).to.equal(3n * AITBC)
    expect(sim.job(id).paid).to.equal(0n)
    expect(sim.totals().escrow).to.equal(0n)
  })

  it('submit and cancel in the same block', () => {
    const sim = mkSim()
    const tx = sim.sign(ALICE, body.submit('phi3', 'hello', 3n * AITBC))
    sim.block([tx, sim.sign(ALICE, body.cancel(jobIdFromTxHash(tx.hash)))])
    expect(sim.job(jobIdFromTxHash(tx.hash)).status).to.equal('cancelled')
    expect(sim.balance(ALICE.address)).to.equal(1000n * AITBC - 2n * FEE)
    expect(sim.mem.openJobs.size).to.equal(0)
  })
})

describe('transition: the miner draw', () => {
  /** Two miners serving llama3, a pending llama3 job (left unassigned), and an overlay to tweak miners in. */
  function drawSetup (maxPrice: bigint | null = null): { sim: ChainSim, job: Job } {
    const sim = mkSim({ miners: [{ ...TWO_MINERS[0] }, { ...TWO_MINERS[1] }] })
    const tx = sim.sign(ALICE, body.submit('llama3', 'hi', AITBC, maxPrice))
    sim.block([tx], { assign: false })
    return { sim, job: sim.job(jobIdFromTxHash(tx.hash)) }
  }
  const hashes = Array.from({ length: 400 }, (_, i) => sha256(utf8Bytes(`block ${i}`)))

  it('is deterministic: the same previous hash gives the same choice', () => {
    const { sim, job } = drawSetup()
    for (const h of hashes.slice(0, 50)) {
      const a = drawMiner(sim.mem, job, h)?.address
      const b = drawMiner(new Overlay(sim.mem), job, Uint8Array.from(h))?.address
      expect(a).to.be.a('string')
      expect(b).to.equal(a)
    }
  })

  it('weights by stake x reputation', () => {
    const { sim, job } = drawSetup()
    const picks = hashes.map(h => drawMiner(sim.mem, job, h)?.address)
    const m2 = picks.filter(a => a === M2.address).length / picks.length
    expect(picks.every(a => a === M1.address || a === M2.address)).to.equal(true)
    expect(m2).to.be.within(0.5, 0.7) // 300 / (200 + 300)
    // reputation above its initial value earns no weight (it can only hurt): doubling M1's changes nothing...
    const ov = new Overlay(sim.mem)
    ov.setMiner({ ...sim.miner(M1.address), reputation: 2 * REPUTATION_INITIAL })
    const m1 = hashes.filter(h => drawMiner(ov, job, h)?.address === M1.address).length / hashes.length
    expect(m1).to.equal(1 - m2)
    // ...halving it halves its weight: 100 vs 300
    ov.setMiner({ ...sim.miner(M1.address), reputation: REPUTATION_INITIAL / 2 })
    const half = hashes.filter(h => drawMiner(ov, job, h)?.address === M1.address).length / hashes.length
    expect(half).to.be.within(0.15, 0.35)
  })

  const exclusions: Array<{ name: string, maxPrice?: bigint, tweak: (m: Miner) => Miner }> = [
    { name: 'inactive', tweak: m => ({ ...m, active: false }) },
    { name: 'does not serve the model', tweak: m => ({ ...m, models: ['mistral'] }) },
    { name: 'has no free capacity', tweak: m => ({ ...m, activeJobs: m.capacity }) },
    { name: 'prices above max_price_per_second', maxPrice: 49_999n, tweak: m => m },
    { name: 'has stake below min_miner_stake', tweak: m => ({ ...m, stake: 100n * AITBC - 1n }) },
    { name: 'has reputation 0', tweak: m => ({ ...m, reputation: 0 }) },
  ]
  for (const x of exclusions) {
    it(`never picks a miner that ${x.name}`, () => {
      const { sim, job } = drawSetup(x.maxPrice ?? null)
      const ov = new Overlay(sim.mem)
      ov.setMiner(x.tweak(sim.miner(M2.address)))
      for (const h of hashes) expect(drawMiner(ov, job, h)?.address).to.equal(M1.address)
      // and with the other miner excluded too, nobody
      ov.setMiner(x.tweak(sim.miner(M1.address)))
      if (x.maxPrice === undefined) {
        for (const h of hashes.slice(0, 20)) expect(drawMiner(ov, job, h)).to.equal(null)
        expect([...assignableJobs(ov, sim.randomness)]).to.deep.equal([])
      }
    })
  }

  it('a price equal to max_price_per_second is within the limit', () => {
    const { sim, job } = drawSetup(50_000n)
    expect(hashes.some(h => drawMiner(sim.mem, job, h)?.address === M2.address)).to.equal(true)
  })

  it('assignableJobs yields the draw for each pending job, and nothing for a model nobody serves', () => {
    const { sim, job } = drawSetup()
    sim.block([sim.sign(BOB, body.submit('phi3', 'hi', AITBC))], { assign: false })
    expect([...sim.mem.pendingJobIds()]).to.have.length(2)
    const all = [...assignableJobs(sim.mem, sim.randomness)]
    expect(all.map(x => x.job.id)).to.deep.equal([job.id])
    expect(all[0].miner.address).to.equal(drawMiner(sim.mem, job, sim.randomness)?.address)
  })
})

describe('transition: record_receipt settlement', () => {
  const cases: Array<{ name: string, price: bigint, maxFee: bigint, computeMs: number, dt: number, paid: bigint }> = [
    { name: 'compute time below chain time', price: 20_000n, maxFee: AITBC, computeMs: 3000, dt: 5000, paid: 60_000n },
    { name: 'chain time below compute time', price: 20_000n, maxFee: AITBC, computeMs: 9000, dt: 5000, paid: 100_000n },
    { name: 'capped at max_fee', price: 20_000n, maxFee: 50_000n, computeMs: 5000, dt: 5000, paid: 50_000n },
    { name: 'exactly max_fee', price: 20_000n, maxFee: 100_000n, computeMs: 5000, dt: 6000, paid: 100_000n },
    { name: 'floors a fraction of a uaitbc', price: 20_001n, maxFee: AITBC, computeMs: 1, dt: 1, paid: 20n },
    { name: 'floors sub-second pricing', price: 999n, maxFee: AITBC, computeMs: 1, dt: 1000, paid: 0n },
    { name: 'zero compute time pays nothing', price: 20_000n, maxFee: AITBC, computeMs: 0, dt: 5000, paid: 0n },
    { name: 'a free miner', price: 0n, maxFee: AITBC, computeMs: 5000, dt: 5000, paid: 0n },
  ]
  for (const c of cases) {
    it(`completed: ${c.name}: paid ${c.paid}`, () => {
      expect(c.paid).to.equal(minBig(c.maxFee, BigInt(Math.min(c.computeMs, c.dt)) * c.price / 1000n)) // the table agrees with the settlement formula
      const sim = mkSim({ miners: [{ key: M1, models: ['llama3'], pricePerSecond: c.price, capacity: 1, stake: 200n * AITBC }] })
      const { id } = assignedJob(sim, ALICE, c.maxFee)
      const assignTime = sim.time
      const v = sim.validator.address
      const [alice0, m0, v0, t0, rep0] = [sim.balance(ALICE.address), sim.balance(M1.address), sim.balance(v), sim.totals(), sim.miner(M1.address).reputation]
      const tx = sim.sign(M1, body.receipt(id, 'completed', 'the sky is blue', c.computeMs))
      const { results } = sim.block([tx], { time: assignTime + c.dt })
      const j = sim.job(id)
      expect(j).to.include({ status: 'completed', settledHeight: sim.height, settledTime: assignTime + c.dt, receiptId: receiptIdFromTxHash(tx.hash), settleTxHash: tx.hash, result: 'the sky is blue', error: null })
      expect(j.resultHash).to.equal(toHex(sha256(utf8Bytes('the sky is blue'))))
      expect(j.paid).to.equal(c.paid)
      expect(j.refund).to.equal(c.maxFee - c.paid)
      expect(sim.balance(M1.address)).to.equal(m0 + c.paid - FEE)
      expect(sim.balance(ALICE.address)).to.equal(alice0 + c.maxFee - c.paid)
      expect(sim.balance(v)).to.equal(v0 + FEE)
      expect(sim.totals()).to.deep.include({ escrow: t0.escrow - c.maxFee, balances: t0.balances + c.maxFee })
      const m = sim.miner(M1.address)
      // An unchecked result (verification off here) earns no reputation: it rises only when a check passes.
      expect(m).to.include({ activeJobs: 0, jobsCompleted: 1, jobsFailed: 0, reputation: rep0 })
      expect(m.earned).to.equal(c.paid)
      const ev = results[0].events.find(e => e.type === 'record_receipt')
      expect(ev?.attributes).to.deep.include({ key: 'paid', value: String(c.paid) })
    })
  }

  it('failed: no payment, full refund, no reputation gain', () => {
    const sim = mkSim({ miners: [TWO_MINERS[0]] })
    const { id } = assignedJob(sim, ALICE, 2n * AITBC)
    const [alice0, m0] = [sim.balance(ALICE.address), sim.balance(M1.address)]
    sim.block([sim.sign(M1, body.receipt(id, 'failed', '', 5000))], { dt: 5000 })
    expect(sim.job(id)).to.include({ status: 'failed', error: 'ollama: model crashed' })
    expect(sim.job(id).paid).to.equal(0n)
    expect(sim.job(id).refund).to.equal(2n * AITBC)
    expect(sim.balance(ALICE.address)).to.equal(alice0 + 2n * AITBC)
    expect(sim.balance(M1.address)).to.equal(m0 - FEE)
    expect(sim.miner(M1.address)).to.include({ activeJobs: 0, jobsFailed: 1, jobsCompleted: 0, reputation: REPUTATION_INITIAL })
  })

  it('a miner that is its own client gets paid and refunded', () => {
    const sim = mkSim({ miners: [TWO_MINERS[0]] })
    const { id } = assignedJob(sim, M1, AITBC)
    const m0 = sim.balance(M1.address)
    sim.block([sim.sign(M1, body.receipt(id, 'completed', 'x', 2000))], { dt: 3000 })
    expect(sim.balance(M1.address)).to.equal(m0 + AITBC - FEE)
  })

  it('a freed slot is reused: capacity is never exceeded', () => {
    const sim = mkSim({ miners: [TWO_MINERS[0]] }) // capacity 2
    const subs = [0, 1, 2, 3, 4].map(i => sim.sign(ALICE, body.submit('llama3', `p${i}`, AITBC)))
    expect(sim.block(subs).assigns).to.have.length(0) // assigns open the next block
    const { assigns } = sim.block([])
    expect(assigns).to.have.length(2)
    const ids = subs.map(t => jobIdFromTxHash(t.hash))
    const statuses = (): string[] => ids.map(id => sim.job(id).status)
    expect(statuses().filter(s => s === 'assigned')).to.have.length(2)
    expect(sim.miner(M1.address).activeJobs).to.equal(2)
    sim.block([]) // full: nothing moves
    expect(statuses().filter(s => s === 'pending')).to.have.length(3)
    const first = ids.find(id => sim.job(id).status === 'assigned') as string
    expect(sim.block([sim.sign(M1, body.receipt(first, 'completed', 'ok', 100))]).assigns).to.have.length(0)
    const { assigns: next } = sim.block([]) // the freed slot is drawn at the start of the next block
    expect(next).to.have.length(1)
    expect(sim.miner(M1.address).activeJobs).to.equal(2)
    expect(statuses().filter(s => s === 'pending')).to.have.length(2)
  })
})

describe('transition: expiry in beginBlock', () => {
  it('a pending job past assign_timeout_s is expired and refunded', () => {
    const sim = mkSim()
    const id = pendingJob(sim, ALICE, 4n * AITBC)
    const submitted = sim.time
    const bal = sim.balance(ALICE.address)
    sim.block([], { time: submitted + 60_000 - 1 })
    expect(sim.job(id).status).to.equal('pending')
    const { beginEvents } = sim.block([], { time: submitted + 60_001 })
    const j = sim.job(id)
    expect(j).to.include({ status: 'expired', settledHeight: sim.height })
    expect([j.paid, j.refund, j.slashed]).to.deep.equal([0n, 4n * AITBC, 0n])
    expect(sim.balance(ALICE.address)).to.equal(bal + 4n * AITBC)
    expect(sim.totals().escrow).to.equal(0n)
    expect(beginEvents.map(e => e.type)).to.deep.equal(['expire_job'])
  })

  it('an assigned job past job_timeout_s is expired and refunded; the miner is slashed (burned) and loses reputation', () => {
    const sim = mkSim({ miners: [TWO_MINERS[0]] })
    const { id } = assignedJob(sim, ALICE, 4n * AITBC)
    const assigned = sim.time
    const [bal, t0, m0] = [sim.balance(ALICE.address), sim.totals(), sim.miner(M1.address)]
    sim.block([], { time: assigned + 60_000 - 1 })
    expect(sim.job(id).status).to.equal('assigned')
    const { beginEvents } = sim.block([], { time: assigned + 60_001 })
    const slash = 20n * AITBC // 10% of 200 AITBC
    const j = sim.job(id)
    expect(j.status).to.equal('expired')
    expect([j.paid, j.refund, j.slashed]).to.deep.equal([0n, 4n * AITBC, slash])
    expect(sim.balance(ALICE.address)).to.equal(bal + 4n * AITBC)
    const m = sim.miner(M1.address)
    expect(m).to.include({ activeJobs: 0, jobsExpired: 1, reputation: m0.reputation - REPUTATION_EXPIRED })
    expect([m.stake, m.slashed]).to.deep.equal([m0.stake - slash, slash])
    expect(sim.totals()).to.deep.include({ escrow: t0.escrow - 4n * AITBC, bonded: t0.bonded - slash, burned: slash, supply: t0.supply })
    expect(beginEvents.map(e => e.type)).to.deep.equal(['expire_job', 'slash'])
  })

  it('two jobs of one miner expiring together slash twice, compounding', () => {
    const sim = mkSim({ miners: [TWO_MINERS[0]] }) // capacity 2
    sim.block([sim.sign(ALICE, body.submit('llama3', 'a', AITBC)), sim.sign(ALICE, body.submit('llama3', 'b', AITBC))])
    sim.block([])
    expect(sim.miner(M1.address).activeJobs).to.equal(2)
    sim.block([], { dt: 61_000 })
    const m = sim.miner(M1.address)
    expect(m.stake).to.equal(200n * AITBC - 20n * AITBC - 18n * AITBC)
    expect(m).to.include({ activeJobs: 0, jobsExpired: 2, reputation: REPUTATION_INITIAL - 2 * REPUTATION_EXPIRED })
    expect(sim.totals().burned).to.equal(38n * AITBC)
  })

  it('a receipt in the block where the job expires is refused and the block commits nothing', () => {
    const sim = mkSim({ miners: [TWO_MINERS[0]] })
    const { id } = assignedJob(sim)
    const before = sim.dump()
    const h = sim.height
    const tx = sim.sign(M1, body.receipt(id, 'completed', 'late', 1000))
    expect(() => sim.block([tx], { dt: 60_001 })).to.throw(TxError).with.property('code', 'JOB_ALREADY_SETTLED')
    expect(sim.dump()).to.deep.equal(before)
    expect(sim.height).to.equal(h)
  })
})

describe('transition: executeBlock', () => {
  function ctxOf (sim: ChainSim, o: BlockOptions = {}): BlockContext { return sim.nextCtx(o) }

  it('matches the proposer path and refuses a block that leaves an assignable job unassigned', () => {
    const sim = mkSim()
    sim.block([sim.sign(ALICE, body.submit('llama3', 'hi', AITBC))], { assign: false })
    const transfer = sim.sign(BOB, body.transfer(ALICE.address, 1n))
    const ctx = ctxOf(sim)
    // The job is pending at the start of the block: its assign must open the block.
    for (const txs of [[transfer.bytes], []]) {
      let err: unknown
      try { executeBlock(sim.mem, sim.withBeacon(txs), ctx) } catch (e) { err = e }
      expect(err).to.be.instanceOf(BlockError)
      expect((err as BlockError).code).to.equal('BLOCK_UNASSIGNED_JOB')
    }
    // the proposer's block, its assign first, is accepted and identical
    const { overlay: ov, ctx: bctx, beacon } = sim.begin()
    const assigns = sim.assignAll(ov, bctx)
    applyTx(ov, transfer, bctx, 'deliver')
    expect(assigns).to.have.length(1)
    const ex = executeBlock(sim.mem, [(beacon as { tx: Tx }).tx.bytes, ...assigns.map(a => a.bytes), transfer.bytes], ctx)
    expect(toHex(encodeChangeSet(ex.overlay.changes()))).to.equal(toHex(encodeChangeSet(ov.changes())))
    expect(ex.txResults.map(r => r.code)).to.deep.equal([0, 0, 0])
    // an assign after another tx: the prefix left the job unassigned; a second copy of the assign
    // after the transfer is refused as an assign out of place
    const b = (beacon as { tx: Tx }).tx.bytes
    expect(() => executeBlock(sim.mem, [b, transfer.bytes, ...assigns.map(a => a.bytes)], ctx)).to.throw(BlockError, /unassigned/)
    expect(() => executeBlock(sim.mem, [b, ...assigns.map(a => a.bytes), transfer.bytes, ...assigns.map(a => a.bytes)], ctx)).to.throw(BlockError, /assigns open the block/)
  })

  it('accepts a block that leaves unassigned only jobs no miner can take', () => {
    const sim = mkSim()
    const submit = sim.sign(ALICE, body.submit('phi3', 'hi', AITBC))
    const ex = executeBlock(sim.mem, [submit.bytes], ctxOf(sim))
    expect(ex.txs).to.have.length(1)
    // the next block has a pending job (nobody serves it): it carries a beacon, and draws nobody
    sim.block([submit])
    expect(sim.block([]).block?.txs.map(t => decodeTx(t).type)).to.deep.equal(['beacon'])
  })

  it('refuses a block with an invalid tx after valid ones, and commits nothing', () => {
    const sim = mkSim()
    const before = sim.dump()
    const txs = [sim.sign(ALICE, body.transfer(BOB.address, 1n)), sim.sign(BOB, body.transfer(ALICE.address, 1n)), sim.sign(ALICE, body.transfer(BOB.address, 1n), { nonce: 0 })]
    expect(() => executeBlock(sim.mem, txs.map(t => t.bytes), ctxOf(sim))).to.throw(BlockError).with.property('code', 'BLOCK_BAD_TX')
    expect(() => executeBlock(sim.mem, [txs[0].bytes, Uint8Array.of(0x90)], ctxOf(sim))).to.throw(BlockError).with.property('code', 'BLOCK_BAD_TX')
    expect(sim.dump()).to.deep.equal(before)
  })

  it('refuses a block whose assign names another miner than the draw', () => {
    const sim = mkSim()
    const submit = sim.sign(ALICE, body.submit('llama3', 'hi', AITBC))
    sim.block([submit], { assign: false })
    const ctx = ctxOf(sim)
    const chosen = drawMiner(sim.mem, sim.job(jobIdFromTxHash(submit.hash)), ctx.randomness) as Miner
    const wrong = sim.sign(sim.validator, body.assign(jobIdFromTxHash(submit.hash), otherMiner(sim.keyFor(chosen.address)).address))
    let err: unknown
    try { executeBlock(sim.mem, sim.withBeacon([wrong.bytes]), ctx) } catch (e) { err = e }
    expect((err as BlockError).code).to.equal('BLOCK_BAD_TX')
    expect((err as BlockError).message).to.contain('WRONG_ASSIGNMENT')
  })

  it('runs expiry and unbonding before the txs', () => {
    const sim = mkSim({ params: { unbonding_blocks: 1 } })
    const id = pendingJob(sim)
    sim.block([sim.sign(M2, body.unstake(AITBC))])
    const ex = executeBlock(sim.mem, sim.withBeacon([]), ctxOf(sim, { dt: 61_000 }))
    expect(ex.beginEvents.map(e => e.type)).to.deep.equal(['unbond', 'expire_job'])
    expect(ex.overlay.job(id)?.status).to.equal('expired')
    expect(supplyHolds(ex.overlay.totals())).to.equal(true)
  })
})

describe('state: record codecs round-trip through msgpack', () => {
  it('accounts, miners and settled jobs decode to what was encoded', () => {
    const sim = mkSim({ miners: [TWO_MINERS[0]] })
    const submit = sim.sign(ALICE, { type: 'submit_job', model: 'llama3', prompt: 'p', options: { temperature: 0.7, numPredict: 32, seed: 4 }, maxFee: AITBC, maxPricePerSecond: 30_000n })
    sim.block([submit])
    const id = jobIdFromTxHash(submit.hash)
    sim.block([sim.sign(M1, body.receipt(id, 'completed', 'r', 1500))], { dt: 2000 })
    sim.block([sim.sign(M1, body.unstake(AITBC))])
    const roundTrip = <T>(enc: (x: T) => unknown[], dec: (t: any[]) => T, x: T): T => dec(unpack(pack(enc(x))) as any[])
    const acc = sim.account(ALICE.address)
    expect(roundTrip(encodeAccount, decodeAccount, acc)).to.deep.equal(acc)
    const m = sim.miner(M1.address)
    expect(roundTrip(encodeMiner, decodeMiner, m)).to.deep.equal(m)
    const j = sim.job(id)
    expect(roundTrip(encodeJob, decodeJob, j)).to.deep.equal(j)
    const p = sim.job(pendingJob(sim))
    expect(roundTrip(encodeJob, decodeJob, p)).to.deep.equal(p)
  })
})
