/**
 * The origin-call contract: what every request to an origin carries and what comes back, and the interceptor type
 * that wraps behaviour around the call (retries, circuit breaking, peer routing…), in the style of undici's
 * `Dispatcher.compose` but on our own typed request/response (undici's interceptor handlers parse header lists into
 * objects and merge repeated fields, e.g. several Set-Cookie lines into one). Types only.
 */
import type {Readable} from 'node:stream'

import type {RawHeaders} from '../util/raw-headers.js'

/** Why Tavern asks an origin: a cache fill, a revalidation, a slice of a partial object, an uncached relay… */
export type OriginReason = 'fill' | 'revalidate' | 'slice' | 'pass' | 'bypass' | 'refresh' | 'prefetch'

export interface OriginRequest {
  method: string
  /** origin-form request target (path + query), normalised by admission. */
  path: string
  /** Header lines to send (hop-by-hop removed, forwarding fields added); interceptors and hooks may change them. */
  headers: RawHeaders
  body: Readable | null
  signal?: AbortSignal
  /** Interim (1xx) responses, e.g. 103 Early Hints. */
  onInfo?: (status: number, headers: RawHeaders) => void
  /** Cache key the request is for: bounds how many upstream connections one URL may hold. */
  key?: string
  reason: OriginReason
  /** The method is idempotent (RFC 9110 §9.2.2): sending it twice does no more harm than once. */
  idempotent: boolean
  /** The request can be sent again as it is (no streamed client body that was already consumed). */
  replayable: boolean
}

export interface OriginResponse {
  status: number
  statusText: string
  /** Raw header lines as received (order, case and repeats kept). */
  headers: RawHeaders
  body: Readable
  /** Name of the upstream that answered. */
  upstream: string
}

export interface UpstreamHealth {
  name: string
  url: string
  /** Available for traffic: healthy, not ejected, breaker admitting, not cooling down after a refused connect. */
  healthy: boolean
  inFlight: number
  failures: number
  /** The group the member belongs to ("default": the top-level `upstreams`). */
  group?: string
  backup?: boolean
  /** Active health check verdict (true without checks). */
  probeUp?: boolean
  /** Ejected by passive outlier detection (until when, ms since the epoch; how often since start). */
  ejected?: boolean
  ejectedUntil?: number
  ejections?: number
  /** Circuit breaker (absent when disabled): state, since when (ms epoch), failure rate over its window, times opened. */
  breaker?: {state: 'closed' | 'open' | 'half-open' | 'ramp-up'; since?: number; failureRate?: number; opened?: number}
  /** Peak EWMA of the latency (ms). */
  ewmaMs?: number
}

/** A group of origin servers behind their connection pools (today: `upstreams` of the config). */
export interface Origins {
  request(req: OriginRequest): Promise<OriginResponse>
  health(): UpstreamHealth[]
  close(): Promise<void>
}

/** What an interceptor knows about the call besides the request. */
export interface OriginCallContext {
  /** The group the request goes to (the route's). */
  readonly origins: Origins
  /** Request id of the client request this call serves (for logs). */
  readonly requestId: string
  /** The client request this call serves (its hook context), for interceptors that count per client. */
  readonly client?: OriginClient
}

/** What an interceptor sees of the client request behind an origin call (a subset of the hook context). */
export interface OriginClient {
  readonly method: string
  readonly target: string
  readonly headers: readonly string[]
  readonly client: string | undefined
  readonly clientIp: string | undefined
  readonly route: {readonly site: string | undefined} | undefined
  readonly signal: AbortSignal
}

export type OriginCall = (req: OriginRequest, octx: OriginCallContext) => Promise<OriginResponse>
export type OriginInterceptor = (next: OriginCall) => OriginCall
