import {CumulativeHistogram, type CumulativeHistogramView, type LatencySummary, WindowedLogHistogram} from './histogram.js'
import {SpaceSaving} from './space-saving.js'

export type {CumulativeHistogramView, LatencySummary} from './histogram.js'

export type CacheOutcome = 'hit' | 'stale' | 'revalidated' | 'miss' | 'bypass' | 'error'
export const CACHE_OUTCOMES: readonly CacheOutcome[] = Object.freeze(['hit', 'stale', 'revalidated', 'miss', 'bypass', 'error'])

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx'
export const STATUS_CLASSES: readonly StatusClass[] = Object.freeze(['1xx', '2xx', '3xx', '4xx', '5xx'])
/** Status classes plus 'other' (status 0 or outside 100..599), used by the per-outcome matrix. */
export type StatusClassOrOther = StatusClass | 'other'

/** Origin results: the status class of the answer, or 'error' when none came back. */
export type OriginResult = StatusClass | 'error'

export interface RequestFinishedEvent {
  outcome: CacheOutcome
  status: number
  bytesOut: number
  durationMs: number
  key: string | undefined
  /** This request joined another request's in-flight fill instead of going to the origin. */
  collapsed?: boolean
}

export interface OriginRequestEvent {
  ttfbMs: number | undefined
  bytesIn: number
  status: number | undefined
  error?: string
}

export interface StorageProbeResult {
  objects: number
  diskBytes: number
  memoryBytes: number
  memoryObjects: number
  evictions: number
  expiredRemoved: number
}

export interface UpstreamProbeResult {
  name: string
  url: string
  healthy: boolean
  inFlight: number
  failures: number
}

export interface TopKey {
  key: string
  /** Requests in the window (the ranked figure of the by-requests list). */
  requests: number
  /** Bytes sent to clients in the window (the ranked figure of the by-bytes list). */
  bytes: number
  /** The true ranked figure is within ± error of the estimate (0 = exact). The other figure is a lower bound. */
  error: number
}

export interface StatsCounters {
  requests: {
    total: number
    inFlight: number
    byOutcome: Record<CacheOutcome, number>
    /** Bytes sent to clients, by outcome. */
    bytesByOutcome: Record<CacheOutcome, number>
    bytesOut: number
    statusClasses: Record<StatusClass, number>
    /** Requests that joined another request's fill. */
    collapsed: number
    /** Served from cache (hit + stale + revalidated) / all but bypass, since start; null before any. */
    hitRatio: number | null
    /** Same, weighted by bytes sent. */
    byteHitRatio: number | null
  }
  origin: {
    requests: number
    bytesIn: number
    errors: number
    byResult: Record<OriginResult, number>
    lastError: {message: string; at: number} | null
  }
  fills: {started: number; stored: number; aborted: number; inFlight: number}
}

export interface StatsSnapshot extends StatsCounters {
  /** Bumped when the shape changes incompatibly. */
  schema: 1
  /** ms epoch when the snapshot was taken. */
  at: number
  /** ms epoch when the Stats object was created (daemon start). */
  startedAt: number
  uptimeSec: number
  /** Averages over the last `windowSec` complete seconds. */
  rates: {
    windowSec: number
    requestsPerSec: number
    hitRatio: number | null
    byteHitRatio: number | null
    bytesOutPerSec: number
    bytesInPerSec: number
    originRequestsPerSec: number
  }
  /** One point per second, oldest first, ending with the last complete second (at most 5 minutes). */
  series: {
    intervalSec: 1
    /** ms epoch of the end of the last point. */
    endAt: number
    requestsPerSec: number[]
    /** null for seconds with no cache lookups. */
    hitRatio: Array<number | null>
    byteHitRatio: Array<number | null>
    bytesOutPerSec: number[]
    bytesInPerSec: number[]
  }
  /** Sliding window (including the current second). */
  latency: {windowSec: number; client: LatencySummary; originTtfb: LatencySummary}
  /** Heaviest keys over the last ~minute (window granularity: `granularitySec`). */
  topKeys: {windowSec: number; granularitySec: number; byRequests: TopKey[]; byBytes: TopKey[]}
  storage: StorageProbeResult | null
  upstreams: UpstreamProbeResult[]
  /** Probes that threw, so a broken probe shows up instead of silently zeroing gauges. */
  probeErrors: string[]
}

export interface StatsOptions {
  /** ms clock; injectable for tests. */
  now?: () => number
  /** How many keys the snapshot lists per top-keys table (default 20). */
  topKeys?: number
  /** Entries per heavy-hitter sketch (default 256); memory is bounded by this, whatever the key count. */
  sketchCapacity?: number
}

const SERIES_SEC = 300
const RATE_SEC = 5
const LATENCY_SEC = 60
const TOPK_SUB_SEC = 10
const TOPK_SUBS = 6
const MAX_ERROR_KINDS = 16

/** Indexes into CACHE_OUTCOMES; the three served-from-cache outcomes come first (see outcomeIndex). */
const OUTCOME_INDEX = {hit: 0, stale: 1, revalidated: 2, miss: 3, bypass: 4, error: 5} as const
const N_OUTCOMES = CACHE_OUTCOMES.length
/** Column 0 is 'other', 1..5 are 1xx..5xx. */
const MATRIX_CLASSES: readonly StatusClassOrOther[] = Object.freeze(['other', '1xx', '2xx', '3xx', '4xx', '5xx'])

/** A switch, not a keyed lookup: outcome strings vary per call and a keyed load on them goes megamorphic. */
function outcomeIndex(o: CacheOutcome): number {
  switch (o) {
    case 'hit':
      return 0
    case 'stale':
      return 1
    case 'revalidated':
      return 2
    case 'miss':
      return 3
    case 'bypass':
      return 4
    default:
      return 5
  }
}

function classIndex(status: number | undefined): number {
  if (status === undefined || !(status >= 100 && status < 600)) return 0
  return Math.floor(status / 100)
}

function ratio(num: number, den: number): number | null {
  return den > 0 ? num / den : null
}

/**
 * In-daemon statistics. The recording methods are on the request path: they only bump typed-array
 * counters and a bounded sketch; everything derived (rates, percentiles, top keys) is computed in snapshot().
 */
export class Stats {
  private readonly now: () => number
  private readonly topN: number
  private readonly startedAt: number

  // Cumulative counters.
  private readonly matrix = new Float64Array(N_OUTCOMES * MATRIX_CLASSES.length)
  private readonly bytesByOutcome = new Float64Array(N_OUTCOMES)
  private inFlight = 0
  private collapsed = 0
  private originRequests = 0
  private originBytes = 0
  private originErrors = 0
  private readonly originByClass = new Float64Array(MATRIX_CLASSES.length)
  private lastOriginError: {message: string; at: number} | null = null
  private readonly originErrorKinds = new Map<string, number>()
  private fillsStarted = 0
  private fillsStored = 0
  private fillsAborted = 0
  private fillsInFlight = 0

  // Per-second ring buffers (index = epoch second % SERIES_SEC; stale slots are detected by stamp).
  private readonly secStamp = new Float64Array(SERIES_SEC).fill(Number.NaN)
  private readonly secRequests = new Float64Array(SERIES_SEC)
  private readonly secLookups = new Float64Array(SERIES_SEC)
  private readonly secHits = new Float64Array(SERIES_SEC)
  private readonly secLookupBytes = new Float64Array(SERIES_SEC)
  private readonly secHitBytes = new Float64Array(SERIES_SEC)
  private readonly secBytesOut = new Float64Array(SERIES_SEC)
  private readonly secBytesIn = new Float64Array(SERIES_SEC)
  private readonly secOrigin = new Float64Array(SERIES_SEC)

  private readonly clientLatency = new WindowedLogHistogram(LATENCY_SEC)
  private readonly ttfbLatency = new WindowedLogHistogram(LATENCY_SEC)
  private readonly clientHist = new CumulativeHistogram()
  private readonly ttfbHist = new CumulativeHistogram()

  // Top keys: TOPK_SUBS sub-windows of TOPK_SUB_SEC, each with one sketch ranked by requests and one by bytes.
  private readonly subStamp = new Float64Array(TOPK_SUBS).fill(Number.NaN)
  private readonly byReq: SpaceSaving[]
  private readonly byBytes: SpaceSaving[]

  private storageProbe: (() => StorageProbeResult) | undefined
  private upstreamProbe: (() => UpstreamProbeResult[]) | undefined

  constructor(opts: StatsOptions = {}) {
    this.now = opts.now ?? Date.now
    this.topN = opts.topKeys ?? 20
    const cap = opts.sketchCapacity ?? 256
    this.byReq = Array.from({length: TOPK_SUBS}, () => new SpaceSaving(cap))
    this.byBytes = Array.from({length: TOPK_SUBS}, () => new SpaceSaving(cap))
    this.startedAt = this.now()
  }

  requestStarted(): void {
    this.inFlight++
  }

  requestFinished(e: RequestFinishedEvent): void {
    if (this.inFlight > 0) this.inFlight--
    const o = outcomeIndex(e.outcome)
    const bytes = e.bytesOut > 0 ? e.bytesOut : 0
    this.matrix[o * MATRIX_CLASSES.length + classIndex(e.status)]++
    this.bytesByOutcome[o] += bytes
    if (e.collapsed === true) this.collapsed++

    const sec = Math.floor(this.now() / 1000)
    const s = this.slot(sec)
    this.secRequests[s]++
    this.secBytesOut[s] += bytes
    if (o !== OUTCOME_INDEX.bypass) {
      this.secLookups[s]++
      this.secLookupBytes[s] += bytes
      // hit, stale and revalidated (indexes 0..2) were answered from the cache.
      if (o <= OUTCOME_INDEX.revalidated) {
        this.secHits[s]++
        this.secHitBytes[s] += bytes
      }
    }
    this.clientLatency.record(sec, e.durationMs)
    this.clientHist.record(e.durationMs)

    if (e.key !== undefined) {
      const sub = this.subWindow(sec)
      this.byReq[sub]!.offer(e.key, 1, bytes)
      // A zero-weight offer would still displace the minimum entry, so skip it.
      if (bytes > 0) this.byBytes[sub]!.offer(e.key, bytes, 1)
    }
  }

  originRequest(e: OriginRequestEvent): void {
    this.originRequests++
    const bytes = e.bytesIn > 0 ? e.bytesIn : 0
    this.originBytes += bytes
    const now = this.now()
    const sec = Math.floor(now / 1000)
    const s = this.slot(sec)
    this.secOrigin[s]++
    this.secBytesIn[s] += bytes
    if (e.error !== undefined || e.status === undefined) {
      this.originErrors++
      const message = e.error ?? 'no response'
      this.lastOriginError = {message, at: now}
      // Bounded: beyond MAX_ERROR_KINDS distinct messages, the rest are lumped together.
      const kind = this.originErrorKinds.has(message) || this.originErrorKinds.size < MAX_ERROR_KINDS ? message : 'other'
      this.originErrorKinds.set(kind, (this.originErrorKinds.get(kind) ?? 0) + 1)
    } else {
      this.originByClass[classIndex(e.status)]++
    }
    if (e.ttfbMs !== undefined) {
      this.ttfbLatency.record(sec, e.ttfbMs)
      this.ttfbHist.record(e.ttfbMs)
    }
  }

  fillStarted(): void {
    this.fillsStarted++
    this.fillsInFlight++
  }

  fillFinished(stored: boolean): void {
    if (this.fillsInFlight > 0) this.fillsInFlight--
    if (stored) this.fillsStored++
    else this.fillsAborted++
  }

  setStorageProbe(fn: () => StorageProbeResult): void {
    this.storageProbe = fn
  }

  setUpstreamProbe(fn: () => UpstreamProbeResult[]): void {
    this.upstreamProbe = fn
  }

  /** Cumulative counters only (cheap; what /metrics needs). */
  counters(): StatsCounters {
    const byOutcome = {} as Record<CacheOutcome, number>
    const bytesByOutcome = {} as Record<CacheOutcome, number>
    let total = 0
    let bytesOut = 0
    let hits = 0
    let hitBytes = 0
    let lookups = 0
    let lookupBytes = 0
    const classes = new Float64Array(MATRIX_CLASSES.length)
    const W = MATRIX_CLASSES.length
    for (let o = 0; o < N_OUTCOMES; o++) {
      let n = 0
      for (let c = 0; c < W; c++) {
        n += this.matrix[o * W + c]
        classes[c] += this.matrix[o * W + c]
      }
      const outcome = CACHE_OUTCOMES[o]!
      byOutcome[outcome] = n
      bytesByOutcome[outcome] = this.bytesByOutcome[o]
      total += n
      bytesOut += this.bytesByOutcome[o]
      if (o !== OUTCOME_INDEX.bypass) {
        lookups += n
        lookupBytes += this.bytesByOutcome[o]
        if (o <= OUTCOME_INDEX.revalidated) {
          hits += n
          hitBytes += this.bytesByOutcome[o]
        }
      }
    }
    const statusClasses = {} as Record<StatusClass, number>
    const byResult = {error: this.originErrors} as Record<OriginResult, number>
    for (let c = 1; c < W; c++) {
      const k = MATRIX_CLASSES[c] as StatusClass
      statusClasses[k] = classes[c]
      byResult[k] = this.originByClass[c]
    }
    return {
      requests: {
        total,
        inFlight: this.inFlight,
        byOutcome,
        bytesByOutcome,
        bytesOut,
        statusClasses,
        collapsed: this.collapsed,
        hitRatio: ratio(hits, lookups),
        byteHitRatio: ratio(hitBytes, lookupBytes),
      },
      origin: {
        requests: this.originRequests,
        bytesIn: this.originBytes,
        errors: this.originErrors,
        byResult,
        lastError: this.lastOriginError === null ? null : {...this.lastOriginError},
      },
      fills: {started: this.fillsStarted, stored: this.fillsStored, aborted: this.fillsAborted, inFlight: this.fillsInFlight},
    }
  }

  /** Requests by outcome and status class (non-zero cells only), for tavern_requests_total. */
  requestMatrix(): Array<{outcome: CacheOutcome; statusClass: StatusClassOrOther; count: number}> {
    const out: Array<{outcome: CacheOutcome; statusClass: StatusClassOrOther; count: number}> = []
    const W = MATRIX_CLASSES.length
    for (let o = 0; o < N_OUTCOMES; o++) {
      for (let c = 0; c < W; c++) {
        const count = this.matrix[o * W + c]
        if (count > 0) out.push({outcome: CACHE_OUTCOMES[o]!, statusClass: MATRIX_CLASSES[c]!, count})
      }
    }
    return out
  }

  /** Origin error counts by message (at most 16 kinds plus 'other'). */
  originErrorsByKind(): Record<string, number> {
    return Object.fromEntries(this.originErrorKinds)
  }

  /** Cumulative latency histograms since start, Prometheus bucket bounds. */
  histograms(): {requestDuration: CumulativeHistogramView; originTtfb: CumulativeHistogramView} {
    return {requestDuration: this.clientHist.view(), originTtfb: this.ttfbHist.view()}
  }

  /** Calls the probes; a throwing probe is reported in `errors` rather than breaking the caller. */
  probes(): {storage: StorageProbeResult | null; upstreams: UpstreamProbeResult[]; errors: string[]} {
    const errors: string[] = []
    let storage: StorageProbeResult | null = null
    let upstreams: UpstreamProbeResult[] = []
    if (this.storageProbe) {
      try {
        storage = {...this.storageProbe()}
      } catch (error) {
        errors.push(`storage probe: ${errorMessage(error)}`)
      }
    }
    if (this.upstreamProbe) {
      try {
        upstreams = this.upstreamProbe().map((u) => ({...u}))
      } catch (error) {
        errors.push(`upstream probe: ${errorMessage(error)}`)
      }
    }
    return {storage, upstreams, errors}
  }

  /** Entries currently held by the top-keys sketches and their fixed bound (memory check). */
  sketchUsage(): {entries: number; capacity: number} {
    let entries = 0
    let capacity = 0
    for (const s of [...this.byReq, ...this.byBytes]) {
      entries += s.size
      capacity += s.capacity
    }
    return {entries, capacity}
  }

  snapshot(): StatsSnapshot {
    const at = this.now()
    const nowSec = Math.floor(at / 1000)
    const startSec = Math.floor(this.startedAt / 1000)
    const endSec = nowSec - 1 // last complete second

    // Series: only seconds since start, so a fresh daemon does not show five minutes of zeros.
    const len = Math.max(0, Math.min(SERIES_SEC, endSec - startSec + 1))
    const requestsPerSec = new Array<number>(len)
    const hitRatio = new Array<number | null>(len)
    const byteHitRatio = new Array<number | null>(len)
    const bytesOutPerSec = new Array<number>(len)
    const bytesInPerSec = new Array<number>(len)
    for (let i = 0; i < len; i++) {
      const sec = endSec - len + 1 + i
      const s = sec % SERIES_SEC
      if (this.secStamp[s] !== sec) {
        requestsPerSec[i] = 0
        hitRatio[i] = null
        byteHitRatio[i] = null
        bytesOutPerSec[i] = 0
        bytesInPerSec[i] = 0
        continue
      }
      requestsPerSec[i] = this.secRequests[s]
      hitRatio[i] = ratio(this.secHits[s], this.secLookups[s])
      byteHitRatio[i] = ratio(this.secHitBytes[s], this.secLookupBytes[s])
      bytesOutPerSec[i] = this.secBytesOut[s]
      bytesInPerSec[i] = this.secBytesIn[s]
    }

    const rateLen = Math.max(1, Math.min(RATE_SEC, len))
    let rReq = 0, rHits = 0, rLookups = 0, rHitBytes = 0, rLookupBytes = 0, rOut = 0, rIn = 0, rOrigin = 0
    for (let sec = endSec - rateLen + 1; sec <= endSec; sec++) {
      const s = ((sec % SERIES_SEC) + SERIES_SEC) % SERIES_SEC
      if (this.secStamp[s] !== sec) continue
      rReq += this.secRequests[s]
      rHits += this.secHits[s]
      rLookups += this.secLookups[s]
      rHitBytes += this.secHitBytes[s]
      rLookupBytes += this.secLookupBytes[s]
      rOut += this.secBytesOut[s]
      rIn += this.secBytesIn[s]
      rOrigin += this.secOrigin[s]
    }

    const probes = this.probes()
    return {
      schema: 1,
      at,
      startedAt: this.startedAt,
      uptimeSec: Math.max(0, Math.round((at - this.startedAt) / 1000)),
      ...this.counters(),
      rates: {
        windowSec: rateLen,
        requestsPerSec: rReq / rateLen,
        hitRatio: ratio(rHits, rLookups),
        byteHitRatio: ratio(rHitBytes, rLookupBytes),
        bytesOutPerSec: rOut / rateLen,
        bytesInPerSec: rIn / rateLen,
        originRequestsPerSec: rOrigin / rateLen,
      },
      series: {intervalSec: 1, endAt: (endSec + 1) * 1000, requestsPerSec, hitRatio, byteHitRatio, bytesOutPerSec, bytesInPerSec},
      latency: {windowSec: LATENCY_SEC, client: this.clientLatency.summary(nowSec), originTtfb: this.ttfbLatency.summary(nowSec)},
      topKeys: {
        windowSec: TOPK_SUBS * TOPK_SUB_SEC,
        granularitySec: TOPK_SUB_SEC,
        byRequests: this.mergeTop(this.byReq, nowSec, false),
        byBytes: this.mergeTop(this.byBytes, nowSec, true),
      },
      storage: probes.storage,
      upstreams: probes.upstreams,
      probeErrors: probes.errors,
    }
  }

  private slot(sec: number): number {
    const s = sec % SERIES_SEC
    if (this.secStamp[s] !== sec) {
      this.secStamp[s] = sec
      this.secRequests[s] = 0
      this.secLookups[s] = 0
      this.secHits[s] = 0
      this.secLookupBytes[s] = 0
      this.secHitBytes[s] = 0
      this.secBytesOut[s] = 0
      this.secBytesIn[s] = 0
      this.secOrigin[s] = 0
    }
    return s
  }

  private subWindow(sec: number): number {
    const sub = Math.floor(sec / TOPK_SUB_SEC)
    const i = sub % TOPK_SUBS
    if (this.subStamp[i] !== sub) {
      this.subStamp[i] = sub
      this.byReq[i]!.clear()
      this.byBytes[i]!.clear()
    }
    return i
  }

  /** Sums the live sub-window sketches into one ranking. */
  private mergeTop(sketches: SpaceSaving[], nowSec: number, byBytes: boolean): TopKey[] {
    const nowSub = Math.floor(nowSec / TOPK_SUB_SEC)
    const live: SpaceSaving[] = []
    for (let i = 0; i < TOPK_SUBS; i++) {
      const stamp = this.subStamp[i]
      if (stamp <= nowSub && stamp > nowSub - TOPK_SUBS) live.push(sketches[i]!)
    }
    const acc = new Map<string, {count: number; err: number; aux: number}>()
    for (const sk of live) {
      sk.forEach((key, count, err, aux) => {
        const e = acc.get(key)
        if (e) {
          e.count += count
          e.err += err
          e.aux += aux
        } else acc.set(key, {count, err, aux})
      })
    }
    // A key missing from a full sketch may still have had up to its floor there: widen the bound, not the estimate
    // (adding it to the estimate would lift every newcomer above keys that were steady all minute).
    for (const sk of live) {
      const floor = sk.floor
      if (floor === 0) continue
      for (const [key, e] of acc) if (!sk.has(key)) e.err += floor
    }
    const rows = [...acc].sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1)).slice(0, this.topN)
    return rows.map(([key, e]) =>
      byBytes ? {key, requests: e.aux, bytes: e.count, error: e.err} : {key, requests: e.count, bytes: e.aux, error: e.err},
    )
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
