// ChainParams: the chain's parameters as the miner uses them, read once at start from the node
// (aitbc_params, and the chain id from status).
import { parseUaitbc, type NodeClient, type ParamsResult, type StatusResult } from '../node/client.ts'
import { MinerError } from './minerError.ts'

export interface ChainParams {
  chainId: string
  /** A job assigned at T must be settled by T + jobTimeoutS (chain time). */
  jobTimeoutS: number
  blockTimeMs: number
  minFee: bigint
  minMinerStake: bigint
  defaultPricePerSecond: bigint
  maxResultBytes: number
  /** The most tokens a job may ask for (a listing's max_num_predict is at most this). */
  maxNumPredict: number
  /** The share of checked jobs whose result is re-run by other miners, as the genesis states it (e.g. "0.1"). */
  verificationRate: string
}

const DEFAULT_MAX_NUM_PREDICT = 4096

export function chainParamsFromJSON (p: ParamsResult, chainId: string): ChainParams {
  return {
    chainId,
    jobTimeoutS: p.job_timeout_s,
    blockTimeMs: p.block_time_ms,
    minFee: parseUaitbc(p.min_fee, 'min_fee'),
    minMinerStake: parseUaitbc(p.min_miner_stake, 'min_miner_stake'),
    defaultPricePerSecond: parseUaitbc(p.default_price_per_second, 'default_price_per_second'),
    maxResultBytes: p.max_result_bytes,
    maxNumPredict: typeof p.max_num_predict === 'number' ? p.max_num_predict : DEFAULT_MAX_NUM_PREDICT,
    // A genesis that omits it has the protocol's default, 0.1.
    verificationRate: typeof p.verification_rate === 'string' ? p.verification_rate : '0.1',
  }
}

/** `nodeUrl` as the user gave it, for the error message. */
export async function readChainParams (node: Pick<NodeClient, 'params' | 'status'>, nodeUrl: string): Promise<ChainParams> {
  let answers: [ParamsResult, StatusResult]
  try {
    answers = await Promise.all([node.params(), node.status()])
  } catch (e) {
    throw new MinerError('MINER_NODE_UNREACHABLE', `cannot read the chain's params from the node at ${nodeUrl}: ${(e as Error).message}`)
  }
  const [params, status] = answers
  return chainParamsFromJSON(params, status.node_info.network)
}
