import {describe, expect, it} from 'vitest'

import {formatCacheStatus, sfString, xCacheValue, type CacheOutcome} from '../../src/cache/cache-status.js'

describe('formatCacheStatus (RFC 9211)', () => {
  it('formats a hit with ttl', () => {
    expect(formatCacheStatus({hit: true, ttl: 30})).toBe('tavern; hit; ttl=30')
  })
  it('formats a forward with status and stored', () => {
    expect(formatCacheStatus({fwd: 'stale', fwdStatus: 304})).toBe('tavern; fwd=stale; fwd-status=304')
    expect(formatCacheStatus({fwd: 'uri-miss', stored: true})).toBe('tavern; fwd=uri-miss; stored')
    expect(formatCacheStatus({fwd: 'miss', collapsed: true})).toBe('tavern; fwd=miss; collapsed')
  })
  it('allows negative and fractional ttl as integers', () => {
    expect(formatCacheStatus({hit: true, ttl: -5.7})).toBe('tavern; hit; ttl=-5')
  })
  it('quotes key and detail as sf-strings', () => {
    expect(formatCacheStatus({name: 'edge-1', fwd: 'bypass', key: 'http://h/a?b="c"', detail: 'x\\y'})).toBe(
      'edge-1; fwd=bypass; key="http://h/a?b=\\"c\\""; detail="x\\\\y"',
    )
  })
  it('quotes a cache name that is not a token', () => {
    expect(formatCacheStatus({name: 'my cache', hit: true})).toBe('"my cache"; hit')
  })
  it('escapes characters an sf-string cannot hold', () => {
    expect(sfString('a\u0001é')).toBe('"a%01%C3%A9"')
  })
})

describe('xCacheValue', () => {
  it.each([
    ['hit', 'HIT'],
    ['stale', 'STALE'],
    ['revalidated', 'REVALIDATED'],
    ['miss', 'MISS'],
    ['bypass', 'BYPASS'],
    ['error', 'ERROR'],
  ] as [CacheOutcome, string][])('%s → %s', (o, v) => {
    expect(xCacheValue(o)).toBe(v)
  })
})
