// `npm run fuzz -- [--inputs N] [--seed N] [--surfaces a,b] [--keep]`: see scripts/fuzz/run.ts.
import { CommanderError } from 'commander'
import { parseFuzzArgs } from './fuzz/options.ts'
import { formatReport, runFuzz } from './fuzz/run.ts'

let opts
try {
  opts = parseFuzzArgs(process.argv.slice(2))
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2)
  throw e
}
const report = await runFuzz({ ...opts, log: line => console.log(line) })
console.log(formatReport(report))
if (opts.keep) console.log(`node home and log kept in ${report.dir}`)
process.exit(report.pass ? 0 : 1)
