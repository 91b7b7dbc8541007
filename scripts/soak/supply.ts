// The supply checks. The load is only transfers among accounts funded at genesis, and no miner
// or job exists, so on every node at every reading: the invariant holds, `supply` equals the
// genesis supply, `bonded` the validators' genesis bonds, and escrow, unbonding and burned stay
// 0 (a burn would be a slashed validator: a double signature after a restart). With the load
// stopped, the balances of the load's accounts and of the validators (who earn the fees) must
// add up to `balances`.
import type { SupplyResult } from '../../node/rpc/types.ts'
import type { Member } from './members.ts'
import type { Violations } from './util.ts'
import { until } from '../../test/helpers/procs.ts'

export class SupplyChecker {
  readings = 0

  constructor (private readonly genesis: SupplyResult, private readonly violations: Violations) {}

  check (name: string, s: SupplyResult): void {
    this.readings++
    const g = this.genesis
    const wrong: string[] = []
    if (!s.invariant_holds) wrong.push('invariant_holds false')
    if (s.supply !== g.supply) wrong.push(`supply ${s.supply} (genesis ${g.supply})`)
    if (s.bonded !== g.bonded) wrong.push(`bonded ${s.bonded} (genesis ${g.bonded})`)
    for (const k of ['escrow', 'unbonding', 'burned'] as const) if (s[k] !== '0') wrong.push(`${k} ${s[k]}`)
    const sum = BigInt(s.balances) + BigInt(s.escrow) + BigInt(s.bonded) + BigInt(s.unbonding) + BigInt(s.burned)
    if (sum !== BigInt(s.supply)) wrong.push(`balances + escrow + bonded + unbonding + burned = ${sum}, supply ${s.supply}`)
    if (wrong.length > 0) this.violations.add('supply', `${name}/${s.height}`, `${name} at height ${s.height}: ${wrong.join('; ')}`)
  }

  async checkNode (m: Member): Promise<void> {
    this.check(m.name, await m.client.call('aitbc_supply', {}))
  }

  /** The sum of every account's balance against `balances`, read at one height (needs a chain with no load). */
  async checkBalances (m: Member, addresses: string[]): Promise<void> {
    const reading = await until(`${m.name}: balances and supply read at one height`, async () => {
      const s = await m.client.call('aitbc_supply', {})
      const accts = await m.client.batchAll(addresses.map(address => ({ method: 'aitbc_account' as const, params: { address } })))
      const s2 = await m.client.call('aitbc_supply', {})
      if (s.height !== s2.height || accts.some(a => !a.ok)) return false
      return { s, sum: accts.reduce((acc, a) => acc + BigInt((a as { result: { balance: string } }).result.balance), 0n) }
    }, 30_000, 20)
    this.check(m.name, reading.s)
    if (reading.sum !== BigInt(reading.s.balances)) {
      this.violations.add('supply', `balances/${m.name}`, `${m.name} at height ${reading.s.height}: the accounts' balances add up to ${reading.sum}, aitbc_supply says balances ${reading.s.balances}`)
    }
  }
}
