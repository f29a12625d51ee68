/**
 * Cache-Control parsing (RFC 9111 §5.2). Tolerant of what real origins send: any case,
 * quoted or token arguments, stray whitespace, empty list members, repeated directives.
 * Nothing is interpreted here beyond syntax; freshness and storability decide what it means.
 */
import {splitList} from '../util/raw-headers.js'

/** RFC 9111 §1.2.2: the value a cache must use for delta-seconds it cannot represent. */
export const DELTA_SECONDS_MAX = 2147483648

/** One occurrence of a directive as received. */
export interface DirectiveEntry {
  /** Lower-cased directive name. */
  name: string
  /** Argument with quotes removed and escapes resolved, or true when there was none. */
  value: string | true
  /** The argument was a quoted-string (or an sf-string in a targeted field). */
  quoted: boolean
  /** Broken syntax around the argument (whitespace around `=`, unterminated quote, ...). */
  malformed: boolean
}

export interface CacheControl {
  /** Lower-cased names of the directives present, each once, in first-seen order. */
  readonly names: readonly string[]
  has(name: string): boolean
  /** Argument of the first occurrence (true when it had none). */
  value(name: string): string | true | undefined
  /** The first occurrence as delta-seconds, or undefined when absent or not a valid delta-seconds. */
  seconds(name: string): number | undefined
  /** Present, but some occurrence is not a valid delta-seconds (missing, negative, decimal, garbage). */
  invalid(name: string): boolean
  /** Present more than once with different arguments (e.g. `max-age=1, max-age=3600`). */
  conflicting(name: string): boolean
  /**
   * Field names of the qualified form (`no-cache="Set-Cookie, X-Foo"`), lower-cased.
   * undefined when the directive is absent or appears unqualified anywhere (the unqualified form is stronger).
   */
  fieldNames(name: 'no-cache' | 'private'): string[] | undefined
}

export interface CacheControlOptions {
  /**
   * Accept `max-age="5"` as 5. RFC 9111 §5.2 asks recipients of Cache-Control to accept both forms;
   * targeted (structured) fields turn this off because there a String is simply the wrong type.
   */
  quotedDeltaSeconds?: boolean
}

/** Parse a delta-seconds argument; undefined when invalid. */
export function parseDeltaSeconds(v: string): number | undefined {
  if (!/^[0-9]+$/.test(v)) return undefined
  const n = Number(v)
  // Huge digit strings become large floats or Infinity; both clamp to the RFC ceiling.
  return n > DELTA_SECONDS_MAX ? DELTA_SECONDS_MAX : n
}

class ParsedCacheControl implements CacheControl {
  readonly names: string[]
  private readonly byName = new Map<string, DirectiveEntry[]>()

  constructor(entries: readonly DirectiveEntry[], private readonly opts: CacheControlOptions) {
    for (const e of entries) {
      const list = this.byName.get(e.name)
      if (list) list.push(e)
      else this.byName.set(e.name, [e])
    }
    this.names = [...this.byName.keys()]
  }

  has(name: string): boolean {
    return this.byName.has(name.toLowerCase())
  }

  value(name: string): string | true | undefined {
    return this.byName.get(name.toLowerCase())?.[0]?.value
  }

  private entrySeconds(e: DirectiveEntry): number | undefined {
    if (e.malformed || e.value === true) return undefined
    if (e.quoted && this.opts.quotedDeltaSeconds === false) return undefined
    return parseDeltaSeconds(e.value)
  }

  seconds(name: string): number | undefined {
    const first = this.byName.get(name.toLowerCase())?.[0]
    return first ? this.entrySeconds(first) : undefined
  }

  invalid(name: string): boolean {
    const list = this.byName.get(name.toLowerCase())
    return list !== undefined && list.some((e) => this.entrySeconds(e) === undefined)
  }

  conflicting(name: string): boolean {
    const list = this.byName.get(name.toLowerCase())
    if (!list || list.length < 2) return false
    // Compare the meaning (so `max-age=60, max-age="60"` agrees) and fall back to raw text for invalid ones.
    const key = (e: DirectiveEntry): string => {
      const s = this.entrySeconds(e)
      return s !== undefined ? `n:${s}` : `r:${e.value === true ? '' : e.value}`
    }
    const k0 = key(list[0]!)
    return list.some((e) => key(e) !== k0)
  }

  fieldNames(name: 'no-cache' | 'private'): string[] | undefined {
    const list = this.byName.get(name)
    if (!list || list.some((e) => e.value === true)) return undefined
    const out = new Set<string>()
    for (const e of list) {
      if (e.value === true) continue
      for (const f of e.value.split(',')) {
        const t = f.trim().toLowerCase()
        if (t) out.add(t)
      }
    }
    return [...out]
  }
}

/** Build a CacheControl from already-tokenised directives (used for targeted fields too). */
export function cacheControlFromEntries(entries: readonly DirectiveEntry[], opts: CacheControlOptions = {}): CacheControl {
  return new ParsedCacheControl(entries, opts)
}

/** Undo quoted-string escaping; returns undefined when the closing quote is missing or text follows it. */
function unquote(s: string): string | undefined {
  let out = ''
  for (let i = 1; i < s.length; i++) {
    const c = s[i]!
    if (c === '\\') {
      if (i + 1 >= s.length) return undefined
      out += s[++i]
    } else if (c === '"') {
      return i === s.length - 1 ? out : undefined
    } else {
      out += c
    }
  }
  return undefined
}

function parseMember(member: string): DirectiveEntry | undefined {
  const eq = member.indexOf('=')
  if (eq < 0) {
    const name = member.trim().toLowerCase()
    return name ? {name, value: true, quoted: false, malformed: false} : undefined
  }
  const rawName = member.slice(0, eq)
  const name = rawName.trim().toLowerCase()
  if (!name) return undefined
  const rawValue = member.slice(eq + 1)
  // The grammar (token "=" value) has no whitespace around "="; such members are kept but flagged,
  // so that e.g. `max-age =3600` cannot silently grant freshness.
  let malformed = /\s$/.test(rawName) || /^\s/.test(rawValue)
  const v = rawValue.trim()
  if (v.startsWith('"')) {
    const u = unquote(v)
    if (u === undefined) return {name, value: v, quoted: true, malformed: true}
    return {name, value: u, quoted: true, malformed}
  }
  if (v === '') malformed = true
  return {name, value: v, quoted: false, malformed}
}

/** Parse one or more Cache-Control field lines (absent → empty). */
export function parseCacheControl(lines: readonly string[] | string | undefined): CacheControl {
  const all = lines === undefined ? [] : typeof lines === 'string' ? [lines] : lines
  const entries: DirectiveEntry[] = []
  for (const line of all) {
    for (const member of splitList(line)) {
      const e = parseMember(member)
      if (e) entries.push(e)
    }
  }
  return new ParsedCacheControl(entries, {quotedDeltaSeconds: true})
}
