// `aitbc miner`: run the miner daemon (start, from miner/cli.ts) and send the miner's own
// transactions: register a listing, stake, unstake, update the listing.
import type { Command } from 'commander'
import { amountArg, amountValue, intArg } from '../args.ts'
import { clientOptions, reportTx, type CliContext, type ClientOpts } from '../context.ts'
import { CliError } from '../output.ts'
import { sendTx } from '../tx.ts'
import { addMinerStartCommand } from '../../miner/cli.ts'

interface TokenTerms { priceIn?: bigint, priceOut?: bigint, maxNumPredict?: number }

interface RegisterOpts extends ClientOpts, TokenTerms { models: string, stake: bigint, pricePerSecond?: bigint, capacity: number }

interface UpdateOpts extends ClientOpts, TokenTerms { models?: string, pricePerSecond?: bigint, capacity?: number, active?: string }

/** --price-in, --price-out, --max-num-predict of register and update. */
function tokenOptions (cmd: Command): Command {
  return cmd
    .option('--price-in <aitbc>', 'price per million input (prompt) tokens; with --price-in or --price-out you bill by tokens', amountArg)
    .option('--price-out <aitbc>', 'price per million output (generated) tokens', amountArg)
    .option('--max-num-predict <n>', 'the most tokens you generate per job', intArg(1, 1_000_000))
}

export function registerMinerCommands (program: Command, ctx: CliContext): void {
  const miner = program.command('miner').description('register and stake as a miner; run the miner daemon')
  addMinerStartCommand(miner)
  tokenOptions(clientOptions(miner.command('register').description('list yourself as a miner, bonding --stake'), { from: true, tx: true })
    .requiredOption('--models <list>', 'models you serve, comma-separated')
    .requiredOption('--stake <aitbc>', 'stake to bond', amountArg)
    .option('--price-per-second <aitbc>', 'your price per second of compute (default: genesis default_price_per_second)', amountArg)
    .option('--capacity <n>', 'jobs at once', intArg(1, 1000), 1))
    .action(async (o: RegisterOpts) => { await registerMiner(ctx, o) })
  for (const kind of ['stake', 'unstake'] as const) {
    clientOptions(miner.command(`${kind} <amount>`).description(kind === 'stake' ? 'bond more stake' : 'start unbonding stake (returns after unbonding_blocks)'), { from: true, tx: true })
      .action(async (amount: string, o: ClientOpts) => {
        const res = await sendTx(ctx.client(o), ctx.signer(o), { type: kind, amount: amountValue(amount) }, o)
        reportTx(o, res)
      })
  }
  tokenOptions(clientOptions(miner.command('update').description('change your listing'), { from: true, tx: true })
    .option('--models <list>', 'models you serve, comma-separated')
    .option('--price-per-second <aitbc>', 'price per second', amountArg)
    .option('--capacity <n>', 'jobs at once', intArg(1, 1000))
    .option('--active <bool>', 'true to take jobs, false to pause'))
    .action(async (o: UpdateOpts) => { await updateMiner(ctx, o) })
}

function tokenTerms (o: TokenTerms): { priceIn?: bigint, priceOut?: bigint, maxNumPredict?: number } {
  return { ...(o.priceIn === undefined ? {} : { priceIn: o.priceIn }), ...(o.priceOut === undefined ? {} : { priceOut: o.priceOut }), ...(o.maxNumPredict === undefined ? {} : { maxNumPredict: o.maxNumPredict }) }
}

/** "a, b,,c" → ["a", "b", "c"] */
function modelList (v: string): string[] {
  return v.split(',').map(s => s.trim()).filter(Boolean)
}

/** The price defaults to the chain's default_price_per_second. */
async function registerMiner (ctx: CliContext, o: RegisterOpts): Promise<void> {
  const c = ctx.client(o)
  const pps = o.pricePerSecond ?? BigInt((await c.params()).default_price_per_second)
  const res = await sendTx(c, ctx.signer(o), { type: 'register_miner', models: modelList(o.models), pricePerSecond: pps, capacity: o.capacity, stake: o.stake, ...tokenTerms(o) }, o)
  reportTx(o, res)
}

/** Changes only what is given; the rest of the listing stays. */
async function updateMiner (ctx: CliContext, o: UpdateOpts): Promise<void> {
  if (o.active !== undefined && o.active !== 'true' && o.active !== 'false') throw new CliError('--active must be true or false')
  const res = await sendTx(ctx.client(o), ctx.signer(o), {
    type: 'update_miner', models: o.models !== undefined ? modelList(o.models) : null, pricePerSecond: o.pricePerSecond ?? null,
    capacity: o.capacity ?? null, active: o.active === undefined ? null : o.active === 'true', ...tokenTerms(o),
  }, o)
  reportTx(o, res)
}
