/**
 * Routing: the request's site and route (Host → site, longest path prefix → route; matched at admission from the
 * config's precompiled route table), its cache key (the route's extra key parts, then preCacheKey hooks), its
 * request rules (bypass / noStore), and the upstream group its origin calls go to (onRoute hooks may choose another,
 * or answer). A route without request rules or key parts costs nothing beyond today's key lookup.
 */
import {appendKeyParts, keyFromParts} from '../cache/cache-key.js'
import {evaluateRequestRules} from '../cache/policy-request.js'
import type {Answer, KeyParts, MaybePromise, MethodHooks, Route} from '../core/hooks.js'
import type {Origins} from '../core/origin.js'
import type {DataPlaneServices} from '../core/services.js'
import type {RequestContext} from './context.js'
import {HookError, runOnRoute, runPreCacheKey} from './hooks.js'
import type {AdmittedTarget} from './request-target.js'
import type {CompiledRoute} from './route-table.js'

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

/** The upstream group of a route: the default one, or the named group (validated to exist when the config loaded). */
export function groupOrigins(s: DataPlaneServices, r: CompiledRoute): Origins {
  if (r.group === 'default') return s.upstreams
  const g = s.upstreamGroup(r.group)
  // A config whose routes name a group the daemon did not build is refused at load; this is only a guard.
  if (!g) throw new Error(`upstream group ${r.group} is not running`)
  return g
}

/** An onRoute hook sent the request past the cache: it becomes the request's bypass decision. */
function applyBypass(ctx: RequestContext, route: Route): void {
  if (route.bypass !== undefined) ctx.decision = {...ctx.decision, bypass: route.bypass}
}

function onRoute(s: DataPlaneServices, ctx: RequestContext, t: AdmittedTarget, mh: MethodHooks): MaybePromise<Answer | undefined> {
  ctx.routeTo(t.route, groupOrigins(s, t.route))
  if (mh.onRoute.length === 0) return undefined
  const route = ctx.route!
  const r = runOnRoute(mh.onRoute, ctx, route)
  if (r === undefined) applyBypass(ctx, route)
  else if (r instanceof Promise)
    return r.then((a) => {
      if (a === undefined) applyBypass(ctx, route)
      return a
    })
  return r
}

/** Set ctx.key and ctx.route; an Answer when an onRoute hook answered the request. */
export function routeRequest(s: DataPlaneServices, ctx: RequestContext, t: AdmittedTarget, mh: MethodHooks): MaybePromise<Answer | undefined> {
  const policy = t.route.rules
  let extra: string[] | undefined
  if (policy.hasRequestRules) {
    const rules = evaluateRequestRules(policy, ctx.headers, ctx.target)
    ctx.decision = rules.decision
    if (rules.keyParts.length) extra = rules.keyParts
  }
  const keyHooks = mh.preCacheKey
  if (keyHooks.length === 0) {
    ctx.key = extra ? appendKeyParts(t.key, extra) : t.key
    return onRoute(s, ctx, t, mh)
  }
  const parts: KeyParts = {scheme: t.scheme, host: t.authority, path: t.keyPath, query: t.keyQuery, extra: extra ?? []}
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
