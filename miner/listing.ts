// Listing: the miner's on-chain listing (models with their digest, quantization, parameter size
// and context length; price per second or per million input/output tokens; the most tokens per
// job; capacity, stake, active).
//
// - readModelsToList: reads Ollama's models (/api/tags) and keeps those asked for that Ollama
//   really has (all of Ollama's when none is asked for), never one whose entry has `remote_host`
//   (a model Ollama proxies to a cloud: its runs are not this miner's to vouch for). Each model's
//   digest, quantization and parameter size come from its /api/tags entry, its context length
//   from /api/show (model_info "<arch>.context_length") when that answers: never required.
// - start(): registers (register_miner) or brings the listing up to date (update_miner for
//   models and their details, prices, max_num_predict, capacity, active; stake for a bonded stake
//   below the one asked), each waited for until committed. Defaults for a new registration:
//   stake = min_miner_stake, price = default_price_per_second, capacity = 1, no token prices, no
//   max_num_predict; for a miner already registered an option that is not given leaves the chain's
//   value as it is.
// - stop(): update_miner active=false, so that the chain assigns nothing more to this miner.
import type { Logger } from 'pino'
import { RpcClientError, type MinerJSON, type ModelInfo, type ModelInfoJSON, type NodeClient, type TxBody } from '../node/client.ts'
import type { ChainParams } from './chainParams.ts'
import { MinerError } from './minerError.ts'
import type { OllamaClient, OllamaModel } from './ollamaClient.ts'
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

/** Longest quantization / parameter-size label the chain takes, in bytes. */
const MAX_LABEL_BYTES = 64
const MAX_CONTEXT_LENGTH = 100_000_000

/** A listing's model info from Ollama's entry and its context length, within what the chain accepts (anything else: null). */
export function modelInfoOf (m: OllamaModel, contextLength: number | null): ModelInfo {
  const label = (v: string | null): string | null => v !== null && v !== '' && Buffer.byteLength(v, 'utf8') <= MAX_LABEL_BYTES ? v : null
  return {
    name: m.name,
    digest: m.digest,
    quantization: label(m.quantization),
    parameterSize: label(m.parameterSize),
    contextLength: contextLength !== null && Number.isSafeInteger(contextLength) && contextLength >= 1 && contextLength <= MAX_CONTEXT_LENGTH ? contextLength : null,
  }
}

/** Reads Ollama's models and chooses those to list, with their details; throws a MinerError when there is none. */
export async function readModelsToList (
  opts: { asked?: string[], ollamaUrl: string },
  modules: { ollama: Pick<OllamaClient, 'models' | 'show'>, logger: Logger },
): Promise<{ models: string[], available: string[], info: ModelInfo[] }> {
  let all: OllamaModel[]
  try {
    all = await modules.ollama.models()
  } catch (e) {
    throw new MinerError('MINER_OLLAMA_UNREACHABLE', `cannot list Ollama's models at ${opts.ollamaUrl}: ${(e as Error).message}`)
  }
  const remote = all.filter(m => m.remoteHost !== null)
  if (remote.length > 0) modules.logger.warn({ models: remote.map(m => m.name), ollama: opts.ollamaUrl }, 'models Ollama proxies to a remote host (remote_host): never listed')
  const local = all.filter(m => m.remoteHost === null)
  const available = local.map(m => m.name)
  const models = chooseModels(opts.asked, available)
  if (models.length === 0) {
    const has = available.length === 0 ? 'no models' : `only ${available.join(', ')}`
    throw new MinerError('MINER_NO_MODELS', opts.asked !== undefined
      ? `none of the models asked for (${opts.asked.join(', ')}) is available in Ollama at ${opts.ollamaUrl}, which has ${has}; pull one first (ollama pull NAME)`
      : `Ollama at ${opts.ollamaUrl} has no models; pull one first (e.g. ollama pull llama3.2)`)
  }
  const missing = (opts.asked ?? []).filter(a => !models.some(m => withTag(m) === withTag(a)))
  if (missing.length > 0) modules.logger.warn({ missing, ollama: opts.ollamaUrl }, 'models asked for but not in Ollama: not listing them')
  const info = await Promise.all(models.map(async name => {
    const m = local.find(x => x.name === name) as OllamaModel
    let contextLength: number | null = null
    try {
      contextLength = (await modules.ollama.show(name)).contextLength
    } catch (e) {
      modules.logger.info({ model: name, err: (e as Error).message }, 'no context length from /api/show: listing the model without one')
    }
    if (m.digest === null) modules.logger.warn({ model: name }, 'Ollama gives no sha256 digest for the model: listed without one (only miners without one can check it)')
    return modelInfoOf(m, contextLength)
  }))
  return { models, available, info }
}

/** Whether the chain's model info is the one this miner would list. */
export function sameModelInfo (chain: ModelInfoJSON[], mine: ModelInfo[]): boolean {
  return chain.length === mine.length && mine.every((m, i) => {
    const c = chain[i]
    return c.name === m.name && c.digest === m.digest && c.quantization === m.quantization && c.parameter_size === m.parameterSize && c.context_length === m.contextLength
  })
}

export interface ListingOptions {
  address: string
  /** The node's URL as given, for error messages. */
  nodeUrl: string
  models: string[]
  /** Each model's details, in the order of `models` (absent: the names alone). */
  modelInfo?: ModelInfo[]
  /** Stake to hold bonded (default min_miner_stake). */
  stake?: bigint
  /** Default default_price_per_second for a new registration, else the chain's listing. */
  pricePerSecond?: bigint
  /** Default 1 for a new registration, else the chain's listing. */
  capacity?: number
  /** uaitbc per million input / output tokens (set either: billed by tokens). Default: none for a new registration, else the chain's. */
  priceIn?: bigint
  priceOut?: bigint
  /** The most tokens this miner generates per job. Default: the chain's max_num_predict for a new registration, else the chain's listing. */
  maxNumPredict?: number
  /** The public URL of this miner's HTTP port (its live token streams); null: none listed. */
  endpoint?: string | null
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
  /** uaitbc per million input / output tokens, once start() has run (null: not billed by tokens). */
  priceIn: bigint | null = null
  priceOut: bigint | null = null
  maxNumPredict: number | null = null
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
    const info = this.opts.modelInfo
    if (current === undefined) {
      this.capacity = this.opts.capacity ?? 1
      this.pricePerSecond = this.opts.pricePerSecond ?? params.defaultPricePerSecond
      this.priceIn = this.opts.priceIn ?? null
      this.priceOut = this.opts.priceOut ?? null
      this.maxNumPredict = this.opts.maxNumPredict ?? null
      this.log.info({ models: this.models, stake: stake.toString(), price_per_second: this.pricePerSecond.toString(), price_in: this.priceIn?.toString() ?? null, price_out: this.priceOut?.toString() ?? null, max_num_predict: this.maxNumPredict, capacity: this.capacity }, 'registering as a miner')
      await this.sendAndWait({
        type: 'register_miner', models: this.models, pricePerSecond: this.pricePerSecond, capacity: this.capacity, stake,
        ...(info === undefined ? {} : { modelInfo: info }),
        ...(this.priceIn === null ? {} : { priceIn: this.priceIn }),
        ...(this.priceOut === null ? {} : { priceOut: this.priceOut }),
        ...(this.maxNumPredict === null ? {} : { maxNumPredict: this.maxNumPredict }),
        ...(this.opts.endpoint == null ? {} : { endpoint: this.opts.endpoint }),
      })
      return
    }
    const chainPrice = BigInt(current.price_per_second)
    const chainIn = current.price_in === null ? null : BigInt(current.price_in)
    const chainOut = current.price_out === null ? null : BigInt(current.price_out)
    this.capacity = this.opts.capacity ?? current.capacity
    this.pricePerSecond = this.opts.pricePerSecond ?? chainPrice
    this.priceIn = this.opts.priceIn ?? chainIn
    this.priceOut = this.opts.priceOut ?? chainOut
    this.maxNumPredict = this.opts.maxNumPredict ?? current.max_num_predict
    const chainModels = current.models
    const sameModels = chainModels.length === this.models.length && this.models.every((m, i) => chainModels[i] === m)
    const sameInfo = info === undefined || sameModelInfo(current.model_info, info)
    const update: TxBody & { type: 'update_miner' } = {
      type: 'update_miner',
      // model_info goes with the models it describes.
      models: sameModels && sameInfo ? null : this.models,
      pricePerSecond: this.pricePerSecond === chainPrice ? null : this.pricePerSecond,
      capacity: this.capacity === current.capacity ? null : this.capacity,
      active: current.active ? null : true,
    }
    if (!sameInfo && info !== undefined) update.modelInfo = info
    if (this.priceIn !== chainIn) update.priceIn = this.priceIn
    if (this.priceOut !== chainOut) update.priceOut = this.priceOut
    if (this.maxNumPredict !== current.max_num_predict) update.maxNumPredict = this.maxNumPredict
    if (this.opts.endpoint != null && this.opts.endpoint !== current.endpoint) update.endpoint = this.opts.endpoint
    if (update.capacity !== null && current.active_jobs > update.capacity) {
      // The chain refuses a capacity below the jobs already assigned (MINER_BUSY): keep its value
      // on chain for now; this process still runs at most `capacity` jobs at once.
      this.log.warn({ capacity: update.capacity, active_jobs: current.active_jobs }, 'capacity not lowered on chain while more jobs than that are assigned; run again once they settle')
      update.capacity = null
    }
    if (update.models !== null || update.pricePerSecond !== null || update.capacity !== null || update.active !== null || update.modelInfo != null ||
      update.priceIn != null || update.priceOut != null || update.maxNumPredict != null || update.endpoint != null) {
      this.log.info({
        models: update.models, model_info: update.modelInfo != null, price_per_second: update.pricePerSecond?.toString() ?? null, price_in: update.priceIn?.toString() ?? null,
        price_out: update.priceOut?.toString() ?? null, max_num_predict: update.maxNumPredict ?? null, endpoint: update.endpoint ?? null, capacity: update.capacity, active: update.active,
      }, 'updating the miner listing')
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
