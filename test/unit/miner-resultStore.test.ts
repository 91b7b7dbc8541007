// ResultStore on a temp folder: one private file per job (0600 in a 0700 folder), written whole
// (no temporary file left behind), read back and listed; files that are not entries are reported,
// not trusted; removal.
import { expect } from 'chai'
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ResultStore, isStoredResult, type StoredResult } from '../../miner/resultStore.ts'

const entry = (n: number, over: Partial<StoredResult> = {}): StoredResult => ({
  jobId: `job_${n.toString(16).padStart(16, '0')}`, role: 'miner', committer: 'aitbc1me', salt: 'ab'.repeat(32), text: `text ${n} é`, commitment: 'cd'.repeat(32), storedAt: '2025-01-01T00:00:00.000Z', ...over,
})

describe('miner ResultStore', () => {
  let root: string
  let dir: string
  beforeEach(() => { root = mkdtempSync(join(tmpdir(), 'aitbc-store-')); dir = join(root, 'miner', 'aitbc1me') })
  afterEach(() => { rmSync(root, { recursive: true, force: true }) })

  it('saves an entry in its own private file, in a private folder it creates, with nothing else left behind', () => {
    const s = new ResultStore(dir)
    s.save(entry(1))
    expect(statSync(dir).mode & 0o777).to.equal(0o700)
    expect(readdirSync(dir)).to.deep.equal(['job_0000000000000001.json'])
    expect(statSync(join(dir, 'job_0000000000000001.json')).mode & 0o777).to.equal(0o600)
    expect(s.load('job_0000000000000001')).to.deep.equal(entry(1))
  })

  it('replaces an entry whole, lists them in order, removes them', () => {
    const s = new ResultStore(dir)
    s.save(entry(2))
    s.save(entry(1))
    s.save(entry(2, { role: 'verifier', text: 'second' }))
    expect(s.list()).to.deep.equal({ entries: [entry(1), entry(2, { role: 'verifier', text: 'second' })], unreadable: [] })
    s.remove('job_0000000000000001')
    s.remove('job_0000000000000009') // absent: fine
    expect(s.list().entries.map(e => e.jobId)).to.deep.equal(['job_0000000000000002'])
  })

  it('a missing folder lists nothing; a job id that is not one is refused', () => {
    const s = new ResultStore(join(root, 'nowhere'))
    expect(s.list()).to.deep.equal({ entries: [], unreadable: [] })
    expect(s.load('../etc/passwd')).to.equal(undefined)
    expect(() => s.save(entry(1, { jobId: '../x' }))).to.throw(/not a job id/)
  })

  it('reports files that are not entries and does not trust them', () => {
    const s = new ResultStore(dir)
    s.save(entry(1))
    writeFileSync(join(dir, 'job_0000000000000002.json'), '{"jobId": "job_0000000000000002"')
    writeFileSync(join(dir, 'job_0000000000000003.json'), JSON.stringify(entry(4)))
    writeFileSync(join(dir, 'notes.txt'), 'hi')
    writeFileSync(join(dir, '.job_0000000000000005.json.tmp-1'), 'partial')
    const { entries, unreadable } = s.list()
    expect(entries.map(e => e.jobId)).to.deep.equal(['job_0000000000000001'])
    expect(unreadable).to.deep.equal(['job_0000000000000002.json', 'job_0000000000000003.json', 'notes.txt'])
  })

  const bad: Array<[string, unknown]> = [
    ['null', null],
    ['a bad role', { ...entry(1), role: 'client' }],
    ['a short salt', { ...entry(1), salt: 'ab' }],
    ['an upper-case salt', { ...entry(1), salt: 'AB'.repeat(32) }],
    ['no text', { ...entry(1), text: undefined }],
    ['a bad job id', { ...entry(1), jobId: 'job_1' }],
  ]
  for (const [what, v] of bad) it(`isStoredResult refuses ${what}`, () => { expect(isStoredResult(v)).to.equal(false) })
  it('isStoredResult takes an entry', () => { expect(isStoredResult(entry(1))).to.equal(true) })
})
