/**
 * What a limit is counted per: the client IP, a request header, an API key (header or query parameter), the route,
 * or several of them joined. The client IP is the caller's (the request context's `clientIp`, which already applied
 * `server.trustedProxies` to Forwarded / X-Forwarded-For), so this module never trusts a header for it.
 */
import {createHash} from 'node:crypto'

import {getJoined} from '../../util/raw-headers.js'

export type KeyPart = {ip: true} | {header: string} | {apiKey: {header?: string; query?: string}} | {route: true}

export interface KeyRequest {
  clientIp: string
  /** Request target as received (path and query). */
  target: string
  headers: readonly string[]
  /** Route name, once routes exist; undefined → "default". */
  route?: string
}

/** Parts longer than this are hashed, so a 16 KiB header cannot make a 16 KiB key in memory or in Redis. */
const MAX_PART = 64

/** The key for `req`, or undefined when a part is missing (no such header / API key). */
export function limitKey(parts: readonly KeyPart[], req: KeyRequest): string | undefined {
  if (parts.length === 1) {
    // The common case: the value itself, not a copy (its hash is cached on the string).
    const v = partValue(parts[0]!, req)
    return v === undefined ? undefined : encodePart(v)
  }
  let out = ''
  for (let i = 0; i < parts.length; i++) {
    const v = partValue(parts[i]!, req)
    if (v === undefined) return undefined
    out += (i === 0 ? '' : '|') + encodePart(v)
  }
  return out
}

function partValue(p: KeyPart, req: KeyRequest): string | undefined {
  if ('ip' in p) return req.clientIp
  if ('route' in p) return req.route ?? 'default'
  if ('header' in p) return nonEmpty(getJoined(req.headers, p.header))
  if (p.apiKey.header !== undefined) {
    const h = nonEmpty(getJoined(req.headers, p.apiKey.header))
    if (h !== undefined) return h
  }
  return p.apiKey.query !== undefined ? queryParam(req.target, p.apiKey.query) : undefined
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim()
  return t ? t : undefined
}

/** First value of query parameter `name` in `target` (URL-decoded), undefined when absent or empty. */
export function queryParam(target: string, name: string): string | undefined {
  const q = target.indexOf('?')
  if (q === -1) return undefined
  const hash = target.indexOf('#', q)
  const v = new URLSearchParams(target.slice(q + 1, hash === -1 ? undefined : hash)).get(name)
  return v ? v : undefined
}

/** `|` joins parts: escape it (and `%`) inside one; hash long values. */
function encodePart(v: string): string {
  if (v.length > MAX_PART) return `#${createHash('sha256').update(v).digest('base64url')}`
  return v.includes('|') || v.includes('%') ? v.replace(/%/g, '%25').replace(/\|/g, '%7C') : v
}
