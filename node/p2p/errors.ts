// Errors of the networking layer. The code is what callers branch on, log and count.
export type NetworkErrorCode =
  | 'NOT_STARTED' // the network is not running (before start or after stop)
  | 'NOT_CONNECTED' // no handshaken connection to that peer
  | 'TIMEOUT' // the request did not complete within its deadline
  | 'REMOTE_ERROR' // the remote handler threw; the message says what it said
  | 'TOO_LARGE' // a request or response exceeded maxMessageBytes
  | 'PROTOCOL' // the remote broke the wire protocol (bad frame, stream closed early)
  | 'BAD_ARGUMENT' // a caller error (unknown topic, bad multiaddr)

export class NetworkError extends Error {
  readonly code: NetworkErrorCode
  constructor (code: NetworkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'NetworkError'
    this.code = code
  }
}
