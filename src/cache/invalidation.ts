/**
 * Invalidation after unsafe methods (RFC 9111 §4.4).
 */
import {getHeader, type RawHeaders} from '../util/raw-headers.js'

const SAFE: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

export function isSafeMethod(method: string): boolean {
  return SAFE.has(method)
}

function resolve(ref: string | undefined, base: URL): URL | undefined {
  if (ref === undefined || ref.trim() === '') return undefined
  try {
    return new URL(ref.trim(), base)
  } catch {
    return undefined
  }
}

function withoutFragment(u: URL): string {
  const c = new URL(u.href)
  c.hash = ''
  return c.href
}

/**
 * Absolute URLs whose stored responses must be invalidated: the target URI, plus Location and
 * Content-Location when they share its origin (§4.4: other origins could be used to attack us).
 * Empty for safe methods and for error (non-2xx/3xx) responses.
 */
export function invalidationTargets(method: string, status: number, requestUrl: URL, resHeaders: RawHeaders): string[] {
  if (isSafeMethod(method) || status < 200 || status > 399) return []
  const out = new Set<string>([withoutFragment(requestUrl)])
  for (const field of ['location', 'content-location']) {
    const u = resolve(getHeader(resHeaders, field), requestUrl)
    // URL.origin already folds case and default ports, so http://H:80 and http://h agree.
    if (u && u.origin === requestUrl.origin && u.origin !== 'null') out.add(withoutFragment(u))
  }
  return [...out]
}
