/**
 * Config → plugin modules → validated options → hook registrations. Used at start (serve), by `config check`
 * (resolve only: import and validate, no setup) and by reload (a new set is built beside the running one; any
 * failure is a ConfigError naming the plugin and the key, and nothing of the new set stays open).
 *
 * Order in a set: the built-ins the daemon passes (PURGE), then `headerRewrite`, then `plugins` in config order.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import type {LoadedConfig} from '../config/load.js'
import {ConfigError} from '../config/load.js'
import type {TavernConfig} from '../config/schema.js'
import {contextKey, createHookSet, type HookRegistration} from '../proxy/hooks.js'
import {definitionProblem, type PluginApi, type PluginDefinition, type PluginLogger, type PluginParts, partsProblem} from './define.js'

/** Built-in plugins, named `tavern:<name>` in `plugins`. */
const BUILTINS: Readonly<Record<string, () => Promise<{default: PluginDefinition<unknown>}>>> = {
  'header-rewrite': () => import('./header-rewrite/plugin.js') as Promise<{default: PluginDefinition<unknown>}>,
}

/** A plugin imported and its options validated, not yet set up. */
export interface ResolvedPlugin {
  /** Index in `plugins` (-1: the top-level headerRewrite key). */
  readonly index: number
  /** How config errors and logs name it: `plugins[1] (deny-list)`. */
  readonly label: string
  readonly def: PluginDefinition<unknown>
  readonly options: unknown
}

interface LoggerLike extends PluginLogger {
  child(bindings: Record<string, unknown>): PluginLogger
}

function issuePath(p: readonly PropertyKey[]): string {
  return p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('')
}

/** The module URL for an entry, or a problem. A file's mtime and size are in the URL so an edited file is re-imported on reload. */
async function moduleUrl(spec: string, configDir: string): Promise<{url: string} | {builtin: string} | {problem: string}> {
  if (spec.startsWith('tavern:')) {
    const name = spec.slice(7)
    return Object.hasOwn(BUILTINS, name) ? {builtin: name} : {problem: `no built-in plugin ${JSON.stringify(spec)} (built-ins: ${Object.keys(BUILTINS).map((n) => `tavern:${n}`).join(', ')})`}
  }
  let file: string
  if (spec.startsWith('file:')) file = new URL(spec).pathname
  else if (path.isAbsolute(spec) || spec.startsWith('./') || spec.startsWith('../')) file = path.resolve(configDir, spec)
  else return {problem: `${JSON.stringify(spec)} is not a path: give the module as ./file.mjs (relative to the config file), an absolute path, or tavern:<built-in>`}
  try {
    const st = await fs.stat(file)
    if (!st.isFile()) return {problem: `${file} is not a file`}
    return {url: `${pathToFileURL(file).href}?v=${Math.trunc(st.mtimeMs)}-${st.size}`}
  } catch (error) {
    return {problem: `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`}
  }
}

async function importDefinition(spec: string, configDir: string, label: string, problems: string[]): Promise<PluginDefinition<unknown> | undefined> {
  const where = await moduleUrl(spec, configDir)
  if ('problem' in where) {
    problems.push(`${label}.module: ${where.problem}`)
    return undefined
  }
  let mod: {default?: unknown}
  try {
    mod = 'builtin' in where ? await BUILTINS[where.builtin]!() : ((await import(where.url)) as {default?: unknown})
  } catch (error) {
    const e = error as Error
    problems.push(`${label}.module: cannot load ${spec}: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}`)
    return undefined
  }
  const problem = definitionProblem(mod.default)
  if (problem) {
    problems.push(`${label}.module: ${spec}: ${problem}`)
    return undefined
  }
  return mod.default as PluginDefinition<unknown>
}

function validateOptions(def: PluginDefinition<unknown>, raw: unknown, label: string, problems: string[]): {ok: true; options: unknown} | {ok: false} {
  if (!def.optionsSchema) {
    if (raw !== undefined) {
      problems.push(`${label}.options: the plugin takes no options`)
      return {ok: false}
    }
    return {ok: true, options: undefined}
  }
  const r = def.optionsSchema.safeParse(raw)
  if (r.success) return {ok: true, options: r.data}
  for (const i of r.error.issues) {
    const at = `${label}.options${issuePath(i.path)}`
    if (i.code === 'unrecognized_keys') for (const k of i.keys) problems.push(`${label}.options${issuePath([...i.path, k])}: unknown key`)
    else problems.push(`${at}: ${i.message}`)
  }
  return {ok: false}
}

/** Import every plugin the config names and validate its options (no setup). Throws a ConfigError with all problems. */
export async function resolvePlugins(config: TavernConfig, configDir: string, source: string): Promise<ResolvedPlugin[]> {
  const problems: string[] = []
  const out: ResolvedPlugin[] = []
  const hr = config.headerRewrite
  if (hr && (hr.request.length > 0 || hr.response.length > 0)) {
    const def = await importDefinition('tavern:header-rewrite', configDir, 'headerRewrite', problems)
    // Validated with the rest of the config already (errors name headerRewrite.…).
    if (def) out.push({index: -1, label: 'headerRewrite', def, options: hr})
  }
  for (const [index, entry] of config.plugins.entries()) {
    let label = `plugins[${index}]`
    const def = await importDefinition(entry.module, configDir, label, problems)
    if (!def) continue
    label = `${label} (${def.name})`
    const v = validateOptions(def, entry.options, label, problems)
    if (v.ok) out.push({index, label, def, options: v.options})
  }
  if (problems.length > 0) throw new ConfigError(source, problems)
  return out
}

async function closeAll(regs: readonly HookRegistration[]): Promise<void> {
  await Promise.allSettled(regs.map(async (r) => r.close?.()))
}

function registrations(p: ResolvedPlugin, parts: PluginParts | undefined): HookRegistration[] {
  const regs: HookRegistration[] = []
  const {def} = p
  if (def.hooks || def.interceptors) regs.push({plugin: def.name, hooks: def.hooks ?? {}, methods: def.methods, interceptors: def.interceptors})
  if (parts && (parts.hooks || parts.interceptors || parts.close)) regs.push({plugin: def.name, hooks: parts.hooks ?? {}, methods: parts.methods ?? def.methods, interceptors: parts.interceptors, close: parts.close})
  return regs
}

/** Set up resolved plugins (in order); on a failure, closes those already set up and throws a ConfigError naming the plugin. */
export async function setupPlugins(plugins: readonly ResolvedPlugin[], o: {config: TavernConfig; configDir: string; source: string; log: LoggerLike}): Promise<HookRegistration[]> {
  const regs: HookRegistration[] = []
  for (const p of plugins) {
    const api: PluginApi = {index: p.index, log: o.log.child({plugin: p.def.name}), config: o.config, configDir: o.configDir, contextKey: (name) => contextKey(`${p.def.name}:${name}`)}
    let parts: PluginParts | undefined
    try {
      parts = (await p.def.setup?.(p.options, api)) ?? undefined
      const problem = parts === undefined ? undefined : typeof parts !== 'object' || parts === null ? 'setup returned neither nothing nor {hooks, interceptors, close}' : partsProblem(parts as Record<string, unknown>)
      if (problem) throw new TypeError(problem)
    } catch (error) {
      await closeAll(regs)
      if (parts?.close) await Promise.allSettled([parts.close()])
      throw new ConfigError(o.source, [`${p.label}: setup failed: ${(error as Error)?.message ?? String(error)}`])
    }
    regs.push(...registrations(p, parts))
  }
  return regs
}

/** Check that `regs` compile into a set (hook names, method scoping); a failure closes them and is a ConfigError. */
async function assertCompiles(regs: readonly HookRegistration[], source: string): Promise<void> {
  try {
    createHookSet(regs)
  } catch (error) {
    await closeAll(regs)
    throw new ConfigError(source, [`plugins: ${(error as Error).message}`])
  }
}

/** The directory relative module paths resolve against. */
export function configDirOf(loaded: LoadedConfig): string {
  return loaded.filepath ? path.dirname(loaded.filepath) : process.cwd()
}

export function sourceOf(loaded: LoadedConfig): string {
  return loaded.filepath ?? 'embedded defaults + flags'
}

/**
 * Everything the config's plugins contribute to a set, set up and known to compile: the caller builds the set with
 * its built-ins first (`createHookSet([...builtins, ...regs])`, which then cannot fail). The caller owns the
 * registrations: a set closes them, or call `closeRegistrations` when no set is made.
 */
export async function loadPluginRegistrations(loaded: LoadedConfig, log: LoggerLike): Promise<HookRegistration[]> {
  const source = sourceOf(loaded)
  const configDir = configDirOf(loaded)
  const resolved = await resolvePlugins(loaded.config, configDir, source)
  const regs = await setupPlugins(resolved, {config: loaded.config, configDir, source, log})
  await assertCompiles(regs, source)
  return regs
}

export const closeRegistrations = closeAll

/** `tavern config check`: every plugin imports and its options validate (setup is not run: it may open things). */
export async function checkPlugins(loaded: LoadedConfig): Promise<void> {
  await resolvePlugins(loaded.config, configDirOf(loaded), sourceOf(loaded))
}
