import {describe, expect, it} from 'vitest'

import {createMetrics} from '../../src/stats/metrics.js'
import {startMetricsServer} from '../../src/stats/metrics-server.js'
import {Stats} from '../../src/stats/recorder.js'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** A small parser for the Prometheus text format: `name{a="x",b="y"} value` lines, # comments skipped. */
function parseProm(text: string): {samples: Sample[]; types: Map<string, string>} {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    if (line.startsWith('#')) {
      const t = /^# TYPE (\S+) (\S+)$/.exec(line)
      if (t) types.set(t[1]!, t[2]!)
      else expect(line).toMatch(/^# HELP \S+ /)
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy
      let l: RegExpExecArray | null
      let consumed = 0
      while ((l = re.exec(m[3])) !== null) {
        labels[l[1]!] = l[2]!
        consumed = re.lastIndex
      }
      if (consumed !== m[3].length) throw new Error(`bad label set: ${m[3]}`)
    }
    // Prometheus parses floats like Go's ParseFloat: NaN in any case (prom-client prints "Nan"), ±Inf.
    const v = m[4]!
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : /^nan$/i.test(v) ? Number.NaN : Number(v)
    if (Number.isNaN(value) && !/^nan$/i.test(v)) throw new Error(`bad value: ${line}`)
    samples.push({name: m[1]!, labels, value})
  }
  return {samples, types}
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length)
  return hit?.value
}

function recorded() {
  const stats = new Stats()
  const N = 250
  for (let i = 0; i < N; i++) {
    stats.requestStarted()
    const outcome = i % 5 === 0 ? 'miss' : 'hit'
    stats.requestFinished({outcome, status: i % 50 === 0 ? 404 : 200, bytesOut: 1000, durationMs: i % 10 === 0 ? 300 : 2, key: `k${i % 7}`, collapsed: i % 25 === 0})
  }
  stats.requestStarted()
  stats.requestStarted()
  for (let i = 0; i < 50; i++) stats.originRequest({ttfbMs: 30, bytesIn: 2000, status: 200})
  stats.originRequest({ttfbMs: undefined, bytesIn: 0, status: undefined, error: 'ECONNRESET'})
  stats.fillStarted()
  stats.fillFinished(true)
  stats.fillStarted()
  stats.fillFinished(false)
  stats.fillStarted()
  stats.setStorageProbe(() => ({objects: 12, diskBytes: 1 << 20, memoryBytes: 4096, memoryObjects: 3, evictions: 7, expiredRemoved: 2}))
  stats.setUpstreamProbe(() => [
    {name: 'api', url: 'http://127.0.0.1:9001', healthy: true, inFlight: 2, failures: 0},
    {name: 'img', url: 'http://127.0.0.1:9002', healthy: false, inFlight: 0, failures: 4},
  ])
  return stats
}

describe('createMetrics', () => {
  it('renders parseable Prometheus text whose counts match the recorded traffic', async () => {
    const stats = recorded()
    const metrics = createMetrics(stats)
    expect(metrics.contentType).toContain('text/plain')
    const {samples, types} = parseProm(await metrics.render())

    // Every metric is ours (prefixed), defaults included.
    for (const s of samples) expect(s.name.startsWith('tavern_')).toBe(true)
    expect(samples.some((s) => s.name === 'tavern_process_cpu_user_seconds_total')).toBe(true)

    const req = samples.filter((s) => s.name === 'tavern_requests_total')
    expect(req.reduce((a, s) => a + s.value, 0)).toBe(250)
    expect(value(samples, 'tavern_requests_total', {outcome: 'miss', status_class: '2xx'})).toBe(45)
    expect(value(samples, 'tavern_requests_total', {outcome: 'miss', status_class: '4xx'})).toBe(5)
    expect(value(samples, 'tavern_requests_total', {outcome: 'hit', status_class: '2xx'})).toBe(200)
    expect(types.get('tavern_requests_total')).toBe('counter')

    expect(value(samples, 'tavern_response_bytes_total', {outcome: 'hit'})).toBe(200_000)
    expect(value(samples, 'tavern_response_bytes_total', {outcome: 'miss'})).toBe(50_000)
    expect(value(samples, 'tavern_origin_requests_total', {reason: 'fill', result: '2xx'})).toBe(50)
    expect(value(samples, 'tavern_origin_requests_total', {reason: 'fill', result: 'error'})).toBe(1)
    expect(value(samples, 'tavern_origin_bytes_total')).toBe(100_000)
    expect(value(samples, 'tavern_collapsed_requests_total')).toBe(10)
    expect(value(samples, 'tavern_inflight_requests')).toBe(2)
    expect(value(samples, 'tavern_fills_total', {result: 'stored'})).toBe(1)
    expect(value(samples, 'tavern_fills_total', {result: 'aborted'})).toBe(1)
    expect(value(samples, 'tavern_inflight_fills')).toBe(1)

    // Histogram: cumulative buckets, +Inf = count, sum in seconds.
    expect(types.get('tavern_request_duration_seconds')).toBe('histogram')
    expect(value(samples, 'tavern_request_duration_seconds_count')).toBe(250)
    expect(value(samples, 'tavern_request_duration_seconds_bucket', {le: '+Inf'})).toBe(250)
    expect(value(samples, 'tavern_request_duration_seconds_bucket', {le: '0.0025'})).toBe(225)
    expect(value(samples, 'tavern_request_duration_seconds_bucket', {le: '0.25'})).toBe(225)
    expect(value(samples, 'tavern_request_duration_seconds_bucket', {le: '0.5'})).toBe(250)
    expect(value(samples, 'tavern_request_duration_seconds_sum')).toBeCloseTo(225 * 0.002 + 25 * 0.3)
    const buckets = samples.filter((s) => s.name === 'tavern_request_duration_seconds_bucket').map((s) => s.value)
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1]!)
    expect(value(samples, 'tavern_origin_ttfb_seconds_count')).toBe(50)
    expect(value(samples, 'tavern_origin_ttfb_seconds_bucket', {le: '0.05'})).toBe(50)
    expect(value(samples, 'tavern_origin_ttfb_seconds_bucket', {le: '0.025'})).toBe(0)

    expect(value(samples, 'tavern_storage_objects')).toBe(12)
    expect(value(samples, 'tavern_storage_disk_bytes')).toBe(1 << 20)
    expect(value(samples, 'tavern_storage_memory_bytes')).toBe(4096)
    expect(value(samples, 'tavern_storage_evictions_total')).toBe(7)
    expect(value(samples, 'tavern_upstream_healthy', {upstream: 'api'})).toBe(1)
    expect(value(samples, 'tavern_upstream_healthy', {upstream: 'img'})).toBe(0)
  })

  it('reads fresh values on every scrape (no double counting, no staleness)', async () => {
    const stats = recorded()
    const metrics = createMetrics(stats)
    await metrics.render()
    stats.requestFinished({outcome: 'stale', status: 200, bytesOut: 10, durationMs: 1, key: undefined})
    const {samples} = parseProm(await metrics.render())
    expect(samples.filter((s) => s.name === 'tavern_requests_total').reduce((a, s) => a + s.value, 0)).toBe(251)
    expect(value(samples, 'tavern_requests_total', {outcome: 'stale', status_class: '2xx'})).toBe(1)
    expect(value(samples, 'tavern_inflight_requests')).toBe(1)
  })

  it('exports the access log drop count it is given (0 without a source)', async () => {
    let dropped = 7
    const metrics = createMetrics(new Stats(), {accessLogDropped: () => dropped})
    expect(value(parseProm(await metrics.render()).samples, 'tavern_access_log_dropped_total')).toBe(7)
    dropped = 9
    expect(value(parseProm(await metrics.render()).samples, 'tavern_access_log_dropped_total')).toBe(9)
    expect(value(parseProm(await createMetrics(new Stats()).render()).samples, 'tavern_access_log_dropped_total')).toBe(0)
  })

  it('uses its own registry, so two instances do not collide', async () => {
    const a = createMetrics(new Stats())
    const b = createMetrics(new Stats())
    expect(a.registry).not.toBe(b.registry)
    expect(await b.render()).toContain('tavern_requests_total')
  })
})

describe('startMetricsServer', () => {
  it('serves GET /metrics and 404s anything else', async () => {
    const stats = recorded()
    const server = await startMetricsServer('127.0.0.1', 0, createMetrics(stats))
    try {
      expect(server.address.port).toBeGreaterThan(0)
      const base = `http://127.0.0.1:${server.address.port}`
      const ok = await fetch(`${base}/metrics`)
      expect(ok.status).toBe(200)
      expect(ok.headers.get('content-type')).toContain('text/plain')
      const {samples} = parseProm(await ok.text())
      expect(value(samples, 'tavern_origin_bytes_total')).toBe(100_000)
      expect((await fetch(`${base}/`)).status).toBe(404)
      expect((await fetch(`${base}/metrics/x`)).status).toBe(404)
    } finally {
      await server.close()
    }
  })
})
