// The `aitbc` command tree, built in-process: every help text reads without a reference to a
// document a user does not have, and the command names and flags that scripts call stay.
import { expect } from 'chai'
import type { Command, Option } from 'commander'
import { buildProgram } from '../../cli/main.ts'

/** Every command under program (itself included), by its path: "miner start". */
function allCommands (program: Command): Map<string, Command> {
  const out = new Map<string, Command>()
  const walk = (c: Command, path: string[]): void => {
    out.set(path.join(' '), c)
    for (const s of c.commands) walk(s, [...path, s.name()])
  }
  walk(program, [])
  return out
}

/** "--home <v>" for an option that takes a value, "--wait" for a switch. */
function flagShape (o: Option): string {
  return `${o.long ?? o.short ?? ''}${o.required ? ' <v>' : o.optional ? ' [v]' : ''}`
}

/** "status <job_id>": the path and its positional arguments. */
function usageShape (path: string, c: Command): string {
  const args = c.registeredArguments.map(a => a.required ? `<${a.name()}>` : `[${a.name()}]`)
  return [path, ...args].join(' ')
}

function commandAt (commands: Map<string, Command>, path: string): Command {
  const c = commands.get(path)
  expect(c, `aitbc ${path}`).to.not.equal(undefined)
  return c as Command
}

describe('cli: help texts', () => {
  const commands = allCommands(buildProgram())

  it('builds the whole tree', () => {
    expect(commands.size).to.be.greaterThan(30)
  })

  for (const [path, cmd] of commands) {
    it(`renders "aitbc ${path}${path === '' ? '' : ' '}--help" without mentioning SPEC`, () => {
      const help = cmd.helpInformation()
      expect(help).to.match(/^Usage: aitbc/)
      expect(help).to.not.match(/SPEC|\bspec\b/i)
    })
  }
})

describe('cli: the command names and flags scripts call', () => {
  const commands = allCommands(buildProgram())

  // The names scripts and the docs use, with the flags each needs (<v>: takes a value).
  const scripted: Array<[string, string[], string[]]> = [
    // [usage, flags, of which required]
    ['node init', ['--home <v>', '--chain-id <v>', '--fund <v>', '--genesis <v>'], ['--home']],
    ['node start', ['--home <v>', '--rpc.laddr <v>', '--p2p.laddr <v>', '--peers <v>'], ['--home']],
    ['node id', ['--home <v>'], ['--home']],
    ['miner start', ['--key <v>', '--ollama <v>', '--stake <v>', '--port <v>'], ['--key']],
    ['submit inference', ['--prompt <v>', '--model <v>', '--json', '--wait'], ['--prompt', '--model']],
    ['transfer <to> <amount>', ['--from <v>', '--wait'], []],
    ['keys add <name>', [], []],
    ['keys show <name>', [], []],
  ]
  for (const [usage, flags, required] of scripted) {
    it(`aitbc ${usage} ${flags.join(' ')}`, () => {
      const path = usage.split(' ').filter(w => !/^[<[]/.test(w)).join(' ')
      const cmd = commandAt(commands, path)
      expect(usageShape(path, cmd)).to.equal(usage)
      expect(cmd.options.map(flagShape)).to.include.members(flags)
      expect(cmd.options.filter(o => o.mandatory).map(o => o.long)).to.have.members(required)
    })
  }

  it('keeps the defaults and environment variables scripts rely on', () => {
    const option = (path: string, long: string): Option => {
      const o = commandAt(commands, path).options.find(x => x.long === long)
      expect(o, `aitbc ${path} ${long}`).to.not.equal(undefined)
      return o as Option
    }
    expect(option('node init', '--chain-id').defaultValue).to.equal('aitbc-local')
    expect(option('miner start', '--ollama').defaultValue).to.equal('http://127.0.0.1:11434')
    expect(option('miner start', '--ollama').envVar).to.equal('AITBC_OLLAMA_URL')
    expect(option('miner start', '--node').envVar).to.equal('AITBC_NODE')
    expect(option('miner start', '--port').defaultValue).to.equal(8010)
    expect(option('miner start', '--port').envVar).to.equal('AITBC_MINER_PORT')
    expect(option('submit inference', '--max-fee').defaultValue).to.equal(1_000_000n)
    expect(option('submit inference', '--timeout').defaultValue).to.equal(600)
  })

  // Every command and flag there is today: a script may call any of them, so none may go.
  const surface: Array<[string, string[]]> = [
    ['keys', []],
    ['keys add <name>', ['--json']],
    ['keys list', ['--json']],
    ['keys show <name>', ['--json']],
    ['keys import <name>', ['--seed-file <v>']],
    ['keys export <name>', []],
    ['keys default <name>', []],
    ['genesis', []],
    ['genesis new', ['--chain-id <v>', '--validator <v>', '--out <v>', '--block-time <v>']],
    ['genesis add-account <file> <account> <amount>', []],
    ['genesis add-validator <file> <home>', ['--power <v>', '--stake <v>']],
    ['genesis validate <file>', []],
    ['node', []],
    ['node init', ['--home <v>', '--chain-id <v>', '--fund <v>', '--moniker <v>', '--block-time <v>', '--empty-block-interval <v>', '--genesis <v>', '--json']],
    ['node start', ['--home <v>', '--peers <v>', '--rpc.laddr <v>', '--p2p.laddr <v>', '--log-level <v>']],
    ['node id', ['--home <v>', '--json']],
    ['node status', ['--node <v>', '--json']],
    ['balance [account]', ['--node <v>', '--json']],
    ['transfer <to> <amount>', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait']],
    ['submit', []],
    ['submit inference', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait', '--prompt <v>', '--model <v>', '--max-fee <v>', '--max-price-per-second <v>', '--temperature <v>', '--num-predict <v>', '--seed <v>', '--timeout <v>',
      '--model-digest <v>', '--unverified', '--max-price-in <v>', '--max-price-out <v>']],
    ['submit chat', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait', '--message <v>', '--system <v>', '--user <v>', '--model <v>', '--model-digest <v>', '--unverified', '--max-fee <v>',
      '--max-price-in <v>', '--max-price-out <v>', '--max-price-per-second <v>', '--temperature <v>', '--num-predict <v>', '--seed <v>', '--timeout <v>']],
    ['status <job_id>', ['--node <v>', '--json']],
    ['jobs', ['--node <v>', '--json', '--client <v>', '--miner <v>', '--status <v>', '--page <v>', '--limit <v>']],
    ['cancel <job_id>', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait']],
    ['receipt <id>', ['--node <v>', '--json']],
    ['miner', []],
    ['miner start', ['--key <v>', '--node <v>', '--ollama <v>', '--models <v>', '--stake <v>', '--price-per-second <v>', '--capacity <v>', '--port <v>', '--host <v>', '--price-in <v>', '--price-out <v>', '--max-num-predict <v>', '--data <v>']],
    ['miner register', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait', '--models <v>', '--stake <v>', '--price-per-second <v>', '--capacity <v>', '--price-in <v>', '--price-out <v>', '--max-num-predict <v>']],
    ['miner stake <amount>', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait']],
    ['miner unstake <amount>', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait']],
    ['miner update', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait', '--models <v>', '--price-per-second <v>', '--capacity <v>', '--active <v>', '--price-in <v>', '--price-out <v>', '--max-num-predict <v>']],
    ['block [height]', ['--node <v>', '--json']],
    ['tx <hash>', ['--node <v>', '--json']],
    ['validators', ['--node <v>', '--json']],
    ['validator', []],
    ['validator create', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait', '--home <v>', '--stake <v>', '--moniker <v>']],
    ['validator stake <amount>', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait']],
    ['validator unbond <amount>', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait']],
    ['validator unjail', ['--node <v>', '--from <v>', '--json', '--fee <v>', '--wait']],
    ['coordinator', []],
    ['coordinator start', ['--node <v>', '--data <v>', '--host <v>', '--port <v>', '--gateway-key <v>', '--rate-limit <v>']],
    ['coordinator rebuild', ['--node <v>', '--data <v>']],
    ['devnet', ['--validators <v>', '--miners <v>', '--block-time <v>', '--fresh', '--ollama <v>', '--key <v>', '--verification-rate <v>']],
    ['dev-ollama', ['--port <v>', '--host <v>', '--models <v>', '--latency-ms <v>', '--fail-rate <v>', '--hang', '--lie']],
  ]
  for (const [usage, flags] of surface) {
    it(`still has aitbc ${usage}`, () => {
      const path = usage.split(' ').filter(w => !/^[<[]/.test(w)).join(' ')
      const cmd = commandAt(commands, path)
      expect(usageShape(path, cmd)).to.equal(usage)
      expect(cmd.options.map(flagShape)).to.include.members(flags)
    })
  }
})
