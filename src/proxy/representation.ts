/**
 * Answers from a representation the cache has (stored, or still arriving): the client's preconditions (304, 412;
 * RFC 9110 §13), its Range (206, multipart, 416; RFC 9110 §14), HEAD, or the full body. Decides which answer;
 * answer.ts writes it.
 */
import {evaluatePreconditions} from '../cache/conditional.js'
import {evaluateIfRange, parseRange, type RangeResult} from '../cache/range.js'
import type {Outcome} from '../core/hooks.js'
import type {DataPlaneServices} from '../core/services.js'
import type {ObjectRecord} from '../storage/types.js'
import {getHeader, type RawHeaders} from '../util/raw-headers.js'
import type {Answerer, Status} from './answer.js'
import {recordAgeSeconds} from './cache-headers.js'
import type {RequestContext} from './context.js'
import {limitStream} from './limit-stream.js'
import type {Readable} from 'node:stream'

/** A 304 or 412 for a failed precondition. */
export function answerPrecondition(a: Answerer, ctx: RequestContext, pre: 'not-modified' | 'precondition-failed', base: RawHeaders, st: Status, age: number | undefined, key: string, collapsed: boolean): Outcome | Promise<Outcome> {
  if (pre === 'not-modified') return a.notModified(ctx, base, st, age, key, collapsed)
  return a.preconditionFailed(ctx, st, key, collapsed)
}

/** The Range of a GET that applies to a full representation of `size` bytes (If-Range checked), if any. */
export function rangeFor(ctx: RequestContext, size: number, validators: {etag?: string; lastModified?: string}, maxRanges: number): Extract<RangeResult, {kind: 'ranges' | 'unsatisfiable'}> | undefined {
  if (ctx.method !== 'GET') return undefined
  const header = getHeader(ctx.headers, 'range')
  if (header === undefined) return undefined
  if (!evaluateIfRange(getHeader(ctx.headers, 'if-range'), validators)) return undefined
  const r = parseRange(header, size, {maxRanges})
  return r.kind === 'none' || r.kind === 'ignore' ? undefined : r
}

/** Answer from a stored object: conditionals, ranges, HEAD, memory tier or body file. */
export function serveStored(s: DataPlaneServices, a: Answerer, ctx: RequestContext, rec: ObjectRecord, st: Status, collapsed = false): Outcome | Promise<Outcome> {
  const age = recordAgeSeconds(rec, Date.now())
  s.storage.touch(rec)
  if (ctx.flags.conditional) {
    const pre = evaluatePreconditions(ctx.headers, {status: rec.status, etag: rec.policy.etag, lastModified: rec.policy.lastModified, date: getHeader(rec.headers, 'date')}, ctx.method)
    if (pre !== 'proceed') return answerPrecondition(a, ctx, pre, rec.headers, st, age, rec.key, collapsed)
  }
  if (ctx.flags.range && rec.status === 200) {
    const range = rangeFor(ctx, rec.size, rec.policy, s.config.cache.maxRanges)
    if (range?.kind === 'unsatisfiable') return a.unsatisfiable(ctx, rec.headers, st, rec.size, rec.key, collapsed)
    if (range?.kind === 'ranges') {
      return a.ranges(ctx, {base: rec.headers, st, age, size: rec.size, ranges: range.ranges, open: (start, end) => s.storage.readBody(rec, start, end), key: rec.key, collapsed})
    }
  }
  return a.stored(ctx, rec, age, st, collapsed)
}

/** A representation whose body is being written (a fill): readers tail it from any offset. */
export interface Growing {
  status: number
  statusText: string
  /** Header lines the answer is built from. */
  base: RawHeaders
  policy: {etag?: string; lastModified?: string}
  /** Declared length, when known. */
  size: number | undefined
  age: number | undefined
  /** A reader of the body from byte `start` as it is written. */
  tail(start: number): Readable
  /** Settles when the body is committed (the last byte waits for it, so the next request is a hit). */
  committed: Promise<unknown>
}

/** Answer from a representation still arriving: conditionals, ranges (once its length is known), HEAD, or the whole body. */
export function serveGrowing(s: DataPlaneServices, a: Answerer, ctx: RequestContext, g: Growing, st: Status, key: string, collapsed: boolean): Outcome | Promise<Outcome> {
  const pre = evaluatePreconditions(ctx.headers, {status: g.status, etag: g.policy.etag, lastModified: g.policy.lastModified, date: getHeader(g.base, 'date')}, ctx.method)
  if (pre !== 'proceed') return answerPrecondition(a, ctx, pre, g.base, st, g.age, key, collapsed)
  const size = g.size
  const range = size !== undefined && g.status === 200 ? rangeFor(ctx, size, g.policy, s.config.cache.maxRanges) : undefined
  if (range?.kind === 'unsatisfiable') return a.unsatisfiable(ctx, g.base, st, size!, key, collapsed)
  const head = {status: g.status, statusText: g.statusText, base: g.base, age: g.age, size, st, key, collapsed}
  if (ctx.method === 'HEAD') return a.growing(ctx, head)
  if (range?.kind === 'ranges') return a.ranges(ctx, {base: g.base, st, age: g.age, size: size!, ranges: range.ranges, open: (start, end) => limitStream(g.tail(start), end - start + 1), committed: g.committed, key, collapsed})
  return a.growing(ctx, {...head, body: () => g.tail(0), committed: g.committed})
}
