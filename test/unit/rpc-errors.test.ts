// What a caller sees when a handler fails unexpectedly: -32603 with a fixed message, never the
// exception's own text (which can name files, fields or internals); the failure is logged.
import { expect } from 'chai'
import { RpcServer } from '../../node/rpc/server.ts'
import type { RpcEnv } from '../../node/rpc/methods.ts'
import { pino } from 'pino'

describe('RPC: internal errors are not echoed', () => {
  it('a handler that throws a TypeError answers -32603 with a message that names nothing inside, and the error is logged', async () => {
    const logged: unknown[] = []
    const log = pino({ level: 'error' }, { write: (s: string) => { logged.push(JSON.parse(s)) } })
    // An environment with no chain: every handler that reads it throws "Cannot read properties of undefined".
    const server = new RpcServer({ host: '127.0.0.1', port: 0 }, { metrics: undefined } as unknown as RpcEnv, log)
    const out = await server.handle({ jsonrpc: '2.0', id: 7, method: 'status' }) as { error: { code: number, message: string } }
    expect(out.error.code).to.equal(-32603)
    expect(out.error.message).to.not.match(/Cannot read|undefined|TypeError|\.ts|at /)
    expect(out.error.message).to.match(/^Internal error/)
    expect(JSON.stringify(logged)).to.match(/Cannot read properties of undefined/)
    await server.app.close()
  })
})
