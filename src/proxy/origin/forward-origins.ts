/**
 * The origins of forward-proxy mode (forwardProxy, docs/forward-proxy.md): one upstream group per destination
 * (`https://host[:port]`), made on first use from the same machinery as the configured groups (UpstreamGroup: its
 * undici Pool with the reset guard, the per-key connection share, timeouts, response framing checks, retries and
 * breaker), with a connector that verifies the destination's certificate against its host name (SNI = host).
 *
 * Bounded: at most `maxDestinations` groups exist at once. A group unused for `idleTimeout` is closed; a new
 * destination beyond the bound replaces the least recently used idle one, and when every one is busy the request
 * is answered 503 (busy) rather than growing without end.
 *
 * The request path holds a ForwardOrigin handle (cheap, made per request); the group behind it is looked up (or
 * made) only when the handle is asked, so a group is never closed under a request that has not started yet.
 */
import fs from 'node:fs/promises'
import {rootCertificates} from 'node:tls'

import type {BackgroundRunner} from '../../core/background.js'
import type {OriginRequest, OriginResponse, Origins, UpstreamHealth} from '../../core/origin.js'
import type {ForwardProxyConfig} from '../../config/forward-proxy.js'
import {type LoadedOriginTls, loadOriginTls, originConnectOptions, OriginTlsError} from './origin-tls.js'
import {type UpstreamGroup, UpstreamError, type UpstreamOptions} from './upstream.js'

/** Makes the group of one destination origin (`scheme://authority`); `name` is its name in logs and metrics. */
export type DestinationGroupFactory = (origin: string, name: string) => UpstreamGroup

export interface ForwardOriginsOptions {
  make: DestinationGroupFactory
  maxDestinations: number
  idleTimeoutMs: number
  /** Closing a replaced or idle group runs here. */
  background?: BackgroundRunner
  now?: () => number
}

interface Entry {
  readonly group: UpstreamGroup
  /** Requests inside group.request() (admission, connect, head); bodies in flight are the members' inFlight. */
  pending: number
  lastUsed: number
}

function busy(e: Entry): boolean {
  return e.pending > 0 || e.group.members.some((m) => m.inFlight > 0)
}

/** The Origins a forward-proxy request is routed to: its destination's group, looked up when asked. */
class ForwardOrigin implements Origins {
  constructor(
    private readonly registry: ForwardOrigins,
    private readonly origin: string,
  ) {}

  request(req: OriginRequest): Promise<OriginResponse> {
    return this.registry.request(this.origin, req)
  }

  health(): UpstreamHealth[] {
    return this.registry.healthOf(this.origin)
  }

  /** The registry owns the groups; a handle has nothing to close. */
  async close(): Promise<void> {}
}

export class ForwardOrigins {
  /** By origin; Map order is use order (an entry is re-inserted on use), so the first idle one is the LRU. */
  private readonly entries = new Map<string, Entry>()
  private sweep: NodeJS.Timeout | undefined
  private closed: Promise<void> | undefined
  private readonly now: () => number

  constructor(private readonly opts: ForwardOriginsOptions) {
    this.now = opts.now ?? Date.now
  }

  /** The handle for a destination origin (`scheme://authority`, normalised). */
  origin(origin: string): Origins {
    return new ForwardOrigin(this, origin)
  }

  /** Destination groups open now. */
  get size(): number {
    return this.entries.size
  }

  /** Every open destination group (shutdown destroys their connections). */
  groups(): UpstreamGroup[] {
    return [...this.entries.values()].map((e) => e.group)
  }

  async request(origin: string, req: OriginRequest): Promise<OriginResponse> {
    const e = this.entryFor(origin)
    e.pending++
    try {
      return await e.group.request(req)
    } finally {
      e.pending--
      e.lastUsed = this.now()
    }
  }

  healthOf(origin: string): UpstreamHealth[] {
    return this.entries.get(origin)?.group.health() ?? []
  }

  /** Every destination's members, as status shows upstreams. */
  health(): UpstreamHealth[] {
    return [...this.entries.values()].flatMap((e) => e.group.health())
  }

  private entryFor(origin: string): Entry {
    if (this.closed) throw new UpstreamError('unavailable', 'the forward proxy was reconfigured or is shutting down', origin)
    const found = this.entries.get(origin)
    if (found) {
      this.entries.delete(origin)
      this.entries.set(origin, found)
      return found
    }
    if (this.entries.size >= this.opts.maxDestinations) {
      const victim = [...this.entries].find(([, e]) => !busy(e))
      if (!victim) throw new UpstreamError('busy', `forward proxy: all ${this.opts.maxDestinations} destination pools are in use (forwardProxy.maxDestinations)`, origin, 1)
      this.drop(victim[0], victim[1], 'replaced by a new destination')
    }
    const e: Entry = {group: this.opts.make(origin, new URL(origin).host), pending: 0, lastUsed: this.now()}
    this.entries.set(origin, e)
    this.startSweep()
    return e
  }

  private drop(origin: string, e: Entry, why: string): void {
    this.entries.delete(origin)
    const close = () => e.group.close()
    if (this.opts.background) void this.opts.background.run(`close forward destination (${why})`, close)
    else close().catch(() => {})
    if (this.entries.size === 0) this.stopSweep()
  }

  private startSweep(): void {
    if (this.sweep) return
    const every = Math.max(50, Math.floor(this.opts.idleTimeoutMs / 2))
    this.sweep = setInterval(() => this.closeIdle(), every)
    this.sweep.unref()
  }

  private stopSweep(): void {
    clearInterval(this.sweep)
    this.sweep = undefined
  }

  /** Close every group unused for idleTimeout (none of its requests or bodies still running). */
  closeIdle(): void {
    const cutoff = this.now() - this.opts.idleTimeoutMs
    for (const [origin, e] of [...this.entries]) if (e.lastUsed <= cutoff && !busy(e)) this.drop(origin, e, 'idle')
  }

  /** Close every group (their pools let running requests finish); later requests are refused. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stopSweep()
      const all = [...this.entries.values()]
      this.entries.clear()
      await Promise.all(all.map((e) => e.group.close()))
    })()
    return this.closed
  }
}

/** The forward-proxy TLS files cannot be used; the message names the key. */
export class ForwardTlsError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ForwardTlsError'
  }
}

/**
 * The CAs Node trusts by default: its bundled roots, plus NODE_EXTRA_CA_CERTS (which Node adds to its default store,
 * but not to an explicit `ca` list, so an explicit list has to carry them itself). Node 20 cannot list the extra ones.
 */
async function systemRoots(): Promise<string[]> {
  const extra = process.env.NODE_EXTRA_CA_CERTS
  if (!extra) return [...rootCertificates]
  // Node itself only warns about an unreadable file; so do we (by leaving it out).
  const pem = await fs.readFile(extra, 'utf8').catch(() => '')
  return [...rootCertificates, ...(pem.match(PEM_CERT) ?? [])]
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g

/**
 * Read forwardProxy.tls (relative paths from baseDir): the extra CAs, added to the system roots (Node's bundled ones
 * and NODE_EXTRA_CA_CERTS) unless `systemRoots: false`. Undefined when nothing is configured (Node's defaults
 * verify). Never insecure.
 */
export async function loadForwardTls(t: ForwardProxyConfig['tls'], baseDir?: string): Promise<LoadedOriginTls | undefined> {
  if (t.ca === undefined) return undefined
  let loaded: LoadedOriginTls | undefined
  try {
    loaded = await loadOriginTls({ca: t.ca, insecure: false}, {http2: false, urls: [], baseDir})
  } catch (error) {
    if (error instanceof OriginTlsError) throw new ForwardTlsError(`forwardProxy.${error.message}`)
    throw error
  }
  const extra = loaded?.ca ?? []
  return {ca: t.systemRoots ? [...(await systemRoots()), ...extra] : extra, servername: undefined, cert: undefined, key: undefined, insecure: false, files: loaded?.files ?? [], warnings: loaded?.warnings ?? []}
}

/**
 * UpstreamOptions of a destination group: the `upstream` section's (`base`: timeouts, queue, key share, retry,
 * breaker, outlier) with forwardProxy.connections, no active health checks (nobody configured a probe for an
 * arbitrary origin), and a connector whose server name is the destination's host.
 */
export function forwardUpstreamOptions(base: UpstreamOptions, fp: ForwardProxyConfig, tls: LoadedOriginTls | undefined, log?: {warn(fields: Record<string, unknown>, msg: string): void}): UpstreamOptions {
  const resilience = base.resilience ? {...base.resilience, healthCheck: undefined} : undefined
  return {
    ...base,
    connections: fp.connections,
    resilience,
    originConnect: (url) => originConnectOptions('forwardProxy', url, tls, {http2: false, connectTimeoutMs: base.connectTimeoutMs, log}),
  }
}
