import type {Readable} from 'node:stream'
import {pipeline as pump} from 'node:stream/promises'

import {createBoundary, multipartLayout, multipartStream} from '../cache/multipart.js'
import {contentRangeHeader, unsatisfiedRangeHeader} from '../cache/range.js'
import {getHeader, type RawHeaders, withoutHeaders} from '../util/raw-headers.js'
import {answerHeaders} from './cache-headers.js'
import {commitGate} from './commit-gate.js'
import {pipeBody} from './pipe-body.js'
import type {RequestContext} from './request-context.js'

const CONTENT_TYPE = new Set(['content-type'])
/** What a 416 keeps of the stored header lines: the validators and the Date. */
const KEPT_ON_416 = new Set(['etag', 'last-modified', 'date'])

/** 416 for a range outside a `size`-byte representation (RFC 9110 §15.5.17), keeping `base`'s validators and Date. */
export function sendUnsatisfiable(ctx: RequestContext, base: RawHeaders, st: {cacheStatus: string; xCache?: string}, via: string, size: number): void {
  const body = `416 Range Not Satisfiable\n`
  const keep: RawHeaders = []
  for (let i = 0; i < base.length; i += 2) if (KEPT_ON_416.has(base[i]!.toLowerCase())) keep.push(base[i]!, base[i + 1]!)
  ctx.res.writeHead(416, answerHeaders(keep, {...st, via, contentLength: Buffer.byteLength(body)}, ['Content-Range', unsatisfiedRangeHeader(size), 'Content-Type', 'text/plain']))
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body)
}

/**
 * Body to the client with backpressure; a broken source cuts the connection (never a short body that looks
 * complete). With `committed`, the final byte waits for the index commit (see commitGate). Resolves with bytes sent.
 */
export async function sendBody(ctx: RequestContext, body: Readable, committed?: Promise<unknown>): Promise<number> {
  let bytes = 0
  body.on('data', (c: Buffer) => {
    bytes += c.length
  })
  try {
    if (committed) await pump(body, commitGate(committed), ctx.res)
    else await pipeBody(body, ctx.res)
  } catch {
    ctx.res.destroy()
  }
  return bytes
}

/** A 206 answer: one range with Content-Range, several as a streamed multipart/byteranges with exact Content-Length. */
export async function sendRanges(
  ctx: RequestContext,
  a: {
    base: RawHeaders
    cacheStatus: string
    xCache?: string
    age: number | undefined
    via: string
    size: number
    ranges: ReadonlyArray<{start: number; end: number}>
    open: (start: number, endInclusive: number) => Readable
    committed?: Promise<unknown>
  },
): Promise<number> {
  const {res} = ctx
  const meta = {cacheStatus: a.cacheStatus, xCache: a.xCache, age: a.age, via: a.via, partial: true}
  if (a.ranges.length === 1) {
    const r = a.ranges[0]!
    res.writeHead(206, answerHeaders(a.base, {...meta, contentLength: r.end - r.start + 1}, ['Content-Range', contentRangeHeader(r, a.size)]))
    return sendBody(ctx, a.open(r.start, r.end), a.committed)
  }
  const layout = multipartLayout(a.ranges, a.size, getHeader(a.base, 'content-type'), createBoundary())
  res.writeHead(206, answerHeaders(withoutHeaders(a.base, CONTENT_TYPE), {...meta, contentLength: layout.totalLength}, ['Content-Type', layout.contentType]))
  return sendBody(ctx, multipartStream(layout, a.open), a.committed)
}
