/**
 * Header value templates: literal text with variables ($host, ${host}, $$ for a literal $), compiled once per config
 * into parts so a request only concatenates (variables resolved by index, no regex per request).
 */

/** The variables, by index (the order of VARIABLES is the index a compiled part refers to). */
export const VARIABLES = ['host', 'path', 'remote_addr', 'request_id', 'cache_status', 'upstream'] as const
export type VariableName = (typeof VARIABLES)[number]

/** A compiled template: literal strings and variable indexes. */
export type Template = ReadonlyArray<string | number>

const NAME_START = /[a-z_]/
const NAME_CHAR = /[a-z0-9_]/

/** Compile `value`, or say what is wrong with it. `allowed` are the variables known where the rule runs. */
export function compileTemplate(value: string, allowed: ReadonlySet<VariableName>, stage: string): {template: Template} | {error: string} {
  if (/[\r\n\0]/.test(value)) return {error: 'a header value cannot contain CR, LF or NUL'}
  const parts: Array<string | number> = []
  let lit = ''
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!
    if (ch !== '$') {
      lit += ch
      continue
    }
    const next = value[i + 1]
    if (next === '$') {
      lit += '$'
      i++
      continue
    }
    let name: string
    if (next === '{') {
      const end = value.indexOf('}', i + 2)
      if (end < 0) return {error: `unclosed \${ at ${i} (write $$ for a literal $)`}
      name = value.slice(i + 2, end)
      i = end
    } else if (next !== undefined && NAME_START.test(next)) {
      let j = i + 1
      while (j < value.length && NAME_CHAR.test(value[j]!)) j++
      name = value.slice(i + 1, j)
      i = j - 1
    } else return {error: `a lone $ at ${i} (write $$ for a literal $)`}
    const idx = VARIABLES.indexOf(name as VariableName)
    if (idx < 0) return {error: `unknown variable $${name} (known: ${VARIABLES.map((v) => `$${v}`).join(', ')})`}
    if (!allowed.has(name as VariableName)) return {error: `$${name} is not known yet in ${stage}`}
    if (lit) parts.push(lit)
    lit = ''
    parts.push(idx)
  }
  if (lit || parts.length === 0) parts.push(lit)
  return {template: parts}
}

/** A variable's value for one request, by index into VARIABLES (undefined: not known, e.g. $upstream on a hit). */
export type VariableLookup = (index: number) => string | undefined

/** The template's value for one request; a variable without a value is empty. */
export function expand(t: Template, vars: VariableLookup): string {
  if (t.length === 1 && typeof t[0] === 'string') return t[0]
  let s = ''
  for (const p of t) s += typeof p === 'string' ? p : (vars(p) ?? '')
  return s
}

/** The template has no variables. */
export function isConstant(t: Template): boolean {
  return t.length === 1 && typeof t[0] === 'string'
}
