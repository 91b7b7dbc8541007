// What every surface of the fuzz run shares: the context (node, corpus, violations, counters)
// and the shape of a surface (workers that each take the next input index and send it).
import type { Corpus } from './corpus.ts'
import type { FuzzViolations, AnswerProblem } from './checks.ts'
import type { Rng } from './rng.ts'
import type { Target } from './target.ts'

export const SURFACES = ['rpc-post', 'rpc-uri', 'ws', 'p2p-txs', 'p2p-consensus', 'p2p-sync', 'p2p-handshake'] as const
export type SurfaceName = typeof SURFACES[number]

export class FuzzStats {
  readonly inputs = new Map<SurfaceName, number>(SURFACES.map(s => [s, 0]))
  /** Seconds each surface took for its share. */
  readonly seconds = new Map<SurfaceName, number>()
  readonly httpStatus = new Map<number, number>()
  http5xx = 0
  rpcResults = 0
  rpcErrors = 0
  readonly wsCloses = new Map<number, number>()
  wsNoReply = 0
  /** HTTP requests sent again on a fresh connection after their kept-alive one was closed under them. */
  httpRetries = 0
  p2pIdentities = 0
  /** Inputs the harness could not send (its peer could not join, say): not counted as inputs. */
  notSent = 0
  /** Gossip barriers whose tx the node did not take within 10 s (its gossip may have been dropped). */
  barrierTimeouts = 0
  syncOk = 0
  syncRemoteErrors = 0
  /** Failures of the harness itself (its own sockets), by message: reported, not violations. */
  readonly harness = new Map<string, number>()

  count (m: Map<number, number>, k: number): void { m.set(k, (m.get(k) ?? 0) + 1) }
  harnessError (e: unknown): void {
    const msg = (e instanceof Error ? e.message : String(e)).slice(0, 120)
    this.harness.set(msg, (this.harness.get(msg) ?? 0) + 1)
  }
}

export interface FuzzContext {
  seed: number
  corpus: Corpus
  v: FuzzViolations
  stats: FuzzStats
  target: Target
  rpcHost: string
  rpcPort: number
  /** True once the run is ending (workers finish their current input). */
  stopping: () => boolean
}

export interface Surface {
  readonly name: SurfaceName
  /** Inputs in flight at once. */
  readonly workers: number
  setup?: () => Promise<void>
  /** Sends input `index` (its generator given) from worker `worker` and checks the answer; returns how many inputs it was (a connection storm is many). */
  send: (rng: Rng, index: number, worker: number) => Promise<number>
  teardown?: () => Promise<void>
}

/** Records a problem with an answer against the input that caused it. */
export function report (ctx: FuzzContext, where: string, p: AnswerProblem | null, input: string): void {
  if (p === null) return
  ctx.v.add(p.kind, `${p.kind}/${p.message.slice(0, 60)}`, `${where}: ${p.message} (input: ${input.slice(0, 300)})`)
}
