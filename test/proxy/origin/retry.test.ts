import {describe, expect, it} from 'vitest'

import {type AttemptResult, backoffMs, mayRetry, RetryBudget, type RetryPolicy, runWithRetries} from '../../../src/proxy/origin/retry.js'

const policy: RetryPolicy = {
  attempts: 3,
  onErrors: new Set(['connect', 'timeout', 'reset']),
  onStatuses: new Set([502, 503, 504]),
  methods: new Set(['GET', 'HEAD', 'OPTIONS', 'PUT']),
  backoffBaseMs: 10,
  backoffMaxMs: 50,
}

const noSleep = () => Promise.resolve()

describe('retry policy', () => {
  it('retries only idempotent, configured methods with a replayable body', () => {
    expect(mayRetry(policy, {method: 'GET', replayable: true})).toBe(true)
    expect(mayRetry(policy, {method: 'get', replayable: true})).toBe(true)
    expect(mayRetry(policy, {method: 'GET', replayable: false})).toBe(false)
    expect(mayRetry(policy, {method: 'PUT', replayable: true})).toBe(true)
    expect(mayRetry(policy, {method: 'DELETE', replayable: true})).toBe(false) // not configured
    // POST and PATCH are never retried, even when a configuration names them.
    const reckless = {...policy, methods: new Set(['POST', 'PATCH'])}
    expect(mayRetry(reckless, {method: 'POST', replayable: true})).toBe(false)
    expect(mayRetry(reckless, {method: 'PATCH', replayable: true})).toBe(false)
    expect(mayRetry({...policy, attempts: 1}, {method: 'GET', replayable: true})).toBe(false)
  })

  it('backs off exponentially with full jitter, capped', () => {
    const top = () => 0.999999
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(policy, n, top))).toEqual([9, 19, 39, 49, 49])
    expect(backoffMs(policy, 3, () => 0)).toBe(0)
    expect(backoffMs(policy, 2, () => 0.5)).toBe(10)
  })
})

describe('RetryBudget', () => {
  it('allows retries up to ratio × requests in flight, then only the per-second allowance', () => {
    let t = 0
    const b = new RetryBudget({ratio: 0.2, minPerSecond: 2, now: () => t})
    const done = Array.from({length: 10}, () => b.requestStarted())
    const r1 = b.tryRetry()
    const r2 = b.tryRetry()
    expect(r1 && r2).toBeTruthy() // 0 < 2, 1 < 2
    // 2 retries in flight = 20 % of 10: now the allowance pays (2 tokens), then nothing.
    expect(b.tryRetry()).toBeDefined()
    expect(b.tryRetry()).toBeDefined()
    expect(b.tryRetry()).toBeUndefined()
    t += 500 // half a second: one token back
    expect(b.tryRetry()).toBeDefined()
    expect(b.tryRetry()).toBeUndefined()
    r1!()
    r1!() // a release counts once: 4 in flight is still above 20 % of 10
    expect(b.tryRetry()).toBeUndefined()
    for (let i = 0; i < 9; i++) b.requestStarted() // 19 in flight: 20 % is 3.8, not above 4
    expect(b.tryRetry()).toBeUndefined()
    b.requestStarted()
    b.requestStarted() // 21 in flight: 4 < 4.2
    expect(b.tryRetry()).toBeDefined()
    expect(b.snapshot()).toEqual({requestsInFlight: 21, retriesInFlight: 5, retries: 6, refused: 4})
    for (const d of done) d()
    expect(b.snapshot().requestsInFlight).toBe(11)
  })
})

function scripted(results: Array<AttemptResult<string>>) {
  const calls: number[] = []
  return {
    calls,
    attempt: async (n: number) => {
      calls.push(n)
      const r = results[n - 1]
      if (!r) throw new Error(`unexpected attempt ${n}`)
      return r
    },
  }
}

describe('runWithRetries', () => {
  it('retries a connect error and a 503, disposing of the 503, and returns the first good answer', async () => {
    const s = scripted([{error: new Error('refused'), kind: 'connect'}, {response: 'busy', status: 503}, {response: 'ok', status: 200}])
    const disposed: string[] = []
    const retries: string[] = []
    const out = await runWithRetries({policy, request: {method: 'GET', replayable: true}, dispose: (r) => disposed.push(r), sleep: noSleep, onRetry: (i) => retries.push(i.reason)}, s.attempt)
    expect(out).toBe('ok')
    expect(s.calls).toEqual([1, 2, 3])
    expect(disposed).toEqual(['busy'])
    expect(retries).toEqual(['connect', '503'])
  })

  it('gives the last answer or error back after the last attempt, and does not retry what the policy does not name', async () => {
    const a = scripted([{response: 'x', status: 503}, {response: 'y', status: 503}, {response: 'z', status: 503}])
    expect(await runWithRetries({policy, request: {method: 'GET', replayable: true}, dispose: () => {}, sleep: noSleep}, a.attempt)).toBe('z')
    const b = scripted([{error: new Error('boom'), kind: 'other'}])
    await expect(runWithRetries({policy, request: {method: 'GET', replayable: true}, dispose: () => {}, sleep: noSleep}, b.attempt)).rejects.toThrow('boom')
    const c = scripted([{response: 'teapot', status: 500}])
    expect(await runWithRetries({policy, request: {method: 'GET', replayable: true}, dispose: () => {}, sleep: noSleep}, c.attempt)).toBe('teapot')
  })

  it('never sends a POST twice', async () => {
    const s = scripted([{error: new Error('refused'), kind: 'connect'}])
    await expect(runWithRetries({policy: {...policy, methods: new Set(['POST'])}, request: {method: 'POST', replayable: true}, dispose: () => {}, sleep: noSleep}, s.attempt)).rejects.toThrow('refused')
    expect(s.calls).toEqual([1])
  })

  it('stops when no other member is left, when the budget is spent, or when the client went away', async () => {
    const s = scripted([{response: 'a', status: 503}])
    expect(await runWithRetries({policy, request: {method: 'GET', replayable: true}, dispose: () => {}, sleep: noSleep, canTryAnother: () => false}, s.attempt)).toBe('a')
    const budget = new RetryBudget({ratio: 0, minPerSecond: 0})
    const t = scripted([{response: 'b', status: 503}])
    expect(await runWithRetries({policy, budget, request: {method: 'GET', replayable: true}, dispose: () => {}, sleep: noSleep}, t.attempt)).toBe('b')
    expect(budget.snapshot()).toEqual({requestsInFlight: 0, retriesInFlight: 0, retries: 0, refused: 1})
    const ac = new AbortController()
    const u = scripted([{response: 'c', status: 503}, {response: 'd', status: 200}])
    const p = runWithRetries({policy: {...policy, backoffBaseMs: 10_000, backoffMaxMs: 10_000}, request: {method: 'GET', replayable: true}, dispose: () => {}, signal: ac.signal, random: () => 0.5}, u.attempt)
    setTimeout(() => ac.abort(new Error('client gone')), 20)
    await expect(p).rejects.toThrow('client gone')
    expect(u.calls).toEqual([1])
  })

  it('holds a budget slot for each retry only while it runs', async () => {
    const budget = new RetryBudget({ratio: 1, minPerSecond: 0})
    const seen: number[] = []
    const out = await runWithRetries({policy, budget, request: {method: 'GET', replayable: true}, dispose: () => {}, sleep: noSleep}, async (n) => {
      seen.push(budget.snapshot().retriesInFlight)
      return n < 3 ? {response: 'no', status: 502} : {response: 'yes', status: 200}
    })
    expect(out).toBe('yes')
    expect(seen).toEqual([0, 1, 1])
    expect(budget.snapshot()).toEqual({requestsInFlight: 0, retriesInFlight: 0, retries: 2, refused: 0})
  })
})
