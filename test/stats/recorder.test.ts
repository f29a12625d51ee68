import {describe, expect, it} from 'vitest'

import {logBucketIndex} from '../../src/stats/histogram.js'
import {SpaceSaving} from '../../src/stats/space-saving.js'
import {Stats} from '../../src/stats/recorder.js'
import type {CacheOutcome} from '../../src/stats/schema.js'

const T0 = 1_700_000_000_000 // a whole second, so second boundaries are easy to reason about

function clock(start = T0) {
  let t = start
  return {now: () => t, advance: (ms: number) => (t += ms), set: (ms: number) => (t = ms)}
}

function finish(s: Stats, outcome: CacheOutcome, opts: {status?: number; bytes?: number; ms?: number; key?: string; collapsed?: boolean} = {}) {
  s.requestStarted()
  s.requestFinished({outcome, status: opts.status ?? 200, bytesOut: opts.bytes ?? 0, durationMs: opts.ms ?? 1, key: opts.key, collapsed: opts.collapsed})
}

/** Deterministic PRNG (mulberry32) so the skewed stream is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

describe('Stats counters', () => {
  it('counts requests, bytes, outcomes, status classes, origin and fills', () => {
    const c = clock()
    const s = new Stats({now: c.now})
    finish(s, 'hit', {bytes: 100})
    finish(s, 'hit', {bytes: 100, status: 304})
    finish(s, 'stale', {bytes: 50})
    finish(s, 'revalidated', {bytes: 50})
    finish(s, 'miss', {bytes: 700, collapsed: true})
    finish(s, 'bypass', {bytes: 1000, status: 404})
    finish(s, 'error', {bytes: 0, status: 502})
    s.requestStarted() // still in flight
    s.originRequest({ttfbMs: 20, bytesIn: 700, status: 200})
    s.originRequest({ttfbMs: undefined, bytesIn: 0, status: undefined, error: 'ECONNREFUSED'})
    s.originRequest({ttfbMs: 5, bytesIn: 10, status: 503})
    s.fillStarted()
    s.fillStarted()
    s.fillStarted()
    s.fillFinished(true)
    s.fillFinished(false)

    const snap = s.snapshot()
    expect(snap.requests.total).toBe(7)
    expect(snap.requests.inFlight).toBe(1)
    expect(snap.requests.byOutcome).toEqual({hit: 2, stale: 1, revalidated: 1, miss: 1, bypass: 1, error: 1})
    expect(snap.requests.bytesByOutcome.hit).toBe(200)
    expect(snap.requests.bytesOut).toBe(2000)
    expect(snap.requests.statusClasses).toEqual({'1xx': 0, '2xx': 4, '3xx': 1, '4xx': 1, '5xx': 1})
    expect(snap.requests.collapsed).toBe(1)
    // served from cache: 4 of 6 lookups (bypass excluded); bytes 300 of 1000
    expect(snap.requests.hitRatio).toBeCloseTo(4 / 6)
    expect(snap.requests.byteHitRatio).toBeCloseTo(300 / 1000)
    expect(snap.origin).toMatchObject({requests: 3, bytesIn: 710, errors: 1, byResult: {'2xx': 1, '5xx': 1, error: 1}})
    expect(snap.origin.lastError?.message).toBe('ECONNREFUSED')
    expect(s.originErrorsByKind()).toEqual({ECONNREFUSED: 1})
    expect(snap.fills).toEqual({started: 3, stored: 1, aborted: 1, inFlight: 1})
    expect(s.requestMatrix()).toContainEqual({outcome: 'hit', statusClass: '3xx', count: 1})
    // The snapshot is plain data.
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap)
  })

  it('reports probes, and a throwing probe as a probe error', () => {
    const s = new Stats({now: clock().now})
    expect(s.snapshot().storage).toBeNull()
    s.setStorageProbe(() => ({objects: 3, diskBytes: 4096, memoryBytes: 100, memoryObjects: 1, evictions: 2, expiredRemoved: 1}))
    s.setUpstreamProbe(() => [{name: 'api', url: 'http://127.0.0.1:1', healthy: false, inFlight: 0, failures: 5}])
    let snap = s.snapshot()
    expect(snap.storage?.diskBytes).toBe(4096)
    expect(snap.upstreams).toEqual([{name: 'api', url: 'http://127.0.0.1:1', healthy: false, inFlight: 0, failures: 5}])
    s.setStorageProbe(() => {
      throw new Error('lmdb closed')
    })
    snap = s.snapshot()
    expect(snap.storage).toBeNull()
    expect(snap.probeErrors).toEqual(['storage probe: lmdb closed'])
  })

  it('keeps uptime from the injected clock', () => {
    const c = clock()
    const s = new Stats({now: c.now})
    c.advance(90_500)
    expect(s.snapshot().uptimeSec).toBe(91)
    expect(s.snapshot().startedAt).toBe(T0)
  })
})

describe('Stats per-second series (ring buffers)', () => {
  it('places each second in its slot and ends with the last complete second', () => {
    const c = clock()
    const s = new Stats({now: c.now})
    for (let i = 0; i < 5; i++) finish(s, 'hit', {bytes: 10}) // second 0: 5 req
    c.advance(1000)
    for (let i = 0; i < 3; i++) finish(s, 'miss', {bytes: 100}) // second 1: 3 req
    c.advance(2000) // second 3 (second 2 empty)
    finish(s, 'hit', {bytes: 10}) // current second, not complete yet
    const snap = s.snapshot()
    expect(snap.series.requestsPerSec).toEqual([5, 3, 0])
    expect(snap.series.hitRatio).toEqual([1, 0, null])
    expect(snap.series.bytesOutPerSec).toEqual([50, 300, 0])
    expect(snap.series.endAt).toBe(T0 + 3000)
    // rates: last 3 complete seconds (uptime is 3 s) → 8 requests / 3 s
    expect(snap.rates.windowSec).toBe(3)
    expect(snap.rates.requestsPerSec).toBeCloseTo(8 / 3)
    expect(snap.rates.hitRatio).toBeCloseTo(5 / 8)
  })

  it('rolls over after 5 minutes without growing', () => {
    const c = clock()
    const s = new Stats({now: c.now})
    for (let sec = 0; sec < 400; sec++) {
      for (let i = 0; i < sec % 7; i++) finish(s, 'hit', {bytes: 1})
      c.advance(1000)
    }
    const snap = s.snapshot()
    expect(snap.series.requestsPerSec).toHaveLength(300)
    // oldest point is second 100, newest second 399
    expect(snap.series.requestsPerSec[0]).toBe(100 % 7)
    expect(snap.series.requestsPerSec[299]).toBe(399 % 7)
    // A long idle gap leaves zeros, not stale values from the previous lap.
    c.advance(299_000)
    finish(s, 'miss')
    c.advance(1000)
    const later = s.snapshot()
    expect(later.series.requestsPerSec.reduce((a, b) => a + b, 0)).toBe(1)
    expect(later.series.requestsPerSec[299]).toBe(1)
    expect(later.series.hitRatio[299]).toBe(0)
  })

  it('tracks origin bytes per second', () => {
    const c = clock()
    const s = new Stats({now: c.now})
    s.originRequest({ttfbMs: 3, bytesIn: 4096, status: 200})
    c.advance(1000)
    const snap = s.snapshot()
    expect(snap.series.bytesInPerSec).toEqual([4096])
    expect(snap.rates.bytesInPerSec).toBe(4096)
    expect(snap.rates.originRequestsPerSec).toBe(1)
  })
})

describe('Stats latency percentiles', () => {
  it('matches known samples within bucket precision', () => {
    const c = clock()
    const s = new Stats({now: c.now})
    // 1..1000 ms, one each, spread over 10 seconds
    for (let i = 1; i <= 1000; i++) {
      finish(s, 'hit', {ms: i})
      if (i % 100 === 0) c.advance(1000)
    }
    const l = s.snapshot().latency.client
    expect(l.count).toBe(1000)
    const within = (actual: number | null, expected: number) => {
      expect(actual).not.toBeNull()
      expect(Math.abs((actual ?? 0) - expected) / expected).toBeLessThan(0.05)
    }
    within(l.p50Ms, 500)
    within(l.p95Ms, 950)
    within(l.p99Ms, 990)
    expect(l.maxMs).toBe(1000)
  })

  it('is a sliding last-minute window', () => {
    const c = clock()
    const s = new Stats({now: c.now})
    for (let i = 0; i < 100; i++) finish(s, 'hit', {ms: 1000})
    c.advance(30_000)
    for (let i = 0; i < 100; i++) finish(s, 'hit', {ms: 2})
    expect(s.snapshot().latency.client.p99Ms).toBeGreaterThan(900)
    c.advance(31_000) // the slow second is now 61 s old
    const l = s.snapshot().latency.client
    expect(l.count).toBe(100)
    expect(l.p99Ms).toBeLessThan(2.2)
    c.advance(60_000)
    expect(s.snapshot().latency.client).toEqual({count: 0, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null})
  })

  it('measures origin TTFB separately', () => {
    const s = new Stats({now: clock().now})
    for (let i = 0; i < 50; i++) s.originRequest({ttfbMs: 40, bytesIn: 1, status: 200})
    s.originRequest({ttfbMs: undefined, bytesIn: 0, status: undefined, error: 'timeout'})
    const t = s.snapshot().latency.originTtfb
    expect(t.count).toBe(50)
    expect(Math.abs((t.p50Ms ?? 0) - 40) / 40).toBeLessThan(0.05)
  })

  it('uses log-spaced buckets', () => {
    expect(logBucketIndex(0)).toBe(0)
    expect(logBucketIndex(-1)).toBe(0)
    expect(logBucketIndex(Number.NaN)).toBe(0)
    expect(logBucketIndex(1)).toBeLessThan(logBucketIndex(2))
    // 8 buckets per doubling at every scale
    expect(logBucketIndex(2) - logBucketIndex(1)).toBe(8)
    expect(logBucketIndex(2000) - logBucketIndex(1000)).toBe(8)
    expect(logBucketIndex(1e12)).toBe(logBucketIndex(1e13)) // overflow bucket
  })

  it('exposes cumulative Prometheus buckets', () => {
    const s = new Stats({now: clock().now})
    finish(s, 'hit', {ms: 0.2})
    finish(s, 'hit', {ms: 1}) // exactly on the 0.001 s bound: le is inclusive
    finish(s, 'hit', {ms: 70_000})
    const h = s.histograms().requestDuration
    expect(h.count).toBe(3)
    expect(h.counts[0]).toBe(1)
    expect(h.counts[1]).toBe(1)
    expect(h.counts[h.counts.length - 1]).toBe(1)
    expect(h.sumSec).toBeCloseTo(70.0012)
    finish(s, 'hit', {ms: Number.NaN}) // a broken timer must not poison the sum
    expect(s.histograms().requestDuration.sumSec).toBeCloseTo(70.0012)
  })
})

describe('top keys (bounded heavy hitters)', () => {
  it('keeps the true top keys of a skewed 100k stream over 10k keys, within fixed memory', () => {
    const c = clock()
    const s = new Stats({now: c.now, topKeys: 10, sketchCapacity: 256})
    const random = rng(42)
    // Zipf(1.1) over 10k keys via the inverse CDF.
    const N = 10_000
    const weights = Array.from({length: N}, (_, i) => 1 / (i + 1) ** 1.1)
    const cdf: number[] = []
    let acc = 0
    for (const w of weights) cdf.push((acc += w))
    const pick = () => {
      const x = random() * acc
      let lo = 0
      let hi = N - 1
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if (cdf[mid]! < x) lo = mid + 1
        else hi = mid
      }
      return lo
    }
    const truth = new Map<string, number>()
    const bytesTruth = new Map<string, number>()
    // 100k events over 50 s of injected time (all inside the 60 s window).
    for (let e = 0; e < 100_000; e++) {
      const k = pick()
      const key = `http://example.com/object/${k}`
      const bytes = 1000 + (k % 10) * 100
      truth.set(key, (truth.get(key) ?? 0) + 1)
      bytesTruth.set(key, (bytesTruth.get(key) ?? 0) + bytes)
      finish(s, 'hit', {key, bytes})
      if (e % 2000 === 1999) c.advance(1000)
    }
    expect(truth.size).toBeGreaterThan(5000)
    const usage = s.sketchUsage()
    expect(usage.entries).toBeLessThanOrEqual(usage.capacity)
    expect(usage.capacity).toBe(6 * 2 * 256)

    const snap = s.snapshot()
    const trueTop = [...truth].sort((a, b) => b[1] - a[1]).slice(0, 10)
    const got = snap.topKeys.byRequests
    expect(got).toHaveLength(10)
    expect(new Set(got.map((k) => k.key))).toEqual(new Set(trueTop.map(([k]) => k)))
    for (const k of got) {
      const t = truth.get(k.key) ?? 0
      expect(Math.abs(k.requests - t)).toBeLessThanOrEqual(k.error)
    }
    expect(got[0]!.key).toBe(trueTop[0]![0])

    const trueBytesTop = [...bytesTruth].sort((a, b) => b[1] - a[1]).slice(0, 5)
    expect(new Set(snap.topKeys.byBytes.slice(0, 5).map((k) => k.key))).toEqual(new Set(trueBytesTop.map(([k]) => k)))
  })

  it('forgets keys older than the window', () => {
    const c = clock()
    const s = new Stats({now: c.now})
    for (let i = 0; i < 50; i++) finish(s, 'hit', {key: 'old', bytes: 10})
    c.advance(30_000)
    finish(s, 'hit', {key: 'new', bytes: 10})
    expect(s.snapshot().topKeys.byRequests.map((k) => k.key)).toEqual(['old', 'new'])
    c.advance(40_000)
    expect(s.snapshot().topKeys.byRequests.map((k) => k.key)).toEqual(['new'])
    c.advance(60_000)
    expect(s.snapshot().topKeys.byRequests).toEqual([])
  })

  it('SpaceSaving never exceeds its capacity and over-estimates by at most err', () => {
    const ss = new SpaceSaving(4)
    for (let i = 0; i < 1000; i++) ss.offer(`k${i % 50}`, 1, 0)
    for (let i = 0; i < 500; i++) ss.offer('heavy', 1, 0)
    expect(ss.size).toBe(4)
    const seen: Array<[string, number, number]> = []
    ss.forEach((k, count, err) => seen.push([k, count, err]))
    const heavy = seen.find(([k]) => k === 'heavy')
    expect(heavy).toBeDefined()
    expect(heavy![1] - heavy![2]).toBeLessThanOrEqual(500)
    expect(heavy![1]).toBeGreaterThanOrEqual(500)
    ss.clear()
    expect(ss.size).toBe(0)
  })
})
