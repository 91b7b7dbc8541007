// Prints the top frames of a V8 .cpuprofile (node --cpu-prof): self time by function and by
// file, in percent of the profile. Usage: tsx scripts/cpuprofile-top.ts FILE [N]
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
const [file, nArg] = process.argv.slice(2)
if (file === undefined) { console.error('usage: tsx scripts/cpuprofile-top.ts FILE [N]'); process.exit(2) }
const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[], samples: number[], timeDeltas: number[] }
const byId = new Map(p.nodes.map(n => [n.id, n]))
const self = new Map<number, number>()
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const short = (url: string): string => url.replace(/^file:\/\/.*?\/(node_modules\/|node\/|bench\/|cli\/)/, '$1').replace(/^node:/, 'node:')
const fn = new Map<string, number>()
const files = new Map<string, number>()
for (const [id, t] of self) {
  const n = byId.get(id) as Node
  const k = `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
  fn.set(k, (fn.get(k) ?? 0) + t)
  const f = short(n.callFrame.url) || `(${n.callFrame.functionName})`
  files.set(f, (files.get(f) ?? 0) + t)
}
const top = (m: Map<string, number>, k: number): string[] => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, t]) => `${(100 * t / total).toFixed(1).padStart(5)}%  ${name}`)
const n = Number(nArg ?? 25)
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`)
console.log('-- self time by function --'); for (const l of top(fn, n)) console.log(l)
console.log('-- self time by file --'); for (const l of top(files, 15)) console.log(l)
// Inclusive time of the functions whose name matches AITBC_PROF_INCLUSIVE (a regex), each counted once per sample.
const inc = process.env.AITBC_PROF_INCLUSIVE
if (inc !== undefined) {
  const re = new RegExp(inc)
  const parent = new Map<number, number>()
  for (const nd of p.nodes) for (const c of nd.children ?? []) parent.set(c, nd.id)
  const incl = new Map<string, number>()
  for (const [id, t] of self) {
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const nd = byId.get(cur) as Node
      const k = `${nd.callFrame.functionName || '(anonymous)'} ${short(nd.callFrame.url)}`
      if (re.test(nd.callFrame.functionName) && !seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + t) }
    }
  }
  console.log('-- inclusive time --'); for (const l of top(incl, 40)) console.log(l)
}
