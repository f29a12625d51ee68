/**
 * The shapes of the in-daemon statistics: the events the request path records and the snapshot `GET /stats`,
 * `tavern top` and the metrics worker read. Types and constants only.
 */
import type {CacheOutcome} from '../cache/cache-status.js'
import type {OriginReason, UpstreamHealth} from '../core/origin.js'
import type {LatencySummary} from './histogram.js'

export type {CacheOutcome, OriginReason}
export type {CumulativeHistogramView, LatencySummary} from './histogram.js'

export const CACHE_OUTCOMES: readonly CacheOutcome[] = Object.freeze(['hit', 'stale', 'revalidated', 'miss', 'bypass', 'error'])

/** Every reason Tavern sends a request to an origin (the `reason` label of tavern_origin_requests_total). */
export const ORIGIN_REASONS: readonly OriginReason[] = Object.freeze(['fill', 'revalidate', 'slice', 'pass', 'bypass', 'refresh', 'prefetch'])

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx'
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

/** One request sent to an origin, recorded when its response head arrived (or it failed without one). */
export interface OriginRequestEvent {
  /** Why it was sent (absent: 'fill'). */
  reason?: OriginReason
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

export type UpstreamProbeResult = UpstreamHealth

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
    /** Every request sent to an origin, by why it was sent (sums to `requests`). */
    byReason: Record<OriginReason, number>
    lastError: {message: string; at: number} | null
  }
  fills: {started: number; stored: number; aborted: number; inFlight: number}
  /** Background refreshes started, by why (README "Grace, refresh and warming"). */
  refreshes: Record<RefreshReason, number>
}

/** Why a background refresh ran: fuzzy refresh, auto refresh of a hot key, stale-while-revalidate, a retry in grace. */
export type RefreshReason = 'fuzzy' | 'auto' | 'swr' | 'grace'
export const REFRESH_REASONS: readonly RefreshReason[] = ['fuzzy', 'auto', 'swr', 'grace']

/** Per-second figures: averages over the last seconds and one point per second. */
export interface StatsSeries {
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
}

export interface StatsSnapshot extends StatsCounters, StatsSeries {
  /** Bumped when the shape changes incompatibly. */
  schema: 1
  /** ms epoch when the snapshot was taken. */
  at: number
  /** ms epoch when the Stats object was created (daemon start). */
  startedAt: number
  uptimeSec: number
  /** Sliding window (including the current second). */
  latency: {windowSec: number; client: LatencySummary; originTtfb: LatencySummary}
  /** Heaviest keys over the last ~minute (window granularity: `granularitySec`). */
  topKeys: {windowSec: number; granularitySec: number; byRequests: TopKey[]; byBytes: TopKey[]}
  storage: StorageProbeResult | null
  upstreams: UpstreamProbeResult[]
  /** Probes that threw, so a broken probe shows up instead of silently zeroing gauges. */
  probeErrors: string[]
}
