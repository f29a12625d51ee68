import {describe, expect, it} from 'vitest'

import {toBreakerOptions, toRetryPolicy, UpstreamResilienceConfig} from '../../../src/proxy/origin/config.js'

function issues(config: unknown): string[] {
  const r = UpstreamResilienceConfig.safeParse(config)
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

describe('upstream resilience config', () => {
  it('has working defaults', () => {
    const c = UpstreamResilienceConfig.parse(undefined)
    expect(c.balance).toEqual({algorithm: 'round-robin', hashKey: {from: 'key'}, vnodes: 160, ewmaDecay: 10_000, ewmaInitial: 50})
    expect(c.healthCheck).toBeUndefined()
    expect(c.outlier).toMatchObject({enabled: true, consecutive5xx: 5, consecutiveLocalErrors: 3, baseEjection: 30_000, maxEjection: 300_000, maxEjectedShare: 0.5})
    expect(toBreakerOptions(c.breaker)).toEqual({windowMs: 10_000, failureThreshold: 0.5, minRequests: 20, latencyThresholdMs: 0, slowRateThreshold: 0.5, recoveryTimeoutMs: 10_000, halfOpenMaxRequests: 3, rampUpMs: 10_000})
    const p = toRetryPolicy(c.retry)
    expect(p.attempts).toBe(2)
    expect([...p.onErrors]).toEqual(['connect', 'timeout', 'reset'])
    expect([...p.onStatuses]).toEqual([502, 503, 504])
    expect([...p.methods]).toEqual(['GET', 'HEAD', 'OPTIONS'])
    expect(c.retry.budget).toEqual({ratio: 0.2, minPerSecond: 3})
    expect(c.timeouts).toEqual({connect: undefined, ttfb: undefined, bodyIdle: undefined, total: 0})
    const h = UpstreamResilienceConfig.parse({healthCheck: {path: '/healthz', expectStatus: '200-299,304'}}).healthCheck
    expect(h).toMatchObject({path: '/healthz', method: 'GET', interval: 5000, timeout: 2000, expectStatus: [[200, 299], [304, 304]], rise: 2, fall: 3, initial: 'up'})
    expect(UpstreamResilienceConfig.parse({balance: {algorithm: 'consistent-hash', hashKey: {cookie: 'sid'}}}).balance.hashKey).toEqual({from: 'cookie', name: 'sid'})
  })

  it('refuses what would do nothing or be unsafe, naming the key', () => {
    expect(issues({retry: {methods: ['GET', 'post']}})).toEqual(['retry.methods: POST is not idempotent and is never retried (allowed: GET, HEAD, OPTIONS, TRACE, PUT, DELETE)'])
    expect(issues({balance: {hashKey: {header: 'X-User'}}})).toEqual(['balance.hashKey: hashKey applies to algorithm consistent-hash only, not round-robin'])
    expect(issues({healthCheck: {interval: '1s', timeout: '2s'}})).toEqual(['healthCheck.timeout: timeout must not be longer than interval'])
    expect(issues({healthCheck: {expectStatus: '2xx'}})[0]).toMatch(/^healthCheck.expectStatus: not a status list/)
    expect(issues({retry: {on: [404]}})[0]).toMatch(/^retry.on.0/)
    expect(issues({breaker: {failureThreshold: 0}})[0]).toMatch(/^breaker.failureThreshold/)
    expect(issues({outlier: {baseEjection: '1m', maxEjection: '10s'}})).toEqual(['outlier.maxEjection: maxEjection must not be shorter than baseEjection'])
    expect(issues({timeouts: {ttfb: 'soon'}})[0]).toMatch(/^timeouts.ttfb: not a duration/)
    expect(issues({balance: {algorithm: 'fastest'}})[0]).toMatch(/^balance.algorithm/)
    expect(issues({nope: 1})[0]).toMatch(/nope/)
  })
})
