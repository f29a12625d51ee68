import {cacheKey} from '../cache/cache-key.js'
import type {TavernConfig} from '../config/schema.js'

type CacheConfig = TavernConfig['cache']

function keyOptions(c: CacheConfig, host: string): {query: 'keep' | 'sort' | 'ignore'; ignoreParams: string[]} {
  const h = host.toLowerCase()
  const site = c.sites[h] ?? c.sites[h.replace(/:\d+$/, '')]
  return {query: site?.query ?? c.query, ignoreParams: site?.ignoreParams ?? c.ignoreParams}
}

const HOST = /^[\w.-]+(:\d{1,5})?$|^\[[\da-fA-F:.]+\](:\d{1,5})?$/

/**
 * Normalizing a key costs more than looking it up again, and hot keys repeat: remember recent (host, target) → key
 * pairs. Bounded: cleared when full. Tied to one cache config object, so a reload starts afresh.
 */
const MEMO_MAX = 16_384
let memo = new Map<string, string | undefined>()
let memoConfig: CacheConfig | undefined

/**
 * The cache key of a client request (scheme + Host + path + normalized query), or undefined when Host is unusable.
 * `target` is the request target as received (`req.url`), `host` its first Host field.
 */
export function requestCacheKey(host: string | undefined, target: string, c: CacheConfig): string | undefined {
  if (memoConfig !== c) {
    memo = new Map()
    memoConfig = c
  }
  const mk = `${host}\u0000${target}`
  let key = memo.get(mk)
  if (key === undefined && !memo.has(mk)) {
    key = computeRequestKey(target, host, c)
    if (memo.size >= MEMO_MAX) memo.clear()
    memo.set(mk, key)
  }
  return key
}

function computeRequestKey(target: string, host: string | undefined, c: CacheConfig): string | undefined {
  if (/^https?:\/\//i.test(target)) return urlCacheKey(target, c)
  if (!host || !HOST.test(host) || !target.startsWith('/')) return undefined
  return cacheKey({scheme: 'http', host, path: target}, keyOptions(c, host))
}

/** The cache key of an absolute URL (invalidation targets, purge and prefetch arguments). */
export function urlCacheKey(url: string, c: CacheConfig): string | undefined {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return undefined
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined
  return cacheKey({scheme: u.protocol === 'https:' ? 'https' : 'http', host: u.host, path: `${u.pathname}${u.search}`}, keyOptions(c, u.host))
}

/**
 * The key of a URL an operator names (purge, inspect, prefetch, verify). The data plane listens on plain HTTP,
 * so every stored key is `http://…`; behind a TLS terminator the public `https://` URL names the same object.
 */
export function operatorCacheKey(url: string, c: CacheConfig): string | undefined {
  return urlCacheKey(toListenerScheme(url), c)
}

/** `https://…` → `http://…` (see operatorCacheKey). */
export function toListenerScheme(url: string): string {
  return /^https:\/\//i.test(url) ? `http://${url.slice(8)}` : url
}
