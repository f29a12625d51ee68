/**
 * Pure byte-range logic (RFC 9110 §14): parsing Range, evaluating If-Range, formatting and
 * parsing Content-Range. No I/O here so every edge case is unit-testable.
 */

/** One satisfiable range, `end` inclusive, both within [0, size). */
export interface ByteRange {
  start: number
  end: number
}

export type RangeResult =
  | {kind: 'none'}
  /** Invalid or unsupported: the Range field is disregarded and a full 200 is sent (RFC 9110 §14.2). */
  | {kind: 'ignore'; reason: string}
  /** Valid syntax, but no range overlaps the representation: 416 (RFC 9110 §15.5.17). */
  | {kind: 'unsatisfiable'}
  /** Satisfiable ranges; sorted ascending and coalesced when more than one. */
  | {kind: 'ranges'; ranges: ByteRange[]}

export interface ParseRangeOptions {
  /** After coalescing, more ranges than this makes the request ignored (full 200) as an abuse guard. */
  maxRanges: number
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const INT_RANGE = /^(\d+)-(\d*)$/
const SUFFIX_RANGE = /^-(\d+)$/

function ignore(reason: string): RangeResult {
  return {kind: 'ignore', reason}
}

/**
 * Parse a Range field value against a representation of `size` bytes.
 * Digit strings may exceed 2^53; they are compared exactly with BigInt and otherwise only
 * ever clamped to `size`, so precision loss cannot produce a wrong range.
 */
export function parseRange(header: string | undefined, size: number, opts: ParseRangeOptions): RangeResult {
  if (header === undefined) return {kind: 'none'}
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid representation size ${size}`)

  const value = header.trim()
  const eq = value.indexOf('=')
  if (eq < 0) return ignore('missing "=" after range unit')
  const unit = value.slice(0, eq)
  if (!TOKEN.test(unit)) return ignore('invalid range unit')
  // Range units are case-insensitive (RFC 9110 §14.1).
  if (unit.toLowerCase() !== 'bytes') return ignore(`unsupported range unit "${unit}"`)

  const satisfiable: ByteRange[] = []
  let specs = 0
  for (const raw of value.slice(eq + 1).split(',')) {
    // List syntax allows OWS around commas and empty elements (RFC 9110 §5.6.1).
    const spec = raw.trim()
    if (spec === '') continue
    specs++

    const int = INT_RANGE.exec(spec)
    if (int) {
      const first = int[1]!
      const last = int[2]!
      // last < first makes the whole field invalid (RFC 9110 §14.1.2), not just this spec.
      if (last !== '' && BigInt(first) > BigInt(last)) return ignore(`first-pos greater than last-pos in "${spec}"`)
      const start = Number(first)
      if (start >= size) continue // unsatisfiable on its own; others may still be satisfiable
      const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
      satisfiable.push({start, end})
      continue
    }

    const suffix = SUFFIX_RANGE.exec(spec)
    if (suffix) {
      const n = Number(suffix[1])
      // A suffix is satisfiable only if non-zero on a non-empty representation (RFC 9110 §14.1.1).
      if (n === 0 || size === 0) continue
      satisfiable.push({start: Math.max(0, size - n), end: size - 1})
      continue
    }

    return ignore(`invalid range-spec "${spec}"`)
  }

  if (specs === 0) return ignore('empty range-set')
  if (satisfiable.length === 0) return {kind: 'unsatisfiable'}

  const ranges = satisfiable.length > 1 ? coalesce(satisfiable) : satisfiable
  if (ranges.length > opts.maxRanges) {
    return ignore(`${ranges.length} ranges after coalescing exceeds the limit of ${opts.maxRanges}`)
  }
  return {kind: 'ranges', ranges}
}

/**
 * Sort and merge overlapping or adjacent ranges. RFC 9110 §14.6 lets a server coalesce and
 * clients must read each part's Content-Range, so ascending order is safe and bounds the
 * response to at most one copy of each byte.
 */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start || a.end - b.end)
  const out: ByteRange[] = [{...sorted[0]!}]
  for (let i = 1; i < sorted.length; i++) {
    const r = sorted[i]!
    const last = out[out.length - 1]!
    if (r.start <= last.end + 1) last.end = Math.max(last.end, r.end)
    else out.push({...r})
  }
  return out
}

/** `Content-Range` of a 206 from upstream: the range sent and the complete length when known. */
export interface ContentRangeSatisfied {
  start: number
  end: number
  size: number | undefined
}

/** `Content-Range: bytes *\/size` of a 416 from upstream. */
export interface ContentRangeUnsatisfied {
  unsatisfiedSize: number
}

const CONTENT_RANGE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (?:(\d+)-(\d+)\/(\d+|\*)|\*\/(\d+))$/

/**
 * Parse a Content-Range value (RFC 9110 §14.4). Returns undefined for other units, bad syntax,
 * last-pos < first-pos, complete-length <= last-pos, or numbers beyond 2^53.
 */
export function parseContentRange(value: string): ContentRangeSatisfied | ContentRangeUnsatisfied | undefined {
  const m = CONTENT_RANGE.exec(value.trim())
  if (!m || m[1]!.toLowerCase() !== 'bytes') return undefined
  if (m[5] !== undefined) {
    const unsatisfiedSize = Number(m[5])
    return Number.isSafeInteger(unsatisfiedSize) ? {unsatisfiedSize} : undefined
  }
  const start = Number(m[2])
  const end = Number(m[3])
  const size = m[4] === '*' ? undefined : Number(m[4])
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined
  if (size !== undefined && (!Number.isSafeInteger(size) || size <= end)) return undefined
  return {start, end, size}
}

export function contentRangeHeader(r: ByteRange, size: number): string {
  return `bytes ${r.start}-${r.end}/${size}`
}

export function unsatisfiedRangeHeader(size: number): string {
  return `bytes */${size}`
}

const ENTITY_TAG = /^"[\x21\x23-\x7e\x80-\xff]*"$/

/**
 * Whether a Range applies given If-Range (RFC 9110 §13.1.5). Only a strong match counts: a weak
 * tag on either side never matches, and a date must equal the stored Last-Modified. Anything
 * that is neither a valid entity-tag nor an HTTP-date is treated as a failed condition so the
 * client gets the full representation rather than a part of something it doesn't have.
 */
export function evaluateIfRange(ifRange: string | undefined, stored: {etag?: string; lastModified?: string}): boolean {
  if (ifRange === undefined) return true
  const v = ifRange.trim()

  if (v.startsWith('W/')) return false
  if (v.startsWith('"')) {
    if (!ENTITY_TAG.test(v)) return false
    const etag = stored.etag?.trim()
    return etag !== undefined && ENTITY_TAG.test(etag) && etag === v
  }

  const date = parseHttpDate(v)
  if (date === undefined || stored.lastModified === undefined) return false
  return parseHttpDate(stored.lastModified.trim()) === date
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const MONTH = MONTHS.join('|')
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${MONTH}) (\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`)
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTH})-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`,
)
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTH}) ([ \\d]\\d) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})$`)

/**
 * Strict HTTP-date (RFC 9110 §5.6.7, all three formats) to ms epoch. Date.parse is not used
 * because it accepts strings like "2020" that are not HTTP-dates.
 */
function parseHttpDate(s: string): number | undefined {
  let m = IMF_FIXDATE.exec(s)
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!)
  m = RFC850_DATE.exec(s)
  if (m) {
    // Two-digit years more than 50 years ahead belong to the previous century (RFC 9110 §5.6.7).
    const yy = Number(m[3])
    const now = new Date().getUTCFullYear()
    let year = Math.floor(now / 100) * 100 + yy
    if (year > now + 50) year -= 100
    return utc(year, m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!)
  }
  m = ASCTIME_DATE.exec(s)
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!)
  return undefined
}

function utc(year: number, mon: string, day: number, hh: string, mm: string, ss: string): number | undefined {
  const month = MONTHS.indexOf(mon)
  const h = Number(hh)
  const mi = Number(mm)
  const sec = Number(ss)
  if (h > 23 || mi > 59 || sec > 59 || day < 1) return undefined
  const t = Date.UTC(year, month, day, h, mi, sec)
  // Reject days past the month's end instead of letting Date roll them over.
  if (new Date(t).getUTCDate() !== day) return undefined
  return t
}
