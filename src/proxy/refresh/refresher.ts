/**
 * Refreshing stored objects in the background, so clients do not wait for the origin and objects stored together do
 * not expire together: fuzzy refresh (a hit late in an object's lifetime starts a refresh with a probability rising
 * to 1 at expiry), auto refresh (hot keys are refreshed shortly before they expire, bounded), stale-while-revalidate
 * refreshes and revalidation retries in grace. One refresh per object at a time (the fill registry's single flight);
 * every refresh is a background task and counted in tavern_refresh_total{reason}.
 */
import type {RefreshPolicy} from '../../config/refresh.js'
import type {DataPlaneServices} from '../../core/services.js'
import type {RefreshReason} from '../../stats/schema.js'
import type {ObjectRecord} from '../../storage/types.js'
import {objectKey} from '../collapse.js'
import type {RequestContext} from '../context.js'
import {GraceMemory} from './grace-memory.js'
import {RefreshLimiter} from './limiter.js'

/** How a background refresh ended: the object was refreshed (304 or a new body stored), or not. */
export type RefreshResult = 'refreshed' | 'failed' | 'not-stored'

/** Start one background refresh of `rec` (undefined when one is already in flight for it). */
export type StartRefresh = (ctx: RequestContext, rec: ObjectRecord, reason: RefreshReason) => Promise<RefreshResult> | undefined

/** What inspect-key shows of an object's refreshes. */
export interface RefreshInfo {
  last?: {at: number; reason: RefreshReason; result: RefreshResult | 'running'}
  /** A scheduled auto refresh. */
  next?: {at: number; reason: 'auto'}
  /** The origin failed revalidating it: served from grace until a revalidation succeeds. */
  inGrace: boolean
}

/** The refresh policy for a request: its route's `cache` section (site and route overrides), else the global one. */
export function policyFor(s: DataPlaneServices, ctx: RequestContext): RefreshPolicy {
  return ctx.route?.policy ?? s.config.cache
}

const MAX_INFO = 10_000
const MAX_SCHEDULED = 10_000
/** When an auto refresh could not start (limits), try again this much later while the object is still fresh. */
const AUTO_RETRY_MS = 50
/**
 * An auto refresh starts at most this fraction of the lifetime before expiry: early enough for a loaded origin to
 * answer in time, late enough that a max-age=1 object costs the origin at most ~1.2 requests a second.
 */
const AUTO_LEAD_FRACTION = 0.15

interface Scheduled {
  timer: NodeJS.Timeout | undefined
  at: number
  /** responseTime of the record it refreshes: a newer record is a new schedule. */
  responseTime: number
  state: 'waiting' | 'running' | 'failed'
}

export class Refresher {
  readonly grace = new GraceMemory()
  private readonly limiter = new RefreshLimiter()
  private readonly scheduled = new Map<string, Scheduled>()
  private readonly info = new Map<string, RefreshInfo>()
  private start: StartRefresh | undefined
  private closed = false

  constructor(private readonly s: DataPlaneServices) {}

  /** The function that starts a refresh fill (Misses provides it). */
  bind(start: StartRefresh): void {
    this.start = start
  }

  /**
   * Start a background refresh of `rec` for `reason`, unless one is in flight. Returns its result promise when it
   * started (the caller never waits for it on a client's behalf).
   */
  refresh(ctx: RequestContext, rec: ObjectRecord, reason: RefreshReason): Promise<RefreshResult> | undefined {
    if (this.closed || !this.start) return undefined
    const p = this.start(ctx, rec, reason)
    if (!p) return undefined
    const ok = objectKey(rec.key, rec.variant)
    this.s.stats.refreshStarted(reason)
    const last = {at: Date.now(), reason, result: 'running' as RefreshResult | 'running'}
    this.note(ok).last = last
    return p.then((result) => {
      last.result = result
      if (result === 'refreshed') this.grace.leave(ok)
      return result
    })
  }

  /** A fresh hit: maybe start a fuzzy refresh, maybe schedule an auto refresh. Cheap when both are off. */
  onFreshHit(ctx: RequestContext, rec: ObjectRecord, now: number): void {
    const p = policyFor(this.s, ctx)
    if (p.fuzzy === 0 && !p.autoRefresh.enabled) return
    const lifetimeMs = rec.policy.lifetime * 1000
    // Fresh while correctedInitialAge + whole resident seconds < lifetime (freshness.ts): expiry to the ms.
    const remaining = rec.responseTime + (rec.policy.lifetime - rec.policy.correctedInitialAge) * 1000 - now
    if (remaining <= 0) return
    if (p.fuzzy > 0) {
      const window = p.fuzzy * lifetimeMs
      // Probability 1 - remaining/window: 0 when the window opens, 1 at expiry.
      if (remaining < window && Math.random() * window >= remaining && this.refresh(ctx, rec, 'fuzzy')) return
    }
    if (p.autoRefresh.enabled) this.considerAuto(ctx, rec, now, remaining, lifetimeMs, p.autoRefresh)
  }

  private considerAuto(ctx: RequestContext, rec: ObjectRecord, now: number, remaining: number, lifetimeMs: number, a: RefreshPolicy['autoRefresh']): void {
    const ok = objectKey(rec.key, rec.variant)
    const cur = this.scheduled.get(ok)
    if (cur !== undefined && cur.responseTime === rec.responseTime) return
    const lead = Math.min(a.before, lifetimeMs * AUTO_LEAD_FRACTION)
    // A hot key is asked for at least every 60 s / minHits on average: looking within twice that of the refresh
    // time finds it, and cold keys near expiry cost no sketch lookup before then.
    if (remaining > lead + 120_000 / a.minHits) return
    if (this.s.stats.keyRequests(ctx.key) < a.minHits) return
    if (cur !== undefined) this.unschedule(ok)
    if (this.scheduled.size >= MAX_SCHEDULED) return
    this.schedule(ok, ctx, rec, now + Math.max(0, remaining - lead), now + remaining)
  }

  private schedule(ok: string, ctx: RequestContext, rec: ObjectRecord, at: number, expiresAt: number): void {
    const entry: Scheduled = {timer: undefined, at, responseTime: rec.responseTime, state: 'waiting'}
    this.scheduled.set(ok, entry)
    this.note(ok).next = {at, reason: 'auto'}
    const fire = () => {
      entry.timer = undefined
      if (this.closed || this.scheduled.get(ok) !== entry) return
      const now = Date.now()
      const current = this.s.storage.get(rec.key, rec.variant)
      // Refreshed (or purged) meanwhile: the next hit schedules the new record.
      if (current === undefined || current.responseTime !== rec.responseTime || now >= expiresAt) return this.unschedule(ok)
      const a = policyFor(this.s, ctx).autoRefresh
      if (!a.enabled) return this.unschedule(ok)
      if (!this.limiter.acquire(ctx.route?.origins ?? this.s.upstreams, now, a)) {
        entry.timer = setTimeout(fire, AUTO_RETRY_MS).unref()
        return
      }
      entry.state = 'running'
      const info = this.info.get(ok)
      if (info) info.next = undefined
      const p = this.refresh(ctx, current, 'auto')
      if (!p) {
        this.limiter.release()
        return this.unschedule(ok)
      }
      void this.s.background.run(
        'auto-refresh',
        p.then((result) => {
          this.limiter.release()
          if (this.scheduled.get(ok) !== entry) return
          if (result === 'refreshed') return this.unschedule(ok)
          // Not again for this record: it expires and is revalidated (or served from grace) like any other.
          entry.state = 'failed'
          entry.timer = setTimeout(() => this.unschedule(ok, entry), Math.max(0, expiresAt - Date.now())).unref()
        }),
      )
    }
    entry.timer = setTimeout(fire, Math.max(0, at - Date.now())).unref()
  }

  private unschedule(ok: string, only?: Scheduled): void {
    const e = this.scheduled.get(ok)
    if (!e || (only && e !== only)) return
    if (e.timer) clearTimeout(e.timer)
    this.scheduled.delete(ok)
    const info = this.info.get(ok)
    if (info) info.next = undefined
  }

  private note(ok: string): RefreshInfo {
    let i = this.info.get(ok)
    if (i === undefined) {
      if (this.info.size >= MAX_INFO) this.info.delete(this.info.keys().next().value!)
      i = {inGrace: false}
      this.info.set(ok, i)
    }
    return i
  }

  /** What inspect-key shows for one variant. */
  infoFor(key: string, variant: string): RefreshInfo | undefined {
    const ok = objectKey(key, variant)
    const i = this.info.get(ok)
    const inGrace = this.grace.inGrace(ok)
    if (!i && !inGrace) return undefined
    return {...i, inGrace}
  }

  /** Auto refreshes waiting or running, and refreshes the limiter holds. */
  counts(): {scheduled: number; autoInFlight: number; inGrace: number} {
    return {scheduled: this.scheduled.size, autoInFlight: this.limiter.inFlight, inGrace: this.grace.size}
  }

  /** Stop scheduling (shutdown): pending timers are cleared; refreshes already running finish as background tasks. */
  close(): void {
    this.closed = true
    for (const e of this.scheduled.values()) if (e.timer) clearTimeout(e.timer)
    this.scheduled.clear()
  }
}
