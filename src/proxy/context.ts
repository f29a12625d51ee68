import type {IncomingMessage, ServerResponse} from 'node:http'
import {randomBytes} from 'node:crypto'
import {isIP} from 'node:net'

import type {CacheOutcome, ContextKey, HookContext, HookSet, Locals, Route} from '../core/hooks.js'
import type {Origins} from '../core/origin.js'
import type {CacheSection} from '../cache/policy-resolve.js'
import type {RouteDecision} from '../cache/policy-request.js'
import type {CompiledRoute} from './route-table.js'
import {HOP_HEADER_LOWER} from '../cluster/config.js'
import {type AllowList, normalizeAddress} from '../util/cidr.js'
import {requestHasBody, requestScheme} from './downstream.js'
import {getAll, type RawHeaders} from '../util/raw-headers.js'

/** Request fields the pipeline branches on, found in one pass over the raw headers. */
export interface RequestFlags {
  /** Any If-* precondition (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range). */
  conditional: boolean
  range: boolean
  authorization: boolean
  /** The first Host field (what `req.headers.host` gives, without building Node's header object). */
  host: string | undefined
  /** More than one Host field line (RFC 9112 §3.2: 400). */
  duplicateHost: boolean
  /** X-Request-ID as sent (validated when used). */
  requestId: string | undefined
  /** The cluster hop header (Tavern-Peer) is present: admission checks whether the sender is a trusted peer. */
  peerHop: boolean
}

/**
 * Per-request state shared by the pipeline stages; what hooks see of it is HookContext.
 *
 * Admission (src/proxy/admission.ts) fills in `target` (the normalised origin-form target), `host` (the authority)
 * and `headers` (the sanitised field list: routing overrides and untrusted forwarding fields removed, Host = the
 * key's authority). Every later stage, and everything sent upstream, uses those — never `req.url` or `req.rawHeaders`,
 * which stay as the client sent them.
 */
export interface RequestContext extends HookContext {
  /** The id for the access log: `id` when it is already a string, else the generated number (see formatRequestId). */
  readonly logId: string | number
  /** performance.now() when the request arrived. */
  readonly startedAt: number
  readonly flags: RequestFlags
  /** The listener's scheme; admission sets the one the request is keyed under (a trusted peer's absolute-form one). */
  scheme: 'http' | 'https'
  target: string
  headers: RawHeaders
  host: string | undefined
  key: string
  route: Route | undefined
  /** Route the request (the Route object is made only when something asks for it). */
  routeTo(route: CompiledRoute, origins: Origins): void
  /** The cache policy in force (the route's merged `cache` section), once routed. */
  readonly policy: CacheSection | undefined
  /** What the route's request rules decided (bypass, noStore); undefined when nothing. */
  decision: RouteDecision | undefined
  /** The plugin set the request runs with: the one active when it arrived, for all its stages. */
  readonly hooks: HookSet
  outcome: CacheOutcome | undefined
  cacheStatus: string | undefined
  upstream: string | undefined
  /** `server.trustedProxies`, set when the request is admitted. */
  trustedProxies: AllowList | undefined
  /** Whether the peer is a trusted proxy (so its forwarding fields are believed). */
  readonly peerTrusted: boolean
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/
// Generated ids: a random per-process prefix plus a counter; unique without a crypto call per request.
const ID_PREFIX = randomBytes(4).toString('hex')
let idCounter = 0

/** The id string of a generated request number. */
export function formatRequestId(n: number): string {
  return `${ID_PREFIX}${n.toString(16).padStart(8, '0')}`
}

function scanFlags(h: readonly string[]): RequestFlags {
  const f: RequestFlags = {conditional: false, range: false, authorization: false, host: undefined, duplicateHost: false, requestId: undefined, peerHop: false}
  let hostSeen = false
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!
    const c = n.charCodeAt(0) | 0x20
    if (c === 0x68 /* h */ && n.length === 4 && n.toLowerCase() === 'host') {
      if (hostSeen) f.duplicateHost = true
      else f.host = h[i + 1]
      hostSeen = true
    } else if (c === 0x69 /* i */ && n.length > 3 && (n.charCodeAt(1) | 0x20) === 0x66 /* f */ && n.charCodeAt(2) === 0x2d) f.conditional = true
    else if (c === 0x78 /* x */ && n.length === 12 && f.requestId === undefined && n.toLowerCase() === 'x-request-id') f.requestId = h[i + 1]
    else if (c === 0x72 /* r */ && n.length === 5 && n.toLowerCase() === 'range') f.range = true
    else if (c === 0x61 /* a */ && n.length === 13 && n.toLowerCase() === 'authorization') f.authorization = true
    else if (c === 0x74 /* t */ && n.length === 11 && n.toLowerCase() === HOP_HEADER_LOWER) f.peerHop = true
  }
  return f
}

/** ctx.locals: created on first use (most requests never touch it). */
class LocalSlots implements Locals {
  private readonly map = new Map<symbol, unknown>()
  get<T>(key: ContextKey<T>): T | undefined {
    return this.map.get(key.symbol) as T | undefined
  }
  set<T>(key: ContextKey<T>, value: T): void {
    this.map.set(key.symbol, value)
  }
  has(key: ContextKey<unknown>): boolean {
    return this.map.has(key.symbol)
  }
  delete(key: ContextKey<unknown>): boolean {
    return this.map.delete(key.symbol)
  }
}

class Context implements RequestContext {
  readonly startedAt = performance.now()
  readonly flags: RequestFlags
  readonly client: string | undefined
  readonly method: string
  target: string
  headers: RawHeaders
  host: string | undefined
  key = ''
  outcome: CacheOutcome | undefined = undefined
  cacheStatus: string | undefined = undefined
  upstream: string | undefined = undefined
  trustedProxies: AllowList | undefined = undefined
  private _id: string | undefined = undefined
  private seq = 0
  private ac: AbortController | undefined = undefined
  private _trusted: boolean | undefined = undefined
  private _clientIp: string | undefined | null = null
  private _locals: LocalSlots | undefined = undefined
  private _route: Route | undefined = undefined
  private _compiled: CompiledRoute | undefined = undefined
  private _origins: Origins | undefined = undefined
  decision: RouteDecision | undefined = undefined

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly hooks: HookSet,
  ) {
    this.flags = scanFlags(req.rawHeaders)
    this.client = req.socket.remoteAddress
    this.method = req.method ?? 'GET'
    this.target = req.url ?? '/'
    this.headers = req.rawHeaders
    this.host = this.flags.host
  }

  private _scheme: 'http' | 'https' | undefined = undefined

  get scheme(): 'http' | 'https' {
    return this._scheme ?? requestScheme(this.req)
  }

  set scheme(s: 'http' | 'https') {
    this._scheme = s
  }

  routeTo(route: CompiledRoute, origins: Origins): void {
    this._compiled = route
    this._origins = origins
    this._route = undefined
  }

  get policy(): CacheSection | undefined {
    return this._route?.policy ?? this._compiled?.cache
  }

  get route(): Route | undefined {
    const c = this._compiled
    if (this._route === undefined && this._origins !== undefined && c !== undefined) this._route = {site: c.site, name: c.name, group: c.group, policy: c.cache, origins: this._origins}
    return this._route
  }

  set route(r: Route | undefined) {
    this._route = r
    this._origins = r?.origins
  }

  get id(): string {
    if (this._id === undefined) {
      const given = this.flags.requestId
      this._id = given && REQUEST_ID.test(given) ? given : formatRequestId(this.seq || (this.seq = ++idCounter))
    }
    return this._id
  }

  get logId(): string | number {
    if (this._id !== undefined) return this._id
    const given = this.flags.requestId
    if (given !== undefined) return this.id
    // Most requests never need their id as a string: the access log formats the number in its batch.
    return this.seq || (this.seq = ++idCounter)
  }

  get path(): string {
    const q = this.target.indexOf('?')
    return q < 0 ? this.target : this.target.slice(0, q)
  }

  get locals(): Locals {
    return (this._locals ??= new LocalSlots())
  }

  get peerTrusted(): boolean {
    const list = this.trustedProxies
    if (list === undefined || list.entries.length === 0) return false
    return (this._trusted ??= list.allows(this.client))
  }

  get clientIp(): string | undefined {
    const peer = this.client === undefined ? undefined : normalizeAddress(this.client)
    if (!this.peerTrusted) return peer
    if (this._clientIp === null) this._clientIp = clientFromChain(this.headers, this.trustedProxies!, peer)
    return this._clientIp
  }

  get signal(): AbortSignal {
    if (!this.ac) {
      const ac = new AbortController()
      this.ac = ac
      const {res} = this
      if (res.destroyed && !res.writableFinished) ac.abort()
      else
        res.once('close', () => {
          if (!res.writableFinished) ac.abort()
        })
    }
    return this.ac.signal
  }
}

/** One X-Forwarded-For member or Forwarded `for=` node as a plain IP, or undefined (`unknown`, obfuscated, garbage). */
function chainAddress(v: string): string | undefined {
  let a = v.trim().replace(/^"(.*)"$/, '$1')
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(a)
  if (v6) a = v6[1]!
  else if (/^[\d.]+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'))
  a = normalizeAddress(a)
  return isIP(a) ? a : undefined
}

/** The addresses a trusted peer says the request passed through, nearest last (X-Forwarded-For, else Forwarded). */
function forwardedChain(h: readonly string[]): string[] {
  const xff = getAll(h, 'x-forwarded-for')
  if (xff.length) return xff.flatMap((v) => v.split(','))
  const out: string[] = []
  for (const v of getAll(h, 'forwarded'))
    for (const element of v.split(',')) {
      const m = /(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)/i.exec(element)
      if (m) out.push(m[1]!)
    }
  return out
}

/** Walk the chain from the nearest hop: the first address that is not a trusted proxy is the client. */
function clientFromChain(h: readonly string[], trusted: AllowList, peer: string | undefined): string | undefined {
  let client = peer
  const chain = forwardedChain(h)
  for (let i = chain.length - 1; i >= 0; i--) {
    const a = chainAddress(chain[i]!)
    // An unparsable member cannot be vouched for: stop at the last address that can.
    if (a === undefined) break
    client = a
    if (!trusted.allows(a)) break
  }
  return client
}

export function createContext(req: IncomingMessage, res: ServerResponse, hooks: HookSet): RequestContext {
  return new Context(req, res, hooks)
}

/** Whether the client request carries a body: RFC 9112 §6.3 framing over HTTP/1.1, END_STREAM over HTTP/2. */
export const hasRequestBody = requestHasBody
