/**
 * Where a GET or HEAD becomes a hit or a miss: find the stored record for the request's variant (Vary), decide
 * whether it may be reused (fresh, stale but allowed, stale-while-revalidate, must revalidate; RFC 9111 §4, RFC 5861),
 * and send the request on to the answer, a partial object, or a fetch.
 */
import {decideReuse, onlyIfCached} from '../cache/reuse.js'
import {variantSelector} from '../cache/vary.js'
import type {Outcome} from '../core/hooks.js'
import type {DataPlaneServices} from '../core/services.js'
import type {ObjectRecord} from '../storage/types.js'
import type {RawHeaders} from '../util/raw-headers.js'
import type {Answerer} from './answer.js'
import {recordAgeSeconds} from './cache-headers.js'
import type {RequestContext} from './context.js'
import type {Misses} from './miss.js'
import type {PartialObjects} from './partial/handler.js'
import {serveStored} from './representation.js'

/** What the store holds for a request: its record, the variant it selects, and whether Vary made it a miss. */
export interface Found {
  rec?: ObjectRecord
  /** The variant selector ('' without Vary); undefined when unknown (Vary: * or none stored). */
  variant?: string
  varyMiss: boolean
}

export class Lookup {
  constructor(
    private readonly s: DataPlaneServices,
    private readonly a: Answerer,
    private readonly misses: Misses,
    private readonly partial: PartialObjects,
  ) {}

  find(key: string, headers: RawHeaders): Found {
    const {storage} = this.s
    // Most URLs do not vary: their record sits under the '' variant (read-cached). Storage drops the '' record in
    // the same transaction that gives the URL Vary names, so finding it means the URL has none.
    const plain = storage.get(key, '')
    if (plain) return {rec: plain, variant: '', varyMiss: false}
    const vary = storage.getVary(key)
    if (!vary) return {variant: '', varyMiss: false}
    const variant = variantSelector(vary.names, headers)
    if (variant === null) return {varyMiss: true}
    const rec = storage.get(key, variant)
    return {rec, variant, varyMiss: rec === undefined}
  }

  /** A GET or HEAD with the cache on. */
  lookup(ctx: RequestContext): Outcome | Promise<Outcome> {
    // The route's bypass rules (bypass, cookieBypass, enabled: false): no lookup, nothing stored.
    const bypass = ctx.decision?.bypass
    if (bypass !== undefined) return this.misses.bypass(ctx, {fwd: 'bypass', detail: bypass})
    const now = Date.now()
    const found = this.find(ctx.key, ctx.headers)
    const rec = found.rec
    if (!rec) return this.miss(ctx, found)
    const decision = decideReuse({headers: ctx.headers, method: ctx.method}, rec, now, {honorRequestNoCache: true})
    if (decision.kind === 'fresh') {
      this.misses.refresher.onFreshHit(ctx, rec, now)
      return serveStored(this.s, this.a, ctx, rec, this.a.hit(rec.policy.lifetime - decision.age))
    }
    if (decision.kind === 'stale-ok') {
      return serveStored(this.s, this.a, ctx, rec, this.a.status({hit: true, ttl: Math.floor(rec.policy.lifetime - decision.age), detail: 'max-stale'}, 'stale'))
    }
    if (decision.kind === 'stale-while-revalidate') {
      this.misses.refresher.refresh(ctx, rec, 'swr')
      return serveStored(this.s, this.a, ctx, rec, this.a.status({hit: true, ttl: Math.floor(rec.policy.lifetime - decision.age), detail: 'stale-while-revalidate'}, 'stale'))
    }
    if (onlyIfCached(ctx.headers)) return this.misses.onlyIfCached(ctx)
    // RFC 9211: fwd=request when the stored response was fresh but the request's directives ruled it out.
    const freshForAnyone = !rec.policy.noCache && rec.invalidatedAt === undefined && rec.policy.lifetime > recordAgeSeconds(rec, now)
    return this.misses.fetch(ctx, {stored: rec, variant: found.variant, fwd: freshForAnyone ? 'request' : 'stale'})
  }

  private async miss(ctx: RequestContext, found: Found): Promise<Outcome> {
    const head = ctx.method === 'HEAD'
    if (head || ctx.flags.range) {
      const r = await this.partial.maybeHandle(ctx, found.variant, head)
      if (r) return r
    }
    if (onlyIfCached(ctx.headers)) return this.misses.onlyIfCached(ctx)
    // A cold HEAD is forwarded as-is: fetching a whole body to answer it would waste the origin's bandwidth.
    if (head) return this.misses.bypass(ctx, {fwd: found.varyMiss ? 'vary-miss' : 'uri-miss'})
    return this.misses.fetch(ctx, {variant: found.variant, fwd: found.varyMiss ? 'vary-miss' : 'uri-miss'})
  }
}
