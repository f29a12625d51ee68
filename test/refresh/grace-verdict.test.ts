// graceVerdict (src/cache/grace.ts): which window applies and what forbids serving stale on origin failure.
import {describe, expect, it} from 'vitest'

import {graceVerdict} from '../../src/cache/grace.js'
import type {StoredPolicy} from '../../src/cache/policy-types.js'
import {GraceMemory, GRACE_RETRY_MS} from '../../src/proxy/refresh/grace-memory.js'
import {RefreshLimiter} from '../../src/proxy/refresh/limiter.js'

const NOW = 1_800_000_000_000

/** Stored `staleBy` seconds ago with a 10 s lifetime. */
function stored(staleBy: number, p: Partial<StoredPolicy> = {}) {
  return {policy: {lifetime: 10, lifetimeSource: 'max-age' as const, correctedInitialAge: 0, noCache: false, mustRevalidate: false, ...p}, responseTime: NOW - (10 + staleBy) * 1000}
}

describe('graceVerdict', () => {
  it('within grace: served, via grace; past it: not', () => {
    expect(graceVerdict([], stored(59), NOW, 60)).toEqual({serve: true, via: 'grace', staleness: 59})
    expect(graceVerdict([], stored(60), NOW, 60)).toEqual({serve: false, reason: 'window'})
    expect(graceVerdict([], stored(0), NOW, 0)).toEqual({serve: false, reason: 'window'})
  })
  it('must-revalidate (also proxy-revalidate, s-maxage) and no-cache forbid it whatever the window', () => {
    expect(graceVerdict([], stored(1, {mustRevalidate: true}), NOW, 3600)).toEqual({serve: false, reason: 'forbidden'})
    expect(graceVerdict([], stored(1, {noCache: true, staleIfError: 3600}), NOW, 3600)).toEqual({serve: false, reason: 'forbidden'})
  })
  it("the response's stale-if-error replaces grace (narrower or wider)", () => {
    expect(graceVerdict([], stored(30, {staleIfError: 10}), NOW, 3600).serve).toBe(false)
    expect(graceVerdict([], stored(300, {staleIfError: 600}), NOW, 60)).toMatchObject({serve: true, via: 'stale-if-error'})
  })
  it("the request's stale-if-error replaces both", () => {
    expect(graceVerdict(['Cache-Control', 'stale-if-error=5'], stored(30, {staleIfError: 600}), NOW, 3600).serve).toBe(false)
    expect(graceVerdict(['Cache-Control', 'max-age=0, stale-if-error=900'], stored(300), NOW, 60)).toMatchObject({serve: true, via: 'stale-if-error'})
  })
  it('a response still fresh (revalidated because the request asked) is served', () => {
    expect(graceVerdict([], stored(-5), NOW, 0)).toEqual({serve: true, via: 'grace', staleness: 0})
  })
})

describe('GraceMemory', () => {
  it('one attempt per GRACE_RETRY_MS while in grace; leave() ends it', () => {
    const g = new GraceMemory()
    expect(g.inGrace('k')).toBe(false)
    g.enter('k', 1000)
    expect(g.inGrace('k')).toBe(true)
    expect(g.attemptDue('k', 1000 + GRACE_RETRY_MS - 1)).toBe(false)
    expect(g.attemptDue('k', 1000 + GRACE_RETRY_MS)).toBe(true)
    expect(g.attemptDue('k', 1000 + GRACE_RETRY_MS + 1)).toBe(false)
    g.leave('k')
    expect(g.inGrace('k')).toBe(false)
    expect(g.attemptDue('k', 1_000_000)).toBe(false)
  })
})

describe('RefreshLimiter', () => {
  it('bounds concurrency and the per-origin rate', () => {
    const l = new RefreshLimiter()
    const a = {}
    const b = {}
    const lim = {concurrency: 2, perOriginRate: 1}
    expect(l.acquire(a, 0, lim)).toBe(true)
    expect(l.acquire(a, 10, lim)).toBe(false) // rate: the one token is spent
    expect(l.acquire(b, 10, lim)).toBe(true) // another origin has its own bucket
    expect(l.acquire(b, 5000, lim)).toBe(false) // concurrency: two running
    l.release()
    expect(l.acquire(a, 1010, lim)).toBe(true) // a second later, a token again
    expect(l.inFlight).toBe(2)
  })
})
