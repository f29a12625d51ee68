import {domainToASCII} from 'node:url'

/**
 * Request targets and cache keys: a client's target and Host resolved to the key and to what the origin is asked
 * for (RFC 9112 §3.2), and the keys of URLs operators name (purge, inspect, prefetch, verify). How far an
 * absolute-form target is believed (its scheme; forward-proxy mode: its origin) is the caller's TargetReading.
 */
import {isValidAuthority, keyOf, keyQuery, normalizeAuthority, type NormalizedTarget, normalizeTarget, originForm, parseAbsoluteUri} from '../cache/cache-key.js'
import {compilePolicy} from '../cache/policy-resolve.js'
import {allowedDestination, type ForwardProxyConfig} from '../config/forward-proxy.js'
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
  /** The key's first part: the listener's scheme, or the absolute-form target's own when it is believed. */
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
  /**
   * Forward-proxy mode: the origin the URI itself names (`https://host[:port]`), fetched directly instead of the
   * route's upstream group. Only for a client in forwardProxy.clients (admission checks; it is not known here).
   */
  forward?: ForwardTarget
}

/** The origin of a forward-proxy request: the absolute-form target's scheme and authority (normalised). */
export interface ForwardTarget {
  scheme: 'http' | 'https'
  authority: string
  /** `scheme://authority`: what its connection pool is for. */
  origin: string
}

/**
 * Why a target is refused: 400 malformed, 421 an authority this server does not serve, 403 a forward-proxy
 * destination that forwardProxy.destinations does not allow.
 */
export interface RefusedTarget {
  ok: false
  status: 400 | 403 | 421
  message: string
}

/**
 * How absolute-form targets are read (RFC 9112 §3.2.2 lets a server ignore the scheme; Tavern does by default).
 * - `scheme`: the listener's, `https` for a request that came over TLS (https:// keys), else `http`.
 * - `believeUri`: key an absolute-form target under its own scheme (`https://h/p` over plain HTTP → `https://h/p`),
 *   still routed to the site that claims its authority. For peers that pass on the URL their client asked for (a
 *   cluster peer, a forward-proxy client): only set it for peers you trust, it decides which key an answer fills.
 * - `forward`: forwardProxy of the config; when enabled, an absolute-form target whose authority no site claims is a
 *   forward-proxy request (admitted with `forward` set when forwardProxy.destinations allows it, else 403), and an
 *   origin-form request for such a destination is 421 (its key belongs to the forward fills).
 */
export interface TargetReading {
  scheme: 'http' | 'https'
  believeUri?: boolean
  forward?: ForwardProxyConfig
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
let memoForward: ForwardProxyConfig | undefined

/**
 * Resolve a client request's target and Host (its one Host field value, undefined when absent) to the cache key and
 * what the origin is asked for, or a refusal. `OPTIONS *` resolves to 'asterisk'; any other method with `*` is refused
 * here, so `method` only matters for that form.
 *
 * - origin-form (`/path?q`): keyed under Host, which must be valid.
 * - absolute-form (`http://host/path`, RFC 9112 §3.2.2): the target's authority replaces Host (which must still be
 *   valid if sent); userinfo is refused; the target's scheme is not believed unless `reading.believeUri`: it is keyed
 *   and forwarded under the listener's scheme; when `cache.sites` names hosts, an authority none of them claims is 421.
 *   With `reading.forward` enabled, an authority no site claims is a forward-proxy target (see TargetReading).
 * `reading` is the listener's scheme alone, or a TargetReading.
 */
export function resolveRequestTarget(host: string | undefined, target: string, method: string, c: CacheConfig, table: RouteTable = legacyRouteTable(c), reading: 'http' | 'https' | TargetReading = 'http'): TargetResolution {
  if (target === '*') return method === 'OPTIONS' ? ASTERISK : refuse(400, 'the asterisk-form target "*" is only valid with OPTIONS')
  const r = typeof reading === 'string' ? LISTENER_READING[reading] : reading
  const forward = r.forward?.enabled ? r.forward : undefined
  if (memoTable !== table || memoForward !== forward) {
    memo = new Map()
    memoTable = table
    memoForward = forward
  }
  const hk = host === undefined ? target : `${host}\u0000${target}`
  const mk = r.scheme === 'http' && !r.believeUri ? hk : `${r.scheme === 'http' ? '' : '\u0001'}${r.believeUri ? '\u0002' : ''}${hk}`
  let res = memo.get(mk)
  if (res === undefined) {
    res = computeResolution(host, target, table, r.scheme, r.believeUri === true, forward)
    if (memo.size >= MEMO_MAX) memo.clear()
    memo.set(mk, res)
  }
  return res
}

const ASTERISK: AsteriskTarget = {ok: 'asterisk'}
/** The plain readings, made once (resolution runs on every request). */
const LISTENER_READING: Readonly<Record<'http' | 'https', TargetReading>> = {http: {scheme: 'http'}, https: {scheme: 'https'}}

function refuse(status: RefusedTarget['status'], message: string): RefusedTarget {
  return {ok: false, status, message}
}

function computeResolution(host: string | undefined, target: string, c: RouteTable, scheme: 'http' | 'https', believeUri: boolean, forward: ForwardProxyConfig | undefined): TargetResolution {
  if (host !== undefined && !isValidAuthority(host)) return refuse(400, `invalid Host header: ${JSON.stringify(host)}`)
  if (target.startsWith('/')) {
    if (host === undefined) return refuse(400, 'missing Host header')
    if (forward && isForwardDestination(c, forward, scheme, normalizeAuthority(scheme, host))) {
      return refuse(421, `${normalizeAuthority(scheme, host)} is a forward-proxy destination (forwardProxy.destinations): send the absolute URL (GET ${scheme}://${normalizeAuthority(scheme, host)}/…) from a forwardProxy client`)
    }
    return admit(scheme, host, target, c)
  }
  const abs = parseAbsoluteUri(target)
  if (!abs) return refuse(400, `unsupported request target (origin-form "/path" or absolute "http://host/path" expected): ${JSON.stringify(target.slice(0, 200))}`)
  if (abs.userinfo) return refuse(400, 'userinfo ("user@") in the request target is not allowed')
  if (abs.authority === '' || !isValidAuthority(abs.authority)) return refuse(400, `invalid authority in the request target: ${JSON.stringify(abs.authority)}`)
  // The authority's port means what its own scheme says (https://h:443 is h), then it is served as the listener's
  // (or as its own, when believed).
  const authority = normalizeAuthority(abs.scheme, abs.authority)
  const keyScheme = believeUri ? abs.scheme : scheme
  if (forward && claimingSite(c, normalizeAuthority(keyScheme, authority)) === undefined) {
    if (!allowedDestination(forward.destinations, abs.scheme, authority)) return refuse(403, `forward proxying to ${abs.scheme}://${authority} is not allowed (forwardProxy.destinations)`)
    return admitForward(abs.scheme, authority, abs.rest, c)
  }
  if (c.legacy && claimingSite(c, normalizeAuthority(keyScheme, authority)) === undefined) {
    return refuse(421, `no site is configured for ${authority} (cache.sites)`)
  }
  return admit(keyScheme, authority, abs.rest, c)
}

/** The group name forward-proxy routes carry (not a valid upstreamGroups name, so it never means one). */
export const FORWARD_GROUP = '(forward)'

const forwardRoutes = new WeakMap<RouteTable, CompiledRoute>()

/** The route of forward-proxy requests: the global cache policy (no site claims their hosts). */
function forwardRoute(t: RouteTable): CompiledRoute {
  let r = forwardRoutes.get(t)
  if (!r) {
    r = {site: undefined, name: undefined, prefix: '/', group: FORWARD_GROUP, cache: t.global, rules: compilePolicy(t.global)}
    forwardRoutes.set(t, r)
  }
  return r
}

function admitForward(scheme: 'http' | 'https', authority: string, rawTarget: string, c: RouteTable): AdmittedTarget {
  const t = normalizeTarget(rawTarget)
  const route = forwardRoute(c)
  const opts = keyOptions(route)
  return {
    ok: true,
    key: keyOf(scheme, authority, t, opts),
    scheme,
    authority,
    target: originForm(t),
    site: undefined,
    route,
    keyPath: t.path,
    keyQuery: keyQuery(t.query, opts),
    forward: {scheme, authority, origin: `${scheme}://${authority}`},
  }
}

/** Whether `scheme://authority` is served in forward-proxy mode: allowed as a destination and claimed by no site. */
function isForwardDestination(c: RouteTable, forward: ForwardProxyConfig, scheme: 'http' | 'https', authority: string): boolean {
  return allowedDestination(forward.destinations, scheme, authority) !== undefined && claimingSite(c, authority) === undefined
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
  return absoluteKey(url, table ?? legacyRouteTable(c), false, undefined)
}

/**
 * The key of a URL an operator names (purge, inspect, prefetch, verify). `httpsKeys`: the daemon has TLS listeners,
 * so `https://` keys exist and an `https://` URL names them (and `http://` the plain listeners' entries). Without
 * TLS listeners every stored key is `http://…`, and behind a TLS terminator the public `https://` URL names the same
 * object (its port is read as https's, then it is keyed as http). `forward` (forwardProxy of the config): a URL of a
 * forward-proxy destination (allowed, no site claims it) names the key forward fills make, under its own scheme —
 * `https://` keys exist for those without any TLS listener.
 */
export function operatorCacheKey(url: string, c: CacheConfig, table?: RouteTable, httpsKeys = false, forward?: ForwardProxyConfig): string | undefined {
  return absoluteKey(url, table ?? legacyRouteTable(c), !httpsKeys, forward)
}

/** Whether a config's listeners make `https://` keys (a TLS listener). */
export function makesHttpsKeys(listen: TavernConfig['listen']): boolean {
  return listen.some((l) => l.scheme === 'https')
}

/** The site and route that decide about a URL an operator names (inspect-key), or undefined (→ 421 for clients). */
export function operatorRoute(url: string, table: RouteTable, forward?: ForwardProxyConfig): CompiledRoute | undefined {
  const u = absoluteParts(url, true, table, forward)
  if (!u) return undefined
  return u.forward ? forwardRoute(table) : routeOf(table, u.authority, u.target.path)
}

/** The absolute-form target to send for a URL when it names a forward-proxy destination (prefetch), else undefined. */
export function forwardUrlTarget(url: string, table: RouteTable, forward: ForwardProxyConfig): string | undefined {
  const u = absoluteParts(url, true, table, forward)
  return u?.forward ? `${u.scheme}://${u.authority}${originForm(u.target)}` : undefined
}

function absoluteKey(url: string, c: RouteTable, asListener: boolean, forward: ForwardProxyConfig | undefined): string | undefined {
  const u = absoluteParts(url, asListener, c, forward)
  if (!u) return undefined
  const route = u.forward ? forwardRoute(c) : routeOf(c, u.authority, u.target.path)
  return keyOf(u.scheme, u.authority, u.target, route ? keyOptions(route) : c.global)
}

/**
 * The key prefix of a directory an operator names as a URL (`purge --dir http://host/static/`): normalised like
 * operatorCacheKey, query dropped, always ending in '/' (so `/static` never matches `/static-old`).
 */
export function operatorDirPrefix(url: string, httpsKeys = false, forward?: {config: ForwardProxyConfig; table: RouteTable}): string | undefined {
  const u = absoluteParts(url, !httpsKeys, forward?.table, forward?.config)
  if (!u) return undefined
  const key = keyOf(u.scheme, u.authority, u.target, {query: 'ignore'})
  return key.endsWith('/') ? key : key + '/'
}

function absoluteParts(url: string, asListener: boolean, table?: RouteTable, forward?: ForwardProxyConfig): {scheme: 'http' | 'https'; authority: string; target: NormalizedTarget; forward: boolean} | undefined {
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
  const own = normalizeAuthority(u.scheme, host)
  // A forward-proxy destination's keys carry the URI's own scheme (the forward fill believed it).
  if (forward?.enabled && table && allowedDestination(forward.destinations, u.scheme, own) && claimingSite(table, normalizeAuthority(asListener ? 'http' : u.scheme, own)) === undefined) {
    return {scheme: u.scheme, authority: own, target: normalizeTarget(u.rest), forward: true}
  }
  const scheme = asListener ? 'http' : u.scheme
  return {scheme, authority: normalizeAuthority(scheme, own), target: normalizeTarget(u.rest), forward: false}
}
