/**
 * Vary (RFC 9111 §4.1): which request fields select a stored variant, and a stable string for them
 * that is safe inside an LMDB key (`${cacheKey}\u0000${variant}`).
 */
import {getAll, splitList, type RawHeaders} from '../util/raw-headers.js'

/** Lower-cased, de-duplicated field names of the response's Vary (all lines); ['*'] if any member is '*'. */
export function parseVary(headers: RawHeaders): string[] {
  const seen = new Set<string>()
  for (const line of getAll(headers, 'vary')) {
    for (const m of splitList(line)) {
      const n = m.trim().toLowerCase()
      if (n === '*') return ['*']
      if (n) seen.add(n)
    }
  }
  return [...seen]
}

/**
 * RFC 9111 §4.1 lets caches normalise values by their field's semantics; we only do what is safe for any
 * list-based field: combine lines with ", ", drop whitespace around commas, trim.
 */
export function normalizeFieldValue(lines: readonly string[]): string {
  return lines
    .join(', ')
    .replace(/[ \t]*,[ \t]*/g, ',')
    .trim()
}

/** Percent-encode everything outside a readable safe set (which excludes the separators '&', '=' and '%'). */
function encode(s: string): string {
  // Fast path: typical values (gzip,br / en-US) need no escaping.
  if (/^[A-Za-z0-9\-._~!$'()*+,;:@/]*$/.test(s)) return s
  let out = ''
  for (const ch of s) {
    if (/^[A-Za-z0-9\-._~!$'()*+,;:@/ ]$/.test(ch)) {
      out += ch === ' ' ? '%20' : ch
      continue
    }
    for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

/**
 * Stable selector of the request's values for the Vary names, e.g. `accept-encoding=gzip&accept-language=en`.
 * Names are sorted so `Vary: a, b` and `Vary: b, a` agree; an absent field is written as the bare name,
 * which differs from an empty one (`name=`). '' when there are no names; null for `*` (never matches).
 */
export function variantSelector(names: readonly string[], reqHeaders: RawHeaders): string | null {
  const set = new Set(names.map((n) => n.trim().toLowerCase()).filter((n) => n !== ''))
  if (set.has('*')) return null
  const parts: string[] = []
  for (const name of [...set].sort()) {
    const lines = getAll(reqHeaders, name)
    parts.push(lines.length === 0 ? encode(name) : `${encode(name)}=${encode(normalizeFieldValue(lines))}`)
  }
  return parts.join('&')
}
