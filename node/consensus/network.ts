// What consensus and block sync need of the network (node/p2p/network.ts provides it): gossip on
// topics with a verdict per message, request/response for block sync, the peers, and penalties.
export type Verdict = 'accept' | 'reject' | 'ignore'
export type GossipTopic = 'txs' | 'consensus'

export interface ConsensusNetwork {
  publish: (topic: GossipTopic, data: Uint8Array) => Promise<void>
  /** The handler's verdict: accept (forward), ignore (drop), reject (drop and strike the peer). */
  onGossip: (topic: GossipTopic, handler: (data: Uint8Array, from: string) => Verdict | Promise<Verdict>) => void
  handle: (protocol: 'sync', handler: (req: Uint8Array, from: string) => Promise<Uint8Array>) => void
  request: (peer: string, protocol: 'sync', req: Uint8Array, timeoutMs: number) => Promise<Uint8Array>
  peers: () => Array<{ id: string, height: number }>
  penalize: (peer: string, reason: string) => void
  on?: (event: 'peer:ready', f: () => void) => void
}
