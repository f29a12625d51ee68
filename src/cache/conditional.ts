/**
 * Conditional requests (RFC 9110 §8.8.3, §13; RFC 9111 §4.3): entity-tags, precondition evaluation
 * against a stored response, and the headers used to validate with the origin.
 */
import {getAll, type RawHeaders} from '../util/raw-headers.js'
import {parseHttpDate} from './http-date.js'

export interface EntityTag {
  weak: boolean
  /** The opaque-tag including its double quotes, e.g. `"xyzzy"`. */
  opaque: string
}

const ETAG_RE = /^(W\/)?("[\x21\x23-\x7e\x80-\xff]*")$/

/** Parse one entity-tag; undefined when malformed. */
export function parseEntityTag(s: string): EntityTag | undefined {
  const m = ETAG_RE.exec(s.trim())
  return m ? {weak: m[1] !== undefined, opaque: m[2]!} : undefined
}

/**
 * Parse an If-Match / If-None-Match value (all lines): '*' or a list of entity-tags.
 * Malformed members are skipped (they can never match), so a fully malformed list is [].
 */
export function parseEntityTagList(lines: readonly string[] | string): '*' | EntityTag[] {
  const text = (typeof lines === 'string' ? [lines] : lines).join(',')
  if (text.trim() === '*') return '*'
  const out: EntityTag[] = []
  // Opaque tags cannot contain '"', so a comma inside quotes belongs to the tag.
  const re = /(W\/)?"[^"]*"/g
  for (const m of text.matchAll(re)) {
    const t = parseEntityTag(m[0])
    if (t) out.push(t)
  }
  return out
}

/** RFC 9110 §8.8.3.2 strong comparison: both strong and identical. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque
}

/** RFC 9110 §8.8.3.2 weak comparison: opaque tags identical, weakness ignored. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque
}

export type PreconditionResult = 'proceed' | 'not-modified' | 'precondition-failed'

export interface StoredValidators {
  status: number
  etag?: string
  lastModified?: string
  /** Date of the stored response; stands in for Last-Modified in If-Modified-Since (RFC 9111 §4.3.2). */
  date?: string
}

/** A single date from a field that must hold exactly one (RFC 9110 §13.1.3/§13.1.4: otherwise ignore it). */
function singleDate(lines: readonly string[]): number | undefined {
  if (lines.length !== 1) return undefined
  return parseHttpDate(lines[0])
}

/** RFC 9110 §13.2.2 evaluation order, applied to a stored response. */
export function evaluatePreconditions(reqHeaders: RawHeaders, stored: StoredValidators, method: string): PreconditionResult {
  // §13.2.1: preconditions are ignored when the unconditional response would not be 2xx.
  if (stored.status < 200 || stored.status > 299) return 'proceed'
  const getOrHead = method === 'GET' || method === 'HEAD'
  const current = stored.etag !== undefined ? parseEntityTag(stored.etag) : undefined
  const lastModified = parseHttpDate(stored.lastModified)

  // Step 1: If-Match (strong comparison).
  const ifMatch = getAll(reqHeaders, 'if-match')
  if (ifMatch.length > 0) {
    const list = parseEntityTagList(ifMatch)
    const ok = list === '*' ? true : current !== undefined && list.some((t) => strongMatch(t, current))
    if (!ok) return 'precondition-failed'
  } else {
    // Step 2: If-Unmodified-Since, only without If-Match; unevaluable without a modification date.
    const ius = singleDate(getAll(reqHeaders, 'if-unmodified-since'))
    if (ius !== undefined && lastModified !== undefined && lastModified > ius) return 'precondition-failed'
  }

  // Step 3: If-None-Match (weak comparison).
  const ifNoneMatch = getAll(reqHeaders, 'if-none-match')
  if (ifNoneMatch.length > 0) {
    const list = parseEntityTagList(ifNoneMatch)
    const matched = list === '*' ? true : current !== undefined && list.some((t) => weakMatch(t, current))
    if (matched) return getOrHead ? 'not-modified' : 'precondition-failed'
    return 'proceed'
  }

  // Step 4: If-Modified-Since, GET/HEAD only. RFC 9111 §4.3.2 lets a cache fall back to the stored Date
  // when there is no Last-Modified: the client's copy is at least as new as ours.
  if (getOrHead) {
    const ims = singleDate(getAll(reqHeaders, 'if-modified-since'))
    const modified = lastModified ?? parseHttpDate(stored.date)
    if (ims !== undefined && modified !== undefined && modified <= ims) return 'not-modified'
  }
  return 'proceed'
}

/** Validators to send upstream when revalidating a stored response (RFC 9111 §4.3.1). */
export function buildValidationHeaders(stored: {etag?: string; lastModified?: string}): RawHeaders {
  const out: RawHeaders = []
  if (stored.etag !== undefined && stored.etag !== '') out.push('If-None-Match', stored.etag)
  // A Last-Modified we cannot parse would be a meaningless If-Modified-Since; leave it out.
  if (stored.lastModified !== undefined && parseHttpDate(stored.lastModified) !== undefined) {
    out.push('If-Modified-Since', stored.lastModified)
  }
  return out
}

/** RFC 9110 §15.4.5: fields a 304 carries from the stored 200 (plus Last-Modified, which is harmless and useful). */
const NOT_MODIFIED_FIELDS: ReadonlySet<string> = new Set([
  'cache-control',
  'content-location',
  'date',
  'etag',
  'expires',
  'vary',
  'last-modified',
])

export function notModifiedHeaders(stored: RawHeaders): RawHeaders {
  const out: RawHeaders = []
  for (let i = 0; i < stored.length; i += 2) {
    if (NOT_MODIFIED_FIELDS.has(stored[i]!.toLowerCase())) out.push(stored[i]!, stored[i + 1]!)
  }
  return out
}
