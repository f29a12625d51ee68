/**
 * What the web dashboard renders: the `tavern top` snapshot (`GET /stats`), plus fields that later features add.
 * The page shows the breaker column and the per-site panel only when a snapshot carries them, so a daemon without
 * circuit breakers or sites renders as before.
 */
import type {TopSnapshot} from '../admin/protocol.js'
import type {UpstreamProbeResult} from '../stats/schema.js'

export type BreakerState = 'closed' | 'open' | 'half-open' | 'ramp-up'

export interface UpstreamBreakerInfo {
  state: BreakerState
  /** ms epoch of the last state change. */
  since?: number
  /** Consecutive failures counted by the breaker. */
  failures?: number
}

/** Per-site rates over the same window as `rates` (see StatsSnapshot.rates.windowSec). */
export interface SiteRates {
  name: string
  requestsPerSec: number
  hitRatio: number | null
  bytesOutPerSec: number
  /** 5xx answers per second. */
  errorsPerSec?: number
}

export type DashboardUpstream = UpstreamProbeResult & {breaker?: UpstreamBreakerInfo}

export type DashboardSnapshot = Omit<TopSnapshot, 'upstreams'> & {
  upstreams: DashboardUpstream[]
  sites?: SiteRates[]
}
