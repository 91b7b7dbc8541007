// The validators of the soak run as the runner sees them: up (caught up, takes load), down
// (killed), recovering (restarted, catching up).
import type { NetNode } from '../../test/helpers/testnet.ts'
import { NodeClient } from '../../node/rpc/client.ts'

export type MemberState = 'up' | 'down' | 'recovering'

export class Member {
  state: MemberState = 'recovering'
  /** The latest height this node reported (status). */
  height = 0
  /** Starts of its process (1 after the first start). */
  starts = 0
  /** The load's client: a broadcast_tx_commit waits up to the node's 10 s. */
  readonly loadClient: NodeClient

  constructor (readonly index: number, readonly node: NetNode) {
    this.loadClient = new NodeClient(node.url, { retries: 0, timeoutMs: 15_000 })
  }

  get name (): string { return this.node.name }
  get client (): NodeClient { return this.node.client }
  /** The pid of its running process, if any. */
  get pid (): number | undefined {
    const c = this.node.proc?.child
    return c !== undefined && c.exitCode === null && c.signalCode === null ? c.pid : undefined
  }

  async readHeight (): Promise<number> {
    const h = Number((await this.client.status()).sync_info.latest_block_height)
    this.height = h
    return h
  }
}

/** The member a client homed on `home` uses: its home when up, else the next one that is up. */
export function pickMember (members: Member[], home: number): Member | undefined {
  for (let i = 0; i < members.length; i++) {
    const m = members[(home + i) % members.length]
    if (m.state === 'up') return m
  }
  return undefined
}
