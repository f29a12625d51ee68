/**
 * THE answer path: every response of the data plane — hit, miss, 304, 412, 206, 416, multipart, relayed origin
 * answers, errors, PURGE JSON, a hook's answer, interim 1xx — is written here and nowhere else in src/proxy. This is
 * where Age, Via, Cache-Status and X-Cache are set (with cache-headers.ts), where onSend hooks see the head before it
 * goes out, and where a finished request is recorded once (stats, access log, onResponse hooks).
 *
 * The plain hit stays cheap: the stored part of its header list is built once per record (cache-headers.ts), a hit
 * only appends Age and Cache-Status, and without onSend hooks nothing else happens before writeHead.
 */
import type {Readable} from 'node:stream'
import {pipeline as pump} from 'node:stream/promises'

import {type CacheOutcome, type CacheStatusEntry, formatCacheStatus, xCacheValue} from '../cache/cache-status.js'
import {notModifiedHeaders} from '../cache/conditional.js'
import {createBoundary, multipartLayout, multipartStream} from '../cache/multipart.js'
import {contentRangeHeader, unsatisfiedRangeHeader} from '../cache/range.js'
import {type ErrorCode, errorBody, ERRORS} from '../core/errors.js'
import type {Answer, Outcome, SendHead} from '../core/hooks.js'
import type {DataPlaneServices} from '../core/services.js'
import type {ObjectRecord} from '../storage/types.js'
import {getHeader, type RawHeaders, withoutHeaders} from '../util/raw-headers.js'
import {acceptRanges, answerHeaders, fullAnswerHeaders} from './cache-headers.js'
import {commitGate} from './commit-gate.js'
import type {RequestContext} from './context.js'
import {HookError, runMutators, runObservers} from './hooks.js'
import {discardResponse, type UpstreamResponse} from './origin/upstream.js'
import {pipeBody} from './pipe-body.js'

/** How this answer is labelled: our Cache-Status member, X-Cache (when enabled) and the outcome for stats and logs. */
export interface Status {
  readonly cacheStatus: string
  readonly xCache: string | undefined
  readonly outcome: CacheOutcome
}

/** The access log's `cache` value of a request that shared another's origin fetch (no string built per request). */
const COLLAPSED: Record<CacheOutcome, string> = {hit: 'hit-collapsed', stale: 'stale-collapsed', revalidated: 'revalidated-collapsed', miss: 'miss-collapsed', bypass: 'bypass-collapsed', error: 'error-collapsed'}

const CONTENT_TYPE = new Set(['content-type'])
/** What a 416 keeps of the stored header lines: the validators and the Date. */
const KEPT_ON_416 = new Set(['etag', 'last-modified', 'date'])
const OPTIONS_HEADERS: readonly string[] = ['Content-Length', '0']

/** A failed answer: the client must not take a short body for a complete one, so the connection is cut. */
function cut(ctx: RequestContext): void {
  ctx.res.destroy()
}

export class Answerer {
  constructor(private readonly s: DataPlaneServices) {}

  // ---- labels -------------------------------------------------------------------------------

  status(e: Omit<CacheStatusEntry, 'name'>, outcome: CacheOutcome): Status {
    const c = this.s.config.cache
    return {cacheStatus: formatCacheStatus({name: c.statusName, ...e}), xCache: c.xCache ? xCacheValue(outcome) : undefined, outcome}
  }

  /** A fresh hit's label (the hottest path: one string concatenation). */
  hit(ttl: number): Status {
    const c = this.s.config.cache
    return {cacheStatus: `${c.statusName}; hit; ttl=${Math.floor(ttl)}`, xCache: c.xCache ? 'HIT' : undefined, outcome: 'hit'}
  }

  /** Cache-Status (and X-Cache) lines for answers whose headers are not built from a stored response. */
  statusHeaders(st: Status): RawHeaders {
    return st.xCache ? ['Cache-Status', st.cacheStatus, 'X-Cache', st.xCache] : ['Cache-Status', st.cacheStatus]
  }

  // ---- the head -----------------------------------------------------------------------------

  /**
   * Write the status line and headers: onSend hooks first (when there are any; they may change the header lines).
   * Returns a promise only when a hook did. `hooks` false: an answer to a failure (the hooks may be its cause).
   */
  private head(ctx: RequestContext, status: number, reason: string | undefined, headers: RawHeaders, st: Status | undefined, hooks = true): void | Promise<void> {
    if (st !== undefined) {
      ctx.outcome = st.outcome
      ctx.cacheStatus = st.cacheStatus
    }
    const list = ctx.hooks.onSend
    if (list.length === 0 || !hooks) {
      ctx.res.writeHead(status, reason, headers)
      return
    }
    const head: SendHead = {status, headers}
    const r = runMutators(list, 'onSend', ctx, head)
    if (r === undefined) {
      ctx.res.writeHead(status, reason, head.headers)
      return
    }
    return r.then(() => {
      // The client may have gone while a hook waited.
      if (!ctx.res.destroyed) ctx.res.writeHead(status, reason, head.headers)
    })
  }

  // ---- answers from stored or growing representations ----------------------------------------

  /** A full (200-style) answer from a stored record: memory tier, body file, or no body (HEAD, 204, 304). */
  stored(ctx: RequestContext, rec: ObjectRecord, age: number, st: Status, collapsed: boolean): Outcome | Promise<Outcome> {
    const headers = fullAnswerHeaders(rec, this.s.config.server.via, age, st.cacheStatus, st.xCache)
    const w = this.head(ctx, rec.status, rec.statusText || undefined, headers, st)
    if (w === undefined) return this.storedBody(ctx, rec, st, collapsed)
    return w.then(() => this.storedBody(ctx, rec, st, collapsed))
  }

  private storedBody(ctx: RequestContext, rec: ObjectRecord, st: Status, collapsed: boolean): Outcome | Promise<Outcome> {
    const {res} = ctx
    const bodyless = rec.status === 204 || rec.status === 304 || rec.status < 200
    if (ctx.method === 'HEAD' || bodyless) {
      res.end()
      return {outcome: st.outcome, status: rec.status, bytesOut: 0, key: rec.key, collapsed}
    }
    const mem = this.s.storage.memoryBody(rec)
    if (mem) {
      res.end(mem)
      return {outcome: st.outcome, status: rec.status, bytesOut: mem.length, key: rec.key, collapsed}
    }
    return this.body(ctx, this.s.storage.readBody(rec)).then((bytes) => ({outcome: st.outcome, status: rec.status, bytesOut: bytes, key: rec.key, collapsed}))
  }

  /**
   * A full answer from a representation whose body may still be arriving (a fill, a whole fill of a partial object):
   * `base` are its header lines, `size` its length when known. `body()` is called only when a body is sent.
   */
  async growing(
    ctx: RequestContext,
    a: {status: number; statusText: string; base: RawHeaders; age: number | undefined; size: number | undefined; st: Status; key: string; collapsed: boolean; body?: () => Readable; committed?: Promise<unknown>},
  ): Promise<Outcome> {
    const headers = answerHeaders(a.base, {cacheStatus: a.st.cacheStatus, xCache: a.st.xCache, age: a.age, via: this.s.config.server.via, contentLength: a.size}, acceptRanges(a.status, a.base, a.size))
    await this.head(ctx, a.status, a.statusText || undefined, headers, a.st)
    if (!a.body) {
      ctx.res.end()
      return {outcome: a.st.outcome, status: a.status, bytesOut: 0, key: a.key, collapsed: a.collapsed}
    }
    ctx.res.flushHeaders() // the body may be slow to come: the client learns the status now
    const bytes = await this.body(ctx, a.body(), a.committed)
    return {outcome: a.st.outcome, status: a.status, bytesOut: bytes, key: a.key, collapsed: a.collapsed}
  }

  /** 304 Not Modified for a representation with header lines `base` (RFC 9110 §15.4.5). */
  notModified(ctx: RequestContext, base: RawHeaders, st: Status, age: number | undefined, key: string, collapsed: boolean): Outcome | Promise<Outcome> {
    const headers = answerHeaders(notModifiedHeaders(base), {cacheStatus: st.cacheStatus, xCache: st.xCache, age, via: this.s.config.server.via})
    const out: Outcome = {outcome: st.outcome, status: 304, bytesOut: 0, key, collapsed}
    return this.then(this.head(ctx, 304, undefined, headers, st), () => {
      ctx.res.end()
      return out
    })
  }

  /** 412 Precondition Failed (RFC 9110 §13.1). */
  preconditionFailed(ctx: RequestContext, st: Status, key: string, collapsed: boolean): Outcome | Promise<Outcome> {
    return this.error(ctx, 'TAVERN_ERR_PRECONDITION_FAILED', 'precondition failed', ['Cache-Status', st.cacheStatus], {st, key, collapsed})
  }

  /** 416 for a range outside a `size`-byte representation (RFC 9110 §15.5.17), keeping `base`'s validators and Date. */
  unsatisfiable(ctx: RequestContext, base: RawHeaders, st: Status, size: number, key: string, collapsed: boolean): Outcome | Promise<Outcome> {
    const body = `416 Range Not Satisfiable\n`
    const keep: RawHeaders = []
    for (let i = 0; i < base.length; i += 2) if (KEPT_ON_416.has(base[i]!.toLowerCase())) keep.push(base[i]!, base[i + 1]!)
    const headers = answerHeaders(keep, {cacheStatus: st.cacheStatus, xCache: st.xCache, via: this.s.config.server.via, contentLength: Buffer.byteLength(body)}, ['Content-Range', unsatisfiedRangeHeader(size), 'Content-Type', 'text/plain'])
    return this.then(this.head(ctx, 416, undefined, headers, st), () => {
      ctx.res.end(ctx.method === 'HEAD' ? undefined : body)
      return {outcome: st.outcome, status: 416, bytesOut: 0, key, collapsed}
    })
  }

  /** A 206 answer: one range with Content-Range, several as a streamed multipart/byteranges with exact Content-Length. */
  async ranges(
    ctx: RequestContext,
    a: {
      base: RawHeaders
      st: Status
      age: number | undefined
      size: number
      ranges: ReadonlyArray<{start: number; end: number}>
      open: (start: number, endInclusive: number) => Readable
      committed?: Promise<unknown>
      key: string
      collapsed: boolean
    },
  ): Promise<Outcome> {
    const meta = {cacheStatus: a.st.cacheStatus, xCache: a.st.xCache, age: a.age, via: this.s.config.server.via, partial: true}
    let bytes: number
    if (a.ranges.length === 1) {
      const r = a.ranges[0]!
      await this.head(ctx, 206, undefined, answerHeaders(a.base, {...meta, contentLength: r.end - r.start + 1}, ['Content-Range', contentRangeHeader(r, a.size)]), a.st)
      bytes = await this.body(ctx, a.open(r.start, r.end), a.committed)
    } else {
      const layout = multipartLayout(a.ranges, a.size, getHeader(a.base, 'content-type'), createBoundary())
      await this.head(ctx, 206, undefined, answerHeaders(withoutHeaders(a.base, CONTENT_TYPE), {...meta, contentLength: layout.totalLength}, ['Content-Type', layout.contentType]), a.st)
      bytes = await this.body(ctx, multipartStream(layout, a.open), a.committed)
    }
    return {outcome: a.st.outcome, status: 206, bytesOut: bytes, key: a.key, collapsed: a.collapsed}
  }

  // ---- relayed origin answers ---------------------------------------------------------------

  /** Stream an origin's answer to the client with `headers`. Resolves with bytes sent; cuts the connection on a broken body. */
  async relay(ctx: RequestContext, up: UpstreamResponse, headers: RawHeaders, st: Status | undefined): Promise<number> {
    const {res} = ctx
    try {
      await this.head(ctx, up.status, up.statusText || undefined, headers, st)
    } catch (error) {
      // A header Node refuses to send (or a failing hook): nobody will read this body.
      discardResponse(up)
      throw error
    }
    let bytes = 0
    up.body.on('data', (c: Buffer) => {
      bytes += c.length
    })
    if (ctx.method === 'HEAD' || up.status === 204 || up.status === 304) {
      discardResponse(up)
      res.end()
      return 0
    }
    try {
      await pipeBody(up.body, res)
    } catch {
      // Upstream body broke or the client left: the client must not take a short body for a complete one.
      cut(ctx)
    }
    return bytes
  }

  /** Relay interim responses that Node can send (102 Processing, 103 Early Hints) before the final answer. */
  interim(ctx: RequestContext): (status: number, headers: RawHeaders) => void {
    return (status, headers) => {
      const {res} = ctx
      if (res.headersSent) return
      if (status === 102) res.writeProcessing()
      else if (status === 103) {
        const links: string[] = []
        for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'link') links.push(headers[i + 1]!)
        if (links.length) res.writeEarlyHints({link: links})
      }
    }
  }

  // ---- answers made here --------------------------------------------------------------------

  /**
   * A short text error answer naming its catalogue code. When headers already went out, the connection is cut
   * instead (never a half body that looks complete). `st` labels it (outcome 'error' when absent).
   */
  error(
    ctx: RequestContext,
    code: ErrorCode,
    detail: string,
    extra: readonly string[] = [],
    o: {st?: Status; key?: string; collapsed?: boolean; status?: number; hooks?: boolean} = {},
  ): Outcome | Promise<Outcome> {
    const status = o.status ?? ERRORS[code].status
    const out: Outcome = {outcome: o.st?.outcome ?? 'error', status, bytesOut: 0, key: o.key, collapsed: o.collapsed}
    const {res} = ctx
    if (res.headersSent) {
      cut(ctx)
      return out
    }
    const body = errorBody(code, detail, status)
    const headers = [...extra, 'Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'Cache-Control', 'no-store']
    if (o.st === undefined) ctx.outcome = 'error'
    return this.then(this.head(ctx, status, undefined, headers, o.st, o.hooks), () => {
      res.end(ctx.method === 'HEAD' ? undefined : body)
      return out
    })
  }

  /** A JSON answer of the data plane (the PURGE method). */
  json(ctx: RequestContext, status: number, value: unknown, key?: string): Outcome | Promise<Outcome> {
    const payload = JSON.stringify(value) + '\n'
    const headers = ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(payload)), 'Cache-Control', 'no-store']
    ctx.outcome = 'bypass'
    return this.then(this.head(ctx, status, undefined, headers, undefined), () => {
      ctx.res.end(ctx.method === 'HEAD' ? undefined : payload)
      return {outcome: 'bypass', status, bytesOut: 0, key}
    })
  }

  /** `OPTIONS *` asks about the server in general (RFC 9110 §9.3.7): a no-op answer, never forwarded or cached. */
  options(ctx: RequestContext): Outcome | Promise<Outcome> {
    ctx.req.resume()
    ctx.outcome = 'bypass'
    return this.then(this.head(ctx, 200, undefined, [...OPTIONS_HEADERS], undefined), () => {
      ctx.res.end()
      return {outcome: 'bypass', status: 200, bytesOut: 0}
    })
  }

  /** The answer an onRequest / onRoute hook gave instead of letting the request continue. */
  hookAnswer(ctx: RequestContext, a: Answer): Outcome | Promise<Outcome> {
    ctx.req.resume() // the request body means nothing now; drain it so keep-alive works
    const headers: RawHeaders = []
    if (Array.isArray(a.headers)) for (const v of a.headers as readonly string[]) headers.push(String(v))
    else if (a.headers) for (const [n, v] of Object.entries(a.headers)) for (const x of typeof v === 'string' ? [v] : v) headers.push(n, x)
    const body = a.body === undefined ? undefined : typeof a.body === 'string' ? Buffer.from(a.body) : a.body
    const bodyless = a.status === 204 || a.status === 304
    if (!bodyless && getHeader(headers, 'content-length') === undefined) headers.push('Content-Length', String(body?.length ?? 0))
    ctx.outcome = 'bypass'
    return this.then(this.head(ctx, a.status, undefined, headers, undefined), () => {
      ctx.res.end(ctx.method === 'HEAD' || bodyless ? undefined : body)
      return {outcome: 'bypass', status: a.status, bytesOut: ctx.method === 'HEAD' || bodyless ? 0 : (body?.length ?? 0), key: ctx.key || undefined}
    })
  }

  /** The request failed (a bug, or a hook that threw): a 500 when nothing was sent yet, else the connection is cut. */
  failure(ctx: RequestContext, error: unknown): Outcome | Promise<Outcome> {
    const hook = error instanceof HookError
    const code: ErrorCode = hook ? 'TAVERN_ERR_HOOK' : 'TAVERN_ERR_INTERNAL'
    // onSend hooks are skipped: they may be what failed.
    return this.error(ctx, code, hook ? `plugin ${error.plugin} failed` : 'internal error', [], {hooks: false})
  }

  // ---- bookkeeping --------------------------------------------------------------------------

  /** When a request is over: stats, the access log and onResponse hooks, once. Runs after the socket may be gone; never throws. */
  finished(ctx: RequestContext, o: Outcome): void {
    try {
      const endedAt = performance.now()
      const durationMs = endedAt - ctx.startedAt
      this.s.stats.requestFinished({outcome: o.outcome, status: o.status, bytesOut: o.bytesOut, durationMs, key: o.key, collapsed: o.collapsed})
      const log = this.s.accessLog
      const tap = this.s.requestTap
      if (log || tap?.active) {
        const cache = o.collapsed ? COLLAPSED[o.outcome] : o.outcome
        const userAgent = getHeader(ctx.headers, 'user-agent')
        const referer = getHeader(ctx.headers, 'referer')
        if (log) log.record(ctx.logId, ctx.client, ctx.req.method, ctx.host, ctx.target, o.status, o.bytesOut, durationMs, cache, o.upstreamMs, endedAt, userAgent, referer, ctx.req.httpVersion)
        // Built only while someone follows the live log.
        if (tap?.active) {
          tap.record({time: Date.now(), reqId: ctx.id, client: ctx.client, method: ctx.req.method ?? ctx.method, host: ctx.host, path: ctx.target, status: o.status, bytes: o.bytesOut, durationMs, cache, cacheStatus: ctx.cacheStatus, key: o.key, upstream: ctx.upstream, upstreamMs: o.upstreamMs, userAgent, referer})
        }
      }
      const hooks = ctx.hooks.onResponse
      if (hooks.length > 0) runObservers(hooks, 'onResponse', ctx, {...o, durationMs}, this.s.log)
    } catch (error) {
      this.s.log.error({err: error, reqId: ctx.id}, 'request bookkeeping failed')
    }
  }

  // ---- bodies -------------------------------------------------------------------------------

  /**
   * Body to the client with backpressure; a broken source cuts the connection (never a short body that looks
   * complete). With `committed`, the final byte waits for the index commit (see commitGate). Resolves with bytes sent.
   */
  private async body(ctx: RequestContext, body: Readable, committed?: Promise<unknown>): Promise<number> {
    let bytes = 0
    body.on('data', (c: Buffer) => {
      bytes += c.length
    })
    try {
      if (committed) await pump(body, commitGate(committed), ctx.res)
      else await pipeBody(body, ctx.res)
    } catch {
      cut(ctx)
    }
    return bytes
  }

  /** `fn` now when the head was written synchronously, else once it is. */
  private then(w: void | Promise<void>, fn: () => Outcome): Outcome | Promise<Outcome> {
    return w === undefined ? fn() : w.then(fn)
  }
}
