// The prebuilt bundle bin/aitbc.mjs runs (bin/build.mjs): it is rebuilt when a source it was built
// from changes, it finds the repository's files (the verify worker, the explorer) from .build/,
// and AITBC_NO_BUNDLE=1 runs the same CLI from the sources.
import { expect } from 'chai'
import { statSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, aitbc } from '../helpers/procs.ts'
// @ts-expect-error plain JavaScript module without types
import { build, isFresh, OUTPUTS } from '../../bin/build.mjs'
import { REPO_ROOT, repoPath } from '../../node/paths.ts'

describe('prebuilt bundle (bin/build.mjs)', function () {
  this.timeout(60_000)

  it('is fresh after a build and stale once a source it was built from changes', async () => {
    await build()
    expect(isFresh()).to.equal(true)
    const file = join(ROOT, 'node', 'paths.ts')
    const st = statSync(file)
    try {
      utimesSync(file, st.atime, new Date(st.mtimeMs + 5_000))
      expect(isFresh()).to.equal(false)
    } finally {
      // utimes takes seconds as a float: the restored mtime may differ below the millisecond,
      // so the bundle is built again rather than trusted to read as fresh.
      utimesSync(file, st.atime, st.mtime)
      await build()
    }
    expect(isFresh()).to.equal(true)
    for (const out of OUTPUTS as string[]) expect(statSync(out).size).to.be.greaterThan(0)
  })

  it('runs the same CLI as the sources', async () => {
    const bundled = await aitbc(['--help'], {})
    const sources = await aitbc(['--help'], { AITBC_NO_BUNDLE: '1' })
    expect(bundled.code).to.equal(0)
    expect(bundled.stdout).to.equal(sources.stdout)
    expect(bundled.stdout).to.include('Usage: aitbc')
  })

  it('finds the repository root from the sources', () => {
    expect(REPO_ROOT).to.equal(ROOT)
    expect(statSync(repoPath('node', 'chain', 'verifyWorker.mjs')).isFile()).to.equal(true)
    expect(statSync(repoPath('coordinator-module', 'explorer')).isDirectory()).to.equal(true)
  })
})
