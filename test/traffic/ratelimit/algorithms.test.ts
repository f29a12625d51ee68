/**
 * Each algorithm at its edges (bursts, refill, window boundaries), driven by a controlled clock, run twice: against
 * the local store (the TypeScript steps) and against a real Redis (the Lua scripts, given the same clock). The two
 * must agree to the number.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {LocalLimiterStore} from '../../../src/traffic/ratelimit/local-store.js'
import {RedisLimiterStore} from '../../../src/traffic/ratelimit/redis-store.js'
import type {LimitDecision, LimitSpec} from '../../../src/traffic/ratelimit/types.js'
import {type RedisServer, redisServerPath, startRedis} from '../../helpers/redis.js'

interface Step {
  t: number
  cost?: number
  /** How many identical decisions at this time (default 1). */
  times?: number
  expect: Partial<LimitDecision>
}

interface Scenario {
  name: string
  spec: LimitSpec
  steps: Step[]
}

const T0 = 1_700_000_000_000 // a window-aligned epoch (multiple of 1000)

const scenarios: Scenario[] = [
  {
    name: 'token bucket: a burst of `burst`, then one per refill interval, refill capped at burst',
    spec: {algorithm: 'token-bucket', limit: 10, windowMs: 1000, burst: 5, maxDelayMs: 0},
    steps: [
      {t: 0, expect: {allowed: true, remaining: 4}},
      {t: 0, times: 3, expect: {allowed: true}},
      {t: 0, expect: {allowed: true, remaining: 0, resetMs: 500}},
      {t: 0, expect: {allowed: false, retryAfterMs: 100}},
      {t: 99, expect: {allowed: false}},
      {t: 100, expect: {allowed: true, remaining: 0}},
      {t: 100, expect: {allowed: false, retryAfterMs: 100}},
      {t: 60_000, times: 5, expect: {allowed: true}},
      {t: 60_000, expect: {allowed: false}},
      {t: 60_000, cost: 6, expect: {allowed: false, retryAfterMs: 1000}},
    ],
  },
  {
    name: 'token bucket with maxDelay: borrows refill time up to the bound, then refuses',
    spec: {algorithm: 'token-bucket', limit: 10, windowMs: 1000, burst: 1, maxDelayMs: 250},
    steps: [
      {t: 0, expect: {allowed: true, delayMs: 0}},
      {t: 0, expect: {allowed: true, delayMs: 100}},
      {t: 0, expect: {allowed: true, delayMs: 200}},
      {t: 0, expect: {allowed: false, retryAfterMs: 50}},
      {t: 300, expect: {allowed: true, delayMs: 0}},
    ],
  },
  {
    name: 'leaky bucket: queue of `burst` behind the one served, drained one per T',
    spec: {algorithm: 'leaky-bucket', limit: 10, windowMs: 1000, burst: 2, maxDelayMs: 0},
    steps: [
      {t: 0, expect: {allowed: true, delayMs: 0, remaining: 2}},
      {t: 0, expect: {allowed: true, remaining: 1}},
      {t: 0, expect: {allowed: true, remaining: 0, resetMs: 300}},
      {t: 0, expect: {allowed: false, retryAfterMs: 100}},
      {t: 99, expect: {allowed: false}},
      {t: 100, expect: {allowed: true}},
      {t: 100, expect: {allowed: false}},
      // A steady client at exactly the rate is never queued.
      {t: 400, expect: {allowed: true, remaining: 2}},
      {t: 500, expect: {allowed: true, remaining: 2}},
      {t: 600, expect: {allowed: true, remaining: 2}},
      // A request of cost 3 needs two more places behind the one being served.
      {t: 650, cost: 3, expect: {allowed: false, retryAfterMs: 50}},
      {t: 700, cost: 3, expect: {allowed: true, remaining: 0, resetMs: 300}},
    ],
  },
  {
    name: 'leaky bucket with delay: each accepted request waits for its turn, bounded by maxDelay',
    spec: {algorithm: 'leaky-bucket', limit: 10, windowMs: 1000, burst: 5, maxDelayMs: 250},
    steps: [
      {t: 0, expect: {allowed: true, delayMs: 0}},
      {t: 0, expect: {allowed: true, delayMs: 100}},
      {t: 0, expect: {allowed: true, delayMs: 200}},
      {t: 0, expect: {allowed: false, retryAfterMs: 50}},
      {t: 50, expect: {allowed: true, delayMs: 250}},
      {t: 50, expect: {allowed: false}},
    ],
  },
  {
    name: 'fixed window: limit per aligned window; a new window starts afresh (the double burst at the boundary)',
    spec: {algorithm: 'fixed-window', limit: 3, windowMs: 1000, burst: 0, maxDelayMs: 0},
    steps: [
      {t: 0, expect: {allowed: true, remaining: 2, resetMs: 1000}},
      {t: 998, times: 2, expect: {allowed: true}},
      {t: 998, expect: {allowed: false, retryAfterMs: 2, remaining: 0}},
      {t: 999, expect: {allowed: false, retryAfterMs: 1}},
      {t: 1000, times: 3, expect: {allowed: true}},
      {t: 1000, expect: {allowed: false, retryAfterMs: 1000}},
      {t: 5000, cost: 4, expect: {allowed: false, retryAfterMs: 1000}},
    ],
  },
  {
    name: 'sliding window: the previous window weighs in, so the boundary double burst is refused',
    spec: {algorithm: 'sliding-window', limit: 10, windowMs: 1000, burst: 0, maxDelayMs: 0},
    steps: [
      {t: 999, times: 10, expect: {allowed: true}},
      {t: 999, expect: {allowed: false, retryAfterMs: 101}}, // at 1100 the previous 10 weigh 9
      // Next window: the previous count still weighs (1000 − 1)/1000 of 10 → nothing left.
      {t: 1000, expect: {allowed: false, remaining: 0, retryAfterMs: 100}},
      {t: 1100, expect: {allowed: true, remaining: 0}},
      {t: 1100, expect: {allowed: false, retryAfterMs: 100}},
      {t: 1500, times: 4, expect: {allowed: true}},
      {t: 1500, expect: {allowed: false}},
      // Two windows later nothing is left of it.
      {t: 3000, expect: {allowed: true, remaining: 9, resetMs: 2000}},
      // Cost beyond what is left waits for the next window, where this one's count still weighs.
      {t: 3000, cost: 10, expect: {allowed: false, retryAfterMs: 2000}},
      {t: 3000, cost: 9, expect: {allowed: true, remaining: 0}},
    ],
  },
]

interface Driver {
  decide(id: string, spec: LimitSpec, cost: number): Promise<LimitDecision>
}

function runScenarios(name: string, make: (clock: () => number) => Driver) {
  describe(name, () => {
    for (const sc of scenarios) {
      it(sc.name, async () => {
        let now = T0
        const d = make(() => now)
        const id = `${sc.spec.algorithm}:${Math.random().toString(36).slice(2)}`
        for (const [i, step] of sc.steps.entries()) {
          now = T0 + step.t
          for (let k = 0; k < (step.times ?? 1); k++) {
            const got = await d.decide(id, sc.spec, step.cost ?? 1)
            const picked = Object.fromEntries(Object.keys(step.expect).map((f) => [f, got[f as keyof LimitDecision]]))
            // Float noise from the two languages is rounded away; the numbers are ms.
            for (const [f, v] of Object.entries(picked)) if (typeof v === 'number') picked[f] = Math.round(v * 1000) / 1000
            expect(picked, `step ${i} (t=${step.t}) #${k + 1}`).toEqual(step.expect)
          }
        }
      })
    }
  })
}

runScenarios('local store', (clock) => {
  const store = new LocalLimiterStore({maxKeys: 100, now: clock})
  return {decide: async (id, spec, cost) => store.decide('rule', id, spec, cost)}
})

describe.skipIf(!redisServerPath)('redis store (Lua)', () => {
  let redis: RedisServer
  const stores: RedisLimiterStore[] = []
  beforeAll(async () => {
    redis = (await startRedis())!
  })
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()))
    await redis?.close()
  })
  runScenarios('same scenarios through Redis', (clock) => {
    const store = new RedisLimiterStore({url: redis.url, prefix: 'test:', commandTimeoutMs: 2000, connectTimeoutMs: 2000, retryIntervalMs: 1000, failMode: 'closed', fallbackShare: 1, fallback: new LocalLimiterStore({maxKeys: 10}), clock})
    stores.push(store)
    const ready = store.waitReady(5000)
    return {
      async decide(id, spec, cost) {
        expect(await ready).toBe(true)
        const d = await store.decide('rule', id, spec, cost)
        expect(d.source).toBe('redis')
        return d
      },
    }
  })
})

describe('local store bounds', () => {
  it('forgets the least recently used key beyond maxKeys, and expired states', () => {
    let now = T0
    const store = new LocalLimiterStore({maxKeys: 2, now: () => now})
    const spec: LimitSpec = {algorithm: 'fixed-window', limit: 1, windowMs: 1000, burst: 0, maxDelayMs: 0}
    expect(store.decide('r', 'a', spec, 1).allowed).toBe(true)
    expect(store.decide('r', 'b', spec, 1).allowed).toBe(true)
    expect(store.decide('r', 'a', spec, 1).allowed).toBe(false) // a is now the most recent
    expect(store.decide('r', 'c', spec, 1).allowed).toBe(true) // evicts b
    expect(store.size).toBe(2)
    expect(store.decide('r', 'a', spec, 1).allowed).toBe(false)
    expect(store.decide('r', 'b', spec, 1).allowed).toBe(true) // b was forgotten: a fresh quota
    now += 1000
    expect(store.decide('r', 'a', spec, 1).allowed).toBe(true)
  })
})
