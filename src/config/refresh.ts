/**
 * Config for serving stale on origin failure (grace) and for refreshing objects before they expire: fuzzy refresh,
 * auto refresh of hot keys (under `cache`, spread into its object so a route may override each key), and warming
 * the hot set after a restart (`warm`, top level). README "Grace, refresh and warming" explains each one with its
 * nginx / Varnish equivalent.
 */
import {z} from 'zod'

import {duration} from './zod-units.js'

/** Keys spread into the `cache` object of ConfigSchema (global defaults; routes may override them). */
export const cacheRefreshKeys = {
  /**
   * How long after it went stale a stored response may still be served when the origin cannot be reached, times out,
   * answers 5xx or has no member available (RFC 9111 §4.2.4). `stale-if-error` from the response or the request
   * replaces it (RFC 5861). Never for must-revalidate, proxy-revalidate, s-maxage or no-cache responses. 0 = off.
   */
  grace: duration('1h'),
  /**
   * Fuzzy refresh: in the last `fuzzy` fraction of an object's lifetime each hit starts a background refresh with a
   * probability rising linearly to 1 at expiry (probabilistic early expiration). 0 = off.
   */
  fuzzy: z.number().min(0).max(1).default(0),
  autoRefresh: z
    .strictObject({
      /** Refresh hot keys in the background shortly before they expire. */
      enabled: z.boolean().default(false),
      /** A key is hot with at least this many requests in the last minute (the top-keys sketch). */
      minHits: z.number().int().min(1).max(1_000_000).default(60),
      /** How long before expiry a hot key is refreshed: at most this, and at most 15 % of its lifetime. */
      before: duration('2s'),
      /** Auto refreshes in flight at once. */
      concurrency: z.number().int().min(1).max(1024).default(8),
      /** Auto refreshes started per second per origin host (the rest wait for the next hit, or go stale). */
      perOriginRate: z.number().gt(0).max(100_000).default(20),
    })
    .prefault({}),
}

export const WarmSchema = z
  .strictObject({
    /** After a start, re-fetch this many of the hottest keys of the last run (0 = off). */
    onStart: z.number().int().min(0).max(100_000).default(0),
    /** Keys kept in the persisted hot set. */
    hotSetSize: z.number().int().min(1).max(100_000).default(1000),
    /** How often the hot set is written to the index (it is also written at shutdown). */
    saveInterval: duration('60s').refine((ms) => ms >= 1000, {message: 'saveInterval must be at least 1s'}),
    /** Warming fetches in flight at once. */
    concurrency: z.number().int().min(1).max(32).default(4),
  })
  .prefault({})

/** The refresh policy of one request: the global `cache` values today; a route's overrides once routes exist. */
export interface RefreshPolicy {
  /** ms */
  grace: number
  fuzzy: number
  autoRefresh: {enabled: boolean; minHits: number; before: number; concurrency: number; perOriginRate: number}
}
