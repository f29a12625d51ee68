/**
 * Targeted cache-control fields (RFC 9213), e.g. CDN-Cache-Control. They are RFC 8941
 * dictionaries; when one aimed at us is present and valid it replaces Cache-Control for
 * this cache's storage and freshness decisions.
 */
import {getAll, type RawHeaders} from '../util/raw-headers.js'
import {cacheControlFromEntries, parseCacheControl, type CacheControl, type DirectiveEntry} from './cache-control.js'

export interface EffectiveCacheControl {
  cc: CacheControl
  source: 'targeted' | 'cache-control'
  /** Lower-cased name of the targeted field used. */
  field?: string
}

type BareItem =
  | {t: 'integer'; v: number}
  | {t: 'decimal'; v: number}
  | {t: 'string'; v: string}
  | {t: 'token'; v: string}
  | {t: 'bytes'; v: string}
  | {t: 'boolean'; v: boolean}

type MemberValue = {kind: 'item'; item: BareItem} | {kind: 'inner'; items: BareItem[]}

class SfError extends Error {}

/** Minimal RFC 8941 §4.2 dictionary parser; parameters are parsed for syntax and then dropped (RFC 9213 §2.1 ignores them). */
class DictParser {
  private i = 0
  constructor(private readonly s: string) {}

  parse(): Map<string, MemberValue> {
    const out = new Map<string, MemberValue>()
    this.skipSP()
    if (this.i >= this.s.length) return out
    for (;;) {
      const key = this.key()
      let value: MemberValue
      if (this.s[this.i] === '=') {
        this.i++
        value = this.s[this.i] === '(' ? {kind: 'inner', items: this.innerList()} : {kind: 'item', item: this.bareItem()}
        if (value.kind === 'item') this.params()
      } else {
        value = {kind: 'item', item: {t: 'boolean', v: true}}
        this.params()
      }
      // Later duplicates overwrite earlier ones (RFC 8941 §4.2.2) but keep the original position; order is irrelevant here.
      out.set(key, value)
      this.skipOWS()
      if (this.i >= this.s.length) return out
      if (this.s[this.i] !== ',') throw new SfError('expected comma')
      this.i++
      this.skipOWS()
      if (this.i >= this.s.length) throw new SfError('trailing comma')
    }
  }

  private skipSP(): void {
    while (this.s[this.i] === ' ') this.i++
  }
  private skipOWS(): void {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++
  }

  private key(): string {
    const m = /^[a-z*][a-z0-9_\-.*]*/.exec(this.s.slice(this.i))
    if (!m) throw new SfError('bad key')
    this.i += m[0].length
    return m[0]
  }

  private params(): void {
    while (this.s[this.i] === ';') {
      this.i++
      this.skipSP()
      this.key()
      if (this.s[this.i] === '=') {
        this.i++
        this.bareItem()
      }
    }
  }

  private innerList(): BareItem[] {
    this.i++ // "("
    const items: BareItem[] = []
    for (;;) {
      this.skipSP()
      if (this.s[this.i] === ')') {
        this.i++
        this.params()
        return items
      }
      items.push(this.bareItem())
      this.params()
      const c = this.s[this.i]
      if (c !== ' ' && c !== ')') throw new SfError('bad inner list')
    }
  }

  private bareItem(): BareItem {
    const rest = this.s.slice(this.i)
    const c = rest[0]
    if (c === undefined) throw new SfError('missing item')
    if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /^-?(\d{1,15})(\.(\d{1,3}))?/.exec(rest)
      if (!m) throw new SfError('bad number')
      if (m[2] !== undefined && m[1]!.length > 12) throw new SfError('decimal too long')
      // RFC 8941: a number must not continue with more digits or a dot after the allowed length.
      const next = rest[m[0].length]
      if (next !== undefined && /[0-9.]/.test(next)) throw new SfError('number too long')
      this.i += m[0].length
      return m[2] !== undefined ? {t: 'decimal', v: Number(m[0])} : {t: 'integer', v: Number(m[0])}
    }
    if (c === '"') {
      let out = ''
      for (let j = 1; j < rest.length; j++) {
        const ch = rest[j]!
        if (ch === '\\') {
          const n = rest[j + 1]
          if (n !== '"' && n !== '\\') throw new SfError('bad escape')
          out += n
          j++
        } else if (ch === '"') {
          this.i += j + 1
          return {t: 'string', v: out}
        } else {
          const code = ch.charCodeAt(0)
          if (code < 0x20 || code > 0x7e) throw new SfError('bad string char')
          out += ch
        }
      }
      throw new SfError('unterminated string')
    }
    if (c === ':') {
      const m = /^:([A-Za-z0-9+/=]*):/.exec(rest)
      if (!m) throw new SfError('bad bytes')
      this.i += m[0].length
      return {t: 'bytes', v: m[1]!}
    }
    if (c === '?') {
      if (rest[1] === '1' || rest[1] === '0') {
        this.i += 2
        return {t: 'boolean', v: rest[1] === '1'}
      }
      throw new SfError('bad boolean')
    }
    const m = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/.exec(rest)
    if (!m) throw new SfError('bad item')
    this.i += m[0].length
    return {t: 'token', v: m[0]}
  }
}

/** Parse a targeted field's combined value as directives; undefined when it is not a valid, non-empty dictionary. */
export function parseTargetedField(value: string): CacheControl | undefined {
  let dict: Map<string, MemberValue>
  try {
    dict = new DictParser(value).parse()
  } catch (e) {
    if (e instanceof SfError) return undefined
    throw e
  }
  // RFC 9213 §2.2: an empty targeted field is ignored like a missing one.
  if (dict.size === 0) return undefined
  const entries: DirectiveEntry[] = []
  for (const [name, mv] of dict) {
    if (mv.kind === 'inner') {
      // Only meaningful for private / no-cache field lists.
      const names = mv.items.filter((x) => x.t === 'string' || x.t === 'token').map((x) => String(x.v))
      entries.push({name, value: names.join(', '), quoted: true, malformed: false})
      continue
    }
    const it = mv.item
    switch (it.t) {
      case 'boolean':
        // `no-store=?0` says "not set"; drop it rather than treating it as present.
        if (it.v) entries.push({name, value: true, quoted: false, malformed: false})
        break
      case 'integer':
        // A negative Integer is a valid sf-integer but not valid delta-seconds; the text "-1" makes it invalid downstream.
        entries.push({name, value: String(it.v), quoted: false, malformed: false})
        break
      case 'decimal':
        entries.push({name, value: String(it.v), quoted: false, malformed: true})
        break
      case 'string':
        entries.push({name, value: it.v, quoted: true, malformed: false})
        break
      case 'token':
      case 'bytes':
        entries.push({name, value: it.v, quoted: false, malformed: it.t === 'bytes'})
        break
    }
  }
  return cacheControlFromEntries(entries, {quotedDeltaSeconds: false})
}

/**
 * The cache-control that governs this cache: the first targeted field (in configured order)
 * that is present and parses, else the ordinary Cache-Control.
 */
export function effectiveCacheControl(headers: RawHeaders, targetedFields: readonly string[]): EffectiveCacheControl {
  for (const f of targetedFields) {
    const lines = getAll(headers, f)
    if (lines.length === 0) continue
    // RFC 8941 §4.2: multiple lines of one field are combined with a comma before parsing.
    const cc = parseTargetedField(lines.join(','))
    if (cc) return {cc, source: 'targeted', field: f.toLowerCase()}
  }
  return {cc: parseCacheControl(getAll(headers, 'cache-control')), source: 'cache-control'}
}
