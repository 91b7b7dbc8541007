// The prebuilt form of `aitbc`: the CLI and everything it imports from this repository bundled by
// esbuild into .build/aitbc.mjs (packages from node_modules stay imports), so a running node does
// not carry the TypeScript loader (about 50 MB resident) and starts without compiling.
//
// The bundle is rebuilt whenever it is stale: .build/manifest.json records the size and mtime of
// every source file that went into it, and one that changed (or a changed esbuild or build
// version) makes bin/aitbc.mjs rebuild before it runs. `node bin/build.mjs` builds it now.
// AITBC_NO_BUNDLE=1 runs the sources through tsx instead.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const BUILD_VERSION = 2
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const OUT_DIR = join(ROOT, '.build')
const MANIFEST = join(OUT_DIR, 'manifest.json')
const ENTRIES = { polyfill: 'node/polyfill.ts', aitbc: 'cli/main.ts' }
/** What bin/aitbc.mjs imports, in this order (the polyfill first: the bundle's package imports are hoisted above its own code). */
export const OUTPUTS = Object.keys(ENTRIES).map(name => join(OUT_DIR, `${name}.mjs`))

function esbuildVersion () {
  return JSON.parse(readFileSync(join(ROOT, 'node_modules', 'esbuild', 'package.json'), 'utf8')).version
}

/** True when the bundle exists and every input it was built from is unchanged. */
export function isFresh () {
  let m
  try { m = JSON.parse(readFileSync(MANIFEST, 'utf8')) } catch { return false }
  if (m.version !== BUILD_VERSION) return false
  try {
    if (m.esbuild !== esbuildVersion()) return false
    for (const out of OUTPUTS) statSync(out)
    for (const [file, [size, mtimeMs]] of Object.entries(m.inputs)) {
      const st = statSync(join(ROOT, file))
      if (st.size !== size || Math.trunc(st.mtimeMs) !== mtimeMs) return false
    }
  } catch { return false }
  return true
}

/** Builds the bundle into a private folder, then moves each file into place (a concurrent run sees either whole file). */
export async function build () {
  const { build: esbuild } = await import('esbuild')
  mkdirSync(OUT_DIR, { recursive: true })
  const tmp = join(OUT_DIR, `tmp-${process.pid}-${Date.now()}`)
  try {
    const result = await esbuild({
      absWorkingDir: ROOT,
      entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, file]) => [name, join(ROOT, file)])),
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: 'linked',
      metafile: true,
      logLevel: 'silent'
    })
    const inputs = {}
    for (const file of Object.keys(result.metafile.inputs)) {
      const st = statSync(join(ROOT, file))
      inputs[relative(ROOT, join(ROOT, file))] = [st.size, Math.trunc(st.mtimeMs)]
    }
    for (const out of OUTPUTS) {
      const name = out.slice(OUT_DIR.length + 1)
      renameSync(join(tmp, `${name}.map`), `${out}.map`)
      renameSync(join(tmp, name), out)
    }
    const manifestTmp = join(tmp, 'manifest.json')
    writeFileSync(manifestTmp, JSON.stringify({ version: BUILD_VERSION, esbuild: esbuildVersion(), inputs }))
    renameSync(manifestTmp, MANIFEST)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** Builds the bundle when it is stale; returns the files to import, or undefined when it cannot be built. */
export async function ensureBundle () {
  if (isFresh()) return OUTPUTS
  try {
    await build()
    return OUTPUTS
  } catch (e) {
    process.stderr.write(`aitbc: could not build the bundle (${e?.message ?? e}); running from the sources\n`)
    return undefined
  }
}

if (process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  await build()
  process.stdout.write(`built ${OUTPUTS.map(f => relative(ROOT, f)).join(', ')}\n`)
}
