/**
 * Range requests and HEADs for objects that are not stored complete: partial-object caching (RFC 9110 §14,
 * RFC 9111 §3.3–3.4).
 *
 * A partial object is one sparse body file cut in fixed slices (cache.sliceSize) plus a PartialRecord in the index
 * (headers as a 200's, total length, present-slice bitmap, validators, policy). A range request fetches from the
 * origin only the slices it needs that are neither stored nor already being fetched, one slice-aligned
 * `Range: bytes=a-b` request per contiguous run. Fetches belong to the object, not to a client: every request that
 * needs a slice in flight reads it from the file as it is written (so one origin fetch serves them all and a client
 * that leaves does not stop it). A slice is marked present only once all its bytes are written.
 *
 * Every slice response is checked against the object's validator (strong ETag, else Last-Modified, and the total
 * length). A request waits for the heads of all the fetches it depends on before it answers, so a change of
 * representation is seen before any byte goes out: the old slices are discarded and the request starts over.
 * When every slice is present the partial becomes a normal complete object on the same file.
 */
import {crc32c} from '@node-rs/crc32'
import type {FileHandle} from 'node:fs/promises'
import fsp from 'node:fs/promises'
import {Readable} from 'node:stream'

import {formatCacheStatus, xCacheValue, type CacheOutcome, type CacheStatusEntry} from '../cache/cache-status.js'
import {evaluatePreconditions, notModifiedHeaders} from '../cache/conditional.js'
import {formatHttpDate} from '../cache/http-date.js'
import type {PolicyOptions} from '../cache/policy.js'
import type {StoredPolicy} from '../cache/policy-types.js'
import {evaluateIfRange, parseContentRange, parseRange, type ByteRange} from '../cache/range.js'
import {decideReuse, onlyIfCached, requestNoStore} from '../cache/reuse.js'
import {storability} from '../cache/storability.js'
import {parseVary, variantSelector} from '../cache/vary.js'
import type {Daemon} from '../daemon/daemon.js'
import {indexKey} from '../storage/keys.js'
import {allSlices, hasSlice, newBitmap, setSlice, sliceCount, sliceEnd, sliceOf, slicesFor, toBitmap, toRuns} from '../storage/partial-slices.js'
import type {FillWriter, ObjectRecord, PartialHeadUpdate, PartialRecord} from '../storage/types.js'
import {discardBody} from '../util/discard.js'
import {getHeader, type RawHeaders} from '../util/raw-headers.js'
import {acceptRanges, answerHeaders, recordAgeSeconds} from './cache-headers.js'
import {sendError} from './error-response.js'
import {sendBody, sendRanges, sendUnsatisfiable} from './send-body.js'
import {contentRangeAllowsWhole, declaredLength, fillUpstreamHeaders, originHeaders, storedForm} from './fill.js'
import {limitStream} from './limit-stream.js'
import {downstreamResponseHeaders, upstreamRequestHeaders} from './forward-headers.js'
import {passThrough, relayResponse} from './pass-through.js'
import type {RequestContext} from './request-context.js'
import {classifyUpstreamError, discardResponse, UpstreamError, type UpstreamResponse} from './upstream.js'

export interface RangeOutcome {
  outcome: CacheOutcome
  status: number
  bytesOut: number
  key: string
}

const READ_CHUNK = 64 * 1024
const CRC_CHUNK = 1024 * 1024
/** How long a key whose range responses were not storable goes straight to the origin. */
const PASS_MEMORY_MS = 10_000
/** Restarts after the object changed under a request before it gives up and lets the pipeline fetch it whole. */
const MAX_ATTEMPTS = 3
const RANGE_FIELDS = new Set(['content-range', 'content-length'])
/**
 * Largest representation kept as a partial object, whatever the disk budget: its slice bitmap and index record are
 * sized from the origin's claimed total, which must never be trusted beyond this (2^40 bytes = 1 TiB).
 */
const MAX_PARTIAL_BYTES = 2 ** 40
/** Most slices one partial object may have: its bitmap (rewritten with every batch of new slices) stays ≤ 128 KiB. */
const MAX_SLICES = 2 ** 20
/** Statuses that say nothing about the representation (a busy or failing origin): a partial object survives them. */
const TRANSIENT = new Set([408, 429, 500, 502, 503, 504])

/** What is known about the representation a partial object holds (the descriptive part of its PartialRecord). */
type Info = Pick<PartialRecord, 'url' | 'statusText' | 'headers' | 'requestTime' | 'responseTime' | 'policy' | 'vary' | 'size' | 'sliceSize'>

/** What a slice fetch's response turned out to mean for the requests waiting on it. */
type FetchHead =
  | {kind: 'ok'}
  /** The object changed (new validator, or the origin sent the whole body): start the request over. */
  | {kind: 'restart'}
  /** Not usable for partial caching (no strong validator, Vary mismatch, odd answer): the pipeline fetches it whole. */
  | {kind: 'fallback'}
  /** Not cacheable as a partial (not storable, too large, another 2xx): forward the client's request as it is. */
  | {kind: 'bypass'; detail: string}
  /**
   * An answer that does not depend on Range (3xx, 4xx, 5xx): it is the answer to the client's request. One request
   * relays it (`take` gives the response once); any other request waiting on the fetch forwards its own request.
   */
  | {kind: 'relay'; status: number; take: () => UpstreamResponse | undefined}
  | {kind: 'unsatisfiable'; size: number}
  | {kind: 'error'; error: UpstreamError}

/** The whole representation being filled because the origin answered a range request with a 200. */
interface WholeFill {
  storedHeaders: RawHeaders
  policy: StoredPolicy
  responseTime: number
  contentLength: number | undefined
  writer: FillWriter
  done: Promise<ObjectRecord | null>
}

/** The request whose headers a fetch uses. */
interface FetchRequest {
  path: string
  upstreamHeaders: RawHeaders
  clientHeaders: RawHeaders
  url: string
}

/** One origin request for a run of slices [first, last] (last unknown until the head for an open-ended probe). */
class SliceFetch {
  readonly head: Promise<FetchHead>
  resolveHead!: (h: FetchHead) => void
  settled = false
  /** Inclusive byte range actually being written (set from the response head). */
  end = -1
  /** Absolute offset up to which bytes are written (exclusive). */
  written: number
  finished = false
  body: UpstreamResponse['body'] | undefined
  private readonly waiters = new Set<() => void>()

  constructor(
    readonly sliceSize: number,
    readonly first: number,
    public last: number | undefined,
    readonly start: number,
    readonly reqEnd: number | undefined,
  ) {
    this.written = start
    this.head = new Promise((resolve) => {
      this.resolveHead = (h) => {
        if (this.settled) return
        this.settled = true
        resolve(h)
      }
    })
  }

  onProgress(fn: () => void): () => void {
    this.waiters.add(fn)
    return () => this.waiters.delete(fn)
  }

  notify(): void {
    if (this.waiters.size === 0) return
    const ws = [...this.waiters]
    this.waiters.clear()
    for (const w of ws) w()
  }
}

/** In-memory state of one partial object while requests or fetches use it. */
class PartialObject {
  refs = 0
  info?: Info
  present?: Buffer
  file?: string
  fh?: FileHandle
  fhReady?: Promise<FileHandle>
  /** The index holds a partial record for `file`. */
  persisted = false
  /** We created `file` and no index record owns it: delete it when done. */
  ownsFile = false
  retired = false
  promoting = false
  /** Cold object: the first fetch, whose head tells what the object is. */
  probe?: SliceFetch
  readonly inflight = new Map<number, SliceFetch>()
  whole?: WholeFill
  pendingSlices: number[] = []
  pendingHead?: PartialHeadUpdate
  persisting?: Promise<void>

  constructor(
    readonly ik: string,
    readonly key: string,
    readonly variant: string,
  ) {}

  get slices(): number {
    return this.info ? sliceCount(this.info.size, this.info.sliceSize) : 0
  }
}

/**
 * Range requests and HEADs for objects that are not stored complete (partial-object caching).
 */
export class RangeFills {
  private readonly objects = new Map<string, PartialObject>()
  private readonly passUntil = new Map<string, {until: number; detail: string}>()
  /** Partial records being removed (index key → body file): until the removal commits, the index still has them. */
  private readonly dropping = new Map<string, string | undefined>()
  private readonly active = new Set<Promise<unknown>>()
  private readonly bodies = new Set<UpstreamResponse['body']>()
  private closing = false

  constructor(readonly d: Daemon) {}

  private get policy(): PolicyOptions {
    const c = this.d.config.cache
    return {
      targetedFields: c.targetedFields,
      heuristicFraction: c.heuristicFraction,
      heuristicMaxSeconds: c.heuristicMax / 1000,
      defaultTtlSeconds: c.defaultTtl / 1000,
      maxTtlSeconds: c.maxTtl / 1000,
    }
  }

  /** Answer the request from (or into) a partial object, or return undefined to let the pipeline handle it. */
  async maybeHandle(ctx: RequestContext, key: string, variant: string | undefined, head: boolean): Promise<RangeOutcome | undefined> {
    const {req} = ctx
    if (variant === undefined || this.closing) return undefined
    if (req.method !== (head ? 'HEAD' : 'GET')) return undefined
    // Personal or never-stored requests keep the pipeline's rules.
    if (getHeader(req.rawHeaders, 'authorization') !== undefined || requestNoStore(req.rawHeaders)) return undefined
    const range = getHeader(req.rawHeaders, 'range')
    if (!head && range === undefined) return undefined
    const ik = indexKey(key, variant)
    const pass = head ? undefined : this.passing(ik)
    if (pass !== undefined) return this.bypass(ctx, key, pass)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const obj = await this.acquire(ik, key, variant)
      let r: RangeOutcome | undefined | 'restart'
      try {
        r = head ? this.handleHead(ctx, obj) : await this.handleGet(ctx, obj, range!)
      } finally {
        this.release(obj)
      }
      if (r !== 'restart') return r
    }
    return undefined
  }

  async close(): Promise<void> {
    this.closing = true
    // Slice fills stop here (their complete slices stay); whole fills get to finish like the pipeline's.
    for (const b of this.bodies) discardBody(b)
    while (this.active.size > 0) await Promise.allSettled([...this.active])
  }

  // ---- objects ------------------------------------------------------------------------------

  /** Why this key's range requests go straight to the origin for now, if they do. */
  private passing(ik: string): string | undefined {
    const p = this.passUntil.get(ik)
    if (p === undefined) return undefined
    if (p.until > Date.now()) return p.detail
    this.passUntil.delete(ik)
    return undefined
  }

  private rememberPass(ik: string, detail: string): void {
    const now = Date.now()
    if (this.passUntil.size >= 10_000) for (const [k, p] of this.passUntil) if (p.until <= now) this.passUntil.delete(k)
    if (this.passUntil.size < 10_000) this.passUntil.set(ik, {until: now + PASS_MEMORY_MS, detail})
  }

  /** Partial objects are never larger than the disk budget, MAX_PARTIAL_BYTES, or MAX_SLICES slices. */
  private get maxPartialBytes(): number {
    return Math.min(this.d.config.storage.maxDiskBytes, MAX_PARTIAL_BYTES, MAX_SLICES * this.d.config.cache.sliceSize)
  }

  /** The live object for this key (loaded from the index, or cold), with a reference held. */
  private async acquire(ik: string, key: string, variant: string): Promise<PartialObject> {
    for (;;) {
      let obj = this.objects.get(ik)
      // A partial the index no longer has (purged, replaced by a complete object) must not serve new requests.
      if (obj && obj.persisted && this.d.storage.getPartial(key, variant)?.file !== obj.file) {
        obj.persisted = false
        this.retire(obj)
        obj = undefined
      }
      if (!obj) {
        obj = this.load(ik, key, variant)
        this.objects.set(ik, obj)
      }
      obj.refs++
      if (obj.fhReady) {
        try {
          await obj.fhReady
        } catch (error) {
          this.d.log.warn({err: error, key}, 'partial object body file unreadable: discarded')
          this.discard(obj)
          this.release(obj)
          continue
        }
      }
      return obj
    }
  }

  private load(ik: string, key: string, variant: string): PartialObject {
    const obj = new PartialObject(ik, key, variant)
    const rec = this.d.storage.getPartial(key, variant)
    // One we just dropped (the object changed or went away) is not reused while its removal is committing.
    if (!rec || (this.dropping.has(ik) && this.dropping.get(ik) === rec.file)) return obj
    // A stale partial is never revalidated: it is dropped and filled again.
    if (!freshForAnyone({policy: rec.policy, responseTime: rec.responseTime}, Date.now())) {
      this.removePartial(ik, key, variant, rec.file)
      return obj
    }
    obj.info = {url: rec.url, statusText: rec.statusText, headers: rec.headers, requestTime: rec.requestTime, responseTime: rec.responseTime, policy: rec.policy, vary: rec.vary, size: rec.size, sliceSize: rec.sliceSize}
    obj.present = toBitmap(rec.present, sliceCount(rec.size, rec.sliceSize))
    obj.file = rec.file
    obj.persisted = true
    obj.fhReady = fsp.open(this.d.storage.partialPath(rec.file), 'r+')
    obj.fhReady.then(
      (fh) => (obj.fh = fh),
      () => {},
    )
    return obj
  }

  /** No new request may use this object (it stays usable for those that have it). */
  private retire(obj: PartialObject): void {
    obj.retired = true
    if (this.objects.get(obj.ik) === obj) this.objects.delete(obj.ik)
  }

  /** Retire the object and drop its partial record (and so its file). */
  private discard(obj: PartialObject): void {
    this.retire(obj)
    if (obj.persisted) {
      obj.persisted = false
      this.removePartial(obj.ik, obj.key, obj.variant, obj.file)
    }
  }

  private removePartial(ik: string, key: string, variant: string, file: string | undefined): void {
    this.dropping.set(ik, file)
    void this.d.background.run(
      'partial-drop',
      this.d.storage.removePartial(key, variant, file).finally(() => {
        if (this.dropping.get(ik) === file) this.dropping.delete(ik)
      }),
    )
  }

  private release(obj: PartialObject): void {
    if (--obj.refs > 0) return
    this.retire(obj)
    const ready = obj.fhReady
    obj.fh = undefined
    obj.fhReady = undefined
    const owned = obj.ownsFile && obj.file !== undefined ? this.d.storage.partialPath(obj.file) : undefined
    obj.ownsFile = false
    void this.d.background.run('partial-close', async () => {
      const fh = await ready?.catch(() => undefined)
      await fh?.close().catch(() => {})
      if (owned) await fsp.unlink(owned).catch(() => {})
    })
  }

  // ---- HEAD ---------------------------------------------------------------------------------

  private handleHead(ctx: RequestContext, obj: PartialObject): RangeOutcome | undefined {
    const {req, res} = ctx
    const via = this.d.config.server.via
    if (obj.whole) {
      const w = obj.whole
      const st = this.status({fwd: 'uri-miss', fwdStatus: 200, stored: true, collapsed: true}, 'miss')
      const age = recordAgeSeconds({policy: w.policy, responseTime: w.responseTime}, Date.now())
      const pre = evaluatePreconditions(req.rawHeaders, {status: 200, etag: w.policy.etag, lastModified: w.policy.lastModified, date: getHeader(w.storedHeaders, 'date')}, 'HEAD')
      if (pre !== 'proceed') return this.answerPrecondition(ctx, pre, w.storedHeaders, st, age, 'miss', obj.key)
      res.writeHead(200, answerHeaders(w.storedHeaders, {...st, age, via, contentLength: w.contentLength}, acceptRanges(200, w.storedHeaders, w.contentLength)))
      res.end()
      return {outcome: 'miss', status: 200, bytesOut: 0, key: obj.key}
    }
    const info = obj.info
    // Nothing known yet: the pipeline forwards a cold HEAD. A partial the request may not reuse: the same.
    if (!info || !this.reusable(ctx, info)) return undefined
    const now = Date.now()
    const age = recordAgeSeconds(info, now)
    const st = this.status({hit: true, ttl: Math.floor(info.policy.lifetime - age), detail: 'partial'}, 'hit')
    const pre = evaluatePreconditions(req.rawHeaders, {status: 200, etag: info.policy.etag, lastModified: info.policy.lastModified, date: getHeader(info.headers, 'date')}, 'HEAD')
    if (pre !== 'proceed') return this.answerPrecondition(ctx, pre, info.headers, st, age, 'hit', obj.key)
    // HEAD and GET agree: the total length, as a complete object would answer.
    res.writeHead(200, info.statusText || undefined, answerHeaders(info.headers, {...st, age, via, contentLength: info.size}, acceptRanges(200, info.headers, info.size)))
    res.end()
    return {outcome: 'hit', status: 200, bytesOut: 0, key: obj.key}
  }

  private reusable(ctx: RequestContext, info: Info): boolean {
    return decideReuse({headers: ctx.req.rawHeaders, method: ctx.req.method ?? 'GET'}, info, Date.now(), {honorRequestNoCache: true}).kind === 'fresh'
  }

  // ---- GET with Range -----------------------------------------------------------------------

  private async handleGet(ctx: RequestContext, obj: PartialObject, header: string): Promise<RangeOutcome | undefined | 'restart'> {
    const {req} = ctx
    if (obj.whole) return this.serveWhole(ctx, obj, obj.whole, header)
    let fetched = false
    if (!obj.info) {
      if (onlyIfCached(req.rawHeaders)) return undefined
      let probe = obj.probe
      if (!probe) {
        const p = probeRun(header, this.d.config.cache.sliceSize)
        if (!p) return undefined
        probe = this.startFetch(obj, ctx, p.first, p.last, true)
      }
      fetched = true
      const h = await probe.head
      if (h.kind !== 'ok') return this.notOk(ctx, obj, h)
    }
    const info = obj.info!
    if (!fetched && !this.reusable(ctx, info)) {
      // Stale for everyone: drop it and start over. Ruled out only by this request's directives: the pipeline decides.
      if (freshForAnyone(info, Date.now())) return undefined
      this.discard(obj)
      return 'restart'
    }
    const base = info.headers
    const pre = evaluatePreconditions(req.rawHeaders, {status: 200, etag: info.policy.etag, lastModified: info.policy.lastModified, date: getHeader(base, 'date')}, 'GET')
    // If-Range that does not match: the full representation (RFC 9110 §13.1.5), which the pipeline fetches whole.
    if (pre === 'proceed' && !evaluateIfRange(getHeader(req.rawHeaders, 'if-range'), {etag: info.policy.etag, lastModified: info.policy.lastModified})) return undefined
    const parsed = parseRange(header, info.size, {maxRanges: this.d.config.cache.maxRanges})
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
    if ((missing.length > 0 || deps.size > 0) && onlyIfCached(req.rawHeaders)) return undefined
    for (const run of toRuns(missing)) deps.add(this.startFetch(obj, ctx, run.first, run.last, false))
    if (deps.size > 0) fetched = true
    // Every fetch this answer depends on has checked its validator before the first byte goes out.
    for (const f of deps) {
      const h = await f.head
      if (h.kind !== 'ok') return this.notOk(ctx, obj, h)
    }

    const now = Date.now()
    const age = recordAgeSeconds(info, now)
    const outcome: CacheOutcome = fetched ? 'miss' : 'hit'
    const st = fetched ? this.status({fwd: 'partial', fwdStatus: 206, stored: obj.persisted}, outcome) : this.status({hit: true, ttl: Math.floor(info.policy.lifetime - age)}, outcome)
    if (pre !== 'proceed') return this.answerPrecondition(ctx, pre, base, st, age, outcome, obj.key)
    if (parsed.kind === 'unsatisfiable') return this.answer416(ctx, base, st, info.size, outcome, obj.key)
    return this.answerRanges(ctx, base, st, age, info.size, ranges, (s, e) => new SliceReader(obj, s, e), outcome, obj.key)
  }

  /** A fetch head that is not 'ok', as this request's answer. */
  private async notOk(ctx: RequestContext, obj: PartialObject, h: Exclude<FetchHead, {kind: 'ok'}>): Promise<RangeOutcome | undefined | 'restart'> {
    switch (h.kind) {
      case 'restart':
        return 'restart'
      case 'fallback':
        return undefined
      case 'bypass':
        return this.bypass(ctx, obj.key, h.detail)
      case 'relay': {
        const up = h.take()
        // Another request got this answer: ask the origin ourselves.
        if (!up) return this.bypass(ctx, obj.key, `origin answered ${h.status}`)
        const headers = downstreamResponseHeaders(up.headers, this.d.config.server.via)
        headers.push(...this.statusHeaders({fwd: 'partial', fwdStatus: up.status, detail: 'not a partial answer; not stored'}, 'miss'))
        up.body.on('data', (c: Buffer) => countRead(up.body, c.length))
        const bytes = await relayResponse(ctx, up, headers)
        return {outcome: 'miss', status: up.status, bytesOut: bytes, key: obj.key}
      }
      case 'unsatisfiable': {
        const parsed = parseRange(getHeader(ctx.req.rawHeaders, 'range'), h.size, {maxRanges: this.d.config.cache.maxRanges})
        if (parsed.kind !== 'unsatisfiable') return undefined
        return this.answer416(ctx, ['Date', formatHttpDate(Date.now())], this.status({fwd: 'partial', fwdStatus: 416}, 'miss'), h.size, 'miss', obj.key)
      }
      case 'error': {
        const detail = h.error.kind === 'busy' ? 'origin busy' : h.error.kind === 'protocol' ? 'invalid origin response' : 'origin unreachable'
        sendError(ctx.res, h.error.status, h.error.message, [...this.statusHeaders({fwd: 'partial', detail}, 'error'), ...h.error.headers])
        return {outcome: 'error', status: h.error.status, bytesOut: 0, key: obj.key}
      }
    }
  }

  /** Forward the client's request as it is; `detail` says why it is not answered from a partial object. */
  private async bypass(ctx: RequestContext, key: string, detail: string): Promise<RangeOutcome> {
    const r = await passThrough(ctx, this.d.upstreams, this.d.config.server.via, this.statusHeaders({fwd: 'uri-miss', detail}, 'bypass'), undefined, key)
    return {outcome: r.upstreamError ? 'error' : 'bypass', status: r.status, bytesOut: r.bytesOut, key}
  }

  // ---- slice fetches ------------------------------------------------------------------------

  /** Start fetching slices [first, last] (last undefined: to the end) for `obj`; the fetch is registered at once. */
  private startFetch(obj: PartialObject, ctx: RequestContext, first: number, last: number | undefined, probe: boolean): SliceFetch {
    const S = obj.info?.sliceSize ?? this.d.config.cache.sliceSize
    const start = first * S
    const reqEnd = last === undefined ? undefined : obj.info ? Math.min((last + 1) * S, obj.info.size) - 1 : (last + 1) * S - 1
    const f = new SliceFetch(S, first, last, start, reqEnd)
    if (probe) obj.probe = f
    else for (let k = first; k <= last!; k++) obj.inflight.set(k, f)
    obj.refs++
    const {req} = ctx
    const r: FetchRequest = {path: req.url ?? '/', upstreamHeaders: upstreamRequestHeaders(req, this.d.config.server.via), clientHeaders: req.rawHeaders, url: obj.key}
    const p = this.runFetch(obj, f, r)
    this.active.add(p)
    void this.d.background.run('slice-fetch', p.finally(() => this.active.delete(p)))
    return f
  }

  private async runFetch(obj: PartialObject, f: SliceFetch, r: FetchRequest): Promise<void> {
    const {storage, stats, upstreams} = this.d
    const seq = storage.beginPartialFill()
    let up: UpstreamResponse | undefined
    try {
      const requestTime = Date.now()
      const t0 = performance.now()
      try {
        const headers = fillUpstreamHeaders(r.upstreamHeaders)
        headers.push('Range', `bytes=${f.start}-${f.reqEnd ?? ''}`)
        up = await upstreams.request({method: 'GET', path: r.path, headers, body: null, key: obj.key})
      } catch (error) {
        const e = classifyUpstreamError(error)
        stats.originRequest({ttfbMs: undefined, bytesIn: 0, status: undefined, error: e.kind})
        f.resolveHead({kind: 'error', error: e})
        return
      }
      const responseTime = Date.now()
      const ttfbMs = performance.now() - t0
      const u = up
      // Bytes are counted by whoever reads the body (a 'data' listener here would start the flow before the reader).
      u.body.once('close', () => stats.originRequest({ttfbMs, bytesIn: bytesRead(u.body), status: u.status}))
      const h = await this.acceptHead(obj, f, u, r, requestTime, responseTime, seq)
      f.resolveHead(h)
      if (h.kind === 'ok') await this.pumpSlices(obj, f, u)
    } catch (error) {
      this.d.log.warn({err: error, key: obj.key}, 'slice fill failed')
      if (!f.settled) {
        if (up) discardResponse(up)
        f.resolveHead({kind: 'fallback'})
      }
    } finally {
      if (up) this.bodies.delete(up.body)
      if (obj.probe === f) obj.probe = undefined
      // Whatever was not completely written is no longer in flight: readers waiting for it fail, new requests refetch.
      for (const [k, g] of obj.inflight) if (g === f) obj.inflight.delete(k)
      f.finished = true
      f.notify()
      storage.endPartialFill(seq)
      // A cold object whose first fetch told nothing usable is not kept for others.
      if (!obj.info && !obj.whole) this.retire(obj)
      this.release(obj)
    }
  }

  /**
   * Decide what a fetch's response means; prepares the object (or hands over to a whole fill). We asked for one
   * slice-aligned range `bytes=a-b` (the client's conditionals left out), so an answer must fit that request before any
   * of it is stored (RFC 9110 §14, §15.3.7). Per answer (cold object | known partial object):
   *
   *   206, single part, Content-Range = our range,  | slices stored, the client's range answered from them
   *     total ≤ cap, storable, strong validator     |   (a known object also checks it is the same version)
   *   206 not storable (no-store, private, …)       | the client's request forwarded as is; the key passes for a while
   *   206 total > cap (disk budget, 2^40, 2^20 sl.) | forwarded as is, the key passes (never sized from the claim)
   *                                                 |   | a known object: its length changed → start over
   *   206 other range, no/bad/unknown-total         | refetched whole by the pipeline (the client gets what it asked,
   *     Content-Range, multipart, wrong length,     |   cut from the full response) | a known object: dropped;
   *     no strong validator, Vary mismatch          |   a different total → start over
   *   200 (Range ignored)                           | fills the object whole; a 200 whose Content-Range says it is a
   *                                                 |   part is refetched whole instead
   *   416 with `bytes *\/N`                         | 416 if the client's range is unsatisfiable for N, else refetched
   *                                                 |   whole | a known object changed → start over
   *   416 without a complete length                 | refetched whole
   *   other 2xx (201–205, …)                        | forwarded as is (the client's preconditions apply to a 2xx)
   *   3xx, 4xx, 5xx                                 | relayed as is: such a status does not depend on Range or on
   *                                                 |   preconditions (RFC 9110 §13.2.1), so it is the answer to the
   *                                                 |   client's request; never stored | a known object is dropped,
   *                                                 |   except on 408/429/5xx, which say nothing about it
   *   304 (we sent no condition)                    | 502
   */
  private async acceptHead(obj: PartialObject, f: SliceFetch, up: UpstreamResponse, r: FetchRequest, requestTime: number, responseTime: number, seq: number): Promise<FetchHead> {
    const drop = <T extends FetchHead>(h: T): T => {
      discardResponse(up)
      return h
    }
    const headers = originHeaders(up, responseTime)
    const opts = {targetedFields: this.policy.targetedFields, defaultTtlSeconds: this.policy.defaultTtlSeconds}

    if (up.status === 416) {
      const cr = parseContentRange(getHeader(headers, 'content-range') ?? '')
      const size = cr && 'unsatisfiedSize' in cr ? cr.unsatisfiedSize : undefined
      if (size === undefined) return drop(this.giveUp(obj, {kind: 'fallback'}))
      // We only ask for ranges inside a known length: a 416 then means the object changed.
      if (obj.info) return drop(this.giveUp(obj, {kind: 'restart'}))
      return drop({kind: 'unsatisfiable', size})
    }
    if (up.status === 304) {
      if (!obj.info) this.retire(obj)
      return drop({kind: 'error', error: new UpstreamError('protocol', 'upstream answered an unconditional range request with 304')})
    }
    if (up.status !== 206 && up.status !== 200) {
      if (!obj.info) this.retire(obj)
      else if (!TRANSIENT.has(up.status)) this.discard(obj)
      if (up.status < 300) return drop({kind: 'bypass', detail: `origin answered ${up.status} to a range request`})
      return this.relayHead(up)
    }

    // Stored as a 200 would be: a 206 is a part of that response (RFC 9111 §3.3).
    const verdict = storability({method: 'GET', headers: r.clientHeaders}, {status: 200, headers}, opts)
    if (!verdict.store) {
      this.rememberPass(obj.ik, 'response not storable')
      return drop(this.giveUp(obj, {kind: 'bypass', detail: 'response not storable'}))
    }
    const varyNames = parseVary(headers)
    const variant = varyNames.length ? variantSelector(varyNames, r.clientHeaders) : ''
    if (variant !== obj.variant) return drop(this.giveUp(obj, {kind: 'fallback'}))

    if (up.status === 200) {
      // A 200 that says it is only a part (a mislabelled 206) is not the whole representation.
      if (!contentRangeAllowsWhole(headers)) return drop(this.giveUp(obj, {kind: 'fallback'}))
      // The origin ignores Range: its full body fills the object the normal way.
      this.startWhole(obj, up, headers, requestTime, responseTime, varyNames, r.url)
      return {kind: 'restart'}
    }

    // A multipart/byteranges answer has no Content-Range of its own: we never asked for several ranges.
    const cr = parseContentRange(getHeader(headers, 'content-range') ?? '')
    if (!cr || !('start' in cr) || cr.size === undefined) return drop(this.giveUp(obj, {kind: 'fallback'}))
    const size = cr.size
    if (size > this.maxPartialBytes) {
      if (obj.info) return drop(this.giveUp(obj, {kind: 'restart'}))
      this.rememberPass(obj.ik, 'too large for partial caching')
      return drop(this.giveUp(obj, {kind: 'bypass', detail: 'too large for partial caching'}))
    }
    const wantEnd = f.reqEnd === undefined ? size - 1 : Math.min(f.reqEnd, size - 1)
    if (cr.start !== f.start || cr.end !== wantEnd) {
      if (obj.info && obj.info.size !== size) return drop(this.giveUp(obj, {kind: 'restart'}))
      return drop(this.giveUp(obj, {kind: 'fallback'}))
    }
    const length = declaredLength(headers)
    if (length !== undefined && length !== cr.end - cr.start + 1) return drop(this.giveUp(obj, {kind: 'fallback'}))
    // Stored as the 200 it is part of: no Content-Range, Content-Length the total (freshness does not depend on it).
    const {headers: stored, policy} = storedForm(headers, 200, {requestTime, responseTime}, this.policy, RANGE_FIELDS)
    stored.push('Content-Length', String(size))
    // Parts may only be combined under a strong validator (RFC 9111 §3.4).
    if (!(policy.etag !== undefined && !policy.etag.startsWith('W/')) && policy.lastModified === undefined) return drop(this.giveUp(obj, {kind: 'fallback'}))

    if (obj.info) {
      if (!sameVersion(obj.info, policy, size)) {
        // A new representation: the old slices go; the request starts over on the new one.
        this.discard(obj)
        return drop({kind: 'restart'})
      }
      const update: PartialHeadUpdate = {headers: stored, statusText: up.statusText, requestTime, responseTime, policy}
      obj.info = {...obj.info, ...update}
      obj.pendingHead = update
    } else {
      const S = f.sliceSize
      const info: Info = {url: r.url, statusText: up.statusText, headers: stored, requestTime, responseTime, policy, vary: varyNames, size, sliceSize: S}
      const {file, path} = await this.d.storage.newPartialFile(obj.key, obj.variant)
      obj.file = file
      obj.ownsFile = true
      obj.fhReady = fsp.open(path, 'w+')
      obj.fh = await obj.fhReady
      const rec = await this.d.storage.createPartial({key: obj.key, variant: obj.variant, ...info, file}, seq)
      if (rec) {
        obj.persisted = true
        obj.ownsFile = false
      } else {
        // Purged meanwhile: the waiting requests are served, nothing is kept.
        this.retire(obj)
      }
      obj.present = newBitmap(sliceCount(size, S))
      obj.info = info
    }
    f.end = wantEnd
    if (f.last === undefined || sliceOf(wantEnd, obj.info.sliceSize) !== f.last) {
      for (const [k, g] of obj.inflight) if (g === f) obj.inflight.delete(k)
      f.last = sliceOf(wantEnd, obj.info.sliceSize)
    }
    for (let k = f.first; k <= f.last; k++) if (!hasSlice(obj.present!, k)) obj.inflight.set(k, f)
    if (obj.probe === f) obj.probe = undefined
    return {kind: 'ok'}
  }

  /** An answer one waiting request relays (the first to take it); unclaimed, it is discarded once they all had a look. */
  private relayHead(up: UpstreamResponse): FetchHead {
    let taken = false
    setImmediate(() => {
      if (taken) return
      taken = true
      discardResponse(up)
    })
    return {
      kind: 'relay',
      status: up.status,
      take: () => {
        if (taken) return undefined
        taken = true
        return up
      },
    }
  }

  /** The object cannot be continued: cold ones are forgotten, stored ones dropped (restart) or kept (fallback/bypass of a cold fetch). */
  private giveUp<T extends FetchHead>(obj: PartialObject, h: T): T {
    if (!obj.info) this.retire(obj)
    else this.discard(obj)
    return h
  }

  /** Origin body → the object's file at the slice offsets; slices become present once completely written. */
  private async pumpSlices(obj: PartialObject, f: SliceFetch, up: UpstreamResponse): Promise<void> {
    const fh = obj.fh!
    const info = obj.info!
    const S = info.sliceSize
    const last = f.last!
    let pos = f.start
    let next = f.first
    f.body = up.body
    this.bodies.add(up.body)
    if (this.closing) discardBody(up.body)
    try {
      for await (const chunk of up.body as AsyncIterable<Buffer>) {
        countRead(up.body, chunk.length)
        if (pos + chunk.length > f.end + 1) throw new Error('origin sent more bytes than its Content-Range')
        let off = 0
        while (off < chunk.length) {
          const {bytesWritten} = await fh.write(chunk, off, chunk.length - off, pos + off)
          off += bytesWritten
        }
        pos += chunk.length
        f.written = pos
        while (next <= last && pos > sliceEnd(next, S, info.size)) this.slicePresent(obj, next++)
        f.notify()
      }
      if (pos !== f.end + 1) throw new Error(`origin body ended ${f.end + 1 - pos} bytes short`)
    } catch (error) {
      discardBody(up.body)
      this.d.log.debug({err: error, key: obj.key, range: `${f.start}-${f.end}`}, 'slice fill cut')
    }
  }

  private slicePresent(obj: PartialObject, k: number): void {
    setSlice(obj.present!, k)
    obj.inflight.delete(k)
    if (!obj.persisted) return
    obj.pendingSlices.push(k)
    if (obj.persisting) return
    obj.refs++
    obj.persisting = this.persist(obj)
      .catch((error: unknown) => this.d.log.warn({err: error, key: obj.key}, 'could not record partial slices'))
      .finally(() => {
        obj.persisting = undefined
        this.release(obj)
      })
  }

  /** Write present slices to the index in batches; promote the object once every slice is there. */
  private async persist(obj: PartialObject): Promise<void> {
    while (obj.pendingSlices.length > 0 && obj.persisted) {
      const slices = obj.pendingSlices.splice(0)
      const head = obj.pendingHead
      obj.pendingHead = undefined
      const ok = await this.d.storage.markPartial(obj.key, obj.variant, obj.file!, slices, head)
      if (!ok) {
        // Purged or replaced: keep serving those who have it, store nothing more.
        obj.persisted = false
        this.retire(obj)
        return
      }
    }
    if (obj.persisted && !obj.promoting && allSlices(obj.present!, obj.slices)) await this.promote(obj)
  }

  private async promote(obj: PartialObject): Promise<void> {
    obj.promoting = true
    const fh = obj.fh!
    const size = obj.info!.size
    const buf = Buffer.allocUnsafe(Math.min(CRC_CHUNK, Math.max(1, size)))
    let crc = 0
    for (let pos = 0; pos < size; ) {
      const {bytesRead} = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos)
      if (bytesRead === 0) throw new Error('partial body file shorter than its slices')
      crc = crc32c(buf.subarray(0, bytesRead), crc)
      pos += bytesRead
    }
    const rec = await this.d.storage.promotePartial(obj.key, obj.variant, obj.file!, crc)
    obj.persisted = false
    // Complete: the normal hit path serves it from now on (the file belongs to the object record).
    this.retire(obj)
    if (rec) this.d.log.debug({key: obj.key, size}, 'partial object complete')
  }

  // ---- origin ignored Range -----------------------------------------------------------------

  private startWhole(old: PartialObject, up: UpstreamResponse, headers: RawHeaders, requestTime: number, responseTime: number, varyNames: string[], url: string): void {
    const cur = this.objects.get(old.ik)
    if (cur && cur !== old && cur.whole) {
      discardResponse(up)
      return
    }
    this.discard(old)
    const obj = new PartialObject(old.ik, old.key, old.variant)
    obj.refs++
    const {headers: stored, policy} = storedForm(headers, 200, {requestTime, responseTime}, this.policy)
    const contentLength = declaredLength(headers)
    const writer = this.d.storage.beginFill(obj.key, obj.variant)
    this.d.stats.fillStarted()
    this.bodies.delete(up.body)
    const done = (async (): Promise<ObjectRecord | null> => {
      try {
        for await (const chunk of up.body as AsyncIterable<Buffer>) {
          countRead(up.body, chunk.length)
          if (!writer.write(chunk)) await writer.drain()
        }
        const rec = await writer.commit({url, status: 200, statusText: up.statusText, headers: stored, requestTime, responseTime, policy, vary: varyNames, expectedLength: contentLength})
        this.d.stats.fillFinished(rec !== null)
        return rec
      } catch (error) {
        discardBody(up.body)
        writer.abort(error instanceof Error ? error : new Error(String(error)))
        this.d.stats.fillFinished(false)
        return null
      }
    })()
    obj.whole = {storedHeaders: stored, policy, responseTime, contentLength, writer, done}
    this.objects.set(obj.ik, obj)
    this.active.add(done)
    void this.d.background.run(
      'whole-fill',
      done.finally(() => {
        this.active.delete(done)
        this.retire(obj)
        this.release(obj)
      }),
    )
  }

  /** Answer from a whole fill in progress (like the pipeline's stream answers). */
  private async serveWhole(ctx: RequestContext, obj: PartialObject, w: WholeFill, header: string): Promise<RangeOutcome | undefined> {
    const {req, res} = ctx
    const via = this.d.config.server.via
    const outcome: CacheOutcome = 'miss'
    const st = this.status({fwd: 'uri-miss', fwdStatus: 200, stored: true}, outcome)
    const base = w.storedHeaders
    const age = recordAgeSeconds({policy: w.policy, responseTime: w.responseTime}, Date.now())
    const pre = evaluatePreconditions(req.rawHeaders, {status: 200, etag: w.policy.etag, lastModified: w.policy.lastModified, date: getHeader(base, 'date')}, 'GET')
    if (pre !== 'proceed') return this.answerPrecondition(ctx, pre, base, st, age, outcome, obj.key)
    const size = w.contentLength
    let parsed: ReturnType<typeof parseRange> = {kind: 'none'}
    if (size !== undefined && evaluateIfRange(getHeader(req.rawHeaders, 'if-range'), {etag: w.policy.etag, lastModified: w.policy.lastModified})) {
      parsed = parseRange(header, size, {maxRanges: this.d.config.cache.maxRanges})
    }
    if (parsed.kind === 'unsatisfiable') return this.answer416(ctx, base, st, size!, outcome, obj.key)
    if (parsed.kind === 'ranges') return this.answerRanges(ctx, base, st, age, size!, parsed.ranges, (s, e) => limitStream(w.writer.tail(s), e - s + 1), outcome, obj.key, w.done)
    res.writeHead(200, answerHeaders(base, {...st, age, via, contentLength: size}, acceptRanges(200, base, size)))
    res.flushHeaders()
    const bytes = await this.send(ctx, w.writer.tail(0), w.done)
    return {outcome, status: 200, bytesOut: bytes, key: obj.key}
  }

  // ---- answers ------------------------------------------------------------------------------

  private status(e: Omit<CacheStatusEntry, 'name'>, outcome: CacheOutcome): {cacheStatus: string; xCache?: string} {
    const c = this.d.config.cache
    return {cacheStatus: formatCacheStatus({name: c.statusName, ...e}), xCache: c.xCache ? xCacheValue(outcome) : undefined}
  }

  private statusHeaders(e: Omit<CacheStatusEntry, 'name'>, outcome: CacheOutcome): RawHeaders {
    const s = this.status(e, outcome)
    return s.xCache ? ['Cache-Status', s.cacheStatus, 'X-Cache', s.xCache] : ['Cache-Status', s.cacheStatus]
  }

  private answerPrecondition(ctx: RequestContext, pre: 'not-modified' | 'precondition-failed', base: RawHeaders, st: {cacheStatus: string; xCache?: string}, age: number | undefined, outcome: CacheOutcome, key: string): RangeOutcome {
    if (pre === 'not-modified') {
      ctx.res.writeHead(304, answerHeaders(notModifiedHeaders(base), {...st, age, via: this.d.config.server.via}))
      ctx.res.end()
      return {outcome, status: 304, bytesOut: 0, key}
    }
    sendError(ctx.res, 412, 'precondition failed', ['Cache-Status', st.cacheStatus])
    return {outcome, status: 412, bytesOut: 0, key}
  }

  private answer416(ctx: RequestContext, base: RawHeaders, st: {cacheStatus: string; xCache?: string}, size: number, outcome: CacheOutcome, key: string): RangeOutcome {
    sendUnsatisfiable(ctx, base, st, this.d.config.server.via, size)
    return {outcome, status: 416, bytesOut: 0, key}
  }

  private async answerRanges(
    ctx: RequestContext,
    base: RawHeaders,
    st: {cacheStatus: string; xCache?: string},
    age: number | undefined,
    size: number,
    ranges: ByteRange[],
    open: (s: number, e: number) => Readable,
    outcome: CacheOutcome,
    key: string,
    committed?: Promise<unknown>,
  ): Promise<RangeOutcome> {
    const bytes = await sendRanges(ctx, {base, cacheStatus: st.cacheStatus, xCache: st.xCache, age, via: this.d.config.server.via, size, ranges, open, committed})
    return {outcome, status: 206, bytesOut: bytes, key}
  }

  private send(ctx: RequestContext, body: Readable, committed?: Promise<unknown>): Promise<number> {
    return sendBody(ctx, body, committed)
  }
}

/** Reads bytes [pos, end] of a partial object: present slices from the file, in-flight ones as they are written. */
class SliceReader extends Readable {
  private reading = false
  private unsubscribe: (() => void) | undefined

  constructor(
    private readonly obj: PartialObject,
    private pos: number,
    private readonly end: number,
  ) {
    super({highWaterMark: READ_CHUNK})
  }

  override _read(): void {
    if (this.reading || this.destroyed || this.unsubscribe) return
    if (this.pos > this.end) {
      this.push(null)
      return
    }
    const {obj} = this
    const info = obj.info!
    const k = sliceOf(this.pos, info.sliceSize)
    let avail: number
    if (hasSlice(obj.present!, k)) avail = sliceEnd(k, info.sliceSize, info.size) + 1
    else {
      const f = obj.inflight.get(k)
      if (!f) {
        this.destroy(new Error(`slice ${k} is neither stored nor being fetched`))
        return
      }
      if (f.written <= this.pos) {
        this.unsubscribe = f.onProgress(() => {
          this.unsubscribe = undefined
          this._read()
        })
        return
      }
      avail = f.written
    }
    const fh = obj.fh
    if (!fh) {
      this.destroy(new Error('partial object closed'))
      return
    }
    const len = Math.min(READ_CHUNK, avail - this.pos, this.end + 1 - this.pos)
    const buf = Buffer.allocUnsafe(len)
    this.reading = true
    fh.read(buf, 0, len, this.pos).then(
      ({bytesRead}) => {
        this.reading = false
        if (this.destroyed) return
        if (bytesRead === 0) {
          this.destroy(new Error('partial body file truncated'))
          return
        }
        this.pos += bytesRead
        if (this.push(bytesRead === len ? buf : buf.subarray(0, bytesRead))) this._read()
      },
      (error: Error) => {
        this.reading = false
        this.destroy(error)
      },
    )
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    cb(err)
  }
}

/**
 * The first run to fetch for a cold object (its length unknown): the slices of the lowest `first-last` range
 * (open-ended for `first-`), or slice 0 when there are only suffix ranges. Undefined when the Range field is to be
 * ignored (the pipeline then serves the full representation).
 */
export function probeRun(header: string, sliceSize: number): {first: number; last: number | undefined} | undefined {
  const r = parseRange(header, Number.MAX_SAFE_INTEGER, {maxRanges: Number.MAX_SAFE_INTEGER})
  if (r.kind !== 'ranges' && r.kind !== 'unsatisfiable') return undefined
  let best: {start: number; end: number | undefined} | undefined
  for (const raw of header.slice(header.indexOf('=') + 1).split(',')) {
    const m = /^(\d+)-(\d*)$/.exec(raw.trim())
    if (!m) continue
    const start = Number(m[1])
    if (!Number.isSafeInteger(start)) continue
    const end = m[2] === '' ? undefined : Math.min(Number(m[2]), Number.MAX_SAFE_INTEGER)
    if (!best || start < best.start) best = {start, end}
  }
  if (!best) return {first: 0, last: 0}
  return {first: sliceOf(best.start, sliceSize), last: best.end === undefined ? undefined : sliceOf(best.end, sliceSize)}
}

/** Same representation: same length and the same strong ETag (or, without one, the same Last-Modified). */
function sameVersion(a: Info, p: StoredPolicy, size: number): boolean {
  if (a.size !== size) return false
  const strong = (e: string | undefined) => e !== undefined && !e.startsWith('W/')
  if (strong(a.policy.etag) || strong(p.etag)) return a.policy.etag === p.etag
  return a.policy.lastModified !== undefined && a.policy.lastModified === p.lastModified
}

const READ_BYTES = new WeakMap<object, number>()
function countRead(body: object, n: number): void {
  READ_BYTES.set(body, (READ_BYTES.get(body) ?? 0) + n)
}
function bytesRead(body: object): number {
  return READ_BYTES.get(body) ?? 0
}

function freshForAnyone(s: {policy: StoredPolicy; responseTime: number}, now: number): boolean {
  return decideReuse({headers: [], method: 'GET'}, s, now, {honorRequestNoCache: false}).kind === 'fresh'
}



