/**
 * Freshness (RFC 9111 §4.2): how long a response stays fresh and how old it is.
 * All results are in seconds; input times are ms epoch.
 */
import {getAll, getHeader, type RawHeaders} from '../util/raw-headers.js'
import {DELTA_SECONDS_MAX, type CacheControl} from './cache-control.js'
import {parseHttpDate} from './http-date.js'
import type {StoredPolicy} from './policy-types.js'

export {parseHttpDate, formatHttpDate} from './http-date.js'

export type LifetimeSource = StoredPolicy['lifetimeSource']

/** RFC 9110 §15.1: status codes that are heuristically cacheable (may be reused without explicit freshness). */
const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501])

export function isHeuristicallyCacheable(status: number): boolean {
  return HEURISTIC_STATUSES.has(status)
}

export interface FreshnessOptions {
  /** Fraction of (Date − Last-Modified) used as heuristic lifetime (RFC 9111 §4.2.2 suggests 0.1). */
  heuristicFraction: number
  /** Upper bound for heuristic lifetimes; 0 or less means no bound. */
  heuristicMaxSeconds: number
  /** Lifetime for heuristically cacheable responses with no other freshness information; 0 = off. */
  defaultTtlSeconds: number
  /** When the response was received (ms): stands in for a missing or invalid Date. */
  responseTime: number
  /** Where `cc` came from; a targeted field replaces Cache-Control *and* Expires (RFC 9213 §2.1). */
  ccSource?: 'targeted' | 'cache-control'
}

export interface Lifetime {
  seconds: number
  source: LifetimeSource
}

/** date_value of RFC 9111 §4.2.3: the Date header, or the response time when Date is missing or invalid (RFC 9110 §6.6.1). */
export function dateValue(headers: RawHeaders, responseTime: number): number {
  return parseHttpDate(getHeader(headers, 'date'), responseTime) ?? responseTime
}

/** RFC 9111 §4.2.1 / §4.2.2 freshness lifetime, shared-cache view (s-maxage applies). */
export function freshnessLifetime(status: number, headers: RawHeaders, cc: CacheControl, opts: FreshnessOptions): Lifetime {
  const targeted = opts.ccSource === 'targeted'
  const explicit = (src: 's-maxage' | 'max-age'): LifetimeSource => (targeted ? 'cache-control-target' : src)

  // §4.2.1: duplicated directives with different values may be "considered stale"; invalid ones likewise, so that
  // a typo never extends freshness.
  if (cc.has('s-maxage')) {
    if (cc.conflicting('s-maxage') || cc.invalid('s-maxage')) return {seconds: 0, source: 'invalid'}
    return {seconds: cc.seconds('s-maxage')!, source: explicit('s-maxage')}
  }
  if (cc.has('max-age')) {
    if (cc.conflicting('max-age') || cc.invalid('max-age')) return {seconds: 0, source: 'invalid'}
    return {seconds: cc.seconds('max-age')!, source: explicit('max-age')}
  }

  const date = dateValue(headers, opts.responseTime)
  if (!targeted) {
    const expires = getAll(headers, 'expires')
    if (expires.length > 0) {
      const distinct = new Set(expires.map((e) => e.trim()))
      if (distinct.size > 1) return {seconds: 0, source: 'invalid'}
      // RFC 9111 §5.3: an invalid date (notably "0") means "already expired".
      const exp = parseHttpDate(expires[0], opts.responseTime)
      if (exp === undefined) return {seconds: 0, source: 'expires'}
      return {seconds: clampSeconds(Math.max(0, Math.floor((exp - date) / 1000))), source: 'expires'}
    }
  }

  // §4.2.2: heuristics only without explicit expiration, for heuristically cacheable statuses or `public` responses.
  if (isHeuristicallyCacheable(status) || cc.has('public')) {
    const lm = parseHttpDate(getHeader(headers, 'last-modified'), opts.responseTime)
    if (lm !== undefined && lm <= date) {
      let s = Math.floor((opts.heuristicFraction * (date - lm)) / 1000)
      if (opts.heuristicMaxSeconds > 0) s = Math.min(s, opts.heuristicMaxSeconds)
      return {seconds: clampSeconds(Math.max(0, s)), source: 'heuristic'}
    }
  }
  if (opts.defaultTtlSeconds > 0 && isHeuristicallyCacheable(status)) {
    return {seconds: clampSeconds(Math.floor(opts.defaultTtlSeconds)), source: 'default'}
  }
  return {seconds: 0, source: 'none'}
}

function clampSeconds(n: number): number {
  return n > DELTA_SECONDS_MAX ? DELTA_SECONDS_MAX : n
}

/**
 * Age header value (RFC 9111 §5.1): first member of the first line; must be a non-negative integer,
 * otherwise ignored (0). Huge values clamp to 2^31.
 */
export function parseAge(headers: RawHeaders): number {
  const line = getHeader(headers, 'age')
  if (line === undefined) return 0
  const first = line.split(',')[0]!.trim()
  if (!/^[0-9]+$/.test(first)) return 0
  return clampSeconds(Number(first))
}

export interface AgeInputs {
  /** Age header value, seconds. */
  ageValue: number
  /** date_value, ms epoch. */
  dateValue: number
  /** ms epoch. */
  requestTime: number
  responseTime: number
}

/**
 * corrected_initial_age of RFC 9111 §4.2.3, in whole seconds (floored: the Age field and dates are integral,
 * and sub-second transit must not make a response stale a second early).
 */
export function correctedInitialAge(a: AgeInputs): number {
  const apparentAge = Math.max(0, (a.responseTime - a.dateValue) / 1000)
  const responseDelay = Math.max(0, (a.responseTime - a.requestTime) / 1000)
  const correctedAgeValue = a.ageValue + responseDelay
  return clampSeconds(Math.floor(Math.max(apparentAge, correctedAgeValue)))
}

/** current_age (RFC 9111 §4.2.3) in whole seconds at `now`: corrected_initial_age + resident_time. */
export function currentAge(policy: Pick<StoredPolicy, 'correctedInitialAge'>, responseTime: number, now: number): number {
  const resident = Math.max(0, Math.floor((now - responseTime) / 1000))
  return clampSeconds(policy.correctedInitialAge + resident)
}
