import type {IncomingMessage, ServerResponse} from 'node:http'
import {Readable} from 'node:stream'

import {formatCacheStatus, xCacheValue, type CacheOutcome} from '../cache/cache-status.js'
import {evaluatePreconditions, notModifiedHeaders} from '../cache/conditional.js'
import {invalidationTargets} from '../cache/invalidation.js'
import type {PolicyOptions} from '../cache/policy.js'
import {evaluateIfRange, parseRange} from '../cache/range.js'
import {decideReuse, onlyIfCached, requestNoStore, staleIfErrorAllowed} from '../cache/reuse.js'
import {variantSelector} from '../cache/vary.js'
import type {Daemon} from '../daemon/daemon.js'
import {handlePurgeMethod} from '../ops/purge-method.js'
import type {ObjectRecord} from '../storage/types.js'
import {getHeader, type RawHeaders} from '../util/raw-headers.js'
import {admitRequest} from './admission.js'
import {acceptRanges, answerHeaders, fullAnswerHeaders, recordAgeSeconds} from './cache-headers.js'
import {limitStream} from './limit-stream.js'
import {sendError} from './error-response.js'
import {sendBody, sendRanges, sendUnsatisfiable} from './send-body.js'
import {Fill, type FillDeps, type FillHead, FillRegistry, type FillRequest} from './fill.js'
import {downstreamResponseHeaders, upstreamRequestHeaders} from './forward-headers.js'
import {urlCacheKey} from './keys.js'
import {RangeFills} from './range-fill.js'
import {passThrough, relayInfo, relayResponse} from './pass-through.js'
import {createContext, type RequestContext} from './request-context.js'
import {discardResponse, type UpstreamError, type UpstreamResponse} from './upstream.js'

/** What one request ended as, for stats and the access log. */
interface Outcome {
  outcome: CacheOutcome
  status: number
  bytesOut: number
  key?: string
  collapsed?: boolean
  /** ms to the origin's response head, when this request waited for one. */
  upstreamMs?: number
}

/** The access log's `cache` value of a request that shared another's origin fetch (no string built per request). */
const COLLAPSED: Record<CacheOutcome, string> = {hit: 'hit-collapsed', stale: 'stale-collapsed', revalidated: 'revalidated-collapsed', miss: 'miss-collapsed', bypass: 'bypass-collapsed', error: 'error-collapsed'}

/** How long a key whose response was not storable skips collapsing (so later requests don't queue behind each other). */
const PASS_MEMORY_MS = 10_000

/** RFC 9211 fwd reasons this pipeline produces when it goes to the origin for a GET. */
type Fwd = 'stale' | 'request' | 'uri-miss' | 'vary-miss'

/** The request pipeline: routing, cache lookup, collapsing, fills and answers (ARCHITECTURE.md "Request path"). */
export class Pipeline {
  private readonly fills = new FillRegistry()
  /** Background refreshes (stale-while-revalidate) in progress, by flight key. */
  private readonly refreshing = new Set<string>()
  private readonly passUntil = new Map<string, number>()
  private policy!: PolicyOptions
  readonly ranges: RangeFills

  constructor(private readonly d: Daemon) {
    this.ranges = new RangeFills(d)
    this.reconfigure()
  }

  /** Pick up a reloaded config. */
  reconfigure(): void {
    const c = this.d.config.cache
    this.policy = {
      targetedFields: c.targetedFields,
      heuristicFraction: c.heuristicFraction,
      heuristicMaxSeconds: c.heuristicMax / 1000,
      defaultTtlSeconds: c.defaultTtl / 1000,
      maxTtlSeconds: c.maxTtl / 1000,
    }
  }

  private get deps(): FillDeps {
    return {storage: this.d.storage, upstreams: this.d.upstreams, stats: this.d.stats, policy: this.policy, log: this.d.log, background: this.d.background}
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const ctx = createContext(req, res)
    this.d.stats.requestStarted()
    let r: Outcome | Promise<Outcome>
    try {
      r = this.route(ctx)
    } catch (error) {
      r = Promise.reject(error)
    }
    // A hit from memory is answered synchronously: no promise machinery on the hottest path.
    if (!(r instanceof Promise)) {
      this.finished(ctx, r)
      return
    }
    r.then(
      (o) => this.finished(ctx, o),
      (error: unknown) => {
        this.d.log.error({err: error, reqId: ctx.id, url: req.url}, 'request failed')
        sendError(res, 500, 'internal error')
        this.finished(ctx, {outcome: 'error', status: 500, bytesOut: 0})
      },
    )
  }

  /** Bookkeeping when a request is over. It runs after the socket may be gone, and must never throw. */
  private finished(ctx: RequestContext, o: Outcome): void {
    try {
      this.record(ctx, o)
    } catch (error) {
      this.d.log.error({err: error, reqId: ctx.id}, 'request bookkeeping failed')
    }
  }

  private record(ctx: RequestContext, o: Outcome): void {
    const endedAt = performance.now()
    const durationMs = endedAt - ctx.startedAt
    this.d.stats.requestFinished({outcome: o.outcome, status: o.status, bytesOut: o.bytesOut, durationMs, key: o.key, collapsed: o.collapsed})
    const log = this.d.accessLog
    if (log) {
      const {req} = ctx
      const cache = o.collapsed ? COLLAPSED[o.outcome] : o.outcome
      log.record(ctx.logId, ctx.client, req.method, ctx.flags.host, req.url, o.status, o.bytesOut, durationMs, cache, o.upstreamMs, endedAt)
    }
  }

  private status(e: Parameters<typeof formatCacheStatus>[0], outcome: CacheOutcome): {cacheStatus: string; xCache?: string} {
    const c = this.d.config.cache
    return {cacheStatus: formatCacheStatus({name: c.statusName, ...e}), xCache: c.xCache ? xCacheValue(outcome) : undefined}
  }

  private statusHeaders(e: Parameters<typeof formatCacheStatus>[0], outcome: CacheOutcome): RawHeaders {
    const s = this.status(e, outcome)
    return s.xCache ? ['Cache-Status', s.cacheStatus, 'X-Cache', s.xCache] : ['Cache-Status', s.cacheStatus]
  }

  private route(ctx: RequestContext): Outcome | Promise<Outcome> {
    const key = admitRequest(ctx, this.d.config)
    if (typeof key !== 'string') return {outcome: key.answered === 200 ? 'bypass' : 'error', status: key.answered, bytesOut: 0}
    const method = ctx.req.method ?? 'GET'
    if (method === 'PURGE') return handlePurgeMethod(this.d, ctx, key).then((r) => ({outcome: 'bypass', status: r.status, bytesOut: 0, key}))
    if (!this.d.config.cache.enabled) return this.bypass(ctx, key, {fwd: 'bypass'})
    if (method !== 'GET' && method !== 'HEAD') return this.unsafe(ctx, key)
    return this.lookup(ctx, key, method === 'HEAD')
  }

  /** Any method we do not cache: forward it; a successful unsafe method invalidates what it names (RFC 9111 §4.4). */
  private async unsafe(ctx: RequestContext, key: string): Promise<Outcome> {
    const method = ctx.req.method ?? ''
    // Invalidate before answering, so the client's next request cannot see what its own write replaced.
    const invalidate = async (up: UpstreamResponse): Promise<void> => {
      const targets = invalidationTargets(method, up.status, new URL(key), up.headers)
      // The target URI's own key is `key` itself (a WHATWG round trip would rewrite e.g. `\` in its path).
      const keys = new Set(targets.length ? [key, ...targets.slice(1).map((t) => urlCacheKey(t, this.d.config.cache))] : [])
      for (const k of keys) {
        if (k) await this.d.storage.purgeKey(k, 'delete').catch((error: unknown) => this.d.log.warn({err: error, key: k}, 'invalidation failed'))
      }
    }
    const r = await passThrough(ctx, this.d.upstreams, this.d.config.server.via, this.statusHeaders({fwd: 'method'}, 'bypass'), invalidate, key)
    return {outcome: r.upstreamError ? 'error' : 'bypass', status: r.status, bytesOut: r.bytesOut, key, upstreamMs: r.ttfbMs}
  }

  private async bypass(ctx: RequestContext, key: string, e: Parameters<typeof formatCacheStatus>[0]): Promise<Outcome> {
    const r = await passThrough(ctx, this.d.upstreams, this.d.config.server.via, this.statusHeaders(e, 'bypass'), undefined, key)
    return {outcome: r.upstreamError ? 'error' : 'bypass', status: r.status, bytesOut: r.bytesOut, key, upstreamMs: r.ttfbMs}
  }

  private find(key: string, headers: RawHeaders): {rec?: ObjectRecord; variant?: string; varyMiss: boolean} {
    // Most URLs do not vary: their record sits under the '' variant (read-cached). Storage drops the '' record in
    // the same transaction that gives the URL Vary names, so finding it means the URL has none.
    const plain = this.d.storage.get(key, '')
    if (plain) return {rec: plain, variant: '', varyMiss: false}
    const vary = this.d.storage.getVary(key)
    if (!vary) return {variant: '', varyMiss: false}
    const variant = variantSelector(vary.names, headers)
    if (variant === null) return {varyMiss: true}
    const rec = this.d.storage.get(key, variant)
    return {rec, variant, varyMiss: rec === undefined}
  }

  private lookup(ctx: RequestContext, key: string, head: boolean): Outcome | Promise<Outcome> {
    const {req} = ctx
    const now = Date.now()
    const found = this.find(key, req.rawHeaders)
    const rec = found.rec
    if (rec) {
      const decision = decideReuse({headers: req.rawHeaders, method: req.method ?? 'GET'}, rec, now, {honorRequestNoCache: true})
      if (decision.kind === 'fresh') {
        const c = this.d.config.cache
        const st = {cacheStatus: `${c.statusName}; hit; ttl=${Math.floor(rec.policy.lifetime - decision.age)}`, xCache: c.xCache ? 'HIT' : undefined}
        return this.serveStored(ctx, rec, st, 'hit')
      }
      if (decision.kind === 'stale-ok') {
        return this.serveStored(ctx, rec, this.status({hit: true, ttl: Math.floor(rec.policy.lifetime - decision.age), detail: 'max-stale'}, 'stale'), 'stale')
      }
      if (decision.kind === 'stale-while-revalidate') {
        this.backgroundRefresh(ctx, key, rec)
        return this.serveStored(ctx, rec, this.status({hit: true, ttl: Math.floor(rec.policy.lifetime - decision.age), detail: 'stale-while-revalidate'}, 'stale'), 'stale')
      }
      if (onlyIfCached(req.rawHeaders)) return this.gatewayTimeoutOnlyIfCached(ctx, key)
      // RFC 9211: fwd=request when the stored response was fresh but the request's directives ruled it out.
      const freshForAnyone = !rec.policy.noCache && rec.invalidatedAt === undefined && rec.policy.lifetime > recordAgeSeconds(rec, now)
      return this.fetch(ctx, key, head, {stored: rec, variant: found.variant, fwd: freshForAnyone ? 'request' : 'stale'})
    }
    return this.miss(ctx, key, head, found)
  }

  private async miss(ctx: RequestContext, key: string, head: boolean, found: {variant?: string; varyMiss: boolean}): Promise<Outcome> {
    const {req} = ctx
    if (head || ctx.flags.range) {
      const r = await this.ranges.maybeHandle(ctx, key, found.variant, head)
      if (r) return r
    }
    if (onlyIfCached(req.rawHeaders)) return this.gatewayTimeoutOnlyIfCached(ctx, key)
    // A cold HEAD is forwarded as-is: fetching a whole body to answer it would waste the origin's bandwidth.
    if (head) return this.bypass(ctx, key, {fwd: found.varyMiss ? 'vary-miss' : 'uri-miss'})
    return this.fetch(ctx, key, head, {variant: found.variant, fwd: found.varyMiss ? 'vary-miss' : 'uri-miss'})
  }

  private gatewayTimeoutOnlyIfCached(ctx: RequestContext, key: string): Outcome {
    sendError(ctx.res, 504, 'only-if-cached: not in cache', this.statusHeaders({fwd: 'miss', detail: 'only-if-cached'}, 'miss'))
    return {outcome: 'miss', status: 504, bytesOut: 0, key}
  }

  /**
   * Requests that may share one origin response: same object, and nothing that makes the answer personal.
   * `passing` is set when the object's answers were recently not storable: nobody waits on anybody then.
   */
  private flightKey(ctx: RequestContext, fk: string, passing: boolean): string | undefined {
    if (passing || !this.d.config.cache.collapse || ctx.flags.authorization) return undefined
    return fk
  }

  private fillRequest(ctx: RequestContext, key: string, stored?: ObjectRecord): FillRequest {
    const {req} = ctx
    return {
      cacheKey: key,
      path: req.url ?? '/', // admitted: the normalised origin-form target the key names
      clientHeaders: req.rawHeaders,
      upstreamHeaders: upstreamRequestHeaders(req, this.d.config.server.via),
      url: key,
      stored,
      onInfo: relayInfo(ctx),
    }
  }

  /** Miss or revalidation: join the in-flight fill for this object or lead a new one. */
  private async fetch(
    ctx: RequestContext,
    key: string,
    head: boolean,
    o: {stored?: ObjectRecord; variant?: string; fwd: Fwd},
  ): Promise<Outcome> {
    const objectKey = `${key}\u0000${o.variant ?? '?'}`
    const passing = this.passing(objectKey)
    // Recently not storable (and nothing stored to revalidate): relay it like any uncached request.
    if (passing && !o.stored) return this.bypass(ctx, key, {fwd: o.fwd, detail: 'recently not storable'})
    const fk = this.flightKey(ctx, objectKey, passing)
    let fill = fk === undefined ? undefined : this.fills.get(fk)
    let leader = false
    // Requests that arrive while the origin has not answered yet share its answer. Once the answer is known,
    // joining it is reuse of a stored response, so it must be fresh for this request (RFC 9111 §4).
    if (fill?.settled && !(fill.settled.kind === 'stream' && this.reusable(ctx, fill.settled))) {
      // Its body may be complete but not yet indexed: wait for the commit, then decide against the stored record.
      if (fill.settled.kind === 'stream' && !o.stored && (await fill.done)) return this.lookup(ctx, key, head)
      fill = undefined
    }
    if (!fill) {
      // A request with no-store must not cause storing, so it never leads a fill.
      if (requestNoStore(ctx.req.rawHeaders)) return this.bypass(ctx, key, {fwd: 'request', detail: 'no-store'})
      fill = this.fills.start(fk, this.fillRequest(ctx, key, o.stored), this.deps)
      leader = true
    }
    const h = await fill.head
    const collapsed = !leader
    switch (h.kind) {
      case 'not-modified':
        return withUpstream(await this.serveStored(ctx, h.record, this.status({fwd: o.fwd, fwdStatus: 304, collapsed}, 'revalidated'), 'revalidated', collapsed), h.ttfbMs)
      case 'stream':
        return withUpstream(await this.serveStream(ctx, key, fill, h, leader, head, o.fwd), h.ttfbMs)
      case 'error':
        return this.upstreamFailed(ctx, key, o.stored, h.error, collapsed)
      case 'uncacheable': {
        if (o.stored && h.response.status >= 500 && staleIfErrorAllowed(ctx.req.rawHeaders, o.stored, Date.now())) {
          if (leader) discardResponse(h.response)
          return this.serveStored(ctx, o.stored, this.status({fwd: 'stale', fwdStatus: h.response.status, detail: 'stale-if-error'}, 'stale'), 'stale', collapsed)
        }
        if (leader) {
          if (fk) this.rememberPass(fk)
          const r = await this.relayUncacheable(ctx, h.response, o.fwd, h.reason)
          return {outcome: 'miss', status: h.response.status, bytesOut: r, key}
        }
        // Followers cannot share an answer that was not storable: each asks the origin itself.
        return this.bypass(ctx, key, {fwd: o.fwd, detail: 'leader response not storable'})
      }
    }
  }

  private reusable(ctx: RequestContext, h: {policy: ObjectRecord['policy']; responseTime: number}): boolean {
    return decideReuse({headers: ctx.req.rawHeaders, method: ctx.req.method ?? 'GET'}, h, Date.now(), {honorRequestNoCache: true}).kind === 'fresh'
  }

  /** Whether this object's answers were recently not storable (an expired mark is dropped). */
  private passing(objectKey: string): boolean {
    const until = this.passUntil.get(objectKey)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.passUntil.delete(objectKey)
    return false
  }

  /** Remember that this object's answers are not storable, so requests for it stop queueing behind each other. */
  private rememberPass(fk: string): void {
    const now = Date.now()
    if (this.passUntil.size >= 10_000) for (const [k, until] of this.passUntil) if (until <= now) this.passUntil.delete(k)
    if (this.passUntil.size < 10_000) this.passUntil.set(fk, now + PASS_MEMORY_MS)
  }

  /** Origin unreachable or failing: stale-if-error allows the stored response, else a 502/503/504 (RFC 9111 §4.2.4). */
  private upstreamFailed(ctx: RequestContext, key: string, stored: ObjectRecord | undefined, error: UpstreamError, collapsed: boolean): Outcome | Promise<Outcome> {
    if (stored && staleIfErrorAllowed(ctx.req.rawHeaders, stored, Date.now())) {
      return this.serveStored(ctx, stored, this.status({fwd: 'stale', fwdStatus: error.status, detail: 'stale-if-error'}, 'stale'), 'stale', collapsed)
    }
    // RFC 9111 §4.2.4 / §5.2.2.2: a stored response that cannot be revalidated is answered with 504; an origin we
    // did not even ask because it is saturated is a 503 with Retry-After either way.
    const code = stored && error.kind !== 'busy' ? 504 : error.status
    const detail = error.kind === 'busy' ? 'origin busy' : error.kind === 'protocol' ? 'invalid origin response' : 'origin unreachable'
    sendError(ctx.res, code, error.message, [...this.statusHeaders({fwd: stored ? 'stale' : 'uri-miss', detail}, 'error'), ...error.headers])
    return {outcome: 'error', status: code, bytesOut: 0, key}
  }

  private relayUncacheable(ctx: RequestContext, up: UpstreamResponse, fwd: Fwd, reason: string): Promise<number> {
    const headers = downstreamResponseHeaders(up.headers, this.d.config.server.via)
    // The detail says why the answer was not stored.
    headers.push(...this.statusHeaders({fwd, fwdStatus: up.status, detail: reason}, 'miss'))
    return relayResponse(ctx, up, headers)
  }

  /** stale-while-revalidate: one background refresh per object; the client already got the stale answer. */
  private backgroundRefresh(ctx: RequestContext, key: string, rec: ObjectRecord): void {
    const fk = `${key}\u0000${rec.variant}`
    if (this.refreshing.has(fk) || this.fills.get(fk)) return
    this.refreshing.add(fk)
    const fill = this.fills.start(fk, this.fillRequest(ctx, key, rec), this.deps)
    void this.d.background.run(
      'refresh',
      fill.head
        .then((h) => {
          if (h.kind === 'uncacheable') discardResponse(h.response)
          return fill.done
        })
        .finally(() => this.refreshing.delete(fk)),
    )
  }

  /** Answer from a fill in progress: everyone reads the growing body from storage. */
  private async serveStream(ctx: RequestContext, key: string, fill: Fill, h: FillHead & {kind: 'stream'}, leader: boolean, head: boolean, fwd: Fwd): Promise<Outcome> {
    const {req, res} = ctx
    // A joiner whose Vary selection differs from the leader's cannot use this response.
    if (!leader && h.varyNames.length && variantSelector(h.varyNames, req.rawHeaders) !== h.variant) {
      return this.fetch(ctx, key, head, {variant: variantSelector(h.varyNames, req.rawHeaders) ?? undefined, fwd: 'vary-miss'})
    }
    const outcome: CacheOutcome = 'miss'
    const st = this.status({fwd, fwdStatus: h.status, stored: true, collapsed: !leader}, outcome)
    const base = leader ? h.originHeaders : h.storedHeaders
    // The request that led the fill gets the origin's answer as is: Age only when the origin sent one (corrected).
    const age = !leader || getHeader(h.originHeaders, 'age') !== undefined ? recordAgeSeconds({policy: h.policy, responseTime: h.responseTime}, Date.now()) : undefined
    const pre = evaluatePreconditions(req.rawHeaders, {status: h.status, etag: h.policy.etag, lastModified: h.policy.lastModified, date: getHeader(base, 'date')}, req.method ?? 'GET')
    if (pre !== 'proceed') return this.answerPrecondition(ctx, pre, base, st, age, outcome, key, !leader)
    const size = h.contentLength
    const range = size !== undefined && h.status === 200 ? this.rangeFor(req, size, h.policy) : undefined
    if (range?.kind === 'unsatisfiable') return this.answer416(ctx, base, st, size!, outcome, key, !leader)
    if (head) {
      res.writeHead(h.status, h.statusText || undefined, answerHeaders(base, {...st, age, via: this.d.config.server.via, contentLength: size}, acceptRanges(h.status, base, size)))
      res.end()
      return {outcome, status: h.status, bytesOut: 0, key, collapsed: !leader}
    }
    const open = (s: number, e: number) => limitStream(h.writer.tail(s), e - s + 1)
    if (range?.kind === 'ranges') return this.answerRanges(ctx, base, st, age, size!, range.ranges, open, outcome, key, !leader, fill.done)
    res.writeHead(h.status, h.statusText || undefined, answerHeaders(base, {...st, age, via: this.d.config.server.via, contentLength: size}, acceptRanges(h.status, base, size)))
    res.flushHeaders() // the body may be slow to come: the client learns the status now
    const bytes = await this.send(ctx, h.writer.tail(0), fill.done)
    return {outcome, status: h.status, bytesOut: bytes, key, collapsed: !leader}
  }

  /** The Range of a GET that applies to a full stored representation (If-Range checked), if any. */
  private rangeFor(req: IncomingMessage, size: number, p: {etag?: string; lastModified?: string}) {
    if (req.method !== 'GET') return undefined
    const header = getHeader(req.rawHeaders, 'range')
    if (header === undefined) return undefined
    if (!evaluateIfRange(getHeader(req.rawHeaders, 'if-range'), {etag: p.etag, lastModified: p.lastModified})) return undefined
    const r = parseRange(header, size, {maxRanges: this.d.config.cache.maxRanges})
    return r.kind === 'none' || r.kind === 'ignore' ? undefined : r
  }

  private answerPrecondition(ctx: RequestContext, pre: 'not-modified' | 'precondition-failed', base: RawHeaders, st: {cacheStatus: string; xCache?: string}, age: number | undefined, outcome: CacheOutcome, key: string, collapsed: boolean): Outcome {
    if (pre === 'not-modified') {
      ctx.res.writeHead(304, answerHeaders(notModifiedHeaders(base), {...st, age, via: this.d.config.server.via}))
      ctx.res.end()
      return {outcome, status: 304, bytesOut: 0, key, collapsed}
    }
    sendError(ctx.res, 412, 'precondition failed', ['Cache-Status', st.cacheStatus])
    return {outcome, status: 412, bytesOut: 0, key, collapsed}
  }

  private answer416(ctx: RequestContext, base: RawHeaders, st: {cacheStatus: string; xCache?: string}, size: number, outcome: CacheOutcome, key: string, collapsed: boolean): Outcome {
    sendUnsatisfiable(ctx, base, st, this.d.config.server.via, size)
    return {outcome, status: 416, bytesOut: 0, key, collapsed}
  }

  private async answerRanges(
    ctx: RequestContext,
    base: RawHeaders,
    st: {cacheStatus: string; xCache?: string},
    age: number | undefined,
    size: number,
    ranges: Array<{start: number; end: number}>,
    open: (s: number, e: number) => Readable,
    outcome: CacheOutcome,
    key: string,
    collapsed: boolean,
    committed?: Promise<unknown>,
  ): Promise<Outcome> {
    const bytes = await sendRanges(ctx, {base, cacheStatus: st.cacheStatus, xCache: st.xCache, age, via: this.d.config.server.via, size, ranges, open, committed})
    return {outcome, status: 206, bytesOut: bytes, key, collapsed}
  }

  private send(ctx: RequestContext, body: Readable, committed?: Promise<unknown>): Promise<number> {
    return sendBody(ctx, body, committed)
  }

  /** Answer from a stored object: conditionals, ranges, HEAD, memory tier or body file. */
  private serveStored(ctx: RequestContext, rec: ObjectRecord, st: {cacheStatus: string; xCache?: string}, outcome: CacheOutcome, collapsed = false): Outcome | Promise<Outcome> {
    const {req, res} = ctx
    const age = recordAgeSeconds(rec, Date.now())
    this.d.storage.touch(rec)
    if (ctx.flags.conditional) {
      const pre = evaluatePreconditions(req.rawHeaders, {status: rec.status, etag: rec.policy.etag, lastModified: rec.policy.lastModified, date: getHeader(rec.headers, 'date')}, req.method ?? 'GET')
      if (pre !== 'proceed') return this.answerPrecondition(ctx, pre, rec.headers, st, age, outcome, rec.key, collapsed)
    }
    if (ctx.flags.range && rec.status === 200) {
      const range = this.rangeFor(req, rec.size, rec.policy)
      if (range?.kind === 'unsatisfiable') return this.answer416(ctx, rec.headers, st, rec.size, outcome, rec.key, collapsed)
      if (range?.kind === 'ranges') {
        const open = (s: number, e: number) => this.d.storage.readBody(rec, s, e)
        return this.answerRanges(ctx, rec.headers, st, age, rec.size, range.ranges, open, outcome, rec.key, collapsed)
      }
    }
    const bodyless = rec.status === 204 || rec.status === 304 || rec.status < 200
    res.writeHead(rec.status, rec.statusText || undefined, fullAnswerHeaders(rec, this.d.config.server.via, age, st.cacheStatus, st.xCache))
    if (req.method === 'HEAD' || bodyless) {
      res.end()
      return {outcome, status: rec.status, bytesOut: 0, key: rec.key, collapsed}
    }
    const mem = this.d.storage.memoryBody(rec)
    if (mem) {
      res.end(mem)
      return {outcome, status: rec.status, bytesOut: mem.length, key: rec.key, collapsed}
    }
    return this.send(ctx, this.d.storage.readBody(rec)).then((bytes) => ({outcome, status: rec.status, bytesOut: bytes, key: rec.key, collapsed}))
  }

  async close(): Promise<void> {
    await Promise.all([this.fills.drain(), this.ranges.close()])
  }
}

function withUpstream(o: Outcome, upstreamMs: number): Outcome {
  o.upstreamMs = upstreamMs
  return o
}



