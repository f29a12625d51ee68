/**
 * The sites and routes of a config, compiled once per config object: Host → site (exact, then `*.suffix`, a name
 * without a port covering every port), path → route (longest prefix first), each with its upstream group name and
 * merged cache policy. A config without `sites` compiles to one implicit site with one route whose policy IS the
 * global `cache` section, so matching costs a property read. The deprecated `cache.sites` compiles to sites with
 * only key rules, keeping its old behaviour (origin-form requests for other hosts served, absolute-form 421).
 */
import type {RouteInfo, SiteInfo} from '../admin/protocol.js'
import {type CacheSection, type CompiledPolicy, compilePolicy, policyDiff, resolvePolicy} from '../cache/policy-resolve.js'
import type {TavernConfig} from '../config/schema.js'

export interface CompiledRoute {
  /** Site name; undefined for the implicit site of a config without sites. */
  readonly site: string | undefined
  /** Route name; undefined for the site's own policy (no route prefix matched). */
  readonly name: string | undefined
  /** Path prefix ('/' for the site's own). */
  readonly prefix: string
  /** Upstream group name ('default' = the top-level upstreams). */
  readonly group: string
  /** The merged cache section (global ← site ← route). */
  readonly cache: CacheSection
  /** Its precompiled form (request rules, ttl table…). */
  readonly rules: CompiledPolicy
}

export interface CompiledSite {
  readonly name: string | undefined
  readonly hosts: readonly string[]
  /** Routes, longest prefix first. */
  readonly routes: readonly CompiledRoute[]
  /** The site's own policy, for paths no route claims. */
  readonly own: CompiledRoute
}

export interface RouteTable {
  /** No sites (or only cache.sites): the implicit default site. */
  readonly implicit: boolean
  /** From the deprecated cache.sites: only absolute-form requests for unclaimed hosts are refused. */
  readonly legacy: boolean
  readonly sites: readonly CompiledSite[]
  readonly exact: ReadonlyMap<string, CompiledSite>
  /** `*.suffix` patterns as ['.suffix', site], longest suffix first (each with or without a port). */
  readonly wildcards: ReadonlyArray<readonly [string, CompiledSite]>
  /** The global cache section. */
  readonly global: CacheSection
  /** Where Hosts no site claims go; undefined → 421. */
  readonly fallback: CompiledSite | undefined
}

function compileSite(global: CacheSection, name: string | undefined, hosts: readonly string[], group: string, siteCache: Partial<CacheSection>, routes: Record<string, {prefix: string; group?: string; cache: Partial<CacheSection>}>): CompiledSite {
  const siteLevel = resolvePolicy(global, siteCache)
  const own: CompiledRoute = {site: name, name: undefined, prefix: '/', group, cache: siteLevel, rules: compilePolicy(siteLevel)}
  const list: CompiledRoute[] = Object.entries(routes).map(([rn, r]) => {
    const cache = resolvePolicy(global, siteCache, r.cache)
    return {site: name, name: rn, prefix: r.prefix, group: r.group ?? group, cache, rules: compilePolicy(cache)}
  })
  list.sort((a, b) => b.prefix.length - a.prefix.length)
  return {name, hosts, routes: list, own}
}

function build(c: TavernConfig): RouteTable {
  const global = c.cache
  const sites: CompiledSite[] = []
  const legacy = Object.keys(c.sites).length === 0 && Object.keys(global.sites).length > 0
  let fallback: CompiledSite | undefined
  if (Object.keys(c.sites).length === 0) {
    for (const [host, rules] of Object.entries(global.sites)) {
      const o: Partial<CacheSection> = {}
      if (rules.query !== undefined) o.query = rules.query
      if (rules.ignoreParams !== undefined) o.ignoreParams = rules.ignoreParams
      sites.push(compileSite(global, host, [host], 'default', o, {}))
    }
    fallback = compileSite(global, undefined, [], 'default', {}, {})
  } else {
    for (const [name, s] of Object.entries(c.sites)) {
      const site = compileSite(global, name, s.hosts, s.group, s.cache, s.routes)
      sites.push(site)
      if (name === 'default') fallback = site
    }
  }
  const exact = new Map<string, CompiledSite>()
  const wildcards: Array<readonly [string, CompiledSite]> = []
  for (const site of sites) {
    for (const h of site.hosts) {
      if (h.startsWith('*.')) wildcards.push([h.slice(1), site])
      else exact.set(h, site)
    }
  }
  wildcards.sort((a, b) => b[0].length - a[0].length)
  return {implicit: Object.keys(c.sites).length === 0, legacy, global, sites, exact, wildcards, fallback}
}

const tables = new WeakMap<object, RouteTable>()
let lastConfig: TavernConfig | undefined
let lastTable: RouteTable | undefined

/** The route table of a config (compiled on first use; one per config object, so a reload compiles afresh). */
export function routeTable(c: TavernConfig): RouteTable {
  if (c === lastConfig) return lastTable!
  let t = tables.get(c)
  if (!t) {
    t = build(c)
    tables.set(c, t)
  }
  lastConfig = c
  lastTable = t
  return t
}

/** The table of the deprecated `cache.sites` alone (callers that only have the cache section). */
export function legacyRouteTable(cache: CacheSection): RouteTable {
  let t = tables.get(cache)
  if (!t) {
    t = build({cache, sites: {}} as unknown as TavernConfig)
    tables.set(cache, t)
  }
  return t
}

function bare(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']')
    return authority.slice(0, end + 1)
  }
  const colon = authority.lastIndexOf(':')
  return colon < 0 ? authority : authority.slice(0, colon)
}

/** The site that claims an authority (normalised: lower case, no default port), or undefined. */
export function claimingSite(t: RouteTable, authority: string): CompiledSite | undefined {
  const e = t.exact.get(authority)
  if (e) return e
  const b = bare(authority)
  if (b !== authority) {
    const eb = t.exact.get(b)
    if (eb) return eb
  }
  for (const [suffix, site] of t.wildcards) {
    // `*.example.com:8080` names that port; `*.example.com` every port.
    const colon = suffix.lastIndexOf(':')
    const hasPort = colon > 0 && !suffix.endsWith(']')
    const subject = hasPort ? authority : b
    if (subject.length > suffix.length && subject.endsWith(suffix)) return site
  }
  return undefined
}

/** The site an authority gets: its claimant, else the default site (undefined → 421). */
export function siteFor(t: RouteTable, authority: string): CompiledSite | undefined {
  return claimingSite(t, authority) ?? t.fallback
}

/** The route of a path within a site: the longest route prefix it starts with, else the site's own. */
export function routeFor(site: CompiledSite, path: string): CompiledRoute {
  const rs = site.routes
  for (let i = 0; i < rs.length; i++) if (path.startsWith(rs[i]!.prefix)) return rs[i]!
  return site.own
}

/** A route as status and inspect-key show it. */
export function describeRoute(t: RouteTable, r: CompiledRoute): RouteInfo & {site: string | null} {
  return {site: r.site ?? null, route: r.name ?? null, prefix: r.prefix, group: r.group, policy: policyDiff(t.global, r.cache)}
}

/** Every site and its routes (the site's own policy first), for status. */
export function describeSites(t: RouteTable): SiteInfo[] {
  return t.sites.concat(t.fallback && !t.sites.includes(t.fallback) ? [t.fallback] : []).map((s) => ({
    site: s.name ?? null,
    hosts: [...s.hosts],
    default: s === t.fallback,
    routes: [s.own, ...s.routes].map((r) => {
      const info: RouteInfo & {site?: string | null} = describeRoute(t, r)
      delete info.site
      return info
    }),
  }))
}
