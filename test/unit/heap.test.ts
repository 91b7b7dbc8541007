// AITBC_HEAP_GROWING_PERCENT: the garbage collector's heap growth for aitbc processes (cli/heap.ts).
import { expect } from 'chai'
import { tuneHeapGrowth, DEFAULT_HEAP_GROWING_PERCENT } from '../../cli/heap.ts'

describe('tuneHeapGrowth (AITBC_HEAP_GROWING_PERCENT)', () => {
  const applied: Array<[string | undefined, number]> = [
    [undefined, DEFAULT_HEAP_GROWING_PERCENT],
    ['', DEFAULT_HEAP_GROWING_PERCENT],
    ['0', 0],
    ['30', 30],
    [' 50 ', 50],
  ]
  for (const [raw, want] of applied) {
    it(`${JSON.stringify(raw)} applies ${want}`, () => {
      expect(tuneHeapGrowth(raw === undefined ? {} : { AITBC_HEAP_GROWING_PERCENT: raw })).to.equal(want)
    })
  }
  for (const raw of ['abc', '-1', '1.5', '1001', '1e3', '0x10']) {
    it(`refuses ${JSON.stringify(raw)} with a message naming the variable`, () => {
      expect(() => tuneHeapGrowth({ AITBC_HEAP_GROWING_PERCENT: raw })).to.throw(/AITBC_HEAP_GROWING_PERCENT must be an integer from 0 to 1000/)
    })
  }
  after(() => { tuneHeapGrowth({}) })
})
