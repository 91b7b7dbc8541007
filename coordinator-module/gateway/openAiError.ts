// OpenAI-shaped errors of the gateway: {"error": {"message", "type", "code", "param"}} with the
// HTTP status an OpenAI client expects (openai-node maps 400, 401, 403, 404, 429 and 5xx to its
// error classes by status alone). One table maps each error code to its status and type, so a
// route only says what went wrong.

export type GatewayErrorCode =
  | 'invalid_json' | 'invalid_request' | 'invalid_type' | 'missing_field' | 'too_large' | 'unsupported'
  | 'missing_api_key' | 'invalid_api_key'
  | 'forbidden'
  | 'model_not_found' | 'not_found'
  | 'rate_limit_exceeded' | 'spend_cap_exceeded'
  | 'job_failed' | 'job_rejected' | 'node_unreachable' | 'tx_refused' | 'stream_broken' | 'result_mismatch'
  | 'job_timeout' | 'internal_error'

const TABLE: Record<GatewayErrorCode, { status: number, type: string }> = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  invalid_type: { status: 400, type: 'invalid_request_error' },
  missing_field: { status: 400, type: 'invalid_request_error' },
  too_large: { status: 400, type: 'invalid_request_error' },
  unsupported: { status: 400, type: 'invalid_request_error' },
  missing_api_key: { status: 401, type: 'authentication_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  forbidden: { status: 403, type: 'permission_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  spend_cap_exceeded: { status: 429, type: 'rate_limit_error' },
  job_failed: { status: 502, type: 'api_error' },
  job_rejected: { status: 502, type: 'api_error' },
  node_unreachable: { status: 502, type: 'api_error' },
  tx_refused: { status: 502, type: 'api_error' },
  stream_broken: { status: 502, type: 'api_error' },
  result_mismatch: { status: 502, type: 'api_error' },
  job_timeout: { status: 504, type: 'timeout_error' },
  internal_error: { status: 500, type: 'api_error' },
}

export interface OpenAiErrorBody { error: { message: string, type: string, code: GatewayErrorCode, param: string | null } }

export class GatewayError extends Error {
  readonly status: number
  readonly type: string
  constructor (readonly code: GatewayErrorCode, message: string, readonly param: string | null = null, readonly headers: Record<string, string> = {}) {
    super(message)
    this.name = 'GatewayError'
    this.status = TABLE[code].status
    this.type = TABLE[code].type
  }

  body (): OpenAiErrorBody { return { error: { message: this.message, type: this.type, code: this.code, param: this.param } } }
}

/** The status and type of an error code. */
export function errorStatus (code: GatewayErrorCode): { status: number, type: string } { return TABLE[code] }

/** A fastify error (bad JSON, body too large, wrong media type) or anything else, as a GatewayError. */
export function toGatewayError (err: any): GatewayError {
  if (err instanceof GatewayError) return err
  const fst = String(err?.code ?? '')
  if (fst.startsWith('FST_ERR_CTP_INVALID_JSON') || fst === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
    return new GatewayError('invalid_json', fst === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'the body is empty; send a JSON object' : 'the body is not valid JSON')
  }
  if (fst === 'FST_ERR_CTP_BODY_TOO_LARGE') return new GatewayError('too_large', 'the request body is too large')
  if (fst === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new GatewayError('invalid_request', 'send the body as application/json')
  const status = typeof err?.statusCode === 'number' ? err.statusCode : 500
  if (status >= 400 && status < 500) return new GatewayError('invalid_request', String(err?.message ?? 'bad request'))
  return new GatewayError('internal_error', 'internal error')
}
