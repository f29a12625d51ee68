import {getAll, splitList, type RawHeaders} from '../util/raw-headers.js'

/** RFC 9110 §7.6.1 connection-specific fields, plus ones Node/undici manage per hop themselves. */
export const HOP_BY_HOP = new Set([
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

/** Hop-by-hop fields of this message: the fixed set plus every field the Connection header lists. */
export function hopByHopNames(h: readonly string[]): Set<string> {
  const names = new Set(HOP_BY_HOP)
  for (const line of getAll(h, 'connection')) for (const n of splitList(line)) names.add(n.toLowerCase())
  return names
}

/** A copy of the header list without the hop-by-hop fields (and any extra names given). */
export function stripHopByHop(h: readonly string[], extra?: Iterable<string>): RawHeaders {
  const drop = hopByHopNames(h)
  if (extra) for (const n of extra) drop.add(n)
  const out: RawHeaders = []
  for (let i = 0; i < h.length; i += 2) if (!drop.has(h[i]!.toLowerCase())) out.push(h[i]!, h[i + 1]!)
  return out
}
