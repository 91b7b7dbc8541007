// The JSON shapes of the node's RPC answers. format.ts builds them, the RPC methods return them
// and NodeClient's callers (CLI, miner, coordinator, other programs) read them: one definition
// for both sides. CometBFT v0.38 conventions: int64 as decimal strings, hashes upper-case hex,
// bytes base64, times RFC3339. AITBC amounts are uaitbc decimal strings.

/** A uaitbc amount as a decimal string. */
export type AmountString = string
/** An int64 as a decimal string (CometBFT convention). */
export type Int64String = string

export interface PartSetHeaderJSON { total: number, hash: string }
export interface BlockIdJSON { hash: string, parts: PartSetHeaderJSON }

export interface HeaderJSON {
  version: { block: string, app: string }
  chain_id: string
  height: Int64String
  time: string
  last_block_id: BlockIdJSON
  last_commit_hash: string
  data_hash: string
  validators_hash: string
  next_validators_hash: string
  consensus_hash: string
  app_hash: string
  last_results_hash: string
  evidence_hash: string
  proposer_address: string
}

export interface CommitSigJSON { block_id_flag: number, validator_address: string, timestamp: string, signature: string }
export interface CommitJSON { height: Int64String, round: number, block_id: BlockIdJSON, signatures: CommitSigJSON[] }

export interface BlockJSON {
  header: HeaderJSON
  data: { txs: string[] }
  evidence: { evidence: unknown[] }
  last_commit: CommitJSON
}
export interface BlockResultJSON { block_id: BlockIdJSON, block: BlockJSON }

export interface EventAttributeJSON { key: string, value: string, index: boolean }
export interface EventJSON { type: string, attributes: EventAttributeJSON[] }

export interface TxResultJSON {
  code: number
  data: string | null
  log: string
  info: string
  gas_wanted: Int64String
  gas_used: Int64String
  events: EventJSON[]
  codespace: string
}

export interface PubKeyJSON { type: 'tendermint/PubKeyEd25519', value: string }

export interface ValidatorJSON { address: string, pub_key: PubKeyJSON, voting_power: Int64String, proposer_priority: Int64String, name: string }

// ---- CometBFT method results ----

export interface StatusResult {
  node_info: {
    protocol_version: { p2p: string, block: string, app: string }
    id: string
    listen_addr: string
    network: string
    version: string
    channels: string
    moniker: string
    other: { tx_index: string, rpc_address: string, aitbc_version: string }
  }
  sync_info: {
    latest_block_hash: string
    latest_app_hash: string
    latest_block_height: Int64String
    latest_block_time: string
    earliest_block_height: Int64String
    catching_up: boolean
  }
  validator_info: { address: string, pub_key: PubKeyJSON, voting_power: Int64String }
}

export interface NetInfoResult {
  listening: boolean
  listeners: string[]
  n_peers: Int64String
  peers: Array<{ node_info: { id: string, listen_addr: string }, is_outbound: boolean, remote_ip: string }>
}

export interface BlockMetaJSON { block_id: BlockIdJSON, block_size: Int64String, header: HeaderJSON, num_txs: Int64String }
export interface BlockchainResult { last_height: Int64String, block_metas: BlockMetaJSON[] }

export interface BlockResultsResult {
  height: Int64String
  txs_results: TxResultJSON[] | null
  finalize_block_events: EventJSON[]
  validator_updates: unknown[]
  consensus_param_updates: unknown | null
  /** base64, as CometBFT's ResultBlockResults */
  app_hash: string
}

export interface CommitResult { signed_header: { header: HeaderJSON, commit: CommitJSON }, canonical: boolean }

export interface ValidatorWithBondJSON extends ValidatorJSON { stake: AmountString, slashed: AmountString, operator: string, moniker: string }

export type ValidatorStatusJSON = 'bonded' | 'unbonding' | 'jailed' | 'tombstoned'
/** A validator record (aitbc_validators): its standing whether or not it is in the set. */
export interface ValidatorRecordJSON {
  address: string
  pub_key: PubKeyJSON
  operator: string
  moniker: string
  /** Bonded stake / power_reduction (what it has, in the set or not). */
  power: Int64String
  /** Power in the set of the next height (0 when out of it). */
  voting_power: Int64String
  status: ValidatorStatusJSON
  in_set: boolean
  stake: AmountString
  slashed: AmountString
  unbonding: Array<{ amount: AmountString, release_height: Int64String }>
  /** Commits within the downtime window that lack its precommit, and those heights. */
  missed_blocks: number
  missed_heights: number[]
  jailed_until: Int64String | null
  tombstoned: boolean
  created_height: Int64String
}
export interface ValidatorRecordsResult { height: Int64String, validators: ValidatorRecordJSON[], total: Int64String, downtime_window: number, downtime_max_missed: number }
export interface ValidatorsResult { block_height: Int64String, validators: ValidatorWithBondJSON[], count: Int64String, total: Int64String }

export interface TxProofJSON { data: string, root_hash: string, proof: { total: Int64String, index: Int64String, leaf_hash: string, aunts: string[] } }
export interface ResultTx { hash: string, height: Int64String, index: number, tx_result: TxResultJSON, tx: string, proof?: TxProofJSON }
export interface TxSearchResult { txs: ResultTx[], total_count: Int64String }
export interface BlockSearchResult { blocks: BlockResultJSON[], total_count: Int64String }

export interface BroadcastTxResult { code: number, data: string, log: string, codespace: string, hash: string }
export interface BroadcastTxCommitResult { check_tx: TxResultJSON, tx_result: TxResultJSON, hash: string, height: Int64String }

/** `total` counts ready and queued txs; `queued` (an AITBC field) the future-nonce txs among them. */
export interface UnconfirmedTxsResult { n_txs: Int64String, total: Int64String, total_bytes: Int64String, queued?: Int64String, txs: string[] | null }

export interface AbciInfoResult { response: { data: string, version: string, app_version: string, last_block_height: Int64String, last_block_app_hash: string } }
export interface AbciQueryResult {
  response: { code: number, log: string, info: string, index: Int64String, key: string, value: string | null, proofOps: null, height: Int64String, codespace: string }
}

// ---- AITBC records ----

export interface AccountJSON {
  address: string
  balance: AmountString
  balance_aitbc: string
  nonce: Int64String
  bonded: AmountString
  unbonding: AmountString
}
/** aitbc_account: the account with the next nonce counting the mempool. */
export interface AccountResult extends AccountJSON { pending_nonce: Int64String }

export interface ModelInfoJSON { name: string, digest: string | null, quantization: string | null, parameter_size: string | null, context_length: number | null }

export interface MinerJSON {
  address: string
  models: string[]
  model_info: ModelInfoJSON[]
  price_per_second: AmountString
  /** Prices per million input / output tokens (null: the miner bills per second). */
  price_in: AmountString | null
  price_out: AmountString | null
  max_num_predict: number | null
  endpoint: string | null
  capacity: number
  stake: AmountString
  /** Stake locked as collateral for checked jobs in hand. */
  locked: AmountString
  unbonding: Array<{ amount: AmountString, release_height: Int64String, height: Int64String }>
  active: boolean
  reputation: number
  active_jobs: number
  jobs_completed: number
  jobs_failed: number
  jobs_expired: number
  jobs_verified: number
  jobs_rejected: number
  verifications_run: number
  earned: AmountString
  slashed: AmountString
  registered_height: Int64String
}

export type JobStatusName = 'pending' | 'assigned' | 'verifying' | 'completed' | 'failed' | 'rejected' | 'cancelled' | 'expired'

/** A receipt's counts, and Ollama's durations when the miner reported them (metrics, not the bill). */
export interface ReceiptMetricsJSON {
  compute_ms: number
  prompt_tokens: number
  completion_tokens: number
  prompt_eval_ms: number | null
  eval_ms: number | null
  first_token_ms: number | null
  load_ms: number | null
}

export interface VerifierRunJSON {
  miner: string
  assigned_height: Int64String
  committed: boolean
  committed_height: Int64String | null
  revealed: boolean
  outcome: 'agree' | 'disagree' | 'silent' | null
  paid: AmountString
  slashed: AmountString
}

/** A checked job after its miner committed: the sample, the verifiers, the verdict. */
export interface VerificationJSON {
  commitment: string
  committed_height: Int64String
  bill: AmountString
  /** null until the block after the commitment draws the sample. */
  sampled: boolean | null
  phase: 'sample' | 'commit' | 'reveal' | 'done'
  phase_height: Int64String
  miner_revealed: boolean
  outcome: 'pass' | 'fail' | 'no-majority' | 'unchecked' | null
  /** In ppm: the lowest similarity between the miner and an agreeing verifier, or the best one when none agreed. */
  similarity: number | null
  verifiers: VerifierRunJSON[]
}

export interface JobJSON {
  job_id: string
  status: JobStatusName
  client: string
  /** The client's ed25519 public key, hex: a checked job's miner seals its result to it. */
  client_pubkey: string | null
  model: string
  /** 'chat' when the job carries messages (then prompt is empty). */
  kind: 'prompt' | 'chat'
  prompt: string
  messages: Array<{ role: 'system' | 'user' | 'assistant', content: string }> | null
  options: { temperature: number | null, num_predict: number | null, seed: number | null }
  /** The seed and the token cap every run of the job uses (the client's, or the chain's). */
  seed: number
  num_predict: number
  max_fee: AmountString
  max_price_per_second: AmountString | null
  max_price_in: AmountString | null
  max_price_out: AmountString | null
  /** The digest the client pinned. */
  model_digest: string | null
  /** Whether the result is checked by other miners (decided at assignment; null before), and whether it passed (null until a verdict). */
  checked: boolean | null
  verified: boolean | null
  stake_lock: AmountString
  miner: string | null
  price_per_second: AmountString | null
  price_in: AmountString | null
  price_out: AmountString | null
  /** The digest the miner reported running, and Ollama's done_reason. */
  model_digest_used: string | null
  done_reason: string | null
  verification: VerificationJSON | null
  result: string | null
  result_hash: string | null
  /** A checked job's result as its miner sealed it to the client, base64 (node/sealedResult.ts opens it); null otherwise. */
  sealed_result: string | null
  error: string | null
  receipt_id: string | null
  metrics: ReceiptMetricsJSON | null
  /** What the client paid (equal to `paid`); null until settled. */
  cost: AmountString | null
  paid: AmountString | null
  refund: AmountString | null
  slashed: AmountString | null
  submit_tx: string
  submitted_height: Int64String
  submitted_at: string
  assign_tx: string | null
  assigned_height: Int64String | null
  assigned_at: string | null
  settle_tx: string | null
  settled_height: Int64String | null
  completed_at: string | null
}

export interface ReceiptJSON {
  receipt_id: string | null
  job_id: string
  miner: string | null
  client: string
  status: JobStatusName
  result: string | null
  result_hash: string | null
  error: string | null
  metrics: ReceiptMetricsJSON | null
  paid: AmountString | null
  refund: AmountString | null
  tx_hash: string | null
  height: Int64String | null
  time: string | null
}

export interface JobsResult { jobs: JobJSON[], total_count: Int64String, page: Int64String, per_page: Int64String }
export interface MinersResult { miners: MinerJSON[], total: Int64String }

export interface SupplyResult {
  height: Int64String
  supply: AmountString
  balances: AmountString
  escrow: AmountString
  bonded: AmountString
  unbonding: AmountString
  burned: AmountString
  supply_aitbc: string
  invariant_holds: boolean
}

/** aitbc_params: the chain id and the genesis params as the genesis file states them. */
export interface ParamsResult {
  chain_id: string
  min_fee: AmountString
  max_tx_bytes: number
  max_prompt_bytes: number
  max_result_bytes: number
  default_price_per_second: AmountString
  assign_timeout_s: number
  job_timeout_s: number
  min_miner_stake: AmountString
  slash_fraction: string
  unbonding_blocks: number
  block_time_ms: number
  empty_block_interval_ms: number
  max_block_txs: number
  max_block_bytes: number
  [extra: string]: unknown
}

type P = Record<string, unknown>
type HeightP = { height?: string | number }

/**
 * Every RPC method: its parameters and its result. NodeClient.call is typed by this map, and the
 * server's handlers are checked against it.
 */
export interface RpcMethods {
  health: { params: P, result: Record<string, never> }
  status: { params: P, result: StatusResult }
  net_info: { params: P, result: NetInfoResult }
  genesis: { params: P, result: { genesis: Record<string, any> } }
  block: { params: HeightP, result: BlockResultJSON }
  block_by_hash: { params: { hash: string }, result: { block_id: BlockIdJSON, block: BlockJSON | null } }
  header: { params: HeightP, result: { header: HeaderJSON } }
  block_results: { params: HeightP, result: BlockResultsResult }
  blockchain: { params: { minHeight?: string | number, maxHeight?: string | number }, result: BlockchainResult }
  commit: { params: HeightP, result: CommitResult }
  validators: { params: HeightP & { page?: string | number, per_page?: string | number }, result: ValidatorsResult }
  tx: { params: { hash: string, prove?: boolean }, result: ResultTx }
  tx_search: { params: { query: string, prove?: boolean, page?: string | number, per_page?: string | number, order_by?: 'asc' | 'desc' }, result: TxSearchResult }
  block_search: { params: { query: string, page?: string | number, per_page?: string | number, order_by?: 'asc' | 'desc' }, result: BlockSearchResult }
  check_tx: { params: { tx: string }, result: TxResultJSON }
  broadcast_tx_async: { params: { tx: string }, result: BroadcastTxResult }
  broadcast_tx_sync: { params: { tx: string }, result: BroadcastTxResult }
  broadcast_tx_commit: { params: { tx: string }, result: BroadcastTxCommitResult }
  unconfirmed_txs: { params: { limit?: string | number }, result: UnconfirmedTxsResult }
  num_unconfirmed_txs: { params: P, result: UnconfirmedTxsResult }
  abci_info: { params: P, result: AbciInfoResult }
  abci_query: { params: { path: string, data?: string, height?: string | number, prove?: boolean }, result: AbciQueryResult }
  aitbc_account: { params: { address: string }, result: AccountResult }
  aitbc_job: { params: { job_id: string }, result: JobJSON }
  aitbc_jobs: { params: { client?: string, miner?: string, status?: string, page?: string | number, per_page?: string | number }, result: JobsResult }
  aitbc_miner: { params: { address: string }, result: MinerJSON }
  aitbc_miners: { params: { model?: string }, result: MinersResult }
  aitbc_validators: { params: P, result: ValidatorRecordsResult }
  aitbc_receipt: { params: { id: string }, result: ReceiptJSON }
  aitbc_params: { params: P, result: ParamsResult }
  aitbc_supply: { params: P, result: SupplyResult }
}

export type RpcMethodName = keyof RpcMethods
export type RpcParams<M extends RpcMethodName> = RpcMethods[M]['params']
export type RpcResult<M extends RpcMethodName> = RpcMethods[M]['result']

// ---- WebSocket events ----

/** The `data` of a tm.event='NewBlock' event. */
export interface NewBlockEventData {
  type: 'tendermint/event/NewBlock'
  value: { block: BlockJSON, block_id: BlockIdJSON, result_finalize_block: { events: EventJSON[], tx_results: TxResultJSON[], validator_updates: unknown[], app_hash: string } }
}
/** The `data` of a tm.event='NewBlockHeader' event. */
export interface NewBlockHeaderEventData { type: 'tendermint/event/NewBlockHeader', value: { header: HeaderJSON } }
/** The `data` of a tm.event='Tx' event. */
export interface TxEventData { type: 'tendermint/event/Tx', value: { TxResult: { height: Int64String, index: number, tx: string, result: TxResultJSON } } }
/** One subscription message's result: the query, the event data and the flattened events. */
export interface SubscriptionEvent<D = NewBlockEventData | NewBlockHeaderEventData | TxEventData> { query: string, data: D, events: Record<string, string[]> }
