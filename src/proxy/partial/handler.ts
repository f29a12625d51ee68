/**
 * Range requests and HEADs for objects that are not stored complete: partial-object caching (RFC 9110 §14,
 * RFC 9111 §3.3–3.4).
 *
 * A partial object is one sparse body file cut in fixed slices (cache.sliceSize) plus a PartialRecord in the index
 * (headers as a 200's, total length, present-slice bitmap, validators, policy). A range request fetches from the
 * origin only the slices it needs that are neither stored nor already being fetched (slice-fetch.ts), and reads them
 * from the file as they are written (slice-reader.ts), so one origin fetch serves every request that needs a slice.
 *
 * Every slice response is checked against the object's validator (strong ETag, else Last-Modified, and the total
 * length). A request waits for the heads of all the fetches it depends on before it answers, so a change of
 * representation is seen before any byte goes out: the old slices are discarded and the request starts over.
 * When every slice is present the partial becomes a normal complete object on the same file.
 */
import {evaluatePreconditions} from '../../cache/conditional.js'
import {formatHttpDate} from '../../cache/http-date.js'
import {evaluateIfRange, parseRange} from '../../cache/range.js'
import {decideReuse, onlyIfCached, requestNoStore} from '../../cache/reuse.js'
import type {Outcome} from '../../core/hooks.js'
import type {DataPlaneServices} from '../../core/services.js'
import {indexKey} from '../../storage/keys.js'
import {hasSlice, slicesFor, toRuns} from '../../storage/partial-slices.js'
import {getHeader} from '../../util/raw-headers.js'
import type {Answerer} from '../answer.js'
import {recordAgeSeconds} from '../cache-headers.js'
import type {RequestContext} from '../context.js'
import {downstreamResponseHeaders} from '../origin/forward-headers.js'
import {passThrough} from '../origin/pass-through.js'
import {answerPrecondition} from '../representation.js'
import type {FetchHead, Info, PartialObject, SliceFetch} from './object.js'
import {countRead, freshForAnyone, PartialRegistry} from './registry.js'
import {probeRun, SliceFetcher} from './slice-fetch.js'
import {SliceReader} from './slice-reader.js'
import {serveWhole} from './whole-fill.js'

/** Restarts after the object changed under a request before it gives up and lets the pipeline fetch it whole. */
const MAX_ATTEMPTS = 3

export class PartialObjects {
  private readonly registry: PartialRegistry
  private readonly fetcher: SliceFetcher

  constructor(
    private readonly s: DataPlaneServices,
    private readonly a: Answerer,
  ) {
    this.registry = new PartialRegistry(s)
    this.fetcher = new SliceFetcher(this.registry)
  }

  /** Answer the request from (or into) a partial object, or return undefined to let the pipeline handle it. */
  async maybeHandle(ctx: RequestContext, variant: string | undefined, head: boolean): Promise<Outcome | undefined> {
    const key = ctx.key
    if (variant === undefined || this.registry.closing) return undefined
    if (ctx.method !== (head ? 'HEAD' : 'GET')) return undefined
    // Personal or never-stored requests keep the pipeline's rules.
    if (getHeader(ctx.headers, 'authorization') !== undefined || requestNoStore(ctx.headers)) return undefined
    const range = getHeader(ctx.headers, 'range')
    if (!head && range === undefined) return undefined
    const ik = indexKey(key, variant)
    const pass = head ? undefined : this.registry.passing(ik)
    if (pass !== undefined) return this.bypass(ctx, pass)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const obj = await this.registry.acquire(ik, key, variant)
      let r: Outcome | undefined | 'restart'
      try {
        r = head ? await this.handleHead(ctx, obj) : await this.handleGet(ctx, obj, range!)
      } finally {
        this.registry.release(obj)
      }
      if (r !== 'restart') return r
    }
    return undefined
  }

  close(): Promise<void> {
    return this.registry.close()
  }

  private reusable(ctx: RequestContext, info: Info): boolean {
    return decideReuse({headers: ctx.headers, method: ctx.method}, info, Date.now(), {honorRequestNoCache: true}).kind === 'fresh'
  }

  // ---- HEAD ---------------------------------------------------------------------------------

  private handleHead(ctx: RequestContext, obj: PartialObject): Outcome | Promise<Outcome> | undefined {
    const {a} = this
    if (obj.whole) {
      const w = obj.whole
      const st = a.status({fwd: 'uri-miss', fwdStatus: 200, stored: true, collapsed: true}, 'miss')
      const age = recordAgeSeconds({policy: w.policy, responseTime: w.responseTime}, Date.now())
      const pre = evaluatePreconditions(ctx.headers, {status: 200, etag: w.policy.etag, lastModified: w.policy.lastModified, date: getHeader(w.storedHeaders, 'date')}, 'HEAD')
      if (pre !== 'proceed') return answerPrecondition(a, ctx, pre, w.storedHeaders, st, age, obj.key, false)
      return a.growing(ctx, {status: 200, statusText: '', base: w.storedHeaders, age, size: w.contentLength, st, key: obj.key, collapsed: false})
    }
    const info = obj.info
    // Nothing known yet: the pipeline forwards a cold HEAD. A partial the request may not reuse: the same.
    if (!info || !this.reusable(ctx, info)) return undefined
    const age = recordAgeSeconds(info, Date.now())
    const st = a.status({hit: true, ttl: Math.floor(info.policy.lifetime - age), detail: 'partial'}, 'hit')
    const pre = evaluatePreconditions(ctx.headers, {status: 200, etag: info.policy.etag, lastModified: info.policy.lastModified, date: getHeader(info.headers, 'date')}, 'HEAD')
    if (pre !== 'proceed') return answerPrecondition(a, ctx, pre, info.headers, st, age, obj.key, false)
    // HEAD and GET agree: the total length, as a complete object would answer.
    return a.growing(ctx, {status: 200, statusText: info.statusText, base: info.headers, age, size: info.size, st, key: obj.key, collapsed: false})
  }

  // ---- GET with Range -----------------------------------------------------------------------

  private async handleGet(ctx: RequestContext, obj: PartialObject, header: string): Promise<Outcome | undefined | 'restart'> {
    const {a, s} = this
    if (obj.whole) return serveWhole(this.registry, a, ctx, obj, obj.whole)
    let fetched = false
    if (!obj.info) {
      if (onlyIfCached(ctx.headers)) return undefined
      let probe = obj.probe
      if (!probe) {
        const p = probeRun(header, s.config.cache.sliceSize)
        if (!p) return undefined
        probe = this.fetcher.startFetch(obj, ctx, p.first, p.last, true)
      }
      fetched = true
      const h = await probe.head
      if (h.kind !== 'ok') return this.notOk(ctx, obj, h)
    }
    const info = obj.info!
    if (!fetched && !this.reusable(ctx, info)) {
      // Stale for everyone: drop it and start over. Ruled out only by this request's directives: the pipeline decides.
      if (freshForAnyone(info, Date.now())) return undefined
      this.registry.discard(obj)
      return 'restart'
    }
    const base = info.headers
    const pre = evaluatePreconditions(ctx.headers, {status: 200, etag: info.policy.etag, lastModified: info.policy.lastModified, date: getHeader(base, 'date')}, 'GET')
    // If-Range that does not match: the full representation (RFC 9110 §13.1.5), which the pipeline fetches whole.
    if (pre === 'proceed' && !evaluateIfRange(getHeader(ctx.headers, 'if-range'), {etag: info.policy.etag, lastModified: info.policy.lastModified})) return undefined
    const parsed = parseRange(header, info.size, {maxRanges: s.config.cache.maxRanges})
    if (pre === 'proceed' && (parsed.kind === 'none' || parsed.kind === 'ignore')) return undefined

    const ranges = parsed.kind === 'ranges' ? parsed.ranges : []
    const deps = new Set<SliceFetch>()
    const missing: number[] = []
    if (pre === 'proceed') {
      for (const k of slicesFor(ranges, info.sliceSize)) {
        if (hasSlice(obj.present!, k)) continue
        const f = obj.inflight.get(k)
        if (f) deps.add(f)
        else missing.push(k)
      }
    }
    if ((missing.length > 0 || deps.size > 0) && onlyIfCached(ctx.headers)) return undefined
    for (const run of toRuns(missing)) deps.add(this.fetcher.startFetch(obj, ctx, run.first, run.last, false))
    if (deps.size > 0) fetched = true
    // Every fetch this answer depends on has checked its validator before the first byte goes out.
    for (const f of deps) {
      const h = await f.head
      if (h.kind !== 'ok') return this.notOk(ctx, obj, h)
    }

    const age = recordAgeSeconds(info, Date.now())
    const st = fetched ? a.status({fwd: 'partial', fwdStatus: 206, stored: obj.persisted}, 'miss') : a.status({hit: true, ttl: Math.floor(info.policy.lifetime - age)}, 'hit')
    if (pre !== 'proceed') return answerPrecondition(a, ctx, pre, base, st, age, obj.key, false)
    if (parsed.kind === 'unsatisfiable') return a.unsatisfiable(ctx, base, st, info.size, obj.key, false)
    return a.ranges(ctx, {base, st, age, size: info.size, ranges, open: (start, end) => new SliceReader(obj, start, end), key: obj.key, collapsed: false})
  }

  /** A fetch head that is not 'ok', as this request's answer. */
  private async notOk(ctx: RequestContext, obj: PartialObject, h: Exclude<FetchHead, {kind: 'ok'}>): Promise<Outcome | undefined | 'restart'> {
    const {a, s} = this
    switch (h.kind) {
      case 'restart':
        return 'restart'
      case 'fallback':
        return undefined
      case 'bypass':
        return this.bypass(ctx, h.detail)
      case 'relay': {
        const up = h.take()
        // Another request got this answer: ask the origin ourselves.
        if (!up) return this.bypass(ctx, `origin answered ${h.status}`)
        const headers = downstreamResponseHeaders(up.headers, s.config.server.via)
        const st = a.status({fwd: 'partial', fwdStatus: up.status, detail: 'not a partial answer; not stored'}, 'miss')
        headers.push(...a.statusHeaders(st))
        up.body.on('data', (c: Buffer) => countRead(up.body, c.length))
        const bytes = await a.relay(ctx, up, headers, st)
        return {outcome: 'miss', status: up.status, bytesOut: bytes, key: obj.key}
      }
      case 'unsatisfiable': {
        const parsed = parseRange(getHeader(ctx.headers, 'range'), h.size, {maxRanges: s.config.cache.maxRanges})
        if (parsed.kind !== 'unsatisfiable') return undefined
        return a.unsatisfiable(ctx, ['Date', formatHttpDate(Date.now())], a.status({fwd: 'partial', fwdStatus: 416}, 'miss'), h.size, obj.key, false)
      }
      case 'error': {
        const detail = h.error.kind === 'busy' ? 'origin busy' : h.error.kind === 'protocol' ? 'invalid origin response' : h.error.kind === 'hook' ? 'plugin hook failed' : 'origin unreachable'
        const st = a.status({fwd: 'partial', detail}, 'error')
        return a.error(ctx, h.error.code, h.error.message, [...a.statusHeaders(st), ...h.error.headers], {st, key: obj.key})
      }
    }
  }

  /** Forward the client's request as it is; `detail` says why it is not answered from a partial object. */
  private bypass(ctx: RequestContext, detail: string): Promise<Outcome> {
    return passThrough(this.s, this.a, ctx, {st: this.a.status({fwd: 'uri-miss', detail}, 'bypass'), reason: 'bypass', key: ctx.key})
  }
}
