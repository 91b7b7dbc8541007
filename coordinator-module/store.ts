// The coordinator's LevelDB (through `level`): JSON values, prefix scans, and one write lock so
// that the indexer's block batches and the refresher's record batches never interleave.
import { Level } from 'level'
import { KEY, prefixEnd } from './keys.ts'
import { writeBatch } from '../node/chain/store.ts'

export type StoreOp = { type: 'put', key: string, value: unknown } | { type: 'del', key: string }

export interface ScanOptions {
  reverse?: boolean
  limit?: number
  /** Only keys strictly below this one (reverse scans start there). */
  lt?: string
  /** Only keys strictly above this one. */
  gt?: string
}

export class StoreLockedError extends Error {
  constructor (readonly dir: string) {
    super(`the index at ${dir} is in use by another process (a running coordinator?); stop it first`)
    this.name = 'StoreLockedError'
  }
}

export class CoordinatorStore {
  private lock: Promise<void> = Promise.resolve()

  private constructor (readonly db: Level<string, any>, readonly dir: string) {}

  static async open (dir: string): Promise<CoordinatorStore> {
    const db = new Level<string, any>(dir, { keyEncoding: 'utf8', valueEncoding: 'json' })
    try {
      await db.open()
    } catch (e: any) {
      const cause = e?.cause?.code ?? e?.cause?.message ?? ''
      if (e?.code === 'LEVEL_LOCKED' || /lock/i.test(String(cause)) || /lock/i.test(String(e?.cause?.message ?? ''))) throw new StoreLockedError(dir)
      throw e
    }
    return new CoordinatorStore(db, dir)
  }

  async close (): Promise<void> {
    await this.lock
    await this.db.close()
  }

  async get<T> (key: string): Promise<T | undefined> { return await this.db.get(key) as T | undefined }

  async getMany<T> (keys: string[]): Promise<Array<T | undefined>> {
    if (keys.length === 0) return []
    return await this.db.getMany(keys) as Array<T | undefined>
  }

  /** Runs `f` alone among writers (block batches, record refreshes, clear). */
  async exclusive<T> (f: () => Promise<T>): Promise<T> {
    const prev = this.lock
    let release!: () => void
    this.lock = new Promise<void>(resolve => { release = resolve })
    try {
      await prev
      return await f()
    } finally {
      release()
    }
  }

  /** Writes ops atomically. Call inside exclusive() when the ops depend on what was read. */
  async write (ops: StoreOp[]): Promise<void> {
    if (ops.length === 0) return
    await writeBatch(this.db, ops, false)
  }

  private range (prefix: string, o: ScanOptions): Record<string, unknown> {
    const r: Record<string, unknown> = { gte: prefix, lt: prefixEnd(prefix), reverse: o.reverse === true, limit: o.limit ?? -1 }
    if (o.lt !== undefined && o.lt < (r.lt as string)) r.lt = o.lt
    if (o.gt !== undefined) { delete r.gte; r.gt = o.gt < prefix ? prefix : o.gt }
    return r
  }

  async keys (prefix: string, o: ScanOptions = {}): Promise<string[]> {
    return await this.db.keys(this.range(prefix, o)).all()
  }

  async entries<T> (prefix: string, o: ScanOptions = {}): Promise<Array<[string, T]>> {
    return await this.db.iterator(this.range(prefix, o)).all() as Array<[string, T]>
  }

  /** Deletes the index (rebuild); the gateway's API keys and spend (KEY.gatewayPrefix) stay. */
  async clear (): Promise<void> {
    await this.exclusive(async () => {
      await this.db.clear({ lt: KEY.gatewayPrefix })
      await this.db.clear({ gte: prefixEnd(KEY.gatewayPrefix) })
    })
  }
}
