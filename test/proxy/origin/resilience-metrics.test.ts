import {Registry} from 'prom-client'
import {describe, expect, it} from 'vitest'

import {UpstreamResilienceConfig} from '../../../src/proxy/origin/config.js'
import {GroupResilience} from '../../../src/proxy/origin/group-resilience.js'
import {registerResilienceMetrics} from '../../../src/proxy/origin/resilience-metrics.js'

describe('resilience metrics', () => {
  it('exposes health, breaker state, in-flight, EWMA, ejections, retries and rate-limit decisions', async () => {
    let t = 0
    const group = new GroupResilience(
      [
        {name: 'a', url: 'http://127.0.0.1:1', weight: 1, backup: false},
        {name: 'b', url: 'http://127.0.0.1:2', weight: 1, backup: false},
      ],
      UpstreamResilienceConfig.parse({breaker: {minRequests: 2}, outlier: {consecutive5xx: 2}}),
      {now: () => t},
    )
    // Two 503s from b: ejected by the outlier detector and its breaker opens.
    for (let i = 0; i < 4; i++) {
      const ticket = group.choose()!
      t += 10
      ticket.finish({status: ticket.member === 'b' ? 503 : 200}, 10)
    }
    const registry = new Registry()
    registerResilienceMetrics(registry, {groups: () => [{name: 'default', group}], rateLimitDecisions: () => ({allow: 5, reject: 2, delay: 1, drop: 0})})
    const text = await registry.metrics()
    expect(text).toContain('tavern_upstream_health{group="default",upstream="a"} 1')
    expect(text).toContain('tavern_upstream_health{group="default",upstream="b"} 0')
    expect(text).toContain('tavern_upstream_breaker_state{group="default",upstream="b"} 1')
    expect(text).toContain('tavern_upstream_breaker_state{group="default",upstream="a"} 0')
    expect(text).toContain('tavern_upstream_ejections_total{group="default",upstream="b"} 1')
    expect(text).toContain('tavern_upstream_in_flight{group="default",upstream="a"} 0')
    expect(text).toMatch(/tavern_upstream_latency_ewma_seconds\{group="default",upstream="a"\} 0\.0\d+/)
    expect(text).toContain('tavern_upstream_retries_total{group="default"} 0')
    expect(text).toContain('tavern_ratelimit_decisions_total{action="reject"} 2')
  })
})
