import {describe, expect, it} from 'vitest'

import {storability, type StorabilityOptions} from '../../src/cache/storability.js'

const opts: StorabilityOptions = {targetedFields: ['cdn-cache-control']}
const GET = {method: 'GET', headers: [] as string[]}
const LM = ['Last-Modified', 'Mon, 01 Jan 2024 00:00:00 GMT']
const check = (res: {status: number; headers: string[]}, req = GET, o = opts) => storability(req, res, o)

describe('storability (RFC 9111 §3)', () => {
  it('stores a 200 with max-age and says why', () => {
    const r = check({status: 200, headers: ['Cache-Control', 'max-age=60']})
    expect(r.store).toBe(true)
    expect(r.reason).toMatch(/max-age/)
  })

  it.each(['HEAD', 'POST', 'PUT', 'get'])('does not store %s responses', (method) => {
    const r = check({status: 200, headers: ['Cache-Control', 'max-age=60']}, {method, headers: []})
    expect(r.store).toBe(false)
    expect(r.reason).toMatch(/method/)
  })

  it.each([100, 101, 206, 304])('does not store status %i', (status) => {
    expect(check({status, headers: ['Cache-Control', 'max-age=60']}).store).toBe(false)
  })

  it('honours request no-store', () => {
    const r = check({status: 200, headers: ['Cache-Control', 'max-age=60']}, {method: 'GET', headers: ['Cache-Control', 'No-Store']})
    expect(r).toEqual({store: false, reason: 'request Cache-Control: no-store'})
  })

  it('honours response no-store, also when combined with freshness', () => {
    expect(check({status: 200, headers: ['Cache-Control', 'max-age=60, no-store']}).store).toBe(false)
    expect(check({status: 200, headers: ['Cache-Control', 'max-age=60', 'Cache-Control', 'NO-STORE']}).store).toBe(false)
  })

  it('lets must-understand override no-store for understood statuses only (§5.2.2.3)', () => {
    expect(check({status: 200, headers: ['Cache-Control', 'must-understand, no-store, max-age=60']}).store).toBe(true)
    expect(check({status: 299, headers: ['Cache-Control', 'must-understand, no-store, max-age=60']}).store).toBe(false)
    expect(check({status: 299, headers: ['Cache-Control', 'must-understand, max-age=60']}).store).toBe(false)
  })

  it('refuses unqualified private but accepts private="field"', () => {
    expect(check({status: 200, headers: ['Cache-Control', 'private, max-age=60']}).store).toBe(false)
    expect(check({status: 200, headers: ['Cache-Control', 'private="set-cookie", max-age=60']}).store).toBe(true)
  })

  describe('Authorization (§3.5)', () => {
    const auth = {method: 'GET', headers: ['Authorization', 'Basic Zm9vOmJhcg==']}
    it('refuses by default', () => {
      expect(check({status: 200, headers: ['Cache-Control', 'max-age=60']}, auth).store).toBe(false)
    })
    it.each(['public, max-age=60', 's-maxage=60', 'max-age=60, must-revalidate'])('allows with %s', (cc) => {
      expect(check({status: 200, headers: ['Cache-Control', cc]}, auth).store).toBe(true)
    })
    it('does not accept proxy-revalidate alone', () => {
      expect(check({status: 200, headers: ['Cache-Control', 'max-age=60, proxy-revalidate']}, auth).store).toBe(false)
    })
  })

  it('never stores Vary: *', () => {
    const r = check({status: 200, headers: ['Cache-Control', 'max-age=60', 'Vary', 'Accept, *']})
    expect(r.store).toBe(false)
    expect(r.reason).toMatch(/Vary/)
  })

  it('stores Expires even when it is invalid (stale but storable)', () => {
    expect(check({status: 200, headers: ['Expires', '0']}).store).toBe(true)
  })

  it('stores invalid max-age (stale on arrival, can be revalidated)', () => {
    expect(check({status: 200, headers: ['Cache-Control', 'max-age=abc', 'ETag', '"x"']}).store).toBe(true)
  })

  it('stores heuristically cacheable statuses with Last-Modified or ETag, not bare ones', () => {
    expect(check({status: 200, headers: LM}).store).toBe(true)
    expect(check({status: 404, headers: LM}).store).toBe(true)
    expect(check({status: 200, headers: ['ETag', '"v1"']}).store).toBe(true)
    const bare = check({status: 200, headers: ['Content-Type', 'text/plain']})
    expect(bare.store).toBe(false)
    expect(bare.reason).toMatch(/without freshness/)
  })

  it('stores bare heuristically cacheable responses when a default TTL is configured', () => {
    expect(check({status: 200, headers: []}, GET, {...opts, defaultTtlSeconds: 60}).store).toBe(true)
    expect(check({status: 500, headers: []}, GET, {...opts, defaultTtlSeconds: 60}).store).toBe(false)
  })

  it('stores no-cache responses of cacheable statuses', () => {
    expect(check({status: 200, headers: ['Cache-Control', 'no-cache']}).store).toBe(true)
  })

  it.each([299, 302, 500, 503, 999])('stores status %i only with explicit freshness or public', (status) => {
    expect(check({status, headers: LM}).store).toBe(false)
    expect(check({status, headers: ['Cache-Control', 'max-age=60']}).store).toBe(true)
    expect(check({status, headers: ['Cache-Control', 'public']}).store).toBe(true)
  })

  it('uses the targeted field instead of Cache-Control', () => {
    expect(check({status: 200, headers: ['Cache-Control', 'no-store', 'CDN-Cache-Control', 'max-age=60']}).store).toBe(true)
    const r = check({status: 200, headers: ['Cache-Control', 'max-age=60', 'CDN-Cache-Control', 'no-store']})
    expect(r.store).toBe(false)
    expect(r.reason).toMatch(/targeted/)
  })

  it('accepts a custom heuristically-cacheable predicate', () => {
    expect(check({status: 302, headers: LM}, GET, {...opts, heuristicallyCacheable: (s) => s === 302}).store).toBe(true)
  })
})
