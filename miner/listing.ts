// Listing: the miner's on-chain listing (models, price per second, capacity, stake, active).
//
// - readModelsToList: reads Ollama's models (/api/tags) and keeps those asked for that Ollama
//   really has (all of Ollama's when none is asked for).
// - start(): registers (register_miner) or brings the listing up to date (update_miner for
//   models/price/capacity/active, stake for a bonded stake below the one asked), each waited for
//   until committed. Defaults for a new registration: stake = min_miner_stake, price =
//   default_price_per_second, capacity = 1; for a miner already registered an option that is not
//   given leaves the chain's value as it is.
// - stop(): update_miner active=false, so that the chain assigns nothing more to this miner.
import type { Logger } from 'pino'
import { RpcClientError, type MinerJSON, type NodeClient, type TxBody } from '../node/client.ts'
import type { ChainParams } from './chainParams.ts'
import { MinerError } from './minerError.ts'
import type { OllamaClient } from './ollamaClient.ts'
import type { TxQueue } from './txQueue.ts'

/** Ollama's naming: a model without a tag is NAME:latest. */
function withTag (name: string): string { return name.includes(':') ? name : `${name}:latest` }

/** The models to list: those asked that Ollama has (by Ollama's own name), or all of Ollama's. */
export function chooseModels (asked: string[] | undefined, available: string[]): string[] {
  if (asked === undefined) return [...new Set(available)]
  const out: string[] = []
  for (const a of asked) {
    const hit = available.find(m => m === a) ?? available.find(m => withTag(m) === withTag(a))
    if (hit !== undefined && !out.includes(hit)) out.push(hit)
  }
  return out
}

/** Reads Ollama's models and chooses those to list; throws a MinerError when there is none. */
export async function readModelsToList (
  opts: { asked?: string[], ollamaUrl: string },
  modules: { ollama: Pick<OllamaClient, 'tags'>, logger: Logger },
): Promise<{ models: string[], available: string[] }> {
  let available: string[]
  try {
    available = await modules.ollama.tags()
  } catch (e) {
    throw new MinerError('MINER_OLLAMA_UNREACHABLE', `cannot list Ollama's models at ${opts.ollamaUrl}: ${(e as Error).message}`)
  }
  const models = chooseModels(opts.asked, available)
  if (models.length === 0) {
    const has = available.length === 0 ? 'no models' : `only ${available.join(', ')}`
    throw new MinerError('MINER_NO_MODELS', opts.asked !== undefined
      ? `none of the models asked for (${opts.asked.join(', ')}) is available in Ollama at ${opts.ollamaUrl}, which has ${has}; pull one first (ollama pull NAME)`
      : `Ollama at ${opts.ollamaUrl} has no models; pull one first (e.g. ollama pull llama3.2)`)
  }
  const missing = (opts.asked ?? []).filter(a => !models.some(m => withTag(m) === withTag(a)))
  if (missing.length > 0) modules.logger.warn({ missing, ollama: opts.ollamaUrl }, 'models asked for but not in Ollama: not listing them')
  return { models, available }
}

export interface ListingOptions {
  address: string
  /** The node's URL as given, for error messages. */
  nodeUrl: string
  models: string[]
  /** Stake to hold bonded (default min_miner_stake). */
  stake?: bigint
  /** Default default_price_per_second for a new registration, else the chain's listing. */
  pricePerSecond?: bigint
  /** Default 1 for a new registration, else the chain's listing. */
  capacity?: number
  /** stop() deactivates the listing. Default true. */
  deactivateOnStop?: boolean
  params: Pick<ChainParams, 'minMinerStake' | 'defaultPricePerSecond' | 'blockTimeMs'>
}

export interface ListingModules {
  node: Pick<NodeClient, 'miner'>
  txs: Pick<TxQueue, 'send' | 'waitCommitted'>
  logger: Logger
}

export class Listing {
  readonly models: string[]
  /** Jobs at once, once start() has run: the option, else the chain's listing. */
  capacity = 1
  /** uaitbc per second, once start() has run. */
  pricePerSecond = 0n
  private readonly log: Logger

  constructor (private readonly opts: ListingOptions, private readonly modules: ListingModules) {
    this.models = [...opts.models]
    this.log = modules.logger
  }

  /** register_miner, or update_miner / stake so that the chain's listing is what was asked. */
  async start (): Promise<void> {
    const { params } = this.opts
    let current: MinerJSON | undefined
    try {
      current = await this.modules.node.miner(this.opts.address)
    } catch (e) {
      if (!(e instanceof RpcClientError && /not a registered miner/.test(e.message))) {
        throw new MinerError('MINER_NODE_UNREACHABLE', `cannot read this miner's listing from the node at ${this.opts.nodeUrl}: ${(e as Error).message}`)
      }
    }
    const stake = this.opts.stake ?? params.minMinerStake
    if (current === undefined) {
      this.capacity = this.opts.capacity ?? 1
      this.pricePerSecond = this.opts.pricePerSecond ?? params.defaultPricePerSecond
      this.log.info({ models: this.models, stake: stake.toString(), price_per_second: this.pricePerSecond.toString(), capacity: this.capacity }, 'registering as a miner')
      await this.sendAndWait({ type: 'register_miner', models: this.models, pricePerSecond: this.pricePerSecond, capacity: this.capacity, stake })
      return
    }
    const chainPrice = BigInt(current.price_per_second)
    this.capacity = this.opts.capacity ?? current.capacity
    this.pricePerSecond = this.opts.pricePerSecond ?? chainPrice
    const chainModels = current.models
    const sameModels = chainModels.length === this.models.length && this.models.every(m => chainModels.includes(m))
    const update: TxBody & { type: 'update_miner' } = {
      type: 'update_miner',
      models: sameModels ? null : this.models,
      pricePerSecond: this.pricePerSecond === chainPrice ? null : this.pricePerSecond,
      capacity: this.capacity === current.capacity ? null : this.capacity,
      active: current.active ? null : true,
    }
    if (update.capacity !== null && current.active_jobs > update.capacity) {
      // The chain refuses a capacity below the jobs already assigned (MINER_BUSY): keep its value
      // on chain for now; this process still runs at most `capacity` jobs at once.
      this.log.warn({ capacity: update.capacity, active_jobs: current.active_jobs }, 'capacity not lowered on chain while more jobs than that are assigned; run again once they settle')
      update.capacity = null
    }
    if (update.models !== null || update.pricePerSecond !== null || update.capacity !== null || update.active !== null) {
      this.log.info({ models: update.models, price_per_second: update.pricePerSecond?.toString() ?? null, capacity: update.capacity, active: update.active }, 'updating the miner listing')
      await this.sendAndWait(update)
    }
    const bonded = BigInt(current.stake)
    if (bonded < stake) {
      this.log.info({ bonded: bonded.toString(), stake: stake.toString() }, 'bonding more stake')
      await this.sendAndWait({ type: 'stake', amount: stake - bonded })
    }
  }

  /** Deactivates the listing (unless deactivateOnStop is false); failures are logged, never thrown. */
  async stop (): Promise<void> {
    if (this.opts.deactivateOnStop === false) return
    try {
      const sent = await this.modules.txs.send({ type: 'update_miner', models: null, pricePerSecond: null, capacity: null, active: false })
      await this.modules.txs.waitCommitted(sent, 10_000, this.pollMs())
      this.log.info('listing deactivated: the chain assigns nothing more to this miner')
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'could not deactivate the listing')
    }
  }

  private pollMs (): number { return Math.max(100, Math.floor(this.opts.params.blockTimeMs / 2)) }

  private async sendAndWait (body: TxBody): Promise<void> {
    try {
      const sent = await this.modules.txs.send(body)
      await this.modules.txs.waitCommitted(sent, 60_000, this.pollMs())
    } catch (e) {
      throw new MinerError('MINER_LISTING_FAILED', `${body.type} failed: ${(e as Error).message}`)
    }
  }
}
