/**
 * The lifecycle-hook contract (fastify style): what a hook sees of a request, what it may change, and what it may
 * answer. Plugins get these types from `tavern/plugin` (src/plugin.ts); src/proxy/hooks.ts holds the registry and
 * the runners. Types only.
 *
 * Order for one request: onRequest → preCacheKey → onRoute → (lookup) → onOriginRequest / onOriginResponse for each
 * origin call → onSend → onResponse; onError when a hook throws or the request fails. A hook returns nothing
 * (continue), or — onRequest and onRoute — an Answer that ends the request there. It may return a Promise; only then
 * is it awaited (a request whose hooks are all synchronous never waits).
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {CacheOutcome} from '../cache/cache-status.js'
import type {CacheSection} from '../cache/policy-resolve.js'
import type {RawHeaders} from '../util/raw-headers.js'
import type {OriginCall, OriginReason, Origins} from './origin.js'

export type {CacheOutcome}

/** An answer a hook gives instead of letting the request continue (it still goes through onSend and onResponse). */
export interface Answer {
  status: number
  /** Raw header lines ['Name', 'value', …], or an object (an array value = repeated lines). */
  headers?: RawHeaders | Record<string, string | readonly string[]>
  body?: string | Buffer
}

/** A typed slot in `ctx.locals` (see contextKey in tavern/plugin): per-request state of one plugin. */
export interface ContextKey<T> {
  readonly symbol: symbol
  readonly name: string
  /** Phantom: only carries T. */
  readonly type?: T
}

export interface Locals {
  get<T>(key: ContextKey<T>): T | undefined
  set<T>(key: ContextKey<T>, value: T): void
  has(key: ContextKey<unknown>): boolean
  delete(key: ContextKey<unknown>): boolean
}

/** Which site and route the request belongs to, where its origin calls go, and the cache policy that applies. */
export interface Route {
  /** The site of the request's authority (`sites`, or the deprecated `cache.sites`), when there is one. */
  readonly site: string | undefined
  /** The route (path prefix) within the site that matched; undefined: the site's own policy. */
  readonly name: string | undefined
  /** The upstream group's name ('default': the top-level upstreams). */
  readonly group: string
  /** The `cache` policy in force: the global section with the site's and route's overrides. */
  readonly policy: CacheSection
  /** The upstream group origin calls of this request go to; an onRoute hook may choose another. */
  origins: Origins
  /**
   * Set by an onRoute hook: the request skips the cache (nothing looked up, nothing stored; the answer is relayed),
   * the value saying why (the Cache-Status detail). Cluster peer routing uses it for keys another node owns.
   */
  bypass?: string
}

/** What hooks see of a request. Fields the request path fills in later are undefined until then. */
export interface HookContext {
  /** Node's request and response. Write answers through hook return values, never through `res` directly. */
  readonly req: IncomingMessage
  readonly res: ServerResponse
  /** From X-Request-ID when the client sent a sane one, else generated. */
  readonly id: string
  readonly method: string
  readonly scheme: 'http' | 'https'
  /** The authority the request is keyed and forwarded under (lower case, no default port). */
  readonly host: string | undefined
  /** Normalised origin-form target: path and query, as the origin is asked for it. */
  readonly target: string
  /** The path of `target` (no query). */
  readonly path: string
  /** The request's header lines as Tavern forwards them (strip list and untrusted forwarding fields removed). */
  readonly headers: readonly string[]
  /** The cache key (set by preCacheKey/route; '' before). */
  readonly key: string
  /** Set once the request is routed (onRoute sees it). */
  readonly route: Route | undefined
  /** The peer's address. */
  readonly client: string | undefined
  /** The client's IP: the peer's, or when the peer is a trusted proxy, from its forwarding fields. */
  readonly clientIp: string | undefined
  /** How the request is being answered (hit, miss…), once known. */
  readonly outcome: CacheOutcome | undefined
  /** Our Cache-Status member for this answer, once known (onSend sees it). */
  readonly cacheStatus: string | undefined
  /** Name of the upstream that answered, once one did. */
  readonly upstream: string | undefined
  readonly locals: Locals
  /** Aborted when the client goes away before the response is finished. */
  readonly signal: AbortSignal
}

/** The parts the cache key is built from; preCacheKey hooks may change them. */
export interface KeyParts {
  scheme: 'http' | 'https'
  /** Authority (lower case, no default port). */
  host: string
  /** Normalised path. */
  path: string
  /** Query under the key rules (cache.query, ignoreParams), without '?'; '' when none. */
  query: string
  /** More parts that make the key (e.g. a device class): separate objects per value, appended after '#'. */
  extra: string[]
}

/** A request about to go to an origin: hooks may change its header lines. */
export interface OriginRequestHead {
  readonly method: string
  readonly path: string
  readonly reason: OriginReason
  headers: RawHeaders
}

/** An origin's response head, before anything is decided about storing it: hooks may change its header lines. */
export interface OriginResponseHead {
  readonly status: number
  readonly reason: OriginReason
  headers: RawHeaders
}

/** The head of the answer about to go to the client: hooks may change its header lines (never what is stored). */
export interface SendHead {
  readonly status: number
  headers: RawHeaders
}

/** What one request ended as. */
export interface Outcome {
  outcome: CacheOutcome
  status: number
  bytesOut: number
  key?: string
  /** This request shared another's origin fetch. */
  collapsed?: boolean
  /** ms to the origin's response head, when this request waited for one. */
  upstreamMs?: number
}

export interface ResponseSummary extends Readonly<Outcome> {
  readonly durationMs: number
}

export type MaybePromise<T> = T | Promise<T>

export interface Hooks {
  onRequest?: (ctx: HookContext) => MaybePromise<Answer | void>
  preCacheKey?: (ctx: HookContext, parts: KeyParts) => MaybePromise<void>
  onRoute?: (ctx: HookContext, route: Route) => MaybePromise<Answer | void>
  onOriginRequest?: (ctx: HookContext, req: OriginRequestHead) => MaybePromise<void>
  onOriginResponse?: (ctx: HookContext, res: OriginResponseHead) => MaybePromise<void>
  onSend?: (ctx: HookContext, head: SendHead) => MaybePromise<void>
  /** After the response finished or was cut. Must not throw; its errors are logged. */
  onResponse?: (ctx: HookContext, summary: ResponseSummary) => void
  /** A hook threw or the request failed; the client gets a 500 unless something was already sent. */
  onError?: (ctx: HookContext, error: Error) => void
}

export type HookName = keyof Hooks

/** One registered hook: the function and the plugin it belongs to (named in logs when it fails). */
export interface HookEntry<K extends HookName> {
  readonly plugin: string
  readonly fn: NonNullable<Hooks[K]>
  /** Only for requests with one of these methods (undefined: every request). */
  readonly methods?: ReadonlySet<string>
}

/** The hooks of the request-routing stages that apply to one method (built-ins such as PURGE apply to one only). */
export interface MethodHooks {
  readonly onRequest: ReadonlyArray<HookEntry<'onRequest'>>
  readonly preCacheKey: ReadonlyArray<HookEntry<'preCacheKey'>>
  readonly onRoute: ReadonlyArray<HookEntry<'onRoute'>>
}

/** The active plugin set, compiled: hook arrays per hook and the composed origin call. */
export interface HookSet {
  /** Plugin names in load order. */
  readonly plugins: readonly string[]
  /** The routing-stage hooks for requests with `method` (an empty array costs nothing: the call is skipped). */
  forMethod(method: string): MethodHooks
  readonly onOriginRequest: ReadonlyArray<HookEntry<'onOriginRequest'>>
  readonly onOriginResponse: ReadonlyArray<HookEntry<'onOriginResponse'>>
  readonly onSend: ReadonlyArray<HookEntry<'onSend'>>
  readonly onResponse: ReadonlyArray<HookEntry<'onResponse'>>
  readonly onError: ReadonlyArray<HookEntry<'onError'>>
  /** Every origin request goes through this: the set's interceptors around the route's upstream group. */
  readonly callOrigin: OriginCall
  /** Release what the plugins hold (called when a reload replaced the set, or at shutdown). */
  close(): Promise<void>
}
