/**
 * The config keys of upstream resilience and rate limiting, as they enter ConfigSchema (docs/upstreams.md,
 * docs/rate-limits.md):
 * - `upstreamResilienceKeys` are spread into the `upstream` options object (and so into every named group of
 *   `upstreamGroups`, which has the same keys): balance, healthCheck, outlier, breaker, retry, timeouts;
 * - `upstreamMemberKeys` into each `upstreams[]` entry: `backup`;
 * - `RateLimitsConfig` is the top-level `rateLimits`.
 * `resilienceOf` turns a parsed options object into what an UpstreamGroup takes.
 */
import {BalanceConfig, BreakerConfig, HealthCheckConfig, OutlierConfig, RetryConfig, TimeoutsConfig, UpstreamMemberExtras, type UpstreamResilience} from '../proxy/origin/config.js'

export {RateLimitsConfig} from '../traffic/ratelimit/config.js'

export const upstreamResilienceKeys = {
  balance: BalanceConfig,
  /** Present = active health checks on. */
  healthCheck: HealthCheckConfig.optional(),
  outlier: OutlierConfig,
  breaker: BreakerConfig,
  retry: RetryConfig,
  timeouts: TimeoutsConfig,
}

export const upstreamMemberKeys = UpstreamMemberExtras

/** The resilience part of a parsed `upstream` (or named group) options object. */
export function resilienceOf(o: UpstreamResilience): UpstreamResilience {
  return {balance: o.balance, healthCheck: o.healthCheck, outlier: o.outlier, breaker: o.breaker, retry: o.retry, timeouts: o.timeouts}
}
