#!/usr/bin/env node
// The `aitbc` executable: registers the TypeScript loader and the Node 20 polyfill, then runs the CLI.
import { register } from 'tsx/esm/api'
register()
await import('../node/polyfill.ts')
const { main } = await import('../cli/main.ts')
await main(process.argv)
