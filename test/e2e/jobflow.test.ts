// The whole job flow with real processes only (issue 3, item 5): a node (`aitbc node start`),
// dev-ollama (`aitbc dev-ollama` with its fault flags) and miners (`aitbc miner start`), each a
// child process. Every test checks the balances against the settlement rule to the uaitbc:
//   paid = min(max_fee, floor(min(compute_ms, ms from the assign block to the receipt block) x price_per_second / 1000))
//   client change = -(its fees) - max_fee + refund; miner change = paid - (its fees) - (stake it bonded);
//   the block proposer (the genesis validator's account) gains every fee; the supply is unchanged
//   and the invariant holds. (test/e2e/miner.test.ts covers completed, Ollama error and hang.)
import { expect } from 'chai'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { startTestNode, spawnAitbc, aitbc, tempDir, until, type TestNode, type Proc } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { signTx, jobIdFromTxHash, type Tx } from '../../node/core/tx.ts'
import { addressFromPubkey, type SigningKey } from '../../node/core/crypto.ts'
import { formatAitbc } from '../../node/core/amount.ts'

const MODEL = 'llama3.2:latest'
const UNSERVED = 'mistral:7b' // no miner serves it
const FINAL = ['completed', 'failed', 'expired', 'cancelled']
const KEYS = ['alice', 'bob', 'carol', 'dave', 'erin'] as const
type KeyName = typeof KEYS[number]
const TIMEOUT_S = 4

interface Service { name: string, proc: Proc, url: string, kind: 'miner' | 'ollama' }
interface MinerView { stake: bigint, slashed: bigint, earned: bigint, listing: any }
interface Snapshot {
  height: string
  acct: Record<KeyName, { balance: bigint, nonce: bigint }>
  miner: Record<KeyName, MinerView>
  proposer: bigint
  supply: any
}

const NO_MINER: MinerView = { stake: 0n, slashed: 0n, earned: 0n, listing: null }

describe('e2e: the job flow with real node, miner and dev-ollama processes', function () {
  this.timeout(45_000)
  let node: TestNode
  let keys: Record<KeyName, SigningKey>
  let chainId: string
  let minFee: bigint
  let pricePerSecond: bigint
  let slashPpm: bigint
  let proposer: string
  let logDir: string
  let current: Service[] = []
  const gates: Array<{ close: () => Promise<void> }> = []
  const blockTimes = new Map<string, number>()

  before(async function () {
    this.timeout(120_000) // five keys, init and start: a few seconds, more on a loaded machine
    node = await startTestNode({
      keys: [...KEYS],
      blockTimeMs: 200,
      params: { assign_timeout_s: TIMEOUT_S, job_timeout_s: TIMEOUT_S },
    })
    logDir = tempDir('aitbc-jobflow-logs-')
    const kr = new Keyring(node.aitbcHome)
    keys = Object.fromEntries(KEYS.map(k => [k, kr.get(k)])) as Record<KeyName, SigningKey>
    const params = await node.client.params()
    expect(params.assign_timeout_s).to.equal(TIMEOUT_S)
    expect(params.job_timeout_s).to.equal(TIMEOUT_S)
    minFee = BigInt(params.min_fee)
    pricePerSecond = BigInt(params.default_price_per_second)
    const [w, f = ''] = String(params.slash_fraction).split('.')
    slashPpm = BigInt(w) * 1_000_000n + BigInt(f.padEnd(6, '0'))
    const status = await node.client.status()
    chainId = String(status.node_info.network)
    // The proposer of every block is the single genesis validator; fees go to its account.
    const vals = await node.client.call('validators', {})
    expect(vals.validators).to.have.length(1)
    const genesis = (await node.client.call('genesis')).genesis
    expect(genesis.validators).to.have.length(1)
    expect(genesis.validators[0].pub_key.value).to.equal(vals.validators[0].pub_key.value)
    expect(status.validator_info.pub_key.value).to.equal(vals.validators[0].pub_key.value)
    proposer = addressFromPubkey(new Uint8Array(Buffer.from(vals.validators[0].pub_key.value, 'base64')))
    const head = await until('the first block', async () => await node.client.call('header', {}).catch(() => undefined))
    expect(head.header.proposer_address).to.equal(vals.validators[0].address)
    expect(KEYS.map(k => keys[k].address)).to.not.include(proposer)
  })

  afterEach(async function () {
    const failed = this.currentTest?.state === 'failed'
    const services = current
    current = []
    if (failed) {
      for (const s of services) process.stderr.write(`\n----- ${s.name} (${s.proc.logFile}) -----\n${tail(s.proc.logFile)}\n`)
      process.stderr.write(`\n----- node -----\n${node.log().slice(-4000)}\n`)
    }
    // Miners first (SIGTERM: they deactivate their listing and finish what they hold), then Ollama.
    await Promise.all(services.filter(s => s.kind === 'miner').map(async s => await s.proc.stop('SIGTERM')))
    await Promise.all(services.filter(s => s.kind === 'ollama').map(async s => await s.proc.stop('SIGTERM')))
    for (const g of gates.splice(0)) await g.close()
  })

  after(async () => {
    for (const s of current) await s.proc.stop('SIGKILL')
    await node?.stop()
    if (logDir !== undefined) rmSync(logDir, { recursive: true, force: true })
  })

  // ---- processes ----------------------------------------------------------------------------

  function tail (file: string, chars = 4000): string {
    try { return readFileSync(file, 'utf8').slice(-chars) } catch { return '(no log)' }
  }

  /** Polls a child's log for a line (deadline), failing at once if the child exits. */
  async function waitForLog (proc: Proc, re: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const log = tail(proc.logFile, 1_000_000)
      const m = re.exec(log)
      if (m !== null) return m
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`${what}: the process exited (${String(proc.child.exitCode ?? proc.child.signalCode)}):\n${log.slice(-3000)}`)
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${log.slice(-3000)}`)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  }

  let serial = 0
  async function startOllama (flags: string[] = []): Promise<Service> {
    const name = `dev-ollama-${++serial}`
    const proc = spawnAitbc(['dev-ollama', '--port', '0', ...flags], node.env, join(logDir, `${name}.log`))
    const svc: Service = { name, proc, url: '', kind: 'ollama' }
    current.push(svc)
    svc.url = (await waitForLog(proc, /listening on (http:\/\/127\.0\.0\.1:\d+)/, `${name} to listen`))[1]
    return svc
  }

  /** `aitbc miner start` as a child process; ready() resolves once it serves (status line printed). */
  function spawnMiner (key: KeyName, ollamaUrl: string, extra: string[] = [], nodeUrl = node.url): Service & { ready: () => Promise<Service> } {
    const name = `miner-${key}-${++serial}`
    const proc = spawnAitbc(['miner', 'start', '--key', key, '--node', nodeUrl, '--ollama', ollamaUrl, '--port', '0', ...extra], node.env, join(logDir, `${name}.log`))
    const svc: Service = { name, proc, url: '', kind: 'miner' }
    current.push(svc)
    return Object.assign(svc, {
      ready: async () => {
        svc.url = (await waitForLog(proc, /status at (http:\/\/\S+)\/status/, `${name} to start`, 30_000))[1]
        return svc
      },
    })
  }

  async function startMiner (key: KeyName, ollamaUrl: string, extra: string[] = []): Promise<Service> {
    return await spawnMiner(key, ollamaUrl, extra).ready()
  }

  async function minerStatus (svc: Service): Promise<any> { return await (await fetch(`${svc.url}/status`)).json() }

  // ---- chain reads ----------------------------------------------------------------------------

  async function minerView (k: KeyName): Promise<MinerView> {
    try {
      const m = await node.client.call('aitbc_miner', { address: keys[k].address })
      return { stake: BigInt(m.stake), slashed: BigInt(m.slashed), earned: BigInt(m.earned), listing: m }
    } catch (e) {
      if (/not a registered miner/.test((e as Error).message)) return NO_MINER
      throw e
    }
  }

  /**
   * Balances, nonces, listings, the proposer's balance and the supply, all read at one height with
   * an empty mempool and no open job (so that nothing left by an earlier test settles meanwhile).
   */
  async function snapshot (): Promise<Snapshot> {
    return await until('a quiescent snapshot (one height, nothing in the mempool, no open job)', async () => {
      const h1 = String((await node.client.status()).sync_info.latest_block_height)
      if ((await node.client.call('num_unconfirmed_txs')).n_txs !== '0') return false
      for (const status of ['pending', 'assigned']) {
        if ((await node.client.call('aitbc_jobs', { status })).total_count !== '0') return false
      }
      const acct = {} as Snapshot['acct']
      const miner = {} as Snapshot['miner']
      for (const k of KEYS) {
        const a = await node.client.account(keys[k].address)
        if (a.pending_nonce !== a.nonce) return false
        acct[k] = { balance: BigInt(a.balance), nonce: BigInt(a.nonce) }
        miner[k] = await minerView(k)
      }
      const p = BigInt((await node.client.account(proposer)).balance)
      const supply = await node.client.call('aitbc_supply')
      const h2 = String((await node.client.status()).sync_info.latest_block_height)
      if (h1 !== h2 || supply.height !== h1) return false
      return { height: h1, acct, miner, proposer: p, supply }
    }, (TIMEOUT_S + 10) * 1000, 20)
  }

  async function blockMs (height: string): Promise<number> {
    const cached = blockTimes.get(height)
    if (cached !== undefined) return cached
    const h = await node.client.call('header', { height })
    const t = Date.parse(h.header.time)
    blockTimes.set(height, t)
    return t
  }

  async function final (jobId: string, timeoutMs = 20_000): Promise<any> {
    return await until(`job ${jobId} final`, async () => {
      const j = await node.client.job(jobId)
      return FINAL.includes(j.status) ? j : false
    }, timeoutMs)
  }

  /** The job once its submit_job is in a block. */
  async function inBlock (jobId: string): Promise<any> {
    return await until(`job ${jobId} in a block`, async () => await node.client.job(jobId).catch(() => false))
  }

  /**
   * A TCP pass-through to the node that holds every connection (HTTP and WebSocket alike) until
   * open(). A child process pointed at it starts, and waits at its first call to the node.
   */
  interface Gate { url: string, open: () => void, connections: () => number, close: () => Promise<void> }
  async function nodeGate (): Promise<Gate> {
    const target = new URL(node.url)
    let isOpen = false
    let count = 0
    const held: Socket[] = []
    const sockets = new Set<Socket>()
    const track = (s: Socket): void => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => s.destroy()) }
    const pipeUp = (down: Socket): void => {
      const up = connect(Number(target.port), target.hostname)
      track(up)
      up.on('close', () => down.destroy())
      down.on('close', () => up.destroy())
      down.pipe(up)
      up.pipe(down)
    }
    const srv = createServer(down => {
      count++
      track(down)
      if (isOpen) pipeUp(down); else { down.pause(); held.push(down) }
    })
    await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
    const gate: Gate = {
      url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
      open: () => { isOpen = true; for (const s of held.splice(0)) pipeUp(s) },
      connections: () => count,
      close: async () => {
        for (const s of sockets) s.destroy()
        await new Promise<void>(resolve => srv.close(() => resolve()))
      },
    }
    gates.push(gate)
    return gate
  }

  async function txCount (query: string): Promise<number> {
    return Number((await node.client.call('tx_search', { query, per_page: '100' })).total_count)
  }

  /** The settlement rule, from the chain's own block times. */
  async function expectedPaid (job: any): Promise<bigint> {
    if (job.status !== 'completed') return 0n
    const assignedMs = await blockMs(job.assigned_height)
    const settledMs = await blockMs(job.settled_height)
    expect(Date.parse(job.assigned_at)).to.equal(assignedMs)
    expect(Date.parse(job.completed_at)).to.equal(settledMs)
    const billedMs = BigInt(Math.min(job.metrics.compute_ms, settledMs - assignedMs))
    const paid = billedMs * BigInt(job.price_per_second) / 1000n
    return paid > BigInt(job.max_fee) ? BigInt(job.max_fee) : paid
  }

  /** Checks each final job's paid/refund and every balance change between two snapshots. */
  async function checkSettlement (before: Snapshot, after: Snapshot, jobs: any[], client: KeyName, clientTxs: number): Promise<void> {
    let clientDelta = 0n
    const paidTo = new Map<string, bigint>()
    let slashedTotal = 0n
    for (const job of jobs) {
      expect(FINAL, job.job_id).to.include(job.status)
      expect(job.client).to.equal(keys[client].address)
      const maxFee = BigInt(job.max_fee)
      const paid = await expectedPaid(job)
      expect(job.paid, `paid for ${job.job_id} (${String(job.status)})`).to.equal(paid.toString())
      expect(job.refund, `refund of ${job.job_id}`).to.equal((maxFee - paid).toString())
      clientDelta += -maxFee + BigInt(job.refund)
      if (job.status === 'completed') expect(job.price_per_second, 'the miners run at the default price').to.equal(pricePerSecond.toString())
      if (job.status === 'completed') paidTo.set(job.miner, (paidTo.get(job.miner) ?? 0n) + paid)
      slashedTotal += BigInt(job.slashed ?? '0')
    }
    expect(after.acct[client].nonce - before.acct[client].nonce, `transactions of the client ${client}`).to.equal(BigInt(clientTxs))
    let fees = 0n
    for (const k of KEYS) {
      const ownFees = (after.acct[k].nonce - before.acct[k].nonce) * minFee
      fees += ownFees
      const bondedByTx = (after.miner[k].stake + after.miner[k].slashed) - (before.miner[k].stake + before.miner[k].slashed)
      expect(bondedByTx >= 0n, `stake bonded by ${k}`).to.equal(true)
      const paid = paidTo.get(keys[k].address) ?? 0n
      let want = paid - ownFees - bondedByTx
      if (k === client) want += clientDelta
      expect(after.acct[k].balance - before.acct[k].balance, `balance change of ${k}`).to.equal(want)
      expect(after.miner[k].earned - before.miner[k].earned, `earnings of ${k}`).to.equal(paid)
    }
    expect(after.proposer - before.proposer, 'the proposer gains every fee').to.equal(fees)
    // Supply: nothing minted, nothing lost; escrow back where it was; only slashes burn.
    for (const s of [before.supply, after.supply]) {
      expect(s.invariant_holds).to.equal(true)
      expect(BigInt(s.balances) + BigInt(s.escrow) + BigInt(s.bonded) + BigInt(s.unbonding) + BigInt(s.burned)).to.equal(BigInt(s.supply))
    }
    expect(after.supply.supply).to.equal(before.supply.supply)
    expect(after.supply.escrow).to.equal(before.supply.escrow)
    expect(BigInt(after.supply.burned) - BigInt(before.supply.burned)).to.equal(slashedTotal)
  }

  /** submit_job txs from `from`, with consecutive nonces, broadcast back to back. */
  async function signJobs (from: KeyName, jobs: Array<{ prompt: string, model?: string, maxFee: bigint }>): Promise<Tx[]> {
    const acct = await node.client.account(keys[from].address)
    return jobs.map((j, i) => signTx(keys[from], {
      chainId, nonce: Number(acct.pending_nonce) + i, fee: minFee,
      body: { type: 'submit_job', model: j.model ?? MODEL, prompt: j.prompt, options: { temperature: null, numPredict: null, seed: null }, maxFee: j.maxFee, maxPricePerSecond: null },
    }))
  }

  async function broadcast (txs: Tx[]): Promise<string[]> {
    const results = await Promise.all(txs.map(async tx => await node.client.broadcastSync(tx.bytes)))
    results.forEach(r => expect(r.code, r.log).to.equal(0))
    return txs.map(tx => jobIdFromTxHash(tx.hash))
  }

  /** submit_job txs from `from`, with consecutive nonces, broadcast back to back. */
  async function submitJobs (from: KeyName, jobs: Array<{ prompt: string, model?: string, maxFee: bigint }>): Promise<string[]> {
    return await broadcast(await signJobs(from, jobs))
  }

  /**
   * `aitbc cancel JOB --wait --from alice` for the job of `submit`, reaching the node only once the
   * job is in `state`. A CLI process can take seconds to start on a loaded machine, longer than
   * the short timeouts here: so the CLI is started first, its requests go through a pass-through
   * proxy that holds them, the job is submitted and waited for, then the proxy opens and the CLI
   * acts at once. Returns the CLI's result, and the job and the client's account just before.
   */
  async function cancelWhen (submit: Tx, state: 'pending' | 'assigned'): Promise<{ cli: Awaited<ReturnType<typeof aitbc>>, job: any, account: any }> {
    const jobId = jobIdFromTxHash(submit.hash)
    const gate = await nodeGate()
    let exited = false
    const running = aitbc(['cancel', jobId, '--wait', '--from', 'alice', '--node', gate.url], node.env)
    void running.then(() => { exited = true })
    await until('the cancel CLI to call the node', () => gate.connections() > 0 || exited, 30_000)
    if (gate.connections() === 0) { const r = await running; throw new Error(`aitbc cancel exited (${r.code}) without calling the node: ${r.stderr}`) }
    await broadcast([submit])
    const job = await until(`job ${jobId} ${state}`, async () => {
      const j = await node.client.job(jobId).catch(() => null)
      return j?.status === state ? j : false
    })
    const account = await node.client.account(keys.alice.address)
    gate.open()
    return { cli: await running, job, account }
  }

  /** Waits until the given miners hold no job and their processes have nothing in flight. */
  async function idle (miners: Service[]): Promise<void> {
    await until('the miners idle', async () => {
      for (const m of miners) if ((await minerStatus(m)).jobs_in_flight !== 0) return false
      return true
    }, 15_000)
  }

  // ---- tests ----------------------------------------------------------------------------------

  it('nobody serves the model: the job expires after assign_timeout_s, full refund, no miner touched', async () => {
    const ollama = await startOllama()
    const bob = await startMiner('bob', ollama.url)
    const before = await snapshot()
    const maxFee = 1_500_000n
    const [jobId] = await submitJobs('alice', [{ prompt: 'Who serves this model?', model: UNSERVED, maxFee }])
    const pending = await inBlock(jobId)
    expect(pending.status).to.equal('pending')
    const job = await final(jobId, (TIMEOUT_S + 6) * 1000)
    expect(job.status).to.equal('expired')
    expect(job).to.include({ miner: null, assign_tx: null, assigned_height: null, receipt_id: null, settle_tx: null, paid: '0', slashed: '0' })
    expect(job.refund).to.equal(maxFee.toString())
    // Expired by the first block whose time is past submitted_at + assign_timeout_s, and not before.
    const submittedMs = Date.parse(job.submitted_at)
    const expiredMs = await blockMs(job.settled_height)
    expect(expiredMs - submittedMs).to.be.greaterThan(TIMEOUT_S * 1000)
    expect(await blockMs(String(Number(job.settled_height) - 1))).to.be.at.most(submittedMs + TIMEOUT_S * 1000)
    const results = await node.client.call('block_results', { height: job.settled_height })
    const expiry = results.finalize_block_events.filter((e: any) => e.type === 'expire_job')
      .map((e: any) => Object.fromEntries(e.attributes.map((a: any) => [a.key, a.value])))
      .find((a: any) => a.job_id === jobId)
    expect(expiry).to.deep.include({ stage: 'pending', refund: maxFee.toString(), client: keys.alice.address, miner: '' })
    expect(await txCount(`assign.job_id='${jobId}'`)).to.equal(0)
    expect(await txCount(`record_receipt.job_id='${jobId}'`)).to.equal(0)

    const after = await snapshot()
    await checkSettlement(before, after, [job], 'alice', 1)
    // The miner serving another model was not touched at all.
    expect(after.acct.bob).to.deep.equal(before.acct.bob)
    expect(after.miner.bob.listing).to.deep.equal(before.miner.bob.listing)
    expect(after.miner.bob.listing.active_jobs).to.equal(0)
    const s = await minerStatus(bob)
    expect(s).to.include({ jobs_in_flight: 0, done: 0, failed: 0, abandoned: 0, lost: 0 })
    expect(after.acct.alice.balance).to.equal(before.acct.alice.balance - minFee)
  })

  it('cancel while pending: full refund (aitbc cancel); cancel after assignment: JOB_NOT_PENDING, non-zero exit, nothing changes', async () => {
    const before = await snapshot()

    // 1. A pending job (nobody serves the model), cancelled through the CLI.
    const [submitPending] = await signJobs('alice', [{ prompt: 'Cancel me', model: UNSERVED, maxFee: 2_000_000n }])
    const pendingId = jobIdFromTxHash(submitPending.hash)
    const { cli: cancel } = await cancelWhen(submitPending, 'pending')
    expect(cancel.code, cancel.stderr).to.equal(0)
    const m = /^Tx: ([0-9A-F]{64})\nJob: (job_[0-9a-f]{16})\nCommitted at height (\d+) \(code 0\)\n$/.exec(cancel.stdout)
    expect(m, cancel.stdout).to.not.equal(null)
    const [, cancelHash, printedJob, cancelHeight] = m as RegExpExecArray
    expect(printedJob).to.equal(pendingId)
    const cancelled = await node.client.job(pendingId)
    expect(cancelled).to.include({ status: 'cancelled', settle_tx: cancelHash, settled_height: cancelHeight, paid: '0', refund: '2000000', miner: null, receipt_id: null })
    const ctx = await node.client.call('tx', { hash: cancelHash })
    expect(ctx.tx_result.code).to.equal(0)
    expect(await txCount(`cancel_job.job_id='${pendingId}'`)).to.equal(1)
    expect(await txCount(`assign.job_id='${pendingId}'`)).to.equal(0)

    // 2. A job assigned to a miner whose Ollama never answers (so it stays assigned until
    //    job_timeout_s): cancelling it is refused.
    const ollama = await startOllama(['--hang'])
    const bob = await startMiner('bob', ollama.url)
    const [submitAssigned] = await signJobs('alice', [{ prompt: 'Too late to cancel me', maxFee: 1_000_000n }])
    const assignedId = jobIdFromTxHash(submitAssigned.hash)
    const { cli: refused, job: assigned, account: aliceBefore } = await cancelWhen(submitAssigned, 'assigned')
    expect(assigned.miner).to.equal(keys.bob.address)
    expect(refused.code).to.not.equal(0)
    expect(refused.stderr).to.match(/JOB_NOT_PENDING/)
    expect(refused.stderr).to.contain(assignedId)
    expect(refused.stdout).to.equal('')
    // State unchanged: still assigned to the same miner, the client's account as it was, no cancel tx.
    const still = await node.client.job(assignedId)
    expect(still.status, 'the job must still be assigned when the refusal is checked').to.equal('assigned')
    expect(still).to.deep.equal(assigned)
    const aliceAfter = await node.client.account(keys.alice.address)
    expect(aliceAfter).to.deep.equal(aliceBefore)
    expect(await txCount(`cancel_job.job_id='${assignedId}'`)).to.equal(0)

    // The assigned job then runs its course: the miner cannot finish it in time and sends a failed
    // "timeout" receipt before job_timeout_s (full refund, no slash: only silence is slashed).
    const done = await final(assignedId)
    expect(done.status).to.equal('failed')
    expect(done.error).to.equal('timeout')
    expect(done.refund).to.equal('1000000')
    expect(Date.parse(done.completed_at) - Date.parse(done.assigned_at)).to.be.at.most(TIMEOUT_S * 1000)
    expect((await minerView('bob')).slashed).to.equal(before.miner.bob.slashed)
    await idle([bob])
    const after = await snapshot()
    await checkSettlement(before, after, [cancelled, done], 'alice', 3) // submit, cancel, submit: the refused cancel costs nothing
  })

  it('two miners with capacity 1 and three jobs at once: never more than capacity, every job completed and paid', async () => {
    const before = await snapshot()
    const ollama = await startOllama(['--latency-ms', '1000'])
    const miners = await Promise.all((['carol', 'dave'] as const).map(async k => ({ key: k, svc: await startMiner(k, ollama.url, ['--capacity', '1']) })))
    for (const { key } of miners) expect((await minerView(key)).listing).to.include({ capacity: 1, active: true, active_jobs: 0 })

    const violations: string[] = []
    const seenActive = new Map<string, number>()
    let samples = 0
    let polling = true
    const poller = (async () => {
      while (polling) {
        for (const { key, svc } of miners) {
          try {
            const listing = (await minerView(key)).listing
            if (listing.active_jobs > listing.capacity) violations.push(`${key}: active_jobs ${String(listing.active_jobs)} > capacity ${String(listing.capacity)} at ${new Date().toISOString()}`)
            seenActive.set(key, Math.max(seenActive.get(key) ?? 0, listing.active_jobs))
            const s = await minerStatus(svc)
            const runningJobs = s.jobs.filter((j: any) => j.state === 'running').length
            if (runningJobs > 1) violations.push(`${key}: ${runningJobs} jobs running on Ollama at once`)
            samples++
          } catch (e) { violations.push(`poll failed: ${(e as Error).message}`) }
        }
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    })()
    let jobs: any[]
    try {
      const ids = await submitJobs('alice', [1, 2, 3].map(i => ({ prompt: `Job number ${i} of three`, maxFee: 1_000_000n + BigInt(i) })))
      jobs = await Promise.all(ids.map(async id => await final(id)))
      await idle(miners.map(m => m.svc))
    } finally {
      polling = false
      await poller
    }
    expect(violations).to.deep.equal([])
    expect(samples).to.be.greaterThan(20)
    for (const j of jobs) expect(j.status, JSON.stringify(j)).to.equal('completed')
    // Both miners worked, each at its capacity at some point, and two jobs really ran at the same time.
    const addresses = miners.map(m => keys[m.key].address)
    expect(new Set(jobs.map(j => j.miner))).to.deep.equal(new Set(addresses))
    for (const { key } of miners) expect(seenActive.get(key), key).to.equal(1)
    // Exact check from the chain's heights: a job holds its miner from its assign block to its receipt block.
    for (const a of addresses) {
      const mine = jobs.filter(j => j.miner === a).map(j => [Number(j.assigned_height), Number(j.settled_height)])
      for (const [s1, e1] of mine) {
        const overlapping = mine.filter(([s2, e2]) => s2 < e1 && s1 < e2)
        expect(overlapping.length, `jobs held by ${a} at once`).to.equal(1)
      }
    }
    const spans = jobs.map(j => [Number(j.assigned_height), Number(j.settled_height)])
    expect(spans.some(([s1, e1], i) => spans.some(([s2, e2], k) => k !== i && s2 < e1 && s1 < e2)), 'two jobs overlapped').to.equal(true)
    const third = jobs.reduce((a, b) => Number(a.assigned_height) >= Number(b.assigned_height) ? a : b)
    expect(Number(third.assigned_height)).to.be.greaterThan(Number(third.submitted_height)) // it waited for a free miner
    for (const j of jobs) expect(await txCount(`record_receipt.job_id='${String(j.job_id)}'`)).to.equal(1)
    for (const { key } of miners) expect((await minerView(key)).listing.active_jobs).to.equal(0)
    const after = await snapshot()
    await checkSettlement(before, after, jobs, 'alice', 3)
  })

  it('the miner is SIGKILLed while a job runs and restarted: the job completes (or expires, refunded) and is paid at most once', async () => {
    const before = await snapshot()
    // Long enough to kill the miner mid-job, short enough for a restarted miner to make the deadline.
    const ollama = await startOllama(['--latency-ms', '600'])
    const args = ['--capacity', '1']
    const first = await startMiner('erin', ollama.url, args)
    // The replacement `aitbc miner start` is launched now, through a gate that holds its node
    // connections: a process boot can take seconds on a loaded machine, longer than job_timeout_s
    // allows. It does nothing on chain (listing, subscription, catch-up) until the gate opens, after
    // the kill.
    const gate = await nodeGate()
    const second = spawnMiner('erin', ollama.url, args, gate.url)
    await until('the replacement miner to reach the node', () => {
      if (second.proc.child.exitCode !== null) throw new Error(`the replacement miner exited: ${tail(second.proc.logFile)}`)
      return gate.connections() > 0
    }, 30_000)
    const maxFee = 1_000_000n
    const [jobId] = await submitJobs('alice', [{ prompt: 'Survive a crash', maxFee }])
    await until('the job running on Ollama', async () => (await minerStatus(first)).jobs.some((j: any) => j.job_id === jobId && j.state === 'running'), 10_000, 10)
    expect(await first.proc.stop('SIGKILL')).to.equal('SIGKILL')
    const during = await node.client.job(jobId)
    expect(during.status).to.equal('assigned')
    expect(during.miner).to.equal(keys.erin.address)
    expect(await txCount(`record_receipt.job_id='${jobId}'`)).to.equal(0)

    gate.open()
    await second.ready()
    const job = await final(jobId)
    await idle([second])
    const receipts = await node.client.call('tx_search', { query: `record_receipt.job_id='${jobId}'` })
    if (job.status === 'completed') {
      expect(receipts.total_count).to.equal('1')
      expect(receipts.txs[0].hash).to.equal(job.settle_tx)
      expect(job.miner).to.equal(keys.erin.address)
      expect((await minerStatus(second)).done).to.equal(1)
    } else {
      // The restart could not make the deadline: expired, refunded in full, the miner slashed, no receipt.
      expect(job.status, JSON.stringify(job)).to.equal('expired')
      expect(receipts.total_count).to.equal('0')
      expect(job.refund).to.equal(maxFee.toString())
      const listing = (await minerView('erin')).listing
      expect(BigInt(job.slashed)).to.equal((BigInt(listing.stake) + BigInt(job.slashed)) * slashPpm / 1_000_000n)
      expect(BigInt(job.slashed) > 0n).to.equal(true)
    }
    process.stdout.write(`      (the job ended ${String(job.status)} after the restart)\n`)
    const after = await snapshot()
    await checkSettlement(before, after, [job], 'alice', 1)
    expect(after.miner.erin.listing.active_jobs).to.equal(0)
  })

  it('aitbc submit inference --wait prints only the final summary lines when stdout is not a terminal', async () => {
    const ollama = await startOllama()
    await startMiner('bob', ollama.url)
    const before = await snapshot()
    const r = await aitbc(['submit', 'inference', '--prompt', 'What is machine learning?', '--model', MODEL, '--max-fee', '0.5', '--wait', '--from', 'alice', '--node', node.url], node.env)
    expect(r.code, r.stderr).to.equal(0)
    const id = /^Job ID: (job_[0-9a-f]{16})$/m.exec(r.stdout)?.[1] as string
    expect(id, r.stdout).to.be.a('string')
    const job = await node.client.job(id)
    expect(job.status).to.equal('completed')
    const paid = await expectedPaid(job)
    const after = await snapshot()
    await checkSettlement(before, after, [job], 'alice', 1)
    // The final summary lines and nothing else (checked last: the chain's side above is independent of it).
    expect(r.stderr).to.not.match(/pending|assigned|→/) // no progress off a terminal
    const secs = ((Date.parse(job.completed_at!) - Date.parse(job.submitted_at)) / 1000).toFixed(1)
    expect(r.stdout).to.equal([
      `Job ID: ${id}`,
      'Status: completed',
      `Result: ${String(job.result)}`,
      `Receipt: ${String(job.receipt_id)}`,
      'Verified: no (unchecked: verification is off, the client accepted unverified work, or no second miner serves the model digest)',
      `Completed in: ${secs} seconds`,
      `Cost: ${formatAitbc(paid)} AITBC`,
    ].join('\n') + '\n')
  })
})
