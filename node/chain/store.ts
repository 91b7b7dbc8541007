// LevelDB through `level`: typed reads, and one atomic batch per committed block.
import { Level } from 'level'
import { pack, unpack } from '../core/codec.ts'
import { decodeAccount, decodeJob, decodeMiner, decodeTotals, decodeValidatorBond, type Account, type Job, type Miner, type Totals, type ValidatorBond } from '../core/state.ts'
import { decodeBlock, decodeCommit, type Block, type Commit } from '../core/block.ts'
import { KEY, prefixEnd } from './keys.ts'
import type { AbciEvent, TxResult } from '../core/transition.ts'

export interface ChainMeta {
  /** The key layout's version (absent: 1). */
  schema?: number
  chainId: string
  genesisHash: string
  height: number
  lastBlockHash: string
  lastBlockTime: number
  appHash: string
  lastResultsHash: string
}

export interface BlockResults { txResults: TxResult[], beginEvents: AbciEvent[] }

export type BatchOp = { type: 'put', key: string, value: Uint8Array } | { type: 'del', key: string }

/**
 * Writes ops as one LevelDB WriteBatch. Through a chained batch: each put goes straight into the
 * native batch, about five times cheaper a key than db.batch(array), which copies and re-encodes
 * every op object in JavaScript first (a block of 1,000 transfers writes some 10,000 keys).
 */
export async function writeBatch<V> (db: Level<string, V>, ops: ReadonlyArray<{ type: 'put', key: string, value: V } | { type: 'del', key: string }>, sync: boolean): Promise<void> {
  const batch = db.batch()
  try {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value)
      else batch.del(op.key)
    }
  } catch (e) {
    await batch.close()
    throw e
  }
  await batch.write({ sync })
}

export class ChainStore {
  private constructor (readonly db: Level<string, Uint8Array>) {}

  static async open (dir: string): Promise<ChainStore> {
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.open()
    return new ChainStore(db)
  }

  async close (): Promise<void> { await this.db.close() }

  private getSync (key: string): Uint8Array | undefined {
    return (this.db as any).getSync(key) as Uint8Array | undefined
  }

  async get (key: string): Promise<Uint8Array | undefined> { return await this.db.get(key) }

  getMeta (): ChainMeta | undefined {
    const b = this.getSync(KEY.meta)
    return b === undefined ? undefined : unpack<ChainMeta>(b)
  }

  /** A number stored by ChainStore.put (a counter), read at once. */
  getNumberSync (key: string): number | undefined {
    const b = this.getSync(key)
    return b === undefined ? undefined : unpack<number>(b)
  }

  getBeacon (): Uint8Array | undefined {
    const b = this.getSync(KEY.beacon)
    return b === undefined ? undefined : new Uint8Array(unpack(b) as Uint8Array)
  }

  getTotals (): Totals | undefined {
    const b = this.getSync(KEY.totals)
    return b === undefined ? undefined : decodeTotals(unpack(b))
  }

  getJobSync (id: string): Job | undefined {
    const b = this.getSync(KEY.job(id))
    return b === undefined ? undefined : decodeJob(unpack(b))
  }

  async getBlockBytes (h: number): Promise<Uint8Array | undefined> { return await this.db.get(KEY.block(h)) }
  async getBlock (h: number): Promise<Block | undefined> {
    const b = await this.getBlockBytes(h)
    return b === undefined ? undefined : decodeBlock(b)
  }

  async getCommitBytes (h: number): Promise<Uint8Array | undefined> { return await this.db.get(KEY.commit(h)) }
  async getCommit (h: number): Promise<Commit | undefined> {
    const b = await this.db.get(KEY.commit(h))
    return b === undefined ? undefined : decodeCommit(b)
  }

  async getResults (h: number): Promise<BlockResults | undefined> {
    const b = await this.db.get(KEY.results(h))
    return b === undefined ? undefined : unpack<BlockResults>(b)
  }

  async heightOfBlockHash (hash: string): Promise<number | undefined> {
    const b = await this.db.get(KEY.blockByHash(hash))
    return b === undefined ? undefined : unpack<number>(b)
  }

  async txLocation (hash: string): Promise<{ height: number, index: number } | undefined> {
    const b = await this.db.get(KEY.tx(hash))
    if (b === undefined) return undefined
    const [height, index] = unpack<[number, number]>(b)
    return { height, index }
  }

  txCommittedSync (hash: string): boolean { return this.getSync(KEY.tx(hash)) !== undefined }

  async receiptJobId (receiptId: string): Promise<string | undefined> {
    const b = await this.db.get(KEY.receipt(receiptId))
    return b === undefined ? undefined : unpack<string>(b)
  }

  /** Keys under a prefix, in order (or reverse), starting after `after` if given. */
  async keys (prefix: string, opts: { limit?: number, reverse?: boolean, gt?: string, gte?: string, lt?: string, lte?: string } = {}): Promise<string[]> {
    const range: Record<string, unknown> = { gte: opts.gte ?? prefix, lt: prefixEnd(prefix), limit: opts.limit ?? -1, reverse: opts.reverse ?? false }
    if (opts.gt !== undefined) { delete range.gte; range.gt = opts.gt }
    if (opts.lt !== undefined) range.lt = opts.lt
    if (opts.lte !== undefined) { delete range.lt; range.lte = opts.lte }
    return await this.db.keys(range as any).all()
  }

  async loadState (): Promise<{ accounts: Array<[string, Account]>, miners: Miner[], openJobs: Job[], bonds: ValidatorBond[] }> {
    const accounts: Array<[string, Account]> = []
    for await (const [k, v] of this.db.iterator({ gte: KEY.accountPrefix, lt: prefixEnd(KEY.accountPrefix) })) {
      accounts.push([k.slice(KEY.accountPrefix.length), decodeAccount(unpack(v))])
    }
    const miners: Miner[] = []
    for await (const v of this.db.values({ gte: KEY.minerPrefix, lt: prefixEnd(KEY.minerPrefix) })) miners.push(decodeMiner(unpack(v)))
    const openJobs: Job[] = []
    const ids = await this.keys(KEY.openJobPrefix)
    const values = await this.db.getMany(ids.map(k => KEY.job(k.slice(KEY.openJobPrefix.length))))
    for (const v of values) if (v !== undefined) openJobs.push(decodeJob(unpack(v)))
    const bonds: ValidatorBond[] = []
    for await (const v of this.db.values({ gte: KEY.validatorBondPrefix, lt: prefixEnd(KEY.validatorBondPrefix) })) bonds.push(decodeValidatorBond(unpack(v)))
    return { accounts, miners, openJobs, bonds }
  }

  async getMany (keys: string[]): Promise<Array<Uint8Array | undefined>> { return await this.db.getMany(keys) }

  /**
   * One atomic batch: a block with its state and indexes, or nothing. Durable (fsync) by default;
   * block sync writes a run of blocks it can fetch again without a sync each and syncs the last.
   */
  async write (ops: BatchOp[], sync = true): Promise<void> { await writeBatch(this.db, ops, sync) }

  static put (key: string, value: unknown): BatchOp { return { type: 'put', key, value: pack(value) } }
}
