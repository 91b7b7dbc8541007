// MinerError: why the miner daemon could not start. The code says which dependency or option
// failed; the message says what to do about it.

export type MinerErrorCode = 'MINER_OLLAMA_UNREACHABLE' | 'MINER_NO_MODELS' | 'MINER_NODE_UNREACHABLE' | 'MINER_LISTING_FAILED' | 'MINER_BAD_OPTION'

export class MinerError extends Error {
  constructor (readonly code: MinerErrorCode, message: string) { super(message); this.name = 'MinerError' }
}
