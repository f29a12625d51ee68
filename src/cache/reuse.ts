/**
 * Can a stored response answer this request? (RFC 9111 §4, §4.2.4, §5.2.1; RFC 5861)
 * Ages are whole seconds; a response is fresh while lifetime > current_age.
 */
import {getAll, type RawHeaders} from '../util/raw-headers.js'
import {parseCacheControl, type CacheControl} from './cache-control.js'
import {currentAge} from './freshness.js'
import type {StoredPolicy} from './policy-types.js'

export type ReuseDecision =
  | {kind: 'fresh'; age: number}
  | {kind: 'stale-ok'; age: number; reason: 'max-stale'}
  | {kind: 'stale-while-revalidate'; age: number}
  | {kind: 'revalidate'; age: number; reason: string}

export interface StoredForReuse {
  policy: StoredPolicy
  /** ms epoch. */
  responseTime: number
  /** Set by an expire-mode purge (ms epoch). */
  invalidatedAt?: number
}

export interface ReuseOptions {
  /**
   * Let clients force revalidation with request `no-cache`, `Pragma: no-cache` or `max-age=0`.
   * Off protects the origin from reload storms; other request directives are always honoured.
   */
  honorRequestNoCache: boolean
}

function requestCc(headers: RawHeaders): CacheControl {
  return parseCacheControl(getAll(headers, 'cache-control'))
}

/** RFC 9111 §5.4: Pragma: no-cache counts only when the request has no Cache-Control. */
function pragmaNoCache(headers: RawHeaders): boolean {
  if (getAll(headers, 'cache-control').length > 0) return false
  return getAll(headers, 'pragma').some((l) => l.split(',').some((m) => m.trim().toLowerCase() === 'no-cache'))
}

/** An expire-mode purge applies until the object is refreshed after it. */
function invalidated(stored: StoredForReuse): boolean {
  return stored.invalidatedAt !== undefined && stored.invalidatedAt >= stored.responseTime
}

export function decideReuse(
  req: {headers: RawHeaders; method: string},
  stored: StoredForReuse,
  now: number,
  opts: ReuseOptions,
): ReuseDecision {
  const {policy} = stored
  const age = currentAge(policy, stored.responseTime, now)
  const rcc = requestCc(req.headers)
  const revalidate = (reason: string): ReuseDecision => ({kind: 'revalidate', age, reason})

  if (invalidated(stored)) return revalidate('invalidated by purge')
  if (policy.noCache) return revalidate('response no-cache')
  if (opts.honorRequestNoCache) {
    if (rcc.has('no-cache')) return revalidate('request no-cache')
    if (pragmaNoCache(req.headers)) return revalidate('request Pragma: no-cache')
  }

  // §5.2.1.1: the client accepts age <= max-age. max-age=0 is the conventional "revalidate" request, so it
  // always revalidates (when allowed) even if the stored response is less than a second old.
  const reqMaxAge = rcc.seconds('max-age')
  if (reqMaxAge !== undefined) {
    if (reqMaxAge === 0 ? opts.honorRequestNoCache : age > reqMaxAge) return revalidate('request max-age exceeded')
  }

  const remaining = policy.lifetime - age
  if (remaining > 0) {
    // §5.2.1.3: min-fresh asks for a response that stays fresh at least that long.
    const minFresh = rcc.seconds('min-fresh')
    if (minFresh !== undefined && remaining < minFresh) return revalidate('min-fresh not satisfied')
    return {kind: 'fresh', age}
  }

  const staleness = -remaining
  // §4.2.4: must-revalidate / proxy-revalidate / s-maxage forbid serving stale, whatever the client accepts.
  if (policy.mustRevalidate) return revalidate('stale and must-revalidate')

  if (rcc.has('max-stale')) {
    const ms = rcc.value('max-stale') === true ? Infinity : rcc.seconds('max-stale')
    // A min-fresh request cannot be satisfied by a stale response.
    if (ms !== undefined && staleness <= ms && rcc.seconds('min-fresh') === undefined) {
      return {kind: 'stale-ok', age, reason: 'max-stale'}
    }
  }

  const swr = Math.max(policy.staleWhileRevalidate ?? -1, rcc.seconds('stale-while-revalidate') ?? -1)
  if (staleness < swr) return {kind: 'stale-while-revalidate', age}

  return revalidate('stale')
}

/**
 * RFC 5861 §4: may a stale response be served because the origin failed (5xx / unreachable)?
 * Not when the response forbids stale service (must-revalidate, s-maxage, no-cache; RFC 9111 §4.2.4).
 */
export function staleIfErrorAllowed(reqHeaders: RawHeaders, stored: StoredForReuse, now: number): boolean {
  const {policy} = stored
  if (policy.mustRevalidate || policy.noCache) return false
  const age = currentAge(policy, stored.responseTime, now)
  const staleness = age - policy.lifetime
  if (staleness < 0) return true
  const window = Math.max(policy.staleIfError ?? -1, requestCc(reqHeaders).seconds('stale-if-error') ?? -1)
  return staleness < window
}

/** RFC 9111 §5.2.1.7: the client wants a stored response or a 504, never a forward. */
export function onlyIfCached(reqHeaders: RawHeaders): boolean {
  return requestCc(reqHeaders).has('only-if-cached')
}

/** Request `no-store` (RFC 9111 §5.2.1.5): nothing of this exchange may be stored. */
export function requestNoStore(reqHeaders: RawHeaders): boolean {
  return requestCc(reqHeaders).has('no-store')
}
