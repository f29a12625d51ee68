import type {StatsRecorder} from '../core/services.js'
import {CumulativeHistogram, type CumulativeHistogramView, WindowedLogHistogram} from './histogram.js'
import {Probes} from './probes.js'
import {type NotStoredKind, NotStoredMemory} from './not-stored.js'
import {PurgeHistory} from './purge-history.js'
import {
  CACHE_OUTCOMES,
  type CacheOutcome,
  ORIGIN_REASONS,
  type OriginReason,
  type OriginRequestEvent,
  type OriginResult,
  type RefreshReason,
  type RequestFinishedEvent,
  type StatsCounters,
  type StatsSnapshot,
  type StatusClass,
  type StatusClassOrOther,
  type StorageProbeResult,
  type TopKey,
  type UpstreamProbeResult,
} from './schema.js'
import {SecondRing} from './second-ring.js'
import {TopKeys} from './top-keys.js'

export interface StatsOptions {
  /** ms clock; injectable for tests. */
  now?: () => number
  /** How many keys the snapshot lists per top-keys table (default 20). */
  topKeys?: number
  /** Entries per heavy-hitter sketch (default 256); memory is bounded by this, whatever the key count. */
  sketchCapacity?: number
}

const LATENCY_SEC = 60
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

/** Index into ORIGIN_REASONS (a switch, like outcomeIndex). */
function reasonIndex(r: OriginReason | undefined): number {
  switch (r) {
    case undefined:
    case 'fill':
      return 0
    case 'revalidate':
      return 1
    case 'slice':
      return 2
    case 'pass':
      return 3
    case 'bypass':
      return 4
    case 'refresh':
      return 5
    default:
      return 6
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
 * In-daemon statistics. The recording methods are on the request path: they only bump typed-array counters and a
 * bounded sketch; everything derived (rates, percentiles, top keys) is computed in snapshot().
 */
export class Stats implements StatsRecorder {
  private readonly now: () => number
  private readonly startedAt: number

  // Cumulative counters.
  private readonly matrix = new Float64Array(N_OUTCOMES * MATRIX_CLASSES.length)
  private readonly bytesByOutcome = new Float64Array(N_OUTCOMES)
  private inFlight = 0
  private collapsed = 0
  private originRequests = 0
  private originBytesIn = 0
  private originErrors = 0
  private readonly originByClass = new Float64Array(MATRIX_CLASSES.length)
  /** Origin requests by reason × result (column 0 = no response, 1..5 = 1xx..5xx). */
  private readonly originMatrix = new Float64Array(ORIGIN_REASONS.length * MATRIX_CLASSES.length)
  private lastOriginError: {message: string; at: number} | null = null
  private readonly originErrorKinds = new Map<string, number>()
  private fillsStarted = 0
  private fillsStored = 0
  private fillsAborted = 0
  private fillsInFlight = 0
  private readonly refreshCounts: Record<RefreshReason, number> = {fuzzy: 0, auto: 0, swr: 0, grace: 0}

  private readonly seconds = new SecondRing()
  private readonly clientLatency = new WindowedLogHistogram(LATENCY_SEC)
  private readonly ttfbLatency = new WindowedLogHistogram(LATENCY_SEC)
  private readonly clientHist = new CumulativeHistogram()
  private readonly ttfbHist = new CumulativeHistogram()
  private readonly topKeys: TopKeys
  private readonly probeSet = new Probes()
  /** The recent purges (`tavern purge --list`, GET /purges). */
  readonly purges = new PurgeHistory()
  /** Why keys were last not stored (`inspect-key` on an uncached URL). */
  readonly notStoredMemory = new NotStoredMemory()

  constructor(opts: StatsOptions = {}) {
    this.now = opts.now ?? Date.now
    this.topKeys = new TopKeys(opts.sketchCapacity ?? 256, opts.topKeys ?? 20)
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
    // hit, stale and revalidated (indexes 0..2) were answered from the cache; bypass never consulted it.
    this.seconds.request(sec, bytes, o !== OUTCOME_INDEX.bypass, o <= OUTCOME_INDEX.revalidated)
    this.clientLatency.record(sec, e.durationMs)
    this.clientHist.record(e.durationMs)
    if (e.key !== undefined) this.topKeys.offer(sec, e.key, bytes)
  }

  originRequest(e: OriginRequestEvent): void {
    this.originRequests++
    const bytes = e.bytesIn > 0 ? e.bytesIn : 0
    this.originBytesIn += bytes
    const now = this.now()
    const sec = Math.floor(now / 1000)
    this.seconds.originRequest(sec, bytes)
    const failed = e.error !== undefined || e.status === undefined
    this.originMatrix[reasonIndex(e.reason) * MATRIX_CLASSES.length + (failed ? 0 : Math.max(1, classIndex(e.status)))]++
    if (failed) {
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

  /** Body bytes received from an origin, counted apart from the request (recorded when its head arrived). */
  originBytes(n: number): void {
    if (!(n > 0)) return
    this.originBytesIn += n
    this.seconds.originBytes(Math.floor(this.now() / 1000), n)
  }

  /** The request path decided not to store `key` (or could not fetch it, or bypassed the cache), and why. */
  notStored(key: string, kind: NotStoredKind, reason: string, status?: number): void {
    this.notStoredMemory.record(key, {kind, reason, status, at: this.now()})
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

  refreshStarted(reason: RefreshReason): void {
    this.refreshCounts[reason]++
  }

  keyRequests(key: string): number {
    return this.topKeys.requestsFor(key, Math.floor(this.now() / 1000))
  }

  /** The `n` keys with the most requests in the last minute. */
  hottest(n: number): TopKey[] {
    return this.topKeys.hottest(Math.floor(this.now() / 1000), n)
  }

  setStorageProbe(fn: () => StorageProbeResult): void {
    this.probeSet.setStorage(fn)
  }

  setUpstreamProbe(fn: () => UpstreamProbeResult[]): void {
    this.probeSet.setUpstreams(fn)
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
    const byReason = {} as Record<OriginReason, number>
    for (let r = 0; r < ORIGIN_REASONS.length; r++) {
      let n = 0
      for (let c = 0; c < W; c++) n += this.originMatrix[r * W + c]
      byReason[ORIGIN_REASONS[r]!] = n
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
        bytesIn: this.originBytesIn,
        errors: this.originErrors,
        byResult,
        byReason,
        lastError: this.lastOriginError === null ? null : {...this.lastOriginError},
      },
      fills: {started: this.fillsStarted, stored: this.fillsStored, aborted: this.fillsAborted, inFlight: this.fillsInFlight},
      refreshes: {...this.refreshCounts},
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

  /** Origin requests by reason and result (non-zero cells only), for tavern_origin_requests_total. */
  originRequestMatrix(): Array<{reason: OriginReason; result: OriginResult; count: number}> {
    const out: Array<{reason: OriginReason; result: OriginResult; count: number}> = []
    const W = MATRIX_CLASSES.length
    for (let r = 0; r < ORIGIN_REASONS.length; r++) {
      for (let c = 0; c < W; c++) {
        const count = this.originMatrix[r * W + c]
        if (count > 0) out.push({reason: ORIGIN_REASONS[r]!, result: c === 0 ? 'error' : (MATRIX_CLASSES[c] as StatusClass), count})
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
    return this.probeSet.read()
  }

  /** Entries currently held by the top-keys sketches and their fixed bound (memory check). */
  sketchUsage(): {entries: number; capacity: number} {
    return this.topKeys.usage()
  }

  snapshot(): StatsSnapshot {
    const at = this.now()
    const nowSec = Math.floor(at / 1000)
    const probes = this.probes()
    return {
      schema: 1,
      at,
      startedAt: this.startedAt,
      uptimeSec: Math.max(0, Math.round((at - this.startedAt) / 1000)),
      ...this.counters(),
      ...this.seconds.read(nowSec, Math.floor(this.startedAt / 1000)),
      latency: {windowSec: LATENCY_SEC, client: this.clientLatency.summary(nowSec), originTtfb: this.ttfbLatency.summary(nowSec)},
      topKeys: this.topKeys.read(nowSec),
      storage: probes.storage,
      upstreams: probes.upstreams,
      probeErrors: probes.errors,
    }
  }
}
