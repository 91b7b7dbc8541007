// `aitbc balance` and `aitbc transfer`: an account's AITBC, and sending some to another account.
import type { Command } from 'commander'
import { amountValue } from '../args.ts'
import { clientOptions, reportTx, type CliContext, type ClientOpts } from '../context.ts'
import { CliError, printJSON, printLines } from '../output.ts'
import { sendTx } from '../tx.ts'
import { formatAitbc } from '../../node/core/amount.ts'

export function registerAccountCommands (program: Command, ctx: CliContext): void {
  clientOptions(program.command('balance [account]').description('balance of a keyring key or address (default: the default key)'))
    .action(async (account: string | undefined, o: ClientOpts) => { await showBalance(ctx, account, o) })
  clientOptions(program.command('transfer <to> <amount>').description('send AMOUNT AITBC to a keyring key or address'), { from: true, tx: true })
    .action(async (to: string, amount: string, o: ClientOpts) => { await transfer(ctx, to, amount, o) })
}

async function showBalance (ctx: CliContext, account: string | undefined, o: ClientOpts): Promise<void> {
  const kr = ctx.keyring()
  const name = account ?? kr.defaultKey()
  if (name === undefined) throw new CliError('name a key or address, or set a default key')
  const a = await ctx.client(o).account(kr.resolveAddress(name))
  if (o.json === true) { printJSON(a); return }
  printLines([
    `${formatAitbc(BigInt(a.balance))} AITBC`,
    BigInt(a.bonded) > 0n ? `Bonded: ${formatAitbc(BigInt(a.bonded))} AITBC` : null,
    BigInt(a.unbonding) > 0n ? `Unbonding: ${formatAitbc(BigInt(a.unbonding))} AITBC` : null,
  ])
}

async function transfer (ctx: CliContext, to: string, amount: string, o: ClientOpts): Promise<void> {
  const value = amountValue(amount)
  const dest = ctx.keyring().resolveAddress(to)
  const res = await sendTx(ctx.client(o), ctx.signer(o), { type: 'transfer', to: dest, amount: value }, o)
  reportTx(o, res, { To: dest, Amount: `${formatAitbc(value)} AITBC` })
}
