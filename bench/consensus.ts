// Benchmarks of the BFT network: a 4-validator network at 1000 ms blocks under a transfer load
// (committed tx/s, broadcast-to-final latency, blocks a minute, each validator's peak memory),
// and a full node's block sync of a 10,000-block chain (blocks a second).
import { SigningKey, sha256, toHexUpper, toBase64 } from '../node/core/crypto.ts'
import { signTx } from '../node/core/tx.ts'
import { homePaths, readKeyFile } from '../node/config.ts'
import { generateChain } from './offlineChain.ts'
import { startTestnet, waitHeight } from '../test/helpers/testnet.ts'
import { until } from '../test/helpers/procs.ts'
import { measureVerifyRate, measureAllCoresVerifyRate, memoryOf, percentile, fmt, loadAverage, cpuSecondsOf, watchCommits } from './lib.ts'

export async function benchNetworkLoad (opts: { txs: number, senders: number, blockTimeMs: number, verifyRate: number, allCoresRate: number }): Promise<void> {
  const keys = Array.from({ length: opts.senders }, (_, i) => new SigningKey(sha256(new TextEncoder().encode(`bench-net-sender-${i}`))))
  const net = await startTestnet({ validators: 4, blockTimeMs: opts.blockTimeMs, emptyBlockMs: opts.blockTimeMs, keys: [], accounts: keys.map(k => ({ address: k.address, balance: 10n ** 15n })) })
  try {
    await waitHeight(net.validators, 1, 60_000)
    const chainId = net.chainId
    const perSender = Math.ceil(opts.txs / opts.senders)
    const sink = new SigningKey(sha256(new TextEncoder().encode('bench-sink'))).address
    const streams = keys.map(k => Array.from({ length: perSender }, (_, n) => signTx(k, { chainId, nonce: n, fee: 1000n, body: { type: 'transfer', to: sink, amount: 1n } })))
    const total = perSender * opts.senders
    const watch = await watchCommits(net.validators[0].url, total, b64 => toHexUpper(sha256(Buffer.from(b64, 'base64'))))
    let firstSend = 0
    const pids = net.validators.map(n => n.proc!.child.pid as number)
    const cpu0 = pids.map(cpuSecondsOf)
    const self0 = process.cpuUsage()
    // Each sender uses one validator's RPC (its nonces stay in order there); senders spread over all four.
    await Promise.all(streams.map(async (stream, si) => {
      const url = net.validators[si % 4].url
      for (let i = 0; i < stream.length; i += 10) {
        const part = stream.slice(i, i + 10)
        const now = performance.now()
        if (firstSend === 0) firstSend = now
        for (const tx of part) watch.sent(tx.hash, now)
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(part.map((tx, j) => ({ jsonrpc: '2.0', id: j, method: 'broadcast_tx_sync', params: { tx: toBase64(tx.bytes) } }))) })
        const out = await res.json() as any[]
        const bad = out.filter(o => o.error !== undefined || o.result.code !== 0)
        if (bad.length > 0) throw new Error(`refused: ${JSON.stringify(bad[0]).slice(0, 300)}`)
      }
    }))
    await watch.wait(180_000)
    watch.close()
    const committed = watch.committed
    const blocks = watch.blockTimes.filter(t => t >= firstSend).length
    const cpus = pids.map((pid, i) => cpuSecondsOf(pid) - cpu0[i])
    const self = process.cpuUsage(self0)
    const latencies = watch.latencies.sort((a, b) => a - b)
    const seconds = (watch.lastCommitAt - firstSend) / 1000
    const mems = net.validators.map(n => memoryOf(n.proc!.child.pid as number))
    console.log(`4 validators, ${opts.blockTimeMs} ms blocks, ${fmt(total)} transfers from ${opts.senders} senders over all 4 RPCs: ${fmt(committed / seconds)} committed tx/s (${fmt(committed / seconds / opts.verifyRate, 2)}x one core's verify rate; each validator verifies each tx: ${fmt(4 * committed / seconds)} verifications/s, ${fmt(100 * 4 * committed / seconds / opts.allCoresRate)}% of what all cores verify), ` +
      `broadcast-to-final latency p50 ${fmt(percentile(latencies, 50))} ms p99 ${fmt(percentile(latencies, 99))} ms, ${fmt(blocks / seconds * 60, 1)} blocks/min; ` +
      `validators' peak RSS ${mems.map(m => fmt(m.peakMb)).join(', ')} MB; ` +
      `cores used: validators ${cpus.map(c => fmt(c / seconds, 2)).join(', ')}, load generator ${fmt((self.user + self.system) / 1e6 / seconds, 2)}; load average ${loadAverage()}`)
  } finally {
    await net.stopAll()
  }
}


/** Builds a chain of `blocks` blocks offline, signed by 4 validators, then times a full node's sync of it. */
export async function benchBlockSync (blocks: number, allCoresRate: number): Promise<void> {
  const net = await startTestnet({ validators: 4, blockTimeMs: 1000, emptyBlockMs: 60_000, start: false, keys: ['alice'] })
  try {
    const v0 = net.validators[0]
    const alice = net.keyring.get('alice')
    const to = readKeyFile(homePaths(v0.home).privKey).address
    const gen = await generateChain(net, blocks, (h, chainId) => Array.from({ length: 5 }, (_, i) => signTx(alice, { chainId, nonce: (h - 1) * 5 + i, fee: 1000n, body: { type: 'transfer', to, amount: 1n } })))
    const genMs = gen.ms
    // validator-0 serves the chain (alone it cannot commit more); a new full node syncs it.
    await v0.start({ peers: [] })
    const full = await net.addFullNode('full-0')
    const t0 = performance.now()
    await full.start({ peers: [v0.multiaddr] })
    // Timed from when its RPC answers (the start-up of a process, which the machine's load stretches, is not sync).
    const t1 = performance.now()
    const h0 = await full.height().catch(() => 0)
    await until('full node synced', async () => (await full.height().catch(() => 0)) >= blocks, 600_000, 50)
    const syncMs = performance.now() - t1
    console.log(`block sync: a new full node fetched, verified (4 commit signatures and 5 tx signatures each) and executed ${fmt(blocks - h0)} blocks of 5 transfers in ${fmt(syncMs / 1000, 1)} s: ` +
      `${fmt((blocks - h0) / (syncMs / 1000))} blocks/s (${fmt(9 * (blocks - h0) / (syncMs / 1000))} signatures verified a second, ${fmt(100 * 9 * (blocks - h0) / (syncMs / 1000) / allCoresRate)}% of what all cores verify: verification alone caps sync at ${fmt(allCoresRate / 9)} blocks/s) after its start-up of ${fmt((t1 - t0) / 1000, 1)} s (${fmt(blocks / ((performance.now() - t0) / 1000))} blocks/s with it; chain generated offline in ${fmt(genMs / 1000, 1)} s); load average ${loadAverage()}`)
  } finally {
    await net.stopAll()
  }
}


export async function runConsensusBench (): Promise<void> {
  const verify = measureVerifyRate()
  const all = await measureAllCoresVerifyRate()
  console.log(`ed25519 verify (node:crypto): one core ${fmt(verify)} /s, all ${all.threads} cores at once ${fmt(all.perSec)} /s`)
  const netTxs = Number(process.env.BENCH_NET_TXS ?? 30_000)
  if (netTxs > 0) await benchNetworkLoad({ txs: netTxs, senders: Number(process.env.BENCH_NET_SENDERS ?? 8), blockTimeMs: 1000, verifyRate: verify, allCoresRate: all.perSec })
  const syncBlocks = Number(process.env.BENCH_SYNC_BLOCKS ?? 10_000)
  if (syncBlocks > 0) await benchBlockSync(syncBlocks, all.perSec)
}
