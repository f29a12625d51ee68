import {decideReuse} from '../cache/reuse.js'
import {variantSelector} from '../cache/vary.js'
import {TavernError} from '../core/errors.js'
import type {OpsServices} from '../core/services.js'
import {recordAgeSeconds} from '../proxy/cache-headers.js'
import {makesHttpsKeys, operatorCacheKey} from '../proxy/request-target.js'
import {routeTable} from '../proxy/route-table.js'
import type {ObjectRecord} from '../storage/types.js'
import type {RawHeaders} from '../util/raw-headers.js'
import type {InspectReply, NotCachedInfo, VariantInfo} from '../admin/protocol.js'

const SOURCE_TEXT: Record<ObjectRecord['policy']['lifetimeSource'], string> = {
  'cache-control-target': 'targeted cache-control field (RFC 9213)',
  's-maxage': 'Cache-Control s-maxage',
  'max-age': 'Cache-Control max-age',
  expires: 'Expires header',
  heuristic: 'heuristic (fraction of Date − Last-Modified)',
  default: 'cache.defaultTtl (no explicit freshness)',
  none: 'no explicit freshness (stale on arrival)',
  invalid: 'invalid or conflicting freshness information (treated as stale)',
  ttl: 'the route\'s cache.ttl table (the origin gave no freshness)',
  'forced-ttl': 'the route\'s cache.ttl table (forceTtl: the origin\'s freshness overridden)',
}

const iso = (ms: number) => new Date(ms).toISOString()

/** Parse `h` query values (`Name: value`); TavernError (a usage error) when one has no colon. */
export function parseHeaderParams(values: string[]): Array<[string, string]> {
  return values.map((h) => {
    const i = h.indexOf(':')
    if (i <= 0) throw new TavernError('TAVERN_ERR_BAD_HEADERS', `request header must look like "Name: value", not ${JSON.stringify(h)}`)
    return [h.slice(0, i).trim(), h.slice(i + 1).trim()]
  })
}

/** GET /keys/inspect?url=…[&h=Name: v…]: everything the cache holds for a URL, and why each variant is (not) fresh. */
export function inspectKey(d: OpsServices, url: string | null, headerParams: string[]): InspectReply {
  if (!url) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', 'missing ?url=')
  const key = operatorCacheKey(url.trim(), d.config.cache, routeTable(d.config), makesHttpsKeys(d.config.listen), d.config.forwardProxy)
  if (key === undefined) throw new TavernError('TAVERN_ERR_BAD_URL', `not an absolute http(s) URL: ${JSON.stringify(url)}`)
  const headers = parseHeaderParams(headerParams)
  const now = Date.now()
  const vary = d.storage.getVary(key)
  const records = d.storage.variants(key)
  let selection: InspectReply['selection']
  if (headerParams.length > 0) {
    const raw: RawHeaders = headers.flat()
    const variant = vary ? variantSelector(vary.names, raw) : ''
    selection = {headers, variant, stored: variant !== null && records.some((r) => r.variant === variant)}
  }
  return {
    url,
    key,
    stored: records.length > 0,
    ...(records.length === 0 ? {notCached: whyNotCached(d, key)} : {}),
    vary: vary && vary.names.length > 0 ? {names: [...vary.names], variants: [...vary.variants]} : null,
    ...(selection ? {selection} : {}),
    variants: records.map((r) => describeVariant(d, r, now, selection)),
  }
}

/** The last moment the origin's failure would still let this response be served (grace.ts), for an empty request. */
function graceUntil(d: OpsServices, r: ObjectRecord, now: number): string | null {
  const p = r.policy
  if (p.mustRevalidate || p.noCache) return null
  const window = p.staleIfError ?? d.config.cache.grace / 1000
  const ttl = p.lifetime - recordAgeSeconds(r, now)
  return iso(now + (ttl + window) * 1000)
}

/** What the daemon knows of why `key` is not stored: the last decision on the request path, or a recent purge. */
function whyNotCached(d: OpsServices, key: string): NotCachedInfo {
  const decided = d.stats.notStoredMemory.get(key)
  // A purge after the decision is the latest word (and one for a prefix covers the key).
  const purge = d.stats.purges.list().purges.find((p) => p.purged > 0 && p.mode === 'delete' && (p.target === key || (p.scope === 'dir' && key.startsWith(p.target))))
  if (purge && (!decided || purge.at >= decided.at)) {
    return {why: 'purged', reason: `purged (${purge.scope === 'dir' ? `directory ${purge.target}` : 'this URL'}, ${purge.source === 'PURGE' ? `PURGE from ${purge.peer ?? '?'}` : 'admin'})`, at: iso(purge.at), suggestions: []}
  }
  if (decided) return {why: decided.kind, reason: decided.reason, at: iso(decided.at), ...(decided.status !== undefined ? {status: decided.status} : {}), suggestions: []}
  return {why: 'unknown', reason: 'not requested since the daemon started, or evicted/expired and removed', suggestions: []}
}

function describeVariant(d: OpsServices, r: ObjectRecord, now: number, selection: InspectReply['selection']): VariantInfo {
  const p = r.policy
  const age = recordAgeSeconds(r, now)
  const access = d.storage.accessInfo(r)
  const ttl = p.lifetime - age
  const decision = decideReuse({headers: [], method: 'GET'}, r, now, {honorRequestNoCache: false})
  const headers: Array<[string, string]> = []
  for (let i = 0; i < r.headers.length; i += 2) headers.push([r.headers[i]!, r.headers[i + 1]!])
  const info: VariantInfo = {
    variant: r.variant,
    ...(selection ? {selected: selection.variant === r.variant} : {}),
    status: r.status,
    statusText: r.statusText,
    size: r.size,
    headers,
    date: p.date !== undefined ? iso(p.date) : null,
    age,
    requestTime: iso(r.requestTime),
    responseTime: iso(r.responseTime),
    storedAt: iso(r.storedAt),
    freshness: {lifetime: p.lifetime, source: p.lifetimeSource, sourceText: SOURCE_TEXT[p.lifetimeSource] ?? p.lifetimeSource, ttl, expiresAt: iso(now + ttl * 1000)},
    state: decision.kind === 'fresh' ? 'fresh' : 'stale',
    directives: {
      noCache: p.noCache,
      mustRevalidate: p.mustRevalidate,
      ...(p.staleWhileRevalidate !== undefined ? {staleWhileRevalidate: p.staleWhileRevalidate} : {}),
      ...(p.staleIfError !== undefined ? {staleIfError: p.staleIfError} : {}),
    },
    validators: {...(p.etag !== undefined ? {etag: p.etag} : {}), ...(p.lastModified !== undefined ? {lastModified: p.lastModified} : {})},
    crc32c: (r.crc32c >>> 0).toString(16).padStart(8, '0'),
    tier: d.storage.memoryBody(r) ? 'memory' : 'disk',
    hits: access.hits,
    lastAccess: iso(access.lastAccess),
    file: r.file,
    bodyPath: d.storage.bodyPath(r),
  }
  if (r.invalidatedAt !== undefined) info.invalidatedAt = iso(r.invalidatedAt)
  const refresh = d.refreshInfo?.(r.key, r.variant)
  if (refresh) {
    info.refresh = {
      ...(refresh.last ? {last: {at: iso(refresh.last.at), reason: refresh.last.reason, result: refresh.last.result}} : {}),
      ...(refresh.next ? {next: {at: iso(refresh.next.at), reason: refresh.next.reason}} : {}),
      inGrace: refresh.inGrace,
    }
  }
  info.graceUntil = graceUntil(d, r, now)
  if (decision.kind === 'stale-while-revalidate') {
    info.staleReason = `freshness lifetime exceeded ${-ttl}s ago`
    info.serveStale = 'stale-while-revalidate'
  } else if (decision.kind === 'revalidate') {
    info.staleReason =
      decision.reason === 'stale'
        ? `freshness lifetime (${p.lifetime}s, ${SOURCE_TEXT[p.lifetimeSource] ?? p.lifetimeSource}) exceeded ${-ttl}s ago`
        : decision.reason === 'stale and must-revalidate'
          ? `freshness lifetime exceeded ${-ttl}s ago; must-revalidate forbids serving it stale`
          : decision.reason === 'response no-cache'
            ? 'response Cache-Control: no-cache (every reuse is validated)'
            : decision.reason
  }
  return info
}
