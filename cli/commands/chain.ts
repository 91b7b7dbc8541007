// `aitbc block`, `aitbc tx` and `aitbc validators`: read blocks, committed transactions and the
// validator set from a node.
import type { Command } from 'commander'
import { clientOptions, type CliContext, type ClientOpts } from '../context.ts'
import { CliError, printJSON, printLines, table } from '../output.ts'
import { TX_TYPES, txTypeDef } from '../../node/core/txs/registry.ts'

export function registerChainCommands (program: Command, ctx: CliContext): void {
  clientOptions(program.command('block [height]').description('show a block (default: the latest)'))
    .action(async (height: string | undefined, o: ClientOpts) => { await showBlock(ctx, height, o) })
  clientOptions(program.command('tx <hash>').description('show a committed transaction'))
    .action(async (hash: string, o: ClientOpts) => { await showTx(ctx, hash, o) })
  program.command('tx-types').description('list the transaction types: what each does and who signs it').option('--json', 'machine output')
    .action((o: { json?: boolean }) => { showTxTypes(o) })
}

async function showBlock (ctx: CliContext, height: string | undefined, o: ClientOpts): Promise<void> {
  if (height !== undefined && !/^\d+$/.test(height)) throw new CliError(`"${height}" is not a height`)
  const r = await ctx.client(o).call('block', height !== undefined ? { height } : {})
  if (o.json === true) { printJSON(r); return }
  const h = r.block.header
  printLines([`Height: ${h.height}`, `Hash: ${r.block_id.hash}`, `Time: ${h.time}`, `Proposer: ${h.proposer_address}`, `App hash: ${h.app_hash}`, `Txs: ${r.block.data.txs.length}`])
}

/** Decodes the transaction's bytes (without checking its signature) to show its type, sender and body. */
async function showTx (ctx: CliContext, hash: string, o: ClientOpts): Promise<void> {
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(hash)) throw new CliError(`"${hash}" is not a tx hash (64 hex digits)`)
  const r = await ctx.client(o).call('tx', { hash: hash.replace(/^0x/, '') })
  if (o.json === true) { printJSON(r); return }
  const { decodeTx, txToJSON } = await import('../../node/core/tx.ts')
  const tx = txToJSON(decodeTx(new Uint8Array(Buffer.from(r.tx, 'base64')), { verify: false }))
  printLines([`Hash: ${r.hash}`, `Height: ${r.height}`, `Index: ${r.index}`, `Code: ${r.tx_result.code}`, `Type: ${String(tx.type)}`, `Sender: ${String(tx.sender)}`, `Body: ${JSON.stringify(tx.body)}`])
}

function showTxTypes (o: { json?: boolean }): void {
  const types = TX_TYPES.map(t => { const d = txTypeDef(t); return { type: t, signer: d.signer, description: d.description } })
  if (o.json === true) { printJSON(types); return }
  printLines([table(types, ['type', 'signer', 'description'])])
}

