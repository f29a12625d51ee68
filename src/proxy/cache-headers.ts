import type {ObjectRecord} from '../storage/types.js'
import {getHeader, type RawHeaders} from '../util/raw-headers.js'

/**
 * Fields recomputed for every answer from cache rather than replayed. A stored Content-Range (odd on a 200 but legal,
 * and stored like any other field) is replayed on full answers; a 206 we build carries only its own.
 */
const RECOMPUTED = new Set(['age', 'content-length', 'via', 'cache-status', 'x-cache'])
const RECOMPUTED_PARTIAL = new Set([...RECOMPUTED, 'content-range'])

/** Stored header lines split into what is replayed as is and what each answer recomputes from them. */
interface SplitHeaders {
  kept: RawHeaders
  /** Via of the hops before us, to which ours is appended. */
  via: string | undefined
  /** RFC 9211 §2: Cache-Status of caches nearer the origin; each cache appends its member, so theirs stay first. */
  upstreamStatus: string | undefined
  acceptRanges: boolean
}

function splitStored(stored: readonly string[], recomputed: ReadonlySet<string> = RECOMPUTED): SplitHeaders {
  const kept: RawHeaders = []
  let via: string | undefined
  let upstreamStatus: string | undefined
  let acceptRanges = false
  for (let i = 0; i < stored.length; i += 2) {
    const n = stored[i]!.toLowerCase()
    if (n === 'via') via = via === undefined ? stored[i + 1] : `${via}, ${stored[i + 1]}`
    else if (n === 'cache-status') upstreamStatus = upstreamStatus === undefined ? stored[i + 1] : `${upstreamStatus}, ${stored[i + 1]}`
    else if (n === 'accept-ranges') acceptRanges = true
    if (!recomputed.has(n)) kept.push(stored[i]!, stored[i + 1]!)
  }
  return {kept, via, upstreamStatus, acceptRanges}
}

const viaLine = (before: string | undefined, pseudonym: string): string => (before ? `${before}, 1.1 ${pseudonym}` : `1.1 ${pseudonym}`)
const statusLine = (upstream: string | undefined, ours: string): string => (upstream ? `${upstream}, ${ours}` : ours)

export interface AnswerMeta {
  /** Age in whole seconds (omitted when undefined). */
  age?: number
  cacheStatus: string
  xCache?: string
  via: string
  /** Content-Length to send (omitted when undefined: chunked). */
  contentLength?: number
  /** A 206 answer: the stored Content-Range is left out (the caller adds the one for the part sent). */
  partial?: boolean
}

/**
 * Stored headers in their original order, with Age, Content-Length, Via and Cache-Status set for this answer.
 * Via is added per hop rather than stored, so a replay names us once.
 */
export function answerHeaders(stored: readonly string[], m: AnswerMeta, extra?: RawHeaders): RawHeaders {
  const {kept: out, via, upstreamStatus} = splitStored(stored, m.partial ? RECOMPUTED_PARTIAL : RECOMPUTED)
  if (m.contentLength !== undefined) out.push('Content-Length', String(m.contentLength))
  if (m.age !== undefined) out.push('Age', String(m.age))
  out.push('Via', viaLine(via, m.via))
  out.push('Cache-Status', statusLine(upstreamStatus, m.cacheStatus))
  if (m.xCache) out.push('X-Cache', m.xCache)
  if (extra) out.push(...extra)
  return out
}

export function recordAgeSeconds(rec: Pick<ObjectRecord, 'policy' | 'responseTime'>, now: number): number {
  return Math.max(0, Math.floor(rec.policy.correctedInitialAge + (now - rec.responseTime) / 1000))
}

/** What a full answer from one stored record repeats on every hit: computed once per record object. */
interface StoredAnswer {
  via: string
  /** Stored headers without the recomputed ones, plus Content-Length, Accept-Ranges and Via. */
  headers: RawHeaders
  /** Cache-Status of caches nearer the origin, to which ours is appended. */
  upstreamStatus: string | undefined
}

const storedAnswers = new WeakMap<ObjectRecord, StoredAnswer>()

/**
 * Headers of a full (200-style) answer from a stored record: the stored part is built once per record
 * (records are immutable; a refresh yields a new one), each hit only adds Age and Cache-Status.
 */
export function fullAnswerHeaders(rec: ObjectRecord, via: string, age: number, cacheStatus: string, xCache: string | undefined): RawHeaders {
  let a = storedAnswers.get(rec)
  if (a === undefined || a.via !== via) {
    const bodyless = rec.status === 204 || rec.status === 304 || rec.status < 200
    const split = splitStored(rec.headers)
    const headers = split.kept
    if (!bodyless) headers.push('Content-Length', String(rec.size))
    // Full 200 answers of stored responses advertise byte ranges (RFC 9110 §14.3), unless the origin said otherwise.
    if (rec.status === 200 && !split.acceptRanges) headers.push('Accept-Ranges', 'bytes')
    headers.push('Via', viaLine(split.via, via))
    a = {via, headers, upstreamStatus: split.upstreamStatus}
    storedAnswers.set(rec, a)
  }
  const cs = statusLine(a.upstreamStatus, cacheStatus)
  return xCache ? a.headers.concat('Age', String(age), 'Cache-Status', cs, 'X-Cache', xCache) : a.headers.concat('Age', String(age), 'Cache-Status', cs)
}

/** Full 200 answers of stored (or being stored) responses advertise byte ranges (RFC 9110 §14.3), unless the origin said otherwise. */
export function acceptRanges(status: number, base: RawHeaders, size: number | undefined): RawHeaders | undefined {
  return status === 200 && size !== undefined && getHeader(base, 'accept-ranges') === undefined ? ['Accept-Ranges', 'bytes'] : undefined
}
