/**
 * The `match` part of a header-rewrite rule, compiled once per config: host patterns split into name and port,
 * methods and statuses as sets. A request splits its authority at most once, however many rules name hosts.
 */
import type {RequestRuleConfig, ResponseRuleConfig} from './options.js'

interface HostPattern {
  /** Lower-case host name without port; for a wildcard, the suffix including the dot ('.example.com'). */
  readonly name: string
  readonly wildcard: boolean
  /** The port the pattern names, or undefined for any. */
  readonly port: string | undefined
}

export interface CompiledMatch {
  readonly hosts: readonly HostPattern[] | undefined
  readonly paths: readonly string[] | undefined
  readonly methods: ReadonlySet<string> | undefined
  readonly statuses: ReadonlySet<number> | undefined
  readonly statusClasses: ReadonlySet<number> | undefined
}

/** What a rule is matched against. */
export interface MatchInput {
  host: string | undefined
  path: string
  method: string
  /** Undefined for request rules. */
  status?: number
}

/** An authority split into host name and port, once per request. */
export interface Authority {
  readonly name: string
  readonly port: string | undefined
}

export function splitAuthority(a: string): Authority {
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

export function compileMatch(r: RequestRuleConfig | ResponseRuleConfig): CompiledMatch {
  const status = 'match' in r && r.match && 'status' in r.match ? r.match.status : undefined
  return {
    hosts: r.match?.hosts?.map(compileHost),
    paths: r.match?.paths,
    methods: r.match?.methods ? new Set(r.match.methods) : undefined,
    statuses: status ? new Set(status.filter((s): s is number => typeof s === 'number')) : undefined,
    statusClasses: status ? new Set(status.filter((s): s is string => typeof s === 'string').map((s) => Number(s[0]))) : undefined,
  }
}

/** The match has no condition: it holds for every request, so nothing is checked per request. */
export function matchesAll(c: CompiledMatch): boolean {
  return !c.hosts && !c.paths && !c.methods && !c.statuses
}

function hostMatches(patterns: readonly HostPattern[], a: Authority): boolean {
  for (const p of patterns) {
    if (p.port !== undefined && p.port !== a.port) continue
    if (p.wildcard ? a.name.endsWith(p.name) && a.name.length > p.name.length : a.name === p.name) return true
  }
  return false
}

/** `authority`: the request's host split (computed by the caller only when some rule names hosts). */
export function matches(c: CompiledMatch, m: MatchInput, authority: Authority | undefined): boolean {
  if (c.methods && !c.methods.has(m.method)) return false
  if (c.paths) {
    let ok = false
    for (const p of c.paths) if (m.path.startsWith(p)) ok = true
    if (!ok) return false
  }
  if (c.statuses && m.status !== undefined && !c.statuses.has(m.status) && !c.statusClasses!.has(Math.floor(m.status / 100))) return false
  if (c.hosts && (authority === undefined || !hostMatches(c.hosts, authority))) return false
  return true
}
