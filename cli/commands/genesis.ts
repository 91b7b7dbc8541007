// `aitbc genesis`: build a genesis.json (new, add-account, add-validator) and check one (validate).
import type { Command } from 'commander'
import { readFileSync, writeFileSync } from 'node:fs'
import { intArg } from '../args.ts'
import type { CliContext } from '../context.ts'
import { printLines } from '../output.ts'
import { parseAitbc } from '../../node/core/amount.ts'
import { parseGenesis, type GenesisJSON } from '../../genesis/genesis.ts'
import { makeGenesisJSON, withFundedAccount, withValidator } from '../../genesis/build.ts'
import { homePaths, readKeyFile } from '../../node/config.ts'

interface NewGenesisOpts { chainId: string, validator: string[], out: string, blockTime?: number }

export function registerGenesisCommands (program: Command, ctx: CliContext): void {
  const genesis = program.command('genesis').description('build and check a genesis.json')
  genesis.command('new').description('write a new genesis with one or more validators')
    .requiredOption('--chain-id <id>', 'chain id')
    .requiredOption('--validator <home...>', 'node home folders whose priv_validator_key.json become validators')
    .option('--out <file>', 'output file', 'genesis.json')
    .option('--block-time <ms>', 'block_time_ms', intArg(10, 3_600_000))
    .action((o: NewGenesisOpts) => { newGenesis(o) })
  genesis.command('add-account <file> <account> <amount>').description('fund an account (keyring name or address) with AMOUNT AITBC')
    .action((file: string, account: string, amount: string) => { addGenesisAccount(ctx, file, account, amount) })
  genesis.command('add-validator <file> <home>').description('add the validator key of a node home')
    .option('--stake <amount>', 'self-stake in AITBC that it bonds (its power is stake / power_reduction)', '1000')
    .option('--power <n>', 'voting power instead of a stake: bonds power x power_reduction', intArg(1, 1e9))
    .action((file: string, home: string, o: { stake: string, power?: number }) => { addGenesisValidator(file, home, o.power === undefined ? { stake: parseAitbc(o.stake) } : { power: o.power }) })
  genesis.command('validate <file>').description('check a genesis file')
    .action((file: string) => {
      const g = parseGenesis(readGenesisFile(file))
      printLines([`${file} is valid: chain ${g.chainId}, ${g.validators.length} validator(s), ${g.accounts.length} account(s), hash ${g.hash}`])
    })
}

export function readGenesisFile (file: string): GenesisJSON {
  return JSON.parse(readFileSync(file, 'utf8'))
}

export function writeGenesisFile (file: string, g: GenesisJSON): void {
  writeFileSync(file, JSON.stringify(g, null, 2) + '\n')
}

function newGenesis (o: NewGenesisOpts): void {
  const vals = o.validator.map((h, i) => ({ pubKey: readKeyFile(homePaths(h).privKey).publicKey, name: `validator-${i}` }))
  const g = makeGenesisJSON({ chainId: o.chainId, validators: vals, params: o.blockTime !== undefined ? { block_time_ms: o.blockTime } : {} })
  parseGenesis(g)
  writeGenesisFile(o.out, g)
  printLines([`Wrote ${o.out}`])
}

/** Adds AMOUNT to the account's genesis balance, creating the account when it has none. */
function addGenesisAccount (ctx: CliContext, file: string, account: string, amount: string): void {
  const address = ctx.keyring().resolveAddress(account)
  const g = withFundedAccount(readGenesisFile(file), address, parseAitbc(amount))
  parseGenesis(g)
  writeGenesisFile(file, g)
  printLines([`Funded ${address} with ${amount} AITBC in ${file}`])
}

function addGenesisValidator (file: string, home: string, bond: { stake?: bigint, power?: number }): void {
  const key = readKeyFile(homePaths(home).privKey)
  const g = withValidator(readGenesisFile(file), { pubKey: key.publicKey, ...bond })
  parseGenesis(g)
  writeGenesisFile(file, g)
  printLines([`Added validator ${g.validators[g.validators.length - 1].address} to ${file}`])
}
