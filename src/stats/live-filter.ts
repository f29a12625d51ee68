/**
 * Filters of the live request log (`tavern log --filter …`), checked in the daemon so unwanted lines never leave it.
 * A filter is `FIELD OP VALUE`:
 *   status   =  !=  <  <=  >  >=   a number (`status>=500`), or a class (`status=5xx`)
 *   host, cache, method, path, client, upstream, key
 *            =  !=  (equal, case-insensitive for host/cache/method)  ~ (contains)  ^= (starts with)
 * Several filters must all match.
 */
import type {LiveRequest} from '../core/services.js'

export type LiveFilter = (e: LiveRequest) => boolean

const STRING_FIELDS = ['host', 'cache', 'method', 'path', 'client', 'upstream', 'key'] as const
type StringField = (typeof STRING_FIELDS)[number]
const FOLDED: ReadonlySet<string> = new Set(['host', 'cache', 'method'])

export class LiveFilterError extends Error {}

export function parseLiveFilter(text: string): LiveFilter {
  const m = /^\s*([a-z_]+)\s*(>=|<=|!=|\^=|=|<|>|~)\s*(.*?)\s*$/.exec(text)
  if (!m) throw new LiveFilterError(`filter ${JSON.stringify(text)}: expected FIELD OP VALUE, e.g. status>=500, host=example.com, cache=miss, path^=/static/`)
  const [, field, op, value] = m as unknown as [string, string, string, string]
  if (field === 'status') {
    const cls = /^([1-5])xx$/i.exec(value)
    if (cls) {
      if (op !== '=' && op !== '!=') throw new LiveFilterError(`filter ${JSON.stringify(text)}: a status class takes = or !=`)
      const c = Number(cls[1])
      return op === '=' ? (e) => Math.floor(e.status / 100) === c : (e) => Math.floor(e.status / 100) !== c
    }
    if (!/^\d{3}$/.test(value)) throw new LiveFilterError(`filter ${JSON.stringify(text)}: status needs a 3-digit number or a class like 5xx`)
    const n = Number(value)
    switch (op) {
      case '=':
        return (e) => e.status === n
      case '!=':
        return (e) => e.status !== n
      case '<':
        return (e) => e.status < n
      case '<=':
        return (e) => e.status <= n
      case '>':
        return (e) => e.status > n
      case '>=':
        return (e) => e.status >= n
      default:
        throw new LiveFilterError(`filter ${JSON.stringify(text)}: status takes = != < <= > >=`)
    }
  }
  if (!(STRING_FIELDS as readonly string[]).includes(field)) {
    throw new LiveFilterError(`filter ${JSON.stringify(text)}: unknown field ${JSON.stringify(field)} (status, ${STRING_FIELDS.join(', ')})`)
  }
  const f = field as StringField
  const fold = FOLDED.has(f)
  const want = fold ? value.toLowerCase() : value
  const get = (e: LiveRequest): string => {
    const v = e[f] ?? ''
    return fold ? v.toLowerCase() : v
  }
  switch (op) {
    case '=':
      return (e) => get(e) === want
    case '!=':
      return (e) => get(e) !== want
    case '~':
      return (e) => get(e).includes(want)
    case '^=':
      return (e) => get(e).startsWith(want)
    default:
      throw new LiveFilterError(`filter ${JSON.stringify(text)}: ${f} takes = != ~ ^=`)
  }
}

/** All filters must match (none: everything matches). */
export function parseLiveFilters(texts: readonly string[]): LiveFilter {
  const fs = texts.map(parseLiveFilter)
  return fs.length === 0 ? () => true : (e) => fs.every((f) => f(e))
}
