// The coordinator (its REST API) against a real node process, a miner and dev-ollama: the REST
// endpoints and their 4xx answers, POST /v1/jobs relaying, cursors, the job WebSocket, API keys
// with a rate limit, a restart that resumes without indexing a block twice, a rebuild, and the
// consistency check: after jobs of every outcome and a SIGKILL of the coordinator mid-run, every
// job, receipt, account and miner it serves equals the node's aitbc_* answers.
import { expect } from 'chai'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { startTestNode, until, ROOT, type TestNode } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { signTx, jobIdFromTxHash, type Tx, type TxBody } from '../../node/core/tx.ts'
import { toBase64, addressFromBytes, fromHex, type SigningKey } from '../../node/core/crypto.ts'
import { silentLogger } from '../../node/logger.ts'
import { startDevOllama, type DevOllamaOptions, type DevOllamaServer } from '../../miner/devOllama.ts'
import { startMiner, type MinerOptions, type RunningMiner } from '../../miner/daemon.ts'
import { startCoordinator, rebuildIndex, type RunningCoordinator } from '../../coordinator-module/coordinator.ts'

const MODEL = 'llama3.2:latest'
const NOBODY_SERVES = 'nobody-serves:1b'
const FINAL = ['completed', 'failed', 'expired', 'cancelled']

// `aitbc coordinator ...` as its own process (cli/main.ts wires addCoordinatorCommands in; this
// runs the same commands without depending on that line).
const CLI_CODE = "import { Command } from 'commander'; const { addCoordinatorCommands } = await import('./coordinator-module/cli.ts'); " +
  "const p = new Command('aitbc'); addCoordinatorCommands(p); await p.parseAsync(process.argv.slice(1), { from: 'user' })"

interface CliCoordinator { child: ChildProcess, output: () => string, exited: Promise<number | string>, url: Promise<string> }

function spawnCoordinatorCli (args: string[], env: Record<string, string>): CliCoordinator {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './node/polyfill.ts', '--input-type=module', '-e', CLI_CODE, '--', 'coordinator', ...args],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let gotUrl!: (u: string) => void
  const url = new Promise<string>(resolve => { gotUrl = resolve })
  const onData = (d: Buffer): void => {
    out += d.toString()
    const m = /Coordinator listening on (http:\/\/\S+) /.exec(out)
    if (m !== null) gotUrl(m[1])
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = new Promise<number | string>(resolve => child.once('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')))
  return { child, output: () => out, exited, url }
}

async function startCli (args: string[], env: Record<string, string>): Promise<{ cli: CliCoordinator, url: string }> {
  const cli = spawnCoordinatorCli(['start', ...args], env)
  const url = await Promise.race([cli.url, cli.exited.then(c => { throw new Error(`coordinator exited (${c}): ${cli.output()}`) })])
  return { cli, url }
}

async function getJSON (url: string): Promise<{ status: number, body: any }> {
  const r = await fetch(url)
  return { status: r.status, body: await r.json() }
}

async function postJSON (url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: any, headers: Headers }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: r.status, body: await r.json(), headers: r.headers }
}

/** The node's fields only (the coordinator may add its own). */
function nodeFields (node: object, served: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(node).map(k => [k, served[k]]))
}

describe('e2e: the coordinator with a real node, a miner and dev-ollama', function () {
  this.timeout(180_000)
  let node: TestNode
  let alice: SigningKey
  let bob: SigningKey
  let chainId: string
  let params: any
  let ollama: DevOllamaServer | undefined
  let miner: RunningMiner | undefined
  let coord: RunningCoordinator
  let base: string
  const dirs: string[] = []
  const clis: CliCoordinator[] = []

  const tempData = (): string => { const d = mkdtempSync(join(tmpdir(), 'aitbc-coord-')); dirs.push(d); return d }

  before(async () => {
    node = await startTestNode({ blockTimeMs: 200, params: { job_timeout_s: 4, assign_timeout_s: 4 } })
    const kr = new Keyring(node.aitbcHome)
    alice = kr.get('alice')
    bob = kr.get('bob')
    params = await node.client.params()
    chainId = String((await node.client.status()).node_info.network)
    await restartMiner()
    coord = await startCoordinator({ nodeUrl: node.url, dataDir: tempData(), port: 0, logger: silentLogger(), pollMs: 500 })
    base = coord.url
  })

  after(async () => {
    for (const c of clis) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL')
    await coord?.stop()
    await miner?.stop()
    await ollama?.close()
    await node?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  async function restartMiner (o: DevOllamaOptions = {}, minerOpts: Partial<MinerOptions> = {}): Promise<void> {
    await miner?.stop()
    await ollama?.close()
    ollama = await startDevOllama({ port: 0, logger: silentLogger(), ...o })
    miner = await startMiner({ key: bob, nodeUrl: node.url, ollamaUrl: ollama.url, httpPort: 0, capacity: 2, logger: silentLogger(), ...minerOpts })
  }

  async function nextNonce (k: SigningKey): Promise<number> {
    return Number((await node.client.account(k.address)).pending_nonce)
  }

  async function signed (k: SigningKey, body: TxBody, opts: { nonce?: number } = {}): Promise<Tx> {
    return signTx(k, { chainId, nonce: opts.nonce ?? await nextNonce(k), fee: BigInt(params.min_fee), body })
  }

  function submitBody (prompt: string, o: { model?: string, maxFee?: bigint } = {}): TxBody {
    return { type: 'submit_job', model: o.model ?? MODEL, prompt, options: { temperature: null, numPredict: 12, seed: 3 }, maxFee: o.maxFee ?? 1_000_000n, maxPricePerSecond: null }
  }

  /** Submits a job through the coordinator's POST /v1/jobs. */
  async function submitVia (url: string, prompt: string, o: { model?: string } = {}): Promise<string> {
    const tx = await signed(alice, submitBody(prompt, o))
    const r = await postJSON(`${url}/v1/jobs`, { tx: toBase64(tx.bytes) })
    expect(r.status, JSON.stringify(r.body)).to.equal(202)
    return r.body.job_id
  }

  async function settled (jobId: string, timeoutMs = 25_000): Promise<any> {
    return await until(`job ${jobId} settled`, async () => {
      const j = await node.client.job(jobId)
      return FINAL.includes(j.status) ? j : false
    }, timeoutMs)
  }

  /** Waits until the coordinator at url has indexed the node's current height and read every record again. */
  async function synced (url: string, timeoutMs = 30_000): Promise<any> {
    const target = Number((await node.client.status()).sync_info.latest_block_height)
    return await until(`coordinator ${url} synced to ${target}`, async () => {
      const h = (await getJSON(`${url}/health`)).body
      return h.indexed_height >= target && h.refresh_pending === 0 ? h : false
    }, timeoutMs)
  }

  async function allNodeJobs (): Promise<any[]> {
    const out: any[] = []
    for (let page = 1; ; page++) {
      const r = await node.client.call('aitbc_jobs', { page: String(page), per_page: '100' })
      out.push(...r.jobs)
      if (out.length >= Number(r.total_count) || r.jobs.length === 0) return out
    }
  }

  /** Txs in blocks 1..height, from the node's block metas. */
  async function chainTxCount (height: number): Promise<number> {
    let n = 0
    for (let top = height; top >= 1; top -= 20) {
      const r = await node.client.call('blockchain', { minHeight: String(Math.max(1, top - 19)), maxHeight: String(top) })
      for (const meta of r.block_metas) n += Number(meta.num_txs)
    }
    return n
  }

  /** Every job, receipt, account and miner the coordinator serves equals the node's answer. */
  async function expectConsistent (url: string): Promise<{ jobs: any[] }> {
    await synced(url)
    const jobs = await allNodeJobs()
    expect(jobs.length).to.be.greaterThan(0)
    // Each block and tx indexed once; each job counted once, by its status.
    const stats = (await getJSON(`${url}/v1/stats`)).body
    expect(stats.txs).to.equal(await chainTxCount(stats.height))
    expect(stats.jobs).to.equal(jobs.length)
    for (const st of ['pending', 'assigned', 'completed', 'failed', 'cancelled', 'expired']) expect(stats.jobs_by_status[st], st).to.equal(jobs.filter(j => j.status === st).length)
    const addresses = new Set<string>([alice.address, bob.address])
    for (const j of jobs) {
      const served = await getJSON(`${url}/v1/jobs/${j.job_id}`)
      expect(served.status, j.job_id).to.equal(200)
      expect(nodeFields(j, served.body), j.job_id).to.deep.equal(j)
      if (j.receipt_id !== null) {
        const want = await node.client.call('aitbc_receipt', { id: j.receipt_id })
        expect((await getJSON(`${url}/v1/receipts/${j.receipt_id}`)).body, j.receipt_id).to.deep.equal(want)
        expect((await getJSON(`${url}/v1/receipts/${j.job_id}`)).body, j.job_id).to.deep.equal(want)
      } else {
        expect((await getJSON(`${url}/v1/receipts/${j.job_id}`)).status).to.equal(404)
      }
      addresses.add(j.client)
      if (j.miner !== null) addresses.add(j.miner)
    }
    // The coordinator's job list holds exactly the node's jobs.
    const listed: string[] = []
    let cursor: string | null = null
    do {
      const page: any = (await getJSON(`${url}/v1/jobs?limit=7${cursor === null ? '' : `&cursor=${cursor}`}`)).body
      listed.push(...page.jobs.map((x: any) => x.job_id))
      cursor = page.next_cursor
    } while (cursor !== null)
    expect([...listed].sort()).to.deep.equal(jobs.map(x => x.job_id).sort())
    // Accounts: every client and miner, the validator (fees) and a never-used address.
    const vals = await node.client.call('validators')
    for (const v of vals.validators) addresses.add(addressFromBytes(fromHex(v.address)))
    addresses.add(addressFromBytes(new Uint8Array(20).fill(7)))
    for (const a of addresses) {
      const { pending_nonce: _, ...want } = await node.client.account(a) as any
      expect(nodeFields(want, (await getJSON(`${url}/v1/accounts/${a}`)).body), a).to.deep.equal(want)
    }
    // Miners.
    const miners = (await node.client.call('aitbc_miners')).miners
    const servedMiners = (await getJSON(`${url}/v1/miners`)).body.miners
    const byAddress = (a: any, b: any): number => a.address < b.address ? -1 : 1
    expect(servedMiners.map((m: any) => nodeFields(miners.find((x: any) => x.address === m.address) ?? {}, m)).sort(byAddress)).to.deep.equal([...miners].sort(byAddress))
    for (const m of miners) expect(nodeFields(m, (await getJSON(`${url}/v1/miners/${m.address}`)).body)).to.deep.equal(m)
    // The jobs indexed from events never disagreed with the node's records.
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).to.match(/^aitbc_coordinator_job_record_mismatches_total 0$/m)
    return { jobs }
  }

  it('relays a signed submit_job (POST /v1/jobs) and serves the job, its receipt, txs and blocks as the node has them', async () => {
    const tx = await signed(alice, submitBody('What is machine learning?'))
    const r = await postJSON(`${base}/v1/jobs`, { tx: toBase64(tx.bytes) })
    expect(r.status).to.equal(202)
    expect(r.body).to.include({ job_id: jobIdFromTxHash(tx.hash), status: 'pending', tx_hash: tx.hash })
    expect(Date.parse(r.body.submitted_at)).to.be.closeTo(Date.now(), 10_000)
    const jobId = r.body.job_id
    // Known at once (relayed, or already in a block).
    const early = await getJSON(`${base}/v1/jobs/${jobId}`)
    expect(early.status).to.equal(200)
    expect(early.body.job_id).to.equal(jobId)

    const final = await settled(jobId)
    expect(final.status).to.equal('completed')
    await synced(base)
    const j = (await getJSON(`${base}/v1/jobs/${jobId}`)).body
    expect(nodeFields(final, j)).to.deep.equal(final)
    expect(j).to.include({ model: MODEL, client: alice.address, miner: bob.address, status: 'completed' })
    expect(j.result).to.be.a('string').and.not.equal('')
    expect(j.cost).to.equal(final.paid)
    expect(j.timeline.map((t: any) => t.step)).to.deep.equal(['submitted', 'assigned', 'completed'])
    expect(j.timeline[0]).to.deep.include({ height: final.submitted_height, time: final.submitted_at, tx_hash: final.submit_tx })
    expect(j.timeline[1]).to.deep.include({ height: final.assigned_height, time: final.assigned_at, tx_hash: final.assign_tx, miner: bob.address })
    expect(j.timeline[2]).to.deep.include({ height: final.settled_height, time: final.completed_at, tx_hash: final.settle_tx })

    const receipt = (await getJSON(`${base}/v1/receipts/${final.receipt_id}`)).body
    expect(receipt).to.deep.equal(await node.client.call('aitbc_receipt', { id: final.receipt_id }))

    const t = (await getJSON(`${base}/v1/txs/${final.submit_tx}`)).body
    expect(t).to.deep.include({ hash: final.submit_tx, height: final.submitted_height, type: 'submit_job', sender: alice.address, job_id: jobId, code: 0 })
    expect(t.body).to.deep.include({ model: MODEL, prompt: 'What is machine learning?', max_fee: '1000000' })
    const nodeTx = await node.client.call('tx', { hash: final.submit_tx })
    expect(t.index).to.equal(nodeTx.index)
    expect(t.events).to.deep.equal(nodeTx.tx_result.events.map((e: any) => ({ type: e.type, attributes: e.attributes.map((a: any) => ({ key: a.key, value: a.value })) })))
    // Lower-case hashes are accepted.
    expect((await getJSON(`${base}/v1/txs/${final.submit_tx.toLowerCase()}`)).status).to.equal(200)

    const b = (await getJSON(`${base}/v1/blocks/${final.settled_height}`)).body
    const nodeBlock = await node.client.call('block', { height: final.settled_height })
    expect(b).to.deep.include({ height: final.settled_height, hash: nodeBlock.block_id.hash, time: nodeBlock.block.header.time, proposer_address: nodeBlock.block.header.proposer_address })
    expect(b.txs.map((x: any) => x.hash)).to.include(final.settle_tx)
    expect((await getJSON(`${base}/v1/blocks/${nodeBlock.block_id.hash}`)).body.height).to.equal(final.settled_height)

    const acct = (await getJSON(`${base}/v1/txs?address=${alice.address}&limit=100`)).body
    expect(acct.txs.map((x: any) => x.hash)).to.include.members([final.submit_tx, final.assign_tx, final.settle_tx])
  })

  it('answers bad input with a 4xx and a message', async () => {
    const transfer = await signed(alice, { type: 'transfer', to: bob.address, amount: 5n })
    const good = await signed(alice, submitBody('tamper with me'))
    const tampered = new Uint8Array(good.bytes)
    tampered[tampered.length - 1] ^= 0xff
    const unsigned = new Uint8Array(good.bytes)
    unsigned.fill(0, unsigned.length - 64)
    const tooRich = await signed(alice, submitBody('too expensive', { maxFee: 10n ** 15n }))
    const stale = await signed(alice, submitBody('old nonce'), { nonce: 0 })
    const zeros = '0'.repeat(64)
    const cases: Array<[string, string, unknown, number, string]> = [
      ['GET', '/v1/jobs/job_0000000000000000', undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/jobs/not-a-job', undefined, 400, 'BAD_ID'],
      ['GET', '/v1/jobs/JOB_0000000000000000', undefined, 400, 'BAD_ID'],
      ['GET', '/v1/receipts/receipt_0000000000000000', undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/receipts/job_0000000000000000', undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/receipts/whatever', undefined, 400, 'BAD_ID'],
      ['GET', '/v1/accounts/aitbc1notanaddress', undefined, 400, 'BAD_ADDRESS'],
      ['GET', `/v1/accounts/${alice.address.toUpperCase()}`, undefined, 400, 'BAD_ADDRESS'],
      ['GET', '/v1/miners/xyz', undefined, 400, 'BAD_ADDRESS'],
      ['GET', `/v1/miners/${alice.address}`, undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/blocks/abc', undefined, 400, 'BAD_HEIGHT'],
      ['GET', '/v1/blocks/0', undefined, 400, 'BAD_HEIGHT'],
      ['GET', '/v1/blocks/-5', undefined, 400, 'BAD_HEIGHT'],
      ['GET', '/v1/blocks/99999999', undefined, 404, 'NOT_FOUND'],
      ['GET', `/v1/blocks/${zeros}`, undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/txs/XYZ', undefined, 400, 'BAD_HASH'],
      ['GET', `/v1/txs/${zeros}`, undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/txs?address=nope', undefined, 400, 'BAD_ADDRESS'],
      ['GET', '/v1/jobs?cursor=garbage!', undefined, 400, 'BAD_CURSOR'],
      ['GET', `/v1/jobs?cursor=${Buffer.from('block|000000000001').toString('base64url')}`, undefined, 400, 'BAD_CURSOR'],
      ['GET', `/v1/jobs?cursor=${Buffer.from('job|1:2:job_x').toString('base64url')}`, undefined, 400, 'BAD_CURSOR'],
      ['GET', '/v1/blocks?cursor=abc', undefined, 400, 'BAD_CURSOR'],
      ['GET', '/v1/txs?cursor=abc', undefined, 400, 'BAD_CURSOR'],
      ['GET', '/v1/jobs?limit=0', undefined, 400, 'BAD_LIMIT'],
      ['GET', '/v1/jobs?limit=1000', undefined, 400, 'BAD_LIMIT'],
      ['GET', '/v1/blocks?limit=ten', undefined, 400, 'BAD_LIMIT'],
      ['GET', '/v1/jobs?status=done', undefined, 400, 'BAD_STATUS'],
      ['GET', '/v1/jobs?client=alice', undefined, 400, 'BAD_ADDRESS'],
      ['GET', '/v1/jobs?miner=bob', undefined, 400, 'BAD_ADDRESS'],
      ['GET', '/v1/search?q=', undefined, 400, 'BAD_REQUEST'],
      ['GET', '/v1/search?q=hello', undefined, 400, 'BAD_REQUEST'],
      ['GET', '/v1/search?q=99999999', undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/nothing-here', undefined, 404, 'NOT_FOUND'],
      ['POST', '/v1/jobs', '{"tx": ', 400, 'BAD_JSON'],
      ['POST', '/v1/jobs', '[1,2]', 400, 'BAD_REQUEST'],
      ['POST', '/v1/jobs', {}, 400, 'BAD_REQUEST'],
      ['POST', '/v1/jobs', { tx: 42 }, 400, 'BAD_REQUEST'],
      ['POST', '/v1/jobs', { tx: 'not base64 at all!' }, 400, 'BAD_REQUEST'],
      ['POST', '/v1/jobs', { tx: toBase64(new Uint8Array([1, 2, 3, 4, 5, 6])) }, 400, 'TX_DECODE'],
      ['POST', '/v1/jobs', { tx: toBase64(tampered) }, 400, 'BAD_SIGNATURE'],
      ['POST', '/v1/jobs', { tx: toBase64(unsigned) }, 400, 'BAD_SIGNATURE'],
      ['POST', '/v1/jobs', { tx: toBase64(transfer.bytes) }, 400, 'NOT_SUBMIT_JOB'],
      ['POST', '/v1/jobs', { tx: toBase64(tooRich.bytes) }, 422, 'TX_REFUSED'],
      ['POST', '/v1/jobs', { tx: toBase64(stale.bytes) }, 409, 'TX_REFUSED'],
    ]
    for (const [method, path, body, status, code] of cases) {
      const r = method === 'GET' ? await getJSON(base + path) : await postJSON(base + path, body)
      const what = `${method} ${path} ${typeof body === 'string' ? body : JSON.stringify(body ?? '').slice(0, 60)}`
      expect(r.status, `${what}: ${JSON.stringify(r.body)}`).to.equal(status)
      expect(r.body.error, what).to.equal(code)
      expect(r.body.message, what).to.be.a('string').with.length.greaterThan(5)
    }
    // The node's own reason is passed on.
    const refused = await postJSON(`${base}/v1/jobs`, { tx: toBase64(tooRich.bytes) })
    expect(refused.body.code).to.equal('INSUFFICIENT_FUNDS')
    expect(refused.body.message).to.match(/insufficient funds/)
    const used = await postJSON(`${base}/v1/jobs`, { tx: toBase64(stale.bytes) })
    expect(used.body.code).to.equal('NONCE_USED')
    // A non-JSON content type.
    const plain = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' })
    expect(plain.status).to.be.within(400, 499)
    expect((await plain.json()).message).to.be.a('string')
  })

  it('pages jobs, blocks and txs with opaque cursors and filters jobs by client, miner and status', async () => {
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await submitVia(base, `Page me ${i}`))
    for (const id of ids) await settled(id)
    await synced(base)
    const nodeJobs = await allNodeJobs()

    const seen: any[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const r: any = (await getJSON(`${base}/v1/jobs?client=${alice.address}&limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)).body
      expect(r.jobs.length).to.be.at.most(2)
      seen.push(...r.jobs)
      cursor = r.next_cursor
      if (cursor !== null) expect(cursor).to.match(/^[A-Za-z0-9_-]+$/)
      pages++
    } while (cursor !== null)
    expect(pages).to.be.at.least(3)
    expect(seen.map(j => j.job_id).sort()).to.deep.equal(nodeJobs.filter(j => j.client === alice.address).map(j => j.job_id).sort())
    const heights = seen.map(j => Number(j.submitted_height))
    expect(heights).to.deep.equal([...heights].sort((a, b) => b - a)) // newest first
    expect(new Set(seen.map(j => j.job_id)).size).to.equal(seen.length)

    for (const status of ['completed', 'failed', 'pending']) {
      const r = (await getJSON(`${base}/v1/jobs?status=${status}&limit=100`)).body
      expect(r.jobs.every((j: any) => j.status === status)).to.equal(true)
      expect(r.jobs.length).to.equal(nodeJobs.filter(j => j.status === status).length)
    }
    const byMiner = (await getJSON(`${base}/v1/jobs?miner=${bob.address}&status=completed&limit=100`)).body
    expect(byMiner.jobs.length).to.equal(nodeJobs.filter(j => j.miner === bob.address && j.status === 'completed').length)
    expect(byMiner.jobs.every((j: any) => j.miner === bob.address)).to.equal(true)

    const b1 = (await getJSON(`${base}/v1/blocks?limit=3`)).body
    const b2 = (await getJSON(`${base}/v1/blocks?limit=3&cursor=${b1.next_cursor}`)).body
    const hs = [...b1.blocks, ...b2.blocks].map((b: any) => Number(b.height))
    expect(hs).to.have.length(6)
    for (let i = 1; i < hs.length; i++) expect(hs[i]).to.equal(hs[i - 1] - 1)

    const t1 = (await getJSON(`${base}/v1/txs?limit=4`)).body
    const t2 = (await getJSON(`${base}/v1/txs?limit=4&cursor=${t1.next_cursor}`)).body
    const txs = [...t1.txs, ...t2.txs]
    expect(new Set(txs.map((t: any) => t.hash)).size).to.equal(8)
    const pos = txs.map((t: any) => Number(t.height) * 100000 + t.index)
    expect(pos).to.deep.equal([...pos].sort((a, b) => b - a))
  })

  it('pushes a job\'s status changes on /v1/ws: pending, assigned, completed', async () => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/v1/ws')
    const msgs: any[] = []
    ws.on('message', d => msgs.push(JSON.parse(d.toString())))
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    try {
      ws.send('not json')
      await until('an error for a non-JSON message', () => msgs.some(m => m.error === 'BAD_JSON'))
      ws.send(JSON.stringify({ subscribe: 'job_nope' }))
      await until('an error for a bad job id', () => msgs.some(m => m.error === 'BAD_REQUEST'))
      const tx = await signed(alice, submitBody('Follow me live'))
      const jobId = jobIdFromTxHash(tx.hash)
      ws.send(JSON.stringify({ subscribe: jobId }))
      await until('subscribed', () => msgs.some(m => m.subscribed === jobId))
      expect((await postJSON(`${base}/v1/jobs`, { tx: toBase64(tx.bytes) })).status).to.equal(202)
      const updates = await until('the completed update', () => {
        const u = msgs.filter(m => m.job_id === jobId)
        return u.some(m => FINAL.includes(m.status)) ? u : false
      }, 25_000)
      expect(updates.map(u => u.status)).to.deep.equal(['pending', 'assigned', 'completed'])
      expect(updates[1].miner).to.equal(bob.address)
      const last = updates[2]
      const node2 = await node.client.job(jobId)
      expect(last.result).to.equal(node2.result)
      expect(last.cost).to.equal(node2.paid)
      expect(last.receipt_id).to.equal(node2.receipt_id)

      // Subscribing to a finished job answers with where it stands.
      msgs.length = 0
      ws.send(JSON.stringify({ unsubscribe: jobId }))
      await until('unsubscribed', () => msgs.some(m => m.unsubscribed === jobId))
      ws.send(JSON.stringify({ subscribe: jobId }))
      const snap = await until('the snapshot', () => msgs.find(m => m.job_id === jobId))
      expect(snap.status).to.equal('completed')
    } finally {
      ws.close()
    }
  })

  it('serves stats, miners, validators, health, metrics and the explorer files', async () => {
    await synced(base)
    const nodeJobs = await allNodeJobs()
    const s = (await getJSON(`${base}/v1/stats`)).body
    expect(s.chain_id).to.equal(chainId)
    expect(s.height).to.be.at.least(Number((await node.client.status()).sync_info.latest_block_height) - 1)
    expect(s.jobs).to.equal(nodeJobs.length)
    for (const st of ['completed', 'failed', 'pending', 'assigned', 'cancelled', 'expired']) expect(s.jobs_by_status[st], st).to.equal(nodeJobs.filter(j => j.status === st).length)
    expect(s.block_time_ms).to.be.a('number').greaterThan(0)
    expect(s.tx_per_s).to.be.a('number').at.least(0)
    expect(s.jobs_per_minute).to.be.a('number').greaterThan(0)
    expect(s.miners).to.equal(1)

    const vals = (await getJSON(`${base}/v1/validators`)).body
    const nodeVals = await node.client.call('validators')
    expect(vals.validators.map((v: any) => v.address)).to.deep.equal(nodeVals.validators.map((v: any) => v.address))
    expect(vals.validators[0].account).to.equal(addressFromBytes(fromHex(nodeVals.validators[0].address)))

    const h = await getJSON(`${base}/health`)
    expect(h.status).to.equal(200)
    expect(h.body).to.include({ status: 'ok', node: 'reachable', chain_id: chainId, subscribed: true, lag: 0 })

    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).to.match(new RegExp(`^aitbc_coordinator_index_height ${String(h.body.indexed_height)}$`, 'm'))
    expect(metrics).to.match(/^aitbc_coordinator_lag_blocks \d+$/m)
    expect(metrics).to.match(/^aitbc_coordinator_http_requests_total\{method="GET",route="\/v1\/jobs\/:id",status="404"\} [1-9]\d*$/m)
    expect(metrics).to.match(/^aitbc_coordinator_http_requests_total\{method="POST",route="\/v1\/jobs",status="202"\} [1-9]\d*$/m)
    expect(metrics).to.match(/^aitbc_coordinator_http_request_duration_seconds_count\{method="GET",route="\/v1\/stats"\} [1-9]\d*$/m)

    const page = await fetch(`${base}/`)
    expect(page.headers.get('content-type')).to.match(/text\/html/)
    const html = await page.text()
    expect(html).to.match(/AITBC/)
    expect(html).to.not.match(/https?:\/\//) // no CDN: every asset comes from the coordinator
    for (const f of ['/explorer/app.js', '/explorer/style.css']) {
      const r = await fetch(base + f)
      expect(r.status, f).to.equal(200)
      expect(await r.text()).to.not.match(/https?:\/\/(?!127\.0\.0\.1)/)
    }
  })

  it('with API keys: POST needs X-Api-Key and each key is rate limited (429); reads stay open', async () => {
    const c2 = await startCoordinator({ nodeUrl: node.url, dataDir: tempData(), port: 0, logger: silentLogger(), gatewayKeys: ['k1', 'k2'], keyringHome: tempData(), rateLimitPerMinute: 2 })
    try {
      expect(c2.newApiKeys.map(k => k.name)).to.deep.equal(['k1', 'k2'])
      const [k1, k2] = c2.newApiKeys.map(k => k.apiKey)
      const bad = { tx: toBase64(new Uint8Array([1, 2, 3, 4])) }
      expect((await postJSON(`${c2.url}/v1/jobs`, bad)).status).to.equal(401)
      const wrong = await postJSON(`${c2.url}/v1/jobs`, bad, { 'x-api-key': 'aitbc-' + 'x'.repeat(32) })
      expect(wrong.status).to.equal(401)
      expect(wrong.body.error).to.equal('UNAUTHORIZED')
      const ok = await postJSON(`${c2.url}/v1/jobs`, { tx: toBase64((await signed(alice, submitBody('With a key'))).bytes) }, { 'x-api-key': k1 })
      expect(ok.status, JSON.stringify(ok.body)).to.equal(202)
      expect((await postJSON(`${c2.url}/v1/jobs`, bad, { 'x-api-key': k1 })).status).to.equal(400)
      const limited = await postJSON(`${c2.url}/v1/jobs`, bad, { 'x-api-key': k1 })
      expect(limited.status).to.equal(429)
      expect(limited.body.error).to.equal('RATE_LIMITED')
      expect(Number(limited.headers.get('retry-after'))).to.be.at.least(1)
      // Another key has its own bucket; reads need no key.
      expect((await postJSON(`${c2.url}/v1/jobs`, bad, { authorization: `Bearer ${k2}` })).status).to.equal(400)
      expect((await getJSON(`${c2.url}/v1/stats`)).status).to.equal(200)
      expect(await (await fetch(`${c2.url}/metrics`)).text()).to.match(/^aitbc_coordinator_rate_limited_total 1$/m)
      await settled(ok.body.job_id)
    } finally {
      await c2.stop()
    }
  })

  it('follows the node across a node restart: /health reports the drop, then it subscribes again and catches up', async () => {
    await synced(base)
    await node.proc.stop('SIGTERM')
    const down = await until('/health to report the node down', async () => {
      const h = await getJSON(`${base}/health`)
      return h.status === 503 && h.body.subscribed === false ? h.body : false
    }, 15_000)
    expect(down).to.include({ status: 'degraded', node: 'unreachable' })
    // Reads are served from the index meanwhile.
    expect((await getJSON(`${base}/v1/stats`)).status).to.equal(200)
    // Relaying needs the node: 502 with a message.
    const relay = await postJSON(`${base}/v1/jobs`, { tx: toBase64(signTx(alice, { chainId, nonce: 0, fee: BigInt(params.min_fee), body: submitBody('node down') }).bytes) })
    expect(relay.status).to.equal(502)
    expect(relay.body.error).to.equal('NODE_UNREACHABLE')
    await node.restart()
    await until('subscribed again', async () => (await getJSON(`${base}/health`)).body.subscribed === true, 20_000)
    const id = await submitVia(base, 'After the node came back')
    const final = await settled(id)
    await synced(base)
    expect(nodeFields(final, (await getJSON(`${base}/v1/jobs/${id}`)).body)).to.deep.equal(final)
    expect((await getJSON(`${base}/health`)).body).to.include({ status: 'ok', node: 'reachable', lag: 0 })
  })

  it('refuses to follow another chain with its index (503, INDEX_CHAIN_MISMATCH) until it is rebuilt', async () => {
    const data = tempData()
    const c1 = await startCoordinator({ nodeUrl: node.url, dataDir: data, port: 0, logger: silentLogger() })
    await synced(c1.url)
    await c1.stop()
    const other = await startTestNode({ chainId: 'aitbc-other' })
    try {
      const c2 = await startCoordinator({ nodeUrl: other.url, dataDir: data, port: 0, logger: silentLogger() })
      try {
        const h = await until('the mismatch reported', async () => { const r = await getJSON(`${c2.url}/health`); return r.body.error?.code === 'INDEX_CHAIN_MISMATCH' ? r : false })
        expect(h.status).to.equal(503)
        expect(h.body.error.message).to.match(/aitbc-other.*aitbc-test|aitbc-test.*aitbc-other/)
        expect(h.body.chain_id).to.equal(chainId)
      } finally { await c2.stop() }
      const s = await rebuildIndex({ nodeUrl: other.url, dataDir: data, logger: silentLogger() })
      expect(s.height).to.be.at.least(0)
      const c3 = await startCoordinator({ nodeUrl: other.url, dataDir: data, port: 0, logger: silentLogger() })
      try {
        const h = await until('following the other chain', async () => { const r = await getJSON(`${c3.url}/health`); return r.status === 200 ? r.body : false })
        expect(h.chain_id).to.equal('aitbc-other')
        expect(h.error).to.equal(null)
      } finally { await c3.stop() }
    } finally { await other.stop() }
  })

  it('coordinator start/rebuild as a process: a restart resumes where it stopped without indexing a block twice', async () => {
    const data = tempData()
    const first = await startCli(['--node', node.url, '--port', '0', '--data', data], node.env)
    clis.push(first.cli)
    const h1 = await synced(first.url)
    const m1 = await (await fetch(`${first.url}/metrics`)).text()
    expect(m1).to.match(new RegExp(`^aitbc_coordinator_blocks_indexed_total ${String(h1.indexed_height)}$`, 'm'))
    first.cli.child.kill('SIGTERM')
    expect(await first.cli.exited, first.cli.output()).to.equal(0)
    const stopped: number = h1.indexed_height

    // The chain moves on while it is down.
    const id = await submitVia(base, 'While the coordinator is down')
    await settled(id)
    const second = await startCli(['--node', node.url, '--port', '0', '--data', data], node.env)
    clis.push(second.cli)
    expect(second.cli.output()).to.match(/indexed up to height \d+/)
    const resumedAt = Number(/indexed up to height (\d+)/.exec(second.cli.output())?.[1])
    expect(resumedAt).to.be.at.least(stopped)
    const h2 = await synced(second.url)
    const m2 = await (await fetch(`${second.url}/metrics`)).text()
    // This process indexed only the blocks after the ones already in the index.
    expect(m2).to.match(new RegExp(`^aitbc_coordinator_blocks_indexed_total ${String(h2.indexed_height - resumedAt)}$`, 'm'))
    // Every tx once: the index's count equals the chain's.
    const stats = (await getJSON(`${second.url}/v1/stats`)).body
    expect(stats.txs).to.equal(await chainTxCount(stats.height))
    const job = (await getJSON(`${second.url}/v1/jobs/${id}`)).body
    expect(job.timeline.map((t: any) => t.step)).to.deep.equal(['submitted', 'assigned', 'completed'])
    const mine = (await getJSON(`${second.url}/v1/txs?address=${alice.address}&limit=100`)).body.txs.map((t: any) => t.hash)
    expect(new Set(mine).size).to.equal(mine.length)
    await expectConsistent(second.url)

    // rebuild: refuses while the coordinator holds the index, then recomputes it from height 1.
    const busy = spawnCoordinatorCli(['rebuild', '--node', node.url, '--data', data], node.env)
    expect(await busy.exited).to.not.equal(0)
    expect(busy.output()).to.match(/in use by another process/)
    second.cli.child.kill('SIGINT')
    expect(await second.cli.exited, second.cli.output()).to.equal(0)
    const rebuild = spawnCoordinatorCli(['rebuild', '--node', node.url, '--data', data], node.env)
    expect(await rebuild.exited, rebuild.output()).to.equal(0)
    expect(rebuild.output()).to.match(new RegExp(`Rebuilt the index at .*: \\d+ blocks, \\d+ txs, ${(await allNodeJobs()).length} jobs`))
    const third = await startCli(['--node', node.url, '--port', '0', '--data', data], node.env)
    clis.push(third.cli)
    await expectConsistent(third.url)
    third.cli.child.kill('SIGTERM')
    expect(await third.cli.exited).to.equal(0)
  })

  it('consistency: jobs of every outcome and a SIGKILL mid-run; the index catches up and equals the node\'s aitbc_* answers', async () => {
    const data = tempData()
    let run = await startCli(['--node', node.url, '--port', '0', '--data', data], node.env)
    clis.push(run.cli)
    // completed and failed (dev-ollama fails every other request)
    await restartMiner({ failRate: 0.5 })
    const served: string[] = []
    for (let i = 0; i < 4; i++) served.push(await submitVia(run.url, `Outcome ${i}`))
    // cancelled: a model nobody serves stays pending; its client cancels it
    const toCancel = await submitVia(run.url, 'Cancel me', { model: NOBODY_SERVES })
    await until('the job to cancel in a block', async () => (await getJSON(`${run.url}/v1/jobs/${toCancel}`)).body.submitted_height !== undefined)
    const cancel = await signed(alice, { type: 'cancel_job', jobId: toCancel })
    expect((await node.client.broadcastSync(cancel.bytes)).code).to.equal(0)
    // Kill the coordinator while the jobs run.
    await until('some blocks indexed', async () => (await getJSON(`${run.url}/health`)).body.indexed_height > 0)
    run.cli.child.kill('SIGKILL')
    expect(await run.cli.exited).to.equal('SIGKILL')
    // expired while pending: nobody serves the model
    const expirePending = await submitVia(base, 'Nobody will take me', { model: NOBODY_SERVES })
    for (const id of served) await settled(id)
    // expired while assigned: Ollama never answers and the miner gives up only at the deadline (no
    // margin left for a failed "timeout" receipt), so it stays silent; the chain expires the job and slashes
    await restartMiner({ hang: true }, { deadlineMarginMs: 0 })
    const expireAssigned = await submitVia(base, 'A model that hangs')
    // Restart the coordinator half-way, kill it again, then restart for good.
    run = await startCli(['--node', node.url, '--port', '0', '--data', data], node.env)
    clis.push(run.cli)
    run.cli.child.kill('SIGKILL')
    await run.cli.exited
    const outcomes = new Map<string, string>()
    for (const id of [...served, toCancel, expirePending, expireAssigned]) outcomes.set(id, (await settled(id)).status)
    await restartMiner()
    run = await startCli(['--node', node.url, '--port', '0', '--data', data], node.env)
    clis.push(run.cli)

    const statuses = [...outcomes.values()]
    expect(statuses).to.include.members(['completed', 'failed', 'cancelled', 'expired'])
    expect(outcomes.get(toCancel)).to.equal('cancelled')
    expect(outcomes.get(expirePending)).to.equal('expired')
    expect(outcomes.get(expireAssigned)).to.equal('expired')
    const slashed = await node.client.job(expireAssigned)
    expect(BigInt(slashed.slashed ?? 0) > 0n).to.equal(true)

    const { jobs } = await expectConsistent(run.url)
    expect(new Set(jobs.map(j => j.status))).to.include.members(['completed', 'failed', 'cancelled', 'expired'])
    // The timelines tell how each ended.
    const exp = (await getJSON(`${run.url}/v1/jobs/${expireAssigned}`)).body
    expect(exp.timeline.map((t: any) => t.step)).to.deep.equal(['submitted', 'assigned', 'expired'])
    expect(exp.timeline[2].tx_hash).to.equal(null)
    expect((await getJSON(`${run.url}/v1/jobs/${toCancel}`)).body.timeline.map((t: any) => t.step)).to.deep.equal(['submitted', 'cancelled'])
    expect((await getJSON(`${run.url}/v1/jobs/${expirePending}`)).body.timeline.map((t: any) => t.step)).to.deep.equal(['submitted', 'expired'])
    // The in-process coordinator that ran all along agrees too.
    await expectConsistent(base)
    run.cli.child.kill('SIGTERM')
    expect(await run.cli.exited).to.equal(0)
  })
})
