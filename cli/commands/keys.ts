// `aitbc keys`: the client keyring's ed25519 keys (add, list, show, import, export, default).
import type { Command } from 'commander'
import { readFileSync } from 'node:fs'
import type { CliContext } from '../context.ts'
import { CliError, printJSON, printLines, table } from '../output.ts'

interface JsonOpts { json?: boolean }

export function registerKeysCommands (program: Command, ctx: CliContext): void {
  const keys = program.command('keys').description('manage ed25519 keys in the keyring ($AITBC_HOME, default ~/.aitbc)')
  keys.command('add <name>').description('create a new key').option('--json', 'machine-readable output')
    .action((name: string, o: JsonOpts) => { addKey(ctx, name, o) })
  keys.command('list').description('list keys').option('--json', 'machine-readable output')
    .action((o: JsonOpts) => { listKeys(ctx, o) })
  keys.command('show <name>').description('show a key\'s address').option('--json', 'machine-readable output')
    .action((name: string, o: JsonOpts) => { showKey(ctx, name, o) })
  keys.command('import <name>').description('import a key from a 32-byte hex seed (read from --seed-file or stdin)')
    .option('--seed-file <file>', 'file holding the hex seed')
    .action((name: string, o: { seedFile?: string }) => { importKey(ctx, name, o) })
  keys.command('export <name>').description('print a key\'s secret seed (hex): anyone holding it controls the account')
    .action((name: string) => { printLines([ctx.keyring().exportSeed(name)]) })
  keys.command('default <name>').description('make a key the default signer')
    .action((name: string) => {
      ctx.keyring().setDefault(name)
      printLines([`Default key: ${name}`])
    })
}

function addKey (ctx: CliContext, name: string, o: JsonOpts): void {
  const key = ctx.keyring().add(name)
  if (o.json === true) printJSON({ name, address: key.address }); else printLines([`Created key "${name}"`, `Address: ${key.address}`])
}

function listKeys (ctx: CliContext, o: JsonOpts): void {
  const kr = ctx.keyring()
  const list = kr.list().map(k => ({ ...k, default: k.name === kr.defaultKey() }))
  if (o.json === true) printJSON(list); else printLines([table(list.map(k => ({ ...k, default: k.default ? '*' : '' })), ['name', 'address', 'default'])])
}

function showKey (ctx: CliContext, name: string, o: JsonOpts): void {
  const key = ctx.keyring().get(name)
  if (o.json === true) printJSON({ name, address: key.address, pub_key: Buffer.from(key.publicKey).toString('hex') }); else printLines([key.address])
}

/** Reads the hex seed from --seed-file, else from stdin. */
function importKey (ctx: CliContext, name: string, o: { seedFile?: string }): void {
  const text = (o.seedFile !== undefined ? readFileSync(o.seedFile, 'utf8') : readFileSync(0, 'utf8')).trim()
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new CliError('the seed must be 64 hex digits (32 bytes)')
  const key = ctx.keyring().add(name, new Uint8Array(Buffer.from(text, 'hex')))
  printLines([`Imported key "${name}"`, `Address: ${key.address}`])
}
