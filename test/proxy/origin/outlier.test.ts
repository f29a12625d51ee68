import {describe, expect, it} from 'vitest'

import {type OutlierChange, OutlierDetector, type OutlierOptions, type OriginResult} from '../../../src/proxy/origin/health/outlier.js'

function setup(names: string[], over: Partial<OutlierOptions> = {}) {
  let t = 0
  const changes: OutlierChange[] = []
  const d = new OutlierDetector(names, {
    consecutive5xx: 5,
    consecutiveLocalErrors: 3,
    baseEjectionMs: 1000,
    maxEjectionMs: 8000,
    maxEjectedShare: 0.5,
    now: () => t,
    onChange: (c) => changes.push(c),
    ...over,
  })
  return {
    d,
    changes,
    advance: (ms: number) => {
      t += ms
    },
    feed: (m: string, r: OriginResult, n = 1) => {
      for (let i = 0; i < n; i++) d.record(m, r)
    },
  }
}

describe('OutlierDetector', () => {
  it('ejects after consecutive5xx in a row; a success in between starts the count again', () => {
    const s = setup(['a', 'b', 'c'])
    s.feed('a', '5xx', 4)
    s.feed('a', 'success')
    s.feed('a', '5xx', 4)
    expect(s.d.isEjected('a')).toBe(false)
    s.feed('a', '5xx')
    expect(s.d.isEjected('a')).toBe(true)
    expect(s.changes).toEqual([{member: 'a', ejected: true, at: 0, until: 1000, reason: '5 5xx answers or errors in a row; ejected for 1000 ms'}])
  })

  it('local errors eject sooner; a 5xx answer breaks a run of local errors but counts as a 5xx', () => {
    const s = setup(['a', 'b'])
    s.feed('a', 'connect', 2)
    s.feed('a', '5xx')
    s.feed('a', 'timeout')
    expect(s.d.isEjected('a')).toBe(false) // local run is 1; 5xx-or-error run is 4
    s.feed('a', 'reset')
    expect(s.d.isEjected('a')).toBe(true) // 5 in a row
    const t = setup(['a', 'b'])
    t.feed('a', 'timeout', 3)
    expect(t.d.isEjected('a')).toBe(true)
    expect(t.changes[0]!.reason).toMatch(/^3 connect errors\/timeouts\/resets in a row/)
  })

  it('returns after the ejection time (once, with an event); repeated ejections back off ×2 up to the max', () => {
    const s = setup(['a', 'b'])
    const durations: number[] = []
    for (let i = 0; i < 6; i++) {
      s.feed('a', 'connect', 3)
      const until = s.d.snapshot()[0]!.until!
      durations.push(until - (s.changes.at(-1)!.at))
      s.advance(until - s.changes.at(-1)!.at - 1)
      expect(s.d.isEjected('a')).toBe(true)
      s.advance(1)
      expect(s.d.isEjected('a')).toBe(false)
      expect(s.d.isEjected('a')).toBe(false)
    }
    expect(durations).toEqual([1000, 2000, 4000, 8000, 8000, 8000])
    expect(s.changes.filter((c) => !c.ejected)).toHaveLength(6)
    // In for maxEjection after returning: back to the base time.
    s.advance(8000)
    s.feed('a', 'connect', 3)
    expect(s.d.snapshot()[0]).toMatchObject({ejected: true, until: s.changes.at(-1)!.at + 1000, ejections: 1, totalEjections: 7})
  })

  it('results that arrive while ejected change nothing', () => {
    const s = setup(['a', 'b'])
    s.feed('a', 'connect', 3)
    s.feed('a', 'connect', 10)
    expect(s.changes).toHaveLength(1)
    s.advance(1000)
    expect(s.d.snapshot()[0]).toMatchObject({ejected: false, consecutiveLocalErrors: 0})
  })

  it('never ejects more than maxEjectedShare of the group (but one of two or more), never the only member', () => {
    const s = setup(['a', 'b', 'c'])
    s.feed('a', '5xx', 5)
    s.feed('b', '5xx', 5)
    s.feed('c', '5xx', 5)
    expect(['a', 'b', 'c'].map((m) => s.d.isEjected(m))).toEqual([true, false, false])
    // Once a is back, the next failure of b ejects it (its run kept counting).
    s.advance(1000)
    s.feed('b', '5xx')
    expect(s.d.isEjected('b')).toBe(true)
    const four = setup(['a', 'b', 'c', 'd'])
    for (const m of ['a', 'b', 'c']) four.feed(m, '5xx', 5)
    expect(['a', 'b', 'c'].map((m) => four.d.isEjected(m))).toEqual([true, true, false])
    const one = setup(['solo'])
    one.feed('solo', 'connect', 10)
    expect(one.d.isEjected('solo')).toBe(false)
    const none = setup(['a', 'b'], {maxEjectedShare: 0})
    none.feed('a', 'connect', 10)
    expect(none.d.isEjected('a')).toBe(false)
  })

  it('follows membership changes', () => {
    const s = setup(['a', 'b'])
    s.feed('a', 'connect', 3)
    s.d.setMembers(['b', 'c'])
    expect(s.d.isEjected('a')).toBe(false)
    expect(s.d.snapshot().map((m) => m.name)).toEqual(['b', 'c'])
    s.feed('zzz', 'connect', 5) // unknown member: ignored
  })
})
