/**
 * The partial objects in use: one PartialObject per variant of a URL while requests or slice fetches hold it
 * (reference counted), loaded from its PartialRecord or cold, retired when the index no longer has it, and the short
 * memory of keys whose range answers were not storable. Also what every partial-object task shares: the origin
 * bodies being read (cut at shutdown) and the tasks in flight (waited for at shutdown).
 */
import fsp from 'node:fs/promises'

import type {StoredPolicy} from '../../cache/policy-types.js'
import {decideReuse} from '../../cache/reuse.js'
import type {DataPlaneServices} from '../../core/services.js'
import {sliceCount, toBitmap} from '../../storage/partial-slices.js'
import {discardBody} from '../../util/discard.js'
import type {UpstreamResponse} from '../origin/upstream.js'
import {PartialObject} from './object.js'

/** How long a key whose range responses were not storable goes straight to the origin. */
const PASS_MEMORY_MS = 10_000
const PASS_MEMORY_MAX = 10_000
/**
 * Largest representation kept as a partial object, whatever the disk budget: its slice bitmap and index record are
 * sized from the origin's claimed total, which must never be trusted beyond this (2^40 bytes = 1 TiB).
 */
const MAX_PARTIAL_BYTES = 2 ** 40
/** Most slices one partial object may have: its bitmap (rewritten with every batch of new slices) stays ≤ 128 KiB. */
const MAX_SLICES = 2 ** 20




/** Fresh for a request without directives (a stale partial is never revalidated: it is dropped and filled again). */
export function freshForAnyone(s: {policy: StoredPolicy; responseTime: number}, now: number): boolean {
  return decideReuse({headers: [], method: 'GET'}, s, now, {honorRequestNoCache: false}).kind === 'fresh'
}

export class PartialRegistry {
  private readonly objects = new Map<string, PartialObject>()
  private readonly passUntil = new Map<string, {until: number; detail: string}>()
  /** Partial records being removed (index key → body file): until the removal commits, the index still has them. */
  private readonly dropping = new Map<string, string | undefined>()
  private readonly active = new Set<Promise<unknown>>()
  private readonly bodies = new Set<UpstreamResponse['body']>()
  closing = false

  constructor(readonly s: DataPlaneServices) {}

  /** Partial objects are never larger than the disk budget, MAX_PARTIAL_BYTES, or MAX_SLICES slices. */
  get maxPartialBytes(): number {
    return Math.min(this.s.config.storage.maxDiskBytes, MAX_PARTIAL_BYTES, MAX_SLICES * this.s.config.cache.sliceSize)
  }

  // ---- tasks and origin bodies ----------------------------------------------------------------

  /** Run a partial-object task in the background, waited for at close(). */
  track(name: string, p: Promise<unknown>): void {
    this.active.add(p)
    void this.s.background.run(name, p.finally(() => this.active.delete(p)))
  }

  /** An origin body being read into a partial object (cut when the daemon shuts down). */
  reading(body: UpstreamResponse['body']): void {
    this.bodies.add(body)
    if (this.closing) discardBody(body)
  }

  doneReading(body: UpstreamResponse['body']): void {
    this.bodies.delete(body)
  }

  async close(): Promise<void> {
    this.closing = true
    // Slice fills stop here (their complete slices stay); whole fills get to finish like the pipeline's.
    for (const b of this.bodies) discardBody(b)
    while (this.active.size > 0) await Promise.allSettled([...this.active])
  }

  // ---- pass memory ----------------------------------------------------------------------------

  /** Why this key's range requests go straight to the origin for now, if they do. */
  passing(ik: string): string | undefined {
    const p = this.passUntil.get(ik)
    if (p === undefined) return undefined
    if (p.until > Date.now()) return p.detail
    this.passUntil.delete(ik)
    return undefined
  }

  rememberPass(ik: string, detail: string): void {
    const now = Date.now()
    if (this.passUntil.size >= PASS_MEMORY_MAX) for (const [k, p] of this.passUntil) if (p.until <= now) this.passUntil.delete(k)
    if (this.passUntil.size < PASS_MEMORY_MAX) this.passUntil.set(ik, {until: now + PASS_MEMORY_MS, detail})
  }

  // ---- objects --------------------------------------------------------------------------------

  /** The live object holding a whole fill for this key, if another one than `old` does. */
  current(ik: string): PartialObject | undefined {
    return this.objects.get(ik)
  }

  /** Make `obj` the live object of its key. */
  install(obj: PartialObject): void {
    this.objects.set(obj.ik, obj)
  }

  /** The live object for this key (loaded from the index, or cold), with a reference held. */
  async acquire(ik: string, key: string, variant: string): Promise<PartialObject> {
    for (;;) {
      let obj = this.objects.get(ik)
      // A partial the index no longer has (purged, replaced by a complete object) must not serve new requests.
      if (obj && obj.persisted && this.s.storage.getPartial(key, variant)?.file !== obj.file) {
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
          this.s.log.warn({err: error, key}, 'partial object body file unreadable: discarded')
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
    const rec = this.s.storage.getPartial(key, variant)
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
    obj.fhReady = fsp.open(this.s.storage.partialPath(rec.file), 'r+')
    obj.fhReady.then(
      (fh) => (obj.fh = fh),
      () => {},
    )
    return obj
  }

  /** No new request may use this object (it stays usable for those that have it). */
  retire(obj: PartialObject): void {
    obj.retired = true
    if (this.objects.get(obj.ik) === obj) this.objects.delete(obj.ik)
  }

  /** Retire the object and drop its partial record (and so its file). */
  discard(obj: PartialObject): void {
    this.retire(obj)
    if (obj.persisted) {
      obj.persisted = false
      this.removePartial(obj.ik, obj.key, obj.variant, obj.file)
    }
  }

  private removePartial(ik: string, key: string, variant: string, file: string | undefined): void {
    this.dropping.set(ik, file)
    void this.s.background.run(
      'partial-drop',
      this.s.storage.removePartial(key, variant, file).finally(() => {
        if (this.dropping.get(ik) === file) this.dropping.delete(ik)
      }),
    )
  }

  release(obj: PartialObject): void {
    if (--obj.refs > 0) return
    this.retire(obj)
    const ready = obj.fhReady
    obj.fh = undefined
    obj.fhReady = undefined
    const owned = obj.ownsFile && obj.file !== undefined ? this.s.storage.partialPath(obj.file) : undefined
    obj.ownsFile = false
    void this.s.background.run('partial-close', async () => {
      const fh = await ready?.catch(() => undefined)
      await fh?.close().catch(() => {})
      if (owned) await fsp.unlink(owned).catch(() => {})
    })
  }
}

const READ_BYTES = new WeakMap<object, number>()

/** Count bytes read from an origin body (whoever reads it counts; a 'data' listener would start the flow early). */
export function countRead(body: object, n: number): void {
  READ_BYTES.set(body, (READ_BYTES.get(body) ?? 0) + n)
}

export function bytesRead(body: object): number {
  return READ_BYTES.get(body) ?? 0
}
