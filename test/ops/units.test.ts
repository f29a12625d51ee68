/** Unit tests of the small pure pieces behind the ops commands (no daemon). */
import {describe, expect, it} from 'vitest'

import {AllowList, normalizeAddress} from '../../src/ops/cidr.js'
import {collectUrls, parseHeaderFlags, parseList} from '../../src/ops/cli.js'
import {variantLabel} from '../../src/ops/inspect-format.js'
import {classify, ownCacheStatus, selfTarget} from '../../src/ops/prefetch.js'
import {parsePurgeType} from '../../src/ops/purge-method.js'

describe('AllowList (purge.allow)', () => {
  it('matches IPv4 CIDRs, plain addresses, IPv6, and IPv4-mapped IPv6 peers', () => {
    const l = new AllowList(['127.0.0.1/8', '::1/128', '192.168.1.7', '2001:db8::/32'])
    expect(l.allows('127.0.0.1')).toBe(true)
    expect(l.allows('127.9.9.9')).toBe(true)
    expect(l.allows('::ffff:127.0.0.1')).toBe(true)
    expect(l.allows('::FFFF:127.0.0.2')).toBe(true)
    expect(l.allows('::1')).toBe(true)
    expect(l.allows('192.168.1.7')).toBe(true)
    expect(l.allows('::ffff:192.168.1.7')).toBe(true)
    expect(l.allows('192.168.1.8')).toBe(false)
    expect(l.allows('2001:db8:1::5')).toBe(true)
    expect(l.allows('2001:db9::5')).toBe(false)
    expect(l.allows('10.0.0.1')).toBe(false)
    expect(l.allows(undefined)).toBe(false)
    expect(l.allows('garbage')).toBe(false)
  })

  it('refuses loopback when only 10.0.0.0/8 is allowed', () => {
    const l = new AllowList(['10.0.0.0/8'])
    expect(l.allows('127.0.0.1')).toBe(false)
    expect(l.allows('::ffff:127.0.0.1')).toBe(false)
    expect(l.allows('::ffff:10.20.30.40')).toBe(true)
    expect(l.allows('::1')).toBe(false)
  })

  it('normalizes addresses and rejects bad entries', () => {
    expect(normalizeAddress('::ffff:10.1.2.3')).toBe('10.1.2.3')
    expect(normalizeAddress('[::1]')).toBe('::1')
    expect(normalizeAddress('fe80::1%eth0')).toBe('fe80::1')
    expect(() => new AllowList(['10.0.0.0/33'])).toThrow(/prefix/)
    expect(() => new AllowList(['nope'])).toThrow(/not an IP/)
  })
})

describe('Purge-Type header', () => {
  it('file (default) expires, dir is a directory, hard deletes', () => {
    expect(parsePurgeType([])).toEqual({dir: false, mode: 'expire'})
    expect(parsePurgeType(['file'])).toEqual({dir: false, mode: 'expire'})
    expect(parsePurgeType(['file,hard'])).toEqual({dir: false, mode: 'delete'})
    expect(parsePurgeType(['DIR'])).toEqual({dir: true, mode: 'expire'})
    expect(parsePurgeType(['dir, hard'])).toEqual({dir: true, mode: 'delete'})
    expect(parsePurgeType(['dir', 'hard'])).toEqual({dir: true, mode: 'delete'})
    expect(parsePurgeType(['hard'])).toEqual({dir: false, mode: 'delete'})
    expect(parsePurgeType(['soft'])).toBeUndefined()
    expect(parsePurgeType(['file,dir'])).toBeUndefined()
  })
})

describe('prefetch classification', () => {
  it('reads our own Cache-Status member, even with quoted commas and other caches', () => {
    const cs = ownCacheStatus(['upstream-cdn; hit, tavern; fwd=uri-miss; fwd-status=200; stored; detail="a, b; c"'], 'tavern')
    expect(cs?.get('fwd')).toBe('uri-miss')
    expect(cs?.get('stored')).toBe(true)
    expect(cs?.get('detail')).toBe('a, b; c')
    expect(cs?.has('hit')).toBe(false)
    expect(ownCacheStatus(['other; hit'], 'tavern')).toBeUndefined()
  })

  it('hit → fresh, 304 → revalidated, stored → stored, otherwise failed', () => {
    const c = (v: string, status = 200) => classify(status, ownCacheStatus([v], 'tavern'))
    expect(c('tavern; hit; ttl=30')).toEqual({outcome: 'fresh'})
    expect(c('tavern; hit; ttl=-3; detail="stale-while-revalidate"')).toEqual({outcome: 'fresh'})
    expect(c('tavern; fwd=stale; fwd-status=304')).toEqual({outcome: 'revalidated'})
    expect(c('tavern; fwd=uri-miss; fwd-status=200; stored; collapsed')).toEqual({outcome: 'stored'})
    expect(c('tavern; fwd=stale; fwd-status=200; stored')).toEqual({outcome: 'stored'})
    expect(c('tavern; fwd=uri-miss; fwd-status=200').outcome).toBe('failed')
    expect(c('tavern; fwd=uri-miss; fwd-status=500', 500)).toEqual({outcome: 'failed', error: 'HTTP 500'})
    expect(classify(200, undefined).outcome).toBe('failed')
  })

  it('reaches a wildcard listener over loopback', () => {
    expect(selfTarget('127.0.0.1:8080')).toEqual({host: '127.0.0.1', port: 8080})
    expect(selfTarget('0.0.0.0:80')).toEqual({host: '127.0.0.1', port: 80})
    expect(selfTarget('[::]:8080')).toEqual({host: '::1', port: 8080})
    expect(selfTarget('[::1]:81')).toEqual({host: '::1', port: 81})
  })
})

describe('CLI input helpers', () => {
  it('URL lists skip blanks and comments', async () => {
    expect(parseList('a\n\n  # c\r\nb  \n')).toEqual(['a', 'b'])
    expect(await collectUrls(['x', 'y'], undefined)).toEqual(['x', 'y'])
  })

  it('-H values', () => {
    expect(parseHeaderFlags(['Accept-Language: de', 'accept-language:fr', 'X-A:  1 '])).toEqual({'Accept-Language': 'de, fr', 'X-A': '1'})
    expect(() => parseHeaderFlags(['nocolon'])).toThrow(/Name: value/)
    expect(() => parseHeaderFlags([': v'])).toThrow()
  })

  it('variant labels', () => {
    expect(variantLabel('')).toBe('(no Vary)')
    expect(variantLabel(null)).toMatch(/Vary: \*/)
    expect(variantLabel('accept-encoding=gzip&accept-language')).toBe('accept-encoding=gzip & accept-language (absent)')
  })
})
