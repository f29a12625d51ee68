/**
 * A route's cache policy: the global `cache` section with the site's and then the route's overrides spread over it
 * (every key, including ones added later, falls back generically), and what of it is precompiled once per config
 * (the TTL table as a lookup, the fields to ignore, whether any request rule exists). Decision points read the merged
 * section exactly where they read `config.cache` before, so a config without sites behaves as it always did.
 */
import type {TavernConfig} from '../config/schema.js'
import type {Condition, KeyPart} from '../config/cache-policy.js'

export type CacheSection = TavernConfig['cache']
export type CacheOverrides = Partial<CacheSection>

/** Global ← site ← route; a key the override does not set keeps the value below it. */
export function resolvePolicy(global: CacheSection, site?: CacheOverrides, route?: CacheOverrides): CacheSection {
  if ((!site || Object.keys(site).length === 0) && (!route || Object.keys(route).length === 0)) return global
  return {...global, ...site, ...route}
}

export interface CompiledPolicy {
  /** Seconds from the `ttl` table for a status (exact code, then class, then `any`), or undefined. */
  statusTtl(status: number): number | undefined
  hasTtl: boolean
  forceTtl: boolean
  /** Lower-case origin field names left out of caching decisions. */
  ignore: ReadonlySet<string>
  setCookie: 'store' | 'strip' | 'bypass'
  maxObjectSize: number
  minUses: number
  minUsesWindowMs: number
  /** Any request rule (bypass, noStore, cookieBypass, keyParts, enabled: false): the route stage evaluates them. */
  hasRequestRules: boolean
  bypass: readonly Condition[]
  noStore: readonly Condition[]
  cookieBypass: boolean | readonly string[]
  keyParts: readonly KeyPart[]
  enabled: boolean
}

const compiled = new WeakMap<CacheSection, CompiledPolicy>()

function ttlLookup(table: Record<string, number>): (status: number) => number | undefined {
  const exact = new Map<number, number>()
  const cls = new Map<number, number>()
  let any: number | undefined
  for (const [k, ms] of Object.entries(table)) {
    const s = Math.floor(ms / 1000)
    if (k === 'any') any = s
    else if (k.endsWith('xx')) cls.set(Number(k[0]), s)
    else exact.set(Number(k), s)
  }
  return (status) => exact.get(status) ?? cls.get(Math.floor(status / 100)) ?? any
}

/** The precompiled form of a (merged) cache section; one per section object, so per route and per config. */
export function compilePolicy(c: CacheSection): CompiledPolicy {
  let p = compiled.get(c)
  if (p) return p
  const ignore = new Set<string>(c.ignoreOrigin)
  // Ignoring Cache-Control ignores the targeted fields that stand in for it too (RFC 9213).
  if (ignore.has('cache-control')) for (const f of c.targetedFields) ignore.add(f)
  p = {
    statusTtl: ttlLookup(c.ttl),
    hasTtl: Object.keys(c.ttl).length > 0,
    forceTtl: c.forceTtl,
    ignore,
    setCookie: c.setCookie,
    maxObjectSize: c.maxObjectSize,
    minUses: c.minUses,
    minUsesWindowMs: c.minUsesWindow,
    hasRequestRules: c.bypass.length > 0 || c.noStore.length > 0 || c.cookieBypass !== false || c.keyParts.length > 0 || !c.enabled,
    bypass: c.bypass,
    noStore: c.noStore,
    cookieBypass: c.cookieBypass,
    keyParts: c.keyParts,
    enabled: c.enabled,
  }
  compiled.set(c, p)
  return p
}

/** The policy in readable form for status / inspect-key: only what differs from the global section. */
export function policyDiff(global: CacheSection, c: CacheSection): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(c) as Array<keyof CacheSection>) {
    if (JSON.stringify(c[k]) !== JSON.stringify(global[k])) out[k] = c[k]
  }
  return out
}
