import {Counter, Gauge, Histogram, Registry, collectDefaultMetrics} from 'prom-client'

import type {CumulativeHistogramView} from './histogram.js'
import type {Stats} from './recorder.js'
import {CACHE_OUTCOMES, REFRESH_REASONS, type StorageProbeResult, type UpstreamProbeResult} from './schema.js'

export interface Metrics {
  registry: Registry
  /** The Prometheus text exposition of every tavern_ metric. */
  render(): Promise<string>
  contentType: string
}

type HistogramGet = Awaited<ReturnType<Histogram<'le'>['get']>>

/**
 * A Histogram whose buckets are read from Stats at scrape time (the request path records once, in Stats).
 * prom-client has no public way to set bucket counts, so get() is replaced wholesale.
 */
class DerivedHistogram extends Histogram<'le'> {
  constructor(
    private readonly metricName: string,
    private readonly metricHelp: string,
    private readonly read: () => CumulativeHistogramView,
    registry: Registry,
  ) {
    super({name: metricName, help: metricHelp, buckets: [...read().boundsSec], registers: [registry]})
  }

  override async get(): Promise<HistogramGet> {
    const h = this.read()
    const values: Array<{labels: {le?: number | string}; value: number; metricName: string}> = []
    let cum = 0
    for (let i = 0; i < h.boundsSec.length; i++) {
      cum += h.counts[i] ?? 0
      values.push({labels: {le: h.boundsSec[i]!}, value: cum, metricName: `${this.metricName}_bucket`})
    }
    cum += h.counts[h.boundsSec.length] ?? 0
    values.push({labels: {le: '+Inf'}, value: cum, metricName: `${this.metricName}_bucket`})
    values.push({labels: {}, value: h.sumSec, metricName: `${this.metricName}_sum`})
    values.push({labels: {}, value: h.count, metricName: `${this.metricName}_count`})
    // The .d.ts types `type` as a numeric enum, but the registry prints it, and at runtime it is this string.
    const out = {name: this.metricName, help: this.metricHelp, type: 'histogram', aggregator: 'sum', values}
    return out as unknown as HistogramGet
  }

  /** The registry prefers this over get() when present (Histogram defines it); keep both on our data. */
  getForPromString(): Promise<HistogramGet> {
    return this.get()
  }
}

/**
 * Caches a reader so one scrape calls each probe once although several metrics use it. render() drops the
 * cache first; the TTL only matters for callers that scrape `registry` directly.
 */
function memo<T>(fn: () => T, ttlMs: number): {get: () => T; invalidate: () => void} {
  let at = -Infinity
  let value: T | undefined
  return {
    get() {
      const t = performance.now()
      if (value === undefined || t - at > ttlMs) {
        value = fn()
        at = t
      }
      return value
    },
    invalidate() {
      value = undefined
    },
  }
}

/** Readers for daemon parts that live outside Stats. */
export interface MetricsSources {
  /** Access log lines dropped since start (a stalled log disk); 0 without an access log. */
  accessLogDropped?: () => number
}

/** Prometheus metrics derived from `stats` at scrape time, in a dedicated registry. */
export function createMetrics(stats: Stats, sources: MetricsSources = {}): Metrics {
  const registry = new Registry()
  const registers = [registry]
  const probeCache = memo(() => stats.probes(), 250)
  const counterCache = memo(() => stats.counters(), 250)
  const counters = counterCache.get
  const storage = (): StorageProbeResult | null => probeCache.get().storage
  const upstreams = (): UpstreamProbeResult[] => probeCache.get().upstreams

  new Counter({
    name: 'tavern_requests_total',
    help: 'Client requests by cache outcome and response status class',
    labelNames: ['outcome', 'status_class'] as const,
    registers,
    collect() {
      this.reset()
      for (const cell of stats.requestMatrix()) this.inc({outcome: cell.outcome, status_class: cell.statusClass}, cell.count)
    },
  })
  new Counter({
    name: 'tavern_response_bytes_total',
    help: 'Body bytes sent to clients by cache outcome',
    labelNames: ['outcome'] as const,
    registers,
    collect() {
      this.reset()
      const c = counters()
      for (const outcome of CACHE_OUTCOMES) this.inc({outcome}, c.requests.bytesByOutcome[outcome])
    },
  })
  new Counter({
    name: 'tavern_origin_requests_total',
    help: 'Every request sent to an origin, by why it was sent (fill, revalidate, slice, pass, bypass, refresh, prefetch) and the status class of the answer ("error" when none came)',
    labelNames: ['reason', 'result'] as const,
    registers,
    collect() {
      this.reset()
      for (const {reason, result, count} of stats.originRequestMatrix()) this.inc({reason, result}, count)
    },
  })
  new Counter({
    name: 'tavern_origin_bytes_total',
    help: 'Body bytes received from origins',
    registers,
    collect() {
      this.reset()
      this.inc(counters().origin.bytesIn)
    },
  })
  new Counter({
    name: 'tavern_collapsed_requests_total',
    help: 'Requests that joined an in-flight fill instead of going to the origin',
    registers,
    collect() {
      this.reset()
      this.inc(counters().requests.collapsed)
    },
  })
  new Gauge({
    name: 'tavern_inflight_requests',
    help: 'Client requests being served',
    registers,
    collect() {
      // Not memoized: in-flight is a point-in-time gauge and cheap to read.
      this.set(stats.counters().requests.inFlight)
    },
  })
  new Counter({
    name: 'tavern_fills_total',
    help: 'Finished cache fills: stored (committed) or aborted (not stored)',
    labelNames: ['result'] as const,
    registers,
    collect() {
      this.reset()
      const f = counters().fills
      this.inc({result: 'stored'}, f.stored)
      this.inc({result: 'aborted'}, f.aborted)
    },
  })
  new Counter({
    name: 'tavern_refresh_total',
    help: 'Background refreshes started: fuzzy refresh, auto refresh of hot keys, stale-while-revalidate, retries in grace',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset()
      const r = counters().refreshes
      for (const reason of REFRESH_REASONS) this.inc({reason}, r[reason])
    },
  })
  new Gauge({
    name: 'tavern_inflight_fills',
    help: 'Cache fills in progress',
    registers,
    collect() {
      this.set(stats.counters().fills.inFlight)
    },
  })
  new DerivedHistogram('tavern_request_duration_seconds', 'Client-facing request duration', () => stats.histograms().requestDuration, registry)
  new DerivedHistogram('tavern_origin_ttfb_seconds', 'Time to first byte from origins', () => stats.histograms().originTtfb, registry)

  const storageGauge = (name: string, help: string, pick: (s: StorageProbeResult) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const s = storage()
        // No probe (yet): 0 (prom-client prints an unlabelled metric after reset() either way; the daemon sets the
        // probe before the metrics listener starts, so a scrape always has one).
        this.reset()
        if (s) this.set(pick(s))
      },
    })
  }
  storageGauge('tavern_storage_objects', 'Cached objects (variants) in the index', (s) => s.objects)
  storageGauge('tavern_storage_disk_bytes', 'Body bytes on disk', (s) => s.diskBytes)
  storageGauge('tavern_storage_memory_bytes', 'Bytes held by the memory tier', (s) => s.memoryBytes)
  storageGauge('tavern_storage_memory_objects', 'Objects held by the memory tier', (s) => s.memoryObjects)
  const storageCounter = (name: string, help: string, pick: (s: StorageProbeResult) => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        const s = storage()
        this.reset()
        if (s) this.inc(pick(s))
      },
    })
  }
  storageCounter('tavern_storage_evictions_total', 'Objects evicted for space', (s) => s.evictions)
  storageCounter('tavern_storage_expired_removed_total', 'Expired objects removed', (s) => s.expiredRemoved)

  new Gauge({
    name: 'tavern_upstream_healthy',
    help: '1 when the upstream is considered healthy, else 0',
    labelNames: ['upstream'] as const,
    registers,
    collect() {
      this.reset()
      for (const u of upstreams()) this.set({upstream: u.name}, u.healthy ? 1 : 0)
    },
  })
  new Gauge({
    name: 'tavern_upstream_inflight_requests',
    help: 'Requests in flight to the upstream',
    labelNames: ['upstream'] as const,
    registers,
    collect() {
      this.reset()
      for (const u of upstreams()) this.set({upstream: u.name}, u.inFlight)
    },
  })

  new Counter({
    name: 'tavern_access_log_dropped_total',
    help: 'Access log lines dropped because the log could not keep up (more than 32 MiB waiting)',
    registers,
    collect() {
      this.reset()
      this.inc(sources.accessLogDropped?.() ?? 0)
    },
  })

  collectDefaultMetrics({register: registry, prefix: 'tavern_'})

  return {
    registry,
    render() {
      probeCache.invalidate()
      counterCache.invalidate()
      return registry.metrics()
    },
    contentType: registry.contentType,
  }
}
