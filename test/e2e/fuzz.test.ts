// The fuzz harness's short run (`npm run fuzz` runs 100,000 inputs): a few thousand seeded
// inputs over every surface of one real node, RPC and P2P, and not one violation (no exit, no
// 5xx, no malformed or leaking error, no stall, bounded memory, a fresh peer still joins).
import { expect } from 'chai'
import { formatReport, runFuzz } from '../../scripts/fuzz/run.ts'

describe('fuzz: a short run over every surface', function () {
  this.timeout(240_000)

  it('the node survives 2,500 seeded inputs with zero violations', async () => {
    const seed = Number(process.env.AITBC_FUZZ_SEED ?? 20261202)
    const report = await runFuzz({ inputs: 2500, seed })
    const text = formatReport(report)
    expect(report.crashes, text).to.equal(0)
    expect(report.http5xx, text).to.equal(0)
    expect(report.violations, text).to.deep.equal([])
    expect(report.pass, text).to.equal(true)
    expect(report.totalInputs).to.be.at.least(2500)
    for (const [surface, n] of Object.entries(report.inputs)) expect(n, `inputs on ${surface}`).to.be.above(0)
    expect(report.heightEnd).to.be.above(report.heightStart)
  })
})
