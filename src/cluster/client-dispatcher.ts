/**
 * `tavern/client`: an undici Dispatcher that sends each cacheable request to the Tavern node owning its URL, the way
 * forwardcache's client transport does. The owner is computed with the servers' own ring (cluster/peer-ring.ts) from
 * the same peer list, weights and vnodes, so a request needs no forwarding hop. The request goes to the peer's socket
 * in absolute form (`GET https://api.example/x HTTP/1.1`, Host: api.example) — never CONNECT — so the peer fetches
 * HTTPS origins itself and caches them under their https:// key (the server's forward-proxy mode).
 *
 * Failover: a peer that cannot be connected to is marked down for `downFor` and the request goes to the next peer in
 * ring order (the one the servers hand its keys to), then to the origin directly. A request is sent elsewhere only
 * before any response byte arrived, and once it may have reached a peer, only if its method is idempotent.
 */
import type {EventEmitter} from 'node:events'
import {isIP} from 'node:net'
import {stringify} from 'node:querystring'

import {Agent, Dispatcher, Pool, buildConnector, errors} from 'undici'

import {FailoverHandler, type AttemptState} from './failover-handler.js'
import {PeerRing, ringKeyOfUrl, type PeerSpec} from './peer-ring.js'

/** What to do with a request whose owner cannot be reached. */
export type PeerFallback = 'next-peer' | 'origin' | 'none'

export interface TavernDispatcherOptions {
  /** The cluster's peers as in the servers' `cluster.peers` (same URLs and weights, or owners differ). */
  peers: readonly PeerSpec[]
  /** Ring points per unit of weight: the servers' `cluster.vnodes` (default 1024, DEFAULT_PEER_VNODES). */
  vnodes?: number
  /** Methods sent through the owner peer (default GET and HEAD, the cacheable ones); others go to the origin. */
  methods?: readonly string[]
  /**
   * Owner unreachable: `next-peer` (default) tries the next peers in ring order, then the origin directly;
   * `origin` goes straight to the origin; `none` fails with the connection error.
   */
  fallback?: PeerFallback
  /** How long a peer that refused a connection is passed over before it is tried again (ms, default 5000). */
  downFor?: number
  /** Connections per peer (and per origin for direct requests); default unlimited, as undici. */
  connections?: number
  /** Further options of each peer's undici Pool (timeouts, keep-alive, TLS for https:// peers). */
  pool?: Omit<Pool.Options, 'connections'>
  /**
   * The dispatcher for requests that do not go through a peer. Default: an undici Agent this dispatcher owns and
   * closes; one given here is the caller's to close.
   */
  direct?: Dispatcher
}

/** Errors that mean the peer could not be reached at all (nothing was sent). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
])
/** Errors of a connection that broke before an answer: the request may be sent again, elsewhere. */
const BROKEN = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'])
/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
const DISPATCHER_EVENTS = ['connect', 'disconnect', 'connectionError', 'drain'] as const

type Dispatch = Dispatcher['dispatch']
type DispatchOptions = Dispatcher.DispatchOptions
type Headers = DispatchOptions['headers']
/**
 * undici takes a request's TLS server name from its Host field unless `servername` is given (untyped, but read by
 * its Request). For an https:// peer it must be the peer's name, not the origin's — and one name per peer, or the
 * pool would reconnect whenever the next request names another origin.
 */
type PeerDispatchOptions = DispatchOptions & {servername: string}

interface PeerTarget {
  pool: Pool
  servername: string
}

export class TavernDispatcher extends Dispatcher {
  readonly #ring: PeerRing
  readonly #peers = new Map<string, PeerTarget>()
  readonly #direct: Dispatcher
  readonly #ownsDirect: boolean
  readonly #methods: ReadonlySet<string>
  readonly #fallback: PeerFallback
  readonly #downFor: number
  /** Peer id → time (Date.now()) until which it is passed over. */
  readonly #downUntil = new Map<string, number>()
  /** dispatch through an identity interceptor: undici then hands every handler over in its current (non-legacy) API. */
  readonly #dispatch: Dispatch
  #closed = false

  constructor(opts: TavernDispatcherOptions) {
    super()
    const downFor = opts.downFor ?? 5000
    if (!Number.isFinite(downFor) || downFor < 0) throw new RangeError(`downFor must be a non-negative number of ms, got ${downFor}`)
    const fallback = opts.fallback ?? 'next-peer'
    if (!['next-peer', 'origin', 'none'].includes(fallback)) throw new RangeError(`fallback must be next-peer, origin or none, got ${JSON.stringify(fallback)}`)
    this.#ring = new PeerRing(opts.peers, {vnodes: opts.vnodes})
    if (this.#ring.size === 0) throw new RangeError('peers must list at least one peer')
    this.#downFor = downFor
    this.#fallback = fallback
    this.#methods = new Set((opts.methods ?? ['GET', 'HEAD']).map((m) => m.toUpperCase()))
    const connections = opts.connections
    for (const id of this.#ring.peers) {
      const pool = {...opts.pool, connections}
      if (id.startsWith('https:')) pool.connect = peerConnector(pool)
      this.#peers.set(id, {pool: this.#relay(new Pool(id, pool)), servername: new URL(id).hostname})
    }
    this.#ownsDirect = opts.direct === undefined
    this.#direct = opts.direct ?? this.#relay(new Agent({connections}))
    this.#dispatch = this.#direct.compose((direct) => (o, handler) => this.#route(o, handler, direct)).dispatch
  }

  /** The peer ids (normalised base URLs) in the order given. */
  get peers(): readonly string[] {
    return this.#ring.peers
  }

  /** The peer that owns `url` on the ring (whether it is up or not); undefined for a URL that is not absolute http(s). */
  owner(url: string | URL): string | undefined {
    const key = ringKeyOfUrl(String(url))
    return key === undefined ? undefined : this.#ring.owner(key)
  }

  /** Peers passed over at the moment because they could not be reached. */
  peersDown(): string[] {
    return this.#ring.peers.filter((id) => this.#isDown(id))
  }

  override dispatch(opts: DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.#dispatch(opts, handler)
  }

  override close(): Promise<void>
  override close(callback: () => void): void
  override close(callback?: () => void): Promise<void> | void {
    this.#closed = true
    const done = Promise.all(this.#owned().map((d) => d.close())).then(() => undefined)
    if (!callback) return done
    done.then(callback, callback)
  }

  override destroy(): Promise<void>
  override destroy(err: Error | null): Promise<void>
  override destroy(callback: () => void): void
  override destroy(err: Error | null, callback: () => void): void
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null)
    const callback = typeof a === 'function' ? a : b
    this.#closed = true
    const done = Promise.all(this.#owned().map((d) => d.destroy(err))).then(() => undefined)
    if (!callback) return done
    done.then(callback, callback)
  }

  #owned(): Dispatcher[] {
    const pools: Dispatcher[] = [...this.#peers.values()].map((p) => p.pool)
    return this.#ownsDirect ? [...pools, this.#direct] : pools
  }

  /** Re-emit a pool's connection events as ours, as undici's Agent does, so 'drain' reaches whoever waits on us. */
  #relay<D extends Dispatcher>(d: D): D {
    for (const event of DISPATCHER_EVENTS) {
      ;(d as EventEmitter).on(event, (origin: URL, targets: readonly Dispatcher[], ...rest: unknown[]) => (this as EventEmitter).emit(event, origin, [this, ...targets], ...rest))
    }
    return d
  }

  #isDown(id: string): boolean {
    const until = this.#downUntil.get(id)
    if (until === undefined) return false
    if (Date.now() < until) return true
    this.#downUntil.delete(id)
    return false
  }

  #route(opts: DispatchOptions, handler: Dispatcher.DispatchHandler, direct: Dispatch): boolean {
    if (this.#closed) {
      new FailoverHandler(handler).fail(new errors.ClientClosedError())
      return false
    }
    if (!this.#methods.has(opts.method) || opts.upgrade) return direct(opts, handler)
    const origin = originOf(opts.origin)
    let path = opts.path
    if (opts.query) {
      // Serialised as undici would, so that the URL keyed on is the URL sent.
      const q = stringify(opts.query)
      if (q) path += `?${q}`
    }
    const url = origin === undefined ? undefined : origin + path
    const key = url === undefined ? undefined : ringKeyOfUrl(url)
    if (url === undefined || key === undefined) return direct(opts, handler)

    const host = origin!.slice(origin!.indexOf('//') + 2)
    const proxied: DispatchOptions = {...opts, path: url, query: undefined, headers: withHost(opts.headers, host)}
    const replayable = opts.body == null || typeof opts.body === 'string' || opts.body instanceof Uint8Array
    const tried = new Set<string>()
    const failover = new FailoverHandler(handler)

    const send = (): boolean => {
      const peer = this.#next(key, tried)
      if (peer === undefined) return direct(opts, failover.attempt(() => false))
      tried.add(peer)
      const target = this.#peers.get(peer)!
      const peerOpts: PeerDispatchOptions = {...proxied, servername: target.servername}
      return target.pool.dispatch(peerOpts, failover.attempt((error, attempt) => {
        if (!this.#shouldRetry(peer, error, attempt, opts.method, replayable)) return false
        // Not from inside undici's error callback: the next attempt starts on a clean stack.
        queueMicrotask(() => {
          if (failover.aborted) return failover.fail(failover.reason ?? error)
          try {
            send()
          } catch (e) {
            failover.fail(e instanceof Error ? e : new Error(String(e)))
          }
        })
        return true
      }))
    }
    return send()
  }

  /** The next peer to try for `key`, or undefined for the origin. */
  #next(key: string, tried: ReadonlySet<string>): string | undefined {
    const owner = this.#ring.owner(key)!
    if (this.#fallback === 'none') return tried.size === 0 ? owner : undefined
    if (this.#fallback === 'origin') return tried.size === 0 && !this.#isDown(owner) ? owner : undefined
    return this.#ring.owner(key, (id) => tried.has(id) || this.#isDown(id))
  }

  #shouldRetry(peer: string, error: Error, attempt: AttemptState, method: string, replayable: boolean): boolean {
    const code = (error as {code?: unknown}).code
    if (typeof code !== 'string') return false
    const unreachable = !attempt.started && UNREACHABLE.has(code)
    if (unreachable) this.#downUntil.set(peer, Date.now() + this.#downFor)
    if (!replayable || this.#fallback === 'none') return false
    // A broken connection before any answer: safe to send again if nothing was sent, or if sending twice is harmless.
    return unreachable || (BROKEN.has(code) && (!attempt.started || IDEMPOTENT.has(method)))
  }
}

/**
 * The TLS connector of an https:// peer, built from the pool's options as undici's Pool would build it, except that
 * an IP address is never sent as the server name (RFC 6066 §3 forbids it; undici's own rule for a Host that is one).
 */
function peerConnector(o: Pool.Options): buildConnector.connector {
  const base =
    typeof o.connect === 'function'
      ? o.connect
      : buildConnector({
          maxCachedSessions: o.maxCachedSessions,
          allowH2: o.allowH2,
          socketPath: o.socketPath,
          timeout: o.connectTimeout,
          ...(typeof o.autoSelectFamily === 'boolean' ? {autoSelectFamily: o.autoSelectFamily, autoSelectFamilyAttemptTimeout: o.autoSelectFamilyAttemptTimeout} : undefined),
          ...o.connect,
        })
  return (opts, callback) => base(isIP(opts.hostname) ? {...opts, servername: undefined} : opts, callback)
}

/** `https://host[:port]` of a dispatch's origin, without a trailing slash; undefined if it is not http(s). */
function originOf(origin: string | URL | undefined): string | undefined {
  if (origin === undefined) return undefined
  // What fetch and request pass (a URL's .origin) is already in this form: no parse per request.
  if (typeof origin === 'string' && /^https?:\/\/[a-z0-9.:[\]-]+$/.test(origin)) return origin
  try {
    const u = typeof origin === 'string' ? new URL(origin) : origin
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined
  } catch {
    return undefined
  }
}

/** The request's headers with `Host` set to the origin's authority unless the caller set one (RFC 9112 §3.2.2). */
function withHost(headers: Headers, host: string): Headers {
  if (headers == null) return {host}
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'host') return headers
    return [...headers, 'host', host]
  }
  if (Symbol.iterator in headers) {
    const flat: string[] = []
    for (const [name, value] of headers as Iterable<[string, string | string[] | undefined]>) {
      if (value === undefined) continue
      if (name.toLowerCase() === 'host') host = ''
      for (const v of Array.isArray(value) ? value : [value]) flat.push(name, v)
    }
    if (host) flat.push('host', host)
    return flat
  }
  for (const name of Object.keys(headers)) if (name.toLowerCase() === 'host') return headers
  return {...headers, host}
}
