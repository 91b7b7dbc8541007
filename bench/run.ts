// `npm run bench [-- SECTION...]`: runs the benchmarks and prints their figures with the
// machine's own limits measured in the same run.
import { machine } from './lib.ts'
import { runChainBench } from './chain.ts'
import { runIntakeBench } from './intake.ts'
import { runJobflowBench } from './jobflow.ts'
import { runConsensusBench } from './consensus.ts'
import { runCoordinatorBench } from './coordinator.ts'
import { runVrfBench } from './vrf.ts'
import { runGatewayBench } from './gateway.ts'

const sections: Record<string, () => Promise<void>> = {
  intake: runIntakeBench,
  chain: runChainBench,
  jobflow: runJobflowBench,
  consensus: runConsensusBench,
  coordinator: runCoordinatorBench,
  vrf: runVrfBench,
  gateway: runGatewayBench,
}

const wanted = process.argv.slice(2).filter(a => !a.startsWith('-'))
const run = wanted.length > 0 ? wanted : Object.keys(sections)
console.log(`AITBC benchmarks on ${machine()}`)
for (const name of run) {
  const f = sections[name]
  if (f === undefined) { console.error(`unknown section "${name}"; sections: ${Object.keys(sections).join(', ')}`); process.exit(2) }
  console.log(`\n== ${name} ==`)
  await f()
}
