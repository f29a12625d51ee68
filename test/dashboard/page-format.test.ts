/**
 * The page formats numbers in the browser with its own copy of src/tui/format.ts (it is plain JS, no build step).
 * These checks keep the copy exact, so the dashboard and `tavern top` never disagree on a figure.
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import * as tui from '../../src/util/format.js'

type Fmt = (n: number | null | undefined) => string
interface PageModule {
  formatBytes: Fmt
  formatCount: Fmt
  formatRate: Fmt
  formatPercent: (r: number | null | undefined, digits?: number) => string
  formatDuration: Fmt
  formatUptime: Fmt
  deltaRate: (now: number, before: number | undefined, dtMs: number) => number | null
  seriesPath: (values: ReadonlyArray<number | null>, capacity: number, max: number, W: number, H: number) => string
  niceMax: (values: ReadonlyArray<number | null>) => number
  normaliseSites: (sites: unknown) => Array<{name: string; requestsPerSec: number; hitRatio: number | null; bytesOutPerSec: number; errorsPerSec?: number}> | undefined
}

// The page script starts itself only where there is a document; in node it is a plain module of functions.
const pageUrl = new URL('../../assets/dashboard/dashboard.js', import.meta.url).href
const page = (await import(pageUrl)) as PageModule

const numbers = fc.oneof(
  fc.double({min: -1e16, max: 1e16, noNaN: true}),
  fc.integer({min: -1_000_000, max: 1e12}),
  fc.constantFrom(0, 0.9995, 9.95, 9.995, 99.95, 999.5, 1023.5, 1024, 999_600, 59_950, 9995, Infinity, -Infinity, Number.NaN),
  fc.double({min: 0, max: 1, noNaN: true}),
)

describe('page formatters = tavern top formatters', () => {
  for (const name of ['formatBytes', 'formatCount', 'formatRate', 'formatPercent', 'formatDuration', 'formatUptime'] as const) {
    it(name, () => {
      const mine = page[name] as Fmt
      const theirs = tui[name] as Fmt
      expect(mine(null)).toBe(theirs(null))
      expect(mine(undefined)).toBe(theirs(undefined))
      fc.assert(
        fc.property(numbers, (n) => mine(n) === theirs(n)),
        {numRuns: 3000},
      )
    })
  }
  it('formatPercent with digits', () => {
    fc.assert(fc.property(fc.double({min: 0, max: 1, noNaN: true}), fc.integer({min: 0, max: 4}), (r, d) => page.formatPercent(r, d) === tui.formatPercent(r, d)))
  })
})

describe('page helpers', () => {
  it('deltaRate: per-second rate between snapshots, none without a previous one or after a counter reset', () => {
    expect(page.deltaRate(150, 100, 1000)).toBe(50)
    expect(page.deltaRate(150, 100, 2000)).toBe(25)
    expect(page.deltaRate(150, undefined, 1000)).toBeNull()
    expect(page.deltaRate(10, 100, 1000)).toBeNull()
    expect(page.deltaRate(10, 5, 0)).toBeNull()
  })

  it('seriesPath: newest point at the right edge, nulls leave gaps, values clamp to the box', () => {
    expect(page.seriesPath([0, 5, 10], 3, 10, 100, 40)).toBe('M0 40L50 20L100 0')
    // Two points in a three-wide window sit at the right.
    expect(page.seriesPath([10, 10], 3, 10, 100, 40)).toBe('M50 0L100 0')
    expect(page.seriesPath([1, null, 1], 3, 1, 100, 40)).toBe('M0 0M100 0')
    expect(page.seriesPath([20, -5], 2, 10, 10, 10)).toBe('M0 0L10 10')
    expect(page.seriesPath([], 3, 10, 100, 40)).toBe('')
  })

  it('niceMax: a round scale top just above the peak', () => {
    expect(page.niceMax([])).toBe(1)
    expect(page.niceMax([0, null])).toBe(1)
    expect(page.niceMax([97])).toBe(150)
    expect(page.niceMax([100])).toBe(150)
    expect(page.niceMax([0.42])).toBe(0.5)
    fc.assert(fc.property(fc.array(fc.double({min: 1e-6, max: 1e9, noNaN: true}), {minLength: 1}), (vs) => page.niceMax(vs) >= Math.max(...vs) * 1.05))
  })

  it('normaliseSites: an array or a name → rates map; absent when the snapshot has none', () => {
    expect(page.normaliseSites(undefined)).toBeUndefined()
    expect(page.normaliseSites(null)).toBeUndefined()
    expect(page.normaliseSites([{name: 'a', requestsPerSec: 2, hitRatio: 0.5, bytesOutPerSec: 10}])).toEqual([{name: 'a', requestsPerSec: 2, hitRatio: 0.5, bytesOutPerSec: 10, errorsPerSec: undefined}])
    expect(page.normaliseSites({b: {requestsPerSec: 1, hitRatio: null, bytesOutPerSec: 0, errorsPerSec: 0.5}})).toEqual([{name: 'b', requestsPerSec: 1, hitRatio: null, bytesOutPerSec: 0, errorsPerSec: 0.5}])
    expect(page.normaliseSites([{name: 'c', requestsPerSec: 'x'}, 3])).toEqual([{name: 'c', requestsPerSec: 0, hitRatio: null, bytesOutPerSec: 0, errorsPerSec: undefined}])
  })
})
