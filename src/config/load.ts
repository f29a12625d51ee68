import path from 'node:path'

import {cosmiconfig} from 'cosmiconfig'
import type {z} from 'zod'

import {ConfigSchema, type TavernConfig} from './schema.js'
import {SEARCH_PLACES} from './search-places.js'
import {checkSites} from './sites.js'
import {didYouMean, knownKeysAt, suggestKeys} from './suggest.js'

/** A config that failed to load or validate; `problems` name the key path and what is wrong. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid config (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  }
}

export interface LoadedConfig {
  config: TavernConfig
  /** The file it came from, or undefined for embedded defaults. */
  filepath?: string
}

function keyPath(path: readonly PropertyKey[]): string {
  return path.length ? path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') : '(root)'
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** `upstream` (connection settings) and `upstreams` (the origins) are one letter apart: say so when they are swapped. */
function swappedSectionHint(path: readonly PropertyKey[], raw: unknown): string {
  if (path.length !== 1 || !isPlainObject(raw)) return ''
  const v = raw[String(path[0])]
  if (path[0] === 'upstream' && (Array.isArray(v) || typeof v === 'string')) return '; did you mean upstreams (the list of origin servers)? upstream holds connection settings'
  if (path[0] === 'upstreams' && isPlainObject(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => knownKeysAt(ConfigSchema, ['upstream']).includes(k))) {
    return '; did you mean upstream (connection settings)? upstreams is the list of origin servers'
  }
  if (path[0] === 'upstreams' && typeof v === 'string') return `; write it as a list: upstreams: [${JSON.stringify(v)}]`
  return ''
}

function describeIssues(issues: readonly z.core.$ZodIssue[], raw: unknown): string[] {
  return issues.flatMap((i) => {
    const key = keyPath(i.path)
    if (i.code === 'unrecognized_keys') {
      const base = i.path.length ? `${key}.` : ''
      return i.keys.map((k) => `${base}${k}: unknown key${didYouMean(suggestKeys(ConfigSchema, i.path, k))}`)
    }
    return [`${key}: ${i.message}${i.code === 'invalid_type' ? swappedSectionHint(i.path, raw) : ''}`]
  })
}

/**
 * What a config file's parser said, whole: the reason with its line and column (`bad indentation of a mapping entry
 * (4:2)`) and the code frame under it, without cosmiconfig's "YAML Error in FILE:" header (the file is named
 * already) or the copy of the whole file that JSON errors end with.
 */
export function describeParseError(message: string): string {
  const text = message.replace(/^(?:YAML|JSON) Error in [^\n]*?:[ \t]*(?:\n|$)/, '')
  const blocks = text.split(/\n[ \t]*\n/).map((b) => b.replace(/^\n+/, '').replace(/\s+$/, '')).filter((b) => b.trim() !== '')
  const isFrame = (b: string) => /^\s*(?:>\s*)?\d+ \|/.test(b)
  const reason = blocks.find((b) => !isFrame(b))?.trim().replace(/ while parsing '[\s\S]*'$/, '') ?? 'cannot be parsed'
  const frame = blocks.find(isFrame)
  return frame ? `${reason}\n${frame.split('\n').map((l) => `      ${l}`).join('\n')}` : reason
}

/** Validate a raw config object (file contents merged with flag overrides). */
export function validateConfig(raw: unknown, source: string): TavernConfig {
  const r = ConfigSchema.safeParse(raw ?? {})
  if (!r.success) throw new ConfigError(source, describeIssues(r.error.issues, raw))
  const cross = checkSites(r.data)
  if (cross.length) throw new ConfigError(source, cross)
  return r.data
}

/** Deep-merge plain objects; arrays and scalars from `over` replace. */
export function mergeRaw(base: unknown, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = base && typeof base === 'object' && !Array.isArray(base) ? {...(base as Record<string, unknown>)} : {}
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue
    const cur = out[k]
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? mergeRaw(cur, v as Record<string, unknown>)
        : v
  }
  return out
}

/**
 * Load the config: `file` when given (it must exist), else search the working directory for
 * tavern.config.{json,yaml,yml,mjs,js}, .tavernrc[.json|.yaml|.yml|.mjs|.js] or a "tavern" key in package.json.
 * `overrides` (from command-line flags) win over the file. Relative storage paths are resolved against the
 * config file's directory (or the working directory for embedded defaults), so a reload from elsewhere agrees.
 */
export async function loadConfig(opts: {file?: string; cwd?: string; overrides?: Record<string, unknown>} = {}): Promise<LoadedConfig> {
  const cwd = opts.cwd ?? process.cwd()
  const explorer = cosmiconfig('tavern', {searchPlaces: SEARCH_PLACES, searchStrategy: 'none'})
  let raw: unknown = {}
  let filepath: string | undefined
  try {
    const found = opts.file ? await explorer.load(path.resolve(cwd, opts.file)) : await explorer.search(cwd)
    if (found && !found.isEmpty) raw = found.config
    filepath = found?.filepath
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const where = opts.file ? path.resolve(cwd, opts.file) : cwd
    if (e.code === 'ENOENT') throw new ConfigError(where, [`config file not found: ${where}`])
    throw new ConfigError(where, [`cannot read config: ${describeParseError(e.message)}`])
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(filepath ?? 'config', ['(root): the config must be an object of keys'])
  }
  const merged = mergeRaw(raw, opts.overrides ?? {})
  const config = validateConfig(merged, filepath ?? 'embedded defaults + flags')
  const base = filepath ? path.dirname(filepath) : cwd
  config.storage.dir = path.resolve(base, config.storage.dir)
  if (config.socket) config.socket = path.resolve(base, config.socket)
  if (config.accessLog.path !== 'stdout') config.accessLog.path = path.resolve(base, config.accessLog.path)
  return {config, filepath}
}
