import type {ObjectRecord} from '../storage/types.js'
import type {RawHeaders} from '../util/raw-headers.js'

/** Fields recomputed for every answer from cache rather than replayed. */
const RECOMPUTED = new Set(['age', 'content-length', 'via', 'cache-status', 'x-cache', 'content-range'])

export interface AnswerMeta {
  /** Age in whole seconds (omitted when undefined). */
  age?: number
  cacheStatus: string
  xCache?: string
  via: string
  /** Content-Length to send (omitted when undefined: chunked). */
  contentLength?: number
}

/**
 * Stored headers in their original order, with Age, Content-Length, Via and Cache-Status set for this answer.
 * Via is added per hop rather than stored, so a replay names us once.
 */
export function answerHeaders(stored: readonly string[], m: AnswerMeta, extra?: RawHeaders): RawHeaders {
  const out: RawHeaders = []
  let via: string | undefined
  let upstreamStatus: string | undefined
  for (let i = 0; i < stored.length; i += 2) {
    const n = stored[i]!.toLowerCase()
    if (n === 'via') via = via === undefined ? stored[i + 1] : `${via}, ${stored[i + 1]}`
    // RFC 9211 §2: each cache appends its member; caches nearer the origin stay first.
    else if (n === 'cache-status') upstreamStatus = upstreamStatus === undefined ? stored[i + 1] : `${upstreamStatus}, ${stored[i + 1]}`
    if (RECOMPUTED.has(n)) continue
    out.push(stored[i]!, stored[i + 1]!)
  }
  if (m.contentLength !== undefined) out.push('Content-Length', String(m.contentLength))
  if (m.age !== undefined) out.push('Age', String(m.age))
  out.push('Via', via ? `${via}, 1.1 ${m.via}` : `1.1 ${m.via}`)
  out.push('Cache-Status', upstreamStatus ? `${upstreamStatus}, ${m.cacheStatus}` : m.cacheStatus)
  if (m.xCache) out.push('X-Cache', m.xCache)
  if (extra) out.push(...extra)
  return out
}

export function recordAgeSeconds(rec: Pick<ObjectRecord, 'policy' | 'responseTime'>, now: number): number {
  return Math.max(0, Math.floor(rec.policy.correctedInitialAge + (now - rec.responseTime) / 1000))
}
