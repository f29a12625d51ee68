/**
 * Header lists in Node's raw form: a flat array [name0, value0, name1, value1, ...].
 * This is what `IncomingMessage.rawHeaders` gives and what `ServerResponse.writeHead` accepts,
 * so stored responses replay with their original order, case and duplicates and no re-encoding.
 */
export type RawHeaders = string[]

/** First value of a field (case-insensitive name), or undefined. */
export function getHeader(h: readonly string[], name: string): string | undefined {
  const n = name.toLowerCase()
  for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() === n) return h[i + 1]
  return undefined
}

/** Every value of a field, in order (each raw line; not split on commas). */
export function getAll(h: readonly string[], name: string): string[] {
  const n = name.toLowerCase()
  const out: string[] = []
  for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() === n) out.push(h[i + 1]!)
  return out
}

/** All lines of a list-valued field joined with ", " (RFC 9110 §5.3), or undefined when absent. */
export function getJoined(h: readonly string[], name: string): string | undefined {
  const all = getAll(h, name)
  return all.length === 0 ? undefined : all.join(', ')
}

export function hasHeader(h: readonly string[], name: string): boolean {
  return getHeader(h, name) !== undefined
}

/** A copy without the named fields (names compared case-insensitively). */
export function withoutHeaders(h: readonly string[], names: ReadonlySet<string>): RawHeaders {
  const out: RawHeaders = []
  for (let i = 0; i < h.length; i += 2) {
    if (!names.has(h[i]!.toLowerCase())) out.push(h[i]!, h[i + 1]!)
  }
  return out
}

/** Replace every line of `name` with one line holding `value` (appended where the first one stood, else at the end). */
export function setHeader(h: RawHeaders, name: string, value: string): RawHeaders {
  const n = name.toLowerCase()
  const out: RawHeaders = []
  let placed = false
  for (let i = 0; i < h.length; i += 2) {
    if (h[i]!.toLowerCase() === n) {
      if (!placed) out.push(name, value)
      placed = true
    } else {
      out.push(h[i]!, h[i + 1]!)
    }
  }
  if (!placed) out.push(name, value)
  return out
}

/** Split comma-separated list members of a field (quoted strings kept whole), trimmed, empty members dropped. */
export function splitList(value: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (quoted) {
      cur += c
      if (c === '\\' && i + 1 < value.length) cur += value[++i]
      else if (c === '"') quoted = false
    } else if (c === '"') {
      quoted = true
      cur += c
    } else if (c === ',') {
      const t = cur.trim()
      if (t) out.push(t)
      cur = ''
    } else {
      cur += c
    }
  }
  const t = cur.trim()
  if (t) out.push(t)
  return out
}

/** Lower-cased names of the fields present (each once). */
export function headerNames(h: readonly string[]): Set<string> {
  const s = new Set<string>()
  for (let i = 0; i < h.length; i += 2) s.add(h[i]!.toLowerCase())
  return s
}
