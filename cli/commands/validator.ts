// `aitbc validator`: join a network as a validator and manage the bond: create (the node home's
// consensus key proves possession and becomes the validator's key; --from bonds and signs),
// stake, unbond, unjail; `aitbc validators` lists every validator's power and standing.
import { existsSync } from 'node:fs'
import { basename, resolve } from 'node:path'
import type { Command } from 'commander'
import { amountArg, amountValue } from '../args.ts'
import { clientOptions, reportTx, type CliContext, type ClientOpts } from '../context.ts'
import { CliError, printJSON, printLines, table } from '../output.ts'
import { sendTx } from '../tx.ts'
import { homePaths, readKeyFile } from '../../node/config.ts'
import { addressBytesFromPubkey, toHexUpper } from '../../node/core/crypto.ts'
import { possessionMessage } from '../../node/core/validatorSet.ts'
import { formatAitbc } from '../../node/core/amount.ts'

interface CreateOpts extends ClientOpts { home: string, stake: bigint, moniker?: string }

export function registerValidatorCommands (program: Command, ctx: CliContext): void {
  const v = program.command('validator').description('become a validator with a node home\'s consensus key, and manage its bond')
  clientOptions(v.command('create').description('make --from the operator of a new validator whose consensus key is the one of --home, bonding --stake'), { from: true, tx: true })
    .requiredOption('--home <dir>', 'the node home whose config/priv_validator_key.json is the validator\'s consensus key')
    .requiredOption('--stake <aitbc>', 'self-bond (at least min_validator_stake)', amountArg)
    .option('--moniker <name>', 'validator name (default: the home folder\'s name)')
    .action(async (o: CreateOpts) => { await createValidator(ctx, o) })
  for (const kind of ['stake', 'unbond'] as const) {
    clientOptions(v.command(`${kind} <amount>`).description(kind === 'stake' ? 'bond more AITBC to your validator' : 'start unbonding AITBC from your validator (they return after unbonding_blocks)'), { from: true, tx: true })
      .action(async (amount: string, o: ClientOpts) => {
        const res = await sendTx(ctx.client(o), ctx.signer(o), { type: kind === 'stake' ? 'validator_stake' : 'validator_unbond', amount: amountValue(amount) }, o)
        reportTx(o, res)
      })
  }
  clientOptions(v.command('unjail').description('bring your validator back after a jail for downtime (once jail_blocks have passed)'), { from: true, tx: true })
    .action(async (o: ClientOpts) => { reportTx(o, await sendTx(ctx.client(o), ctx.signer(o), { type: 'unjail' }, o)) })
  clientOptions(program.command('validators').description('every validator: power, status (bonded, unbonding, jailed, tombstoned), missed blocks'))
    .action(async (o: ClientOpts) => { await listValidators(ctx, o) })
}

async function createValidator (ctx: CliContext, o: CreateOpts): Promise<void> {
  const paths = homePaths(resolve(o.home))
  if (!existsSync(paths.privKey)) throw new CliError(`${paths.privKey} not found: run "aitbc node init --home ${o.home} --genesis FILE" first`)
  const consensus = readKeyFile(paths.privKey)
  const operator = ctx.signer(o)
  const c = ctx.client(o)
  const chainId = (await c.status()).node_info.network
  const possession = consensus.sign(possessionMessage(chainId, operator.address, consensus.publicKey))
  const moniker = o.moniker ?? basename(resolve(o.home))
  const res = await sendTx(c, operator, { type: 'create_validator', pubKey: consensus.publicKey, moniker, stake: o.stake, possession }, o)
  reportTx(o, res, { validator: toHexUpper(addressBytesFromPubkey(consensus.publicKey)), operator: operator.address, moniker })
}

async function listValidators (ctx: CliContext, o: ClientOpts): Promise<void> {
  const r = await ctx.client(o).call('aitbc_validators', {})
  if (o.json === true) { printJSON(r); return }
  const rows = r.validators.map(v => ({
    moniker: v.moniker, address: v.address, power: v.power, status: v.status, stake: formatAitbc(BigInt(v.stake)),
    missed: `${v.missed_blocks}/${r.downtime_window}`, jailed_until: v.jailed_until ?? '', operator: v.operator,
  }))
  printLines([`Height ${r.height}: ${r.total} validator(s); jailed past ${r.downtime_max_missed} missed of the last ${r.downtime_window} blocks`, table(rows, ['moniker', 'address', 'power', 'status', 'stake', 'missed', 'jailed_until', 'operator'])])
}
