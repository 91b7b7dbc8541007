// What `npm run fuzz` found in the RPC server, each as the attack it was: a client's text echoed
// without bound in an error message, and client mistakes logged as the node's own errors (with
// their stacks), which let any caller flood the error log.
import { expect } from 'chai'
import { pino } from 'pino'
import { RpcServer } from '../../node/rpc/server.ts'
import type { RpcEnv } from '../../node/rpc/methods.ts'

function server (): { s: RpcServer, logged: Array<{ level: number, msg: string }> } {
  const logged: Array<{ level: number, msg: string }> = []
  const log = pino({ level: 'debug' }, { write: (line: string) => { logged.push(JSON.parse(line)) } })
  const s = new RpcServer({ host: '127.0.0.1', port: 0 }, { metrics: undefined, chain: { on () {}, off () {} } } as unknown as RpcEnv, log)
  return { s, logged }
}

describe('RPC: findings of the fuzz run', () => {
  it('an unknown parameter with a 5,000-character name is named in a bounded message', async () => {
    const { s } = server()
    const name = 'x'.repeat(5000)
    for (const method of ['health', 'block', 'aitbc_account']) {
      const out = await s.handle({ jsonrpc: '2.0', id: 1, method, params: { [name]: 1 } }) as { error: { code: number, message: string } }
      expect(out.error.code).to.equal(-32602)
      expect(out.error.message).to.match(/unknown param/)
      expect(out.error.message.length).to.be.below(400)
    }
    await s.app.close()
  })

  it('a body the HTTP layer refuses (no content type: 415) is a 4xx JSON-RPC error and is not logged as an error of the node', async () => {
    const { s, logged } = server()
    const r = await s.app.inject({ method: 'POST', url: '/', headers: { 'content-type': '' }, payload: '{"jsonrpc":"2.0","id":1,"method":"health"}' })
    expect(r.statusCode).to.equal(415)
    const body = JSON.parse(r.body)
    expect(body.error.code).to.equal(-32600)
    expect(body.error.message).to.not.match(/\n\s+at |node_modules/)
    expect(logged.filter(l => l.level >= 50), JSON.stringify(logged)).to.deep.equal([])
    await s.app.close()
  })
})
