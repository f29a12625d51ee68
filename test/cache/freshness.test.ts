import {describe, expect, it} from 'vitest'

import {parseCacheControl} from '../../src/cache/cache-control.js'
import {
  correctedInitialAge,
  currentAge,
  freshnessLifetime,
  isHeuristicallyCacheable,
  parseAge,
  parseHttpDate,
  type FreshnessOptions,
} from '../../src/cache/freshness.js'
import {getAll} from '../../src/util/raw-headers.js'

const T = Date.UTC(2024, 0, 10, 12, 0, 0) // Wed, 10 Jan 2024 12:00:00 GMT
const http = (ms: number): string => new Date(ms).toUTCString()
const opts: FreshnessOptions = {heuristicFraction: 0.1, heuristicMaxSeconds: 86400, defaultTtlSeconds: 0, responseTime: T}

function life(status: number, headers: string[], o: Partial<FreshnessOptions> = {}) {
  return freshnessLifetime(status, headers, parseCacheControl(getAll(headers, 'cache-control')), {...opts, ...o})
}

describe('parseHttpDate (RFC 9110 §5.6.7)', () => {
  const ref = Date.UTC(1994, 10, 6, 8, 49, 37)
  it('parses the three formats of the RFC example', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(ref)
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', T)).toBe(ref)
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(ref)
  })
  it('interprets two-digit years more than 50 years ahead as the previous century', () => {
    expect(new Date(parseHttpDate('Thursday, 01-Jan-70 00:00:00 GMT', T)!).getUTCFullYear()).toBe(2070)
    expect(new Date(parseHttpDate('Sunday, 01-Jan-99 00:00:00 GMT', T)!).getUTCFullYear()).toBe(1999)
  })
  it.each([
    '0',
    '-1',
    '',
    'Sun, 06 Nov 1994 08:49:37 UTC',
    'Sun, 6 Nov 1994 08:49:37 GMT',
    'sun, 06 nov 1994 08:49:37 GMT',
    'Sun, 31 Feb 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 25:49:37 GMT',
    '1994-11-06T08:49:37Z',
    'Sun, 06 Nov 1994 08:49:37 GMT garbage',
  ])('rejects %j', (v) => {
    expect(parseHttpDate(v)).toBeUndefined()
  })
})

describe('freshnessLifetime precedence (RFC 9111 §4.2.1)', () => {
  it('prefers s-maxage over max-age for a shared cache', () => {
    expect(life(200, ['Cache-Control', 'max-age=10, s-maxage=100'])).toEqual({seconds: 100, source: 's-maxage'})
  })
  it('prefers max-age over Expires', () => {
    expect(life(200, ['Cache-Control', 'max-age=10', 'Expires', http(T + 3600_000), 'Date', http(T)])).toEqual({seconds: 10, source: 'max-age'})
  })
  it('computes Expires minus Date', () => {
    expect(life(200, ['Date', http(T - 5000), 'Expires', http(T + 55_000)])).toEqual({seconds: 60, source: 'expires'})
  })
  it('compares Expires with the response time when Date is missing or invalid', () => {
    expect(life(200, ['Expires', http(T + 30_000)]).seconds).toBe(30)
    expect(life(200, ['Date', 'yesterday', 'Expires', http(T + 30_000)]).seconds).toBe(30)
  })
  it('treats Expires: 0 and invalid dates as already expired', () => {
    expect(life(200, ['Expires', '0', 'Last-Modified', http(T - 86400_000)])).toEqual({seconds: 0, source: 'expires'})
    expect(life(200, ['Expires', 'soon'])).toEqual({seconds: 0, source: 'expires'})
  })
  it('treats Expires in the past as lifetime 0, never negative', () => {
    expect(life(200, ['Date', http(T), 'Expires', http(T - 60_000)]).seconds).toBe(0)
  })
  it('treats multiple different Expires lines as stale, identical ones as one', () => {
    expect(life(200, ['Date', http(T), 'Expires', http(T + 60_000), 'Expires', http(T + 120_000)])).toEqual({seconds: 0, source: 'invalid'})
    expect(life(200, ['Date', http(T), 'Expires', http(T + 60_000), 'Expires', http(T + 60_000)]).seconds).toBe(60)
  })
  it('treats conflicting or invalid max-age as stale even when Expires is in the future', () => {
    const exp = ['Date', http(T), 'Expires', http(T + 3600_000)]
    expect(life(200, ['Cache-Control', 'max-age=1, max-age=3600', ...exp])).toEqual({seconds: 0, source: 'invalid'})
    expect(life(200, ['Cache-Control', 'max-age=abc', ...exp])).toEqual({seconds: 0, source: 'invalid'})
    expect(life(200, ['Cache-Control', 'max-age=-1', ...exp])).toEqual({seconds: 0, source: 'invalid'})
    expect(life(200, ['Cache-Control', 's-maxage=1.5, max-age=60'])).toEqual({seconds: 0, source: 'invalid'})
  })
  it('clamps huge max-age to 2^31', () => {
    expect(life(200, ['Cache-Control', 'max-age=99999999999']).seconds).toBe(2147483648)
  })
  it('ignores Expires when the directives came from a targeted field', () => {
    const h = ['Date', http(T), 'Expires', http(T + 3600_000)]
    expect(freshnessLifetime(200, h, parseCacheControl('public'), {...opts, ccSource: 'targeted'}).source).toBe('none')
    expect(freshnessLifetime(200, h, parseCacheControl('max-age=5'), {...opts, ccSource: 'targeted'})).toEqual({
      seconds: 5,
      source: 'cache-control-target',
    })
  })
})

describe('heuristic and default freshness (RFC 9111 §4.2.2)', () => {
  it('uses 10% of Date − Last-Modified', () => {
    const h = ['Date', http(T), 'Last-Modified', http(T - 10 * 3600_000)]
    expect(life(200, h)).toEqual({seconds: 3600, source: 'heuristic'})
  })
  it('caps the heuristic', () => {
    const h = ['Date', http(T), 'Last-Modified', http(T - 100 * 86400_000)]
    expect(life(200, h).seconds).toBe(86400)
    expect(life(200, h, {heuristicMaxSeconds: 0}).seconds).toBe(864000)
  })
  it('uses the response time when Date is absent', () => {
    expect(life(200, ['Last-Modified', http(T - 1000_000)]).seconds).toBe(100)
  })
  it('does not apply heuristics to statuses not heuristically cacheable unless public', () => {
    const h = ['Date', http(T), 'Last-Modified', http(T - 1000_000)]
    expect(life(302, h).source).toBe('none')
    expect(life(500, h).source).toBe('none')
    expect(life(302, [...h, 'Cache-Control', 'public']).seconds).toBe(100)
  })
  it('does not apply heuristics when explicit freshness exists', () => {
    const h = ['Date', http(T), 'Last-Modified', http(T - 1000_000), 'Expires', http(T + 5000)]
    expect(life(200, h)).toEqual({seconds: 5, source: 'expires'})
  })
  it('ignores a Last-Modified later than Date or invalid', () => {
    expect(life(200, ['Date', http(T), 'Last-Modified', http(T + 1000_000)]).source).toBe('none')
    expect(life(200, ['Date', http(T), 'Last-Modified', 'recently']).source).toBe('none')
  })
  it('applies a configured default TTL only to heuristically cacheable statuses', () => {
    expect(life(200, [], {defaultTtlSeconds: 30})).toEqual({seconds: 30, source: 'default'})
    expect(life(404, [], {defaultTtlSeconds: 30}).seconds).toBe(30)
    expect(life(500, [], {defaultTtlSeconds: 30})).toEqual({seconds: 0, source: 'none'})
    expect(life(200, [])).toEqual({seconds: 0, source: 'none'})
  })
  it('knows the RFC 9110 §15.1 list', () => {
    for (const s of [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]) expect(isHeuristicallyCacheable(s)).toBe(true)
    for (const s of [201, 302, 303, 307, 400, 403, 500, 502, 503, 299, 999]) expect(isHeuristicallyCacheable(s)).toBe(false)
  })
})

describe('Age header (RFC 9111 §5.1)', () => {
  it.each([
    [['Age', '60'], 60],
    [['Age', ' 60 '], 60],
    [['Age', '60, 0'], 60],
    [['Age', '60', 'Age', '0'], 60],
    [['Age', '-5'], 0],
    [['Age', '1.5'], 0],
    [['Age', '"60"'], 0],
    [['Age', 'abc'], 0],
    [['Age', '99999999999999'], 2147483648],
    [[], 0],
  ] as [string[], number][])('%j → %i', (h, n) => {
    expect(parseAge(h)).toBe(n)
  })
})

describe('age calculation (RFC 9111 §4.2.3)', () => {
  it('uses the apparent age when the Date is older than the Age claims', () => {
    // Date 10 s before receipt, Age 3, request took 1 s: max(10, 3 + 1) = 10.
    expect(correctedInitialAge({ageValue: 3, dateValue: T - 10_000, requestTime: T - 1000, responseTime: T})).toBe(10)
  })
  it('uses Age plus response delay when that is larger', () => {
    // Date equals receipt (apparent 0), Age 30, 2 s delay → 32.
    expect(correctedInitialAge({ageValue: 30, dateValue: T, requestTime: T - 2000, responseTime: T})).toBe(32)
  })
  it('never lets a Date in the future make the age negative', () => {
    expect(correctedInitialAge({ageValue: 0, dateValue: T + 60_000, requestTime: T, responseTime: T})).toBe(0)
  })
  it('floors sub-second transit', () => {
    expect(correctedInitialAge({ageValue: 0, dateValue: T - 900, requestTime: T - 400, responseTime: T})).toBe(0)
  })
  it('adds whole seconds of resident time', () => {
    expect(currentAge({correctedInitialAge: 10}, T, T + 5999)).toBe(15)
    expect(currentAge({correctedInitialAge: 0}, T, T)).toBe(0)
    expect(currentAge({correctedInitialAge: 0}, T, T - 5000)).toBe(0)
  })
})
