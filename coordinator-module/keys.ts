// Every LevelDB key layout of the coordinator's index, in one place. Heights and tx indexes are
// zero-padded so that keys sort by position; a job's position is its submit_job tx's
// (height, index), so lists come out newest first when read in reverse.

export function pad (n: number): string { return n.toString().padStart(12, '0') }

/** Sort position of a tx (or of the job it submitted): "<height>:<index>". */
export function position (height: number, index: number): string { return `${pad(height)}:${pad(index)}` }

export const KEY = {
  /** {height, hash, time}: the last block whose index is written; written in every block's batch. */
  indexed: 'meta:indexed',
  /** {chain_id, initial_height, genesis_time}: the chain this index follows. */
  chain: 'meta:chain',
  /** Counters kept with each block: txs, jobs, jobs by status. */
  counts: 'meta:counts',

  block: (h: number) => `b:${pad(h)}`,
  blockPrefix: 'b:',
  blockByHash: (hash: string) => `bh:${hash}`,

  tx: (hash: string) => `t:${hash}`,
  /** All txs by position, value the hash. */
  txAt: (h: number, i: number) => `tl:${position(h, i)}`,
  txAtPrefix: 'tl:',
  txAtHeightPrefix: (h: number) => `tl:${pad(h)}:`,
  /** Txs that name an account (sender, body or event), value the hash. */
  accountTx: (address: string, h: number, i: number) => `at:${address}:${position(h, i)}`,
  accountTxPrefix: (address: string) => `at:${address}:`,

  /** The job as indexed from the chain's events and txs (JobRecord). */
  job: (id: string) => `j:${id}`,
  /** The node's aitbc_job answer, as last fetched. */
  jobRecord: (id: string) => `jr:${id}`,
  jobAll: (pos: string, id: string) => `ja:${pos}:${id}`,
  jobAllPrefix: 'ja:',
  jobByClient: (client: string, pos: string, id: string) => `jc:${client}:${pos}:${id}`,
  jobByClientPrefix: (client: string) => `jc:${client}:`,
  jobByMiner: (miner: string, pos: string, id: string) => `jm:${miner}:${pos}:${id}`,
  jobByMinerPrefix: (miner: string) => `jm:${miner}:`,
  jobByStatus: (status: string, pos: string, id: string) => `js:${status}:${pos}:${id}`,
  jobByStatusPrefix: (status: string) => `js:${status}:`,
  receipt: (id: string) => `rc:${id}`,

  /** The node's aitbc_account answer (without pending_nonce), as last fetched. */
  account: (address: string) => `ac:${address}`,
  accountPrefix: 'ac:',
  /** The node's aitbc_miner answer, as last fetched. */
  miner: (address: string) => `m:${address}`,
  minerPrefix: 'm:',
  /** A miner's price_per_second as its register_miner/update_miner txs set it (for job views). */
  minerPrice: (address: string) => `mp:${address}`,
  minerPricePrefix: 'mp:',

  /** Chart figures (chainStats.ts), written in each block's batch: the block's, its minute's (by minute of chain time). */
  statsMeta: 'meta:stats',
  statBlock: (h: number) => `sb:${pad(h)}`,
  statBlockPrefix: 'sb:',
  statMinute: (minute: number) => `sm:${pad(minute)}`,
  statMinutePrefix: 'sm:',
  /** A miner's running totals, its minutes and its changes (job settled or sampled, stake moved). */
  minerTotals: (address: string) => `mt:${address}`,
  minerTotalsPrefix: 'mt:',
  minerMinute: (address: string, minute: number) => `mm:${address}:${pad(minute)}`,
  minerMinutePrefix: (address: string) => `mm:${address}:`,
  minerMinuteAllPrefix: 'mm:',
  minerEvent: (address: string, h: number, seq: number) => `me:${address}:${position(h, seq)}`,
  minerEventPrefix: (address: string) => `me:${address}:`,

  /** Gateway API keys (gateway/apiKeyStore.ts): the record of a key by the sha256 of the key, hex. Kept by rebuild. */
  gatewayKey: (hash: string) => `gw:k:${hash}`,
  gatewayKeyPrefix: 'gw:k:',
  /** What a key's jobs may cost at most (the sum of their max_fee), by UTC day "YYYY-MM-DD". */
  gatewaySpend: (hash: string, day: string) => `gw:s:${hash}:${day}`,
  /** Everything of the gateway, which store.clear() keeps. */
  gatewayPrefix: 'gw:',

  /** Records to fetch again from the node: dirty:<kind>:<id>, value a sequence number. */
  dirty: (kind: DirtyKind, id: string) => `dirty:${kind}:${id}`,
  dirtyPrefix: 'dirty:',
}

export type DirtyKind = 'account' | 'miner' | 'job'

/** The end of a prefix range ('\xff' sorts after every key character we use). */
export function prefixEnd (prefix: string): string { return prefix + '\xff' }
