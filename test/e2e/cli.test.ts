// The `aitbc` command refuses bad input with a clear message and a non-zero exit, before it
// touches the network; a node that does not answer gives a clear error after the retries.
import { expect } from 'chai'
import { aitbc, tempDir, freePort } from '../helpers/procs.ts'
import { join } from 'node:path'
import { statSync, readdirSync } from 'node:fs'

describe('e2e: aitbc CLI input checks', function () {
  this.timeout(60_000)
  const env = { AITBC_HOME: join(tempDir(), 'home') }
  let deadNode = ''
  before(async () => {
    deadNode = `http://127.0.0.1:${await freePort()}`
    expect((await aitbc(['keys', 'add', 'alice'], env)).code).to.equal(0)
  })

  const cases: Array<[string, string[], RegExp]> = [
    ['an amount with 7 decimals', ['transfer', 'alice', '1.1234567', '--from', 'alice'], /more than 6 decimals/],
    ['a negative amount', ['transfer', 'alice', '-5', '--from', 'alice'], /not an amount/],
    ['a recipient that is neither a key nor an address', ['transfer', 'nobody', '1', '--from', 'alice'], /no key named "nobody"/],
    ['an unknown signing key', ['transfer', 'alice', '1', '--from', 'ghost'], /no key named "ghost"/],
    ['a malformed job id', ['status', 'job_xyz'], /not a job id/],
    ['a malformed tx hash', ['tx', 'abc'], /not a tx hash/],
    ['a height that is not a number', ['block', 'ten'], /not a height/],
    ['a --max-fee with junk', ['submit', 'inference', '--prompt', 'hi', '--model', 'm', '--max-fee', '1e3'], /not an amount/],
    ['a --capacity of 0', ['miner', 'register', '--models', 'm', '--stake', '100', '--capacity', '0'], /integer from 1 to 1000/],
    ['a chat --message without a role', ['submit', 'chat', '--model', 'm', '--message', 'hello'], /ROLE:CONTENT/],
    ['a chat without a user message', ['submit', 'chat', '--model', 'm', '--system', 'be brief'], /needs a user message/],
    ['a --model-digest that is not one', ['submit', 'inference', '--prompt', 'hi', '--model', 'm', '--model-digest', 'latest'], /64 hex digits/],
    ['a --verification-rate above 1', ['devnet', '--verification-rate', '1.5'], /from 0 to 1/],
    ['a key name with a slash', ['keys', 'add', '../evil'], /not a key name/],
    ['adding a key twice', ['keys', 'add', 'alice'], /already exists/],
  ]
  for (const [name, args, msg] of cases) {
    it(`refuses ${name}`, async () => {
      const r = await aitbc(args[0] === 'keys' || args[0] === 'devnet' ? args : [...args, '--node', deadNode], env)
      expect(r.code, r.stdout).to.not.equal(0)
      expect(r.stderr).to.match(msg)
    })
  }

  it('reports an unreachable node clearly after its retries, with a non-zero exit', async () => {
    const r = await aitbc(['balance', 'alice', '--node', deadNode], env)
    expect(r.code).to.not.equal(0)
    expect(r.stderr).to.match(/cannot reach the node at http:\/\/127\.0\.0\.1:\d+/)
  })

  it('keeps key files private (mode 0600) and never prints a seed except on export', async () => {
    const dir = join(env.AITBC_HOME, 'keyring')
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777).to.equal(0o600)
    const show = await aitbc(['keys', 'show', 'alice', '--json'], env)
    const exported = await aitbc(['keys', 'export', 'alice'], env)
    expect(exported.stdout.trim()).to.match(/^[0-9a-f]{64}$/)
    expect(show.stdout).to.not.include(exported.stdout.trim())
  })
})
