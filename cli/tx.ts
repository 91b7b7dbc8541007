// Signing and sending transactions from the CLI.
import { signTx, type TxBody } from '../node/core/tx.ts'
import type { SigningKey } from '../node/core/crypto.ts'
import { NodeClient } from '../node/rpc/client.ts'
import { CliError } from './output.ts'

export interface SendOptions { fee?: bigint, wait?: boolean, waitTimeoutMs?: number }

export interface SentTx { hash: string, height?: number, result?: any }

/** Signs body with the sender's next nonce (counting its txs in the mempool), broadcasts it, and optionally waits for the block. */
export async function sendTx (client: NodeClient, key: SigningKey, body: TxBody, opts: SendOptions = {}): Promise<SentTx> {
  const [params, acct, status] = await Promise.all([client.params(), client.account(key.address), client.status()])
  const chainId = String(status.node_info.network)
  const fee = opts.fee ?? (body.type === 'assign' ? 0n : BigInt(params.min_fee))
  const nonce = Number(acct.pending_nonce)
  const tx = signTx(key, { chainId, nonce, fee, body })
  const res = await client.broadcastSync(tx.bytes)
  if (res.code !== 0) throw new CliError(`transaction refused by the node (code ${res.code}): ${res.log}`)
  if (opts.wait !== true) return { hash: res.hash }
  const committed = await client.waitTx(res.hash, opts.waitTimeoutMs ?? 60_000)
  return { hash: res.hash, height: Number(committed.height), result: committed.tx_result }
}
