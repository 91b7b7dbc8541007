// The gateway's work behind the OpenAI routes: which models active miners serve, turning a request
// into a submit_job signed by the key's account (nonce from NonceSequencer, spend from
// ApiKeyStore), waiting on the node until the job is final (verification may hold it in
// `verifying`), and reading its result: the text the chain holds, or the seal the miner made to
// this account (node/sealedResult.ts), checked against the job's result_hash.
import { Keyring } from '../../cli/keyring.ts'
import { priceCaps, servingMiners } from '../../cli/priceCaps.ts'
import { inputBytes } from '../../node/core/txs/submitJob.ts'
import { openSealedResult } from '../../node/sealedResult.ts'
import {
  jobIdFromTxHash, RpcClientError, RpcNetworkError, sha256, signTx, toHex, utf8Bytes,
  type JobJSON, type Logger, type MinerJSON, type NodeClient, type ParamsResult, type SigningKey, type TxBody,
} from '../../node/client.ts'
import type { ApiKeyEntry, ApiKeyStore } from './apiKeyStore.ts'
import { NonceSequencer } from './nonceSequencer.ts'
import { GatewayError } from './openAiError.ts'
import type { JobRequest } from './requests.ts'

export const FINAL_STATUSES = new Set(['completed', 'failed', 'rejected', 'cancelled', 'expired'])

export interface GatewayOptions {
  /** max_fee of each job, uaitbc (what the spend cap counts). */
  maxFee: bigint
  /** How long a request waits for its job to be final. */
  timeoutMs: number
  /** How often the node is asked about a job. */
  pollMs: number
  /** $AITBC_HOME of the keyring that holds the signing keys. */
  keyringHome?: string
}

export interface GatewayModules {
  client: Pick<NodeClient, 'call' | 'account' | 'job' | 'params' | 'status'>
  keys: ApiKeyStore
  logger: Logger
}

export interface SubmittedJob { jobId: string, txHash: string, model: string, createdS: number, signer: Signer }

export interface Signer { name: string, key: SigningKey, seed: Uint8Array }

export interface ModelEntry { id: string, digests: string[], miners: number, price_in: string | null, price_out: string | null, price_per_second: string | null }

export interface JobAnswer { text: string, finishReason: 'stop' | 'length', promptTokens: number, completionTokens: number, job: JobJSON }

export class Gateway {
  private readonly nonces: NonceSequencer
  private readonly signers = new Map<string, Signer>()
  private readonly keyring: Keyring
  private chain: { id: string, params: ParamsResult, at: number } | null = null

  constructor (readonly opts: GatewayOptions, private readonly m: GatewayModules) {
    this.keyring = new Keyring(opts.keyringHome)
    this.nonces = new NonceSequencer(async a => Number((await this.node(async () => await m.client.account(a))).pending_nonce))
  }

  /** The signing key of a keyring key name (read once; the file is 0600). */
  signer (name: string): Signer {
    let s = this.signers.get(name)
    if (s === undefined) {
      const key = this.keyring.get(name)
      s = { name, key, seed: new Uint8Array(Buffer.from(this.keyring.exportSeed(name), 'hex')) }
      this.signers.set(name, s)
    }
    return s
  }

  /** A node call; an unreachable node is a 502. */
  private async node<T> (f: () => Promise<T>): Promise<T> {
    try {
      return await f()
    } catch (e) {
      if (e instanceof RpcNetworkError) throw new GatewayError('node_unreachable', `the chain node does not answer: ${e.message}`)
      throw e
    }
  }

  private async chainInfo (): Promise<{ id: string, params: ParamsResult }> {
    if (this.chain === null || Date.now() - this.chain.at > 60_000) {
      const [params, status] = await this.node(async () => await Promise.all([this.m.client.params(), this.m.client.status()]))
      this.chain = { id: String(status.node_info.network), params, at: Date.now() }
    }
    return this.chain
  }

  async chainId (): Promise<{ id: string }> { return { id: (await this.chainInfo()).id } }

  async activeMiners (model?: string): Promise<MinerJSON[]> {
    const r = await this.node(async () => await this.m.client.call('aitbc_miners', model === undefined ? {} : { model }))
    return r.miners.filter(x => x.active)
  }

  /** Models active miners serve, with their digests, the miner count and the lowest prices. */
  async models (): Promise<ModelEntry[]> {
    const byModel = new Map<string, MinerJSON[]>()
    for (const mi of await this.activeMiners()) for (const name of mi.models) byModel.set(name, [...(byModel.get(name) ?? []), mi])
    const low = (xs: Array<string | null>): string | null => {
      const v = xs.filter((x): x is string => x !== null).map(BigInt)
      return v.length === 0 ? null : v.reduce((a, b) => a < b ? a : b).toString()
    }
    return [...byModel].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([id, ms]) => ({
      id,
      digests: [...new Set(ms.map(mi => mi.model_info.find(i => i.name === id)?.digest).filter((d): d is string => typeof d === 'string'))].sort(),
      miners: ms.length,
      price_in: low(ms.map(mi => mi.price_in)),
      price_out: low(ms.map(mi => mi.price_out)),
      price_per_second: low(ms.filter(mi => mi.price_in === null && mi.price_out === null).map(mi => mi.price_per_second)),
    }))
  }

  /**
   * Signs and broadcasts the job of a request, paid by the key's account. Everything that can be
   * refused is refused before the spend is reserved; a tx the node refuses gives it back.
   */
  async submit (entry: ApiKeyEntry, r: JobRequest): Promise<SubmittedJob> {
    const { id: chainId, params } = await this.chainInfo()
    const bytes = inputBytes({ prompt: r.prompt, messages: r.messages })
    if (bytes > params.max_prompt_bytes) throw new GatewayError('too_large', `the ${r.messages === null ? 'prompt is' : 'messages are'} ${bytes} bytes; this chain takes at most ${params.max_prompt_bytes} (max_prompt_bytes)`, r.messages === null ? 'prompt' : 'messages')
    const maxNumPredict = Number(params.max_num_predict ?? Number.MAX_SAFE_INTEGER)
    if (r.maxTokens !== null && r.maxTokens > maxNumPredict) throw new GatewayError('invalid_request', `max_tokens must be at most ${maxNumPredict} (the chain's max_num_predict)`, 'max_tokens')
    const miners = await this.activeMiners(r.model)
    const serving = servingMiners(miners, r.model, null)
    if (serving.length === 0) throw new GatewayError('model_not_found', `no active miner serves the model "${r.model}" (see GET /v1/models)`, 'model')
    const caps = priceCaps({}, miners, r.model, null, BigInt(params.default_price_per_second)).caps
    const signer = this.signer(entry.key_name)
    const body: TxBody = {
      type: 'submit_job', model: r.model, prompt: r.prompt, messages: r.messages,
      options: { temperature: r.temperature, numPredict: r.maxTokens, seed: r.seed },
      maxFee: this.opts.maxFee, maxPricePerSecond: caps.maxPricePerSecond, modelDigest: null,
      maxPriceIn: caps.maxPriceIn, maxPriceOut: caps.maxPriceOut,
      // With a single miner of the model nobody can check it; the job would wait for a second.
      unverified: serving.length < 2 ? true : null,
    }
    const fee = BigInt(params.min_fee)
    return await this.m.keys.withSpend(entry, this.opts.maxFee + fee, async () => {
      return await this.nonces.withNonce(signer.key.address, async nonce => {
        const tx = signTx(signer.key, { chainId, nonce, fee, body })
        let res
        try {
          res = await this.node(async () => await this.m.client.call('broadcast_tx_sync', { tx: Buffer.from(tx.bytes).toString('base64') }))
        } catch (e) {
          if (e instanceof RpcClientError) throw new GatewayError('tx_refused', `the node refused the job: ${e.message}`)
          throw e
        }
        if (res.code !== 0) {
          const code = /^([A-Z_]+):/.exec(res.log)?.[1] ?? String(res.code)
          this.m.logger.warn({ code, key: entry.key_name }, 'gateway job refused by the node')
          if (code === 'INSUFFICIENT_FUNDS') throw new GatewayError('tx_refused', `the account behind this API key (${signer.key.address}) cannot pay the job's max_fee: ${res.log}`)
          throw new GatewayError('tx_refused', `the node refused the job: ${res.log}`)
        }
        const jobId = jobIdFromTxHash(tx.hash)
        this.m.logger.info({ job_id: jobId, key: entry.key_name, model: r.model }, 'gateway job submitted')
        return { used: true, value: { jobId, txHash: tx.hash, model: r.model, createdS: Math.floor(Date.now() / 1000), signer } }
      })
    })
  }

  /** The job as the node has it (undefined before its block). */
  async job (jobId: string): Promise<JobJSON | undefined> {
    try {
      return await this.node(async () => await this.m.client.job(jobId))
    } catch (e) {
      if (e instanceof RpcClientError && /not found/i.test(e.message)) return undefined
      throw e
    }
  }

  /** Polls the node until `pred` holds for the job, or the deadline (504). */
  async waitFor (jobId: string, deadline: number, pred: (j: JobJSON) => boolean, signal?: AbortSignal): Promise<JobJSON> {
    for (;;) {
      if (signal?.aborted === true) throw new GatewayError('job_timeout', `the request was closed; job ${jobId} goes on on the chain`)
      let j: JobJSON | undefined
      try {
        j = await this.job(jobId)
      } catch (e) {
        // The node may be briefly away; the deadline bounds the wait.
        if (!(e instanceof GatewayError) || Date.now() > deadline) throw e
      }
      if (j !== undefined && pred(j)) return j
      if (Date.now() > deadline) throw new GatewayError('job_timeout', `job ${jobId} is still ${j?.status ?? 'not in a block'} after ${Math.round(this.opts.timeoutMs / 1000)} s; it goes on on the chain (GET /v1/jobs/${jobId})`)
      await new Promise(resolve => setTimeout(resolve, this.opts.pollMs))
    }
  }

  async waitFinal (jobId: string, deadline: number, signal?: AbortSignal): Promise<JobJSON> {
    return await this.waitFor(jobId, deadline, j => FINAL_STATUSES.has(j.status), signal)
  }

  /** The answer of a final job, or the OpenAI error of how it ended. */
  answer (job: JobJSON, signer: Signer): JobAnswer {
    if (job.status !== 'completed') {
      const why = job.error === null ? '' : `: ${job.error}`
      if (job.status === 'expired') throw new GatewayError('job_timeout', `job ${job.job_id} expired on the chain (no miner finished it in time); max_fee refunded`)
      if (job.status === 'rejected') throw new GatewayError('job_rejected', `job ${job.job_id} was rejected by verification (the result did not match other miners'); max_fee refunded`)
      throw new GatewayError('job_failed', `job ${job.job_id} ${job.status}${why}; max_fee refunded`)
    }
    const text = resultText(job, signer)
    return {
      text,
      finishReason: job.done_reason === 'length' ? 'length' : 'stop',
      promptTokens: job.metrics?.prompt_tokens ?? 0,
      completionTokens: job.metrics?.completion_tokens ?? 0,
      job,
    }
  }
}

/** The result text of a job: the chain's, else the seal opened with the client's key; it must hash to result_hash. */
export function resultText (job: JobJSON, signer: Signer): string {
  let text = job.result
  if (text === null && job.sealed_result !== null && job.miner !== null && job.verification !== null) {
    const opened = openSealedResult(signer.seed, job.job_id, job.miner, job.verification.commitment ?? '', new Uint8Array(Buffer.from(job.sealed_result, 'base64')))
    if (opened !== null && opened.matches) text = opened.text
  }
  if (text === null) throw new GatewayError('result_mismatch', `job ${job.job_id} is ${job.status} but its result cannot be read`)
  if (job.result_hash !== null && toHex(sha256(utf8Bytes(text))).toLowerCase() !== job.result_hash.toLowerCase()) {
    throw new GatewayError('result_mismatch', `the result of job ${job.job_id} does not hash to its result_hash on chain`)
  }
  return text
}
