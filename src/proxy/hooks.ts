/**
 * The hook registry and its runners (the contract is src/core/hooks.ts). A plugin set is compiled once into arrays
 * per hook; a request calls a runner only when the array is non-empty, so a route without hooks pays nothing. A
 * runner calls hooks in order and awaits only a hook that returned a promise (a request whose hooks are synchronous
 * never allocates one). A hook that throws or rejects becomes a HookError naming the plugin: the request then fails
 * with TAVERN_ERR_HOOK (a 500), never the process.
 */
import {TavernError} from '../core/errors.js'
import type {Answer, ContextKey, HookContext, HookEntry, HookName, Hooks, HookSet, KeyParts, MaybePromise, MethodHooks, ResponseSummary, Route} from '../core/hooks.js'
import type {OriginCall, OriginInterceptor} from '../core/origin.js'

/** A hook failed; `plugin` and `hook` say whose. */
export class HookError extends TavernError {
  constructor(
    readonly plugin: string,
    readonly hook: HookName,
    cause: unknown,
  ) {
    super('TAVERN_ERR_HOOK', `plugin ${plugin}: ${hook} hook failed: ${cause instanceof Error ? cause.message : String(cause)}`, {cause})
    this.name = 'HookError'
  }
}

/** A typed slot in ctx.locals; each call makes a distinct key (two plugins never share one by accident). */
export function contextKey<T>(name: string): ContextKey<T> {
  return {symbol: Symbol(name), name}
}

/** What one plugin contributes to a set. */
export interface HookRegistration {
  plugin: string
  hooks: Hooks
  /** The hooks apply only to requests with these methods (built-ins such as PURGE use this; default: all). */
  methods?: readonly string[]
  /** Wrapped around every origin call, the first registered outermost. */
  interceptors?: readonly OriginInterceptor[]
  /** Called when the set is replaced (reload) or at shutdown. */
  close?: () => MaybePromise<void>
}

const NAMES: readonly HookName[] = ['onRequest', 'preCacheKey', 'onRoute', 'onOriginRequest', 'onOriginResponse', 'onSend', 'onResponse', 'onError']

type Lists = {[K in HookName]: Array<HookEntry<K>>}

/** The origin call with `interceptors` around `base`: composeOrigin(base, a, b) = a(b(base)), `a` sees requests first. */
export function composeOrigin(base: OriginCall, ...interceptors: readonly OriginInterceptor[]): OriginCall {
  let call = base
  for (let i = interceptors.length - 1; i >= 0; i--) call = interceptors[i]!(call)
  return call
}

/** The innermost origin call: the route's upstream group. */
const upstreamCall: OriginCall = (req, octx) => octx.origins.request(req)

const ROUTING: ReadonlyArray<keyof MethodHooks> = ['onRequest', 'preCacheKey', 'onRoute']

class CompiledHooks implements HookSet {
  readonly plugins: readonly string[]
  readonly onOriginRequest: ReadonlyArray<HookEntry<'onOriginRequest'>>
  readonly onOriginResponse: ReadonlyArray<HookEntry<'onOriginResponse'>>
  readonly onSend: ReadonlyArray<HookEntry<'onSend'>>
  readonly onResponse: ReadonlyArray<HookEntry<'onResponse'>>
  readonly onError: ReadonlyArray<HookEntry<'onError'>>
  readonly callOrigin: OriginCall
  /** Routing hooks of methods that have method-scoped ones; every other method gets `anyMethod`. */
  private readonly byMethod = new Map<string, MethodHooks>()
  private readonly anyMethod: MethodHooks
  private closed: Promise<void> | undefined

  constructor(private readonly regs: readonly HookRegistration[]) {
    const lists = Object.fromEntries(NAMES.map((n) => [n, []])) as unknown as Lists
    const scopedMethods = new Set<string>()
    for (const r of regs) {
      const methods = r.methods ? new Set(r.methods) : undefined
      for (const name of NAMES) {
        const fn = r.hooks[name]
        if (fn === undefined) continue
        if (typeof fn !== 'function') throw new TypeError(`plugin ${r.plugin}: hook ${name} is not a function`)
        if (methods) for (const m of methods) scopedMethods.add(m)
        ;(lists[name] as Array<HookEntry<HookName>>).push({plugin: r.plugin, fn, methods} as HookEntry<HookName>)
      }
    }
    const forMethod = (method: string | undefined): MethodHooks => {
      const pick = <K extends keyof MethodHooks>(k: K) => lists[k].filter((e) => e.methods === undefined || (method !== undefined && e.methods.has(method))) as MethodHooks[K]
      return {onRequest: pick('onRequest'), preCacheKey: pick('preCacheKey'), onRoute: pick('onRoute')}
    }
    this.anyMethod = forMethod(undefined)
    for (const m of scopedMethods) this.byMethod.set(m, forMethod(m))
    this.plugins = regs.map((r) => r.plugin)
    // Method scoping is for the routing stages; the other hooks see every request.
    for (const name of NAMES) if (!ROUTING.includes(name as keyof MethodHooks) && lists[name].some((e) => e.methods)) throw new TypeError(`${name} hooks cannot be limited to methods`)
    this.onOriginRequest = lists.onOriginRequest
    this.onOriginResponse = lists.onOriginResponse
    this.onSend = lists.onSend
    this.onResponse = lists.onResponse
    this.onError = lists.onError
    this.callOrigin = composeOrigin(upstreamCall, ...regs.flatMap((r) => r.interceptors ?? []))
  }

  forMethod(method: string): MethodHooks {
    return this.byMethod.get(method) ?? this.anyMethod
  }

  close(): Promise<void> {
    this.closed ??= Promise.allSettled(this.regs.map(async (r) => r.close?.())).then(() => undefined)
    return this.closed
  }
}

export function createHookSet(regs: readonly HookRegistration[]): HookSet {
  return new CompiledHooks(regs)
}

/** A set with no plugins (tests, and a daemon whose config names none besides the built-ins). */
export const NO_HOOKS: HookSet = createHookSet([])

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v instanceof Promise || (typeof v === 'object' && v !== null && typeof (v as {then?: unknown}).then === 'function')
}

function checkAnswer(e: HookEntry<HookName>, name: HookName, r: unknown): Answer {
  const a = r as Answer
  if (typeof a !== 'object' || a === null || !Number.isInteger(a.status) || a.status < 200 || a.status > 599) {
    throw new HookError(e.plugin, name, new TypeError(`returned ${JSON.stringify(r)?.slice(0, 80)}, not undefined or an answer {status: 200..599, headers?, body?}`))
  }
  return a
}

type Call<K extends HookName> = (fn: NonNullable<Hooks[K]>) => unknown

/** Run hooks that may answer (onRequest, onRoute): the first answer ends the run. */
function runAnswering<K extends 'onRequest' | 'onRoute'>(list: ReadonlyArray<HookEntry<K>>, name: K, call: Call<K>): MaybePromise<Answer | undefined> {
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!
    let r: unknown
    try {
      r = call(e.fn)
    } catch (error) {
      throw new HookError(e.plugin, name, error)
    }
    if (isThenable(r)) return answeringAsync(list, name, call, i, r)
    if (r !== undefined) return checkAnswer(e as HookEntry<HookName>, name, r)
  }
  return undefined
}

async function answeringAsync<K extends 'onRequest' | 'onRoute'>(list: ReadonlyArray<HookEntry<K>>, name: K, call: Call<K>, i: number, pending: PromiseLike<unknown>): Promise<Answer | undefined> {
  for (;;) {
    const e = list[i]!
    let r: unknown
    try {
      r = await pending
    } catch (error) {
      throw new HookError(e.plugin, name, error)
    }
    if (r !== undefined) return checkAnswer(e as HookEntry<HookName>, name, r)
    if (++i >= list.length) return undefined
    try {
      pending = Promise.resolve(call(list[i]!.fn))
    } catch (error) {
      throw new HookError(list[i]!.plugin, name, error)
    }
  }
}

/** Run hooks that change something in place (preCacheKey, onOriginRequest, onOriginResponse, onSend). */
function runMutating<K extends 'preCacheKey' | 'onOriginRequest' | 'onOriginResponse' | 'onSend'>(list: ReadonlyArray<HookEntry<K>>, name: K, call: Call<K>): MaybePromise<void> {
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!
    let r: unknown
    try {
      r = call(e.fn)
    } catch (error) {
      throw new HookError(e.plugin, name, error)
    }
    if (isThenable(r)) return mutatingAsync(list, name, call, i, r)
  }
  return undefined
}

async function mutatingAsync<K extends 'preCacheKey' | 'onOriginRequest' | 'onOriginResponse' | 'onSend'>(list: ReadonlyArray<HookEntry<K>>, name: K, call: Call<K>, i: number, pending: PromiseLike<unknown>): Promise<void> {
  for (;;) {
    try {
      await pending
    } catch (error) {
      throw new HookError(list[i]!.plugin, name, error)
    }
    if (++i >= list.length) return
    try {
      pending = Promise.resolve(call(list[i]!.fn))
    } catch (error) {
      throw new HookError(list[i]!.plugin, name, error)
    }
  }
}

export function runOnRequest(list: ReadonlyArray<HookEntry<'onRequest'>>, ctx: HookContext): MaybePromise<Answer | undefined> {
  return runAnswering(list, 'onRequest', (fn) => fn(ctx))
}

export function runOnRoute(list: ReadonlyArray<HookEntry<'onRoute'>>, ctx: HookContext, route: Route): MaybePromise<Answer | undefined> {
  return runAnswering(list, 'onRoute', (fn) => fn(ctx, route))
}

export function runPreCacheKey(list: ReadonlyArray<HookEntry<'preCacheKey'>>, ctx: HookContext, parts: KeyParts): MaybePromise<void> {
  return runMutating(list, 'preCacheKey', (fn) => fn(ctx, parts))
}

export function runMutators<K extends 'onOriginRequest' | 'onOriginResponse' | 'onSend'>(list: ReadonlyArray<HookEntry<K>>, name: K, ctx: HookContext, arg: Parameters<NonNullable<Hooks[K]>>[1]): MaybePromise<void> {
  return runMutating(list, name, (fn) => (fn as (c: HookContext, a: typeof arg) => unknown)(ctx, arg))
}

export interface HookLog {
  warn(obj: object, msg?: string): void
}

/** onResponse / onError hooks: after the fact, so a failure is logged and the others still run. */
export function runObservers<K extends 'onResponse' | 'onError'>(list: ReadonlyArray<HookEntry<K>>, name: K, ctx: HookContext, arg: K extends 'onResponse' ? ResponseSummary : Error, log: HookLog): void {
  for (const e of list) {
    try {
      const r: unknown = (e.fn as (c: HookContext, a: typeof arg) => unknown)(ctx, arg)
      if (isThenable(r)) r.then(undefined, (error: unknown) => log.warn({err: error, plugin: e.plugin, hook: name, reqId: ctx.id}, 'plugin hook failed'))
    } catch (error) {
      log.warn({err: error, plugin: e.plugin, hook: name, reqId: ctx.id}, 'plugin hook failed')
    }
  }
}
