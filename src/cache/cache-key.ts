/**
 * Cache keys: normalised absolute URLs (`scheme://host[:port]/path?query`). Keys sort by host then path,
 * so a directory purge is a prefix range scan.
 *
 * Two kinds of rewriting happen here, and they must not be confused:
 * - URI equivalences (RFC 3986 §6.2.2): case of scheme, host and percent-escape hex, unreserved escapes decoded,
 *   dot-segments removed, default port dropped. The target sent upstream gets these too (normalizeTarget), so the
 *   origin is asked for exactly the resource the key names.
 * - Cache policy (`cache.query`, `ignoreParams`): which distinct URLs share one stored object. Key only; the origin
 *   still gets the query it was sent.
 */

export interface KeyInput {
  scheme: 'http' | 'https'
  /** Host header / authority, possibly with a port. */
  host: string
  /** Raw request-target in origin-form: path plus optional query. */
  path: string
}

export interface KeyOptions {
  query: 'keep' | 'sort' | 'ignore'
  /** Query parameter names to drop (exact, after percent-encoding normalisation), e.g. utm_source. */
  ignoreParams?: readonly string[]
}

const DEFAULT_PORT: Record<KeyInput['scheme'], string> = {http: '80', https: '443'}

/** A usable Host / authority: reg-name (letters, digits, `-._`) or a bracketed IP literal, optional port. */
const AUTHORITY = /^[\w.-]+(:\d{0,5})?$|^\[[\da-fA-F:.]+\](:\d{0,5})?$/

/** Whether a Host field value or URI authority (no userinfo) is one Tavern accepts (a port, if any, up to 65535). */
export function isValidAuthority(host: string): boolean {
  const m = AUTHORITY.exec(host)
  if (!m) return false
  const port = m[1] ?? m[2]
  return port === undefined || port.length < 6 || Number(port.slice(1)) <= 65_535
}

/** Lower-case the host and drop the scheme's default port; keeps IPv6 brackets. */
export function normalizeAuthority(scheme: KeyInput['scheme'], host: string): string {
  const h = host.trim().toLowerCase()
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(h)
  if (!m) return h
  const name = m[1]!
  const port = m[2]
  // An empty port ("host:") is equivalent to the default (RFC 3986 §6.2.3).
  if (port === undefined || port === '' || port.replace(/^0+(?=\d)/, '') === DEFAULT_PORT[scheme]) return name
  return `${name}:${port.replace(/^0+(?=\d)/, '')}`
}

const UNRESERVED = /[A-Za-z0-9\-._~]/

/**
 * RFC 3986 §6.2.2.1-2: hex digits of percent-escapes in upper case, and escapes of unreserved
 * characters decoded. Nothing else is decoded, so reserved meaning (e.g. %2F) is preserved.
 */
export function normalizePercentEncoding(s: string): string {
  if (s.indexOf('%') < 0) return s
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16))
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`
  })
}

const DOT_SEGMENT = /\/\.\.?(?:\/|$)/

/** RFC 3986 §5.2.4 remove_dot_segments for an absolute path (`/a/./b/../c` → `/a/c`; `/..` → `/`). */
export function removeDotSegments(path: string): string {
  if (!DOT_SEGMENT.test(path)) return path
  const segs = path.split('/')
  const out: string[] = []
  const last = segs.length - 1
  for (let i = 1; i <= last; i++) {
    const s = segs[i]!
    if (s === '.' || s === '..') {
      if (s === '..') out.pop()
      // A trailing dot-segment leaves its directory: `/a/b/..` → `/a/`.
      if (i === last) out.push('')
    } else out.push(s)
  }
  return '/' + out.join('/')
}

/**
 * Characters that cannot occur in a request-target as it arrives (space, controls, non-ASCII): operators may type them
 * in a URL, and a client would have sent them percent-encoded (UTF-8), so they are encoded the same way.
 */
const NOT_IN_TARGET = /[^\x21-\x7e]/

function encodeOutsideTarget(s: string): string {
  if (!NOT_IN_TARGET.test(s)) return s
  let out = ''
  for (const ch of s) {
    if (!NOT_IN_TARGET.test(ch)) out += ch
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** An origin-form target after the URI equivalences: what is sent upstream and what the key is built from. */
export interface NormalizedTarget {
  /** Absolute path: percent-encoding and dot-segments normalised. */
  path: string
  /** Query without `?`, percent-encoding normalised; '' when absent or empty. */
  query: string
}

/** Normalise an origin-form target (`/path?query`, fragment dropped) by RFC 3986 §6.2.2 only: no cache policy. */
export function normalizeTarget(target: string): NormalizedTarget {
  let t = encodeOutsideTarget(target)
  const hash = t.indexOf('#')
  if (hash >= 0) t = t.slice(0, hash)
  const q = t.indexOf('?')
  let path = q < 0 ? t : t.slice(0, q)
  if (!path.startsWith('/')) path = '/' + path
  // Unreserved escapes first: `%2e%2e` is a dot-segment too (RFC 3986 §6.2.2 order).
  path = removeDotSegments(normalizePercentEncoding(path))
  return {path, query: q < 0 ? '' : normalizePercentEncoding(t.slice(q + 1))}
}

/** The origin-form string of a normalised target (an empty query is dropped, as in the key). */
export function originForm(t: NormalizedTarget): string {
  return t.query ? `${t.path}?${t.query}` : t.path
}

function paramName(p: string): string {
  const eq = p.indexOf('=')
  return eq < 0 ? p : p.slice(0, eq)
}

/** The key's query under the cache policy; `query` is already percent-normalised. */
export function keyQuery(query: string, opts: KeyOptions): string {
  if (opts.query === 'ignore' || query === '') return ''
  if (opts.query === 'keep' && !opts.ignoreParams?.length) return query
  const drop = new Set((opts.ignoreParams ?? []).map(normalizePercentEncoding))
  let params = query.split('&')
  params = params.filter((p) => p !== '' && !drop.has(paramName(p)))
  if (opts.query === 'sort') {
    // Stable by name only, so repeated names keep their relative order (a=2&a=1 stays distinct from a=1&a=2).
    params = params
      .map((p, i) => ({p, i, n: paramName(p)}))
      .sort((a, b) => (a.n < b.n ? -1 : a.n > b.n ? 1 : a.i - b.i))
      .map((x) => x.p)
  }
  return params.join('&')
}

/** The key of a normalised target under an authority and the cache policy. */
export function keyOf(scheme: KeyInput['scheme'], host: string, target: NormalizedTarget, opts: KeyOptions): string {
  const query = keyQuery(target.query, opts)
  return `${scheme}://${normalizeAuthority(scheme, host)}${target.path}${query ? '?' + query : ''}`
}

/**
 * A key from its parts: `scheme://host/path?query`, then each extra part after a `#` (a fragment never occurs in a
 * request's key, so these keys are distinct; the URL part stays a prefix, so a directory purge reaches them). `#`,
 * `%` and controls in an extra part are percent-encoded.
 */
export function keyFromParts(p: {scheme: string; host: string; path: string; query: string; extra: readonly string[]}): string {
  return appendKeyParts(`${p.scheme}://${p.host}${p.path}${p.query ? '?' + p.query : ''}`, p.extra)
}

/** A URL key with extra parts appended as keyFromParts does. */
export function appendKeyParts(key: string, extra: readonly string[]): string {
  for (const x of extra) key += '#' + x.replace(/[#%\x00-\x1f\x7f]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)
  return key
}

export function cacheKey(input: KeyInput, opts: KeyOptions): string {
  return keyOf(input.scheme.toLowerCase() as KeyInput['scheme'], input.host, normalizeTarget(input.path), opts)
}

/** An absolute http(s) URI split into its parts (nothing normalised yet). */
export interface AbsoluteUri {
  scheme: KeyInput['scheme']
  /** Whether the authority carried `userinfo@` (dropped from `authority`). */
  userinfo: boolean
  /** host[:port] as written. */
  authority: string
  /** Path and query (and any fragment) as written; '/' when the URI has no path. */
  rest: string
}

/** Split `http://authority/rest` (scheme case-insensitive); undefined for anything else (other schemes, origin-form). */
export function parseAbsoluteUri(uri: string): AbsoluteUri | undefined {
  const m = /^(https?):\/\/([^/?#]*)(.*)$/is.exec(uri)
  if (!m) return undefined
  const at = m[2]!.lastIndexOf('@')
  const rest = m[3]!
  return {
    scheme: m[1]!.toLowerCase() as KeyInput['scheme'],
    userinfo: at >= 0,
    authority: m[2]!.slice(at + 1),
    rest: rest.startsWith('/') ? rest : '/' + rest,
  }
}

/**
 * Split an absolute-form request-target (`GET http://host/x HTTP/1.1`) into key input; undefined for origin-form,
 * other schemes and an empty authority. Userinfo is dropped: it is not part of the resource's identity.
 */
export function absoluteFormTarget(target: string): KeyInput | undefined {
  const u = parseAbsoluteUri(target)
  if (!u || u.authority === '') return undefined
  const hash = u.rest.indexOf('#')
  return {scheme: u.scheme, host: u.authority, path: hash < 0 ? u.rest : u.rest.slice(0, hash)}
}

/**
 * Key prefix for a directory purge. Always ends in '/', so `/static` cannot match `/static-old`.
 * Accepts an absolute URL (`http://host/static`) or {host, pathPrefix} (scheme defaults to http).
 */
export function keyPrefixForDir(dir: string | {host: string; pathPrefix: string; scheme?: 'http' | 'https'}): string {
  let input: KeyInput
  if (typeof dir === 'string') {
    const t = absoluteFormTarget(dir)
    if (!t) throw new TypeError(`directory must be an absolute http(s) URL: ${dir}`)
    input = t
  } else {
    input = {scheme: dir.scheme ?? 'http', host: dir.host, path: dir.pathPrefix}
  }
  const key = cacheKey(input, {query: 'ignore'})
  return key.endsWith('/') ? key : key + '/'
}
