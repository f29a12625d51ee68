/**
 * Methods the cache does not serve (POST, PUT, DELETE, …) are forwarded as they are; a successful unsafe method
 * invalidates what it names — the target URI and same-origin Location / Content-Location (RFC 9111 §4.4) — before
 * its answer reaches the client, so the client's next request cannot see what its own write replaced.
 */
import {invalidationTargets} from '../cache/invalidation.js'
import type {Outcome} from '../core/hooks.js'
import type {DataPlaneServices} from '../core/services.js'
import type {Answerer} from './answer.js'
import type {RequestContext} from './context.js'
import {passThrough} from './origin/pass-through.js'
import type {UpstreamResponse} from './origin/upstream.js'
import {urlCacheKey} from './request-target.js'
import {routeTable} from './route-table.js'

export function forwardUnsafe(s: DataPlaneServices, a: Answerer, ctx: RequestContext): Promise<Outcome> {
  const key = ctx.key
  const invalidate = async (up: UpstreamResponse): Promise<void> => {
    const targets = invalidationTargets(ctx.method, up.status, new URL(key), up.headers)
    // The target URI's own key is `key` itself (a WHATWG round trip would rewrite e.g. `\` in its path).
    const keys = new Set(targets.length ? [key, ...targets.slice(1).map((t) => urlCacheKey(t, s.config.cache, routeTable(s.config)))] : [])
    for (const k of keys) {
      if (k) await s.storage.purgeKey(k, 'delete').catch((error: unknown) => s.log.warn({err: error, key: k}, 'invalidation failed'))
    }
  }
  return passThrough(s, a, ctx, {st: a.status({fwd: 'method'}, 'bypass'), reason: 'pass', key, beforeAnswer: invalidate})
}
