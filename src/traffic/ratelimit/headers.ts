/**
 * RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers, structured-field lists):
 *   RateLimit-Policy: "api";q=100;w=60
 *   RateLimit: "api";r=50;t=30
 * q = quota (requests per window), w = window (s), r = remaining quota units, t = seconds until the quota is back.
 * Policy names are validated at config time to be safe inside an sf-string (printable ASCII, no `"` or `\`).
 */
export interface PolicyState {
  name: string
  limit: number
  windowMs: number
  remaining: number
  resetMs: number
}

export function policyItem(p: Pick<PolicyState, 'name' | 'limit' | 'windowMs'>): string {
  return `"${p.name}";q=${Math.floor(p.limit)};w=${Math.max(1, Math.ceil(p.windowMs / 1000))}`
}

export function stateItem(p: Pick<PolicyState, 'name' | 'remaining' | 'resetMs'>): string {
  return `"${p.name}";r=${Math.max(0, Math.floor(p.remaining))};t=${Math.max(0, Math.ceil(p.resetMs / 1000))}`
}

/** Retry-After in whole seconds (RFC 9110 §10.2.3), at least 1 for any wait. */
export function retryAfterSeconds(ms: number): number {
  return ms <= 0 ? 0 : Math.max(1, Math.ceil(ms / 1000))
}

/** The header lines for the policies a request was counted under (empty list → none). */
export function rateLimitHeaders(states: readonly PolicyState[]): string[] {
  if (states.length === 0) return []
  return ['RateLimit-Policy', states.map(policyItem).join(', '), 'RateLimit', states.map(stateItem).join(', ')]
}
