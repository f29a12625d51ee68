import {describe, expect, it} from 'vitest'

import type {StoredPolicy} from '../../src/cache/policy-types.js'
import {decideReuse, onlyIfCached, staleIfErrorAllowed, type StoredForReuse} from '../../src/cache/reuse.js'

const T = 1_700_000_000_000
const policy = (p: Partial<StoredPolicy> = {}): StoredPolicy => ({
  lifetime: 60,
  lifetimeSource: 'max-age',
  correctedInitialAge: 0,
  noCache: false,
  mustRevalidate: false,
  ...p,
})
const stored = (p: Partial<StoredPolicy> = {}, extra: Partial<StoredForReuse> = {}): StoredForReuse => ({
  policy: policy(p),
  responseTime: T,
  ...extra,
})
const req = (...headers: string[]) => ({method: 'GET', headers})
const honor = {honorRequestNoCache: true}
const at = (s: number) => T + s * 1000

describe('decideReuse', () => {
  it('is fresh while lifetime > current age, stale from age == lifetime', () => {
    const s = stored({lifetime: 2})
    expect(decideReuse(req(), s, at(0), honor)).toEqual({kind: 'fresh', age: 0})
    expect(decideReuse(req(), s, at(1.999), honor)).toEqual({kind: 'fresh', age: 1})
    expect(decideReuse(req(), s, at(2), honor)).toEqual({kind: 'revalidate', age: 2, reason: 'stale'})
  })

  it('counts corrected_initial_age', () => {
    const s = stored({lifetime: 60, correctedInitialAge: 58})
    expect(decideReuse(req(), s, at(1), honor).kind).toBe('fresh')
    expect(decideReuse(req(), s, at(2), honor).kind).toBe('revalidate')
  })

  it('treats lifetime 0 as stale immediately', () => {
    expect(decideReuse(req(), stored({lifetime: 0}), at(0), honor).kind).toBe('revalidate')
  })

  it('always revalidates response no-cache', () => {
    expect(decideReuse(req(), stored({noCache: true}), at(0), honor)).toMatchObject({kind: 'revalidate', reason: 'response no-cache'})
  })

  it('revalidates on request no-cache and on Pragma only without Cache-Control', () => {
    expect(decideReuse(req('Cache-Control', 'no-cache'), stored(), at(0), honor).kind).toBe('revalidate')
    expect(decideReuse(req('Pragma', 'no-cache'), stored(), at(0), honor).kind).toBe('revalidate')
    expect(decideReuse(req('Pragma', 'no-cache', 'Cache-Control', 'max-stale'), stored(), at(0), honor).kind).toBe('fresh')
  })

  it('ignores request no-cache, Pragma and max-age=0 when not honoured', () => {
    const off = {honorRequestNoCache: false}
    expect(decideReuse(req('Cache-Control', 'no-cache'), stored(), at(0), off).kind).toBe('fresh')
    expect(decideReuse(req('Pragma', 'no-cache'), stored(), at(0), off).kind).toBe('fresh')
    expect(decideReuse(req('Cache-Control', 'max-age=0'), stored(), at(0), off).kind).toBe('fresh')
  })

  it('honours request max-age (age must be <= max-age)', () => {
    expect(decideReuse(req('Cache-Control', 'max-age=0'), stored(), at(0), honor).kind).toBe('revalidate')
    expect(decideReuse(req('Cache-Control', 'max-age=10'), stored(), at(10), honor).kind).toBe('fresh')
    expect(decideReuse(req('Cache-Control', 'max-age=10'), stored(), at(11), honor)).toMatchObject({
      kind: 'revalidate',
      reason: 'request max-age exceeded',
    })
  })

  it('honours min-fresh', () => {
    expect(decideReuse(req('Cache-Control', 'min-fresh=10'), stored(), at(50), honor).kind).toBe('fresh')
    expect(decideReuse(req('Cache-Control', 'min-fresh=10'), stored(), at(51), honor)).toMatchObject({reason: 'min-fresh not satisfied'})
  })

  it('serves stale within max-stale, inclusive, and any staleness without a value', () => {
    expect(decideReuse(req('Cache-Control', 'max-stale=5'), stored(), at(65), honor)).toEqual({kind: 'stale-ok', age: 65, reason: 'max-stale'})
    expect(decideReuse(req('Cache-Control', 'max-stale=5'), stored(), at(66), honor).kind).toBe('revalidate')
    expect(decideReuse(req('Cache-Control', 'max-stale'), stored(), at(100000), honor).kind).toBe('stale-ok')
    expect(decideReuse(req('Cache-Control', 'max-stale=abc'), stored(), at(61), honor).kind).toBe('revalidate')
  })

  it('never serves stale when must-revalidate (incl. s-maxage) or no-cache', () => {
    const mr = stored({mustRevalidate: true, staleWhileRevalidate: 100})
    expect(decideReuse(req('Cache-Control', 'max-stale'), mr, at(61), honor)).toMatchObject({kind: 'revalidate', reason: 'stale and must-revalidate'})
    expect(decideReuse(req(), mr, at(61), honor).kind).toBe('revalidate')
    expect(decideReuse(req('Cache-Control', 'max-stale'), stored({noCache: true}), at(61), honor).kind).toBe('revalidate')
  })

  it('uses the response stale-while-revalidate window', () => {
    const s = stored({staleWhileRevalidate: 30})
    expect(decideReuse(req(), s, at(60), honor)).toEqual({kind: 'stale-while-revalidate', age: 60})
    expect(decideReuse(req(), s, at(89), honor).kind).toBe('stale-while-revalidate')
    expect(decideReuse(req(), s, at(90), honor).kind).toBe('revalidate')
  })

  it('accepts a request stale-while-revalidate window', () => {
    expect(decideReuse(req('Cache-Control', 'stale-while-revalidate=10'), stored(), at(65), honor).kind).toBe('stale-while-revalidate')
  })

  it('revalidates objects invalidated by an expire purge until refreshed', () => {
    expect(decideReuse(req(), stored({}, {invalidatedAt: T + 1}), at(1), honor)).toMatchObject({
      kind: 'revalidate',
      reason: 'invalidated by purge',
    })
    // Refreshed after the purge: the mark no longer applies.
    expect(decideReuse(req(), stored({}, {invalidatedAt: T - 1}), at(1), honor).kind).toBe('fresh')
  })
})

describe('staleIfErrorAllowed (RFC 5861 §4)', () => {
  it('allows within the response window', () => {
    const s = stored({staleIfError: 100})
    expect(staleIfErrorAllowed([], s, at(159))).toBe(true)
    expect(staleIfErrorAllowed([], s, at(160))).toBe(false)
  })
  it('allows within the request window', () => {
    expect(staleIfErrorAllowed(['Cache-Control', 'stale-if-error=10'], stored(), at(65))).toBe(true)
    expect(staleIfErrorAllowed([], stored(), at(65))).toBe(false)
  })
  it('forbids with must-revalidate or no-cache', () => {
    expect(staleIfErrorAllowed([], stored({staleIfError: 100, mustRevalidate: true}), at(61))).toBe(false)
    expect(staleIfErrorAllowed([], stored({staleIfError: 100, noCache: true}), at(61))).toBe(false)
  })
  it('allows a still-fresh response', () => {
    expect(staleIfErrorAllowed([], stored(), at(1))).toBe(true)
  })
})

describe('onlyIfCached', () => {
  it('detects only-if-cached in any case', () => {
    expect(onlyIfCached(['Cache-Control', 'max-age=0, Only-If-Cached'])).toBe(true)
    expect(onlyIfCached(['Pragma', 'only-if-cached'])).toBe(false)
  })
})
