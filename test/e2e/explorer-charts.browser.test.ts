// The explorer's charts, miner pages and live job page in a real browser: Debian's Chromium
// driven by playwright-core, against a coordinator that follows a real node with two miners on
// dev-ollama, after a load of 300 transfers and jobs of every outcome the chain has today
// (completed, failed, cancelled, expired). It checks that every overview chart has points,
// switches a chart's window, sorts the miners table, opens a miner page and its charts, and
// watches a job's page go pending → assigned → completed without a reload; at desktop and
// phone width (no horizontal overflow at 390 px), light and dark (the dark theme's background is
// dark). Screenshots go to test-artifacts/.
//
// Without /usr/bin/chromium the tests are skipped with a loud warning, except under CI=true.
import { expect } from 'chai'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { startTestNode, until, ROOT, type TestNode } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { signTx, type TxBody } from '../../node/core/tx.ts'
import { addressFromBytes, toBase64, type SigningKey } from '../../node/core/crypto.ts'
import { silentLogger } from '../../node/logger.ts'
import { startDevOllama, type DevOllamaServer } from '../../miner/devOllama.ts'
import { startMiner, type RunningMiner } from '../../miner/daemon.ts'
import { startCoordinator, type RunningCoordinator } from '../../coordinator-module/coordinator.ts'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const ARTIFACTS = join(ROOT, 'test-artifacts')
const MODEL = 'llama3.2:latest'
/** Served by carol's dev-ollama only, which waits before its first token: a job on it stays assigned for a while. */
const SLOW_MODEL = 'slow-echo:latest'
const NOBODY_SERVES = 'nobody-serves:1b'
const OVERVIEW = ['tx-per-s', 'block-interval', 'mempool', 'jobs', 'job-latency']
const MINER = ['miner-tokens-per-s', 'miner-first-token', 'miner-rates', 'miner-earnings', 'miner-stake']
const FINAL = ['completed', 'failed', 'cancelled', 'expired', 'rejected']
const DESKTOP = { width: 1366, height: 900 }
const PHONE = { width: 390, height: 844 }

describe('e2e (browser): the explorer\'s charts, miner pages and live job page', function () {
  this.timeout(240_000)
  let node: TestNode
  let alice: SigningKey
  let chainId: string
  let minFee: bigint
  const ollamas: DevOllamaServer[] = []
  const miners: RunningMiner[] = []
  let coord: RunningCoordinator
  let context: BrowserContext
  let page: Page
  let profile: string
  let dataDir: string
  const requests: string[] = []
  const pageErrors: string[] = []
  const outcomes = new Map<string, string>()

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      const msg = `${CHROMIUM} is missing: install it with "apt-get update && apt-get install -y chromium"`
      if (process.env.CI === 'true') throw new Error(`CI=true and ${msg}; the browser tests cannot be skipped in CI`)
      process.stderr.write(`\n${'!'.repeat(100)}\n!!! WARNING: SKIPPING THE EXPLORER BROWSER TESTS: ${msg}\n${'!'.repeat(100)}\n\n`)
      this.skip()
    }
    node = await startTestNode({ keys: ['alice', 'bob', 'carol'], blockTimeMs: 200, params: { assign_timeout_s: 4, job_timeout_s: 8 } })
    const kr = new Keyring(node.aitbcHome)
    alice = kr.get('alice')
    chainId = String((await node.client.status()).node_info.network)
    minFee = BigInt((await node.client.params()).min_fee)
    // bob fails every other request; carol answers slowly and alone serves SLOW_MODEL.
    ollamas.push(await startDevOllama({ port: 0, logger: silentLogger(), failRate: 0.5 }))
    ollamas.push(await startDevOllama({ port: 0, logger: silentLogger(), latencyMs: 1500, models: [MODEL, SLOW_MODEL] }))
    miners.push(await startMiner({ key: kr.get('bob'), nodeUrl: node.url, ollamaUrl: ollamas[0].url, httpPort: 0, logger: silentLogger() }))
    miners.push(await startMiner({ key: kr.get('carol'), nodeUrl: node.url, ollamaUrl: ollamas[1].url, httpPort: 0, capacity: 2, logger: silentLogger() }))
    dataDir = mkdtempSync(join(tmpdir(), 'aitbc-explorer-charts-'))
    coord = await startCoordinator({ nodeUrl: node.url, dataDir, port: 0, logger: silentLogger(), pollMs: 500, mempoolSampleMs: 500 })
    await until('both miners listed', async () => (await (await fetch(`${coord.url}/v1/miners`)).json()).total === 2, 30_000)

    await putLoad()

    profile = mkdtempSync(join(tmpdir(), 'aitbc-chromium-'))
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: DESKTOP })
    page = context.pages()[0] ?? await context.newPage()
    page.on('request', r => { requests.push(r.url()) })
    page.on('pageerror', e => { pageErrors.push(e.message) })
    mkdirSync(ARTIFACTS, { recursive: true })
  })

  after(async () => {
    await context?.close()
    await coord?.stop()
    for (const m of miners) await m.stop()
    for (const o of ollamas) await o.close()
    await node?.stop()
    for (const d of [profile, dataDir]) if (d !== undefined) rmSync(d, { recursive: true, force: true })
  })

  async function signed (body: TxBody): Promise<Uint8Array> {
    const acct = await node.client.account(alice.address)
    return signTx(alice, { chainId, nonce: Number(acct.pending_nonce), fee: minFee, body }).bytes
  }

  async function submit (prompt: string, model = MODEL): Promise<string> {
    const tx = await signed({ type: 'submit_job', model, prompt, options: { temperature: 0.2, numPredict: 16, seed: 5 }, maxFee: 2_000_000n, maxPricePerSecond: null })
    const r = await fetch(`${coord.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tx: toBase64(tx) }) })
    expect(r.status).to.equal(202)
    return (await r.json()).job_id
  }

  async function settled (jobId: string): Promise<string> {
    return await until(`job ${jobId} settled`, async () => { const j = await node.client.job(jobId); return FINAL.includes(j.status) ? j.status : false }, 40_000)
  }

  /** 300 transfers, then jobs that complete, fail, are cancelled and expire. */
  async function putLoad (): Promise<void> {
    const start = Number((await node.client.account(alice.address)).pending_nonce)
    for (let i = 0; i < 300; i++) {
      const to = addressFromBytes(new Uint8Array(20).fill(i % 250 + 1))
      const tx = signTx(alice, { chainId, nonce: start + i, fee: minFee, body: { type: 'transfer', to, amount: 1000n } })
      const r = await node.client.broadcastSync(tx.bytes)
      expect(r.code, r.log).to.equal(0)
    }
    const jobs: string[] = []
    for (let i = 0; i < 8; i++) jobs.push(await submit(`Load job ${i}: what is a blockchain?`))
    const toCancel = await submit('Cancel me', NOBODY_SERVES)
    jobs.push(await submit('Nobody takes me', NOBODY_SERVES))
    await until('the job to cancel in a block', async () => (await (await fetch(`${coord.url}/v1/jobs/${toCancel}`)).json()).submitted_height !== undefined)
    const r = await node.client.broadcastSync(await signed({ type: 'cancel_job', jobId: toCancel }))
    expect(r.code, r.log).to.equal(0)
    jobs.push(toCancel)
    for (const id of jobs) outcomes.set(id, await settled(id))
    expect([...new Set(outcomes.values())]).to.include.members(['completed', 'failed', 'cancelled', 'expired'])
    const height = Number((await node.client.status()).sync_info.latest_block_height)
    await until('the coordinator synced', async () => {
      const h = await (await fetch(`${coord.url}/health`)).json()
      return h.indexed_height >= height && h.refresh_pending === 0
    }, 30_000)
  }

  async function chartsReady (names: string[]): Promise<Record<string, number>> {
    const points: Record<string, number> = {}
    for (const n of names) {
      const fig = page.locator(`figure[data-chart="${n}"]`)
      await fig.waitFor()
      await page.waitForFunction((name) => document.querySelector(`figure[data-chart="${name}"]`)?.getAttribute('data-state') === 'ready', n)
      points[n] = Number(await fig.getAttribute('data-points'))
    }
    return points
  }

  async function layout (): Promise<{ scrollWidth: number, clientWidth: number, bg: string }> {
    return await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
      bg: getComputedStyle(document.body).backgroundColor,
    }))
  }

  /** Relative luminance of an rgb(...) colour, 0 (black) to 1 (white). */
  function luminance (rgb: string): number {
    const [r, g, b] = (rgb.match(/[\d.]+/g) ?? ['0', '0', '0']).slice(0, 3).map(Number).map(c => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4 })
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
  }

  async function atPhoneWidth (shot: string): Promise<void> {
    await page.setViewportSize(PHONE)
    await page.waitForTimeout(400) // the charts redraw at the new width
    const l = await layout()
    expect(l.clientWidth, shot).to.equal(PHONE.width)
    expect(l.scrollWidth, `${shot}: no horizontal overflow at ${PHONE.width} px`).to.be.at.most(PHONE.width)
    await page.screenshot({ path: join(ARTIFACTS, `${shot}-phone.png`), fullPage: true })
    await page.setViewportSize(DESKTOP)
  }

  it('the overview: every chart has points, a window switches, at desktop and phone width, light and dark', async () => {
    await page.emulateMedia({ colorScheme: 'light' })
    await page.goto(coord.url + '/')
    await page.waitForSelector('[data-testid="charts"]')
    const points = await chartsReady(OVERVIEW)
    for (const n of OVERVIEW) expect(points[n], `${n} has points`).to.be.greaterThan(0)
    // What a chart draws is what the series endpoint serves.
    const jobs = await (await fetch(`${coord.url}/v1/stats/series?metric=jobs&window=1h`)).json()
    const settledInChart = jobs.points.reduce((a: number, p: any) => a + p.value, 0)
    expect(settledInChart).to.be.at.least(outcomes.size)
    expect(luminance((await layout()).bg)).to.be.above(0.8)
    await page.screenshot({ path: join(ARTIFACTS, 'charts-overview-desktop.png'), fullPage: true })

    // Switch tx-per-s to the last 100 blocks: one point per block instead of one per minute.
    const fig = page.locator('figure[data-chart="tx-per-s"]')
    expect(await fig.getAttribute('data-window')).to.equal('1h')
    await fig.locator('button[data-window="100b"]').click()
    await page.waitForFunction(() => {
      const f = document.querySelector('figure[data-chart="tx-per-s"]')
      return f?.getAttribute('data-window') === '100b' && f.getAttribute('data-state') === 'ready'
    })
    const perBlock = Number(await fig.getAttribute('data-points'))
    expect(perBlock).to.be.greaterThan(points['tx-per-s'])
    expect(await fig.locator('button[data-window="100b"]').getAttribute('aria-pressed')).to.equal('true')
    expect(await fig.locator('svg').getAttribute('data-window')).to.equal('100b')
    // The chart follows the chain without a reload (a block at least each second), and the window chosen survives the page's own refresh.
    await page.evaluate(() => { (window as any).__sameDocument = true })
    const lastHeight = Number(await fig.locator('svg').getAttribute('data-last-height'))
    await page.waitForFunction((h) => Number(document.querySelector('figure[data-chart="tx-per-s"] svg')?.getAttribute('data-last-height')) > h, lastHeight, { timeout: 15_000 })
    expect(await page.evaluate(() => (window as any).__sameDocument)).to.equal(true)
    expect(await page.locator('figure[data-chart="tx-per-s"]').getAttribute('data-window')).to.equal('100b')
    await fig.locator('button[data-window="24h"]').click()
    await page.waitForFunction(() => document.querySelector('figure[data-chart="tx-per-s"]')?.getAttribute('data-window') === '24h' && document.querySelector('figure[data-chart="tx-per-s"]')?.getAttribute('data-state') === 'ready')
    expect(Number(await fig.getAttribute('data-points'))).to.be.greaterThan(0)

    await atPhoneWidth('charts-overview')
    await page.emulateMedia({ colorScheme: 'dark' })
    await chartsReady(OVERVIEW)
    const dark = await layout()
    expect(luminance(dark.bg), `dark background ${dark.bg}`).to.be.below(0.05)
    await page.screenshot({ path: join(ARTIFACTS, 'charts-overview-dark-desktop.png'), fullPage: true })
    await atPhoneWidth('charts-overview-dark')
    await page.emulateMedia({ colorScheme: 'light' })
    expect(pageErrors).to.deep.equal([])
  })

  it('the miners table sorts by a column; a miner page shows its performance and charts', async () => {
    await page.goto(coord.url + '/#/miners')
    await page.waitForSelector('[data-testid="miners-table"] tbody tr')
    const api = (await (await fetch(`${coord.url}/v1/miners`)).json()).miners as any[]
    const rows = async (): Promise<string[]> => await page.locator('[data-testid="miners-table"] tbody tr').evaluateAll(trs => trs.map(tr => tr.getAttribute('data-miner') ?? ''))
    await page.click('[data-testid="miners-table"] button[data-sort="earned"]')
    const byEarned = [...api].sort((a, b) => Number(b.earned) - Number(a.earned)).map(m => m.address)
    expect(await rows()).to.deep.equal(byEarned)
    expect(await page.locator('th:has(button[data-sort="earned"])').getAttribute('aria-sort')).to.equal('descending')
    await page.click('[data-testid="miners-table"] button[data-sort="earned"]')
    expect(await rows()).to.deep.equal([...api].sort((a, b) => Number(a.earned) - Number(b.earned)).map(x => x.address))
    await page.click('[data-testid="miners-table"] button[data-sort="success_rate"]')
    const bySuccess = [...api].sort((a, b) => (b.performance.success_rate ?? -1) - (a.performance.success_rate ?? -1)).map(m => m.address)
    expect(await rows()).to.deep.equal(bySuccess)
    await page.screenshot({ path: join(ARTIFACTS, 'charts-miners-desktop.png'), fullPage: true })

    // The miner with the most completed jobs.
    const m = [...api].sort((a, b) => b.jobs_completed - a.jobs_completed)[0]
    expect(m.performance.tokens_per_s).to.be.greaterThan(0)
    await page.click(`[data-testid="miners-table"] tr[data-miner="${String(m.address)}"] a[href="#/miner/${String(m.address)}"]`)
    await page.waitForSelector('[data-testid="miner-charts"]')
    const points = await chartsReady(MINER)
    for (const n of ['miner-tokens-per-s', 'miner-rates', 'miner-earnings', 'miner-stake']) expect(points[n], `${n} has points`).to.be.greaterThan(0)
    if (m.performance.first_token_ms === null) {
      // Receipts do not report the time to first token yet.
      expect(points['miner-first-token']).to.equal(0)
      expect(await page.locator('figure[data-chart="miner-first-token"] .chart-last').innerText()).to.equal('n/a')
      expect(await page.locator('[data-testid="miner-ttft"] .value').innerText()).to.equal('n/a')
    }
    expect(await page.locator('[data-testid="miner-tps"] .value').innerText()).to.equal(`${String(m.performance.tokens_per_s)} tokens/s`)
    expect(await page.locator('[data-testid="miner-verification"] .value').innerText()).to.equal('0 samples')
    await page.screenshot({ path: join(ARTIFACTS, 'charts-miner-desktop.png'), fullPage: true })
    await atPhoneWidth('charts-miner')
    await page.emulateMedia({ colorScheme: 'dark' })
    await page.screenshot({ path: join(ARTIFACTS, 'charts-miner-dark-desktop.png'), fullPage: true })
    await page.emulateMedia({ colorScheme: 'light' })
    expect(pageErrors).to.deep.equal([])
  })

  it('a job page follows its job live, pending → assigned → completed, without a reload', async () => {
    await page.goto(coord.url + '/#/')
    await page.waitForSelector('[data-testid="charts"]')
    await page.evaluate(() => { (window as any).__sameDocument = true })
    const jobId = await submit('Follow me live', SLOW_MODEL)
    await page.evaluate((id) => { location.hash = `#/job/${id}` }, jobId)
    const progress = page.locator('[data-testid="job-progress"]')
    await progress.waitFor()
    await page.waitForFunction(() => document.querySelector('[data-testid="job-progress"]')?.getAttribute('data-live') === 'ws')
    await page.waitForSelector('[data-testid="job-progress"][data-status="assigned"]', { timeout: 20_000 })
    await page.screenshot({ path: join(ARTIFACTS, 'charts-job-live-assigned.png'), fullPage: true })
    await page.waitForSelector('[data-testid="job-progress"][data-status="completed"]', { timeout: 30_000 })
    expect(await progress.getAttribute('data-seen')).to.equal('pending assigned completed')
    expect(await page.evaluate(() => (window as any).__sameDocument)).to.equal(true)
    // Each step reached, with its block and time; the token stream is not offered (yet).
    const job = await node.client.job(jobId)
    expect(await progress.locator('li[data-step="pending"] .meta').innerText()).to.match(new RegExp(`^block ${String(job.submitted_height)} · `))
    expect(await progress.locator('li[data-step="assigned"] .meta').innerText()).to.match(new RegExp(`^block ${String(job.assigned_height)} · `))
    expect(await progress.locator('li[data-step="outcome"] .meta').innerText()).to.match(new RegExp(`^block ${String(job.settled_height)} · `))
    expect(await progress.locator('li[data-step="streaming"]').getAttribute('data-state')).to.equal('skipped')
    expect(await progress.locator('li[data-step="verifying"] .meta').innerText()).to.equal('not sampled for verification')
    expect(await page.locator('[data-testid="job-result"]').innerText()).to.equal(job.result)
    await page.screenshot({ path: join(ARTIFACTS, 'charts-job-live-desktop.png'), fullPage: true })
    await atPhoneWidth('charts-job-live')

    // Offline: every request went to the coordinator itself.
    const foreign = requests.filter(u => !u.startsWith(coord.url) && !u.startsWith('data:'))
    expect(foreign, foreign.join(', ')).to.deep.equal([])
    expect(pageErrors).to.deep.equal([])
  })
})
