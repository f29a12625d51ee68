/**
 * What a plugin module is: `export default definePlugin({name, optionsSchema, setup})`. The types here and the hook
 * contract (src/core/hooks.ts) are the public plugin API, exported as `tavern/plugin` (src/plugin.ts). The loader
 * (loader.ts) validates the options with `optionsSchema` and calls `setup` once per plugin set (start, each reload).
 */
import type {z} from 'zod'

import type {TavernConfig} from '../config/schema.js'
import type {ContextKey, Hooks, MaybePromise} from '../core/hooks.js'
import type {OriginInterceptor} from '../core/origin.js'

/** The logger a plugin gets (pino-style: fields object first; every line carries `plugin`). */
export interface PluginLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** What `setup` may use of Tavern. */
export interface PluginApi {
  /** The plugin's entry in `plugins` (its index), for messages. */
  readonly index: number
  readonly log: PluginLogger
  /** The whole validated config the set is built for (read only; a reload builds a new set with the new one). */
  readonly config: Readonly<TavernConfig>
  /** Directory of the config file (or the working directory): resolve the plugin's own files against it. */
  readonly configDir: string
  /** A typed slot in ctx.locals for per-request state of this plugin. */
  contextKey<T>(name: string): ContextKey<T>
}

/** What a plugin contributes to a plugin set. */
export interface PluginParts {
  hooks?: Hooks
  /** Wrapped around every origin call (fill, revalidation, slice, pass-through…); the first listed outermost. */
  interceptors?: readonly OriginInterceptor[]
  /** Routing-stage hooks (onRequest, preCacheKey, onRoute) only for requests with these methods. */
  methods?: readonly string[]
  /** Release what setup took (timers, sockets, files): called when the set is replaced and its requests are done, and at shutdown. */
  close?: () => MaybePromise<void>
}

/** A schema for the plugin's options: zod (any version with `safeParse`) is what Tavern is written with. */
export type OptionsSchema<O> = z.ZodType<O, unknown>

export interface PluginDefinition<O = undefined> extends Omit<PluginParts, 'close'> {
  /** Short and unique in a config: named in logs and config errors. */
  name: string
  /** Validates (and may default/transform) `options` from the config; omitted: the plugin takes no options. */
  optionsSchema?: OptionsSchema<O>
  /** Called once per plugin set with the validated options; returns hooks/interceptors (merged with static ones). */
  setup?: (options: O, api: PluginApi) => MaybePromise<PluginParts | void>
}

/** Marks and type-checks a plugin definition (at run time too: the loader checks the shape of what it imported). */
export function definePlugin<O = undefined>(def: PluginDefinition<O>): PluginDefinition<O> {
  const problem = definitionProblem(def)
  if (problem) throw new TypeError(`definePlugin: ${problem}`)
  return def
}

const HOOK_NAMES: ReadonlySet<string> = new Set(['onRequest', 'preCacheKey', 'onRoute', 'onOriginRequest', 'onOriginResponse', 'onSend', 'onResponse', 'onError'])
const NAME = /^[a-z0-9@][a-z0-9@/._:-]{0,63}$/i

/** Why `def` is not a plugin definition, or undefined when it is one. */
export function definitionProblem(def: unknown): string | undefined {
  if (typeof def !== 'object' || def === null) return 'the default export is not a plugin definition (export default definePlugin({name, …}))'
  const d = def as Record<string, unknown>
  if (typeof d.name !== 'string' || !NAME.test(d.name)) return `name must be a short identifier (letters, digits, @ / . _ : -), got ${JSON.stringify(d.name)}`
  if (d.optionsSchema !== undefined && typeof (d.optionsSchema as {safeParse?: unknown})?.safeParse !== 'function') return 'optionsSchema must be a zod schema (an object with safeParse)'
  if (d.setup !== undefined && typeof d.setup !== 'function') return 'setup must be a function'
  const parts = partsProblem(d)
  if (parts) return parts
  for (const k of Object.keys(d)) if (!['name', 'optionsSchema', 'setup', 'hooks', 'interceptors', 'methods'].includes(k)) return `unknown field ${JSON.stringify(k)} (known: name, optionsSchema, setup, hooks, interceptors, methods)`
  if (d.setup === undefined && d.hooks === undefined && d.interceptors === undefined) return 'the plugin has neither hooks, interceptors nor setup'
  return undefined
}

/** Why what setup returned (or the static part of a definition) is malformed. */
export function partsProblem(p: Record<string, unknown>): string | undefined {
  if (p.hooks !== undefined) {
    if (typeof p.hooks !== 'object' || p.hooks === null) return 'hooks must be an object of hook functions'
    for (const [k, v] of Object.entries(p.hooks)) {
      if (!HOOK_NAMES.has(k)) return `unknown hook ${JSON.stringify(k)} (known: ${[...HOOK_NAMES].join(', ')})`
      if (v !== undefined && typeof v !== 'function') return `hook ${k} is not a function`
    }
  }
  if (p.interceptors !== undefined && (!Array.isArray(p.interceptors) || p.interceptors.some((i) => typeof i !== 'function'))) return 'interceptors must be an array of functions (next) => call'
  if (p.methods !== undefined && (!Array.isArray(p.methods) || p.methods.some((m) => typeof m !== 'string' || !/^[A-Z]+$/.test(m)))) return 'methods must be an array of upper-case method names'
  if (p.close !== undefined && typeof p.close !== 'function') return 'close must be a function'
  return undefined
}
