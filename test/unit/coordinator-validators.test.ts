// The explorer's validators view (coordinator GET /v1/validators): the set first, then the other
// records, each with power, status, missed blocks and its signed/missed history from the commits.
import { expect } from 'chai'
import { validatorsView, VALIDATOR_HISTORY } from '../../coordinator-module/api.ts'

const A = 'AA'.repeat(20)
const B = 'BB'.repeat(20)
const C = 'CC'.repeat(20)

function fakeClient (top: number) {
  const rec = (address: string, status: string, power: string, missed: number) => ({ address, pub_key: { type: 't', value: 'k' }, operator: 'aitbc1op', moniker: `m-${address.slice(0, 2)}`, power, voting_power: power, status, in_set: status === 'bonded', stake: '1', slashed: '0', unbonding: [], missed_blocks: missed, missed_heights: [], jailed_until: status === 'jailed' ? '99' : null, tombstoned: false, created_height: '0' })
  return {
    call: async (method: string) => {
      if (method === 'validators') return { block_height: String(top), validators: [A, B].map(address => ({ address, pub_key: { type: 't', value: 'k' }, voting_power: '10', proposer_priority: '0', name: address.slice(0, 2) })), count: '2', total: '2' }
      if (method === 'aitbc_validators') return { height: String(top), validators: [rec(A, 'bonded', '10', 0), rec(B, 'bonded', '10', 3), rec(C, 'jailed', '5', 0)], total: '3', downtime_window: 20, downtime_max_missed: 10 }
      throw new Error(method)
    },
    // B misses every third height; C signed only the first ten.
    batchAll: async (calls: any[]) => calls.map(c => {
      const h = Number(c.params.height)
      const sigs = [{ validator_address: A, block_id_flag: 2 }, { validator_address: B, block_id_flag: h % 3 === 0 ? 1 : 2 }, ...(h <= 10 ? [{ validator_address: C, block_id_flag: 2 }] : [])]
      return { ok: true, result: { signed_header: { commit: { signatures: sigs } } } }
    }),
  }
}

describe('coordinator: the validators view of the explorer', () => {
  it('lists the set first and the other records after, with power, status, missed blocks and signed/missed history', async () => {
    const v: any = await validatorsView(fakeClient(60) as any)
    expect(v.validators.map((x: any) => [x.address, x.status, x.in_set])).to.deep.equal([[A, 'bonded', true], [B, 'bonded', true], [C, 'jailed', false]])
    expect(v.history_from).to.equal(60 - VALIDATOR_HISTORY + 1)
    const [a, b, c] = v.validators
    expect(a.history).to.equal('S'.repeat(VALIDATOR_HISTORY))
    expect(b.missed_blocks).to.equal(3)
    expect([...b.history].filter(x => x === 'M').length).to.equal(Array.from({ length: VALIDATOR_HISTORY }, (_, i) => 11 + i).filter(h => h % 3 === 0).length)
    expect(c.history).to.equal('-'.repeat(VALIDATOR_HISTORY)) // heights 11..60: not in the set
    expect(c.voting_power).to.equal('0')
    expect(v.total).to.equal(2)
    expect(v.records).to.equal(3)
  })

  it('before the first block: no history', async () => {
    const v: any = await validatorsView(fakeClient(0) as any)
    expect(v.validators[0].history).to.equal('')
  })
})
