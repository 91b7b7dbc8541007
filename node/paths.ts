// Where the repository's own files are, found the same way whether this module runs from its
// TypeScript source (node/paths.ts) or from the prebuilt bundle (.build/aitbc.mjs, bin/build.mjs):
// the nearest folder above this module whose package.json names the package "aitbc".
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot (from: string): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'aitbc') return dir
      } catch { /* not ours: keep looking */ }
    }
    if (dirname(dir) === dir) throw new Error(`no aitbc package.json above ${from}`)
  }
}

/** The repository root (the folder that holds package.json). */
export const REPO_ROOT = findRoot(fileURLToPath(import.meta.url))

/** A path inside the repository, from its root. */
export function repoPath (...parts: string[]): string { return join(REPO_ROOT, ...parts) }
