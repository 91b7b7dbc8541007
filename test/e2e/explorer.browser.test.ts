// The block explorer in a real browser (issue 5 item 5): Debian's Chromium driven by
// playwright-core loads the explorer of a coordinator that follows a real node with a miner, finds
// a job this test submitted, opens it and sees its result and cost, uses the search box, and
// watches the page refresh itself. Screenshots go to test-artifacts/.
//
// Without /usr/bin/chromium the tests are skipped with a loud warning, except under CI=true, where
// a missing browser fails them (.ci/run installs it: apt-get install -y chromium).
import { expect } from 'chai'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { startTestNode, until, ROOT, type TestNode } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { signTx } from '../../node/core/tx.ts'
import { toBase64, type SigningKey } from '../../node/core/crypto.ts'
import { formatAitbc } from '../../node/core/amount.ts'
import { silentLogger } from '../../node/logger.ts'
import { startDevOllama, type DevOllamaServer } from '../../miner/devOllama.ts'
import { startMiner, type RunningMiner } from '../../miner/daemon.ts'
import { startCoordinator, type RunningCoordinator } from '../../coordinator-module/coordinator.ts'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const ARTIFACTS = join(ROOT, 'test-artifacts')
const MODEL = 'llama3.2:latest'

/** How the explorer writes an amount of uaitbc: AITBC with thousands separators. */
function shown (uaitbc: string): string {
  const [whole, frac] = formatAitbc(BigInt(uaitbc)).split('.')
  return `${BigInt(whole).toLocaleString('en-US')}${frac === undefined ? '' : '.' + frac} AITBC`
}

describe('e2e (browser): the block explorer in Chromium', function () {
  this.timeout(180_000)
  let node: TestNode
  let alice: SigningKey
  let ollama: DevOllamaServer
  let miner: RunningMiner
  let coord: RunningCoordinator
  let context: BrowserContext
  let page: Page
  let profile: string
  let dataDir: string
  const requests: string[] = []
  const pageErrors: string[] = []

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      const msg = `${CHROMIUM} is missing: install it with "apt-get update && apt-get install -y chromium"`
      if (process.env.CI === 'true') throw new Error(`CI=true and ${msg}; the browser tests cannot be skipped in CI`)
      process.stderr.write(`\n${'!'.repeat(100)}\n!!! WARNING: SKIPPING THE EXPLORER BROWSER TESTS: ${msg}\n${'!'.repeat(100)}\n\n`)
      this.skip()
    }
    node = await startTestNode({ blockTimeMs: 200 })
    const kr = new Keyring(node.aitbcHome)
    alice = kr.get('alice')
    ollama = await startDevOllama({ port: 0, logger: silentLogger() })
    miner = await startMiner({ key: kr.get('bob'), nodeUrl: node.url, ollamaUrl: ollama.url, httpPort: 0, logger: silentLogger() })
    dataDir = mkdtempSync(join(tmpdir(), 'aitbc-explorer-'))
    coord = await startCoordinator({ nodeUrl: node.url, dataDir, port: 0, logger: silentLogger(), pollMs: 500 })
    profile = mkdtempSync(join(tmpdir(), 'aitbc-chromium-'))
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1366, height: 900 } })
    page = context.pages()[0] ?? await context.newPage()
    page.on('request', r => { requests.push(r.url()) })
    page.on('pageerror', e => { pageErrors.push(e.message) })
    mkdirSync(ARTIFACTS, { recursive: true })
  })

  after(async () => {
    await context?.close()
    await coord?.stop()
    await miner?.stop()
    await ollama?.close()
    await node?.stop()
    for (const d of [profile, dataDir]) if (d !== undefined) rmSync(d, { recursive: true, force: true })
  })

  async function submit (prompt: string): Promise<string> {
    const params = await node.client.params()
    const chainId = String((await node.client.status()).node_info.network)
    const acct = await node.client.account(alice.address)
    const tx = signTx(alice, {
      chainId, nonce: Number(acct.pending_nonce), fee: BigInt(params.min_fee),
      body: { type: 'submit_job', model: MODEL, prompt, options: { temperature: 0.2, numPredict: 24, seed: 11 }, maxFee: 2_000_000n, maxPricePerSecond: null },
    })
    const r = await fetch(`${coord.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tx: toBase64(tx.bytes) }) })
    expect(r.status).to.equal(202)
    return (await r.json()).job_id
  }

  async function completed (jobId: string): Promise<any> {
    const job = await until(`job ${jobId} completed`, async () => { const j = await node.client.job(jobId); return j.status === 'completed' ? j : false }, 30_000)
    await until('the coordinator to index it', async () => (await (await fetch(`${coord.url}/v1/jobs/${jobId}`)).json()).status === 'completed')
    return job
  }

  async function search (text: string): Promise<void> {
    await page.fill('[data-testid="search-input"]', text)
    await page.click('[data-testid="search-button"]')
  }

  it('shows the network, finds the submitted job in the list, opens it and shows its result and cost', async () => {
    const jobId = await submit('What is machine learning?')
    const job = await completed(jobId)
    await page.goto(coord.url + '/')
    await page.waitForSelector('[data-testid="figures"]')
    const jobsPanel = page.locator('[data-testid="jobs"]')
    await jobsPanel.locator(`a[href="#/job/${jobId}"]`).waitFor()
    for (const id of ['latest-blocks', 'latest-txs', 'miners', 'validators']) await page.locator(`[data-testid="${id}"]`).waitFor()
    // The figures are those of the API.
    const height = await page.locator('[data-testid="fig-height"] .value').innerText()
    expect(Number(height)).to.be.greaterThan(0)
    expect(await page.locator('[data-testid="miners"]').innerText()).to.contain('llama3.2:latest')
    expect(await jobsPanel.innerText()).to.contain('completed')
    await page.screenshot({ path: join(ARTIFACTS, 'explorer.png'), fullPage: true })

    await jobsPanel.locator(`a[href="#/job/${jobId}"]`).click()
    await page.waitForSelector('[data-testid="job-result"]')
    expect(page.url()).to.match(new RegExp(`#/job/${jobId}$`))
    expect(await page.locator('[data-testid="job-id"]').innerText()).to.equal(jobId)
    expect(await page.locator('[data-testid="job-status"]').innerText()).to.equal('completed')
    expect(await page.locator('[data-testid="job-result"]').innerText()).to.equal(job.result)
    expect(await page.locator('[data-testid="job-cost"]').innerText()).to.equal(shown(job.paid))
    expect(await page.locator('[data-testid="job-model"]').innerText()).to.equal(MODEL)
    const timeline = await page.locator('[data-testid="job-timeline"] li').allInnerTexts()
    expect(timeline).to.have.length(3)
    expect(timeline[0]).to.match(new RegExp(`^submitted[\\s\\S]*block ${String(job.submitted_height)}`, 'i'))
    expect(timeline[1]).to.match(new RegExp(`^assigned[\\s\\S]*block ${String(job.assigned_height)}`, 'i'))
    expect(timeline[2]).to.match(new RegExp(`^completed[\\s\\S]*block ${String(job.settled_height)}`, 'i'))
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-job.png'), fullPage: true })

    // Offline: every request went to the coordinator itself.
    const foreign = requests.filter(u => !u.startsWith(coord.url) && !u.startsWith('data:'))
    expect(foreign, foreign.join(', ')).to.deep.equal([])
    expect(pageErrors).to.deep.equal([])
  })

  it('searches by height, job id, tx hash and address, and says when nothing matches', async () => {
    const jobs = await (await fetch(`${coord.url}/v1/jobs?limit=1`)).json()
    const job = jobs.jobs[0]
    await search(String(job.settled_height))
    await page.waitForSelector('[data-testid="block-height"]')
    expect(page.url()).to.match(new RegExp(`#/block/${String(job.settled_height)}$`))
    expect(await page.locator('[data-testid="block-height"]').innerText()).to.equal(String(job.settled_height))

    await search(job.job_id)
    await page.waitForURL(new RegExp(`#/job/${String(job.job_id)}$`))
    await page.waitForSelector('[data-testid="job-result"]')

    await search(job.submit_tx.toLowerCase())
    await page.waitForURL(new RegExp(`#/tx/${String(job.submit_tx)}$`))
    await page.getByText('submit_job').first().waitFor()

    await search(alice.address)
    await page.waitForURL(new RegExp(`#/account/${alice.address}$`))
    const balance = await page.locator('[data-testid="account-balance"]').innerText()
    const acct = await node.client.account(alice.address)
    expect(balance).to.equal(shown(acct.balance))

    await search('no-such-thing')
    await page.waitForSelector('[data-testid="not-found"]')
    expect(await page.locator('[data-testid="not-found"]').innerText()).to.match(/Nothing found for "no-such-thing"/)
    expect(pageErrors).to.deep.equal([])
  })

  it('refreshes itself: a job submitted while the page is open appears without a reload', async () => {
    await page.goto(coord.url + '/#/')
    await page.waitForSelector('[data-testid="jobs"]')
    const jobId = await submit('Does the page refresh itself?')
    await page.locator(`[data-testid="jobs"] a[href="#/job/${jobId}"]`).waitFor({ timeout: 20_000 })
    await completed(jobId)
    await page.locator(`[data-testid="jobs"] tr:has(a[href="#/job/${jobId}"]) .badge.completed`).waitFor({ timeout: 20_000 })
    expect(pageErrors).to.deep.equal([])
  })
})
