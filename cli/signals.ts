// Foreground commands (node start, devnet, dev-ollama) run until Ctrl-C or SIGTERM.

/** Resolves with the first SIGINT or SIGTERM. Each is caught once: the same signal again ends the process as Node does by default. */
export async function untilStopSignal (): Promise<NodeJS.Signals> {
  return await new Promise(resolve => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
}
