// Every LevelDB key layout of the node, in one place. Heights are zero-padded so that keys sort
// by height.

export function pad (n: number): string { return n.toString().padStart(12, '0') }

/** The layout's version: a data folder of another one is refused (it would need its indexes rebuilt). */
export const SCHEMA_VERSION = 4

export const KEY = {
  meta: 'meta:chain',
  totals: 'meta:totals',
  /** The chain's randomness (the last beacon's output). */
  beacon: 'meta:beacon',
  genesis: 'meta:genesis',
  block: (h: number) => `b:${pad(h)}`,
  blockPrefix: 'b:',
  blockByHash: (hash: string) => `bh:${hash}`,
  commit: (h: number) => `c:${pad(h)}`,
  results: (h: number) => `r:${pad(h)}`,
  tx: (hash: string) => `t:${hash}`,
  /** tx event index: e:<type.key>=<value>:<height>:<index> */
  txEvent: (key: string, value: string, h: number, i: number) => `e:${key}=${value}:${pad(h)}:${pad(i)}`,
  txEventPrefix: (key: string, value: string) => `e:${key}=${value}:`,
  /** block event index: be:<type.key>=<value>:<height> */
  blockEvent: (key: string, value: string, h: number) => `be:${key}=${value}:${pad(h)}`,
  blockEventPrefix: (key: string, value: string) => `be:${key}=${value}:`,
  account: (a: string) => `a:${a}`,
  accountPrefix: 'a:',
  miner: (a: string) => `m:${a}`,
  minerPrefix: 'm:',
  validatorBond: (a: string) => `v:${a}`,
  validatorBondPrefix: 'v:',
  /** The validator set from this height on (written when it changes: a height's set is the last entry at or below it). */
  validatorSet: (h: number) => `vs:${pad(h)}`,
  validatorSetPrefix: 'vs:',
  job: (id: string) => `j:${id}`,
  openJob: (id: string) => `oj:${id}`,
  openJobPrefix: 'oj:',
  jobByClient: (client: string, h: number, id: string) => `jc:${client}:${pad(h)}:${id}`,
  jobByClientPrefix: (client: string) => `jc:${client}:`,
  jobByMiner: (miner: string, h: number, id: string) => `jm:${miner}:${pad(h)}:${id}`,
  jobByMinerPrefix: (miner: string) => `jm:${miner}:`,
  jobByStatus: (status: string, h: number, id: string) => `js:${status}:${pad(h)}:${id}`,
  jobByStatusPrefix: (status: string) => `js:${status}:`,
  jobAll: (h: number, id: string) => `ja:${pad(h)}:${id}`,
  jobAllPrefix: 'ja:',
  jobByClientStatusPrefix: (client: string, status: string) => `jcs:${client}:${status}:`,
  jobByMinerStatusPrefix: (miner: string, status: string) => `jms:${miner}:${status}:`,
  /** How many keys a job list (by its prefix) holds. */
  count: (prefix: string) => `n:${prefix}`,
  receipt: (id: string) => `rc:${id}`,
}

/** The end of a prefix range ('\xff' sorts after every key character we use). */
export function prefixEnd (prefix: string): string { return prefix + '\xff' }
