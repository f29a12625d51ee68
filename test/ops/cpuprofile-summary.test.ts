import {describe, expect, it} from 'vitest'

import {type CpuProfile, formatCpuProfileSummary, summariseCpuProfile} from '../../src/ops/cpuprofile-summary.js'

const ROOT = 'file:///srv/tavern/'
const frame = (functionName: string, url: string, lineNumber: number) => ({functionName, url, lineNumber, columnNumber: 0, scriptId: '1'})

// root → main (dist/proxy/handler.js:10) → hot (dist/cache/x.js:20); main → parse (undici), readFile (node:fs); GC; idle.
const profile: CpuProfile = {
  startTime: 0,
  endTime: 10_000,
  nodes: [
    {id: 1, callFrame: frame('(root)', '', -1), children: [2, 4, 5]},
    {id: 2, callFrame: frame('main', `${ROOT}dist/proxy/handler.js`, 9), children: [3, 6, 7]},
    {id: 3, callFrame: frame('hot', `${ROOT}dist/cache/x.js`, 19)},
    {id: 4, callFrame: frame('(garbage collector)', '', -1)},
    {id: 5, callFrame: frame('(idle)', '', -1)},
    {id: 6, callFrame: frame('parse', `${ROOT}node_modules/undici/lib/x.js`, 3)},
    {id: 7, callFrame: frame('readFile', 'node:fs', 0)},
  ],
  // Delta i+1 is the time of sample i: 1 ms each, the last sample has none.
  samples: [3, 3, 3, 2, 6, 4, 5, 5, 7, 3],
  timeDeltas: [0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
}

describe('summariseCpuProfile', () => {
  const s = summariseCpuProfile(profile, {ownRoot: ROOT})

  it('adds up self time per function with file:line, largest first', () => {
    expect(s.samples).toBe(10)
    expect(s.totalMs).toBe(9)
    expect(s.busyMs).toBe(7)
    expect(s.functions.map((f) => [f.function, f.where, f.selfMs])).toEqual([
      ['hot', 'dist/cache/x.js:20', 3],
      ['(idle)', '', 2],
      ['main', 'dist/proxy/handler.js:10', 1],
      ['parse', 'undici/lib/x.js:4', 1],
      ['(garbage collector)', '', 1],
      ['readFile', 'node:fs:1', 1],
    ])
    expect(s.functions[0]!.pct).toBeCloseTo(100 / 3, 9)
    expect(s.functions[0]!.url).toBe(`${ROOT}dist/cache/x.js`)
    expect(s.functions[0]!.line).toBe(20)
  })

  it('groups self time by source', () => {
    expect(Object.fromEntries(s.groups.map((g) => [g.group, g.selfMs]))).toEqual({
      'tavern: cache/x.js': 3,
      idle: 2,
      'tavern: proxy/handler.js': 1,
      'pkg: undici': 1,
      GC: 1,
      'node:fs': 1,
    })
  })

  it("counts inclusive time of tavern's own functions once per sample", () => {
    expect(s.inclusive.map((f) => [f.function, f.totalMs])).toEqual([
      ['main', 6],
      ['hot', 3],
    ])
  })

  it('limits the lists to top N and recognises another checkout of tavern by its dist/ path', () => {
    const t = summariseCpuProfile(profile, {top: 2, ownRoot: 'file:///elsewhere/'})
    expect(t.functions).toHaveLength(2)
    expect(t.inclusive.map((f) => f.function)).toEqual(['main', 'hot'])
    expect(t.functions[0]!.where).toBe('dist/cache/x.js:20')
  })

  it('copes with an empty profile', () => {
    const e = summariseCpuProfile({nodes: [{id: 1, callFrame: frame('(root)', '', -1)}], startTime: 0, endTime: 0})
    expect(e).toEqual({totalMs: 0, busyMs: 0, samples: 0, functions: [], groups: [], inclusive: []})
  })

  it('formats as text', () => {
    const text = formatCpuProfileSummary(s, {title: 'x.cpuprofile'})
    const lines = text.split('\n')
    expect(lines[0]).toBe('x.cpuprofile: 10 samples, 9 ms profiled, 7 ms not idle')
    expect(lines).toContain('self time by source:')
    expect(lines).toContain(`   33.3%        3 ms  ${'hot'.padEnd(36)} dist/cache/x.js:20`)
    expect(lines).toContain('top 2 tavern functions by inclusive time (self + callees):')
    expect(lines).toContain(`   66.7%        6 ms  ${'main'.padEnd(36)} dist/proxy/handler.js:10`)
  })
})
