import type {TargetInput} from '../admin/protocol.js'
import {isValidAuthority, keyPrefixForDir} from '../cache/cache-key.js'
import {TavernError} from '../core/errors.js'
import type {OpsServices} from '../core/services.js'
import {makesHttpsKeys, operatorCacheKey, operatorDirPrefix} from '../proxy/request-target.js'
import {routeTable} from '../proxy/route-table.js'

export interface UrlTarget {
  url: string
  key: string
}

export interface DirTarget {
  /** The directory as given (URL, or HOST + path). */
  dir: string
  /** Key-range prefix; always ends in '/', so `/static/` never matches `/static-old/`. */
  prefix: string
}

/** Resolve `{urls, dir, host}` to cache keys / a key prefix; TavernError (a usage error) with a clear message when something is malformed. */
export function resolveTargets(d: OpsServices, body: TargetInput): {urls: UrlTarget[]; dir?: DirTarget} {
  const urls: UrlTarget[] = []
  const given: string[] = []
  if (body.url !== undefined && body.url !== null) {
    if (typeof body.url !== 'string') throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"url" must be a string')
    given.push(body.url)
  }
  if (body.urls !== undefined && body.urls !== null) {
    if (!Array.isArray(body.urls) || !body.urls.every((u) => typeof u === 'string')) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"urls" must be an array of strings')
    // A loop, not push(...urls): spreading 300,000 arguments overflows the stack.
    for (const u of body.urls as string[]) given.push(u)
  }
  for (const raw of given) {
    const url = raw.trim()
    urls.push({url, key: keyOf(d, absoluteOrHost(url, body.host), url)})
  }
  let dir: DirTarget | undefined
  if (body.dir !== undefined && body.dir !== null) {
    if (typeof body.dir !== 'string' || body.dir.trim() === '') throw new TavernError('TAVERN_ERR_BAD_PREFIX', '"dir" must be a non-empty string')
    dir = {dir: body.dir, prefix: dirPrefix(body.dir.trim(), body.host, makesHttpsKeys(d.config.listen), {config: d.config.forwardProxy, table: routeTable(d.config)})}
  }
  if (body.host !== undefined && body.host !== null && typeof body.host !== 'string') throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"host" must be a string')
  return {urls, dir}
}

function validHost(host: unknown): string {
  // The same rule as a request's Host, so an operator can name every host a client can.
  if (typeof host !== 'string' || !isValidAuthority(host.trim())) throw new TavernError('TAVERN_ERR_BAD_HOST', `not a valid host[:port]: ${JSON.stringify(host)}`)
  return host.trim()
}

/** `/path` plus a host becomes `http://host/path`; absolute URLs pass through. */
function absoluteOrHost(url: string, host: unknown): string {
  if (url.startsWith('/') && host !== undefined && host !== null && host !== '') return `http://${validHost(host)}${url}`
  return url
}

function keyOf(d: OpsServices, absolute: string, given: string): string {
  const key = /^https?:\/\//i.test(absolute) ? operatorCacheKey(absolute, d.config.cache, routeTable(d.config), makesHttpsKeys(d.config.listen), d.config.forwardProxy) : undefined
  if (key === undefined) {
    throw new TavernError('TAVERN_ERR_BAD_URL', `not an absolute http(s) URL: ${JSON.stringify(given)}${given.startsWith('/') ? ' (give a host, or a full URL)' : ''}`)
  }
  return key
}

/** The key prefix of a directory: a full URL (`http://host/static/`) or a path with a host. */
export function dirPrefix(dir: string, host: unknown, httpsKeys = false, forward?: Parameters<typeof operatorDirPrefix>[2]): string {
  if (/^https?:\/\//i.test(dir)) {
    const prefix = operatorDirPrefix(dir, httpsKeys, forward)
    if (prefix === undefined) throw new TavernError('TAVERN_ERR_BAD_PREFIX', `directory must be an absolute http(s) URL with a valid host: ${JSON.stringify(dir)}`)
    return prefix
  }
  if (!dir.startsWith('/')) throw new TavernError('TAVERN_ERR_BAD_PREFIX', `directory must be a full http(s) URL or a path starting with "/": ${JSON.stringify(dir)}`)
  if (host === undefined || host === null || host === '') throw new TavernError('TAVERN_ERR_BAD_PREFIX', `directory ${JSON.stringify(dir)} needs a host (or give a full URL prefix)`)
  return keyPrefixForDir({host: validHost(host), pathPrefix: dir})
}
