// What the `aitbc` commands share: the node client and the signing key that --node and --from
// choose, the options that choose them (--node, --from, --json, --fee, --wait), and how a sent
// transaction is reported.
import type { Command } from 'commander'
import { amountArg } from './args.ts'
import { Keyring } from './keyring.ts'
import { CliError, printJSON, printLines } from './output.ts'
import type { SentTx } from './tx.ts'
import { NodeClient } from '../node/rpc/client.ts'
import type { SigningKey } from '../node/core/crypto.ts'

export const DEFAULT_NODE = 'http://127.0.0.1:8006'

/** The options clientOptions adds, as commander hands them to an action. */
export interface ClientOpts { node?: string, from?: string, json?: boolean, fee?: bigint, wait?: boolean }

/** The outside world a command talks to; built once per program, read when an action runs. */
export interface CliContext {
  /** The client keyring ($AITBC_HOME/keyring). */
  keyring: () => Keyring
  /** The node named by --node, else $AITBC_NODE, else the keyring settings, else DEFAULT_NODE. */
  client: (o: ClientOpts) => NodeClient
  /** The key named by --from, else $AITBC_FROM, else the keyring default key. */
  signer: (o: ClientOpts) => SigningKey
}

export function createCliContext (): CliContext {
  const keyring = (): Keyring => new Keyring()
  return {
    keyring,
    client: o => new NodeClient(o.node ?? process.env.AITBC_NODE ?? keyring().settings().node ?? DEFAULT_NODE),
    signer: o => {
      const kr = keyring()
      const name = o.from ?? process.env.AITBC_FROM ?? kr.defaultKey()
      if (name === undefined) throw new CliError('no key given: pass --from NAME (see "aitbc keys list") or set a default with "aitbc keys default NAME"')
      return kr.get(name)
    },
  }
}

/** Adds --node and --json, and with from: --from, with tx: --fee and --wait. */
export function clientOptions (cmd: Command, opts: { from?: boolean, json?: boolean, tx?: boolean } = {}): Command {
  cmd.option('--node <url>', `node RPC URL (env AITBC_NODE, default ${DEFAULT_NODE})`)
  if (opts.from === true) cmd.option('--from <key>', 'keyring key that signs (default: the keyring default key)')
  if (opts.json !== false) cmd.option('--json', 'machine-readable output')
  if (opts.tx === true) {
    cmd.option('--fee <aitbc>', 'transaction fee in AITBC (default: min_fee)', amountArg)
    cmd.option('--wait', 'wait until the transaction is in a final block')
  }
  return cmd
}

/** Prints a sent transaction: its hash, the extra fields, and its block when --wait waited for it. */
export function reportTx (o: ClientOpts, res: SentTx, extra: Record<string, unknown> = {}): void {
  if (o.json === true) { printJSON({ hash: res.hash, height: res.height ?? null, code: res.result?.code ?? null, ...extra }); return }
  printLines([
    `Tx: ${res.hash}`,
    ...Object.entries(extra).map(([k, v]) => `${k}: ${String(v)}`),
    res.height !== undefined ? `Committed at height ${res.height} (code ${res.result?.code ?? 0})` : 'Broadcast (not waiting for the block; pass --wait to wait)',
  ])
}
