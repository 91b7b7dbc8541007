#!/usr/bin/env node
// The `aitbc` executable. It runs the prebuilt bundle (bin/build.mjs: rebuilt first when any
// source changed), or, with AITBC_NO_BUNDLE=1 or when the bundle cannot be built, the TypeScript
// sources through the tsx loader. Both load the Node 20 polyfill before anything else.
let main
if (process.env.AITBC_NO_BUNDLE !== '1') {
  const { ensureBundle } = await import('./build.mjs')
  const files = await ensureBundle()
  if (files !== undefined) {
    const { pathToFileURL } = await import('node:url')
    await import(pathToFileURL(files[0]).href)
    ;({ main } = await import(pathToFileURL(files[1]).href))
  }
}
if (main === undefined) {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../node/polyfill.ts')
  ;({ main } = await import('../cli/main.ts'))
}
await main(process.argv)
