// The node under fuzz: one validator in a temp home on free loopback ports (the testnet helper's
// real `aitbc node start` process), with accounts funded for the corpus's keys.
import { readFileSync } from 'node:fs'
import { startTestnet, type NetNode, type Testnet } from '../../test/helpers/testnet.ts'
import { homePaths, readKeyFile } from '../../node/config.ts'
import { parseGenesis } from '../../genesis/genesis.ts'
import { addressBytesFromPubkey } from '../../node/core/crypto.ts'
import { parseAitbc } from '../../node/core/amount.ts'

export interface Target {
  net: Testnet
  node: NetNode
  chainId: string
  genesisHash: string
  validatorAddress: Uint8Array
  pid: () => number | undefined
  exited: () => boolean
  stop: () => Promise<void>
}

export async function startTarget (o: { chainId: string, accounts: string[], blockTimeMs: number, emptyBlockMs: number }): Promise<Target> {
  const net = await startTestnet({
    validators: 1,
    keys: [],
    chainId: o.chainId,
    blockTimeMs: o.blockTimeMs,
    emptyBlockMs: o.emptyBlockMs,
    accounts: o.accounts.map(address => ({ address, balance: parseAitbc('1000000') })),
  })
  const node = net.validators[0]
  const genesis = parseGenesis(JSON.parse(readFileSync(homePaths(node.home).genesis, 'utf8')))
  return {
    net,
    node,
    chainId: o.chainId,
    genesisHash: genesis.hash,
    validatorAddress: addressBytesFromPubkey(readKeyFile(homePaths(node.home).privKey).publicKey),
    pid: () => node.proc?.child.pid,
    exited: () => node.proc === null || node.proc.child.exitCode !== null || node.proc.child.signalCode !== null,
    stop: async () => { await net.stopAll() },
  }
}
