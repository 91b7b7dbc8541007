// The coordinator's API keys, one scheme for every write endpoint: each key maps to a keyring key
// (the account the gateway signs that key's jobs with) and has a daily spend cap. Only the sha256
// of a key is stored (in the coordinator's LevelDB, KEY.gatewayKey); the key itself is shown once,
// when it is made. Spend is the sum of max_fee of the jobs a key submitted in a UTC day, reserved
// before the broadcast and given back when the node refuses the tx (nothing charged for a job
// never submitted).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { KEY } from '../keys.ts'
import type { CoordinatorStore } from '../store.ts'
import { GatewayError } from './openAiError.ts'

export const API_KEY_PREFIX = 'aitbc-'
const API_KEY_RE = /^aitbc-[A-Za-z0-9_-]{32}$/

export interface ApiKeyRecord {
  /** The keyring key that signs this key's jobs. */
  key_name: string
  address: string
  /** uaitbc a day (the sum of max_fee of submitted jobs); "0": no cap. */
  daily_cap: string
  created_at: string
}

export interface ApiKeyEntry extends ApiKeyRecord { hash: string }

export function hashApiKey (apiKey: string): string { return createHash('sha256').update(apiKey, 'utf8').digest('hex') }

/** A fresh API key: "aitbc-" and 24 random bytes in base64url. */
export function newApiKey (): string { return API_KEY_PREFIX + randomBytes(24).toString('base64url') }

/** The UTC day of a time in ms, "YYYY-MM-DD". */
export function utcDay (ms: number): string { return new Date(ms).toISOString().slice(0, 10) }

export class ApiKeyStore {
  private readonly byHash = new Map<string, ApiKeyRecord>()
  private readonly locks = new Map<string, Promise<void>>()

  constructor (private readonly store: CoordinatorStore, private readonly now: () => number = Date.now) {}

  /** Reads every key record into memory. */
  async load (): Promise<void> {
    this.byHash.clear()
    for (const [k, v] of await this.store.entries<ApiKeyRecord>(KEY.gatewayKeyPrefix)) this.byHash.set(k.slice(KEY.gatewayKeyPrefix.length), v)
  }

  get size (): number { return this.byHash.size }

  list (): ApiKeyEntry[] { return [...this.byHash].map(([hash, r]) => ({ hash, ...r })) }

  /** The keys of a keyring key name. */
  forName (name: string): ApiKeyEntry[] { return this.list().filter(e => e.key_name === name) }

  /** Makes a key for the keyring key `name` (its address given); returns the key, which is not stored. */
  async create (name: string, address: string, dailyCap: bigint): Promise<{ apiKey: string, entry: ApiKeyEntry }> {
    if (dailyCap < 0n) throw new Error('the daily cap must be 0 (none) or more')
    const apiKey = newApiKey()
    const hash = hashApiKey(apiKey)
    const rec: ApiKeyRecord = { key_name: name, address, daily_cap: dailyCap.toString(), created_at: new Date(this.now()).toISOString() }
    await this.store.write([{ type: 'put', key: KEY.gatewayKey(hash), value: rec }])
    this.byHash.set(hash, rec)
    return { apiKey, entry: { hash, ...rec } }
  }

  /** Registers a key whose text the caller holds (the devnet keeps its key across restarts). */
  async adopt (apiKey: string, name: string, address: string, dailyCap: bigint): Promise<ApiKeyEntry> {
    if (!API_KEY_RE.test(apiKey)) throw new Error('not an API key of this coordinator')
    const hash = hashApiKey(apiKey)
    const rec: ApiKeyRecord = { key_name: name, address, daily_cap: dailyCap.toString(), created_at: new Date(this.now()).toISOString() }
    await this.store.write([{ type: 'put', key: KEY.gatewayKey(hash), value: rec }])
    this.byHash.set(hash, rec)
    return { hash, ...rec }
  }

  /** The record of a presented key, or a 401 GatewayError. */
  authenticate (apiKey: string | undefined): ApiKeyEntry {
    if (apiKey === undefined || apiKey === '') throw new GatewayError('missing_api_key', 'this endpoint needs an API key: send "Authorization: Bearer KEY" (or X-Api-Key: KEY)')
    if (!API_KEY_RE.test(apiKey)) throw new GatewayError('invalid_api_key', 'invalid API key')
    const hash = hashApiKey(apiKey)
    for (const [h, rec] of this.byHash) {
      if (timingSafeEqual(Buffer.from(h, 'hex'), Buffer.from(hash, 'hex'))) return { hash: h, ...rec }
    }
    throw new GatewayError('invalid_api_key', 'invalid API key')
  }

  /** What a key has reserved today, uaitbc. */
  async spentToday (hash: string): Promise<bigint> {
    return BigInt(await this.store.get<string>(KEY.gatewaySpend(hash, utcDay(this.now()))) ?? '0')
  }

  /**
   * Reserves `amount` of today's cap for a job about to be broadcast (429 spend_cap_exceeded when
   * it does not fit), then runs f; when f throws (the job never reached the chain) the reservation
   * is given back.
   */
  async withSpend<T> (entry: ApiKeyEntry, amount: bigint, f: () => Promise<T>): Promise<T> {
    const day = utcDay(this.now())
    await this.locked(entry.hash, async () => {
      const spent = BigInt(await this.store.get<string>(KEY.gatewaySpend(entry.hash, day)) ?? '0')
      const cap = BigInt(entry.daily_cap)
      if (cap > 0n && spent + amount > cap) {
        throw new GatewayError('spend_cap_exceeded', `this API key's daily spend cap of ${cap} uaitbc is reached (${spent} reserved today by max_fee of submitted jobs; this job needs ${amount}); it resets at 00:00 UTC`)
      }
      await this.store.write([{ type: 'put', key: KEY.gatewaySpend(entry.hash, day), value: (spent + amount).toString() }])
    })
    try {
      return await f()
    } catch (e) {
      await this.locked(entry.hash, async () => {
        const spent = BigInt(await this.store.get<string>(KEY.gatewaySpend(entry.hash, day)) ?? '0')
        const back = spent > amount ? spent - amount : 0n
        await this.store.write([{ type: 'put', key: KEY.gatewaySpend(entry.hash, day), value: back.toString() }])
      })
      throw e
    }
  }

  private async locked<T> (hash: string, f: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(hash) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>(resolve => { release = resolve })
    const chained = prev.then(() => mine)
    this.locks.set(hash, chained)
    try {
      await prev
      return await f()
    } finally {
      release()
      if (this.locks.get(hash) === chained) this.locks.delete(hash)
    }
  }
}
