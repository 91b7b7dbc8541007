// The chain's parameters (set in the genesis, app_state.params): fees, size limits, timeouts,
// stakes, slashing, block pacing. Amounts are uaitbc; fractions are parts per million.

export interface Params {
  minFee: bigint
  maxTxBytes: number
  maxPromptBytes: number
  maxResultBytes: number
  defaultPricePerSecond: bigint
  assignTimeoutS: number
  jobTimeoutS: number
  minMinerStake: bigint
  /** Parts per million of stake lost when slashed. */
  slashFractionPpm: number
  unbondingBlocks: number
  blockTimeMs: number
  emptyBlockIntervalMs: number
  maxBlockTxs: number
  maxBlockBytes: number
  /** The most tokens a job may ask for (its num_predict; a job without one gets this). */
  maxNumPredict: number
  /** Parts per million of completed receipts checked by another miner's re-run (0: none). */
  verificationRatePpm: number
  /** The least similarity (ppm) at which two results agree. */
  verificationThresholdPpm: number
  /** Parts per million of the bill (or of max_fee, out of a slash) each agreeing verifier earns. */
  verifierRewardPpm: number
  /** uaitbc of bonded stake per unit of voting power (genesis validators too). */
  powerReduction: bigint
  /** The least self-bond of create_validator. */
  minValidatorStake: bigint
  /** The size of the active set: the top max_validators by power. */
  maxValidators: number
  /** Downtime: a validator missing more than downtime_max_missed of the last downtime_window commits is jailed. */
  downtimeWindow: number
  downtimeMaxMissed: number
  /** Parts per million of the bond lost when jailed for downtime. */
  downtimeSlashFractionPpm: number
  /** Blocks a validator jailed for downtime waits before unjail is accepted. */
  jailBlocks: number
}

/**
 * The most bytes a block may take, whatever the genesis says: a proposal carries its block in one
 * gossip message (at most 3.75 MiB) and block sync one block with its commit per answer (4 MiB).
 */
export const MAX_BLOCK_BYTES = 3 * 1024 * 1024

/** The params of a new genesis, as they appear in its JSON (amounts as uaitbc strings). */
export const DEFAULT_PARAMS_JSON = {
  min_fee: '1000',
  max_tx_bytes: 65536,
  max_prompt_bytes: 16384,
  max_result_bytes: 32768,
  default_price_per_second: '20000',
  assign_timeout_s: 60,
  job_timeout_s: 60,
  min_miner_stake: '100000000',
  slash_fraction: '0.1',
  unbonding_blocks: 100,
  block_time_ms: 1000,
  empty_block_interval_ms: 5000,
  max_block_txs: 10000,
  max_block_bytes: 3145728,
  max_num_predict: 4096,
  verification_rate: '0.1',
  verification_threshold: '0.6',
  verifier_reward: '0.1',
  power_reduction: '1000000',
  min_validator_stake: '100000000',
  max_validators: 10,
  downtime_window: 1000,
  downtime_max_missed: 500,
  downtime_slash_fraction: '0.01',
  jail_blocks: 100,
}

/** The self-stake `aitbc node init` and `aitbc genesis new` bond for each validator (1,000 AITBC). */
export const DEFAULT_VALIDATOR_STAKE = 1_000_000_000n
