import {buildValidationHeaders} from '../cache/conditional.js'
import {parseCacheControl} from '../cache/cache-control.js'
import {mergeNotModified, notModifiedSelects, storableHeaders} from '../cache/header-update.js'
import {formatHttpDate} from '../cache/http-date.js'
import {computePolicy, type PolicyOptions} from '../cache/policy.js'
import type {StoredPolicy} from '../cache/policy-types.js'
import {parseContentRange} from '../cache/range.js'
import {storability} from '../cache/storability.js'
import {parseVary, variantSelector} from '../cache/vary.js'
import type {BackgroundRunner} from '../core/background.js'
import type {Stats} from '../stats/stats.js'
import type {Storage} from '../storage/storage.js'
import type {FillWriter, ObjectRecord} from '../storage/types.js'
import {getAll, getHeader, type RawHeaders, withoutHeaders} from '../util/raw-headers.js'
import {stripHopByHop} from './hop-by-hop.js'
import {classifyUpstreamError, discardResponse, UpstreamError, type UpstreamGroup, type UpstreamResponse} from './upstream.js'

/** What the origin's answer turned out to be, shared by everyone waiting on the fill. */
export type FillHead =
  | {
      kind: 'stream'
      status: number
      statusText: string
      /** Headers as the origin sent them (hop-by-hop removed): for the request that led the fill. */
      originHeaders: RawHeaders
      /** Headers as stored (no-cache="f" / private="f" fields removed): for everyone else. */
      storedHeaders: RawHeaders
      policy: StoredPolicy
      variant: string
      varyNames: string[]
      contentLength: number | undefined
      writer: FillWriter
      responseTime: number
      /** ms from sending the request to the origin's response head. */
      ttfbMs: number
    }
  | {kind: 'not-modified'; record: ObjectRecord; ttfbMs: number}
  /** Not storable (or an error status during revalidation): only the leader may use this response. */
  | {kind: 'uncacheable'; response: UpstreamResponse; reason: string}
  | {kind: 'error'; error: UpstreamError}

export interface FillRequest {
  cacheKey: string
  /** Request target sent upstream (path + query). */
  path: string
  /** Client request headers (raw) that selected this object; used for Vary and Authorization rules. */
  clientHeaders: RawHeaders
  /** Upstream request headers (hop-by-hop removed, forwarding headers added). */
  upstreamHeaders: RawHeaders
  url: string
  /** The stale response being revalidated, if any. */
  stored?: ObjectRecord
  /** Interim (1xx) responses go to the request that led the fill. */
  onInfo?: (status: number, headers: RawHeaders) => void
}

export interface FillDeps {
  storage: Storage
  upstreams: UpstreamGroup
  stats: Stats
  policy: PolicyOptions
  log: {warn(obj: object, msg?: string): void; debug(obj: object, msg?: string): void}
  background: BackgroundRunner
}

/** Client conditionals and Range are answered by us from the full response, so they never go upstream on a fill. */
const CLIENT_ONLY = new Set(['range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'])

/**
 * An origin response's header lines as the cache works with them: hop-by-hop fields removed and, per RFC 9110
 * §6.6.1, a Date added when the origin sent none (so replays carry the time it was received).
 */
export function originHeaders(up: UpstreamResponse, responseTime: number): RawHeaders {
  const headers = stripHopByHop(up.headers)
  if (getHeader(headers, 'date') === undefined) headers.push('Date', formatHttpDate(responseTime))
  return headers
}

/** The stored form of a response (no-cache="f"/private="f" fields left out, minus `drop`) and its freshness policy. */
export function storedForm(
  headers: RawHeaders,
  status: number,
  times: {requestTime: number; responseTime: number},
  opts: PolicyOptions,
  drop?: ReadonlySet<string>,
): {headers: RawHeaders; policy: StoredPolicy} {
  let stored = storableHeaders(headers, parseCacheControl(getAll(headers, 'cache-control')))
  if (drop) stored = withoutHeaders(stored, drop)
  return {headers: stored, policy: computePolicy({status, headers: stored, ...times}, opts)}
}

/** A Content-Length header's value when it is a valid length (a safe integer; larger claims are not lengths). */
export function declaredLength(headers: RawHeaders): number | undefined {
  const cl = getHeader(headers, 'content-length')?.trim()
  if (cl === undefined || !/^\d+$/.test(cl)) return undefined
  const n = Number(cl)
  return Number.isSafeInteger(n) ? n : undefined
}

/**
 * Whether a 200's Content-Range (a field without meaning on a 200, RFC 9110 §14.4) may be stored and replayed with the
 * body: anything but a byte range that claims the body is only a part of the representation. A 200 that says
 * `bytes 0-99/1000` is most likely a mislabelled 206, and storing it as the whole representation would serve wrong bytes.
 */
export function contentRangeAllowsWhole(headers: RawHeaders): boolean {
  const value = getHeader(headers, 'content-range')
  if (value === undefined) return true
  const cr = parseContentRange(value)
  if (!cr || !('start' in cr)) return true
  const length = declaredLength(headers)
  return cr.start === 0 && cr.size !== undefined && cr.end === cr.size - 1 && (length === undefined || length === cr.size)
}

export function fillUpstreamHeaders(upstreamHeaders: RawHeaders, stored?: ObjectRecord): RawHeaders {
  const out = stripHopByHop(upstreamHeaders, CLIENT_ONLY)
  if (stored) out.push(...buildValidationHeaders({etag: stored.policy.etag, lastModified: stored.policy.lastModified}))
  return out
}

/**
 * One origin fetch that fills the cache. The origin body goes only to the storage writer; every client
 * (the one that started it and any that joined) reads the growing body from the writer, so a slow client
 * never slows the fill and a client that leaves does not abort it.
 */
export class Fill {
  readonly head: Promise<FillHead>
  /** Settles when the fill is over (stored, refused or failed). */
  readonly done: Promise<ObjectRecord | null>
  private resolveDone!: (r: ObjectRecord | null) => void
  /** The head once known (synchronously readable, for deciding whether a newcomer may still join). */
  settled?: FillHead

  constructor(
    readonly req: FillRequest,
    private readonly deps: FillDeps,
  ) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve
    })
    this.head = this.start().then((h) => (this.settled = h))
  }

  private async start(): Promise<FillHead> {
    this.deps.stats.fillStarted()
    const first = await this.attempt(this.req.stored !== undefined)
    if (first !== 'refetch') return first
    // RFC 9111 §4.3.4: the 304 named another representation, so it updates nothing; ask once without conditions.
    const second = await this.attempt(false)
    return second === 'refetch' ? this.fail(new UpstreamError('protocol', 'upstream answered an unconditional request with 304')) : second
  }

  /** One origin request (conditional when revalidating); 'refetch' when its 304 does not select the stored response. */
  private async attempt(conditional: boolean): Promise<FillHead | 'refetch'> {
    const {deps, req} = this
    const requestTime = Date.now()
    const t0 = performance.now()
    let up: UpstreamResponse
    try {
      up = await deps.upstreams.request({method: 'GET', path: req.path, headers: fillUpstreamHeaders(req.upstreamHeaders, conditional ? req.stored : undefined), body: null, onInfo: req.onInfo, key: req.cacheKey})
    } catch (error) {
      const e = classifyUpstreamError(error)
      deps.stats.originRequest({ttfbMs: undefined, bytesIn: 0, status: undefined, error: e.kind})
      return this.fail(e)
    }
    const responseTime = Date.now()
    const ttfbMs = performance.now() - t0
    let bytesIn = 0
    up.body.on('data', (c: Buffer) => {
      bytesIn += c.length
    })
    up.body.once('close', () => deps.stats.originRequest({ttfbMs, bytesIn, status: up.status}))
    try {
      return await this.decide(up, conditional, {requestTime, responseTime, ttfbMs})
    } catch (error) {
      // Whatever went wrong deciding (a storage error opening the fill…): the answer is lost, the client gets a 502.
      discardResponse(up)
      deps.log.warn({err: error, key: req.cacheKey}, 'fill failed')
      return this.fail(new UpstreamError('protocol', `could not handle the upstream response (${(error as Error).message})`))
    }
  }

  private fail(error: UpstreamError): FillHead {
    this.finish(null, false)
    return {kind: 'error', error}
  }

  private async decide(up: UpstreamResponse, conditional: boolean, t: {requestTime: number; responseTime: number; ttfbMs: number}): Promise<FillHead | 'refetch'> {
    const {deps, req} = this
    const {requestTime, responseTime, ttfbMs} = t
    const headers = originHeaders(up, responseTime)

    if (up.status === 304) {
      discardResponse(up)
      // We never forward the client's conditionals: a 304 answers only our own validators.
      if (!conditional || !req.stored) return this.fail(new UpstreamError('protocol', 'upstream answered an unconditional request with 304'))
      if (!notModifiedSelects(req.stored.policy, headers)) {
        deps.log.debug({key: req.cacheKey, etag: getHeader(headers, 'etag')}, '304 names another representation: refetching')
        return 'refetch'
      }
      return {...(await this.refresh(req.stored, headers, requestTime, responseTime)), ttfbMs}
    }
    // We never send Range on a fill: a 206 is not an answer to our request (RFC 9110 §15.3.7).
    if (up.status === 206) {
      discardResponse(up)
      return this.fail(new UpstreamError('protocol', 'upstream answered a request without Range with 206'))
    }
    if (req.stored && up.status >= 500) {
      this.finish(null, false)
      return {kind: 'uncacheable', response: up, reason: `origin answered ${up.status} while revalidating`}
    }
    const verdict = storability({method: 'GET', headers: req.clientHeaders}, {status: up.status, headers}, {targetedFields: deps.policy.targetedFields, defaultTtlSeconds: deps.policy.defaultTtlSeconds})
    if (!verdict.store) {
      this.finish(null, false)
      return {kind: 'uncacheable', response: up, reason: verdict.reason}
    }
    if (!contentRangeAllowsWhole(headers)) {
      this.finish(null, false)
      return {kind: 'uncacheable', response: up, reason: 'Content-Range says the body is only a part'}
    }
    const varyNames = parseVary(headers)
    const variant = varyNames.length ? variantSelector(varyNames, req.clientHeaders) : ''
    if (variant === null) {
      this.finish(null, false)
      return {kind: 'uncacheable', response: up, reason: 'Vary: * never matches'}
    }
    const contentLength = declaredLength(headers)
    const {headers: storedHeaders, policy} = storedForm(headers, up.status, {requestTime, responseTime}, deps.policy)
    const writer = deps.storage.beginFill(req.cacheKey, variant)
    const meta = {url: req.url, status: up.status, statusText: up.statusText, headers: storedHeaders, requestTime, responseTime, policy, vary: varyNames, expectedLength: contentLength}
    void deps.background.run('fill', () => this.pump(up, writer, meta))
    return {kind: 'stream', status: up.status, statusText: up.statusText, originHeaders: headers, storedHeaders, policy, variant, varyNames, contentLength, writer, responseTime, ttfbMs}
  }

  /** 304: merge the new headers into the stored response and recompute its freshness (RFC 9111 §4.3.4). */
  private async refresh(stored: ObjectRecord, headers: RawHeaders, requestTime: number, responseTime: number): Promise<{kind: 'not-modified'; record: ObjectRecord}> {
    const merged = mergeNotModified(stored.headers, headers)
    const policy = computePolicy({status: stored.status, headers: merged, requestTime, responseTime}, this.deps.policy)
    let record: ObjectRecord | undefined
    try {
      record = await this.deps.storage.refresh(stored.key, stored.variant, {headers: merged, requestTime, responseTime, policy})
    } catch (error) {
      this.deps.log.warn({err: error, key: stored.key}, 'could not store revalidated headers')
    }
    const r: ObjectRecord = record ?? {...stored, headers: merged, requestTime, responseTime, policy, invalidatedAt: undefined}
    this.finish(r, true)
    return {kind: 'not-modified', record: r}
  }

  /** Origin body → storage writer, pausing the origin while the writer's queue is full. */
  private async pump(up: UpstreamResponse, writer: FillWriter, meta: Parameters<FillWriter['commit']>[0]): Promise<void> {
    try {
      for await (const chunk of up.body as AsyncIterable<Buffer>) {
        if (!writer.write(chunk)) await writer.drain()
      }
      const rec = await writer.commit(meta)
      this.finish(rec, rec !== null)
    } catch (error) {
      // Origin broke mid-body (reset, timeout, length mismatch): the partial body is discarded, readers see an error.
      discardResponse(up)
      writer.abort(error instanceof Error ? error : new Error(String(error)))
      this.deps.log.debug({err: error, key: this.req.cacheKey}, 'fill aborted')
      this.finish(null, false)
    }
  }

  private finished = false

  private finish(rec: ObjectRecord | null, stored: boolean): void {
    if (this.finished) return
    this.finished = true
    this.deps.stats.fillFinished(stored)
    this.resolveDone(rec)
  }
}

/** In-flight fills by flight key, so concurrent misses for one object share one origin request. */
export class FillRegistry {
  private readonly fills = new Map<string, Fill>()

  get(flightKey: string): Fill | undefined {
    return this.fills.get(flightKey)
  }

  start(flightKey: string | undefined, req: FillRequest, deps: FillDeps): Fill {
    const fill = new Fill(req, deps)
    if (flightKey !== undefined) {
      this.fills.set(flightKey, fill)
      const forget = () => {
        if (this.fills.get(flightKey) === fill) this.fills.delete(flightKey)
      }
      // Uncacheable or failed answers stop collapsing at once; streams stay joinable until stored.
      void deps.background.run('fill-registry', fill.head.then((h) => (h.kind === 'stream' ? fill.done.then(forget) : forget())).finally(forget))
    }
    return fill
  }

  get size(): number {
    return this.fills.size
  }

  async drain(): Promise<void> {
    await Promise.all([...this.fills.values()].map((f) => f.done))
  }
}
