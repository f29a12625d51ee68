/**
 * A route's request rules, evaluated once per request in the route stage: `enabled: false`, `cookieBypass` and
 * `bypass` conditions (skip the cache), `noStore` conditions (may hit, never store), and the extra cache-key parts
 * (a header's or cookie's value, normalised). Only routes that have such rules pay for this (compilePolicy says).
 */
import {getAll, type RawHeaders} from '../util/raw-headers.js'
import type {Condition, KeyPart} from '../config/cache-policy.js'
import type {CompiledPolicy} from './policy-resolve.js'

export interface RouteDecision {
  /** Why the request skips the cache (Cache-Status detail), if it does. */
  bypass?: string
  /** Why nothing fetched for this request is stored, if so. */
  noStore?: string
}

export interface RequestRules {
  decision: RouteDecision | undefined
  /** Extra key parts, in the configured order; empty when the route has none. */
  keyParts: string[]
}

/** Cookie name → value from the request's Cookie fields (RFC 6265 §5.4: several fields are joined with "; "). */
export function parseCookies(headers: RawHeaders): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of getAll(headers, 'cookie')) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const name = pair.slice(0, eq).trim()
      if (name && !out.has(name)) out.set(name, pair.slice(eq + 1).trim())
    }
  }
  return out
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

/** Query parameter name → first value (decoded) of an origin-form target. */
function parseQuery(target: string): Map<string, string> {
  const out = new Map<string, string>()
  const q = target.indexOf('?')
  if (q < 0) return out
  for (const pair of target.slice(q + 1).split('&')) {
    if (!pair) continue
    const eq = pair.indexOf('=')
    const name = safeDecode(eq < 0 ? pair : pair.slice(0, eq))
    if (!out.has(name)) out.set(name, eq < 0 ? '' : safeDecode(pair.slice(eq + 1)))
  }
  return out
}

/** Lazily parsed request parts the rules look at. */
class RequestView {
  private cookies: Map<string, string> | undefined
  private query: Map<string, string> | undefined
  constructor(
    readonly headers: RawHeaders,
    readonly target: string,
  ) {}
  header(name: string): string | undefined {
    const all = getAll(this.headers, name)
    return all.length ? all.join(', ') : undefined
  }
  cookie(name: string): string | undefined {
    return (this.cookies ??= parseCookies(this.headers)).get(name)
  }
  anyCookie(): boolean {
    return (this.cookies ??= parseCookies(this.headers)).size > 0 || getAll(this.headers, 'cookie').some((v) => v.trim() !== '')
  }
  param(name: string): string | undefined {
    return (this.query ??= parseQuery(this.target)).get(name)
  }
}

function conditionValue(v: RequestView, c: Condition): string | undefined {
  if ('header' in c) return v.header(c.header)
  if ('cookie' in c) return v.cookie(c.cookie)
  return v.param(c.query)
}

function describe(c: Condition): string {
  const what = 'header' in c ? `header ${c.header}` : 'cookie' in c ? `cookie ${c.cookie}` : `query ${c.query}`
  return c.value === undefined ? what : `${what}=${c.value}`
}

function firstMatch(v: RequestView, conds: readonly Condition[]): Condition | undefined {
  for (const c of conds) {
    const got = conditionValue(v, c)
    if (got !== undefined && (c.value === undefined || got === c.value)) return c
  }
  return undefined
}

/** A header or cookie value as a key part: trimmed, runs of whitespace collapsed, lower case unless case-sensitive. */
export function normaliseKeyPart(value: string | undefined, caseSensitive: boolean): string {
  if (value === undefined) return ''
  const v = value.trim().replace(/[ \t]+/g, ' ')
  return caseSensitive ? v : v.toLowerCase()
}

function keyPart(v: RequestView, p: KeyPart): string {
  // The part names its source, so a header and a cookie with the same value make different keys, and an absent
  // value differs from an empty one.
  const raw = 'header' in p ? v.header(p.header) : v.cookie(p.cookie)
  const label = 'header' in p ? `h:${p.header}` : `c:${p.cookie}`
  return raw === undefined ? label : `${label}=${normaliseKeyPart(raw, p.caseSensitive)}`
}

export function evaluateRequestRules(p: CompiledPolicy, headers: RawHeaders, target: string): RequestRules {
  const v = new RequestView(headers, target)
  let decision: RouteDecision | undefined
  if (!p.enabled) decision = {bypass: 'cache disabled for this route'}
  else if (p.cookieBypass === true && v.anyCookie()) decision = {bypass: 'cookieBypass: request has a cookie'}
  else if (Array.isArray(p.cookieBypass)) {
    const hit = p.cookieBypass.find((n) => v.cookie(n) !== undefined)
    if (hit !== undefined) decision = {bypass: `cookieBypass: cookie ${hit}`}
  }
  if (!decision && p.bypass.length) {
    const c = firstMatch(v, p.bypass)
    if (c) decision = {bypass: `bypass: ${describe(c)}`}
  }
  if (!decision && p.noStore.length) {
    const c = firstMatch(v, p.noStore)
    if (c) decision = {noStore: `noStore: ${describe(c)}`}
  }
  const keyParts = p.keyParts.length ? p.keyParts.map((k) => keyPart(v, k)) : []
  return {decision, keyParts}
}
