import {domainToASCII} from 'node:url'

/**
 * Request targets and cache keys: a client's target and Host resolved to the key and to what the origin is asked
 * for (RFC 9112 §3.2), and the keys of URLs operators name (purge, inspect, prefetch, verify).
 */
import {isValidAuthority, keyOf, keyQuery, normalizeAuthority, type NormalizedTarget, normalizeTarget, originForm, parseAbsoluteUri} from '../cache/cache-key.js'
import type {TavernConfig} from '../config/schema.js'
import {type CompiledRoute, claimingSite, legacyRouteTable, routeFor, type RouteTable, siteFor} from './route-table.js'

type CacheConfig = TavernConfig['cache']

function keyOptions(r: CompiledRoute): {query: 'keep' | 'sort' | 'ignore'; ignoreParams: string[]} {
  return r.cache
}

/** The route of an authority and path under a table; undefined when no site claims the authority and there is no default. */
function routeOf(table: RouteTable, authority: string, path: string): CompiledRoute | undefined {
  const site = siteFor(table, authority)
  return site && routeFor(site, path)
}

/** A request target that may be served: the key, and the origin-form target and Host that go upstream. */
export interface AdmittedTarget {
  ok: true
  key: string
  /** The listener's scheme, the key's first part. */
  scheme: 'http' | 'https'
  /** Normalised authority (lower case, no default port): the Host sent upstream. */
  authority: string
  /** Normalised origin-form target (RFC 3986 §6.2.2): what the origin is asked for. */
  target: string
  /** The site of the authority (undefined: no sites configured, or a Host no cache.sites entry names). */
  site: string | undefined
  /** The site's route for the path: upstream group and cache policy (the key rules above come from it). */
  route: CompiledRoute
  /** The key's path and query (under the key rules), from which `key` is built: what preCacheKey hooks start from. */
  keyPath: string
  keyQuery: string
}

/** A request target that is refused before anything else happens. */
export interface RefusedTarget {
  ok: false
  status: 400 | 421
  message: string
}

/** What the data plane does with `OPTIONS *`: answered by Tavern (it is about the server, not a resource). */
export interface AsteriskTarget {
  ok: 'asterisk'
}

export type TargetResolution = AdmittedTarget | RefusedTarget | AsteriskTarget

/**
 * Resolving a target costs more than looking it up again, and hot targets repeat: remember recent (host, target) →
 * resolution pairs. Bounded: cleared when full. Tied to one cache config object, so a reload starts afresh.
 */
const MEMO_MAX = 16_384
let memo = new Map<string, TargetResolution>()
let memoTable: RouteTable | undefined

/**
 * Resolve a client request's target and Host (its one Host field value, undefined when absent) to the cache key and
 * what the origin is asked for, or a refusal. `OPTIONS *` resolves to 'asterisk'; any other method with `*` is refused
 * here, so `method` only matters for that form.
 *
 * - origin-form (`/path?q`): keyed under Host, which must be valid.
 * - absolute-form (`http://host/path`, RFC 9112 §3.2.2): the target's authority replaces Host (which must still be
 *   valid if sent); userinfo is refused; the target's scheme is not believed: it is keyed and forwarded under the
 *   listener's `scheme` (this is no forward proxy); when `cache.sites` names hosts, an authority none of them claims
 *   is 421.
 * `scheme` is the listener's: `https` for a request that came over TLS (https:// keys), else `http`.
 * `absoluteScheme`: the sender is trusted to name the scheme (a cluster peer forwarding a request it does not own):
 * an absolute-form target is then keyed and forwarded under its own scheme, not the listener's.
 */
export function resolveRequestTarget(
  host: string | undefined,
  target: string,
  method: string,
  c: CacheConfig,
  table: RouteTable = legacyRouteTable(c),
  scheme: 'http' | 'https' = 'http',
  absoluteScheme = false,
): TargetResolution {
  if (target === '*') return method === 'OPTIONS' ? ASTERISK : refuse(400, 'the asterisk-form target "*" is only valid with OPTIONS')
  if (memoTable !== table) {
    memo = new Map()
    memoTable = table
  }
  const hk = host === undefined ? target : `${host}\u0000${target}`
  const mk = scheme === 'http' && !absoluteScheme ? hk : `${scheme === 'http' ? '' : '\u0001'}${absoluteScheme ? '\u0002' : ''}${hk}`
  let r = memo.get(mk)
  if (r === undefined) {
    r = computeResolution(host, target, table, scheme, absoluteScheme)
    if (memo.size >= MEMO_MAX) memo.clear()
    memo.set(mk, r)
  }
  return r
}

const ASTERISK: AsteriskTarget = {ok: 'asterisk'}

function refuse(status: 400 | 421, message: string): RefusedTarget {
  return {ok: false, status, message}
}

function computeResolution(host: string | undefined, target: string, c: RouteTable, listenerScheme: 'http' | 'https', absoluteScheme: boolean): TargetResolution {
  if (host !== undefined && !isValidAuthority(host)) return refuse(400, `invalid Host header: ${JSON.stringify(host)}`)
  if (target.startsWith('/')) {
    if (host === undefined) return refuse(400, 'missing Host header')
    return admit(listenerScheme, host, target, c)
  }
  const abs = parseAbsoluteUri(target)
  if (!abs) return refuse(400, `unsupported request target (origin-form "/path" or absolute "http://host/path" expected): ${JSON.stringify(target.slice(0, 200))}`)
  if (abs.userinfo) return refuse(400, 'userinfo ("user@") in the request target is not allowed')
  if (abs.authority === '' || !isValidAuthority(abs.authority)) return refuse(400, `invalid authority in the request target: ${JSON.stringify(abs.authority)}`)
  // The authority's port means what its own scheme says (https://h:443 is h), then it is served as the listener's
  // (or, from a sender trusted to name it, as its own).
  const scheme = absoluteScheme ? abs.scheme : listenerScheme
  const authority = normalizeAuthority(abs.scheme, abs.authority)
  if (c.legacy && claimingSite(c, normalizeAuthority(scheme, authority)) === undefined) {
    return refuse(421, `no site is configured for ${authority} (cache.sites)`)
  }
  return admit(scheme, authority, abs.rest, c)
}

function admit(scheme: 'http' | 'https', host: string, rawTarget: string, c: RouteTable): AdmittedTarget | RefusedTarget {
  const authority = normalizeAuthority(scheme, host)
  const t = normalizeTarget(rawTarget)
  const route = routeOf(c, authority, t.path)
  // RFC 9110 §15.5.20: a request for an authority this server is not configured to serve.
  if (!route) return refuse(421, `no site claims the host ${authority} and there is no default site (sites)`)
  const opts = keyOptions(route)
  return {ok: true, key: keyOf(scheme, authority, t, opts), scheme, authority, target: originForm(t), site: route.site, route, keyPath: t.path, keyQuery: keyQuery(t.query, opts)}
}

/**
 * The cache key of an absolute URL (invalidation targets, purge and prefetch arguments), normalised exactly like a
 * request target (not by WHATWG URL parsing, which would map e.g. `\` to `/` and disagree with request keys).
 * Userinfo is ignored; an internationalised host name is converted to its ASCII (punycode) form.
 */
export function urlCacheKey(url: string, c: CacheConfig, table?: RouteTable): string | undefined {
  return absoluteKey(url, table ?? legacyRouteTable(c), false)
}

/**
 * The key of a URL an operator names (purge, inspect, prefetch, verify). `httpsKeys`: the daemon has TLS listeners,
 * so `https://` keys exist and an `https://` URL names them (and `http://` the plain listeners' entries). Without
 * TLS listeners every stored key is `http://…`, and behind a TLS terminator the public `https://` URL names the same
 * object (its port is read as https's, then it is keyed as http).
 */
export function operatorCacheKey(url: string, c: CacheConfig, table?: RouteTable, httpsKeys = false): string | undefined {
  return absoluteKey(url, table ?? legacyRouteTable(c), !httpsKeys)
}

/** Whether a config's listeners make `https://` keys (a TLS listener). */
export function makesHttpsKeys(listen: TavernConfig['listen']): boolean {
  return listen.some((l) => l.scheme === 'https')
}

/** The site and route that decide about a URL an operator names (inspect-key), or undefined (→ 421 for clients). */
export function operatorRoute(url: string, table: RouteTable): CompiledRoute | undefined {
  const u = absoluteParts(url, true)
  return u && routeOf(table, u.authority, u.target.path)
}

function absoluteKey(url: string, c: RouteTable, asListener: boolean): string | undefined {
  const u = absoluteParts(url, asListener)
  if (!u) return undefined
  const route = routeOf(c, u.authority, u.target.path)
  return keyOf(u.scheme, u.authority, u.target, route ? keyOptions(route) : c.global)
}

/**
 * The key prefix of a directory an operator names as a URL (`purge --dir http://host/static/`): normalised like
 * operatorCacheKey, query dropped, always ending in '/' (so `/static` never matches `/static-old`).
 */
export function operatorDirPrefix(url: string, httpsKeys = false): string | undefined {
  const u = absoluteParts(url, !httpsKeys)
  if (!u) return undefined
  const key = keyOf(u.scheme, u.authority, u.target, {query: 'ignore'})
  return key.endsWith('/') ? key : key + '/'
}

function absoluteParts(url: string, asListener: boolean): {scheme: 'http' | 'https'; authority: string; target: NormalizedTarget} | undefined {
  const u = parseAbsoluteUri(url.trim())
  if (!u) return undefined
  let host = u.authority
  if (!isValidAuthority(host)) {
    const m = /^([^:[\]]+)(:\d*)?$/.exec(host)
    const ascii = m ? domainToASCII(m[1]!) : ''
    if (!ascii) return undefined
    host = ascii + (m![2] ?? '')
    if (!isValidAuthority(host)) return undefined
  }
  const scheme = asListener ? 'http' : u.scheme
  return {scheme, authority: normalizeAuthority(scheme, normalizeAuthority(u.scheme, host)), target: normalizeTarget(u.rest)}
}
