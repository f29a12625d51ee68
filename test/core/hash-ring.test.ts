import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {HashRing} from '../../src/core/hash-ring.js'

const ids = fc.uniqueArray(fc.string({minLength: 1, maxLength: 12}), {minLength: 1, maxLength: 6})
const keys = fc.array(fc.string({maxLength: 40}), {minLength: 1, maxLength: 60})

function keyList(n: number): string[] {
  return Array.from({length: n}, (_, i) => `http://example.test/object/${i}?v=${i * 7}`)
}

describe('HashRing', () => {
  it('an empty ring owns nothing', () => {
    const r = new HashRing()
    expect(r.lookup('a')).toBeUndefined()
    expect(r.sequence('a')).toEqual([])
  })

  it('does not depend on the order members were added in', () => {
    fc.assert(
      fc.property(ids, keys, (members, ks) => {
        const a = new HashRing(members.map((m) => [m, 1] as const), {vnodes: 20})
        const b = new HashRing([...members].reverse().map((m) => [m, 1] as const), {vnodes: 20})
        for (const k of ks) expect(a.lookup(k)).toBe(b.lookup(k))
      }),
    )
  })

  it('adding a member moves keys only to the newcomer', () => {
    fc.assert(
      fc.property(ids, fc.string({minLength: 1, maxLength: 12}), fc.integer({min: 1, max: 4}), keys, (members, extra, w, ks) => {
        fc.pre(!members.includes(extra))
        const r = new HashRing(members.map((m) => [m, 1] as const), {vnodes: 20})
        const before = ks.map((k) => r.lookup(k))
        r.add(extra, w)
        ks.forEach((k, i) => {
          const now = r.lookup(k)
          if (now !== before[i]) expect(now).toBe(extra)
        })
      }),
    )
  })

  it('removing a member moves only its own keys', () => {
    fc.assert(
      fc.property(ids, keys, (members, ks) => {
        fc.pre(members.length >= 2)
        const r = new HashRing(members.map((m) => [m, 1] as const), {vnodes: 20})
        const gone = members[0]!
        const before = ks.map((k) => r.lookup(k))
        r.remove(gone)
        ks.forEach((k, i) => {
          if (before[i] !== gone) expect(r.lookup(k)).toBe(before[i])
          else expect(r.lookup(k)).not.toBe(gone)
        })
      }),
    )
  })

  it('skip gives the next distinct member in ring order, and sequence lists each member once', () => {
    fc.assert(
      fc.property(ids, keys, fc.integer({min: 0, max: 5}), (members, ks, nSkip) => {
        const r = new HashRing(members.map((m, i) => [m, 1 + (i % 3)] as const), {vnodes: 10})
        for (const k of ks) {
          const seq = r.sequence(k)
          expect(new Set(seq).size).toBe(members.length)
          expect(seq[0]).toBe(r.lookup(k))
          const skipped = new Set(seq.slice(0, nSkip))
          expect(r.lookup(k, {skip: skipped})).toBe(seq[nSkip])
          expect(r.lookup(k, {skip: (id) => skipped.has(id)})).toBe(seq[nSkip])
        }
      }),
    )
  })

  it('a fourth equal member takes about a quarter of the keys, all from the others', () => {
    const r = new HashRing([['a', 1], ['b', 1], ['c', 1]])
    const ks = keyList(20_000)
    const before = ks.map((k) => r.lookup(k))
    r.add('d')
    let moved = 0
    ks.forEach((k, i) => {
      const now = r.lookup(k)
      if (now !== before[i]) {
        moved++
        expect(now).toBe('d')
      }
    })
    expect(moved / ks.length).toBeGreaterThan(0.2)
    expect(moved / ks.length).toBeLessThan(0.3)
  })

  it('shares follow the weights', () => {
    const r = new HashRing([['light', 1], ['heavy', 3]])
    const counts = {light: 0, heavy: 0}
    for (const k of keyList(20_000)) counts[r.lookup(k) as 'light' | 'heavy']++
    const share = counts.heavy / 20_000
    expect(share).toBeGreaterThan(0.68)
    expect(share).toBeLessThan(0.82)
  })

  it('changing a weight is a no-op when equal and re-shares otherwise', () => {
    const r = new HashRing([['a', 1], ['b', 1]])
    const ks = keyList(2000)
    const before = ks.map((k) => r.lookup(k))
    r.add('a', 1)
    expect(ks.map((k) => r.lookup(k))).toEqual(before)
    r.add('a', 2)
    // a gained points: keys only move towards it.
    ks.forEach((k, i) => {
      if (r.lookup(k) !== before[i]) expect(r.lookup(k)).toBe('a')
    })
    expect(r.members()).toEqual([['a', 2], ['b', 1]])
  })

  it('rejects bad weights and vnodes', () => {
    expect(() => new HashRing([['a', 0]])).toThrow(/weight/)
    expect(() => new HashRing([['a', Number.NaN]])).toThrow(/weight/)
    expect(() => new HashRing([], {vnodes: 0})).toThrow(/vnodes/)
  })
})
