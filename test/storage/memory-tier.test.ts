// MemoryTier is a byte-bounded LRU: checked against a plain model (an array in recency order) over random sequences
// of get / set / delete, plus the edge cases (objects over the limits, a disabled tier, replacing an entry).
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {MemoryTier} from '../../src/storage/memory-tier.js'

/** The reference: most recent first; evicts from the end until the bytes fit. */
class ModelLru {
  entries: Array<{file: string; size: number}> = []
  constructor(
    private readonly maxBytes: number,
    private readonly maxObjectBytes: number,
  ) {}
  private bytes(): number {
    return this.entries.reduce((a, e) => a + e.size, 0)
  }
  get(file: string): number | undefined {
    const i = this.entries.findIndex((e) => e.file === file)
    if (i < 0) return undefined
    const [e] = this.entries.splice(i, 1)
    this.entries.unshift(e!)
    return e!.size
  }
  set(file: string, size: number): void {
    if (!(this.maxBytes > 0 && this.maxObjectBytes > 0 && size <= this.maxObjectBytes && size <= this.maxBytes)) return
    this.delete(file)
    this.entries.unshift({file, size})
    while (this.bytes() > this.maxBytes) this.entries.pop()
  }
  delete(file: string): void {
    this.entries = this.entries.filter((e) => e.file !== file)
  }
}

type Op = {op: 'get'; file: string} | {op: 'set'; file: string; size: number} | {op: 'delete'; file: string}

const fileArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({op: fc.constant('get' as const), file: fileArb}),
  fc.record({op: fc.constant('set' as const), file: fileArb, size: fc.integer({min: 0, max: 40})}),
  fc.record({op: fc.constant('delete' as const), file: fileArb}),
)

describe('MemoryTier', () => {
  it('behaves like the model LRU (recency order, eviction from the least recent, byte accounting)', () => {
    fc.assert(
      fc.property(fc.integer({min: 0, max: 100}), fc.integer({min: 0, max: 50}), fc.array(opArb, {maxLength: 200}), (maxBytes, maxObject, ops) => {
        const tier = new MemoryTier(maxBytes, maxObject)
        const model = new ModelLru(maxBytes, maxObject)
        for (const o of ops) {
          if (o.op === 'get') expect(tier.get(o.file)?.length).toBe(model.get(o.file))
          else if (o.op === 'set') {
            tier.set(o.file, Buffer.alloc(o.size))
            model.set(o.file, o.size)
          } else {
            tier.delete(o.file)
            model.delete(o.file)
          }
          expect([...tier.recency()]).toEqual(model.entries.map((e) => e.file))
          expect(tier.bytes).toBe(model.entries.reduce((a, e) => a + e.size, 0))
          expect(tier.count).toBe(model.entries.length)
          expect(tier.bytes).toBeLessThanOrEqual(Math.max(0, maxBytes))
        }
      }),
      {numRuns: 300},
    )
  })

  it('returns the stored buffer itself (no copy) and keeps a hit key through later inserts', () => {
    const tier = new MemoryTier(30, 10)
    const a = Buffer.alloc(10, 1)
    tier.set('a', a)
    tier.set('b', Buffer.alloc(10, 2))
    tier.set('c', Buffer.alloc(10, 3))
    expect(tier.get('a')).toBe(a) // a becomes the most recent: b is next to go
    tier.set('d', Buffer.alloc(10, 4))
    expect(tier.has('b')).toBe(false)
    expect([...tier.recency()]).toEqual(['d', 'a', 'c'])
  })

  it('refuses objects over the object limit or the budget, and everything when disabled', () => {
    const tier = new MemoryTier(100, 10)
    tier.set('big', Buffer.alloc(11))
    expect(tier.has('big')).toBe(false)
    const off = new MemoryTier(0, 10)
    off.set('x', Buffer.alloc(1))
    expect(off.count).toBe(0)
    expect(off.enabled).toBe(false)
  })

  it('replacing an entry accounts its bytes once', () => {
    const tier = new MemoryTier(100, 50)
    tier.set('a', Buffer.alloc(40))
    tier.set('a', Buffer.alloc(20))
    expect(tier.bytes).toBe(20)
    expect(tier.count).toBe(1)
  })
})
