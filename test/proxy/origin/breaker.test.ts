import {describe, expect, it} from 'vitest'

import {type BreakerChange, type BreakerOptions, CircuitBreaker} from '../../../src/proxy/origin/breaker.js'
import {RollingWindow} from '../../../src/proxy/origin/rolling-window.js'

function setup(over: Partial<BreakerOptions> = {}) {
  let t = 1_000_000
  const changes: BreakerChange[] = []
  const b = new CircuitBreaker({
    windowMs: 10_000,
    buckets: 10,
    failureThreshold: 0.5,
    minRequests: 10,
    latencyThresholdMs: 0,
    slowRateThreshold: 0.5,
    recoveryTimeoutMs: 5000,
    halfOpenMaxRequests: 2,
    rampUpMs: 10_000,
    now: () => t,
    onStateChange: (c) => changes.push(c),
    ...over,
  })
  return {
    b,
    changes,
    advance: (ms: number) => {
      t += ms
    },
    now: () => t,
    /** Admit and record n requests with this outcome. */
    run(n: number, outcome: 'success' | 'failure', latencyMs = 1) {
      for (let i = 0; i < n; i++) {
        expect(b.admit()).toBe(true)
        t += latencyMs
        b.record(outcome, latencyMs)
      }
    },
  }
}

describe('RollingWindow', () => {
  it('counts what is inside the window, bucket by bucket', () => {
    const w = new RollingWindow(1000, 10)
    w.record(0, true, false)
    w.record(50, false, true)
    w.record(150, false, false)
    expect(w.counts(999)).toEqual({total: 3, failures: 1, slow: 1})
    // The first bucket [0,100) leaves at 1000; the second [100,200) at 1100.
    expect(w.counts(1000)).toEqual({total: 1, failures: 0, slow: 0})
    expect(w.counts(1100)).toEqual({total: 0, failures: 0, slow: 0})
    w.record(5000, true, true)
    expect(w.counts(5000)).toEqual({total: 1, failures: 1, slow: 1})
    expect(w.counts(60_000)).toEqual({total: 0, failures: 0, slow: 0})
    // A clock stepping back records into the newest bucket.
    w.record(59_000, true, false)
    expect(w.counts(60_000).failures).toBe(1)
  })
})

describe('CircuitBreaker', () => {
  it('stays closed below minRequests even when everything fails', () => {
    const s = setup()
    s.run(9, 'failure')
    expect(s.b.state).toBe('closed')
  })

  it('opens exactly when the failure rate reaches the threshold with minRequests', () => {
    const s = setup()
    s.run(6, 'success')
    s.run(3, 'failure')
    expect(s.b.state).toBe('closed') // 9 requests: below minRequests
    s.run(1, 'success') // 10 requests, 30 %
    s.run(1, 'failure') // 11 requests, 4/11 = 36 %
    expect(s.b.state).toBe('closed')
    s.run(1, 'failure') // 12, 5/12 = 41.7 %
    s.run(1, 'failure') // 13, 6/13 = 46 %
    expect(s.b.state).toBe('closed')
    s.run(1, 'failure') // 14, 7/14 = 50 %
    expect(s.b.state).toBe('open')
    expect(s.changes).toEqual([{from: 'closed', to: 'open', at: s.now(), reason: 'failure rate 50% ≥ 50% over 14 requests'}])
    expect(s.b.admit()).toBe(false)
    expect(s.b.canAdmit()).toBe(false)
  })

  it('forgets failures that slid out of the window', () => {
    const s = setup()
    s.run(9, 'failure')
    s.advance(10_000)
    s.run(9, 'success')
    s.run(1, 'failure') // the old 9 failures are gone: 1/10
    expect(s.b.state).toBe('closed')
  })

  it('opens on latency: the share of requests slower than latencyThreshold', () => {
    const s = setup({latencyThresholdMs: 200})
    s.run(5, 'success', 50)
    s.run(4, 'success', 201)
    s.run(1, 'success', 200) // exactly at the threshold is not slow: 4/10
    expect(s.b.state).toBe('closed')
    s.run(1, 'success', 500) // 5/11 = 45 %
    expect(s.b.state).toBe('closed')
    s.run(1, 'success', 500) // 6/12 = 50 %
    expect(s.b.state).toBe('open')
    expect(s.changes[0]!.reason).toMatch(/50% of 12 requests slower than 200 ms/)
  })

  it('open → half-open after recoveryTimeout; half-open admits halfOpenMaxRequests probes; success → ramp-up → closed', () => {
    const s = setup()
    s.run(10, 'failure')
    const openedAt = s.now()
    s.advance(4999)
    expect(s.b.admit()).toBe(false)
    expect(s.b.state).toBe('open')
    s.advance(1)
    expect(s.b.state).toBe('half-open')
    expect(s.changes.at(-1)).toEqual({from: 'open', to: 'half-open', at: openedAt + 5000, reason: 'open for 5000 ms'})
    expect(s.b.admit()).toBe(true)
    expect(s.b.admit()).toBe(true)
    expect(s.b.canAdmit()).toBe(false)
    expect(s.b.admit()).toBe(false)
    s.advance(10)
    s.b.record('success', 10)
    expect(s.b.state).toBe('half-open')
    s.b.record('success', 10)
    expect(s.b.state).toBe('ramp-up')
    const rampAt = s.now()
    // ramp-up: the admitted share of offered requests follows the line 0 → 1 over 10 s.
    const admittedPerSecond: number[] = []
    for (let sec = 0; sec < 10; sec++) {
      let admitted = 0
      for (let i = 0; i < 100; i++) {
        if (s.b.admit()) {
          admitted++
          s.b.record('success', 1)
        }
        s.advance(10)
      }
      admittedPerSecond.push(admitted)
    }
    // Second k (0-based) admits about (k + 0.5) × 10 % of 100 requests.
    admittedPerSecond.forEach((n, k) => expect(Math.abs(n - (k + 0.5) * 10)).toBeLessThanOrEqual(2))
    expect(s.b.state).toBe('closed')
    expect(s.changes.map((c) => `${c.from}→${c.to}`)).toEqual(['closed→open', 'open→half-open', 'half-open→ramp-up', 'ramp-up→closed'])
    expect(s.changes.at(-1)!.at).toBe(rampAt + 10_000)
    expect(s.b.admit()).toBe(true)
  })

  it('a failed probe re-opens the breaker for a full recoveryTimeout', () => {
    const s = setup()
    s.run(10, 'failure')
    s.advance(5000)
    expect(s.b.admit()).toBe(true)
    s.advance(100)
    s.b.record('failure', 100)
    expect(s.b.state).toBe('open')
    s.advance(4999)
    expect(s.b.state).toBe('open')
    s.advance(1)
    expect(s.b.state).toBe('half-open')
  })

  it('a slow probe counts as failed when the latency trigger is on', () => {
    const s = setup({latencyThresholdMs: 100})
    s.run(10, 'failure')
    s.advance(5000)
    expect(s.b.admit()).toBe(true)
    s.advance(150)
    s.b.record('success', 150)
    expect(s.b.state).toBe('open')
    expect(s.changes.at(-1)!.reason).toBe('probe took 150 ms > 100 ms')
  })

  it('a cancelled probe frees its slot; a straggler from before is not taken as a probe', () => {
    const s = setup({halfOpenMaxRequests: 1})
    expect(s.b.admit()).toBe(true) // a slow request started while closed
    s.run(10, 'failure')
    s.advance(5000)
    expect(s.b.admit()).toBe(true)
    expect(s.b.admit()).toBe(false)
    s.advance(10)
    s.b.record('cancelled', 10)
    expect(s.b.admit()).toBe(true)
    s.advance(10)
    // The straggler (started before the breaker opened) answers: not a probe result, so the breaker stays half-open.
    s.b.record('success', 5020)
    expect(s.b.state).toBe('half-open')
    s.b.record('success', 10)
    expect(s.b.state).toBe('ramp-up')
  })

  it('ramp-up trips open again on the failure rate; rampUp 0 closes straight from half-open', () => {
    const s = setup()
    s.run(10, 'failure')
    s.advance(5000)
    s.run(2, 'success')
    expect(s.b.state).toBe('ramp-up')
    s.advance(9000) // 90 % share: most offers are admitted
    let recorded = 0
    while (recorded < 10) {
      if (s.b.admit()) {
        s.b.record('failure', 1)
        recorded++
      }
    }
    expect(s.b.state).toBe('open')

    const z = setup({rampUpMs: 0, halfOpenMaxRequests: 1})
    z.run(10, 'failure')
    z.advance(5000)
    z.run(1, 'success')
    expect(z.b.state).toBe('closed')
    expect(z.changes.map((c) => c.to)).toEqual(['open', 'half-open', 'closed'])
  })

  it('a breaker that re-closes starts from an empty window', () => {
    const s = setup({rampUpMs: 0, halfOpenMaxRequests: 1})
    s.run(10, 'failure')
    s.advance(5000)
    s.run(1, 'success')
    s.run(9, 'failure') // 9 requests since closing: below minRequests
    expect(s.b.state).toBe('closed')
    expect(s.b.snapshot()).toMatchObject({state: 'closed', requests: 9, failureRate: 1, share: 1, opened: 1})
  })

  it('refuses nonsense options', () => {
    const base = {windowMs: 1000, failureThreshold: 0.5, minRequests: 1, latencyThresholdMs: 0, slowRateThreshold: 0.5, recoveryTimeoutMs: 1, halfOpenMaxRequests: 1, rampUpMs: 0}
    expect(() => new CircuitBreaker({...base, failureThreshold: 0})).toThrow(/failureThreshold/)
    expect(() => new CircuitBreaker({...base, halfOpenMaxRequests: 0})).toThrow(/halfOpenMaxRequests/)
    expect(() => new CircuitBreaker({...base, windowMs: 0})).toThrow(/windowMs/)
  })
})
