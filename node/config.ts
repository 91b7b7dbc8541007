// A node's home folder, as `cometbft init` lays it out, and its configuration. Precedence:
// flag, then environment variable AITBC_*, then config file, then default.
import { readFileSync, writeFileSync, mkdirSync, existsSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { SigningKey, addressBytesFromPubkey, toHex } from './core/crypto.ts'

export interface NodeConfig {
  moniker: string
  rpc: { host: string, port: number }
  p2p: { host: string, port: number, peers: string[] }
  /** maxQueuedPerSender, maxQueued, queueExpiryBlocks: the queue of future-nonce txs (docs/protocol.md 2.7). */
  mempool: { maxTxs: number, maxBytes: number, maxQueuedPerSender: number, maxQueued: number, queueExpiryBlocks: number }
  broadcastCommitTimeoutMs: number
  logLevel: string
}

export const DEFAULT_CONFIG: NodeConfig = {
  moniker: 'aitbc-node',
  rpc: { host: '127.0.0.1', port: 8006 },
  p2p: { host: '127.0.0.1', port: 8005, peers: [] },
  mempool: { maxTxs: 50_000, maxBytes: 64 * 1024 * 1024, maxQueuedPerSender: 64, maxQueued: 10_000, queueExpiryBlocks: 100 },
  broadcastCommitTimeoutMs: 10_000,
  logLevel: 'info',
}

/** A fresh 32-byte ed25519 seed from the OS's CSPRNG (key generation lives here, outside the pure core). */
export function randomSeed (): Uint8Array {
  return new Uint8Array(randomBytes(32))
}

export function homePaths (home: string): Record<'config' | 'genesis' | 'privKey' | 'nodeKey' | 'data' | 'pvState' | 'lockedBlock' | 'db', string> {
  return {
    config: join(home, 'config', 'config.json'),
    genesis: join(home, 'config', 'genesis.json'),
    privKey: join(home, 'config', 'priv_validator_key.json'),
    nodeKey: join(home, 'config', 'node_key.json'),
    data: join(home, 'data'),
    pvState: join(home, 'data', 'priv_validator_state.json'),
    lockedBlock: join(home, 'data', 'locked_block.bin'),
    db: join(home, 'data', 'chain'),
  }
}

/** Writes a secret key file with mode 0600 (the folder 0700). */
export function writeKeyFile (file: string, seed: Uint8Array): SigningKey {
  const key = new SigningKey(seed)
  const doc = {
    address: toHex(addressBytesFromPubkey(key.publicKey)).toUpperCase(),
    account: key.address,
    pub_key: { type: 'tendermint/PubKeyEd25519', value: Buffer.from(key.publicKey).toString('base64') },
    priv_key: { type: 'tendermint/PrivKeyEd25519', value: Buffer.from(seed).toString('base64') },
  }
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 })
  chmodSync(file, 0o600)
  return key
}

/** The 32-byte seed of a key file (for the libp2p identity; never logged). */
export function readKeySeed (file: string): Uint8Array {
  const doc = JSON.parse(readFileSync(file, 'utf8'))
  const seed = Buffer.from(String(doc?.priv_key?.value ?? ''), 'base64')
  if (seed.length !== 32 && seed.length !== 64) throw new Error(`${file}: priv_key.value is not an ed25519 key`)
  return new Uint8Array(seed.subarray(0, 32))
}

export function readKeyFile (file: string): SigningKey {
  return new SigningKey(readKeySeed(file))
}

/** Creates the home folder with keys and config (not the genesis). Refuses to overwrite keys. */
export function initHome (home: string, cfg: Partial<NodeConfig> = {}): { validatorKey: SigningKey, nodeKey: SigningKey } {
  const p = homePaths(home)
  mkdirSync(join(home, 'config'), { recursive: true, mode: 0o700 })
  mkdirSync(p.data, { recursive: true, mode: 0o700 })
  if (existsSync(p.privKey)) throw new Error(`${p.privKey} exists: this home is already initialised`)
  const validatorKey = writeKeyFile(p.privKey, randomSeed())
  const nodeKey = writeKeyFile(p.nodeKey, randomSeed())
  writeFileSync(p.config, JSON.stringify({ ...DEFAULT_CONFIG, ...cfg }, null, 2) + '\n')
  return { validatorKey, nodeKey }
}

function envInt (name: string): number | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name}=${v} is not a port number`)
  return n
}

export function parseHostPort (s: string, what: string): { host: string, port: number } {
  const m = /^(?:tcp:\/\/|http:\/\/)?([^:]+):(\d+)$/.exec(s)
  if (m === null || Number(m[2]) > 65535) throw new Error(`${what} "${s}" is not HOST:PORT`)
  return { host: m[1], port: Number(m[2]) }
}

/** Loads config.json and applies the environment and flags on top. */
export function loadConfig (home: string, flags: { rpcLaddr?: string, p2pLaddr?: string, peers?: string[], moniker?: string, logLevel?: string } = {}): NodeConfig {
  const p = homePaths(home)
  const file: Partial<NodeConfig> = existsSync(p.config) ? JSON.parse(readFileSync(p.config, 'utf8')) : {}
  const cfg: NodeConfig = {
    ...DEFAULT_CONFIG,
    ...file,
    rpc: { ...DEFAULT_CONFIG.rpc, ...file.rpc },
    p2p: { ...DEFAULT_CONFIG.p2p, ...file.p2p },
    mempool: { ...DEFAULT_CONFIG.mempool, ...file.mempool },
  }
  for (const [k, v] of Object.entries(cfg.mempool)) {
    if (!Number.isSafeInteger(v) || (v as number) < 1) throw new Error(`config.json: mempool.${k} must be a positive integer, got ${JSON.stringify(v)}`)
  }
  const envRpc = envInt('AITBC_RPC_PORT')
  if (envRpc !== undefined) cfg.rpc.port = envRpc
  const envP2p = envInt('AITBC_P2P_PORT')
  if (envP2p !== undefined) cfg.p2p.port = envP2p
  if (process.env.AITBC_RPC_HOST !== undefined && process.env.AITBC_RPC_HOST !== '') cfg.rpc.host = process.env.AITBC_RPC_HOST
  if (process.env.AITBC_PEERS !== undefined && process.env.AITBC_PEERS !== '') cfg.p2p.peers = process.env.AITBC_PEERS.split(',')
  if (process.env.AITBC_LOG_LEVEL !== undefined && process.env.AITBC_LOG_LEVEL !== '') cfg.logLevel = process.env.AITBC_LOG_LEVEL
  if (flags.rpcLaddr !== undefined) cfg.rpc = parseHostPort(flags.rpcLaddr, '--rpc.laddr')
  if (flags.p2pLaddr !== undefined) cfg.p2p = { ...cfg.p2p, ...parseHostPort(flags.p2pLaddr, '--p2p.laddr') }
  if (flags.peers !== undefined) cfg.p2p.peers = flags.peers
  if (flags.moniker !== undefined) cfg.moniker = flags.moniker
  if (flags.logLevel !== undefined) cfg.logLevel = flags.logLevel
  return cfg
}
