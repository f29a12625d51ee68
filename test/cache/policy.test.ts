import {describe, expect, it} from 'vitest'

import {computePolicy, type PolicyOptions} from '../../src/cache/policy.js'

const T = Date.UTC(2024, 0, 10, 12, 0, 0)
const http = (ms: number): string => new Date(ms).toUTCString()
const opts: PolicyOptions = {
  targetedFields: ['cdn-cache-control'],
  heuristicFraction: 0.1,
  heuristicMaxSeconds: 86400,
  defaultTtlSeconds: 0,
  maxTtlSeconds: 0,
}
const at = (status: number, headers: string[]) => ({status, headers, requestTime: T - 1000, responseTime: T})

describe('computePolicy', () => {
  it('fills every field from a typical response', () => {
    const p = computePolicy(
      at(200, [
        'Date', http(T - 5000),
        'Age', '2',
        'Cache-Control', 'max-age=60, stale-while-revalidate=30, stale-if-error=600',
        'ETag', '"abc"',
        'Last-Modified', http(T - 86400_000),
      ]),
      opts,
    )
    expect(p).toEqual({
      lifetime: 60,
      lifetimeSource: 'max-age',
      correctedInitialAge: 5,
      noCache: false,
      mustRevalidate: false,
      staleWhileRevalidate: 30,
      staleIfError: 600,
      etag: '"abc"',
      lastModified: http(T - 86400_000),
      date: T - 5000,
    })
  })

  it('omits optional fields that are absent or invalid', () => {
    const p = computePolicy(at(200, ['Cache-Control', 'max-age=5, stale-while-revalidate=x', 'Date', 'bogus']), opts)
    expect(p.staleWhileRevalidate).toBeUndefined()
    expect(p.staleIfError).toBeUndefined()
    expect(p.etag).toBeUndefined()
    expect(p.date).toBeUndefined()
    expect(p.correctedInitialAge).toBe(1) // response delay only
  })

  it('marks must-revalidate for must-revalidate, proxy-revalidate and s-maxage', () => {
    expect(computePolicy(at(200, ['Cache-Control', 'max-age=5, must-revalidate']), opts).mustRevalidate).toBe(true)
    expect(computePolicy(at(200, ['Cache-Control', 'max-age=5, proxy-revalidate']), opts).mustRevalidate).toBe(true)
    expect(computePolicy(at(200, ['Cache-Control', 's-maxage=5']), opts).mustRevalidate).toBe(true)
    expect(computePolicy(at(200, ['Cache-Control', 'max-age=5']), opts).mustRevalidate).toBe(false)
  })

  it('sets noCache only for the unqualified form', () => {
    expect(computePolicy(at(200, ['Cache-Control', 'no-cache']), opts).noCache).toBe(true)
    expect(computePolicy(at(200, ['Cache-Control', 'no-cache="set-cookie", max-age=5']), opts).noCache).toBe(false)
  })

  it('caps the lifetime with maxTtlSeconds', () => {
    const p = computePolicy(at(200, ['Cache-Control', 'max-age=100000']), {...opts, maxTtlSeconds: 3600})
    expect(p.lifetime).toBe(3600)
    expect(p.lifetimeSource).toBe('max-age')
  })

  it('takes lifetime and directives from the targeted field', () => {
    const p = computePolicy(
      at(200, ['Cache-Control', 'no-cache, max-age=1', 'CDN-Cache-Control', 'max-age=600', 'Expires', '0']),
      opts,
    )
    expect(p.lifetime).toBe(600)
    expect(p.lifetimeSource).toBe('cache-control-target')
    expect(p.noCache).toBe(false)
  })

  it('does not give a targeted s-maxage proxy-revalidate semantics', () => {
    const p = computePolicy(at(200, ['CDN-Cache-Control', 's-maxage=60']), opts)
    expect(p.lifetime).toBe(60)
    expect(p.mustRevalidate).toBe(false)
  })

  it('reports stale-on-arrival for conflicting max-age', () => {
    const p = computePolicy(at(200, ['Cache-Control', 'max-age=3600', 'Cache-Control', 'max-age=1']), opts)
    expect(p.lifetime).toBe(0)
    expect(p.lifetimeSource).toBe('invalid')
  })
})
