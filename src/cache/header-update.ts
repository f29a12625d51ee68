/**
 * Header lists for storage (RFC 9111 §3.1) and for refreshing a stored response from a 304 (§3.2, §4.3.4).
 * Order, case and duplicates of everything kept are preserved.
 */
import {getAll, getHeader, splitList, type RawHeaders} from '../util/raw-headers.js'
import type {CacheControl} from './cache-control.js'
import {parseEntityTag} from './conditional.js'
import {parseHttpDate} from './http-date.js'

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the non-standard Proxy-Connection. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
])

/**
 * Hop-by-hop fields and the fields the message's Connection lines name. Returns the shared constant set when the
 * message names none (the common case: no copy per message), so callers must not modify the result.
 */
export function hopByHopNames(headers: readonly string[]): ReadonlySet<string> {
  const lines = getAll(headers, 'connection')
  if (lines.length === 0) return HOP_BY_HOP
  const out = new Set(HOP_BY_HOP)
  for (const line of lines) {
    for (const n of splitList(line)) out.add(n.toLowerCase())
  }
  return out
}

/** The response's fields as they may be stored: no hop-by-hop, Connection-listed or no-cache/private-qualified fields. */
export function storableHeaders(resHeaders: RawHeaders, cc: CacheControl): RawHeaders {
  const drop = new Set(hopByHopNames(resHeaders))
  for (const n of cc.fieldNames('no-cache') ?? []) drop.add(n)
  for (const n of cc.fieldNames('private') ?? []) drop.add(n)
  const out: RawHeaders = []
  for (let i = 0; i < resHeaders.length; i += 2) {
    if (!drop.has(resHeaders[i]!.toLowerCase())) out.push(resHeaders[i]!, resHeaders[i + 1]!)
  }
  return out
}

/**
 * Fields a 304 must not change: Content-Length describes the stored body, not the empty 304;
 * Content-Range belongs to the stored (partial) representation.
 */
const NEVER_UPDATED: ReadonlySet<string> = new Set(['content-length', 'content-range'])

/** Stored headers updated with a 304's fields: each field in the 304 replaces every stored line of that name. */
export function mergeNotModified(stored: RawHeaders, fresh: RawHeaders): RawHeaders {
  const skip = hopByHopNames(fresh)
  const replacement = new Map<string, string[]>()
  for (let i = 0; i < fresh.length; i += 2) {
    const n = fresh[i]!.toLowerCase()
    if (skip.has(n) || NEVER_UPDATED.has(n)) continue
    const list = replacement.get(n)
    if (list) list.push(fresh[i]!, fresh[i + 1]!)
    else replacement.set(n, [fresh[i]!, fresh[i + 1]!])
  }
  const out: RawHeaders = []
  const placed = new Set<string>()
  for (let i = 0; i < stored.length; i += 2) {
    const n = stored[i]!.toLowerCase()
    const rep = replacement.get(n)
    if (!rep) {
      out.push(stored[i]!, stored[i + 1]!)
    } else if (!placed.has(n)) {
      out.push(...rep)
      placed.add(n)
    }
  }
  for (const [n, rep] of replacement) if (!placed.has(n)) out.push(...rep)
  return out
}

/**
 * Whether a 304 identifies the stored response for update (RFC 9111 §4.3.4), given the validators the stored response
 * has. A strong ETag in the 304 must be the stored strong ETag; a weak one must match it weakly; without an ETag, a
 * Last-Modified present on both sides must be the same date. A 304 that names a different representation must not
 * update anything: the cache then fetches the response unconditionally.
 *
 * A 304 with no validator at all is taken as the answer to the validators we sent (§4.3.4's third case, extended to a
 * stored response that has validators: the origin answered our condition and only omitted its fields, against
 * RFC 9110 §15.4.5). A Last-Modified in the 304 when the stored response has none cannot be compared, and is accepted
 * on the same grounds.
 */
export function notModifiedSelects(stored: {etag?: string; lastModified?: string}, fresh: RawHeaders): boolean {
  const etagLine = getHeader(fresh, 'etag')
  if (etagLine !== undefined) {
    const got = parseEntityTag(etagLine)
    const have = stored.etag === undefined ? undefined : parseEntityTag(stored.etag)
    if (!got || !have) return false
    return got.weak ? got.opaque === have.opaque : !have.weak && got.opaque === have.opaque
  }
  const lm = getHeader(fresh, 'last-modified')
  if (lm === undefined || stored.lastModified === undefined) return true
  const a = parseHttpDate(lm)
  const b = parseHttpDate(stored.lastModified)
  return a !== undefined && b !== undefined ? a === b : lm.trim() === stored.lastModified.trim()
}
