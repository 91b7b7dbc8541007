// The state a chain starts from, built from its genesis: the one definition the node and the
// tests both use. Pure.
import { genesisBeacon } from '../node/core/txs/beacon.ts'
import { encodeChangeSet, newMiner, newValidatorBond, type Account, type ChangeSet, type Miner, type Totals, type ValidatorBond } from '../node/core/state.ts'
import { EMPTY_HASH, nextAppHash } from '../node/core/block.ts'
import type { Genesis } from './genesis.ts'

/** What the chain knows of its last block; at genesis, the block before the first. */
export interface LastBlock {
  height: number
  /** Empty before the first block. */
  hash: Uint8Array
  /** ms since the epoch; the genesis time before the first block. */
  time: number
  /** The app hash after this block (after the genesis state at genesis). */
  appHash: Uint8Array
  /** Hash of this block's tx results (the next header's last_results_hash). */
  resultsHash: Uint8Array
}

export interface GenesisState {
  /** Every record of the initial state, as a change set over nothing (what MemState.apply and the store take). */
  changes: ChangeSet
  /** The chain's position before its first block. */
  last: LastBlock
}

export function genesisState (g: Genesis): GenesisState {
  const accounts = new Map<string, Account>(g.accounts.map(a => [a.address, { balance: a.balance, nonce: 0 }]))
  const miners = new Map<string, Miner>(g.miners.map(m => [m.address, newMiner({
    address: m.address, models: [...m.models], pricePerSecond: m.pricePerSecond, capacity: m.capacity, stake: m.stake, registeredHeight: g.initialHeight - 1,
  })]))
  const bonds = new Map<string, ValidatorBond>(g.validators.map(v => [v.address, newValidatorBond({ address: v.address, pubKey: v.pubKey, operator: v.accountAddress, moniker: v.name, stake: v.stake, createdHeight: g.initialHeight - 1 })]))
  const balances = g.accounts.reduce((s, a) => s + a.balance, 0n)
  const bonded = g.miners.reduce((s, m) => s + m.stake, 0n) + g.validators.reduce((s, v) => s + v.stake, 0n)
  const totals: Totals = { supply: balances + bonded, balances, escrow: 0n, bonded, unbonding: 0n, burned: 0n }
  const changes: ChangeSet = { accounts, miners, jobs: new Map(), bonds, totals, beacon: genesisBeacon(g.chainId, g.genesisTime) }
  return {
    changes,
    last: {
      height: g.initialHeight - 1,
      hash: new Uint8Array(0),
      time: Date.parse(g.genesisTime),
      appHash: nextAppHash(EMPTY_HASH, encodeChangeSet(changes)),
      resultsHash: EMPTY_HASH,
    },
  }
}
