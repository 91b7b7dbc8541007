// Node 20 lacks Promise.withResolvers, which libp2p 2.x/3.x call. Loaded before anything else
// (bin/aitbc.mjs, .mocharc.json, npm run bench).
if (typeof (Promise as any).withResolvers !== 'function') {
  (Promise as any).withResolvers = function withResolvers<T>() {
    let resolve!: (v: T | PromiseLike<T>) => void
    let reject!: (e?: unknown) => void
    const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
export {}
