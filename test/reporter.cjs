// Mocha's spec reporter plus one closing line that CI reads: "N passed, N failed, N skipped",
// computed from mocha's own runner statistics.
'use strict'
const Mocha = require('mocha')
const { EVENT_RUN_END } = Mocha.Runner.constants
class AitbcReporter extends Mocha.reporters.Spec {
  constructor (runner, options) {
    super(runner, options)
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {}
      process.stdout.write(`\n${s.passes || 0} passed, ${s.failures || 0} failed, ${s.pending || 0} skipped\n`)
    })
  }
}
module.exports = AitbcReporter
