// CometBFT v0.38 JSON shapes (int64 as strings, hashes upper-case hex, bytes base64, RFC3339
// times) and the AITBC record views.
import { blockHash, type Block, type Commit, type Header, type Validator } from '../core/block.ts'
import { toBase64, toHex, toHexUpper } from '../core/crypto.ts'
import type { TxResult, AbciEvent } from '../core/transition.ts'
import type { Job, Miner, Account, Verification, ValidatorBond } from '../core/state.ts'
import type { Params } from '../core/params.ts'
import { powerOf, statusOf } from '../core/validatorSet.ts'
import { formatAitbc } from '../core/amount.ts'
import type {
  AccountJSON, BlockIdJSON, BlockJSON, CommitJSON, EventJSON, HeaderJSON, JobJSON, MinerJSON, PubKeyJSON, ReceiptJSON, TxResultJSON, ValidatorJSON, VerificationJSON, ValidatorRecordJSON,
} from './types.ts'

export function rfc3339 (ms: number): string { return new Date(ms).toISOString() }

// AITBC has no block part sets; a block's part-set header is {total: 1, hash: the block hash}
// everywhere (block_id, the next header's last_block_id, commit block_id), so that, as in
// CometBFT, block_id(h) equals header(h+1).last_block_id and commit(h).block_id exactly.
export function blockIdJSON (b: Block): BlockIdJSON {
  const hash = toHexUpper(blockHash(b.header))
  return { hash, parts: { total: 1, hash } }
}

export function headerJSON (h: Header): HeaderJSON {
  return {
    version: { block: '11', app: '1' },
    chain_id: h.chainId,
    height: String(h.height),
    time: rfc3339(h.time),
    last_block_id: h.lastBlockHash.length === 0
      ? { hash: '', parts: { total: 0, hash: '' } }
      : { hash: toHexUpper(h.lastBlockHash), parts: { total: 1, hash: toHexUpper(h.lastBlockHash) } },
    last_commit_hash: toHexUpper(h.lastCommitHash),
    data_hash: toHexUpper(h.dataHash),
    validators_hash: toHexUpper(h.validatorsHash),
    next_validators_hash: toHexUpper(h.nextValidatorsHash),
    consensus_hash: toHexUpper(h.consensusHash),
    app_hash: toHexUpper(h.appHash),
    last_results_hash: toHexUpper(h.lastResultsHash),
    evidence_hash: toHexUpper(h.evidenceHash),
    proposer_address: toHexUpper(h.proposerAddress),
  }
}

export function commitJSON (c: Commit | null, lastBlockHash?: Uint8Array): CommitJSON {
  if (c === null) return { height: '0', round: 0, block_id: { hash: '', parts: { total: 0, hash: '' } }, signatures: [] }
  const hash = toHexUpper(c.blockHash)
  return {
    height: String(c.height),
    round: c.round,
    block_id: { hash, parts: { total: 1, hash: lastBlockHash !== undefined ? toHexUpper(lastBlockHash) : hash } },
    signatures: c.signatures.map(s => ({
      block_id_flag: s.blockIdFlag,
      validator_address: toHexUpper(s.validatorAddress),
      timestamp: rfc3339(s.timestamp),
      signature: toBase64(s.signature),
    })),
  }
}

export function blockJSON (b: Block): BlockJSON {
  return {
    header: headerJSON(b.header),
    data: { txs: b.txs.map(toBase64) },
    evidence: { evidence: [] },
    last_commit: commitJSON(b.lastCommit),
  }
}

export function eventsJSON (events: AbciEvent[]): EventJSON[] {
  return events.map(e => ({ type: e.type, attributes: e.attributes.map(a => ({ key: a.key, value: a.value, index: true })) }))
}

export function txResultJSON (r: Pick<TxResult, 'code' | 'log' | 'codespace'> & { events?: AbciEvent[] }): TxResultJSON {
  return { code: r.code, data: null, log: r.log, info: '', gas_wanted: '0', gas_used: '0', events: eventsJSON(r.events ?? []), codespace: r.codespace }
}

export function pubKeyJSON (pub: Uint8Array): PubKeyJSON { return { type: 'tendermint/PubKeyEd25519', value: toBase64(pub) } }

export function validatorJSON (v: Validator): ValidatorJSON {
  return { address: toHexUpper(v.address), pub_key: pubKeyJSON(v.pubKey), voting_power: String(v.power), proposer_priority: '0', name: v.name }
}

const opt = <T, R>(v: T | null, f: (x: T) => R): R | null => v === null ? null : f(v)

export function accountJSON (address: string, a: Account | undefined, m: Miner | undefined): AccountJSON {
  const balance = a?.balance ?? 0n
  const bonded = m?.stake ?? 0n
  const unbonding = m?.unbonding.reduce((s, u) => s + u.amount, 0n) ?? 0n
  return {
    address,
    balance: balance.toString(),
    balance_aitbc: formatAitbc(balance),
    nonce: String(a?.nonce ?? 0),
    bonded: bonded.toString(),
    unbonding: unbonding.toString(),
  }
}

export function minerJSON (m: Miner): MinerJSON {
  return {
    address: m.address,
    models: m.models,
    model_info: m.modelInfo.map(i => ({ name: i.name, digest: i.digest, quantization: i.quantization, parameter_size: i.parameterSize, context_length: i.contextLength })),
    price_per_second: m.pricePerSecond.toString(),
    price_in: opt(m.priceIn, x => x.toString()),
    price_out: opt(m.priceOut, x => x.toString()),
    max_num_predict: m.maxNumPredict,
    endpoint: m.endpoint,
    capacity: m.capacity,
    stake: m.stake.toString(),
    locked: m.locked.toString(),
    unbonding: m.unbonding.map(u => ({ amount: u.amount.toString(), release_height: String(u.releaseHeight), height: String(u.height) })),
    active: m.active,
    reputation: m.reputation,
    active_jobs: m.activeJobs,
    jobs_completed: m.jobsCompleted,
    jobs_failed: m.jobsFailed,
    jobs_expired: m.jobsExpired,
    jobs_verified: m.jobsVerified,
    jobs_rejected: m.jobsRejected,
    verifications_run: m.verificationsRun,
    earned: m.earned.toString(),
    slashed: m.slashed.toString(),
    registered_height: String(m.registeredHeight),
  }
}

function metricsJSON (j: Job): JobJSON['metrics'] {
  const d = j.details
  return opt(j.metrics, m => ({
    compute_ms: m.computeMs, prompt_tokens: m.promptTokens, completion_tokens: m.completionTokens,
    prompt_eval_ms: d?.promptEvalMs ?? null, eval_ms: d?.evalMs ?? null, first_token_ms: d?.firstTokenMs ?? null, load_ms: d?.loadMs ?? null,
  }))
}

function verificationJSON (v: Verification): VerificationJSON {
  return {
    commitment: v.commitment,
    committed_height: String(v.committedHeight),
    bill: v.bill.toString(),
    sampled: v.sampled,
    phase: v.phase,
    phase_height: String(v.phaseHeight),
    miner_revealed: v.minerRevealed,
    outcome: v.outcome,
    similarity: v.similarity,
    verifiers: v.runs.map(r => ({
      miner: r.miner, assigned_height: String(r.assignedHeight), committed: r.commitment !== null, committed_height: opt(r.committedHeight, String),
      revealed: r.result !== null, outcome: r.outcome, paid: r.paid.toString(), slashed: r.slashed.toString(),
    })),
  }
}

/** Whether a job's result passed a check (null while unknown or unchecked). */
function verifiedOf (j: Job): boolean | null {
  const o = j.verification?.outcome
  return o === 'pass' ? true : o === 'fail' ? false : null
}

export function jobJSON (j: Job): JobJSON {
  return {
    job_id: j.id,
    status: j.status,
    client: j.client,
    client_pubkey: opt(j.clientKey, toHex),
    model: j.model,
    kind: j.messages === null ? 'prompt' : 'chat',
    prompt: j.prompt,
    messages: j.messages === null ? null : j.messages.map(m => ({ role: m.role, content: m.content })),
    options: { temperature: j.options.temperature, num_predict: j.options.numPredict, seed: j.options.seed },
    seed: j.seed,
    num_predict: j.numPredict,
    max_fee: j.maxFee.toString(),
    max_price_per_second: opt(j.maxPricePerSecond, x => x.toString()),
    max_price_in: opt(j.maxPriceIn, x => x.toString()),
    max_price_out: opt(j.maxPriceOut, x => x.toString()),
    model_digest: j.modelDigest,
    checked: j.miner === null ? null : j.checked,
    verified: verifiedOf(j),
    stake_lock: j.stakeLock.toString(),
    miner: j.miner,
    price_per_second: opt(j.pricePerSecond, x => x.toString()),
    price_in: opt(j.priceIn, x => x.toString()),
    price_out: opt(j.priceOut, x => x.toString()),
    model_digest_used: j.details?.modelDigest ?? null,
    done_reason: j.details?.doneReason ?? null,
    verification: opt(j.verification, verificationJSON),
    result: j.result,
    result_hash: j.resultHash,
    sealed_result: opt(j.sealed, toBase64),
    error: j.error,
    receipt_id: j.receiptId,
    metrics: metricsJSON(j),
    cost: opt(j.paid, x => x.toString()),
    paid: opt(j.paid, x => x.toString()),
    refund: opt(j.refund, x => x.toString()),
    slashed: opt(j.slashed, x => x.toString()),
    submit_tx: j.txHash,
    submitted_height: String(j.submittedHeight),
    submitted_at: rfc3339(j.submittedTime),
    assign_tx: j.assignTxHash,
    assigned_height: opt(j.assignedHeight, String),
    assigned_at: opt(j.assignedTime, rfc3339),
    settle_tx: j.settleTxHash,
    settled_height: opt(j.settledHeight, String),
    completed_at: opt(j.settledTime, rfc3339),
  }
}

export function receiptJSON (j: Job): ReceiptJSON {
  return {
    receipt_id: j.receiptId,
    job_id: j.id,
    miner: j.miner,
    client: j.client,
    status: j.status,
    result: j.result,
    result_hash: j.resultHash,
    error: j.error,
    metrics: metricsJSON(j),
    paid: opt(j.paid, x => x.toString()),
    refund: opt(j.refund, x => x.toString()),
    tx_hash: j.settleTxHash,
    height: opt(j.settledHeight, String),
    time: opt(j.settledTime, rfc3339),
  }
}

/** A validator record for aitbc_validators; `setPower`: its power in the next height's set (undefined: not in it). */
export function validatorRecordJSON (v: ValidatorBond, params: Params, setPower: number | undefined): ValidatorRecordJSON {
  return {
    address: v.address,
    pub_key: pubKeyJSON(v.pubKey),
    operator: v.operator,
    moniker: v.moniker,
    power: String(powerOf(v, params)),
    voting_power: String(setPower ?? 0),
    status: statusOf(v, setPower !== undefined),
    in_set: setPower !== undefined,
    stake: v.stake.toString(),
    slashed: v.slashed.toString(),
    unbonding: v.unbonding.map(u => ({ amount: u.amount.toString(), release_height: String(u.releaseHeight) })),
    missed_blocks: v.missed.length,
    missed_heights: [...v.missed],
    jailed_until: v.jailedUntil === null ? null : String(v.jailedUntil),
    tombstoned: v.tombstoned,
    created_height: String(v.createdHeight),
  }
}
