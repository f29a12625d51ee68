import {hopByHopNames} from '../cache/header-update.js'
import type {RawHeaders} from '../util/raw-headers.js'

/** A copy of the header list without the hop-by-hop fields (RFC 9110 §7.6.1) and any extra names given. */
export function stripHopByHop(h: readonly string[], extra?: Iterable<string>): RawHeaders {
  const drop = hopByHopNames(h)
  if (extra) for (const n of extra) drop.add(n)
  const out: RawHeaders = []
  for (let i = 0; i < h.length; i += 2) if (!drop.has(h[i]!.toLowerCase())) out.push(h[i]!, h[i + 1]!)
  return out
}
