import type {Readable} from 'node:stream'

import {errors, Pool} from 'undici'

import type {BackgroundRunner} from '../../core/background.js'
import {type ErrorCode, TavernError} from '../../core/errors.js'
import type {OriginRequest, OriginResponse, Origins, UpstreamHealth} from '../../core/origin.js'
import {discardBody} from '../../util/discard.js'
import {getHeader, type RawHeaders} from '../../util/raw-headers.js'
import {balanceKey} from './balance/index.js'
import {toOriginTimeouts, type UpstreamResilience, UpstreamResilienceConfig} from './config.js'
import {GroupResilience, NoMemberError, type ResilienceEvent} from './group-resilience.js'
import type {AttemptResult} from './retry.js'
import {type OriginTimeouts, totalDeadline} from './timeouts.js'
import {AdmissionError, KeyConcurrency, type Release, Slots} from './key-concurrency.js'
import {checkContentLength, decodeTransferCodings, FramingError, hasResponseBody} from './response-framing.js'
import {resetGuardedClient} from './reset-guard.js'

export interface UpstreamTarget {
  url: string
  name?: string
  weight: number
  /** Used only while no primary member is available. */
  backup?: boolean
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
  /** Balancing, health checks, outlier ejection, breakers, retries, timeouts (default: the config defaults). */
  resilience?: UpstreamResilience
  /**
   * TLS / HTTP/2 connect options per https:// member (origin-tls.ts originConnectOptions): the connector, allowH2,
   * and the server name every request is sent with. Unset or undefined for a member: plain undici defaults.
   */
  originConnect?: (url: string, name: string) => {connect: Pool.Options['connect']; allowH2: boolean; servername: string} | undefined
}

/** What a group reports to (logs of state changes) and runs its health checks on. */
export interface UpstreamGroupDeps {
  /** The group's name in logs, metrics and status ("default" for the top-level `upstreams`). */
  name?: string
  background?: BackgroundRunner
  log?: {info(obj: object, msg: string): void; warn(obj: object, msg: string): void; debug(obj: object, msg: string): void}
}

const DEFAULT_RESILIENCE: UpstreamResilience = UpstreamResilienceConfig.parse(undefined)

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
/** `down`: no member of the group is available (unhealthy, ejected, breaker open): 503 with Retry-After. */
/** `limited`: a rate limit for requests that need the origin (exemptCacheHits) refused it: 429. */
/** `tls`: the origin's certificate did not verify (issuer, name, dates): 502, never retried. */
export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'unavailable' | 'aborted' | 'protocol' | 'busy' | 'hook' | 'down' | 'limited' | 'tls'

const CODES: Record<UpstreamErrorKind, ErrorCode> = {
  connect: 'TAVERN_ERR_UPSTREAM_UNREACHABLE',
  unavailable: 'TAVERN_ERR_UPSTREAM_UNREACHABLE',
  timeout: 'TAVERN_ERR_UPSTREAM_TIMEOUT',
  reset: 'TAVERN_ERR_UPSTREAM_RESET',
  aborted: 'TAVERN_ERR_UPSTREAM_RESET',
  protocol: 'TAVERN_ERR_UPSTREAM_PROTOCOL',
  busy: 'TAVERN_ERR_UPSTREAM_BUSY',
  hook: 'TAVERN_ERR_HOOK',
  down: 'TAVERN_ERR_NO_UPSTREAM_AVAILABLE',
  limited: 'TAVERN_ERR_RATE_LIMITED',
  tls: 'TAVERN_ERR_UPSTREAM_TLS',
}

/** OpenSSL / Node codes of a certificate that did not verify (X509_V_ERR_* names, and Node's name check). */
const CERT_ERROR = /^(ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT(_LOCALLY)?|VERIFY_LEAF_SIGNATURE|DECRYPT_CERT_SIGNATURE|DECODE_ISSUER_PUBLIC_KEY)|CERT_[A-Z_]+|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED)$/

/** Why an upstream exchange failed; its catalogue code gives the status a client sees (502, 503 or 504). */
export class UpstreamError extends TavernError {
  constructor(
    readonly kind: UpstreamErrorKind,
    message: string,
    readonly upstream?: string,
    /** For 'busy' and 'down': seconds after which a retry may succeed. */
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
  if (CERT_ERROR.test(code)) return new UpstreamError('tls', `the origin's certificate did not verify (${code}: ${e.message})`, upstream)
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
  inFlight = 0
  failures = 0
  downUntil = 0
  /** One slot per pool connection: a request waits here (bounded in time) rather than in undici's unbounded queue. */
  readonly slots: Slots
  /** TLS server name sent on every request (https:// members): the upstream's, never the client's Host. */
  readonly servername: string | undefined

  readonly backup: boolean

  constructor(target: UpstreamTarget, opts: UpstreamOptions, timeouts: OriginTimeouts, name?: string) {
    const u = new URL(target.url)
    this.origin = u.origin
    this.basePath = u.pathname.replace(/\/+$/, '')
    this.name = name ?? target.name ?? u.host
    this.weight = target.weight
    this.backup = target.backup === true
    const tls = u.protocol === 'https:' ? opts.originConnect?.(target.url, this.name) : undefined
    this.servername = tls?.servername
    this.pool = new Pool(this.origin, {
      connections: opts.connections,
      connect: tls?.connect ?? {timeout: timeouts.connectMs},
      allowH2: tls?.allowH2 ?? false,
      headersTimeout: timeouts.ttfbMs,
      bodyTimeout: timeouts.bodyIdleMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      // Requests are never retried or pipelined: a non-idempotent request must reach the origin at most once.
      pipelining: 1,
      // Close-delimited bodies cut by a connection reset fail instead of ending (see reset-guard.ts).
      factory: resetGuardedClient,
    })
    this.slots = new Slots(opts.connections, Number.MAX_SAFE_INTEGER)
  }
}

/**
 * The upstream servers of one site (or one named group): each try goes to the member the group's resilience chooses
 * (balancing over the available members: healthy, not ejected, breaker admitting; backups only when no primary is),
 * and a failed try is sent again to another member as the retry policy and budget allow (group-resilience.ts). A
 * member that refused a connection is passed over for `failureCooldown` while another can take its requests.
 */
export class UpstreamGroup implements Origins {
  readonly name: string
  readonly members: Upstream[]
  readonly resilience: GroupResilience
  private readonly byName = new Map<string, Upstream>()
  private readonly keys: KeyConcurrency
  private readonly timeouts: OriginTimeouts
  private readonly config: UpstreamResilience
  private stopped: Promise<void> | undefined

  constructor(
    targets: readonly UpstreamTarget[],
    private readonly opts: UpstreamOptions,
    deps: UpstreamGroupDeps = {},
  ) {
    this.name = deps.name ?? 'default'
    this.config = opts.resilience ?? DEFAULT_RESILIENCE
    this.timeouts = toOriginTimeouts(this.config.timeouts, {connectMs: opts.connectTimeoutMs, ttfbMs: opts.headersTimeoutMs, bodyIdleMs: opts.bodyTimeoutMs})
    this.members = targets.map((t) => {
      // Names key the members' state: two entries for the same host:port get distinct ones.
      let name = t.name ?? new URL(t.url).host
      for (let n = 2; this.byName.has(name); n++) name = `${t.name ?? new URL(t.url).host}#${n}`
      const m = new Upstream(t, opts, this.timeouts, name)
      this.byName.set(name, m)
      return m
    })
    // The share is of every connection the group has (a key's requests are balanced over the members).
    const total = opts.connections * Math.max(1, this.members.length)
    this.keys = new KeyConcurrency({perKey: Math.max(1, Math.floor(total * opts.keyShare)), queue: opts.keyQueue, timeoutMs: opts.queueTimeoutMs})
    const log = deps.log
    this.resilience = new GroupResilience(
      this.members.map((m) => ({name: m.name, url: m.origin + m.basePath, weight: m.weight, backup: m.backup})),
      this.config,
      {background: deps.background, onEvent: log ? (e) => logEvent(log, this.name, e) : undefined},
    )
    this.resilience.start()
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

  /** What consistent hashing hashes for this request (the cache key, or a header / cookie as configured). */
  private hashKey(req: UpstreamRequest): string | undefined {
    if (this.config.balance.algorithm !== 'consistent-hash') return undefined
    return balanceKey(this.config.balance.hashKey, {cacheKey: req.key ?? req.path, headers: req.headers})
  }

  /**
   * Send `req` through the group: a member chosen by the balancer, retried on another one as the policy allows.
   * No member available → UpstreamError 'down' (503 + Retry-After): the caller may answer from grace instead
   * (the grace/stale-on-error policy checks `error.kind === 'down'`, code TAVERN_ERR_NO_UPSTREAM_AVAILABLE).
   */
  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.members.length === 0) throw new UpstreamError('unavailable', 'no upstream configured')
    try {
      return await this.resilience.execute(
        {method: req.method, replayable: req.replayable && req.body === null, hashKey: this.hashKey(req), signal: req.signal},
        (member) => this.attempt(req, this.byName.get(member)!),
        (res) => discardResponse(res),
      )
    } catch (error) {
      if (error instanceof NoMemberError) {
        throw new UpstreamError('down', `no upstream of group ${this.name} is available (all unhealthy, ejected or open)`, undefined, Math.max(1, Math.ceil(error.retryAfterMs / 1000)))
      }
      throw error
    }
  }

  /** One try on `target`: resolves with the answer head, or with the failure kind the retry policy and breaker judge. */
  private async attempt(req: UpstreamRequest, target: Upstream): Promise<AttemptResult<UpstreamResponse>> {
    try {
      const res = await this.send(req, target)
      return {response: res, status: res.status}
    } catch (error) {
      const e = error as UpstreamError
      // The client went away, a hook failed, or our own queue was full: nothing to learn about the member, no retry.
      if (e.kind === 'aborted' || e.kind === 'hook' || e.kind === 'busy') throw e
      if (e.kind === 'connect' || e.kind === 'timeout' || e.kind === 'reset') return {error: e, kind: e.kind}
      return {error: e, kind: 'other'}
    }
  }

  /** Send one try to `target` (its pool, its connection slots, the total deadline). Throws an UpstreamError. */
  async send(req: UpstreamRequest, target: Upstream): Promise<UpstreamResponse> {
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
    const deadline = totalDeadline(this.timeouts, req.signal)
    const signal = deadline.signal ? AbortSignal.any([deadline.signal, ac.signal]) : ac.signal
    const headersTimeoutMs = this.timeouts.ttfbMs
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
          if (++interim === 1 && headersTimeoutMs > 0) {
            headDeadline = setTimeout(() => ac.abort(new UpstreamError('timeout', `upstream sent interim responses for ${headersTimeoutMs} ms without a final one`, target.name)), headersTimeoutMs)
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
      deadline.clearOn(res.body)
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
      deadline.clear()
      release()
      const e = classifyUpstreamError(error, target.name)
      if (e.kind === 'connect' || (e.kind === 'timeout' && (error as {code?: string}).code === 'UND_ERR_CONNECT_TIMEOUT')) {
        target.failures++
        target.downUntil = Date.now() + this.opts.failureCooldownMs
        this.resilience.coolDown(target.name, target.downUntil)
      }
      throw e
    }
  }

  health(): UpstreamHealth[] {
    const snap = new Map(this.resilience.snapshot().members.map((m) => [m.name, m]))
    return this.members.map((m) => {
      const r = snap.get(m.name)!
      return {
        name: m.name,
        url: m.origin + m.basePath,
        group: this.name,
        healthy: r.available && !this.resilience.isCooling(m.name),
        inFlight: m.inFlight,
        failures: m.failures,
        backup: m.backup,
        probeUp: r.healthy,
        ejected: r.ejected,
        ...(r.ejectedUntil !== undefined ? {ejectedUntil: r.ejectedUntil} : {}),
        ejections: r.ejections,
        ...(r.breaker ? {breaker: {state: r.breaker.state, since: r.breaker.since, failureRate: r.breaker.failureRate, opened: r.breaker.opened}} : {}),
        ewmaMs: r.ewmaMs,
      }
    })
  }

  /** Stop the active health checks now (a reload retired the group; its pools close later). */
  retire(): Promise<void> {
    this.stopped ??= this.resilience.stop()
    return this.stopped
  }

  async close(): Promise<void> {
    await this.retire()
    await Promise.all(this.members.map((m) => m.pool.close().catch(() => m.pool.destroy())))
  }
}

/** Each state change once, in the daemon's log. */
function logEvent(log: NonNullable<UpstreamGroupDeps['log']>, group: string, e: ResilienceEvent): void {
  switch (e.type) {
    case 'health':
      if (e.change.up) log.info({group, upstream: e.change.member, reason: e.change.reason}, 'upstream healthy again (health check)')
      else log.warn({group, upstream: e.change.member, reason: e.change.reason}, 'upstream down (health check)')
      return
    case 'outlier':
      if (e.change.ejected) log.warn({group, upstream: e.change.member, until: new Date(e.change.until ?? 0).toISOString(), reason: e.change.reason}, 'upstream ejected (outlier detection)')
      else log.info({group, upstream: e.change.member, reason: e.change.reason}, 'upstream back from ejection')
      return
    case 'breaker':
      log.warn({group, upstream: e.member, from: e.change.from, to: e.change.to, reason: e.change.reason}, `circuit breaker ${e.change.to}`)
      return
    case 'retry':
      log.debug({group, upstream: e.member, retry: e.retry, delayMs: e.delayMs, reason: e.reason}, 'retrying origin request on another upstream')
  }
}
