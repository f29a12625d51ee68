/**
 * `sites` (Host → site, path prefix → route, each with an upstream group and `cache` policy overrides) and
 * `upstreamGroups` (named origin groups with the `upstream` section's keys as overrides). Overrides are validated
 * by the very schema of the section they override (bound once by schema.ts), so every key a later change adds to
 * `cache` or `upstream` can be set per route / per group with the same rules, without listing it here twice.
 * Cross-key rules (groups that exist, one site per Host, the deprecated `cache.sites`) are in checkSites.
 */
import {z} from 'zod'

type Section = 'cache' | 'upstream' | 'upstreams'
let sections: Record<Section, z.ZodType> | undefined

/** schema.ts hands over its sections once it is built (this module cannot import it: schema.ts imports this one). */
export function bindSections(shape: Record<Section, z.ZodType>): void {
  sections = shape
}

/** `cache` keys that apply to the whole cache (storage, protocol labels), not to one route. */
export const CACHE_KEYS_NOT_PER_ROUTE: ReadonlySet<string> = new Set(['sites', 'maxVariants', 'sliceSize', 'statusName', 'xCache', 'collapse', 'maxRanges'])

/** Keys of `section` given in the input, validated by the section's schema (other keys are not set: they fall back). */
function overridesOf(section: 'cache' | 'upstream', deny: ReadonlySet<string>, what: string) {
  return z.record(z.string(), z.unknown()).transform((input, ctx) => {
    const schema = sections?.[section]
    if (!schema) throw new Error('sites.ts: bindSections was not called')
    let bad = false
    for (const k of Object.keys(input)) {
      if (deny.has(k)) {
        ctx.addIssue({code: 'custom', path: [k], message: `${section}.${k} applies to the whole cache and cannot be set ${what}`})
        bad = true
      }
    }
    const allowed: Record<string, unknown> = {}
    for (const k of Object.keys(input)) if (!deny.has(k)) allowed[k] = input[k]
    const r = schema.safeParse(allowed)
    if (!r.success) {
      for (const i of r.error.issues) ctx.addIssue({...(i as z.core.$ZodIssueCustom), path: [...i.path]})
      return z.NEVER
    }
    if (bad) return z.NEVER
    const full = r.data as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(input)) if (input[k] !== undefined) out[k] = full[k]
    return out
  })
}

const name = z.string().regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'a name of letters, digits, ".", "_" or "-"')

/** `example.com`, `*.example.com`, either with `:port`; lower case, `:80` dropped (keys are http://). */
export const HostPattern = z
  .string()
  .transform((s) => s.trim().toLowerCase().replace(/:0*80$/, ''))
  .refine((s) => /^(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,62})?)(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62})?)*(?::\d{1,5})?$|^\[[0-9a-f:.]+\](?::\d{1,5})?$/.test(s), {
    message: 'expected a host name, "*.example.com" or "[::1]", optionally with ":port"',
  })

const Route = z.strictObject({
  /** Path prefix the route claims (the longest matching prefix wins). */
  prefix: z.string().startsWith('/', 'a path prefix starts with "/"'),
  /** Upstream group (default: the site's). */
  group: name.optional(),
  cache: overridesOf('cache', CACHE_KEYS_NOT_PER_ROUTE, 'per route').default({}),
})

const Site = z.strictObject({
  /** Hosts the site claims; the site named `default` takes the Hosts no other site claims. */
  hosts: z.array(HostPattern).default([]),
  group: name.default('default'),
  cache: overridesOf('cache', CACHE_KEYS_NOT_PER_ROUTE, 'per site').default({}),
  routes: z.record(name, Route).default({}),
})

export const SitesSchema = z
  .record(name, Site)
  .default({})
  .superRefine((sites, ctx) => {
    const owner = new Map<string, string>()
    for (const [siteName, site] of Object.entries(sites)) {
      if (siteName !== 'default' && site.hosts.length === 0) ctx.addIssue({code: 'custom', path: [siteName, 'hosts'], message: 'a site other than "default" must claim at least one host'})
      site.hosts.forEach((h, i) => {
        const other = owner.get(h)
        if (other !== undefined && other !== siteName) ctx.addIssue({code: 'custom', path: [siteName, 'hosts', i], message: `${h} is already claimed by site ${other}`})
        owner.set(h, siteName)
      })
      const prefixes = new Map<string, string>()
      for (const [routeName, route] of Object.entries(site.routes)) {
        const other = prefixes.get(route.prefix)
        if (other !== undefined) ctx.addIssue({code: 'custom', path: [siteName, 'routes', routeName, 'prefix'], message: `prefix ${route.prefix} is already claimed by route ${other}`})
        prefixes.set(route.prefix, routeName)
      }
    }
  })
export type SitesConfig = z.output<typeof SitesSchema>

/** The group's origins, validated like the top-level `upstreams`, plus any of the `upstream` section's keys. */
const Group = z.record(z.string(), z.unknown()).transform((input, ctx) => {
  const {upstreams, ...rest} = input
  const list = sections?.upstreams.safeParse(upstreams ?? [])
  let ok = true
  if (list && !list.success) {
    for (const i of list.error.issues) ctx.addIssue({...(i as z.core.$ZodIssueCustom), path: ['upstreams', ...i.path]})
    ok = false
  } else if (!Array.isArray(list?.data) || list.data.length === 0) {
    ctx.addIssue({code: 'custom', path: ['upstreams'], message: 'a group needs at least one upstream'})
    ok = false
  }
  const opts = overridesOf('upstream', new Set(), 'per group').safeParse(rest)
  if (!opts.success) {
    for (const i of opts.error.issues) ctx.addIssue({...(i as z.core.$ZodIssueCustom), path: [...i.path]})
    ok = false
  }
  if (!ok) return z.NEVER
  return {upstreams: list!.data as Array<{url: string; name?: string; weight: number}>, upstream: opts.data as Record<string, unknown>}
})

export const UpstreamGroupsSchema = z
  .record(name, Group)
  .default({})
  .superRefine((groups, ctx) => {
    if ('default' in groups) ctx.addIssue({code: 'custom', path: ['default'], message: 'the "default" group is the top-level upstreams / upstream: name this group otherwise'})
  })
export type UpstreamGroupsConfig = z.output<typeof UpstreamGroupsSchema>

/** What checkSites needs of the config (structural: this module cannot import the config type). */
interface SitesView {
  sites: SitesConfig
  upstreamGroups: UpstreamGroupsConfig
  upstreams: readonly unknown[]
  cache: {sites: Record<string, unknown>}
}

/** Whether any request can go to the default group (the top-level upstreams): always without sites. */
export function usesDefaultGroup(c: Pick<SitesView, 'sites'>): boolean {
  const sites = Object.values(c.sites)
  return sites.length === 0 || sites.some((s) => s.group === 'default' || Object.values(s.routes).some((r) => (r.group ?? s.group) === 'default'))
}

/** Rules across keys; problems in the config-error format (`key: what is wrong`). */
export function checkSites(c: SitesView): string[] {
  const problems: string[] = []
  const known = (g: string) => g === 'default' || g in c.upstreamGroups
  for (const [siteName, site] of Object.entries(c.sites)) {
    if (!known(site.group)) problems.push(`sites.${siteName}.group: no upstream group named ${site.group} (upstreamGroups: ${Object.keys(c.upstreamGroups).join(', ') || 'none'})`)
    for (const [routeName, route] of Object.entries(site.routes)) {
      if (route.group !== undefined && !known(route.group)) problems.push(`sites.${siteName}.routes.${routeName}.group: no upstream group named ${route.group} (upstreamGroups: ${Object.keys(c.upstreamGroups).join(', ') || 'none'})`)
    }
  }
  if (Object.keys(c.sites).length > 0 && Object.keys(c.cache.sites).length > 0) {
    problems.push('cache.sites: deprecated, and cannot be combined with sites: move each entry\'s query / ignoreParams into the cache of the site that claims the host (sites.NAME.cache)')
  }
  return problems
}
