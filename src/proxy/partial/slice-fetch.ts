/**
 * Slice fetches of partial objects: one origin request `Range: bytes=a-b` per contiguous run of missing slices,
 * belonging to the object (not to a client): every request that needs a slice in flight reads it as it is written,
 * and a client that leaves does not stop it. The answer's head is checked against the request and the object's
 * validator before anyone uses a byte (acceptHead); slices are marked present once completely written, recorded in
 * the index in batches, and the object is promoted to a complete one (CRC32C over the file) once every slice is there.
 */
import fsp from 'node:fs/promises'

import {decisionHeaders} from '../../cache/policy.js'
import {compilePolicy} from '../../cache/policy-resolve.js'
import {SET_COOKIE, storeVerdict} from '../../cache/policy-store.js'
import {crc32c} from '@node-rs/crc32'

import type {StoredPolicy} from '../../cache/policy-types.js'
import {parseContentRange, parseRange} from '../../cache/range.js'
import {storability} from '../../cache/storability.js'
import {parseVary, variantSelector} from '../../cache/vary.js'
import type {DataPlaneServices} from '../../core/services.js'
import {allSlices, hasSlice, newBitmap, setSlice, sliceCount, sliceEnd, sliceOf} from '../../storage/partial-slices.js'
import type {PartialHeadUpdate} from '../../storage/types.js'
import {discardBody} from '../../util/discard.js'
import {getHeader, type RawHeaders} from '../../util/raw-headers.js'
import type {RequestContext} from '../context.js'
import {callOrigin} from '../origin/call.js'
import {upstreamRequestHeaders} from '../origin/forward-headers.js'
import {classifyUpstreamError, discardResponse, UpstreamError, type UpstreamResponse} from '../origin/upstream.js'
import {contentRangeAllowsWhole, declaredLength, fillUpstreamHeaders, originHeaders, policyOptions, storedForm} from '../stored-form.js'
import {type FetchHead, type Info, type PartialObject, SliceFetch} from './object.js'
import {bytesRead, countRead, type PartialRegistry} from './registry.js'
import {startWhole} from './whole-fill.js'

const CRC_CHUNK = 1024 * 1024
const RANGE_FIELDS = new Set(['content-range', 'content-length'])
/** setCookie strip / bypass: neither is a partial object stored with Set-Cookie. */
const RANGE_AND_COOKIE_FIELDS = new Set([...RANGE_FIELDS, ...SET_COOKIE])
/** Statuses that say nothing about the representation (a busy or failing origin): a partial object survives them. */
const TRANSIENT = new Set([408, 429, 500, 502, 503, 504])


/** The request whose headers a fetch uses. */
interface FetchRequest {
  ctx: RequestContext
  path: string
  upstreamHeaders: RawHeaders
  clientHeaders: RawHeaders
  url: string
}


export class SliceFetcher {
  private readonly s: DataPlaneServices

  constructor(private readonly r: PartialRegistry) {
    this.s = r.s
  }

  /** Start fetching slices [first, last] (last undefined: to the end) for `obj`; the fetch is registered at once. */
  startFetch(obj: PartialObject, ctx: RequestContext, first: number, last: number | undefined, probe: boolean): SliceFetch {
    const S = obj.info?.sliceSize ?? this.s.config.cache.sliceSize
    const start = first * S
    const reqEnd = last === undefined ? undefined : obj.info ? Math.min((last + 1) * S, obj.info.size) - 1 : (last + 1) * S - 1
    const f = new SliceFetch(S, first, last, start, reqEnd)
    if (probe) obj.probe = f
    else for (let k = first; k <= last!; k++) obj.inflight.set(k, f)
    obj.refs++
    const r: FetchRequest = {ctx, path: ctx.target, upstreamHeaders: upstreamRequestHeaders(ctx, this.s.config.server.via), clientHeaders: ctx.headers, url: obj.key}
    const p = this.runFetch(obj, f, r)
    this.r.track('slice-fetch', p)
    return f
  }

  private async runFetch(obj: PartialObject, f: SliceFetch, r: FetchRequest): Promise<void> {
    const {storage, stats} = this.s
    const seq = storage.beginPartialFill()
    let up: UpstreamResponse | undefined
    try {
      const requestTime = Date.now()
      try {
        const headers = fillUpstreamHeaders(r.upstreamHeaders)
        headers.push('Range', `bytes=${f.start}-${f.reqEnd ?? ''}`)
        up = await callOrigin(this.s, r.ctx, {method: 'GET', path: r.path, headers, body: null, key: obj.key, reason: 'slice', idempotent: true, replayable: true})
      } catch (error) {
        f.resolveHead({kind: 'error', error: classifyUpstreamError(error)})
        return
      }
      const responseTime = Date.now()
      const u = up
      // Bytes are counted by whoever reads the body (a 'data' listener here would start the flow before the reader).
      u.body.once('close', () => stats.originBytes(bytesRead(u.body)))
      const h = await this.acceptHead(obj, f, u, r, requestTime, responseTime, seq)
      f.resolveHead(h)
      if (h.kind === 'ok') await this.pumpSlices(obj, f, u)
    } catch (error) {
      this.s.log.warn({err: error, key: obj.key}, 'slice fill failed')
      if (!f.settled) {
        if (up) discardResponse(up)
        f.resolveHead({kind: 'fallback'})
      }
    } finally {
      if (up) this.r.doneReading(up.body)
      if (obj.probe === f) obj.probe = undefined
      // Whatever was not completely written is no longer in flight: readers waiting for it fail, new requests refetch.
      for (const [k, g] of obj.inflight) if (g === f) obj.inflight.delete(k)
      f.finished = true
      f.notify()
      storage.endPartialFill(seq)
      // A cold object whose first fetch told nothing usable is not kept for others.
      if (!obj.info && !obj.whole) this.r.retire(obj)
      this.r.release(obj)
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
    const cache = r.ctx.policy ?? this.s.config.cache
    const policy0 = policyOptions(cache)
    const rules = compilePolicy(cache)
    const opts = {targetedFields: policy0.targetedFields, defaultTtlSeconds: policy0.defaultTtlSeconds, configuredTtl: policy0.statusTtl}

    if (up.status === 416) {
      const cr = parseContentRange(getHeader(headers, 'content-range') ?? '')
      const size = cr && 'unsatisfiedSize' in cr ? cr.unsatisfiedSize : undefined
      if (size === undefined) return drop(this.giveUp(obj, {kind: 'fallback'}))
      // We only ask for ranges inside a known length: a 416 then means the object changed.
      if (obj.info) return drop(this.giveUp(obj, {kind: 'restart'}))
      return drop({kind: 'unsatisfiable', size})
    }
    if (up.status === 304) {
      if (!obj.info) this.r.retire(obj)
      return drop({kind: 'error', error: new UpstreamError('protocol', 'upstream answered an unconditional range request with 304')})
    }
    if (up.status !== 206 && up.status !== 200) {
      if (!obj.info) this.r.retire(obj)
      else if (!TRANSIENT.has(up.status)) this.r.discard(obj)
      if (up.status < 300) return drop({kind: 'bypass', detail: `origin answered ${up.status} to a range request`})
      return this.relayHead(up)
    }

    // Stored as a 200 would be: a 206 is a part of that response (RFC 9111 §3.3).
    const decided = decisionHeaders(headers, policy0.ignore)
    const verdict = storeVerdict(storability({method: 'GET', headers: r.clientHeaders}, {status: 200, headers: decided}, opts), {...rules, maxObjectSize: 0}, headers)
    if (!verdict.store) {
      this.r.rememberPass(obj.ik, 'response not storable')
      return drop(this.giveUp(obj, {kind: 'bypass', detail: 'response not storable'}))
    }
    const varyNames = parseVary(decided)
    const variant = varyNames.length ? variantSelector(varyNames, r.clientHeaders) : ''
    if (variant !== obj.variant) return drop(this.giveUp(obj, {kind: 'fallback'}))

    if (up.status === 200) {
      // A 200 that says it is only a part (a mislabelled 206) is not the whole representation.
      if (!contentRangeAllowsWhole(headers)) return drop(this.giveUp(obj, {kind: 'fallback'}))
      // The origin ignores Range: its full body fills the object the normal way.
      startWhole(this.r, obj, up, headers, requestTime, responseTime, varyNames, r.url, cache)
      return {kind: 'restart'}
    }

    // A multipart/byteranges answer has no Content-Range of its own: we never asked for several ranges.
    const cr = parseContentRange(getHeader(headers, 'content-range') ?? '')
    if (!cr || !('start' in cr) || cr.size === undefined) return drop(this.giveUp(obj, {kind: 'fallback'}))
    const size = cr.size
    if (rules.maxObjectSize > 0 && size > rules.maxObjectSize) {
      if (obj.info) return drop(this.giveUp(obj, {kind: 'restart'}))
      this.r.rememberPass(obj.ik, 'larger than maxObjectSize')
      return drop(this.giveUp(obj, {kind: 'bypass', detail: 'larger than maxObjectSize'}))
    }
    if (size > this.r.maxPartialBytes) {
      if (obj.info) return drop(this.giveUp(obj, {kind: 'restart'}))
      this.r.rememberPass(obj.ik, 'too large for partial caching')
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
    const {headers: stored, policy} = storedForm(headers, 200, {requestTime, responseTime}, policy0, rules.setCookie === 'store' ? RANGE_FIELDS : RANGE_AND_COOKIE_FIELDS)
    stored.push('Content-Length', String(size))
    // Parts may only be combined under a strong validator (RFC 9111 §3.4).
    if (!(policy.etag !== undefined && !policy.etag.startsWith('W/')) && policy.lastModified === undefined) return drop(this.giveUp(obj, {kind: 'fallback'}))

    if (obj.info) {
      if (!sameVersion(obj.info, policy, size)) {
        // A new representation: the old slices go; the request starts over on the new one.
        this.r.discard(obj)
        return drop({kind: 'restart'})
      }
      const update: PartialHeadUpdate = {headers: stored, statusText: up.statusText, requestTime, responseTime, policy}
      obj.info = {...obj.info, ...update}
      obj.pendingHead = update
    } else {
      const S = f.sliceSize
      const info: Info = {url: r.url, statusText: up.statusText, headers: stored, requestTime, responseTime, policy, vary: varyNames, size, sliceSize: S}
      const {file, path} = await this.s.storage.newPartialFile(obj.key, obj.variant)
      obj.file = file
      obj.ownsFile = true
      obj.fhReady = fsp.open(path, 'w+')
      obj.fh = await obj.fhReady
      const rec = await this.s.storage.createPartial({key: obj.key, variant: obj.variant, ...info, file}, seq)
      if (rec) {
        obj.persisted = true
        obj.ownsFile = false
      } else {
        // Purged meanwhile: the waiting requests are served, nothing is kept.
        this.r.retire(obj)
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
    if (!obj.info) this.r.retire(obj)
    else this.r.discard(obj)
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
    this.r.reading(up.body)
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
      this.s.log.debug({err: error, key: obj.key, range: `${f.start}-${f.end}`}, 'slice fill cut')
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
      .catch((error: unknown) => this.s.log.warn({err: error, key: obj.key}, 'could not record partial slices'))
      .finally(() => {
        obj.persisting = undefined
        this.r.release(obj)
      })
  }

  /** Write present slices to the index in batches; promote the object once every slice is there. */
  private async persist(obj: PartialObject): Promise<void> {
    while (obj.pendingSlices.length > 0 && obj.persisted) {
      const slices = obj.pendingSlices.splice(0)
      const head = obj.pendingHead
      obj.pendingHead = undefined
      const ok = await this.s.storage.markPartial(obj.key, obj.variant, obj.file!, slices, head)
      if (!ok) {
        // Purged or replaced: keep serving those who have it, store nothing more.
        obj.persisted = false
        this.r.retire(obj)
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
    const rec = await this.s.storage.promotePartial(obj.key, obj.variant, obj.file!, crc)
    obj.persisted = false
    // Complete: the normal hit path serves it from now on (the file belongs to the object record).
    this.r.retire(obj)
    if (rec) this.s.log.debug({key: obj.key, size}, 'partial object complete')
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
