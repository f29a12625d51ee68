/**
 * Header-rewrite rules compiled once per config: matches as plain strings and sets, actions with lower-cased names
 * and compiled templates. `applyRules` returns the rewritten header list as a new array: the input (which may be a
 * stored record's pre-built list) is never changed.
 */
import type {RawHeaders} from '../../util/raw-headers.js'
import {STAGE_VARIABLES, type RequestRuleConfig, type ResponseRuleConfig, type RuleKind} from './options.js'
import {compileTemplate, expand, isConstant, type Template, type VariableLookup} from './template.js'

interface HostPattern {
  /** Lower-case host name without port; for a wildcard, the suffix including the dot ('.example.com'). */
  readonly name: string
  readonly wildcard: boolean
  /** The port the pattern names, or undefined for any. */
  readonly port: string | undefined
}

export interface CompiledRule {
  /** Index in its list (request / response), for logs. */
  readonly index: number
  readonly hosts: readonly HostPattern[] | undefined
  readonly paths: readonly string[] | undefined
  readonly methods: ReadonlySet<string> | undefined
  readonly statuses: ReadonlySet<number> | undefined
  readonly statusClasses: ReadonlySet<number> | undefined
  readonly remove: ReadonlySet<string>
  /** lower-case old name → new name. */
  readonly rename: ReadonlyMap<string, string>
  /** [name, lower-case name, value]. */
  readonly set: ReadonlyArray<readonly [string, string, Template]>
  readonly add: ReadonlyArray<readonly [string, Template]>
  /** Lengths of the names `remove` and `rename` look for: a field of another length is not lower-cased. */
  readonly dropLengths: ReadonlySet<number>
}

function splitAuthority(a: string): {name: string; port: string | undefined} {
  if (a.startsWith('[')) {
    const end = a.indexOf(']')
    return {name: a.slice(0, end + 1), port: a[end + 1] === ':' ? a.slice(end + 2) : undefined}
  }
  const c = a.lastIndexOf(':')
  return c < 0 ? {name: a, port: undefined} : {name: a.slice(0, c), port: a.slice(c + 1)}
}

function compileHost(p: string): HostPattern {
  const {name, port} = splitAuthority(p)
  return name.startsWith('*.') ? {name: name.slice(1), wildcard: true, port} : {name, wildcard: false, port}
}

function template(v: string, kind: RuleKind): Template {
  const r = compileTemplate(v, STAGE_VARIABLES[kind], kind)
  // The options schema rejected every bad template already.
  if ('error' in r) throw new TypeError(r.error)
  return r.template
}

export function compileRule(r: RequestRuleConfig | ResponseRuleConfig, index: number, kind: RuleKind): CompiledRule {
  const status = 'match' in r && r.match && 'status' in r.match ? r.match.status : undefined
  return {
    index,
    hosts: r.match?.hosts?.map(compileHost),
    paths: r.match?.paths,
    methods: r.match?.methods ? new Set(r.match.methods) : undefined,
    statuses: status ? new Set(status.filter((s): s is number => typeof s === 'number')) : undefined,
    statusClasses: status ? new Set(status.filter((s): s is string => typeof s === 'string').map((s) => Number(s[0]))) : undefined,
    remove: new Set((r.remove ?? []).map((n) => n.toLowerCase())),
    rename: new Map(Object.entries(r.rename ?? {}).map(([from, to]) => [from.toLowerCase(), to])),
    set: Object.entries(r.set ?? {}).map(([n, v]) => [n, n.toLowerCase(), template(v, kind)] as const),
    add: Object.entries(r.add ?? {}).flatMap(([n, v]) => (Array.isArray(v) ? v : [v]).map((x) => [n, template(x, kind)] as const)),
    dropLengths: new Set([...(r.remove ?? []), ...Object.keys(r.rename ?? {})].map((n) => n.length)),
  }
}

/** What a rule is matched against. */
export interface MatchInput {
  host: string | undefined
  path: string
  method: string
  /** Undefined for request rules. */
  status?: number
}

function hostMatches(patterns: readonly HostPattern[], authority: string | undefined): boolean {
  if (authority === undefined) return false
  const {name, port} = splitAuthority(authority)
  for (const p of patterns) {
    if (p.port !== undefined && p.port !== port) continue
    if (p.wildcard ? name.endsWith(p.name) && name.length > p.name.length : name === p.name) return true
  }
  return false
}

export function ruleMatches(r: CompiledRule, m: MatchInput): boolean {
  if (r.methods && !r.methods.has(m.method)) return false
  if (r.paths) {
    let ok = false
    for (const p of r.paths) if (m.path.startsWith(p)) ok = true
    if (!ok) return false
  }
  if (r.statuses && m.status !== undefined && !r.statuses.has(m.status) && !r.statusClasses!.has(Math.floor(m.status / 100))) return false
  if (r.hosts && !hostMatches(r.hosts, m.host)) return false
  return true
}

/** A value after substitution that could split a header (a variable carried CR/LF/NUL): the line is dropped. */
function unsafe(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c === 13 || c === 10 || c === 0) return true
  }
  return false
}

/**
 * A templated value that came out empty (e.g. $upstream on a hit) is not sent, like nginx's add_header; one that
 * carries CR/LF/NUL is dropped and reported.
 */
function skip(t: Template, v: string, rule: number, name: string, onDropped: ((rule: number, name: string) => void) | undefined): boolean {
  if (isConstant(t)) return false
  if (v === '') return true
  if (!unsafe(v)) return false
  onDropped?.(rule, name)
  return true
}

/** Replace every line of `lname` in `h` (owned: changed in place) with one `name: value` where the first stood, else append. */
function setField(h: RawHeaders, lname: string, name: string, value: string): void {
  let at = -1
  let w = 0
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!
    if (n.length === lname.length && n.toLowerCase() === lname) {
      if (at >= 0) continue
      at = w
      h[w] = name
      h[w + 1] = value
    } else if (w !== i) {
      h[w] = n
      h[w + 1] = h[i + 1]!
    }
    w += 2
  }
  h.length = w
  if (at < 0) h.push(name, value)
}

/** Remove and rename (one pass), then set, then add. Returns `h` itself when the rule changed nothing; `owned`: `h` may be changed in place. */
export function applyRule(h: RawHeaders, r: CompiledRule, vars: VariableLookup, onDropped?: (rule: number, name: string) => void, owned = false): RawHeaders {
  let out = h
  if (r.dropLengths.size > 0) {
    out = []
    owned = true
    for (let i = 0; i < h.length; i += 2) {
      const n = h[i]!
      if (r.dropLengths.has(n.length)) {
        const l = n.toLowerCase()
        if (r.remove.has(l)) continue
        out.push(r.rename.get(l) ?? n, h[i + 1]!)
      } else out.push(n, h[i + 1]!)
    }
  }
  for (const [name, lname, t] of r.set) {
    const v = expand(t, vars)
    if (skip(t, v, r.index, name, onDropped)) continue
    if (!owned) {
      out = out.slice()
      owned = true
    }
    setField(out, lname, name, v)
  }
  for (const [name, t] of r.add) {
    const v = expand(t, vars)
    if (skip(t, v, r.index, name, onDropped)) continue
    if (!owned) {
      out = out.slice()
      owned = true
    }
    out.push(name, v)
  }
  return out
}

/** Every matching rule in order; the input list is never changed. */
export function applyRules(h: RawHeaders, rules: readonly CompiledRule[], m: MatchInput, vars: VariableLookup, onDropped?: (rule: number, name: string) => void): RawHeaders {
  let out = h
  // Once a rule made a copy, later rules change that copy in place (the caller's list is never touched).
  for (const r of rules) if (ruleMatches(r, m)) out = applyRule(out, r, vars, onDropped, out !== h)
  return out
}
