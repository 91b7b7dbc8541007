// Pay only for verified work, end to end: a real node, three `aitbc miner start` processes serving
// one model (same digest) at token prices, two on honest dev-ollamas and one on `aitbc dev-ollama
// --lie` (filler of the honest token count). At verification_rate 1 every job is re-run by the
// other miners: every job ends, the liar earns nothing and is slashed, the honest miners are never
// slashed, no client pays for a rejected result, and the honest jobs pass and are paid. At 0.1 the
// same invariants hold for whatever the sample drew. The liar's figures are printed.
import { expect } from 'chai'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { join } from 'node:path'
import { aitbc, freePort, spawnAitbc, startTestNode, tempDir, until, type Proc, type TestNode } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { signTx, jobIdFromTxHash } from '../../node/core/tx.ts'
import { formatAitbc } from '../../node/core/amount.ts'
import type { SigningKey } from '../../node/core/crypto.ts'
import { silentLogger } from '../../node/logger.ts'
import type { JobJSON, MinerJSON } from '../../node/client.ts'
import { startDevOllama, type DevOllamaServer } from '../../miner/devOllama.ts'
import { startCoordinator } from '../../coordinator-module/coordinator.ts'
import { ROOT } from '../helpers/procs.ts'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const ARTIFACTS = join(ROOT, 'test-artifacts')

const MODEL = 'llama3.2:latest'
const FINAL = new Set(['completed', 'failed', 'rejected', 'expired', 'cancelled'])
const MAX_FEE = 1_000_000n // 1 AITBC
const PRICE_IN = '100' // AITBC per million tokens
const PRICE_OUT = '200'
const PROMPTS = ['What is machine learning?', 'Explain proof of stake', 'Describe a neural network', 'Why is the sky blue?', 'What is a blockchain?', 'Define entropy']

interface Market {
  node: TestNode
  alice: SigningKey
  keys: Record<'m1' | 'm2' | 'liar', SigningKey>
  miners: Proc[]
  ollamas: DevOllamaServer[]
  liarOllama: Proc
  dir: string
  chainId: string
  minFee: bigint
}

/** A node at this verification rate, two honest miners and a lying one, all listed and active. */
async function startMarket (rate: string): Promise<Market> {
  const dir = tempDir('aitbc-verify-')
  const node = await startTestNode({
    keys: ['alice', 'm1', 'm2', 'liar'], fund: { alice: '10000', m1: '10000', m2: '10000', liar: '10000' }, blockTimeMs: 200,
    params: { verification_rate: rate, job_timeout_s: 10, assign_timeout_s: 60 },
  })
  const kr = new Keyring(node.aitbcHome)
  const keys = { m1: kr.get('m1'), m2: kr.get('m2'), liar: kr.get('liar') }
  const ollamas = [await startDevOllama({ port: 0, logger: silentLogger() }), await startDevOllama({ port: 0, logger: silentLogger() })]
  const liarPort = await freePort()
  const liarOllama = spawnAitbc(['dev-ollama', '--lie', '--port', String(liarPort)], node.env, join(dir, 'liar-ollama.log'))
  const liarUrl = `http://127.0.0.1:${liarPort}`
  await until('the lying dev-ollama', async () => (await fetch(`${liarUrl}/api/version`)).ok, 30_000, 100)
  const urls = { m1: ollamas[0].url, m2: ollamas[1].url, liar: liarUrl }
  const miners = (['m1', 'm2', 'liar'] as const).map(k => spawnAitbc([
    'miner', 'start', '--key', k, '--node', node.url, '--ollama', urls[k], '--port', '0', '--capacity', '16', '--stake', '1000',
    '--price-in', PRICE_IN, '--price-out', PRICE_OUT, '--data', join(dir, `data-${k}`),
  ], node.env, join(dir, `${k}.log`)))
  await until('three active miners of the model', async () => {
    for (const [i, p] of miners.entries()) if (p.child.exitCode !== null) throw new Error(`miner ${i} exited: ${readFileSync(p.logFile, 'utf8').slice(-2000)}`)
    const r = await node.client.call('aitbc_miners', { model: MODEL })
    return r.miners.filter(m => m.active).length === 3
  }, 60_000, 100)
  const params = await node.client.params()
  return { node, alice: kr.get('alice'), keys, miners, ollamas, liarOllama, dir, chainId: String((await node.client.status()).node_info.network), minFee: BigInt(params.min_fee) }
}

async function stopMarket (m: Market | undefined): Promise<void> {
  if (m === undefined) return
  await Promise.all(m.miners.map(async p => await p.stop('SIGINT')))
  await m.liarOllama.stop('SIGTERM')
  await Promise.all(m.ollamas.map(async o => await o.close()))
  await m.node.stop()
  if (process.env.AITBC_KEEP_TESTNET !== '1') rmSync(m.dir, { recursive: true, force: true })
}

/** Submits n jobs (prompt and chat jobs in turn) from alice, with price caps at the listed prices. */
async function submitJobs (m: Market, n: number, from: number): Promise<string[]> {
  const ids: string[] = []
  const acct = await m.node.client.account(m.alice.address)
  let nonce = Number(acct.pending_nonce)
  for (let i = from; i < from + n; i++) {
    const prompt = PROMPTS[i % PROMPTS.length] + ` (${i})`
    const chat = i % 2 === 1
    const tx = signTx(m.alice, {
      chainId: m.chainId, nonce: nonce++, fee: m.minFee,
      body: {
        type: 'submit_job', model: MODEL, prompt: chat ? '' : prompt, options: { temperature: null, numPredict: 48, seed: null }, maxFee: MAX_FEE, maxPricePerSecond: 0n,
        messages: chat ? [{ role: 'system', content: 'Answer in one paragraph.' }, { role: 'user', content: prompt }] : null,
        maxPriceIn: BigInt(PRICE_IN) * 1_000_000n, maxPriceOut: BigInt(PRICE_OUT) * 1_000_000n,
      },
    })
    const r = await m.node.client.broadcastSync(tx.bytes)
    expect(r.code, r.log).to.equal(0)
    ids.push(jobIdFromTxHash(tx.hash))
  }
  return ids
}

async function minerOf (m: Market, k: SigningKey): Promise<MinerJSON> { return await m.node.client.miner(k.address) }

/** The jobs' final records, once every one is final. */
async function allFinal (m: Market, ids: string[], timeoutMs: number): Promise<JobJSON[]> {
  return await until(`${ids.length} jobs final`, async () => {
    const jobs = await Promise.all(ids.map(async id => await m.node.client.job(id)))
    return jobs.every(j => FINAL.has(j.status)) ? jobs : false
  }, timeoutMs, 200)
}

/** Submits batches until every miner has been assigned at least `each` jobs (bounded), then waits for all to end. */
async function runJobs (m: Market, first: number, each: number, maxJobs: number): Promise<JobJSON[]> {
  const ids = await submitJobs(m, first, 0)
  for (;;) {
    const jobs = await until('the jobs assigned', async () => {
      const js = await Promise.all(ids.map(async id => await m.node.client.job(id)))
      return js.every(j => j.miner !== null || FINAL.has(j.status)) ? js : false
    }, 30_000, 200)
    const per = Object.values(m.keys).map(k => jobs.filter(j => j.miner === k.address).length)
    if (per.every(c => c >= each) || ids.length >= maxJobs) break
    ids.push(...await submitJobs(m, 3, ids.length))
  }
  return await allFinal(m, ids, 60_000)
}

interface Holdings { balance: bigint, stake: bigint, unbonding: bigint }
async function holdings (m: Market, k: SigningKey): Promise<Holdings> {
  const a = await m.node.client.account(k.address)
  return { balance: BigInt(a.balance), stake: BigInt(a.bonded), unbonding: BigInt(a.unbonding) }
}
const total = (h: Holdings): bigint => h.balance + h.stake + h.unbonding

/** The invariants of both runs: every job ends, honest miners are never slashed, no client pays for a rejected result. */
async function checkInvariants (m: Market, jobs: JobJSON[]): Promise<void> {
  for (const j of jobs) {
    expect(['completed', 'rejected'], `${j.job_id}: ${j.status} ${j.error ?? ''}`).to.include(j.status)
    expect(BigInt(j.paid as string) + BigInt(j.refund as string)).to.equal(MAX_FEE)
    if (j.status === 'rejected') {
      expect(j.paid, `${j.job_id} rejected but paid`).to.equal('0')
      expect(j.refund).to.equal(MAX_FEE.toString())
    }
  }
  for (const k of [m.keys.m1, m.keys.m2]) {
    const mj = await minerOf(m, k)
    expect(mj.slashed, `honest miner ${k.address} slashed`).to.equal('0')
    expect(mj.jobs_rejected).to.equal(0)
  }
  for (const j of jobs.filter(x => x.miner !== m.keys.liar.address)) {
    expect(j.status, `honest job ${j.job_id}: ${JSON.stringify(j.verification)}`).to.equal('completed')
    expect(BigInt(j.paid as string) > 0n).to.equal(true)
    expect(j.result).to.be.a('string').and.not.equal('')
    expect(j.model_digest_used).to.match(/^[0-9a-f]{64}$/)
  }
  expect((await m.node.client.call('aitbc_supply')).invariant_holds).to.equal(true)
}

function report (label: string, jobs: JobJSON[], liar: MinerJSON, before: Holdings, after: Holdings): void {
  const mine = jobs.filter(j => j.miner === liar.address)
  const line = `      ${label}: liar had ${mine.length} of ${jobs.length} jobs (${mine.filter(j => j.status === 'rejected').length} rejected, ${mine.filter(j => j.status === 'completed').length} paid unchecked); ` +
    `earned ${formatAitbc(BigInt(liar.earned))} AITBC, slashed ${formatAitbc(BigInt(liar.slashed))} AITBC; net change of its holdings (balance + stake + unbonding, fees included) ${formatAitbc(total(after) - total(before))} AITBC\n`
  process.stdout.write(line)
}

describe('e2e: a miner restarted between its commitment and its reveal', function () {
  this.timeout(120_000)
  let node: TestNode | undefined
  let dir = ''
  const procs: Proc[] = []
  const ollamas: DevOllamaServer[] = []
  after(async () => {
    await Promise.all(procs.map(async p => await p.stop('SIGKILL')))
    await Promise.all(ollamas.map(async o => await o.close()))
    await node?.stop()
    if (dir !== '') rmSync(dir, { recursive: true, force: true })
  })

  it('reveals from the salt it saved and is paid; the verifier is not slashed', async () => {
    dir = tempDir('aitbc-verify-restart-')
    node = await startTestNode({ keys: ['alice', 'm1', 'm2'], fund: { alice: '1000', m1: '1000', m2: '1000' }, blockTimeMs: 200, params: { verification_rate: '1', job_timeout_s: 15, assign_timeout_s: 60 } })
    const n = node
    // Slow answers: the miner waits committed while the verifier re-runs the job.
    for (let i = 0; i < 2; i++) ollamas.push(await startDevOllama({ port: 0, logger: silentLogger(), latencyMs: 3000 }))
    const start = (k: 'm1' | 'm2', i: number): Proc => spawnAitbc(['miner', 'start', '--key', k, '--node', n.url, '--ollama', ollamas[i].url, '--port', '0', '--capacity', '2', '--data', join(dir, `data-${k}`)], n.env, join(dir, `${k}.log`))
    const miners: Record<string, Proc> = { m1: start('m1', 0), m2: start('m2', 1) }
    procs.push(miners.m1, miners.m2)
    await until('two active miners', async () => (await n.client.call('aitbc_miners', { model: MODEL })).miners.filter(x => x.active).length === 2, 60_000, 100)
    const kr = new Keyring(n.aitbcHome)
    const alice = kr.get('alice')
    const params = await n.client.params()
    const acct = await n.client.account(alice.address)
    const tx = signTx(alice, {
      chainId: String((await n.client.status()).node_info.network), nonce: Number(acct.pending_nonce), fee: BigInt(params.min_fee),
      body: { type: 'submit_job', model: MODEL, prompt: 'What is a commitment scheme?', options: { temperature: null, numPredict: 32, seed: null }, maxFee: MAX_FEE, maxPricePerSecond: null },
    })
    expect((await n.client.broadcastSync(tx.bytes)).code).to.equal(0)
    const jobId = jobIdFromTxHash(tx.hash)
    // The miner has committed and the verifier is re-running it: kill the miner there.
    const committed = await until('the job in its commit phase', async () => { const j = await n.client.job(jobId); return j.verification?.phase === 'commit' ? j : false }, 30_000, 50)
    const key = Object.entries({ m1: kr.get('m1'), m2: kr.get('m2') }).find(([, k]) => k.address === committed.miner)?.[0] as 'm1' | 'm2'
    const saved = join(dir, `data-${key}`, `${jobId}.json`)
    const { statSync } = await import('node:fs')
    expect(statSync(saved).mode & 0o777, 'the saved salt is private').to.equal(0o600)
    await miners[key].stop('SIGKILL')
    const again = start(key, key === 'm1' ? 0 : 1)
    procs.push(again)
    const job = await until('the job settled', async () => { const j = await n.client.job(jobId); return FINAL.has(j.status) ? j : false }, 60_000, 100)
    expect(job.status, JSON.stringify(job.verification)).to.equal('completed')
    expect(job.verification?.outcome).to.equal('pass')
    expect(job.verification?.miner_revealed).to.equal(true)
    expect(BigInt(job.paid as string) > 0n).to.equal(true)
    for (const k of ['m1', 'm2']) expect((await n.client.miner(kr.get(k).address)).slashed).to.equal('0')
    expect(readFileSync(again.logFile, 'utf8')).to.match(/resuming a saved commitment/)
    await until('the saved salt forgotten after the reveal', () => { try { statSync(saved); return false } catch { return true } }, 10_000)
  })
})

describe('e2e: pay only for verified work (two honest miners and a liar)', function () {
  this.timeout(180_000)

  describe('at verification_rate 1', () => {
    let m: Market | undefined
    after(async () => { await stopMarket(m) })

    it('every job ends; the liar earns nothing and is slashed; honest miners pass, are paid and never slashed; no client pays for a rejected result', async () => {
      m = await startMarket('1')
      const liarBefore = await holdings(m, m.keys.liar)
      const jobs = await runJobs(m, 12, 2, 24)
      await checkInvariants(m, jobs)
      const liarJobs = jobs.filter(j => j.miner === m!.keys.liar.address)
      expect(liarJobs.length).to.be.at.least(1)
      for (const j of liarJobs) {
        expect(j.status).to.equal('rejected')
        expect(j.verification?.outcome).to.equal('fail')
        expect(j.verified).to.equal(false)
        expect(BigInt(j.slashed as string) > 0n).to.equal(true)
      }
      for (const j of jobs.filter(x => x.miner !== m!.keys.liar.address)) {
        expect(j.verification?.outcome).to.equal('pass')
        expect(j.verified).to.equal(true)
        expect(j.verification?.similarity).to.equal(1_000_000)
      }
      const liar = await minerOf(m, m.keys.liar)
      expect(liar.earned).to.equal('0')
      expect(BigInt(liar.slashed) > 0n).to.equal(true)
      expect(liar.jobs_rejected).to.equal(liarJobs.length)
      const liarAfter = await holdings(m, m.keys.liar)
      expect(total(liarAfter) < total(liarBefore)).to.equal(true)
      report('rate 1', jobs, liar, liarBefore, liarAfter)
    })

    it('aitbc submit chat defaults its price caps from the listed prices and says so; --wait, aitbc status and aitbc node status print Verified:', async () => {
      const mk = m as Market
      const args = ['--node', mk.node.url]
      const r = await aitbc(['submit', 'chat', '--model', MODEL, '--system', 'Answer briefly.', '--user', 'What is verification by re-execution?', '--max-fee', '1', '--wait', '--from', 'alice', ...args], mk.node.env)
      // Every miner bills by tokens: the per-second cap is the chain's default price.
      const pps = BigInt((await mk.node.client.params()).default_price_per_second)
      expect(r.stderr).to.include(`Price caps: ${PRICE_IN} AITBC in / ${PRICE_OUT} AITBC out per million tokens, ${formatAitbc(pps)} AITBC per second`)
      expect(r.stderr).to.match(/--max-price-in, --max-price-out, --max-price-per-second defaulted from the highest prices of the 3 active miner\(s\) of llama3\.2:latest/)
      const id = /^Job ID: (job_[0-9a-f]{16})$/m.exec(r.stdout)?.[1] as string
      const job = await mk.node.client.job(id)
      expect(job.kind).to.equal('chat')
      expect([job.max_price_in, job.max_price_out, job.max_price_per_second]).to.deep.equal([String(BigInt(PRICE_IN) * 1_000_000n), String(BigInt(PRICE_OUT) * 1_000_000n), pps.toString()])
      if (job.miner === mk.keys.liar.address) {
        expect(r.code).to.equal(2)
        expect(r.stdout).to.match(/^Status: rejected$/m)
        expect(r.stdout).to.match(/^Verified: no \(rejected: /m)
      } else {
        expect(r.code, r.stderr).to.equal(0)
        expect(r.stdout).to.match(/^Status: completed$/m)
        expect(r.stdout).to.match(/^Verified: yes \(passed: similarity 100\.0%; verifiers aitbc1\w+ \(agree\)/m)
      }
      const liarJob = (await mk.node.client.jobs({ miner: mk.keys.liar.address, status: 'rejected' })).jobs[0]
      const st = await aitbc(['status', liarJob.job_id, ...args], mk.node.env)
      expect(st.code, st.stderr).to.equal(0)
      expect(st.stdout).to.match(/^Status: rejected$/m)
      expect(st.stdout).to.match(/^Verified: no \(rejected: similarity \d+\.\d%; verifiers .*\(agree\).*; the miner was slashed [\d.]+ AITBC and the client refunded, settled at height \d+\)$/m)
      expect(st.stdout).to.match(/^Rejected in: [\d.]+ seconds$/m)
      expect(st.stdout).to.match(/^Cost: 0 AITBC$/m)
      const ns = await aitbc(['node', 'status', ...args], mk.node.env)
      expect(ns.code, ns.stderr).to.equal(0)
      expect(ns.stdout).to.match(/^Verified: \d+ result\(s\) passed verification, [1-9]\d* rejected, [1-9]\d* verification run\(s\), over 3 miner\(s\) \(verification_rate 1\)$/m)
    })
    it('the explorer\'s job page shows the verification: verdict, each verifier with the heights it was drawn and committed, the dispute (browser)', async function () {
      if (!existsSync(CHROMIUM)) {
        const msg = `${CHROMIUM} is missing: install it with "apt-get update && apt-get install -y chromium"`
        if (process.env.CI === 'true') throw new Error(`CI=true and ${msg}; the browser tests cannot be skipped in CI`)
        process.stderr.write(`\n${'!'.repeat(100)}\n!!! WARNING: SKIPPING THE EXPLORER VERIFICATION BROWSER TEST: ${msg}\n${'!'.repeat(100)}\n\n`)
        this.skip()
      }
      const mk = m as Market
      const rejected = (await mk.node.client.jobs({ miner: mk.keys.liar.address, status: 'rejected' })).jobs[0]
      const passed = (await mk.node.client.jobs({ status: 'completed' })).jobs.find(j => j.verification?.outcome === 'pass') as JobJSON
      const dataDir = tempDir('aitbc-explorer-verify-')
      const profile = tempDir('aitbc-chromium-')
      const coord = await startCoordinator({ nodeUrl: mk.node.url, dataDir, port: 0, logger: silentLogger(), pollMs: 300 })
      const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1366, height: 900 } })
      try {
        const page = context.pages()[0] ?? await context.newPage()
        await until('the coordinator indexed the jobs', async () => (await fetch(`${coord.url}/v1/jobs/${rejected.job_id}`).then(r => r.json()) as { status?: string }).status === 'rejected', 60_000, 200)
        for (const [j, verdict] of [[rejected, /failed: the verifiers agreed on another result/], [passed, /passed: the verifiers reproduced the result/]] as const) {
          await page.goto(`${coord.url}/#/job/${j.job_id}`)
          const panel = page.getByTestId('job-verification')
          await panel.waitFor({ timeout: 30_000 })
          await page.getByTestId('job-verdict').filter({ hasText: verdict }).waitFor({ timeout: 30_000 })
          const rows = page.getByTestId('job-verifier')
          expect(await rows.count()).to.equal(j.verification?.verifiers.length)
          for (const [i, r] of (j.verification?.verifiers ?? []).entries()) {
            const text = await rows.nth(i).innerText()
            expect(text).to.include(r.assigned_height)
            if (r.committed_height !== null) expect(text).to.include(r.committed_height)
            expect(text).to.include(r.outcome as string)
          }
          expect(await page.getByTestId('job-verified').innerText()).to.match(j === rejected ? /no: rejected/ : /yes/)
          mkdirSync(ARTIFACTS, { recursive: true })
          await page.screenshot({ path: join(ARTIFACTS, `job-verification-${j === rejected ? 'rejected' : 'passed'}.png`), fullPage: true })
        }
      } finally {
        await context.close()
        await coord.stop()
        for (const d of [dataDir, profile]) rmSync(d, { recursive: true, force: true })
      }
    })
  })

  describe('at verification_rate 0.1', () => {
    let m: Market | undefined
    after(async () => { await stopMarket(m) })

    it('every job ends; honest miners are never slashed; a caught lie is rejected, refunded and slashed', async () => {
      m = await startMarket('0.1')
      const liarBefore = await holdings(m, m.keys.liar)
      const jobs = await runJobs(m, 12, 1, 18)
      await checkInvariants(m, jobs)
      for (const j of jobs.filter(x => x.miner === m!.keys.liar.address)) {
        if (j.verification?.sampled === true) {
          expect(j.status).to.equal('rejected')
          expect(BigInt(j.slashed as string) > 0n).to.equal(true)
        } else {
          expect(j.status).to.equal('completed')
          expect(j.verification?.outcome).to.equal('unchecked')
        }
      }
      const liar = await minerOf(m, m.keys.liar)
      const liarAfter = await holdings(m, m.keys.liar)
      // Caught at least once: what it lost exceeds all it earned.
      if (BigInt(liar.slashed) > 0n) expect(BigInt(liar.slashed) > BigInt(liar.earned)).to.equal(true)
      report('rate 0.1', jobs, liar, liarBefore, liarAfter)
    })
  })
})
