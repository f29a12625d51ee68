import type {Readable} from 'node:stream'

import {errors, Pool} from 'undici'

import type {RawHeaders} from '../util/raw-headers.js'

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
}

export interface UpstreamResponse {
  status: number
  statusText: string
  headers: RawHeaders
  body: Readable
  upstream: Upstream
}

export interface UpstreamRequest {
  method: string
  /** origin-form request target (path + query) as received. */
  path: string
  headers: RawHeaders
  body: Readable | null
  signal?: AbortSignal
  /** Interim (1xx) responses, e.g. 103 Early Hints. */
  onInfo?: (status: number, headers: RawHeaders) => void
}

/** Why an upstream exchange failed, mapped to the status a client sees. */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'connect' | 'timeout' | 'reset' | 'unavailable' | 'aborted' | 'protocol',
    message: string,
    readonly upstream?: string,
  ) {
    super(message)
  }

  get status(): 502 | 504 {
    return this.kind === 'timeout' ? 504 : 502
  }
}

export function classifyUpstreamError(err: unknown, upstream?: string): UpstreamError {
  if (err instanceof UpstreamError) return err
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

  constructor(target: UpstreamTarget, opts: UpstreamOptions) {
    const u = new URL(target.url)
    this.origin = u.origin
    this.basePath = u.pathname.replace(/\/+$/, '')
    this.name = target.name ?? u.host
    this.weight = target.weight
    this.pool = new Pool(this.origin, {
      connections: opts.connections,
      connect: {timeout: opts.connectTimeoutMs},
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      // Requests are never retried or pipelined: a non-idempotent request must reach the origin at most once.
      pipelining: 1,
    })
  }
}

/** The upstream servers of one site: smooth weighted round-robin, skipping ones that recently refused connections. */
export class UpstreamGroup {
  readonly members: Upstream[]

  constructor(
    targets: UpstreamTarget[],
    private readonly opts: UpstreamOptions,
  ) {
    this.members = targets.map((t) => new Upstream(t, opts))
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
    target.inFlight++
    let released = false
    const release = () => {
      if (!released) {
        released = true
        target.inFlight--
      }
    }
    try {
      const res = await target.pool.request({
        method: req.method,
        path: target.basePath + req.path,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
        responseHeaders: 'raw',
        onInfo: req.onInfo ? ({statusCode, headers}) => req.onInfo!(statusCode, headers as unknown as string[]) : undefined,
      })
      target.failures = 0
      res.body.once('close', release)
      return {
        status: res.statusCode,
        statusText: (res as unknown as {statusText?: string}).statusText ?? '',
        headers: res.headers as unknown as string[],
        body: res.body,
        upstream: target,
      }
    } catch (error) {
      release()
      const e = classifyUpstreamError(error, target.name)
      if (e.kind === 'connect' || (e.kind === 'timeout' && (error as {code?: string}).code === 'UND_ERR_CONNECT_TIMEOUT')) {
        target.failures++
        target.downUntil = Date.now() + this.opts.failureCooldownMs
      }
      throw e
    }
  }

  health(now = Date.now()): Array<{name: string; url: string; healthy: boolean; inFlight: number; failures: number}> {
    return this.members.map((m) => ({name: m.name, url: m.origin + m.basePath, healthy: m.downUntil <= now, inFlight: m.inFlight, failures: m.failures}))
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.pool.close().catch(() => m.pool.destroy())))
  }
}
