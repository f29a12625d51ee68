/**
 * What of an origin response the cache keeps and how fresh it is: hop-by-hop fields removed, a Date added when the
 * origin sent none, no-cache="f" / private="f" fields left out, the freshness policy computed under `cache.*`; and
 * the request a fill sends (the client's conditionals and Range are answered by us, never forwarded).
 */
import {parseCacheControl} from '../cache/cache-control.js'
import {buildValidationHeaders} from '../cache/conditional.js'
import {storableHeaders} from '../cache/header-update.js'
import {formatHttpDate} from '../cache/http-date.js'
import {computePolicy, decisionHeaders, type PolicyOptions} from '../cache/policy.js'
import {compilePolicy} from '../cache/policy-resolve.js'
import type {StoredPolicy} from '../cache/policy-types.js'
import {parseContentRange} from '../cache/range.js'
import type {TavernConfig} from '../config/schema.js'
import type {ObjectRecord} from '../storage/types.js'
import {getAll, getHeader, type RawHeaders, withoutHeaders} from '../util/raw-headers.js'
import {stripHopByHop} from './origin/hop-by-hop.js'
import type {UpstreamResponse} from './origin/upstream.js'

const policies = new WeakMap<TavernConfig['cache'], PolicyOptions>()

/**
 * The freshness rules of a `cache` section — the config's, or a route's merged one (one object per config and route:
 * a reload brings new ones).
 */
export function policyOptions(c: TavernConfig['cache']): PolicyOptions {
  let p = policies.get(c)
  if (!p) {
    const compiled = compilePolicy(c)
    p = {
      targetedFields: c.targetedFields,
      heuristicFraction: c.heuristicFraction,
      heuristicMaxSeconds: c.heuristicMax / 1000,
      defaultTtlSeconds: c.defaultTtl / 1000,
      maxTtlSeconds: c.maxTtl / 1000,
      statusTtl: compiled.hasTtl ? compiled.statusTtl : undefined,
      forceTtl: compiled.forceTtl,
      ignore: compiled.ignore.size ? compiled.ignore : undefined,
    }
    policies.set(c, p)
  }
  return p
}

/** Client conditionals and Range are answered by us from the full response, so they never go upstream on a fill. */
const CLIENT_ONLY = new Set(['range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'])

/**
 * An origin response's header lines as the cache works with them: hop-by-hop fields removed and, per RFC 9110
 * §6.6.1, a Date added when the origin sent none (so replays carry the time it was received).
 */
export function originHeaders(up: Pick<UpstreamResponse, 'headers'>, responseTime: number): RawHeaders {
  const headers = stripHopByHop(up.headers)
  if (getHeader(headers, 'date') === undefined) headers.push('Date', formatHttpDate(responseTime))
  return headers
}

/** The stored form of a response (no-cache="f"/private="f" fields left out, minus `drop`) and its freshness policy. */
export function storedForm(
  headers: RawHeaders,
  status: number,
  times: {requestTime: number; responseTime: number},
  opts: PolicyOptions,
  drop?: ReadonlySet<string>,
): {headers: RawHeaders; policy: StoredPolicy} {
  // Fields the operator ignores do not drop fields either (no-cache="f" in an ignored Cache-Control).
  let stored = storableHeaders(headers, parseCacheControl(getAll(decisionHeaders(headers, opts.ignore), 'cache-control')))
  if (drop) stored = withoutHeaders(stored, drop)
  return {headers: stored, policy: computePolicy({status, headers: stored, ...times}, opts)}
}

/** A Content-Length header's value when it is a valid length (a safe integer; larger claims are not lengths). */
export function declaredLength(headers: RawHeaders): number | undefined {
  const cl = getHeader(headers, 'content-length')?.trim()
  if (cl === undefined || !/^\d+$/.test(cl)) return undefined
  const n = Number(cl)
  return Number.isSafeInteger(n) ? n : undefined
}

/**
 * Whether a 200's Content-Range (a field without meaning on a 200, RFC 9110 §14.4) may be stored and replayed with the
 * body: anything but a byte range that claims the body is only a part of the representation. A 200 that says
 * `bytes 0-99/1000` is most likely a mislabelled 206, and storing it as the whole representation would serve wrong bytes.
 */
export function contentRangeAllowsWhole(headers: RawHeaders): boolean {
  const value = getHeader(headers, 'content-range')
  if (value === undefined) return true
  const cr = parseContentRange(value)
  if (!cr || !('start' in cr)) return true
  const length = declaredLength(headers)
  return cr.start === 0 && cr.size !== undefined && cr.end === cr.size - 1 && (length === undefined || length === cr.size)
}

/** The header lines a fill (or slice fetch) sends: the client's conditionals and Range left out, ours added. */
export function fillUpstreamHeaders(upstreamHeaders: RawHeaders, stored?: ObjectRecord): RawHeaders {
  const out = stripHopByHop(upstreamHeaders, CLIENT_ONLY)
  if (stored) out.push(...buildValidationHeaders({etag: stored.policy.etag, lastModified: stored.policy.lastModified}))
  return out
}
