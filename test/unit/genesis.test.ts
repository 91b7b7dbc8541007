// genesis/: the example documents validate, genesisState builds the state both the node and the
// tests start from, and the builders add accounts and validators without touching anything else.
import { expect } from 'chai'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseGenesis } from '../../genesis/genesis.ts'
import { makeGenesisJSON, withFundedAccount, withValidator } from '../../genesis/build.ts'
import { genesisState } from '../../genesis/state.ts'
import { supplyHolds } from '../../node/core/state.ts'
import { GenesisError } from '../../node/core/errors.ts'
import { keyOf } from '../helpers/chainSim.ts'

const EXAMPLES = join(import.meta.dirname, '../../genesis/examples')

describe('genesis', () => {
  for (const f of readdirSync(EXAMPLES).filter(f => f.endsWith('.json'))) {
    it(`example ${f} validates and its state keeps the supply invariant`, () => {
      const g = parseGenesis(JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')))
      const { changes, last } = genesisState(g)
      expect(supplyHolds(changes.totals)).to.equal(true)
      expect(last.height).to.equal(g.initialHeight - 1)
      expect(last.hash.length).to.equal(0)
      expect(changes.bonds.size).to.equal(g.validators.length)
    })
  }

  it('genesisState counts balances, miner stakes and validator bonds, and its app hash depends on them', () => {
    const a = keyOf('a'); const m = keyOf('m')
    const base = makeGenesisJSON({ chainId: 'c', genesisTime: '2024-01-01T00:00:00Z', validators: [{ pubKey: keyOf('v').publicKey, stake: 7_000_000n }], accounts: [{ address: a.address, balance: 100n }], miners: [{ address: m.address, models: ['x'], pricePerSecond: 1n, capacity: 1, stake: 100_000000n }] })
    const s = genesisState(parseGenesis(base))
    expect(s.changes.totals).to.deep.equal({ supply: 100n + 100_000000n + 7_000_000n, balances: 100n, escrow: 0n, bonded: 100_000000n + 7_000_000n, unbonding: 0n, burned: 0n })
    expect(s.changes.miners.get(m.address)?.registeredHeight).to.equal(0)
    const richer = genesisState(parseGenesis(withFundedAccount(base, a.address, 1n)))
    expect(richer.last.appHash).to.not.deep.equal(s.last.appHash)
  })

  it('withFundedAccount adds to an existing entry or creates one; withValidator appends one named validator-N', () => {
    const a = keyOf('a')
    const g = makeGenesisJSON({ chainId: 'c', validators: [{ pubKey: keyOf('v').publicKey }] })
    const g1 = withFundedAccount(withFundedAccount(g, a.address, 5n), a.address, 6n)
    expect(g1.app_state.accounts).to.deep.equal([{ address: a.address, balance: '11' }])
    expect(g.app_state.accounts).to.deep.equal([])
    const g2 = withValidator(g1, { pubKey: keyOf('w').publicKey, power: 3 })
    expect(g2.validators.map((v: any) => [v.name, v.power])).to.deep.equal([['validator-0', '1000'], ['validator-1', '3']])
    expect(parseGenesis(g2).validators).to.have.length(2)
    expect(() => parseGenesis(withValidator(g2, { pubKey: keyOf('w').publicKey }))).to.throw(GenesisError, /listed twice/)
  })
})
