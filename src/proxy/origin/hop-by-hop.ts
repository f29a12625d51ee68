import {hopByHopNames} from '../../cache/header-update.js'
import type {RawHeaders} from '../../util/raw-headers.js'

/** A copy of the header list without the hop-by-hop fields (RFC 9110 §7.6.1) and any extra names given. */
export function stripHopByHop(h: readonly string[], extra?: ReadonlySet<string>): RawHeaders {
  const hop = hopByHopNames(h)
  const out: RawHeaders = []
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!.toLowerCase()
    if (!hop.has(n) && !extra?.has(n)) out.push(h[i]!, h[i + 1]!)
  }
  return out
}
