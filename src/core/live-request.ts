// A leaf module: the admin protocol and the services both use this type.

/** One finished request, as the live request log (`tavern log --follow`) shows it. */
export interface LiveRequest {
  /** ms epoch. */
  time: number
  reqId: string
  client: string | undefined
  method: string
  host: string | undefined
  path: string
  status: number
  bytes: number
  durationMs: number
  /** The cache outcome (hit, miss, stale, revalidated, bypass, error; `…-collapsed` when it joined a fill). */
  cache: string
  /** The Cache-Status value sent: the decision and why (fwd=…, stored, detail=…). */
  cacheStatus: string | undefined
  key: string | undefined
  upstream: string | undefined
  upstreamMs: number | undefined
  userAgent: string | undefined
  referer: string | undefined
}
