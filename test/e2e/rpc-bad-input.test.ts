// Bad input against a real node process: every malformed request, invalid parameter and invalid
// transaction gets its exact JSON-RPC error code (or tx result code) and a message naming the
// problem, changes nothing, and leaves the node serving.
import { expect } from 'chai'
import { startTestNode, until, type TestNode } from '../helpers/procs.ts'
import { Keyring } from '../../cli/keyring.ts'
import { signTx, jobIdFromTxHash, TX_DOMAIN, type Tx, type UnsignedTx } from '../../node/core/tx.ts'
import { pack } from '../../node/core/codec.ts'
import { TxCode, type TxErrorCode } from '../../node/core/errors.ts'
import { concatBytes, sha256, utf8Bytes, type SigningKey } from '../../node/core/crypto.ts'

const CHAIN_ID = 'aitbc-test'
const FEE = 1000n
const MODEL = 'llama3.2:latest'
const STAKE = 100_000_000n // min_miner_stake, 100 AITBC
const MAX_PROMPT = 16384
const MAX_RESULT = 32768
const NO_SUCH_JOB = 'job_0123456789abcdef'

interface RpcAnswer { status: number, body: any }

describe('e2e: bad input to the JSON-RPC server of a real node', function () {
  this.timeout(60_000)
  let node: TestNode
  let alice: SigningKey
  let bob: SigningKey
  /** Settled (completed) job of alice, receipt by bob. */
  let settledJob: string
  /** Job of alice assigned to bob (open for the whole file). */
  let assignedJob: string
  /** Job of alice for a model nobody serves: stays pending. */
  let pendingJob: string

  async function post (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<RpcAnswer> {
    const res = await fetch(node.url + '/', { method: 'POST', headers, body })
    const text = await res.text()
    let parsed: unknown
    try { parsed = JSON.parse(text) } catch { throw new Error(`HTTP ${res.status}: not JSON: ${text.slice(0, 200)}`) }
    return { status: res.status, body: parsed }
  }
  async function call (method: string, params?: unknown, id: number | string = 1): Promise<RpcAnswer> {
    return await post(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }))
  }
  function expectError (a: RpcAnswer, code: number, message: RegExp, id: number | string | null = 1): void {
    expect(a.body.result, JSON.stringify(a.body)).to.equal(undefined)
    expect(a.body.jsonrpc).to.equal('2.0')
    expect(a.body.id).to.equal(id)
    expect(a.body.error?.code, JSON.stringify(a.body)).to.equal(code)
    expect(a.body.error?.message).to.be.a('string').and.to.match(message)
  }

  async function account (address: string): Promise<{ balance: string, nonce: string, pending_nonce: string, bonded: string }> {
    return await node.client.account(address)
  }
  async function nextNonce (key: SigningKey): Promise<number> { return Number((await account(key.address)).pending_nonce) }
  async function sign (key: SigningKey, u: Omit<UnsignedTx, 'chainId' | 'nonce' | 'fee'> & Partial<UnsignedTx>): Promise<Tx> {
    return signTx(key, { chainId: u.chainId ?? CHAIN_ID, nonce: u.nonce ?? await nextNonce(key), fee: u.fee ?? FEE, body: u.body })
  }
  async function commit (tx: Tx): Promise<any> {
    const r = await node.client.broadcastCommit(tx.bytes)
    expect(r.check_tx.code, r.check_tx.log).to.equal(0)
    expect(r.tx_result.code, r.tx_result.log).to.equal(0)
    return r
  }
  async function waitJob (id: string, status: string): Promise<any> {
    return await until(`job ${id} ${status}`, async () => { const j = await node.client.job(id); return j.status === status ? j : undefined }, 20_000)
  }

  /** What a rejected request must leave as it was. */
  interface Snapshot { accounts: Record<string, { balance: string, nonce: string, pending_nonce: string, bonded: string }>, supply: any, mempool: string, height: number, jobs: Record<string, string> }
  async function snapshot (): Promise<Snapshot> {
    const accounts: Snapshot['accounts'] = {}
    for (const k of [alice, bob]) {
      const a = await account(k.address)
      accounts[k.address] = { balance: a.balance, nonce: a.nonce, pending_nonce: a.pending_nonce, bonded: a.bonded }
    }
    const s = await node.client.call('aitbc_supply')
    const jobs: Record<string, string> = {}
    for (const j of [settledJob, assignedJob, pendingJob]) if (j !== undefined) jobs[j] = (await node.client.job(j)).status
    return {
      accounts,
      supply: { supply: s.supply, balances: s.balances, escrow: s.escrow, bonded: s.bonded, unbonding: s.unbonding, burned: s.burned, invariant_holds: s.invariant_holds },
      mempool: (await node.client.call('num_unconfirmed_txs')).total,
      height: Number((await node.client.status()).sync_info.latest_block_height),
      jobs,
    }
  }
  /** Nothing changed (balances, nonces, supply terms, jobs, mempool) and the node still serves. */
  async function expectUnchanged (before: Snapshot, txHash?: string): Promise<void> {
    const health = await call('health')
    expect(health.status).to.equal(200)
    expect(health.body.result).to.deep.equal({})
    const after = await snapshot()
    expect(after.accounts, 'accounts (balance, nonce) before/after').to.deep.equal(before.accounts)
    expect(after.supply, 'aitbc_supply before/after').to.deep.equal(before.supply)
    expect(after.supply.invariant_holds).to.equal(true)
    expect(after.jobs, 'job statuses before/after').to.deep.equal(before.jobs)
    expect(after.mempool, 'mempool size').to.equal('0')
    expect(after.height).to.be.at.least(before.height) // still producing blocks
    if (txHash !== undefined) {
      // Not in the mempool and never in a block.
      const t = await call('tx', { hash: txHash })
      expectError(t, -32602, /not found/)
      const unconfirmed = await node.client.call('unconfirmed_txs', { limit: '100' })
      expect(unconfirmed.n_txs).to.equal('0')
    }
  }

  /** Broadcasts raw bytes with broadcast_tx_sync; the tx must be refused with `code`. */
  async function expectRefused (bytes: Uint8Array, code: TxErrorCode, message: RegExp): Promise<void> {
    const before = await snapshot()
    const hash = Buffer.from(sha256(bytes)).toString('hex').toUpperCase()
    const a = await call('broadcast_tx_sync', { tx: Buffer.from(bytes).toString('base64') })
    expect(a.status).to.equal(200)
    expect(a.body.error, JSON.stringify(a.body.error)).to.equal(undefined)
    const r = a.body.result
    expect(r.code, r.log).to.equal(TxCode[code])
    expect(r.code).to.not.equal(0)
    expect(r.codespace).to.equal('aitbc')
    expect(r.hash).to.equal(hash)
    expect(r.log).to.be.a('string').and.to.match(new RegExp(`^${code}: `))
    expect(r.log).to.match(message)
    // check_tx agrees and does not add it either.
    const c = await call('check_tx', { tx: Buffer.from(bytes).toString('base64') })
    expect(c.body.result.code).to.equal(TxCode[code])
    await expectUnchanged(before, hash)
  }

  /** A tx from hand-made msgpack pieces: the six elements' bytes, signed as the wire format says. */
  function rawTx (key: SigningKey, parts: { chainId?: Uint8Array, type?: Uint8Array, nonce: number, fee?: Uint8Array, body: Uint8Array }): Uint8Array {
    const elements = concatBytes(
      parts.chainId ?? pack(CHAIN_ID),
      parts.type ?? pack('transfer'),
      pack(key.publicKey),
      pack(BigInt(parts.nonce)),
      parts.fee ?? pack(FEE),
      parts.body,
    )
    const signature = key.sign(concatBytes(TX_DOMAIN, Uint8Array.of(0x96), elements))
    return concatBytes(Uint8Array.of(0x97), elements, pack(signature))
  }

  before(async () => {
    node = await startTestNode({ params: { assign_timeout_s: 3600, job_timeout_s: 3600 } })
    const kr = new Keyring(node.aitbcHome)
    alice = kr.get('alice')
    bob = kr.get('bob')
    // bob becomes the only miner of MODEL, capacity 1.
    await commit(await sign(bob, { body: { type: 'register_miner', models: [MODEL], pricePerSecond: 1000n, capacity: 1, stake: STAKE } }))
    // A job that bob completes: settled.
    const s = await commit(await sign(alice, { body: { type: 'submit_job', model: MODEL, prompt: 'What is machine learning?', options: { temperature: null, numPredict: null, seed: null }, maxFee: 1_000_000n, maxPricePerSecond: null } }))
    settledJob = jobIdFromTxHash(s.hash)
    await waitJob(settledJob, 'assigned')
    const result = 'Machine learning is a subset of artificial intelligence.'
    await commit(await sign(bob, { body: { type: 'record_receipt', jobId: settledJob, status: 'completed', result, resultHash: sha256(utf8Bytes(result)), metrics: { computeMs: 100, promptTokens: 5, completionTokens: 9 }, error: null } }))
    await waitJob(settledJob, 'completed')
    // A job assigned to bob, left open.
    const a = await commit(await sign(alice, { body: { type: 'submit_job', model: MODEL, prompt: 'Say hello', options: { temperature: 0.5, numPredict: 10, seed: 1 }, maxFee: 2_000_000n, maxPricePerSecond: null } }))
    assignedJob = jobIdFromTxHash(a.hash)
    const aj = await waitJob(assignedJob, 'assigned')
    expect(aj.miner).to.equal(bob.address)
    // A job no miner serves: pending.
    const p = await commit(await sign(alice, { body: { type: 'submit_job', model: 'no-such-model', prompt: 'Anyone?', options: { temperature: null, numPredict: null, seed: null }, maxFee: 3_000_000n, maxPricePerSecond: null } }))
    pendingJob = jobIdFromTxHash(p.hash)
    expect((await node.client.job(pendingJob)).status).to.equal('pending')
    await until('an empty mempool', async () => (await node.client.call('num_unconfirmed_txs')).total === '0')
  })
  after(async () => { await node?.stop() })

  describe('malformed requests', () => {
    it('malformed JSON: -32700 parse error', async () => {
      const before = await snapshot()
      const a = await post('{"jsonrpc":"2.0","id":1,"method":"status",')
      expect(a.status).to.equal(200)
      expectError(a, -32700, /^Parse error: .*JSON/, null)
      await expectUnchanged(before)
    })

    it('unknown method: -32601 naming the method', async () => {
      const before = await snapshot()
      expectError(await call('no_such_method', {}), -32601, /Method not found: "no_such_method"/)
      // A WebSocket-only method over HTTP names where it is available.
      expectError(await call('subscribe', { query: "tm.event='NewBlock'" }), -32601, /only available over WebSocket/)
      await expectUnchanged(before)
    })

    it('missing tx param: -32602 naming tx', async () => {
      const before = await snapshot()
      expectError(await call('broadcast_tx_sync', {}), -32602, /^Invalid params: tx is required/)
      expectError(await call('broadcast_tx_commit'), -32602, /^Invalid params: tx is required/)
      await expectUnchanged(before)
    })

    it('height that is not an integer: -32602 naming height and the value', async () => {
      const before = await snapshot()
      expectError(await call('block', { height: 'abc' }), -32602, /height must be an integer, got "abc"/)
      expectError(await call('block_results', { height: 1.5 }), -32602, /height must be an integer, got 1\.5/)
      expectError(await call('commit', { height: '-1' }), -32602, /height must be from 0 to/)
      await expectUnchanged(before)
    })

    it('height beyond the head: -32602 naming both heights', async () => {
      const before = await snapshot()
      const h = before.height + 1000
      const a = await call('block', { height: String(h) })
      expectError(a, -32602, new RegExp(`height ${h} must be less than or equal to the current blockchain height \\d+`))
      expectError(await call('block_results', { height: String(h) }), -32602, new RegExp(`height ${h} `))
      await expectUnchanged(before)
    })

    it('unknown param name: -32602 naming it and the accepted ones', async () => {
      const before = await snapshot()
      expectError(await call('block', { heigth: '1' }), -32602, /unknown param "heigth"; this method takes: height/)
      expectError(await call('block', ['1', '2']), -32602, /too many positional params/)
      await expectUnchanged(before)
    })

    it('a body over 1 MB: HTTP 413 with a JSON-RPC error', async () => {
      const before = await snapshot()
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'broadcast_tx_sync', params: { tx: 'A'.repeat(1024 * 1024 + 16) } })
      const a = await post(body)
      expect(a.status).to.equal(413)
      expectError(a, -32600, /body exceeds 1048576 bytes/, null)
      await expectUnchanged(before)
    })

    it('a batch over the limit of 10: -32600 naming the size and the limit', async () => {
      const before = await snapshot()
      const batch = Array.from({ length: 11 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'health' }))
      const a = await post(JSON.stringify(batch))
      expect(a.status).to.equal(200)
      expect(Array.isArray(a.body)).to.equal(false)
      expectError(a, -32600, /batch of 11 requests, the limit is 10/, null)
      await expectUnchanged(before)
    })

    it('an empty batch: -32600', async () => {
      const before = await snapshot()
      const a = await post('[]')
      expect(Array.isArray(a.body)).to.equal(false)
      expectError(a, -32600, /empty batch/, null)
      await expectUnchanged(before)
    })

    it('a batch of 3 valid requests: 3 answers with their ids', async () => {
      const before = await snapshot()
      const a = await post(JSON.stringify([
        { jsonrpc: '2.0', id: 'a', method: 'health' },
        { jsonrpc: '2.0', id: 7, method: 'aitbc_account', params: { address: alice.address } },
        { jsonrpc: '2.0', id: 'c', method: 'block', params: { height: '1' } },
      ]))
      expect(a.status).to.equal(200)
      expect(a.body).to.be.an('array').with.length(3)
      const byId = new Map((a.body as any[]).map(r => [r.id, r]))
      expect(byId.get('a').result).to.deep.equal({})
      expect(byId.get(7).result.balance).to.equal(before.accounts[alice.address].balance)
      expect(byId.get('c').result.block.header.height).to.equal('1')
      for (const r of a.body) expect(r.error).to.equal(undefined)
      await expectUnchanged(before)
    })

    it('a batch mixing valid and invalid requests answers each on its own', async () => {
      const before = await snapshot()
      const a = await post(JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'health' }, { jsonrpc: '2.0', id: 2, method: 'nope' }, 42]))
      expect(a.body).to.have.length(3)
      expect(a.body[0].result).to.deep.equal({})
      expect(a.body[1].error.code).to.equal(-32601)
      expect(a.body[2].error.code).to.equal(-32600)
      await expectUnchanged(before)
    })

    it('bad base64 in broadcast_tx_sync: -32602 naming tx', async () => {
      const before = await snapshot()
      expectError(await call('broadcast_tx_sync', { tx: '!!not base64!!' }), -32602, /tx is not valid base64/)
      expectError(await call('broadcast_tx_sync', { tx: 'QUJD' + 'RA' }), -32602, /tx is not valid base64/) // unpadded
      await expectUnchanged(before)
    })

    it('a height that is a deeply nested array: -32602 (not an internal error)', async () => {
      const before = await snapshot()
      const nested = '['.repeat(200_000) + ']'.repeat(200_000)
      const a = await post(`{"jsonrpc":"2.0","id":1,"method":"block","params":{"height":${nested}}}`)
      expectError(a, -32602, /height must be an integer, got an array/)
      const long = '9'.repeat(5000)
      const b = await call('block', { height: long })
      expectError(b, -32602, /height must be from 0 to \d+, got "9{80}\.\.\."/)
      expect(b.body.error.message.length).to.be.below(200)
      await expectUnchanged(before)
    })

    it('an id that is neither a string, a number nor null: -32600, over HTTP and WebSocket', async () => {
      const before = await snapshot()
      const nestedId = '['.repeat(200_000) + ']'.repeat(200_000)
      const body = `{"jsonrpc":"2.0","id":${nestedId},"method":"health"}`
      expectError(await post(body), -32600, /"id" must be a string, a number or null/, null)
      expectError(await call('health', {}, { a: 1 } as any), -32600, /"id" must be a string, a number or null/, null)
      // Over WebSocket such an id used to overflow JSON.stringify of the answer inside the message
      // handler: an unhandled rejection that stopped the node.
      const { default: WebSocket } = await import('ws')
      const ws = new WebSocket(node.url.replace(/^http/, 'ws') + '/websocket')
      const messages: any[] = []
      ws.on('message', d => messages.push(JSON.parse(d.toString())))
      await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
      try {
        ws.send(body)
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'health' }))
        await until('two answers', () => messages.length >= 2)
        expect(messages[0].error.code).to.equal(-32600)
        expect(messages[0].id).to.equal(null)
        expect(messages[1]).to.deep.equal({ jsonrpc: '2.0', id: 9, result: {} })
      } finally { ws.close() }
      expect(node.proc.child.exitCode, 'the node process is still running').to.equal(null)
      await expectUnchanged(before)
    })

    it('malformed JSON over WebSocket: -32700, and the connection keeps serving', async () => {
      const before = await snapshot()
      const { default: WebSocket } = await import('ws')
      const ws = new WebSocket(node.url.replace(/^http/, 'ws') + '/websocket')
      const messages: any[] = []
      ws.on('message', d => messages.push(JSON.parse(d.toString())))
      await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
      try {
        ws.send('{"jsonrpc":')
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'health', params: {} }))
        await until('two answers', () => messages.length >= 2)
        expect(messages[0].error.code).to.equal(-32700)
        expect(messages[0].error.message).to.match(/^Parse error/)
        expect(messages[1]).to.deep.equal({ jsonrpc: '2.0', id: 5, result: {} })
        expect(ws.readyState).to.equal(WebSocket.OPEN)
      } finally { ws.close() }
      await expectUnchanged(before)
    })
  })

  describe('bounded reads (a client cannot make the node load or hold unbounded data)', () => {
    const openWs = async (): Promise<{ ws: import('ws').WebSocket, messages: any[], closed: Promise<number> }> => {
      const { default: WebSocket } = await import('ws')
      const ws = new WebSocket(node.url.replace(/^http/, 'ws') + '/websocket')
      const messages: any[] = []
      ws.on('message', d => messages.push(JSON.parse(d.toString())))
      const closed = new Promise<number>(resolve => ws.once('close', code => resolve(code)))
      await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
      return { ws, messages, closed }
    }

    it('WebSocket clients: at most 100 at once; the next is closed with 1013 and a reason', async () => {
      const open: Array<Awaited<ReturnType<typeof openWs>>> = []
      try {
        for (let i = 0; i < 100; i++) open.push(await openWs())
        const extra = await openWs()
        expect(await extra.closed).to.equal(1013)
        open[0].ws.close()
        await until('a slot is free again', async () => { const c = await openWs(); const code = await Promise.race([c.closed, new Promise<number>(resolve => setTimeout(() => resolve(0), 300))]); c.ws.close(); return code === 0 })
      } finally {
        // Every slot free before the next test opens its client (it was refused with 1013 when this ran ahead).
        for (const o of open) o.ws.close()
        await Promise.all(open.map(async o => await o.closed))
        await until('every slot free again', async () => {
          const probes = await Promise.all(Array.from({ length: 3 }, async () => await openWs()))
          const codes = await Promise.all(probes.map(async c => await Promise.race([c.closed, new Promise<number>(resolve => setTimeout(() => resolve(0), 300))])))
          for (const c of probes) c.ws.close()
          await Promise.all(probes.map(async c => await c.closed))
          return codes.every(code => code === 0)
        }, 30_000, 100)
      }
    })

    it('subscriptions: at most 10 per client, the 11th refused with -32602 naming the limit', async () => {
      const { ws, messages } = await openWs()
      try {
        for (let i = 0; i < 11; i++) ws.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'subscribe', params: { query: `tm.event='Tx' AND transfer.amount='${i}'` } }))
        await until('11 answers', () => messages.length >= 11, 60_000)
        expect(messages.slice(0, 10).every(m => m.result !== undefined)).to.equal(true)
        expect(messages[10].error.code).to.equal(-32602)
        expect(messages[10].error.message).to.match(/at most 10 subscriptions/)
      } finally { ws.close() }
    })

    it('aitbc_jobs pages from the indexes: total_count, filters by client, miner and status, and a page too deep is refused', async () => {
      const all = (await call('aitbc_jobs', { per_page: '100' })).body.result
      expect(Number(all.total_count)).to.equal(all.jobs.length)
      expect(all.jobs.length).to.be.at.least(3)
      const ids = all.jobs.map((j: any) => j.job_id)
      expect(ids).to.include.members([settledJob, assignedJob, pendingJob])
      // Newest first, page by page.
      const paged: string[] = []
      for (let page = 1; page <= Math.ceil(ids.length / 2); page++) paged.push(...(await call('aitbc_jobs', { page: String(page), per_page: '2' })).body.result.jobs.map((j: any) => j.job_id))
      expect(paged).to.deep.equal(ids)
      const byStatus = async (q: Record<string, string>): Promise<string[]> => (await call('aitbc_jobs', q)).body.result.jobs.map((j: any) => j.job_id)
      expect(await byStatus({ status: 'completed' })).to.include(settledJob).and.not.include(assignedJob)
      expect(await byStatus({ client: alice.address, status: 'pending' })).to.deep.equal([pendingJob])
      expect(await byStatus({ miner: bob.address, status: 'assigned' })).to.deep.equal([assignedJob])
      expect(await byStatus({ miner: bob.address, client: alice.address })).to.include.members([settledJob, assignedJob])
      expect(await byStatus({ miner: bob.address, client: bob.address })).to.deep.equal([])
      const counts = (await call('aitbc_jobs', { miner: bob.address, status: 'assigned' })).body.result
      expect(counts.total_count).to.equal('1')
      expectError(await call('aitbc_jobs', { page: '101', per_page: '100' }), -32602, /reaches past the 10000 newest jobs/)
    })

  })

  describe('invalid transactions (a tx result code, nothing changes)', () => {
    it('bytes that are not a transaction: TX_DECODE', async () => {
      await expectRefused(utf8Bytes('not a transaction'), 'TX_DECODE', /not a transaction/)
    })

    it('a tuple with an element missing: TX_DECODE', async () => {
      await expectRefused(pack([CHAIN_ID, 'transfer', alice.publicKey, 0n, FEE, [bob.address, 1n]]), 'TX_DECODE', /6 elements, expected 7/)
    })

    it('wrong chain id: WRONG_CHAIN_ID naming both ids', async () => {
      const tx = await sign(alice, { chainId: 'other-chain', body: { type: 'transfer', to: bob.address, amount: 1n } })
      await expectRefused(tx.bytes, 'WRONG_CHAIN_ID', /wrong chain id "other-chain", this chain is "aitbc-test"/)
    })

    it('bad signature (one bit of the signature flipped): BAD_SIGNATURE', async () => {
      const tx = await sign(alice, { body: { type: 'transfer', to: bob.address, amount: 1n } })
      const bytes = Uint8Array.from(tx.bytes)
      bytes[bytes.length - 1] ^= 0x01
      await expectRefused(bytes, 'BAD_SIGNATURE', /signature does not verify/)
    })

    it('a signed field changed after signing (amount): BAD_SIGNATURE', async () => {
      const tx = await sign(alice, { body: { type: 'transfer', to: bob.address, amount: 1n } })
      const bytes = Uint8Array.from(tx.bytes)
      // The amount is the last element before the signature (bin8: 0xc4 0x40 + 64 bytes).
      const amount = pack(1n)
      const at = bytes.length - 66 - amount.length
      expect(Buffer.from(bytes.subarray(at, at + amount.length)).equals(Buffer.from(amount))).to.equal(true)
      bytes[at + amount.length - 1] = 0x02 // amount 2, still a well-formed tx
      await expectRefused(bytes, 'BAD_SIGNATURE', /signature does not verify/)
    })

    it('reused nonce: NONCE_USED naming the next nonce', async () => {
      const next = await nextNonce(alice)
      expect(next).to.be.greaterThan(0)
      // (an amount no earlier tx used: the same bytes again would be TX_ALREADY_COMMITTED)
      const tx = await sign(alice, { nonce: next - 1, body: { type: 'transfer', to: bob.address, amount: 31_337n } })
      await expectRefused(tx.bytes, 'NONCE_USED', new RegExp(`nonce ${next - 1} was already used; the next nonce of ${alice.address} is ${next}`))
    })

    it('a nonce beyond the queue of future nonces (65 ahead): MEMPOOL_QUEUE_FULL naming the next nonce (one 5 ahead is queued: test/e2e/mempool-queue.test.ts)', async () => {
      const next = await nextNonce(alice)
      const tx = await sign(alice, { nonce: next + 65, body: { type: 'transfer', to: bob.address, amount: 1n } })
      await expectRefused(tx.bytes, 'MEMPOOL_QUEUE_FULL', new RegExp(`nonce ${next + 65} is 65 ahead of the next nonce ${next} of ${alice.address}; at most 64 future nonces`))
    })

    it('zero amount: INVALID_AMOUNT', async () => {
      const tx = await sign(alice, { body: { type: 'transfer', to: bob.address, amount: 0n } })
      await expectRefused(tx.bytes, 'INVALID_AMOUNT', /amount must be positive/)
    })

    it('an amount that overflows int64 (uint64 0xcf above 2^63): INVALID_AMOUNT', async () => {
      const big = new Uint8Array(9)
      big[0] = 0xcf
      new DataView(big.buffer).setBigUint64(1, (1n << 63n) + 5n)
      const body = concatBytes(Uint8Array.of(0x92), pack(bob.address), big)
      await expectRefused(rawTx(alice, { nonce: await nextNonce(alice), body }), 'INVALID_AMOUNT', /amount overflows int64/)
    })

    it('a fractional amount (float64 0xcb where an integer belongs): TX_DECODE', async () => {
      const f = new Uint8Array(9)
      f[0] = 0xcb
      new DataView(f.buffer).setFloat64(1, 1.5)
      const body = concatBytes(Uint8Array.of(0x92), pack(bob.address), f)
      await expectRefused(rawTx(alice, { nonce: await nextNonce(alice), body }), 'TX_DECODE', /amount: a float where an integer belongs/)
    })

    it('a whole float64 (1000.0) as the fee: TX_DECODE as well', async () => {
      const f = new Uint8Array(9)
      f[0] = 0xcb
      new DataView(f.buffer).setFloat64(1, 1000)
      const body = concatBytes(Uint8Array.of(0x92), pack(bob.address), pack(5n))
      await expectRefused(rawTx(alice, { nonce: await nextNonce(alice), fee: f, body }), 'TX_DECODE', /fee: a float where an integer belongs/)
    })

    it('unknown tx type: UNKNOWN_TX_TYPE naming it', async () => {
      const body = concatBytes(Uint8Array.of(0x92), pack(bob.address), pack(5n))
      await expectRefused(rawTx(alice, { type: pack('mint'), nonce: await nextNonce(alice), body }), 'UNKNOWN_TX_TYPE', /unknown transaction type "mint"/)
    })

    it('fee below min_fee: FEE_TOO_LOW naming both', async () => {
      const tx = await sign(alice, { fee: 999n, body: { type: 'transfer', to: bob.address, amount: 1n } })
      await expectRefused(tx.bytes, 'FEE_TOO_LOW', /fee 999 uaitbc is below min_fee 1000 uaitbc/)
    })

    it('a transfer it cannot pay: INSUFFICIENT_FUNDS', async () => {
      const tx = await sign(alice, { body: { type: 'transfer', to: bob.address, amount: 10_000_000_000n } })
      await expectRefused(tx.bytes, 'INSUFFICIENT_FUNDS', /insufficient funds/)
    })

    it('prompt over max_prompt_bytes (submit_job): PROMPT_TOO_LARGE', async () => {
      const tx = await sign(alice, { body: { type: 'submit_job', model: MODEL, prompt: 'x'.repeat(MAX_PROMPT + 1), options: { temperature: null, numPredict: null, seed: null }, maxFee: 1_000_000n, maxPricePerSecond: null } })
      await expectRefused(tx.bytes, 'PROMPT_TOO_LARGE', new RegExp(`prompt is ${MAX_PROMPT + 1} bytes, max_prompt_bytes is ${MAX_PROMPT}`))
    })

    it('result over max_result_bytes (record_receipt by the assigned miner): RESULT_TOO_LARGE', async () => {
      const result = 'y'.repeat(MAX_RESULT + 1)
      const tx = await sign(bob, { body: { type: 'record_receipt', jobId: assignedJob, status: 'completed', result, resultHash: sha256(utf8Bytes(result)), metrics: { computeMs: 10, promptTokens: 1, completionTokens: 1 }, error: null } })
      await expectRefused(tx.bytes, 'RESULT_TOO_LARGE', new RegExp(`result is ${MAX_RESULT + 1} bytes, max_result_bytes is ${MAX_RESULT}`))
    })

    it('cancel_job of a job that does not exist: JOB_NOT_FOUND; aitbc_job of it: -32602', async () => {
      const tx = await sign(alice, { body: { type: 'cancel_job', jobId: NO_SUCH_JOB } })
      await expectRefused(tx.bytes, 'JOB_NOT_FOUND', new RegExp(`job ${NO_SUCH_JOB} does not exist`))
      const before = await snapshot()
      expectError(await call('aitbc_job', { job_id: NO_SUCH_JOB }), -32602, new RegExp(`job ${NO_SUCH_JOB} not found`))
      expectError(await call('aitbc_job', { job_id: 'job_42' }), -32602, /is not a job id/)
      await expectUnchanged(before)
    })

    it('a receipt from a miner that is not the assigned one: NOT_ASSIGNED_MINER', async () => {
      const result = 'stolen'
      const tx = await sign(alice, { body: { type: 'record_receipt', jobId: assignedJob, status: 'completed', result, resultHash: sha256(utf8Bytes(result)), metrics: { computeMs: 10, promptTokens: 1, completionTokens: 1 }, error: null } })
      await expectRefused(tx.bytes, 'NOT_ASSIGNED_MINER', new RegExp(`job ${assignedJob} is assigned to ${bob.address}, not ${alice.address}`))
    })

    it('a second receipt for a settled job: JOB_ALREADY_SETTLED', async () => {
      const result = 'again'
      const tx = await sign(bob, { body: { type: 'record_receipt', jobId: settledJob, status: 'completed', result, resultHash: sha256(utf8Bytes(result)), metrics: { computeMs: 10, promptTokens: 1, completionTokens: 1 }, error: null } })
      await expectRefused(tx.bytes, 'JOB_ALREADY_SETTLED', new RegExp(`job ${settledJob} is already completed`))
    })

    it('an assign broadcast by a client: ASSIGN_ONLY_IN_BLOCK', async () => {
      const tx = await sign(alice, { fee: 0n, body: { type: 'assign', jobId: pendingJob, miner: bob.address } })
      await expectRefused(tx.bytes, 'ASSIGN_ONLY_IN_BLOCK', /made by the block proposer inside a block/)
    })

    it('cancel by someone other than the client: NOT_JOB_CLIENT', async () => {
      const tx = await sign(bob, { body: { type: 'cancel_job', jobId: pendingJob } })
      await expectRefused(tx.bytes, 'NOT_JOB_CLIENT', new RegExp(`only the job's client ${alice.address} can cancel ${pendingJob}`))
    })

    it('cancel after assignment: JOB_NOT_PENDING', async () => {
      const tx = await sign(alice, { body: { type: 'cancel_job', jobId: assignedJob } })
      await expectRefused(tx.bytes, 'JOB_NOT_PENDING', new RegExp(`job ${assignedJob} is assigned; only a pending job can be cancelled`))
    })

    it('broadcast_tx_commit of an invalid tx answers at once with the check_tx code and height 0', async () => {
      const before = await snapshot()
      const tx = await sign(alice, { fee: 1n, body: { type: 'transfer', to: bob.address, amount: 1n } })
      const a = await call('broadcast_tx_commit', { tx: Buffer.from(tx.bytes).toString('base64') })
      expect(a.body.result.check_tx.code).to.equal(TxCode.FEE_TOO_LOW)
      expect(a.body.result.check_tx.log).to.match(/^FEE_TOO_LOW: /)
      expect(a.body.result.height).to.equal('0')
      expect(a.body.result.hash).to.equal(tx.hash)
      await expectUnchanged(before, tx.hash)
    })
  })

  describe('afterwards', () => {
    it('a valid transfer still goes through', async () => {
      const before = await account(alice.address)
      const tx = await sign(alice, { body: { type: 'transfer', to: bob.address, amount: 1n } })
      const r = await commit(tx)
      expect(Number(r.height)).to.be.greaterThan(0)
      const after = await account(alice.address)
      expect(BigInt(after.balance)).to.equal(BigInt(before.balance) - 1n - FEE)
      expect(Number(after.nonce)).to.equal(Number(before.nonce) + 1)
    })
  })
})
