/**
 * May this response be stored by a shared cache? (RFC 9111 §3, §3.5, §5.2.2.3)
 * Every outcome carries a short reason for `tavern inspect-key` and the logs.
 */
import {getAll, hasHeader, type RawHeaders} from '../util/raw-headers.js'
import {parseCacheControl} from './cache-control.js'
import {isHeuristicallyCacheable} from './freshness.js'
import {effectiveCacheControl} from './targeted.js'
import {parseVary} from './vary.js'

export interface StorabilityOptions {
  targetedFields: readonly string[]
  /** Override of RFC 9110's heuristically cacheable status list. */
  heuristicallyCacheable?: (status: number) => boolean
  /** When > 0, heuristically cacheable responses get a default lifetime, so they are worth storing even without validators. */
  defaultTtlSeconds?: number
  /** Statuses the operator's `ttl` table names: storable without explicit freshness (nginx proxy_cache_valid). */
  configuredTtl?: (status: number) => number | undefined
}

export interface Storability {
  store: boolean
  reason: string
}

/**
 * Status codes whose caching semantics we implement, for `must-understand` (RFC 9111 §5.2.2.3):
 * the final codes defined by RFC 9110 (206 is handled by the range path, never here).
 */
const UNDERSTOOD: ReadonlySet<number> = new Set([
  200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408,
  409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 426, 500, 501, 502, 503, 504, 505,
])

const no = (reason: string): Storability => ({store: false, reason})
const yes = (reason: string): Storability => ({store: true, reason})

export function storability(
  req: {method: string; headers: RawHeaders},
  res: {status: number; headers: RawHeaders},
  opts: StorabilityOptions,
): Storability {
  if (req.method !== 'GET') return no(`method ${req.method} is not cached`)
  if (res.status < 200) return no(`status ${res.status} is not a final response`)
  if (res.status === 206) return no('206 partial content is stored by the range path only')
  if (res.status === 304) return no('304 only refreshes a stored response')

  const reqCc = parseCacheControl(getAll(req.headers, 'cache-control'))
  if (reqCc.has('no-store')) return no('request Cache-Control: no-store')

  const {cc, source} = effectiveCacheControl(res.headers, opts.targetedFields)
  const where = source === 'targeted' ? 'targeted cache-control' : 'Cache-Control'

  // §5.2.2.3: must-understand lets a cache that knows the status's rules ignore no-store,
  // and forbids storing when it does not know them.
  if (cc.has('must-understand')) {
    if (!UNDERSTOOD.has(res.status)) return no(`must-understand with status ${res.status} we do not understand`)
  } else if (cc.has('no-store')) {
    return no(`response ${where}: no-store`)
  }
  if (cc.has('private') && cc.fieldNames('private') === undefined) return no(`response ${where}: private (shared cache)`)

  // §3.5: responses to authenticated requests only when the response explicitly allows shared reuse.
  if (hasHeader(req.headers, 'authorization') && !(cc.has('public') || cc.has('s-maxage') || cc.has('must-revalidate'))) {
    return no('request has Authorization and response lacks public, s-maxage or must-revalidate')
  }

  const vary = parseVary(res.headers)
  if (vary.includes('*')) return no('Vary: * never matches a later request')

  if (cc.has('s-maxage')) return yes(`${where}: s-maxage`)
  if (cc.has('max-age')) return yes(`${where}: max-age`)
  // A targeted field replaces Expires for freshness, but an Expires still marks the response as meant for caching.
  if (hasHeader(res.headers, 'expires')) return yes('Expires present')
  if (cc.has('public')) return yes(`${where}: public`)

  if (opts.configuredTtl?.(res.status) !== undefined && !cc.has('no-cache')) return yes(`status ${res.status} with a configured ttl`)
  const heuristic = (opts.heuristicallyCacheable ?? isHeuristicallyCacheable)(res.status)
  if (!heuristic) return no(`status ${res.status} is not cacheable by default and has no explicit freshness`)
  if (cc.has('no-cache')) return yes(`${where}: no-cache (stored, always revalidated)`)
  if (hasHeader(res.headers, 'last-modified')) return yes(`status ${res.status} with Last-Modified (heuristic freshness)`)
  if (hasHeader(res.headers, 'etag')) return yes(`status ${res.status} with ETag (can be revalidated)`)
  if ((opts.defaultTtlSeconds ?? 0) > 0) return yes(`status ${res.status} with configured default TTL`)
  return no(`status ${res.status} without freshness information or validator`)
}
