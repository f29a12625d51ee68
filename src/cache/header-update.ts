/**
 * Header lists for storage (RFC 9111 §3.1) and for refreshing a stored response from a 304 (§3.2, §4.3.4).
 * Order, case and duplicates of everything kept are preserved.
 */
import {getAll, splitList, type RawHeaders} from '../util/raw-headers.js'
import type {CacheControl} from './cache-control.js'

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
