/**
 * Cache keys: normalised absolute URLs (`scheme://host[:port]/path?query`). Keys sort by host then path,
 * so a directory purge is a prefix range scan.
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

/**
 * RFC 3986 §6.2.2.1-2: hex digits of percent-escapes in upper case, and escapes of unreserved
 * characters decoded. Nothing else is decoded, so reserved meaning (e.g. %2F) is preserved.
 */
export function normalizePercentEncoding(s: string): string {
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16))
    return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${hex.toUpperCase()}`
  })
}

function paramName(p: string): string {
  const eq = p.indexOf('=')
  return eq < 0 ? p : p.slice(0, eq)
}

function normalizeQuery(query: string, opts: KeyOptions): string {
  if (opts.query === 'ignore') return ''
  const drop = new Set((opts.ignoreParams ?? []).map(normalizePercentEncoding))
  let params = normalizePercentEncoding(query).split('&')
  if (drop.size > 0 || opts.query === 'sort') params = params.filter((p) => p !== '' && !drop.has(paramName(p)))
  if (opts.query === 'sort') {
    // Stable by name only, so repeated names keep their relative order (a=2&a=1 stays distinct from a=1&a=2).
    params = params
      .map((p, i) => ({p, i, n: paramName(p)}))
      .sort((a, b) => (a.n < b.n ? -1 : a.n > b.n ? 1 : a.i - b.i))
      .map((x) => x.p)
  }
  return params.join('&')
}

export function cacheKey(input: KeyInput, opts: KeyOptions): string {
  let target = input.path
  const hash = target.indexOf('#')
  if (hash >= 0) target = target.slice(0, hash)
  const q = target.indexOf('?')
  let path = q < 0 ? target : target.slice(0, q)
  const query = q < 0 ? '' : normalizeQuery(target.slice(q + 1), opts)
  if (!path.startsWith('/')) path = '/' + path
  const scheme = input.scheme.toLowerCase() as KeyInput['scheme']
  return `${scheme}://${normalizeAuthority(scheme, input.host)}${normalizePercentEncoding(path)}${query ? '?' + query : ''}`
}

/**
 * Split an absolute-form request-target (`GET http://host/x HTTP/1.1`) into key input; undefined for origin-form.
 * Userinfo is dropped: it is not part of the resource's identity.
 */
export function absoluteFormTarget(target: string): KeyInput | undefined {
  const m = /^(https?):\/\/([^/?#]*)([^#]*)/i.exec(target)
  if (!m) return undefined
  const authority = m[2]!.slice(m[2]!.lastIndexOf('@') + 1)
  if (authority === '') return undefined
  const rest = m[3]!
  return {scheme: m[1]!.toLowerCase() as KeyInput['scheme'], host: authority, path: rest.startsWith('/') ? rest : '/' + rest}
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
