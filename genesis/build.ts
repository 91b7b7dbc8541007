// Building genesis documents (aitbc genesis new|add-account|add-validator, aitbc node init,
// the devnet, tests): pure functions from typed inputs to genesis JSON. Every result should be
// checked with parseGenesis before it is written.
import { addressBytesFromPubkey, toHexUpper } from '../node/core/crypto.ts'
import { DEFAULT_PARAMS_JSON, DEFAULT_VALIDATOR_STAKE } from '../node/core/params.ts'
import { DEFAULT_SYNCHRONY, type GenesisJSON, type GenesisMiner } from './genesis.ts'

type ValidatorSpec = { pubKey: Uint8Array, power?: number, name?: string, stake?: bigint }

/**
 * A genesis validator: its power is its bonded stake / power_reduction. Given a stake, the power
 * follows from it; given only a power, it bonds power x power_reduction; given neither, the
 * default self-stake (DEFAULT_VALIDATOR_STAKE).
 */
function validatorJSON (v: ValidatorSpec, i: number, powerReduction: bigint): Record<string, unknown> {
  const stake = v.stake !== undefined && v.stake > 0n ? v.stake : v.power !== undefined ? BigInt(v.power) * powerReduction : DEFAULT_VALIDATOR_STAKE
  return {
    address: toHexUpper(addressBytesFromPubkey(v.pubKey)),
    pub_key: { type: 'tendermint/PubKeyEd25519', value: Buffer.from(v.pubKey).toString('base64') },
    power: String(stake / powerReduction),
    name: v.name ?? `validator-${i}`,
    stake: stake.toString(),
  }
}

function powerReductionOf (params: Record<string, unknown> | undefined): bigint {
  const p = params?.power_reduction
  return typeof p === 'string' && /^\d+$/.test(p) && BigInt(p) > 0n ? BigInt(p) : BigInt(DEFAULT_PARAMS_JSON.power_reduction)
}

/** A genesis document in which `validators` validate and `accounts` are funded. */
export function makeGenesisJSON (opts: {
  chainId: string
  genesisTime?: string
  validators: ValidatorSpec[]
  accounts?: Array<{ address: string, balance: bigint }>
  miners?: GenesisMiner[]
  params?: Partial<typeof DEFAULT_PARAMS_JSON>
}): GenesisJSON {
  return {
    chain_id: opts.chainId,
    genesis_time: opts.genesisTime ?? new Date().toISOString(),
    initial_height: '1',
    consensus_params: {
      block: { max_bytes: String(opts.params?.max_block_bytes ?? DEFAULT_PARAMS_JSON.max_block_bytes), max_gas: '-1' },
      evidence: { max_age_num_blocks: String(Math.max(0, (opts.params?.unbonding_blocks ?? DEFAULT_PARAMS_JSON.unbonding_blocks) - 1)), max_age_duration: '172800000000000', max_bytes: '1048576' },
      synchrony: { precision: String(DEFAULT_SYNCHRONY.precisionMs * 1_000_000), message_delay: String(DEFAULT_SYNCHRONY.messageDelayMs * 1_000_000) },
      validator: { pub_key_types: ['ed25519'] },
      version: { app: '1' },
    },
    validators: opts.validators.map((v, i) => validatorJSON(v, i, powerReductionOf(opts.params))),
    app_hash: '',
    app_state: {
      accounts: (opts.accounts ?? []).map(a => ({ address: a.address, balance: a.balance.toString() })),
      miners: (opts.miners ?? []).map(m => ({ address: m.address, models: m.models, price_per_second: m.pricePerSecond.toString(), capacity: m.capacity, stake: m.stake.toString() })),
      params: { ...DEFAULT_PARAMS_JSON, ...(opts.params ?? {}) },
    },
  }
}

/** A copy of `g` in which `address` holds `amount` more uaitbc (added to an existing entry). */
export function withFundedAccount (g: GenesisJSON, address: string, amount: bigint): GenesisJSON {
  const accounts: Array<{ address: string, balance: string }> = (g.app_state?.accounts ?? []).map((a: { address: string, balance: string }) => ({ ...a }))
  const existing = accounts.find(a => a.address === address)
  if (existing !== undefined) existing.balance = (BigInt(existing.balance) + amount).toString()
  else accounts.push({ address, balance: amount.toString() })
  return { ...g, app_state: { ...g.app_state, accounts } }
}

/** A copy of `g` with one more validator (named validator-N unless a name is given). */
export function withValidator (g: GenesisJSON, v: { pubKey: Uint8Array, power?: number, name?: string, stake?: bigint }): GenesisJSON {
  const validators = [...(g.validators ?? [])]
  validators.push(validatorJSON({ ...v, name: v.name ?? `validator-${validators.length}` }, validators.length, powerReductionOf(g.app_state?.params)))
  return { ...g, validators }
}
