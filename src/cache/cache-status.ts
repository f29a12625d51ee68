/**
 * RFC 9211 Cache-Status field values, and the informal X-Cache summary.
 */

export type FwdReason = 'uri-miss' | 'vary-miss' | 'miss' | 'request' | 'stale' | 'partial' | 'bypass' | 'method'

export interface CacheStatusEntry {
  /** Cache identifier; default 'tavern'. */
  name?: string
  hit?: boolean
  fwd?: FwdReason
  fwdStatus?: number
  /** Remaining freshness in seconds (negative when stale). */
  ttl?: number
  stored?: boolean
  collapsed?: boolean
  key?: string
  detail?: string
}

/** RFC 8941 sf-string: printable ASCII only; anything else is percent-encoded so the value stays valid. */
export function sfString(s: string): string {
  let out = '"'
  for (const ch of s) {
    const code = ch.codePointAt(0)!
    if (ch === '"' || ch === '\\') out += '\\' + ch
    else if (code >= 0x20 && code <= 0x7e) out += ch
    else for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return out + '"'
}

/** The cache name is a token when it can be (the RFC 9211 examples use tokens), else a string. */
function nameItem(name: string): string {
  return /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/.test(name) ? name : sfString(name)
}

function integer(n: number): string {
  // sf-integer: at most 15 digits.
  const v = Math.trunc(n)
  return String(Math.max(-999_999_999_999_999, Math.min(999_999_999_999_999, v)))
}

export function formatCacheStatus(e: CacheStatusEntry): string {
  const parts = [nameItem(e.name ?? 'tavern')]
  if (e.hit) parts.push('hit')
  if (e.fwd !== undefined) parts.push(`fwd=${e.fwd}`)
  if (e.fwdStatus !== undefined) parts.push(`fwd-status=${integer(e.fwdStatus)}`)
  if (e.ttl !== undefined && Number.isFinite(e.ttl)) parts.push(`ttl=${integer(e.ttl)}`)
  if (e.stored) parts.push('stored')
  if (e.collapsed) parts.push('collapsed')
  if (e.key !== undefined) parts.push(`key=${sfString(e.key)}`)
  if (e.detail !== undefined) parts.push(`detail=${sfString(e.detail)}`)
  return parts.join('; ')
}

/** How a request was served, in one word (logs, metrics, X-Cache). */
export type CacheOutcome = 'hit' | 'stale' | 'revalidated' | 'miss' | 'bypass' | 'error'

const X_CACHE: Record<CacheOutcome, string> = {
  hit: 'HIT',
  stale: 'STALE',
  revalidated: 'REVALIDATED',
  miss: 'MISS',
  bypass: 'BYPASS',
  error: 'ERROR',
}

export function xCacheValue(outcome: CacheOutcome): string {
  return X_CACHE[outcome]
}
