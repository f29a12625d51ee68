/**
 * Everything the cache needs to decide about a stored response, computed once at store / 304-refresh time.
 */
import {getHeader, type RawHeaders, withoutHeaders} from '../util/raw-headers.js'
import {correctedInitialAge, dateValue, freshnessLifetime, parseAge, parseHttpDate} from './freshness.js'
import type {StoredPolicy} from './policy-types.js'
import {effectiveCacheControl} from './targeted.js'

export interface PolicyOptions {
  /** Targeted cache-control fields in priority order, e.g. ['tavern-cache-control', 'cdn-cache-control']. */
  targetedFields: readonly string[]
  heuristicFraction: number
  heuristicMaxSeconds: number
  /** 0 = off. */
  defaultTtlSeconds: number
  /** Upper bound on any lifetime; 0 = no cap. */
  maxTtlSeconds: number
  /** The operator's `ttl` table (seconds by status), used when the origin gives no freshness (or always with forceTtl). */
  statusTtl?: (status: number) => number | undefined
  forceTtl?: boolean
  /** Origin fields (lower case) left out of the decision (`ignoreOrigin`). */
  ignore?: ReadonlySet<string>
}

/** The header lines caching decisions look at: the origin's, minus the fields the operator said to ignore. */
export function decisionHeaders(headers: RawHeaders, ignore: ReadonlySet<string> | undefined): RawHeaders {
  return ignore && ignore.size ? withoutHeaders(headers, ignore) : headers
}

/** Lifetime sources that are the origin's own statement of freshness (a `ttl` entry does not replace them unless forced). */
const ORIGIN_GIVEN: ReadonlySet<StoredPolicy['lifetimeSource']> = new Set(['cache-control-target', 's-maxage', 'max-age', 'expires', 'invalid'])

export interface PolicyInput {
  status: number
  headers: RawHeaders
  /** ms epoch. */
  requestTime: number
  responseTime: number
}

export function computePolicy(input: PolicyInput, opts: PolicyOptions): StoredPolicy {
  const headers = decisionHeaders(input.headers, opts.ignore)
  const {cc, source} = effectiveCacheControl(headers, opts.targetedFields)
  let life = freshnessLifetime(input.status, headers, cc, {
    heuristicFraction: opts.heuristicFraction,
    heuristicMaxSeconds: opts.heuristicMaxSeconds,
    defaultTtlSeconds: opts.defaultTtlSeconds,
    responseTime: input.responseTime,
    ccSource: source,
  })
  const configured = opts.statusTtl?.(input.status)
  if (configured !== undefined && (opts.forceTtl || !ORIGIN_GIVEN.has(life.source))) life = {seconds: configured, source: opts.forceTtl ? 'forced-ttl' : 'ttl'}
  const lifetime = opts.maxTtlSeconds > 0 ? Math.min(life.seconds, opts.maxTtlSeconds) : life.seconds

  const policy: StoredPolicy = {
    lifetime,
    lifetimeSource: life.source,
    correctedInitialAge: correctedInitialAge({
      ageValue: parseAge(headers),
      dateValue: dateValue(headers, input.responseTime),
      requestTime: input.requestTime,
      responseTime: input.responseTime,
    }),
    // The qualified form (`no-cache="Set-Cookie"`) is handled by dropping those fields at store time instead.
    noCache: cc.has('no-cache') && cc.fieldNames('no-cache') === undefined,
    // RFC 9111 §5.2.2.10: s-maxage carries proxy-revalidate semantics for a shared cache. RFC 9213 gives s-maxage
    // no special meaning in a targeted field, so there it is just another max-age.
    mustRevalidate:
      cc.has('must-revalidate') || cc.has('proxy-revalidate') || (source === 'cache-control' && cc.has('s-maxage')),
  }
  const swr = cc.seconds('stale-while-revalidate')
  if (swr !== undefined) policy.staleWhileRevalidate = swr
  const sie = cc.seconds('stale-if-error')
  if (sie !== undefined) policy.staleIfError = sie
  const etag = getHeader(input.headers, 'etag')
  if (etag !== undefined) policy.etag = etag.trim()
  const lm = getHeader(input.headers, 'last-modified')
  if (lm !== undefined) policy.lastModified = lm.trim()
  const date = parseHttpDate(getHeader(input.headers, 'date'), input.responseTime)
  if (date !== undefined) policy.date = date
  return policy
}
