// The `aitbc` command: one commander program made of the command groups in cli/commands (the
// coordinator's and the miner daemon's come from their modules), and how it runs and exits.
import { Command } from 'commander'
import { createCliContext, type CliContext } from './context.ts'
import { reportError } from './output.ts'
import { registerKeysCommands } from './commands/keys.ts'
import { registerGenesisCommands } from './commands/genesis.ts'
import { registerNodeCommands } from './commands/node.ts'
import { registerAccountCommands } from './commands/account.ts'
import { registerSubmitCommands } from './commands/submit.ts'
import { registerJobCommands } from './commands/job.ts'
import { registerMinerCommands } from './commands/miner.ts'
import { registerChainCommands } from './commands/chain.ts'
import { registerValidatorCommands } from './commands/validator.ts'
import { registerDevnetCommand } from './commands/devnet.ts'
import { registerDevOllamaCommand } from './commands/devOllama.ts'
import { addCoordinatorCommands } from '../coordinator-module/cli.ts'
import { tuneHeapGrowth } from './heap.ts'

/** The whole command tree; `aitbc --help` lists the commands in this order. */
export function buildProgram (ctx: CliContext = createCliContext()): Command {
  const program = new Command('aitbc')
    .description('AITBC: a blockchain-first marketplace for AI inference')
    .version('0.1.0')
    .showHelpAfterError()
  registerKeysCommands(program, ctx)
  registerGenesisCommands(program, ctx)
  registerNodeCommands(program, ctx)
  registerAccountCommands(program, ctx)
  registerSubmitCommands(program, ctx)
  registerJobCommands(program, ctx)
  registerMinerCommands(program, ctx)
  registerChainCommands(program, ctx)
  registerValidatorCommands(program, ctx)
  addCoordinatorCommands(program)
  registerDevnetCommand(program)
  registerDevOllamaCommand(program)
  return program
}

/** Runs `aitbc` on argv and sets process.exitCode: 0 after --help or --version, commander's code for a usage error, else the error's. */
export async function main (argv: string[]): Promise<void> {
  const program = buildProgram()
  program.exitOverride()
  try {
    tuneHeapGrowth()
    await program.parseAsync(argv)
  } catch (e: any) {
    if (e?.code === 'commander.helpDisplayed' || e?.code === 'commander.version' || e?.code === 'commander.help') { process.exitCode = 0; return }
    if (typeof e?.code === 'string' && e.code.startsWith('commander.')) { process.exitCode = e.exitCode ?? 1; return }
    process.exitCode = reportError(e)
  }
}
