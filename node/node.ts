// The composition root: builds and wires the node's parts in one place.
import { readFileSync, existsSync } from 'node:fs'
import { parseGenesis, type Genesis } from '../genesis/genesis.ts'
import { addressBytesFromPubkey, toHex } from './core/crypto.ts'
import { ChainStore } from './chain/store.ts'
import { Chain } from './chain/chain.ts'
import { Mempool } from './chain/mempool.ts'
import { PrivValidator } from './chain/privval.ts'
import { ConsensusEngine } from './consensus/engine.ts'
import { parseByzantineMode } from './consensus/byzantine.ts'
import { ChainApp } from './chain/app.ts'
import { TxGossip } from './chain/txGossip.ts'
import { TxIntake } from './chain/txIntake.ts'
import { VerifyPool } from './chain/verifyPool.ts'
import { createNodeMetrics } from './metrics.ts'
import { RpcServer } from './rpc/server.ts'
import { TxWatcher } from './rpc/txWatcher.ts'
import { homePaths, loadConfig, readKeyFile, readKeySeed, randomSeed, type NodeConfig } from './config.ts'
import { createNetwork, type Network } from './p2p/network.ts'
import type { Logger } from './logger.ts'

export interface RunningNode {
  chain: Chain
  mempool: Mempool
  rpc: RpcServer
  rpcUrl: string
  config: NodeConfig
  stop: () => Promise<void>
}

export function loadGenesisFile (file: string): Genesis {
  if (!existsSync(file)) throw new Error(`genesis file ${file} not found (run "aitbc node init" first)`)
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    throw new Error(`genesis file ${file} is not JSON: ${(e as Error).message}`)
  }
  return parseGenesis(json as Record<string, unknown>)
}

export async function startNode (home: string, config: NodeConfig, log: Logger): Promise<RunningNode> {
  const paths = homePaths(home)
  const genesis = loadGenesisFile(paths.genesis)
  const store = await ChainStore.open(paths.db)
  const chain = new Chain(genesis, store, log.child({ module: 'chain' }))
  await chain.init()
  const mempool = new Mempool(config.mempool, chain, log.child({ module: 'mempool' }))
  const watcher = new TxWatcher(chain, mempool)
  // Signature checks of incoming txs on every core (AITBC_VERIFY_WORKERS: how many; 0 verifies on the main thread).
  const verifyPool = new VerifyPool(process.env.AITBC_VERIFY_WORKERS !== undefined && process.env.AITBC_VERIFY_WORKERS !== '' ? Number(process.env.AITBC_VERIFY_WORKERS) : undefined, log.child({ module: 'verify' }))
  const intake = new TxIntake(mempool, verifyPool, log.child({ module: 'intake' }))
  const pvKey = existsSync(paths.privKey) ? readKeyFile(paths.privKey) : null
  const nodeKey = existsSync(paths.nodeKey) ? readKeyFile(paths.nodeKey) : pvKey
  const isValidator = pvKey !== null && chain.validators.some(v => toHex(v.pubKey) === toHex(pvKey.publicKey))
  // A node with a validator key signs whenever its key is in the set of a height (it may join later, by create_validator).
  const pv = pvKey !== null ? new PrivValidator(pvKey, paths.pvState) : null
  if (!isValidator) log.info({}, 'this node is not in the current validator set: it follows the chain as a full node until its key is')
  let net: Network
  try {
    net = await createNetwork({
      host: config.p2p.host,
      port: config.p2p.port,
      peers: config.p2p.peers,
      nodeKeySeed: existsSync(paths.nodeKey) ? readKeySeed(paths.nodeKey) : randomSeed(),
      chainId: genesis.chainId,
      genesisHash: genesis.hash,
      status: () => ({ height: chain.height }),
      logger: log.child({ module: 'p2p' }),
    })
    await net.start()
  } catch (e) {
    await store.close()
    throw new Error(`cannot start P2P on ${config.p2p.host}:${config.p2p.port}: ${(e as Error).message}`)
  }
  const metrics = createNodeMetrics(chain, mempool, () => net.peers().length)
  const app = new ChainApp(chain, mempool, pv?.key ?? null, verifyPool)
  const txGossip = new TxGossip(net, mempool, log.child({ module: 'txgossip' }), intake)
  const engine = new ConsensusEngine(app, pv, net, log.child({ module: 'consensus' }), { byzantine: parseByzantineMode(process.env.AITBC_TEST_BYZANTINE), metrics, lockedBlockFile: paths.lockedBlock })
  const rpc = new RpcServer({ host: config.rpc.host, port: config.rpc.port }, {
    chain,
    mempool,
    intake,
    watcher,
    node: {
      id: nodeKey === null ? '00'.repeat(20) : toHex(addressBytesFromPubkey(nodeKey.publicKey)),
      moniker: config.moniker,
      p2pAddr: `tcp://${config.p2p.host}:${config.p2p.port}`,
      rpcAddr: `tcp://${config.rpc.host}:${config.rpc.port}`,
      validatorPubKey: pvKey !== null ? pvKey.publicKey : null,
    },
    peers: () => net.peers().map(p => ({ id: p.id, addr: p.addr })),
    catchingUp: () => engine.isSyncing,
    broadcastCommitTimeoutMs: config.broadcastCommitTimeoutMs,
    metrics,
  }, log.child({ module: 'rpc' }))
  let rpcUrl: string
  try {
    rpcUrl = await rpc.start()
  } catch (e) {
    await net.stop()
    await store.close()
    throw new Error(`cannot listen for RPC on ${config.rpc.host}:${config.rpc.port}: ${(e as Error).message}`)
  }
  txGossip.start()
  await engine.start()
  log.info({ chainId: genesis.chainId, height: chain.height, rpc: rpcUrl, p2p: net.multiaddrs(), validator: isValidator }, 'node started')
  let stopped = false
  return {
    chain,
    mempool,
    rpc,
    rpcUrl,
    config,
    stop: async () => {
      if (stopped) return
      stopped = true
      await engine.stop()
      txGossip.stop()
      await rpc.stop()
      await net.stop()
      await verifyPool.close()
      await store.close()
      log.info({ height: chain.height }, 'node stopped')
    },
  }
}

export { loadConfig }
