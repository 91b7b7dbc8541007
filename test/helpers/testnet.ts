// A network of real node processes on loopback, as CometBFT's test/e2e runner: validators and
// full nodes from one genesis, each with free RPC and P2P ports and every other node as a peer;
// helpers to stop, kill, pause and restart them, and invariant checks over RPC.
import { writeFileSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Keyring } from '../../cli/keyring.ts'
import { initHome, homePaths, readKeyFile, readKeySeed } from '../../node/config.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import { parseAitbc } from '../../node/core/amount.ts'
import { peerIdFromSeed, p2pMultiaddr } from '../../node/p2p/identity.ts'
import { NodeClient } from '../../node/rpc/client.ts'
import type { ByzantineMode } from '../../node/consensus/byzantine.ts'
import { freePort, spawnAitbc, tempDir, until, type Proc } from './procs.ts'

export interface NetNode {
  name: string
  role: 'validator' | 'full-node'
  home: string
  rpcPort: number
  p2pPort: number
  url: string
  multiaddr: string
  client: NodeClient
  proc: Proc | null
  env: Record<string, string>
  /** Starts (or restarts) the process with the given peers (default: every other node). */
  start: (opts?: { peers?: string[], env?: Record<string, string> }) => Promise<void>
  stop: (signal?: NodeJS.Signals) => Promise<void>
  height: () => Promise<number>
  log: () => string
}

export interface Testnet {
  dir: string
  nodes: NetNode[]
  validators: NetNode[]
  keyring: Keyring
  chainId: string
  /** Adds (does not start) a full node with this genesis. */
  addFullNode: (name: string) => Promise<NetNode>
  stopAll: () => Promise<void>
}

export interface TestnetOptions {
  validators: number
  blockTimeMs?: number
  emptyBlockMs?: number
  keys?: string[]
  accounts?: Array<{ address: string, balance: bigint }>
  params?: Record<string, unknown>
  start?: boolean
  chainId?: string
  /** Test-only misbehaviour of some validators (their index in `validators`): see node/consensus/byzantine.ts. */
  byzantine?: Record<number, ByzantineMode>
}

export async function startTestnet (opts: TestnetOptions): Promise<Testnet> {
  const dir = tempDir('aitbc-net-')
  const clientHome = join(dir, 'client')
  const keyring = new Keyring(clientHome)
  for (const k of opts.keys ?? ['alice', 'bob']) keyring.add(k)
  const chainId = opts.chainId ?? 'aitbc-testnet'
  const nodes: NetNode[] = []
  let genesisText = ''

  const makeNode = async (name: string, role: NetNode['role']): Promise<NetNode> => {
    const home = join(dir, name)
    initHome(home, { moniker: name })
    const rpcPort = await freePort()
    const p2pPort = await freePort()
    const peerId = await peerIdFromSeed(readKeySeed(homePaths(home).nodeKey))
    const env: Record<string, string> = { AITBC_HOME: clientHome, AITBC_LOG_LEVEL: process.env.AITBC_TEST_LOG_LEVEL ?? 'info' }
    const mode = role === 'validator' ? opts.byzantine?.[nodes.filter(x => x.role === 'validator').length] : undefined
    if (mode !== undefined) env.AITBC_TEST_BYZANTINE = mode
    const logFile = join(dir, `${name}.log`)
    const n: NetNode = {
      name, role, home, rpcPort, p2pPort,
      url: `http://127.0.0.1:${rpcPort}`,
      multiaddr: p2pMultiaddr('127.0.0.1', p2pPort, peerId),
      client: new NodeClient(`http://127.0.0.1:${rpcPort}`, { retries: 0, timeoutMs: 10_000 }),
      proc: null,
      env,
      start: async (o = {}) => {
        if (genesisText !== '') writeFileSync(homePaths(home).genesis, genesisText)
        const peers = o.peers ?? nodes.filter(x => x !== n).map(x => x.multiaddr)
        const args = ['node', 'start', '--home', home, '--rpc.laddr', `127.0.0.1:${rpcPort}`, '--p2p.laddr', `127.0.0.1:${p2pPort}`]
        if (peers.length > 0) args.push('--peers', peers.join(','))
        n.proc = spawnAitbc(args, { ...env, ...(o.env ?? {}) }, logFile)
        const p = n.proc
        await until(`${name} RPC`, async () => {
          if (p.child.exitCode !== null) throw new Error(`${name} exited: ${readFileSync(logFile, 'utf8').slice(-1500)}`)
          return await n.client.call('health').then(() => true, () => false)
        }, 60_000) // generous: a start on a loaded 2-core machine has taken over 30 s
      },
      stop: async (signal = 'SIGTERM') => { if (n.proc !== null) await n.proc.stop(signal); n.proc = null },
      height: async () => Number((await n.client.status()).sync_info.latest_block_height),
      log: () => { try { return readFileSync(logFile, 'utf8') } catch { return '' } },
    }
    nodes.push(n)
    return n
  }

  for (let i = 0; i < opts.validators; i++) await makeNode(`validator-${i}`, 'validator')
  const g = makeGenesisJSON({
    chainId,
    validators: nodes.map((n, i) => ({ pubKey: readKeyFile(homePaths(n.home).privKey).publicKey, name: n.name, power: 10, stake: parseAitbc('1000') })),
    accounts: [...keyring.list().map(k => ({ address: k.address, balance: parseAitbc('100000') })), ...(opts.accounts ?? [])],
    params: { block_time_ms: opts.blockTimeMs ?? 200, empty_block_interval_ms: opts.emptyBlockMs ?? 1000, verification_rate: '0', ...(opts.params ?? {}) },
  })
  genesisText = JSON.stringify(g, null, 2)
  for (const n of nodes) writeFileSync(homePaths(n.home).genesis, genesisText)
  const net: Testnet = {
    dir, nodes, keyring, chainId,
    get validators () { return nodes.filter(n => n.role === 'validator') },
    addFullNode: async (name: string) => await makeNode(name, 'full-node'),
    stopAll: async () => {
      await Promise.all(nodes.map(async n => await n.stop('SIGTERM')))
      if (process.env.AITBC_KEEP_TESTNET !== '1') rmSync(dir, { recursive: true, force: true })
    },
  }
  if (opts.start !== false) await Promise.all(net.validators.map(async n => await n.start()))
  return net
}

/** Waits until every given node is at height >= h. */
export async function waitHeight (nodes: NetNode[], h: number, timeoutMs = 30_000): Promise<void> {
  let last: number[] = []
  try {
    await until(`height ${h} on ${nodes.map(n => n.name).join(', ')}`, async () => {
      last = await Promise.all(nodes.map(async n => await n.height().catch(() => -1)))
      return last.every(x => x >= h)
    }, timeoutMs, 100)
  } catch (e) {
    // Say where each node was (-1: its RPC did not answer): a stalled chain and one lagging node read differently.
    throw new Error(`${(e as Error).message}; heights: ${nodes.map((n, i) => `${n.name}=${last[i] ?? '?'}`).join(', ')}`)
  }
}

/** Block hash and app hash of every height 1..upTo on every node must agree. */
export async function assertSameChain (nodes: NetNode[], upTo: number): Promise<void> {
  const chains = await Promise.all(nodes.map(async n => {
    const out = new Map<number, string>()
    for (let max = upTo; max >= 1; max -= 20) {
      const r = await n.client.call('blockchain', { minHeight: String(Math.max(1, max - 19)), maxHeight: String(max) })
      for (const m of r.block_metas) out.set(Number(m.header.height), `${m.block_id.hash}/${m.header.app_hash}`)
    }
    return out
  }))
  for (let h = 1; h <= upTo; h++) {
    const vals = chains.map(c => c.get(h))
    if (vals.some(v => v === undefined || v !== vals[0])) throw new Error(`nodes disagree at height ${h}: ${nodes.map((n, i) => `${n.name}=${vals[i]}`).join(' ')}`)
  }
}
