import type {Readable} from 'node:stream'

import {errors, Pool} from 'undici'

import {type ErrorCode, TavernError} from '../../core/errors.js'
import type {OriginRequest, OriginResponse, Origins, UpstreamHealth} from '../../core/origin.js'
import {discardBody} from '../../util/discard.js'
import {getHeader, type RawHeaders} from '../../util/raw-headers.js'
import {AdmissionError, KeyConcurrency, type Release, Slots} from './key-concurrency.js'
import {checkContentLength, decodeTransferCodings, FramingError, hasResponseBody} from './response-framing.js'
import {resetGuardedClient} from './reset-guard.js'

export interface UpstreamTarget {
  url: string
  name?: string
  weight: number
}

export interface UpstreamOptions {
  connections: number
  connectTimeoutMs: number
  headersTimeoutMs: number
  bodyTimeoutMs: number
  keepAliveTimeoutMs: number
  failureCooldownMs: number
  /** Longest wait for a connection of an upstream, or for a cache key's share of them (then 503). */
  queueTimeoutMs: number
  /** Fraction of all the group's connections (`connections` per member) one cache key may use at once. */
  keyShare: number
  /** Requests one cache key may have waiting for its share. */
  keyQueue: number
  /** A body whose transfer coding decodes to more than this fails (decompression bomb). */
  maxDecodedBytes: number
  /**
   * TLS / HTTP/2 connect options per https:// member (origin-tls.ts originConnectOptions): the connector, allowH2,
   * and the server name every request is sent with. Unset or undefined for a member: plain undici defaults.
   */
  originConnect?: (url: string, name: string) => {connect: Pool.Options['connect']; allowH2: boolean; servername: string} | undefined
}

/**
 * Interim (1xx) responses: RFC 9110 §15.2 wants any number parsed, but each one restarts undici's headers timeout, so
 * a flood could hold a request forever. So: at most MAX_INTERIM of them, and the final head must still arrive within
 * headersTimeout of the FIRST one; only the first RELAY_INTERIM are passed on to the client.
 */
const MAX_INTERIM = 1024
const RELAY_INTERIM = 16
/** Bodies up to this size are read to the end when discarded, so their connection can be reused. */
const DRAIN_LIMIT = 64 * 1024

export type UpstreamResponse = OriginResponse
export type UpstreamRequest = OriginRequest

/** `hook`: an onOriginRequest / onOriginResponse hook failed (answered 500, like any failing hook). */
export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'unavailable' | 'aborted' | 'protocol' | 'busy' | 'hook'

const CODES: Record<UpstreamErrorKind, ErrorCode> = {
  connect: 'TAVERN_ERR_UPSTREAM_UNREACHABLE',
  unavailable: 'TAVERN_ERR_UPSTREAM_UNREACHABLE',
  timeout: 'TAVERN_ERR_UPSTREAM_TIMEOUT',
  reset: 'TAVERN_ERR_UPSTREAM_RESET',
  aborted: 'TAVERN_ERR_UPSTREAM_RESET',
  protocol: 'TAVERN_ERR_UPSTREAM_PROTOCOL',
  busy: 'TAVERN_ERR_UPSTREAM_BUSY',
  hook: 'TAVERN_ERR_HOOK',
}

/** Why an upstream exchange failed; its catalogue code gives the status a client sees (502, 503 or 504). */
export class UpstreamError extends TavernError {
  constructor(
    readonly kind: UpstreamErrorKind,
    message: string,
    readonly upstream?: string,
    /** For 'busy': seconds after which a retry may succeed. */
    readonly retryAfter?: number,
  ) {
    super(CODES[kind], message)
    this.name = 'UpstreamError'
  }

  /** Header lines that go with the error answer (Retry-After for 503, RFC 9110 §10.2.3). */
  get headers(): RawHeaders {
    return this.retryAfter === undefined ? [] : ['Retry-After', String(this.retryAfter)]
  }
}

/**
 * Get rid of an origin response body nobody will read: small ones (by Content-Length) are drained so the connection
 * is kept, others are destroyed. Always through discardBody (an 'error' listener first).
 */
export function discardResponse(up: Pick<UpstreamResponse, 'headers' | 'body'>): void {
  const cl = getHeader(up.headers, 'content-length')
  discardBody(up.body, cl !== undefined && /^\d+$/.test(cl.trim()) && Number(cl) <= DRAIN_LIMIT ? 'drain' : 'destroy')
}

export function classifyUpstreamError(err: unknown, upstream?: string): UpstreamError {
  if (err instanceof UpstreamError) return err
  if (err instanceof FramingError) return new UpstreamError('protocol', `upstream sent an invalid response (${err.message})`, upstream)
  const e = err as NodeJS.ErrnoException & {name?: string}
  const code = e.code ?? ''
  if (e.name === 'AbortError' || code === 'UND_ERR_ABORTED') return new UpstreamError('aborted', 'request aborted', upstream)
  if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError || err instanceof errors.ConnectTimeoutError || code === 'ETIMEDOUT')
    return new UpstreamError('timeout', `upstream timed out (${code || e.message})`, upstream)
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return new UpstreamError('connect', `cannot connect to upstream (${code})`, upstream)
  if (code === 'ECONNRESET' || code === 'EPIPE' || err instanceof errors.SocketError) return new UpstreamError('reset', `upstream closed the connection (${code || e.message})`, upstream)
  if (err instanceof errors.ResponseContentLengthMismatchError || err instanceof errors.HTTPParserError)
    return new UpstreamError('protocol', `upstream sent an invalid response (${e.message})`, upstream)
  return new UpstreamError('reset', `upstream failed: ${e.message}`, upstream)
}

/** One origin server behind its own connection pool. */
export class Upstream {
  readonly pool: Pool
  readonly origin: string
  readonly basePath: string
  readonly name: string
  readonly weight: number
  current = 0 // smooth weighted round-robin state
  inFlight = 0
  failures = 0
  downUntil = 0
  /** One slot per pool connection: a request waits here (bounded in time) rather than in undici's unbounded queue. */
  readonly slots: Slots
  /** TLS server name sent on every request (https:// members): the upstream's, never the client's Host. */
  readonly servername: string | undefined

  constructor(target: UpstreamTarget, opts: UpstreamOptions) {
    const u = new URL(target.url)
    this.origin = u.origin
    this.basePath = u.pathname.replace(/\/+$/, '')
    this.name = target.name ?? u.host
    this.weight = target.weight
    const tls = u.protocol === 'https:' ? opts.originConnect?.(target.url, this.name) : undefined
    this.servername = tls?.servername
    this.pool = new Pool(this.origin, {
      connections: opts.connections,
      connect: tls?.connect ?? {timeout: opts.connectTimeoutMs},
      allowH2: tls?.allowH2 ?? false,
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      // Requests are never retried or pipelined: a non-idempotent request must reach the origin at most once.
      pipelining: 1,
      // Close-delimited bodies cut by a connection reset fail instead of ending (see reset-guard.ts).
      factory: resetGuardedClient,
    })
    this.slots = new Slots(opts.connections, Number.MAX_SAFE_INTEGER)
  }
}

/** The upstream servers of one site: smooth weighted round-robin, skipping ones that recently refused connections. */
export class UpstreamGroup implements Origins {
  readonly members: Upstream[]
  private readonly keys: KeyConcurrency

  constructor(
    targets: UpstreamTarget[],
    private readonly opts: UpstreamOptions,
  ) {
    this.members = targets.map((t) => new Upstream(t, opts))
    // The share is of every connection the group has (a key's requests are balanced over the members).
    const total = opts.connections * Math.max(1, this.members.length)
    this.keys = new KeyConcurrency({perKey: Math.max(1, Math.floor(total * opts.keyShare)), queue: opts.keyQueue, timeoutMs: opts.queueTimeoutMs})
  }

  /** A 503 for a request that waited too long (or could not queue) for a connection. */
  private busy(e: AdmissionError, upstream?: string): UpstreamError {
    if (e.reason === 'aborted') return new UpstreamError('aborted', e.message, upstream)
    return new UpstreamError('busy', `upstream busy: ${e.message}`, upstream, Math.max(1, Math.ceil(this.opts.queueTimeoutMs / 1000)))
  }

  /** Wait for this key's share, then for a connection of `target`; the release frees both. */
  private async admit(req: UpstreamRequest, target: Upstream): Promise<Release> {
    let keyRelease: Release | undefined
    try {
      if (req.key !== undefined) keyRelease = await this.keys.acquire(req.key, req.signal)
      const conn = await target.slots.take(this.opts.queueTimeoutMs, `a connection to ${target.name}`, req.signal)
      return () => {
        conn()
        keyRelease?.()
      }
    } catch (error) {
      keyRelease?.()
      throw error instanceof AdmissionError ? this.busy(error, target.name) : error
    }
  }

  /** nginx-style smooth WRR over the members that are not cooling down (all of them when every one is). */
  pick(now = Date.now()): Upstream | undefined {
    if (this.members.length <= 1) return this.members[0]
    let candidates = this.members.filter((m) => m.downUntil <= now)
    if (candidates.length === 0) candidates = this.members
    let total = 0
    let best: Upstream | undefined
    for (const m of candidates) {
      m.current += m.weight
      total += m.weight
      if (!best || m.current > best.current) best = m
    }
    best!.current -= total
    return best
  }

  async request(req: UpstreamRequest, target = this.pick()): Promise<UpstreamResponse> {
    if (!target) throw new UpstreamError('unavailable', 'no upstream configured')
    const admitted = await this.admit(req, target)
    target.inFlight++
    let released = false
    const release = () => {
      if (!released) {
        released = true
        target.inFlight--
        admitted()
      }
    }
    // Our own signal, so a flood of interim responses (each one restarts undici's headers timeout) can be cut.
    const ac = new AbortController()
    const signal = req.signal ? AbortSignal.any([req.signal, ac.signal]) : ac.signal
    let interim = 0
    let headDeadline: NodeJS.Timeout | undefined
    try {
      const res = await target.pool.request({
        method: req.method,
        path: target.basePath + req.path,
        ...(target.servername === undefined ? {} : {servername: target.servername}),
        headers: req.headers,
        body: req.body,
        signal,
        responseHeaders: 'raw',
        onInfo: ({statusCode, headers}) => {
          if (++interim === 1) {
            headDeadline = setTimeout(() => ac.abort(new UpstreamError('timeout', `upstream sent interim responses for ${this.opts.headersTimeoutMs} ms without a final one`, target.name)), this.opts.headersTimeoutMs)
            headDeadline.unref()
          }
          if (interim > MAX_INTERIM) {
            ac.abort(new UpstreamError('protocol', `upstream sent more than ${MAX_INTERIM} interim responses`, target.name))
            return
          }
          if (interim > RELAY_INTERIM) return
          try {
            req.onInfo?.(statusCode, headers as unknown as string[])
          } catch {
            // Relaying an interim response is optional; one Node refuses to send must not fail the request.
          }
        },
      })
      clearTimeout(headDeadline)
      target.failures = 0
      // The slots are held until the exchange is over; a body that is already closed frees them now.
      if (res.body.closed) release()
      else res.body.once('close', release)
      const headers = res.headers as unknown as string[]
      let body: Readable = res.body
      if (hasResponseBody(req.method, res.statusCode)) {
        try {
          checkContentLength(headers)
          body = decodeTransferCodings(headers, res.body, this.opts.maxDecodedBytes)
        } catch (error) {
          // RFC 9112 §6.3: a response with broken framing is discarded and answered 502; its connection is closed.
          discardBody(res.body)
          throw error
        }
      }
      return {
        status: res.statusCode,
        statusText: (res as unknown as {statusText?: string}).statusText ?? '',
        headers,
        body,
        upstream: target.name,
      }
    } catch (error) {
      clearTimeout(headDeadline)
      release()
      const e = classifyUpstreamError(error, target.name)
      if (e.kind === 'connect' || (e.kind === 'timeout' && (error as {code?: string}).code === 'UND_ERR_CONNECT_TIMEOUT')) {
        target.failures++
        target.downUntil = Date.now() + this.opts.failureCooldownMs
      }
      throw e
    }
  }

  health(now = Date.now()): UpstreamHealth[] {
    return this.members.map((m) => ({name: m.name, url: m.origin + m.basePath, healthy: m.downUntil <= now, inFlight: m.inFlight, failures: m.failures}))
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.pool.close().catch(() => m.pool.destroy())))
  }
}
