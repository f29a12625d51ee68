import {describe, expect, it} from 'vitest'

import {RateLimitsConfig} from '../../../src/traffic/ratelimit/config.js'
import {rateLimitHeaders, retryAfterSeconds} from '../../../src/traffic/ratelimit/headers.js'
import {limitKey, queryParam} from '../../../src/traffic/ratelimit/keys.js'
import {type RateLimitRequest, RateLimiter, type RateLimitVerdict, rejectAnswer} from '../../../src/traffic/ratelimit/limiter.js'
import {LocalLimiterStore} from '../../../src/traffic/ratelimit/local-store.js'

function limiter(config: unknown, now = () => 1_700_000_000_000) {
  const c = RateLimitsConfig.parse(config)
  return new RateLimiter(c, {local: new LocalLimiterStore({maxKeys: 1000, now})})
}

function req(over: Partial<RateLimitRequest> = {}): RateLimitRequest {
  return {method: 'GET', target: '/', headers: [], clientIp: '192.0.2.1', ...over}
}

function sync(v: RateLimitVerdict | Promise<RateLimitVerdict>): RateLimitVerdict {
  if (v instanceof Promise) throw new Error('a local-only limiter must answer synchronously')
  return v
}

describe('rate-limit config', () => {
  it('fills defaults', () => {
    const c = RateLimitsConfig.parse({rules: [{name: 'ip', limit: 10}]})
    expect(c.rules[0]).toMatchObject({algorithm: 'token-bucket', window: 1000, key: [{ip: true}], action: 'reject', status: 429, store: 'local', headers: true, exemptCacheHits: false, ifMissing: 'skip'})
    expect(c.localMaxKeys).toBe(100_000)
    expect(RateLimitsConfig.parse(undefined).rules).toEqual([])
  })

  it('names the key and the problem', () => {
    const issues = (config: unknown) => {
      const r = RateLimitsConfig.safeParse(config)
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    }
    expect(issues({rules: [{name: 'a', limit: 1, algorithm: 'fixed-window', action: 'delay'}]})).toEqual(['rules.0.action: delay needs a bucket algorithm (token-bucket or leaky-bucket), not fixed-window'])
    expect(issues({rules: [{name: 'a', limit: 1, maxDelay: '1s'}]})).toEqual(['rules.0.maxDelay: maxDelay applies to action: delay only'])
    expect(issues({rules: [{name: 'a', limit: 1}, {name: 'a', limit: 2}]})).toEqual(['rules.1.name: duplicate rule name "a"'])
    expect(issues({rules: [{name: 'a', limit: 1, store: 'redis'}]})).toEqual(['rules.0.store: store: redis needs rateLimits.redis.url'])
    expect(issues({rules: [{name: 'a"b', limit: 1}]})[0]).toMatch(/^rules.0.name: must be 1–64 printable ASCII/)
    expect(issues({rules: [{name: 'a', limit: 1, algorithm: 'sliding-window', burst: 5}]})).toEqual(['rules.0.burst: burst applies to token-bucket and leaky-bucket only, not sliding-window'])
    expect(issues({rules: [{name: 'a', limit: 1, window: 'soon'}]})[0]).toMatch(/^rules.0.window: not a duration/)
    expect(issues({rules: [{name: 'a', limit: 1, key: [{apiKey: {}}]}]})[0]).toMatch(/apiKey needs a header/)
    expect(issues({redis: {url: 'http://x'}})[0]).toMatch(/^redis.url: expected redis:\/\//)
    expect(issues({rules: [{name: 'a', limit: 1, failMode: 'open'}]})).toEqual(['rules.0.failMode: failMode applies to store: redis only (a local rule never waits for Redis)'])
    expect(issues({redis: {url: 'redis://x'}, rules: [{name: 'a', limit: 1, store: 'redis', failMode: 'sometimes'}]})[0]).toMatch(/^rules.0.failMode: /)
    // The rule's own mode is optional (the store applies rateLimits.redis.failMode, default local).
    const c = RateLimitsConfig.parse({redis: {url: 'redis://x'}, rules: [{name: 'a', limit: 1, store: 'redis'}, {name: 'b', limit: 1, store: 'redis', failMode: 'closed'}]})
    expect(c.redis?.failMode).toBe('local')
    expect(c.rules.map((r) => r.failMode)).toEqual([undefined, 'closed'])
  })
})

describe('limit keys', () => {
  it('joins parts; a missing header or API key gives no key', () => {
    const r = req({headers: ['X-Api-Key', 'k1', 'X-User', 'a|b%'], target: '/p?api_key=q1&x=2', route: 'api'})
    expect(limitKey([{ip: true}, {route: true}], r)).toBe('192.0.2.1|api')
    expect(limitKey([{header: 'x-user'}], r)).toBe('a%7Cb%25')
    expect(limitKey([{apiKey: {header: 'x-api-key', query: 'api_key'}}], r)).toBe('k1')
    expect(limitKey([{apiKey: {header: 'x-other', query: 'api_key'}}], r)).toBe('q1')
    expect(limitKey([{apiKey: {query: 'nope'}}], r)).toBeUndefined()
    expect(limitKey([{header: 'x-none'}, {ip: true}], r)).toBeUndefined()
    expect(limitKey([{route: true}], req())).toBe('default')
    expect(limitKey([{header: 'x-long'}], req({headers: ['X-Long', 'v'.repeat(5000)]}))).toMatch(/^#[A-Za-z0-9_-]{43}$/)
    expect(queryParam('/a?b=%20c#frag', 'b')).toBe(' c')
  })
})

describe('RateLimit headers', () => {
  it('formats the draft fields and Retry-After', () => {
    expect(rateLimitHeaders([{name: 'default', limit: 100, windowMs: 60_000, remaining: 50, resetMs: 29_001}])).toEqual(['RateLimit-Policy', '"default";q=100;w=60', 'RateLimit', '"default";r=50;t=30'])
    expect(rateLimitHeaders([{name: 'a', limit: 1, windowMs: 500, remaining: 0, resetMs: 0}, {name: 'b', limit: 5, windowMs: 1000, remaining: 4.7, resetMs: 10}])).toEqual(['RateLimit-Policy', '"a";q=1;w=1, "b";q=5;w=1', 'RateLimit', '"a";r=0;t=0, "b";r=4;t=1'])
    expect([0, 1, 999, 1000, 1001].map(retryAfterSeconds)).toEqual([0, 1, 1, 1, 2])
  })
})

describe('RateLimiter', () => {
  it('allows within the limit with headers, then rejects with Retry-After; synchronous with local stores', () => {
    const l = limiter({rules: [{name: 'per-ip', limit: 2, window: '1s', burst: 2}]})
    expect(sync(l.check(req())).headers).toEqual(['RateLimit-Policy', '"per-ip";q=2;w=1', 'RateLimit', '"per-ip";r=1;t=1'])
    expect(sync(l.check(req())).action).toBe('allow')
    const v = sync(l.check(req()))
    expect(v).toMatchObject({action: 'reject', status: 429, rule: 'per-ip', retryAfterMs: 500})
    expect(v.headers.slice(-2)).toEqual(['Retry-After', '1'])
    const a = rejectAnswer(v)
    expect(a.status).toBe(429)
    expect(a.body).toMatch(/per-ip/)
    // Another client has its own bucket.
    expect(sync(l.check(req({clientIp: '192.0.2.2'}))).action).toBe('allow')
    expect(l.decisions()).toEqual({allow: 3, reject: 1, delay: 0, drop: 0})
  })

  it('matches by method, path prefix and route; skips or shares when a key part is missing', () => {
    const l = limiter({
      rules: [
        {name: 'writes', limit: 1, match: {methods: ['post'], paths: ['/api/']}},
        {name: 'by-user', limit: 1, key: [{header: 'X-User'}]},
        {name: 'anon', limit: 1, key: [{header: 'X-Anon'}], ifMissing: 'share', match: {routes: ['public']}},
      ],
    })
    expect(sync(l.check(req({method: 'POST', target: '/api/x?q=1'}))).action).toBe('allow')
    expect(sync(l.check(req({method: 'POST', target: '/api/y'}))).rule).toBe('writes')
    expect(sync(l.check(req({method: 'POST', target: '/other'}))).action).toBe('allow')
    expect(sync(l.check(req({method: 'GET', target: '/api/x'}))).action).toBe('allow')
    // No X-User: by-user does not apply at all (no headers either).
    expect(sync(l.check(req())).headers).toEqual([])
    expect(sync(l.check(req({route: 'public'}))).action).toBe('allow')
    expect(sync(l.check(req({route: 'public', clientIp: '198.51.100.7'}))).rule).toBe('anon')
  })

  it('the first refusing rule decides, drop closes, and every covering rule is counted', () => {
    const l = limiter({rules: [{name: 'wide', limit: 100}, {name: 'tight', limit: 1, action: 'drop'}]})
    expect(sync(l.check(req())).action).toBe('allow')
    const v = sync(l.check(req()))
    expect(v).toMatchObject({action: 'drop', rule: 'tight'})
    expect(v.headers[1]).toBe('"wide";q=100;w=1, "tight";q=1;w=1')
  })

  it('delay holds requests for their turn in a leaky bucket, bounded by maxDelay and the queue', () => {
    const l = limiter({rules: [{name: 'smooth', algorithm: 'leaky-bucket', limit: 10, window: '1s', burst: 10, action: 'delay', maxDelay: '250ms', maxQueue: 2}]})
    const a = sync(l.check(req()))
    expect(a).toMatchObject({action: 'allow', delayMs: 0})
    const b = sync(l.check(req()))
    expect(b).toMatchObject({action: 'delay', delayMs: 100, rule: 'smooth'})
    const c = sync(l.check(req()))
    expect(c).toMatchObject({action: 'delay', delayMs: 200})
    // Its turn would come in 300 ms, over maxDelay: refused.
    const d = sync(l.check(req()))
    expect(d).toMatchObject({action: 'reject', rule: 'smooth'})
    b.release()
    b.release()
    c.release()
    expect(l.decisions()).toEqual({allow: 1, reject: 1, delay: 2, drop: 0})
  })

  it('a full delay queue refuses even a delay within maxDelay', () => {
    const l = limiter({rules: [{name: 'q', algorithm: 'token-bucket', limit: 10, window: '1s', burst: 1, action: 'delay', maxDelay: '10s', maxQueue: 1}]})
    expect(sync(l.check(req())).action).toBe('allow')
    const held = sync(l.check(req()))
    expect(held.action).toBe('delay')
    expect(sync(l.check(req())).action).toBe('reject')
    held.release()
    expect(sync(l.check(req())).action).toBe('delay')
  })

  it('rules exempting cache hits run in the origin phase only', () => {
    const l = limiter({rules: [{name: 'origin-only', limit: 1, exemptCacheHits: true}]})
    expect(l.has('request')).toBe(false)
    expect(l.has('origin')).toBe(true)
    for (let i = 0; i < 5; i++) expect(sync(l.check(req(), 'request')).action).toBe('allow')
    expect(sync(l.check(req(), 'origin')).action).toBe('allow')
    expect(sync(l.check(req(), 'origin')).action).toBe('reject')
  })
})
