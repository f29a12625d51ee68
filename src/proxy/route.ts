/**
 * Routing: the request's cache key (preCacheKey hooks may change its parts) and its route — the `cache.sites` entry
 * and the upstream group its origin calls go to (onRoute hooks may choose another, or answer).
 */
import {keyFromParts} from '../cache/cache-key.js'
import type {Answer, KeyParts, MaybePromise, MethodHooks} from '../core/hooks.js'
import type {DataPlaneServices} from '../core/services.js'
import type {RequestContext} from './context.js'
import {HookError, runOnRoute, runPreCacheKey} from './hooks.js'
import type {AdmittedTarget} from './request-target.js'

/** A key built from parts a hook changed must still be an absolute http(s) URL with a path, or nothing else works. */
function checkedKey(p: KeyParts): string {
  const ok =
    (p.scheme === 'http' || p.scheme === 'https') &&
    typeof p.host === 'string' &&
    /^[^\s/?#@]+$/.test(p.host) &&
    typeof p.path === 'string' &&
    p.path.startsWith('/') &&
    !/[\s?#]/.test(p.path) &&
    typeof p.query === 'string' &&
    !/[\s#]/.test(p.query) &&
    Array.isArray(p.extra) &&
    p.extra.every((x) => typeof x === 'string')
  if (!ok) throw new HookError('preCacheKey hooks', 'preCacheKey', new TypeError(`key parts are not a URL: ${JSON.stringify(p).slice(0, 200)}`))
  return keyFromParts(p)
}

function onRoute(s: DataPlaneServices, ctx: RequestContext, t: AdmittedTarget, mh: MethodHooks): MaybePromise<Answer | undefined> {
  ctx.routeTo(t.site, s.upstreams)
  return mh.onRoute.length === 0 ? undefined : runOnRoute(mh.onRoute, ctx, ctx.route!)
}

/** Set ctx.key and ctx.route; an Answer when an onRoute hook answered the request. */
export function routeRequest(s: DataPlaneServices, ctx: RequestContext, t: AdmittedTarget, mh: MethodHooks): MaybePromise<Answer | undefined> {
  const keyHooks = mh.preCacheKey
  if (keyHooks.length === 0) {
    ctx.key = t.key
    return onRoute(s, ctx, t, mh)
  }
  const parts: KeyParts = {scheme: t.scheme, host: t.authority, path: t.keyPath, query: t.keyQuery, extra: []}
  const r = runPreCacheKey(keyHooks, ctx, parts)
  if (r === undefined) {
    ctx.key = checkedKey(parts)
    return onRoute(s, ctx, t, mh)
  }
  return r.then(() => {
    ctx.key = checkedKey(parts)
    return onRoute(s, ctx, t, mh)
  })
}
