import {describe, expect, it} from 'vitest'

import {classify, listenerFor, ownCacheStatus, selfTarget} from '../../src/ops/prefetch.js'

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

  it('picks the listener of the URL scheme, a plain HTTP/1.1 one before h2c', () => {
    const plain = {address: '127.0.0.1:1', scheme: 'http' as const, http2: false}
    const h2c = {address: '127.0.0.1:2', scheme: 'http' as const, http2: true}
    const tls = {address: '127.0.0.1:3', scheme: 'https' as const, http2: true}
    expect(listenerFor([h2c, tls, plain], 'http')).toBe(plain)
    expect(listenerFor([h2c, tls], 'http')).toBe(h2c)
    expect(listenerFor([h2c, tls], 'https')).toBe(tls)
    expect(listenerFor([tls], 'http')).toBeUndefined()
  })
})
