// Building genesis documents (aitbc genesis new|add-account|add-validator, aitbc node init,
// the devnet, tests): pure functions from typed inputs to genesis JSON. Every result should be
// checked with parseGenesis before it is written.
import { addressBytesFromPubkey, toHexUpper } from '../node/core/crypto.ts'
import { DEFAULT_PARAMS_JSON } from '../node/core/params.ts'
import { DEFAULT_SYNCHRONY, type GenesisJSON, type GenesisMiner } from './genesis.ts'

type ValidatorSpec = { pubKey: Uint8Array, power?: number, name?: string, stake?: bigint }

function validatorJSON (v: ValidatorSpec, i: number): Record<string, unknown> {
  return {
    address: toHexUpper(addressBytesFromPubkey(v.pubKey)),
    pub_key: { type: 'tendermint/PubKeyEd25519', value: Buffer.from(v.pubKey).toString('base64') },
    power: String(v.power ?? 10),
    name: v.name ?? `validator-${i}`,
    stake: (v.stake ?? 0n).toString(),
  }
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
      evidence: { max_age_num_blocks: '100000', max_age_duration: '172800000000000', max_bytes: '1048576' },
      synchrony: { precision: String(DEFAULT_SYNCHRONY.precisionMs * 1_000_000), message_delay: String(DEFAULT_SYNCHRONY.messageDelayMs * 1_000_000) },
      validator: { pub_key_types: ['ed25519'] },
      version: { app: '1' },
    },
    validators: opts.validators.map(validatorJSON),
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
  validators.push(validatorJSON({ ...v, name: v.name ?? `validator-${validators.length}` }, validators.length))
  return { ...g, validators }
}
