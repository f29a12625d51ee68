/**
 * Grace: may a stored response be served because the origin failed (unreachable, timed out, 5xx, no member
 * available)? RFC 9111 §4.2.4 lets a disconnected cache serve stale unless the response forbids it; RFC 5861 §4
 * `stale-if-error` gives the window explicitly. Without one, the operator's `cache.grace` applies.
 */
import {getAll, type RawHeaders} from '../util/raw-headers.js'
import {parseCacheControl} from './cache-control.js'
import {currentAge} from './freshness.js'
import type {StoredForReuse} from './reuse.js'

export type GraceVerdict =
  /** Serve the stored response; `via` names what allowed it (its Cache-Status detail). */
  | {serve: true; via: 'grace' | 'stale-if-error'; staleness: number}
  | {serve: false; reason: 'forbidden' | 'window'}

/**
 * The window is, most specific first: the request's `stale-if-error` (the client says how stale it accepts: it
 * narrows or widens), the response's `stale-if-error` (the origin's explicit choice), else `graceSeconds`.
 * must-revalidate, proxy-revalidate, s-maxage (all in `policy.mustRevalidate`) and no-cache forbid it whatever the window.
 */
export function graceVerdict(reqHeaders: RawHeaders, stored: StoredForReuse, now: number, graceSeconds: number): GraceVerdict {
  const {policy} = stored
  if (policy.mustRevalidate || policy.noCache) return {serve: false, reason: 'forbidden'}
  const staleness = currentAge(policy, stored.responseTime, now) - policy.lifetime
  const fromRequest = reqHeaders.length > 0 ? parseCacheControl(getAll(reqHeaders, 'cache-control')).seconds('stale-if-error') : undefined
  const via = fromRequest !== undefined || policy.staleIfError !== undefined ? 'stale-if-error' : 'grace'
  const window = fromRequest ?? policy.staleIfError ?? graceSeconds
  // Still fresh (revalidated only because the request asked): serving it is no staler than a hit.
  if (staleness < 0 || staleness < window) return {serve: true, via, staleness: Math.max(0, staleness)}
  return {serve: false, reason: 'window'}
}
