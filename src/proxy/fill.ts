import {mergeNotModified, notModifiedSelects} from '../cache/header-update.js'
import {computePolicy, decisionHeaders} from '../cache/policy.js'
import {compilePolicy} from '../cache/policy-resolve.js'
import {SET_COOKIE, storeVerdict} from '../cache/policy-store.js'
import type {StoredPolicy} from '../cache/policy-types.js'
import {storability} from '../cache/storability.js'
import {parseVary, variantSelector} from '../cache/vary.js'
import type {OriginReason} from '../core/origin.js'
import type {DataPlaneServices} from '../core/services.js'
import type {FillWriter, ObjectRecord} from '../storage/types.js'
import {getHeader, type RawHeaders, withoutHeaders} from '../util/raw-headers.js'
import type {RequestContext} from './context.js'
import {callOrigin} from './origin/call.js'
import {classifyUpstreamError, discardResponse, UpstreamError, type UpstreamResponse} from './origin/upstream.js'
import {contentRangeAllowsWhole, declaredLength, fillUpstreamHeaders, originHeaders, policyOptions, storedForm} from './stored-form.js'

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
  /** The request that leads the fill: its hooks see the origin call. */
  ctx: RequestContext
  cacheKey: string
  /** Request target sent upstream (path + query). */
  path: string
  /** Client request headers (admitted) that selected this object; used for Vary and Authorization rules. */
  clientHeaders: RawHeaders
  /** Upstream request headers (hop-by-hop removed, forwarding headers added). */
  upstreamHeaders: RawHeaders
  url: string
  /** The stale response being revalidated, if any. */
  stored?: ObjectRecord
  /** A background refresh (stale-while-revalidate) rather than a request waiting for the answer. */
  refresh?: boolean
  /** Interim (1xx) responses go to the request that led the fill. */
  onInfo?: (status: number, headers: RawHeaders) => void
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
  private finished = false

  constructor(
    readonly req: FillRequest,
    private readonly s: DataPlaneServices,
  ) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve
    })
    this.head = this.start().then((h) => (this.settled = h))
  }

  private async start(): Promise<FillHead> {
    this.s.stats.fillStarted()
    const first = await this.attempt(this.req.stored !== undefined)
    if (first !== 'refetch') return first
    // RFC 9111 §4.3.4: the 304 named another representation, so it updates nothing; ask once without conditions.
    const second = await this.attempt(false)
    return second === 'refetch' ? this.fail(new UpstreamError('protocol', 'upstream answered an unconditional request with 304')) : second
  }

  /** One origin request (conditional when revalidating); 'refetch' when its 304 does not select the stored response. */
  private async attempt(conditional: boolean): Promise<FillHead | 'refetch'> {
    const {s, req} = this
    const requestTime = Date.now()
    const t0 = performance.now()
    const reason: OriginReason = req.refresh ? 'refresh' : conditional ? 'revalidate' : 'fill'
    let up: UpstreamResponse
    try {
      const headers = fillUpstreamHeaders(req.upstreamHeaders, conditional ? req.stored : undefined)
      up = await callOrigin(s, req.ctx, {method: 'GET', path: req.path, headers, body: null, onInfo: req.onInfo, key: req.cacheKey, reason, idempotent: true, replayable: true})
    } catch (error) {
      return this.fail(classifyUpstreamError(error))
    }
    const responseTime = Date.now()
    const ttfbMs = performance.now() - t0
    let bytesIn = 0
    up.body.on('data', (c: Buffer) => {
      bytesIn += c.length
    })
    up.body.once('close', () => s.stats.originBytes(bytesIn))
    try {
      return await this.decide(up, conditional, {requestTime, responseTime, ttfbMs})
    } catch (error) {
      // Whatever went wrong deciding (a storage error opening the fill…): the answer is lost, the client gets a 502.
      discardResponse(up)
      s.log.warn({err: error, key: req.cacheKey}, 'fill failed')
      return this.fail(new UpstreamError('protocol', `could not handle the upstream response (${(error as Error).message})`))
    }
  }

  private fail(error: UpstreamError): FillHead {
    this.finish(null, false)
    return {kind: 'error', error}
  }

  private async decide(up: UpstreamResponse, conditional: boolean, t: {requestTime: number; responseTime: number; ttfbMs: number}): Promise<FillHead | 'refetch'> {
    const {s, req} = this
    const {requestTime, responseTime, ttfbMs} = t
    const cache = req.ctx.policy ?? s.config.cache
    const policy = policyOptions(cache)
    const rules = compilePolicy(cache)
    const headers = originHeaders(up, responseTime)

    if (up.status === 304) {
      discardResponse(up)
      // We never forward the client's conditionals: a 304 answers only our own validators.
      if (!conditional || !req.stored) return this.fail(new UpstreamError('protocol', 'upstream answered an unconditional request with 304'))
      if (!notModifiedSelects(req.stored.policy, headers)) {
        s.log.debug({key: req.cacheKey, etag: getHeader(headers, 'etag')}, '304 names another representation: refetching')
        return 'refetch'
      }
      return {...(await this.refresh(req.stored, rules.setCookie === 'store' ? headers : withoutHeaders(headers, SET_COOKIE), requestTime, responseTime)), ttfbMs}
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
    const decided = decisionHeaders(headers, policy.ignore)
    const verdict = storeVerdict(
      storability({method: 'GET', headers: req.clientHeaders}, {status: up.status, headers: decided}, {targetedFields: policy.targetedFields, defaultTtlSeconds: policy.defaultTtlSeconds, configuredTtl: policy.statusTtl}),
      rules,
      headers,
    )
    if (!verdict.store) {
      this.finish(null, false)
      return {kind: 'uncacheable', response: up, reason: verdict.reason}
    }
    if (!contentRangeAllowsWhole(headers)) {
      this.finish(null, false)
      return {kind: 'uncacheable', response: up, reason: 'Content-Range says the body is only a part'}
    }
    const varyNames = parseVary(decided)
    const variant = varyNames.length ? variantSelector(varyNames, req.clientHeaders) : ''
    if (variant === null) {
      this.finish(null, false)
      return {kind: 'uncacheable', response: up, reason: 'Vary: * never matches'}
    }
    const contentLength = declaredLength(headers)
    // setCookie strip: the stored copy has no Set-Cookie; the request that led the fill still gets the origin's headers.
    const {headers: storedHeaders, policy: stored} = storedForm(headers, up.status, {requestTime, responseTime}, policy, rules.setCookie === 'store' ? undefined : SET_COOKIE)
    const writer = s.storage.beginFill(req.cacheKey, variant)
    const meta = {url: req.url, status: up.status, statusText: up.statusText, headers: storedHeaders, requestTime, responseTime, policy: stored, vary: varyNames, expectedLength: contentLength}
    void s.background.run('fill', () => this.pump(up, writer, meta))
    return {kind: 'stream', status: up.status, statusText: up.statusText, originHeaders: headers, storedHeaders, policy: stored, variant, varyNames, contentLength, writer, responseTime, ttfbMs}
  }

  /** 304: merge the new headers into the stored response and recompute its freshness (RFC 9111 §4.3.4). */
  private async refresh(stored: ObjectRecord, headers: RawHeaders, requestTime: number, responseTime: number): Promise<{kind: 'not-modified'; record: ObjectRecord}> {
    const merged = mergeNotModified(stored.headers, headers)
    const policy = computePolicy({status: stored.status, headers: merged, requestTime, responseTime}, policyOptions(this.req.ctx.policy ?? this.s.config.cache))
    let record: ObjectRecord | undefined
    try {
      record = await this.s.storage.refresh(stored.key, stored.variant, {headers: merged, requestTime, responseTime, policy})
    } catch (error) {
      this.s.log.warn({err: error, key: stored.key}, 'could not store revalidated headers')
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
      this.s.log.debug({err: error, key: this.req.cacheKey}, 'fill aborted')
      this.finish(null, false)
    }
  }

  private finish(rec: ObjectRecord | null, stored: boolean): void {
    if (this.finished) return
    this.finished = true
    this.s.stats.fillFinished(stored)
    this.resolveDone(rec)
  }
}
