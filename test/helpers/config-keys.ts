/**
 * Config-wiring tables: every leaf key of the zod config schema, and a runner for groups of e2e checks that share
 * one daemon started with non-default values (test/e2e/config-wiring.*).
 */
import {afterAll, beforeAll, describe, it} from 'vitest'

import {type DaemonHandle, makeTempDir, type StartDaemonOptions, startDaemon} from './daemon.js'
import {type Origin, type OriginOptions, startOrigin} from './origin.js'

interface ZodDef {
  type: string
  shape?: Record<string, unknown>
  innerType?: unknown
  in?: unknown
  element?: unknown
  valueType?: unknown
  options?: unknown[]
}

function defOf(schema: unknown): ZodDef {
  return (schema as {_zod: {def: ZodDef}})._zod.def
}

/** Strip wrappers that do not change the shape: defaults, optionals, transforms/pipes (their input side). */
function unwrap(schema: unknown): unknown {
  for (;;) {
    const d = defOf(schema)
    if (d.type === 'default' || d.type === 'prefault' || d.type === 'optional' || d.type === 'nullable' || d.type === 'readonly' || d.type === 'catch') schema = d.innerType
    else if (d.type === 'pipe') schema = d.in
    else return schema
  }
}

/**
 * Every leaf key of a zod object schema as a dotted path: `cache.heuristicFraction`; array elements that are
 * objects as `upstreams[].url` (and `upstreams[]` when the element may also be a scalar); record values that are
 * objects as `cache.sites.*.query`.
 */
export function leafKeys(schema: unknown, prefix = ''): string[] {
  const s = unwrap(schema)
  const d = defOf(s)
  if (d.type === 'object') return Object.entries(d.shape!).flatMap(([k, v]) => leafKeys(v, prefix ? `${prefix}.${k}` : k))
  if (d.type === 'union') {
    const objects = d.options!.filter((o) => defOf(unwrap(o)).type === 'object')
    const scalars = d.options!.length - objects.length
    return [...(scalars > 0 || objects.length === 0 ? [prefix] : []), ...objects.flatMap((o) => leafKeys(o, prefix))]
  }
  if (d.type === 'array') {
    // A list of scalars is one key; a list of objects (or of objects-or-scalars) has keys per element field.
    const el = defOf(unwrap(d.element)).type
    return el === 'object' || el === 'union' ? leafKeys(d.element, `${prefix}[]`) : [prefix]
  }
  if (d.type === 'record') {
    const v = unwrap(d.valueType)
    return defOf(v).type === 'object' ? leafKeys(v, `${prefix}.*`) : [prefix]
  }
  return [prefix]
}

/** What a row's check gets: the group's daemon and origins, and per-group scratch space. */
export interface WiringContext {
  daemon: DaemonHandle
  /** The group's main origin (the daemon's upstream unless the group says otherwise). */
  origin: Origin
  /** Extra origins by name (Group.origins). */
  origins: Record<string, Origin>
  /** A temp dir for this group's files (config paths, sockets, logs). */
  dir: string
  /** Free-form values set by Group.setup (ports, paths, helper processes). */
  vars: Record<string, unknown>
  /** Results of the rows' prepare() calls, by row index within the group. */
  prepared: Map<number, Promise<unknown>>
}

export interface WiringRow {
  /** The config key this row proves is wired (a leafKeys() path). */
  key: string
  /** The observable difference from the default, in a few words. */
  expect: string
  /** Started right after the daemon is up, before any row runs (for slow observations that can overlap). */
  prepare?: (ctx: WiringContext) => Promise<unknown>
  check: (ctx: WiringContext, prepared: unknown) => Promise<void>
  timeoutMs?: number
}

export interface WiringGroup {
  name: string
  /** Options for the main origin. */
  origin?: OriginOptions
  /** Extra origins by name. */
  origins?: Record<string, OriginOptions>
  /** Before the config is built: start helpers, pick ports (store them in ctx.vars). */
  setup?: (ctx: Omit<WiringContext, 'daemon'>) => Promise<void>
  config: (ctx: Omit<WiringContext, 'daemon'>) => Record<string, unknown>
  /** Daemon start options beyond the config: `bare` (config only), `upstream: false` (use config upstreams), `env` (after setup). */
  start?: {bare?: boolean; upstream?: false; env?: (ctx: Omit<WiringContext, 'daemon'>) => NodeJS.ProcessEnv}
  teardown?: (ctx: WiringContext) => Promise<void>
  rows: WiringRow[]
}

/** Remove a leafKeys() path from a config object (every element for `[]`, every record value for `*`). */
export function dropKey(config: unknown, key: string): void {
  const [head, ...rest] = key.split('.')
  if (config === null || typeof config !== 'object') return
  const obj = config as Record<string, unknown>
  if (head === '*') {
    for (const v of Object.values(obj)) dropKey(v, rest.join('.'))
    return
  }
  const name = head!.replace(/\[\]$/, '')
  if (head!.endsWith('[]') && rest.length > 0) {
    for (const el of (obj[name] as unknown[] | undefined) ?? []) dropKey(el, rest.join('.'))
  } else if (rest.length === 0) delete obj[name]
  else dropKey(obj[name], rest.join('.'))
}

/**
 * Mutation check of the table itself: TAVERN_WIRING_DROP=cache.heuristicFraction runs only that key's rows, with
 * the key removed from the group's config (so the daemon uses the default) — every one of those rows must FAIL.
 */
const DROP = process.env.TAVERN_WIRING_DROP

/** One describe per group: start its origins and daemon, run its rows in order, stop everything. */
export function runGroups(groups: WiringGroup[]): void {
  for (const g of DROP ? groups.filter((x) => x.rows.some((r) => r.key === DROP)) : groups) {
    describe(`config wiring: ${g.name}`, () => {
      const ctx = {origins: {}, vars: {}, prepared: new Map()} as unknown as WiringContext
      beforeAll(async () => {
        ctx.dir = makeTempDir('tavern-cw-')
        ctx.origin = await startOrigin(g.origin)
        for (const [name, o] of Object.entries(g.origins ?? {})) ctx.origins[name] = await startOrigin(o)
        await g.setup?.(ctx)
        const config = g.config(ctx)
        if (DROP) dropKey(config, DROP)
        const opts: StartDaemonOptions = {config, bare: g.start?.bare, env: g.start?.env?.(ctx)}
        if (g.start?.upstream !== false && !g.start?.bare) opts.upstream = ctx.origin.url
        ctx.daemon = await startDaemon(opts)
        g.rows.forEach((r, i) => {
          if (!r.prepare) return
          const p = r.prepare(ctx)
          p.catch(() => {}) // reported by the row's check
          ctx.prepared.set(i, p)
        })
      }, 30_000)
      afterAll(async () => {
        if (ctx.daemon) await ctx.daemon.stop('SIGTERM', 15_000).catch(() => ctx.daemon.kill9())
        await g.teardown?.(ctx)
        await ctx.origin?.close()
        for (const o of Object.values(ctx.origins)) await o.close()
      }, 30_000)
      g.rows.forEach((r, i) => {
        // Under a mutation check the other rows still run (in order, they may set up state) but only these count.
        if (DROP && r.key !== DROP && !g.rows.slice(i).some((x) => x.key === DROP)) return
        it(`${r.key}: ${r.expect}`, () => r.check(ctx, ctx.prepared.get(i)), r.timeoutMs ?? 20_000)
      })
    })
  }
}
