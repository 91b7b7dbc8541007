// The node's libp2p identity, derived from the 32-byte seed in config/node_key.json.
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

export async function peerIdFromSeed (seed: Uint8Array): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
}

export function p2pMultiaddr (host: string, port: number, peerId: string): string {
  return `/ip4/${host}/tcp/${port}/p2p/${peerId}`
}
