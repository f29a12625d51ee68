/**
 * Misses and revalidations: join the in-flight fill for the object or lead a new one, then answer from it (a 304
 * refreshed the stored response; a stream is answered while it is stored; an answer that may not be stored is relayed
 * to the leader and everyone else asks the origin themselves). Origin failures fall back to stale-if-error or a
 * 502/503/504. stale-while-revalidate refreshes run here in the background.
 */
import type {CacheStatusEntry, FwdReason} from '../cache/cache-status.js'
import {graceVerdict} from '../cache/grace.js'
import {decideReuse, requestNoStore} from '../cache/reuse.js'
import {variantSelector} from '../cache/vary.js'
import type {Outcome} from '../core/hooks.js'
import type {DataPlaneServices} from '../core/services.js'
import type {ObjectRecord} from '../storage/types.js'
import {getHeader} from '../util/raw-headers.js'
import type {Answerer, Status} from './answer.js'
import {recordAgeSeconds} from './cache-headers.js'
import {UseCounter} from '../cache/policy-uses.js'
import {FillRegistry, flightKey, objectKey, PassMemory} from './collapse.js'
import type {RequestContext} from './context.js'
import type {Fill, FillHead, FillRequest} from './fill.js'
import {downstreamResponseHeaders, upstreamRequestHeaders} from './origin/forward-headers.js'
import {passThrough} from './origin/pass-through.js'
import {graceAllowedFor} from './refresh/grace-errors.js'
import {policyFor, Refresher, type RefreshResult} from './refresh/refresher.js'
import {discardResponse, type UpstreamError, type UpstreamResponse} from './origin/upstream.js'
import {serveGrowing, serveStored} from './representation.js'

/** RFC 9211 fwd reasons the cache produces when it goes to the origin for a GET. */
export type Fwd = Extract<FwdReason, 'stale' | 'request' | 'uri-miss' | 'vary-miss'>

/** Look the request up again (after a fill committed), as the lookup stage does. */
export type Relookup = (ctx: RequestContext) => Outcome | Promise<Outcome>

function withUpstream(o: Outcome, upstreamMs: number): Outcome {
  o.upstreamMs = upstreamMs
  return o
}

export class Misses {
  readonly fills = new FillRegistry()
  /** Background refreshes (stale-while-revalidate, fuzzy, auto, grace) in progress, by object key. */
  private readonly refreshing = new Set<string>()
  private readonly pass = new PassMemory()
  /** Requests per object for routes with minUses > 1 (bounded). */
  private readonly uses = new UseCounter()
  /** Fuzzy / auto refresh and grace state (src/proxy/refresh/). */
  readonly refresher: Refresher

  constructor(
    private readonly s: DataPlaneServices,
    private readonly a: Answerer,
    private readonly relookup: Relookup,
  ) {
    this.refresher = new Refresher(s)
    this.refresher.bind((ctx, rec) => this.refreshInBackground(ctx, rec))
  }

  /** Forward the request as it is, labelled with `e` (a bypass of the cache). */
  bypass(ctx: RequestContext, e: Omit<CacheStatusEntry, 'name'>): Promise<Outcome> {
    if (ctx.key) this.s.stats.notStored(ctx.key, 'bypassed', e.detail ? `${e.fwd ?? 'bypass'}: ${e.detail}` : `fwd=${e.fwd ?? 'bypass'}`)
    return passThrough(this.s, this.a, ctx, {st: this.a.status(e, 'bypass'), reason: 'bypass', key: ctx.key})
  }

  /** only-if-cached and nothing usable stored: 504 (RFC 9111 §5.2.1.7). */
  onlyIfCached(ctx: RequestContext): Outcome | Promise<Outcome> {
    const st = this.a.status({fwd: 'miss', detail: 'only-if-cached'}, 'miss')
    return this.a.error(ctx, 'TAVERN_ERR_ONLY_IF_CACHED', 'only-if-cached: not in cache', this.a.statusHeaders(st), {st, key: ctx.key})
  }

  private fillRequest(ctx: RequestContext, stored?: ObjectRecord, refresh = false): FillRequest {
    return {
      ctx,
      cacheKey: ctx.key,
      path: ctx.target, // admitted: the normalised origin-form target the key names
      clientHeaders: ctx.headers,
      upstreamHeaders: upstreamRequestHeaders(ctx, this.s.config.server.via),
      url: ctx.key,
      stored,
      refresh,
      onInfo: refresh ? undefined : this.a.interim(ctx),
    }
  }

  private reusable(ctx: RequestContext, h: {policy: ObjectRecord['policy']; responseTime: number}): boolean {
    return decideReuse({headers: ctx.headers, method: ctx.method}, h, Date.now(), {honorRequestNoCache: true}).kind === 'fresh'
  }

  /** Miss or revalidation: join the in-flight fill for this object or lead a new one. */
  async fetch(ctx: RequestContext, o: {stored?: ObjectRecord; variant?: string; fwd: Fwd}): Promise<Outcome> {
    const ok = objectKey(ctx.key, o.variant)
    // The origin failed revalidating this object: the stale copy at once, at most one attempt at a time behind it.
    if (o.stored && this.refresher.grace.inGrace(ok)) {
      const g = this.fromGrace(ctx, o.stored, ok)
      if (g) return g
    }
    const passing = this.pass.passing(ok)
    // Recently not storable (and nothing stored to revalidate): relay it like any uncached request.
    if (passing && !o.stored) return this.bypass(ctx, {fwd: o.fwd, detail: 'recently not storable'})
    const fk = flightKey(this.s, ctx, ok, passing)
    let fill = fk === undefined ? undefined : this.fills.get(fk)
    let leader = false
    // Requests that arrive while the origin has not answered yet share its answer. Once the answer is known,
    // joining it is reuse of a stored response, so it must be fresh for this request (RFC 9111 §4).
    if (fill?.settled && !(fill.settled.kind === 'stream' && this.reusable(ctx, fill.settled))) {
      // Its body may be complete but not yet indexed: wait for the commit, then decide against the stored record.
      if (fill.settled.kind === 'stream' && !o.stored && (await fill.done)) return this.relookup(ctx)
      fill = undefined
    }
    if (!fill) {
      // A request with no-store (or a route noStore condition) must not cause storing, so it never leads a fill.
      if (requestNoStore(ctx.headers)) return this.bypass(ctx, {fwd: 'request', detail: 'no-store'})
      const noStore = ctx.decision?.noStore
      if (noStore !== undefined) return this.bypass(ctx, {fwd: o.fwd, detail: noStore})
      const p = ctx.policy
      if (p !== undefined && p.minUses > 1 && !o.stored && !this.uses.use(ok, p.minUses, p.minUsesWindow)) return this.bypass(ctx, {fwd: o.fwd, detail: `minUses ${p.minUses}`})
      fill = this.fills.start(fk, this.fillRequest(ctx, o.stored), this.s)
      leader = true
    }
    const h = await fill.head
    const collapsed = !leader
    if (h.kind === 'not-modified' || h.kind === 'stream') this.refresher.grace.leave(ok)
    switch (h.kind) {
      case 'not-modified':
        return withUpstream(await serveStored(this.s, this.a, ctx, h.record, this.a.status({fwd: o.fwd, fwdStatus: 304, collapsed}, 'revalidated'), collapsed), h.ttfbMs)
      case 'stream':
        return withUpstream(await this.serveStream(ctx, fill, h, leader, o.fwd), h.ttfbMs)
      case 'error':
        return this.upstreamFailed(ctx, o.stored, h.error, collapsed, ok)
      case 'uncacheable': {
        if (o.stored && h.response.status >= 500) {
          const g = this.staleOnError(ctx, o.stored, ok, h.response.status, collapsed)
          if (g) {
            if (leader) discardResponse(h.response)
            return g
          }
        }
        if (leader) {
          if (fk) this.pass.remember(fk)
          const bytes = await this.relayUncacheable(ctx, h.response, o.fwd, h.reason)
          return {outcome: 'miss', status: h.response.status, bytesOut: bytes, key: ctx.key}
        }
        // Followers cannot share an answer that was not storable: each asks the origin itself.
        return this.bypass(ctx, {fwd: o.fwd, detail: 'leader response not storable'})
      }
    }
  }

  /** Origin unreachable or failing: stale-if-error allows the stored response, else a 502/503/504 (RFC 9111 §4.2.4). */
  private upstreamFailed(ctx: RequestContext, stored: ObjectRecord | undefined, error: UpstreamError, collapsed: boolean, ok: string): Outcome | Promise<Outcome> {
    if (stored && graceAllowedFor(error.kind)) {
      const g = this.staleOnError(ctx, stored, ok, error.status, collapsed)
      if (g) return g
    }
    // RFC 9111 §4.2.4 / §5.2.2.2: a stored response that cannot be revalidated is answered with 504; an origin we
    // did not even ask because it is saturated is a 503 with Retry-After either way (and a failing hook a 500).
    const revalidation = stored !== undefined && error.kind !== 'busy' && error.kind !== 'hook'
    const detail = error.kind === 'busy' ? 'origin busy' : error.kind === 'protocol' ? 'invalid origin response' : error.kind === 'hook' ? 'plugin hook failed' : 'origin unreachable'
    const st = this.a.status({fwd: stored ? 'stale' : 'uri-miss', detail}, 'error')
    if (ctx.key) this.s.stats.notStored(ctx.key, 'fetch-failed', `${detail}: ${error.message}`)
    return this.a.error(ctx, revalidation ? 'TAVERN_ERR_REVALIDATION_FAILED' : error.code, error.message, [...this.a.statusHeaders(st), ...error.headers], {st, key: ctx.key})
  }

  private relayUncacheable(ctx: RequestContext, up: UpstreamResponse, fwd: Fwd, reason: string): Promise<number> {
    const headers = downstreamResponseHeaders(up.headers, this.s.config.server.via)
    // The detail says why the answer was not stored; inspect-key says it too.
    const st = this.a.status({fwd, fwdStatus: up.status, detail: reason}, 'miss')
    if (ctx.key) this.s.stats.notStored(ctx.key, 'not-storable', reason, up.status)
    headers.push(...this.a.statusHeaders(st))
    return this.a.relay(ctx, up, headers, st)
  }

  /**
   * Grace (RFC 9111 §4.2.4, RFC 5861 stale-if-error): the origin failed with `status` (the origin's 5xx, or the
   * status we would answer); serve the stored response if the policy allows, and remember the object is in grace.
   */
  private staleOnError(ctx: RequestContext, stored: ObjectRecord, ok: string, status: number, collapsed: boolean): Outcome | Promise<Outcome> | undefined {
    const now = Date.now()
    const v = graceVerdict(ctx.headers, stored, now, policyFor(this.s, ctx).grace / 1000)
    if (!v.serve) return undefined
    this.refresher.grace.enter(ok, now)
    const st = this.a.status({hit: true, fwd: 'stale', fwdStatus: status, ttl: Math.floor(stored.policy.lifetime - recordAgeSeconds(stored, now)), detail: v.via}, 'stale')
    return serveStored(this.s, this.a, ctx, stored, st, collapsed)
  }

  /** An object in grace: the stale copy now, and a revalidation attempt in the background when one is due. */
  private fromGrace(ctx: RequestContext, stored: ObjectRecord, ok: string): Outcome | Promise<Outcome> | undefined {
    const now = Date.now()
    const v = graceVerdict(ctx.headers, stored, now, policyFor(this.s, ctx).grace / 1000)
    if (!v.serve) return undefined
    if (this.refresher.grace.attemptDue(ok, now)) this.refresher.refresh(ctx, stored, 'grace')
    const st = this.a.status({hit: true, fwd: 'stale', ttl: Math.floor(stored.policy.lifetime - recordAgeSeconds(stored, now)), detail: `${v.via} (origin failing)`}, 'stale')
    return serveStored(this.s, this.a, ctx, stored, st)
  }

  /** One background refresh per object (stale-while-revalidate, fuzzy, auto, grace); clients never wait for it. */
  private refreshInBackground(ctx: RequestContext, rec: ObjectRecord): Promise<RefreshResult> | undefined {
    const fk = objectKey(ctx.key, rec.variant)
    if (this.refreshing.has(fk) || this.fills.get(fk)) return undefined
    this.refreshing.add(fk)
    const fill = this.fills.start(fk, this.fillRequest(ctx, rec, true), this.s)
    const p = fill.head
      .then(async (h): Promise<RefreshResult> => {
        if (h.kind === 'uncacheable') discardResponse(h.response)
        const r = await fill.done
        if (h.kind === 'error' || (h.kind === 'uncacheable' && h.response.status >= 500)) return 'failed'
        return r ? 'refreshed' : 'not-stored'
      })
      .catch((): RefreshResult => 'failed')
      .finally(() => this.refreshing.delete(fk))
    void this.s.background.run('refresh', p)
    return p
  }

  /** Answer from a fill in progress: everyone reads the growing body from storage. */
  private serveStream(ctx: RequestContext, fill: Fill, h: FillHead & {kind: 'stream'}, leader: boolean, fwd: Fwd): Outcome | Promise<Outcome> {
    // A joiner whose Vary selection differs from the leader's cannot use this response.
    if (!leader && h.varyNames.length && variantSelector(h.varyNames, ctx.headers) !== h.variant) {
      return this.fetch(ctx, {variant: variantSelector(h.varyNames, ctx.headers) ?? undefined, fwd: 'vary-miss'})
    }
    const st: Status = this.a.status({fwd, fwdStatus: h.status, stored: true, collapsed: !leader}, 'miss')
    // The request that led the fill gets the origin's answer as is: Age only when the origin sent one (corrected).
    const age = !leader || getHeader(h.originHeaders, 'age') !== undefined ? recordAgeSeconds({policy: h.policy, responseTime: h.responseTime}, Date.now()) : undefined
    const g = {
      status: h.status,
      statusText: h.statusText,
      base: leader ? h.originHeaders : h.storedHeaders,
      policy: h.policy,
      size: h.contentLength,
      age,
      tail: (start: number) => h.writer.tail(start),
      committed: fill.done,
    }
    return serveGrowing(this.s, this.a, ctx, g, st, ctx.key, !leader)
  }

  drain(): Promise<void> {
    this.refresher.close()
    return this.fills.drain()
  }
}
