/**
 * What the cache needs to decide about a stored response, computed once when it is stored
 * (or refreshed by a 304) so that a hit never re-parses Cache-Control or dates.
 * Times in seconds unless said otherwise.
 */
export interface StoredPolicy {
  /** Freshness lifetime (RFC 9111 §4.2.1); 0 means stale on arrival. */
  lifetime: number
  /** Which rule gave the lifetime (for inspect-key and debugging). */
  lifetimeSource: 'cache-control-target' | 's-maxage' | 'max-age' | 'expires' | 'heuristic' | 'default' | 'none' | 'invalid' | 'ttl' | 'forced-ttl'
  /** corrected_initial_age (RFC 9111 §4.2.3) at responseTime. */
  correctedInitialAge: number
  /** Response `no-cache` without field names: every reuse must be validated. */
  noCache: boolean
  /** `must-revalidate` or `proxy-revalidate` (or `s-maxage`, which implies proxy-revalidate for a shared cache). */
  mustRevalidate: boolean
  /** RFC 5861 windows from the response, seconds; undefined when absent. */
  staleWhileRevalidate?: number
  staleIfError?: number
  /** Validators copied from the stored headers. */
  etag?: string
  lastModified?: string
  /** Date header value, ms epoch, when valid. */
  date?: number
}
