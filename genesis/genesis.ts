// The genesis document: CometBFT-shaped JSON (chain_id, genesis_time, initial_height,
// consensus_params, validators, app_hash, app_state), parsed and validated into typed values.
// A node refuses to start on a genesis that does not validate; the error says what is wrong.
import { GenesisError } from '../node/core/errors.ts'
import { parseUaitbc, MAX_AMOUNT } from '../node/core/amount.ts'
import { addressFromPubkey, isAddress, addressBytesFromPubkey, toHexUpper, sha256, utf8Bytes } from '../node/core/crypto.ts'
import { DEFAULT_PARAMS_JSON, MAX_BLOCK_BYTES, type Params } from '../node/core/params.ts'

export { DEFAULT_PARAMS_JSON, type Params }

export interface GenesisValidator { address: string /* upper hex, 20 bytes */, pubKey: Uint8Array, power: number, name: string, accountAddress: string, stake: bigint }
export interface GenesisMiner { address: string, models: string[], pricePerSecond: bigint, capacity: number, stake: bigint }
export interface Genesis {
  chainId: string
  genesisTime: string
  initialHeight: number
  validators: GenesisValidator[]
  accounts: Array<{ address: string, balance: bigint }>
  miners: GenesisMiner[]
  params: Params
  /** How far a proposal's time may be from a validator's clock (consensus_params.synchrony). */
  synchrony: Synchrony
  /** sha256 of the canonical genesis JSON, checked by peers (later) and stored by the node. */
  hash: string
  json: GenesisJSON
}

export type GenesisJSON = Record<string, any>

/**
 * Proposer-based time (as CometBFT's PBTS): a validator prevotes for a fresh proposal only when
 * it receives it no earlier than its time minus `precisionMs` and no later than its time plus
 * `messageDelayMs` (growing 10% a round) plus `precisionMs`.
 */
export interface Synchrony { precisionMs: number, messageDelayMs: number }
export const DEFAULT_SYNCHRONY: Synchrony = { precisionMs: 505, messageDelayMs: 15_000 }

/** consensus_params.synchrony, in CometBFT's form (durations as nanosecond strings); absent: the defaults. */
function parseSynchrony (cp: unknown): Synchrony {
  const s = (cp as { synchrony?: unknown } | undefined)?.synchrony
  if (s === undefined) return DEFAULT_SYNCHRONY
  if (s === null || typeof s !== 'object') fail('consensus_params.synchrony must be an object')
  const ms = (v: unknown, what: string, dflt: number): number => {
    if (v === undefined) return dflt
    if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) fail(`consensus_params.synchrony.${what} must be a duration in nanoseconds as a decimal string, got ${JSON.stringify(v)}`)
    const n = Math.floor(Number(v) / 1e6)
    if (n < 1 || n > 3_600_000) fail(`consensus_params.synchrony.${what} must be from 1 ms to 1 hour`)
    return n
  }
  const o = s as Record<string, unknown>
  return { precisionMs: ms(o.precision, 'precision', DEFAULT_SYNCHRONY.precisionMs), messageDelayMs: ms(o.message_delay, 'message_delay', DEFAULT_SYNCHRONY.messageDelayMs) }
}


function fail (msg: string): never { throw new GenesisError(`genesis: ${msg}`) }

function int (v: unknown, what: string, min: number, max: number): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(`${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`)
  return n
}
function amount (v: unknown, what: string): bigint {
  try { return parseUaitbc(v, what) } catch (e) { fail((e as Error).message) }
}
function fraction (v: unknown, what: string): number {
  if (typeof v !== 'string' || !/^(0(\.\d{1,6})?|1(\.0{1,6})?)$/.test(v)) fail(`${what} must be a decimal string from "0" to "1" with at most 6 decimals, got ${JSON.stringify(v)}`)
  const [w, f = ''] = v.split('.')
  return Number(w) * 1_000_000 + Number(f.padEnd(6, '0'))
}

export function parseParams (p: unknown): Params {
  if (p === null || typeof p !== 'object') fail('app_state.params is missing')
  const o = { ...DEFAULT_PARAMS_JSON, ...(p as Record<string, unknown>) }
  for (const k of Object.keys(p as object)) if (!(k in DEFAULT_PARAMS_JSON)) fail(`unknown param "${k}"`)
  return {
    minFee: amount(o.min_fee, 'min_fee'),
    maxTxBytes: int(o.max_tx_bytes, 'max_tx_bytes', 256, 1 << 22),
    maxPromptBytes: int(o.max_prompt_bytes, 'max_prompt_bytes', 1, 1 << 22),
    maxResultBytes: int(o.max_result_bytes, 'max_result_bytes', 1, 1 << 22),
    defaultPricePerSecond: amount(o.default_price_per_second, 'default_price_per_second'),
    assignTimeoutS: int(o.assign_timeout_s, 'assign_timeout_s', 1, 86400 * 365),
    jobTimeoutS: int(o.job_timeout_s, 'job_timeout_s', 1, 86400 * 365),
    minMinerStake: amount(o.min_miner_stake, 'min_miner_stake'),
    slashFractionPpm: fraction(o.slash_fraction, 'slash_fraction'),
    unbondingBlocks: int(o.unbonding_blocks, 'unbonding_blocks', 0, 1e9),
    blockTimeMs: int(o.block_time_ms, 'block_time_ms', 10, 3_600_000),
    emptyBlockIntervalMs: int(o.empty_block_interval_ms, 'empty_block_interval_ms', 10, 86_400_000),
    maxBlockTxs: int(o.max_block_txs, 'max_block_txs', 1, 1_000_000),
    maxBlockBytes: int(o.max_block_bytes, 'max_block_bytes (at most what one gossip message carries)', 4096, MAX_BLOCK_BYTES),
    maxNumPredict: int(o.max_num_predict, 'max_num_predict', 1, 1_000_000),
    verificationRatePpm: fraction(o.verification_rate, 'verification_rate'),
    verificationThresholdPpm: fraction(o.verification_threshold, 'verification_threshold'),
    verifierRewardPpm: fraction(o.verifier_reward, 'verifier_reward'),
    ...validatorParams(o),
  }
}

function validatorParams (o: Record<string, unknown>): Pick<Params, 'powerReduction' | 'minValidatorStake' | 'maxValidators' | 'downtimeWindow' | 'downtimeMaxMissed' | 'downtimeSlashFractionPpm' | 'jailBlocks'> {
  const maxValidators = int(o.max_validators, 'max_validators', 1, 1000)
  const powerReduction = amount(o.power_reduction, 'power_reduction')
  // The total power (every bonded uaitbc of the supply, at most) must stay a safe integer.
  if (powerReduction < 1n || MAX_AMOUNT / powerReduction * BigInt(maxValidators) > BigInt(Number.MAX_SAFE_INTEGER)) fail(`power_reduction must be at least ${MAX_AMOUNT * BigInt(maxValidators) / BigInt(Number.MAX_SAFE_INTEGER) + 1n} uaitbc with max_validators ${maxValidators} (voting power must stay a safe integer)`)
  const downtimeWindow = int(o.downtime_window, 'downtime_window', 1, 1_000_000)
  const downtimeMaxMissed = int(o.downtime_max_missed, 'downtime_max_missed', 0, downtimeWindow - 1)
  return {
    powerReduction, maxValidators, downtimeWindow, downtimeMaxMissed,
    minValidatorStake: amount(o.min_validator_stake, 'min_validator_stake'),
    downtimeSlashFractionPpm: fraction(o.downtime_slash_fraction, 'downtime_slash_fraction'),
    jailBlocks: int(o.jail_blocks, 'jail_blocks', 0, 1e9),
  }
}

/** Canonical JSON (sorted keys) for hashing. */
export function canonicalJSON (v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonicalJSON).join(',') + ']'
  if (v !== null && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map(k => JSON.stringify(k) + ':' + canonicalJSON((v as any)[k])).join(',') + '}'
  }
  return JSON.stringify(v)
}

/** Parses and validates a genesis document; throws GenesisError naming what is wrong. */
export function parseGenesis (json: GenesisJSON): Genesis {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('not a JSON object')
  const chainId = json.chain_id
  if (typeof chainId !== 'string' || !/^[a-zA-Z0-9._-]{1,50}$/.test(chainId)) fail('chain_id must be 1-50 characters of letters, digits, ".", "_" or "-"')
  const genesisTime = json.genesis_time
  if (typeof genesisTime !== 'string' || Number.isNaN(Date.parse(genesisTime))) fail('genesis_time must be an RFC3339 time')
  const initialHeight = int(json.initial_height ?? '1', 'initial_height', 1, Number.MAX_SAFE_INTEGER)
  const app = json.app_state
  if (app === null || typeof app !== 'object') fail('app_state is missing')
  const params = parseParams(app.params ?? {})
  if (!Array.isArray(json.validators) || json.validators.length === 0) fail('validators must be a non-empty array')
  const seenVal = new Set<string>()
  const validators: GenesisValidator[] = json.validators.map((v: any, i: number) => {
    const key = v?.pub_key
    if (key?.type !== 'tendermint/PubKeyEd25519' || typeof key.value !== 'string') fail(`validators[${i}].pub_key must be {type: "tendermint/PubKeyEd25519", value: base64}`)
    const pub = new Uint8Array(Buffer.from(key.value, 'base64'))
    if (pub.length !== 32 || Buffer.from(pub).toString('base64') !== key.value) fail(`validators[${i}].pub_key.value is not 32 bytes of base64`)
    const address = toHexUpper(addressBytesFromPubkey(pub))
    if (v.address !== undefined && v.address !== address) fail(`validators[${i}].address ${v.address} does not match its pub_key (${address})`)
    if (seenVal.has(address)) fail(`validators[${i}] is listed twice`)
    seenVal.add(address)
    return { address, pubKey: pub, powerJSON: v.power, stakeJSON: v.stake, name: typeof v.name === 'string' ? v.name : `validator-${i}`, accountAddress: addressFromPubkey(pub) }
  }).map((v, i) => {
    // Power comes from the bonded stake; a genesis that gives only a power bonds power x power_reduction.
    let stake = amount(v.stakeJSON ?? '0', `validators[${i}].stake`)
    if (stake === 0n) stake = BigInt(int(v.powerJSON, `validators[${i}].power (or a stake)`, 1, 1e12)) * params.powerReduction
    const power = Number(stake / params.powerReduction)
    if (power < 1) fail(`validators[${i}].stake ${stake} uaitbc is below power_reduction ${params.powerReduction} uaitbc: it would have no voting power`)
    const { powerJSON: _p, stakeJSON: _s, ...rest } = v
    return { ...rest, power, stake }
  })
  if (validators.length > params.maxValidators) fail(`the genesis lists ${validators.length} validators, max_validators is ${params.maxValidators}`)
  if (!Array.isArray(app.accounts ?? [])) fail('app_state.accounts must be an array')
  const seenAcc = new Set<string>()
  let total = 0n
  const accounts = (app.accounts ?? []).map((a: any, i: number) => {
    if (!isAddress(a?.address)) fail(`app_state.accounts[${i}].address is not an aitbc address`)
    if (seenAcc.has(a.address)) fail(`app_state.accounts[${i}] ${a.address} is listed twice`)
    seenAcc.add(a.address)
    const balance = amount(a.balance, `app_state.accounts[${i}].balance`)
    total += balance
    return { address: a.address as string, balance }
  })
  const seenMin = new Set<string>()
  const miners = (app.miners ?? []).map((m: any, i: number) => {
    if (!isAddress(m?.address)) fail(`app_state.miners[${i}].address is not an aitbc address`)
    if (seenMin.has(m.address)) fail(`app_state.miners[${i}] is listed twice`)
    seenMin.add(m.address)
    if (!Array.isArray(m.models) || m.models.length === 0 || !m.models.every((x: unknown) => typeof x === 'string' && x.length > 0)) fail(`app_state.miners[${i}].models must be a non-empty list of names`)
    const stake = amount(m.stake, `app_state.miners[${i}].stake`)
    if (stake < params.minMinerStake) fail(`app_state.miners[${i}].stake is below min_miner_stake`)
    total += stake
    return { address: m.address, models: m.models, pricePerSecond: amount(m.price_per_second ?? params.defaultPricePerSecond.toString(), `app_state.miners[${i}].price_per_second`), capacity: int(m.capacity ?? 1, `app_state.miners[${i}].capacity`, 1, 1000), stake }
  })
  for (const v of validators) total += v.stake
  if (total > MAX_AMOUNT) fail('total supply overflows int64')
  const hash = toHexUpper(sha256(utf8Bytes(canonicalJSON(json))))
  return { chainId, genesisTime, initialHeight, validators, accounts, miners, params, synchrony: parseSynchrony(json.consensus_params), hash, json }
}

