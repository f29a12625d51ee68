/**
 * The data plane's request handler: (req, res) → context → admission → onRequest hooks → route (key, site,
 * upstream group; preCacheKey / onRoute hooks) → by method: a lookup (GET, HEAD), a forwarded unsafe method, or a
 * bypass when caching is off. Every answer goes out through answer.ts, which also records the request once it is over.
 * A Pipeline needs only DataPlaneServices: tests build one from a Storage on a temp dir, an UpstreamGroup and a Stats.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {Answer, MethodHooks, Outcome} from '../core/hooks.js'
import type {DataPlaneServices} from '../core/services.js'
import {admitRequest} from './admission.js'
import {Answerer} from './answer.js'
import {createContext, type RequestContext} from './context.js'
import {HookError, runObservers, runOnRequest} from './hooks.js'
import {forwardUnsafe} from './invalidate.js'
import {Lookup} from './lookup.js'
import {Misses} from './miss.js'
import {PartialObjects} from './partial/handler.js'
import type {Refresher} from './refresh/refresher.js'
import type {AdmittedTarget} from './request-target.js'
import {routeRequest} from './route.js'

export class Pipeline {
  readonly answer: Answerer
  private readonly partial: PartialObjects
  private readonly misses: Misses
  private readonly lookups: Lookup

  constructor(private readonly s: DataPlaneServices) {
    this.answer = new Answerer(s)
    this.partial = new PartialObjects(s, this.answer)
    this.misses = new Misses(s, this.answer, (ctx) => this.lookups.lookup(ctx))
    this.lookups = new Lookup(s, this.answer, this.misses, this.partial)
  }

  /** Fuzzy / auto refresh and grace state (inspect-key reads it). */
  get refresher(): Refresher {
    return this.misses.refresher
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const ctx = createContext(req, res, this.s.hooks)
    this.s.stats.requestStarted()
    let r: Outcome | Promise<Outcome>
    try {
      r = this.run(ctx)
    } catch (error) {
      r = Promise.reject(error)
    }
    // A hit from memory is answered synchronously: no promise machinery on the hottest path.
    if (!(r instanceof Promise)) {
      this.answer.finished(ctx, r)
      return
    }
    r.then(
      (o) => this.answer.finished(ctx, o),
      (error: unknown) => this.failed(ctx, error),
    )
  }

  /** A request that threw: logged (with the plugin when a hook did), told to onError hooks, answered 500 if still possible. */
  private failed(ctx: RequestContext, error: unknown): void {
    const {s} = this
    const hook = error instanceof HookError ? {plugin: error.plugin, hook: error.hook} : {}
    s.log.error({err: error instanceof HookError ? (error.cause ?? error) : error, reqId: ctx.id, url: ctx.target, ...hook}, hook.plugin ? 'plugin hook failed' : 'request failed')
    const onError = ctx.hooks.onError
    if (onError.length > 0) runObservers(onError, 'onError', ctx, error instanceof Error ? error : new Error(String(error)), s.log)
    let o: Outcome | Promise<Outcome>
    try {
      o = this.answer.failure(ctx, error)
    } catch {
      ctx.res.destroy()
      o = {outcome: 'error', status: 500, bytesOut: 0}
    }
    if (o instanceof Promise) {
      o.then(
        (x) => this.answer.finished(ctx, x),
        () => {
          ctx.res.destroy()
          this.answer.finished(ctx, {outcome: 'error', status: 500, bytesOut: 0})
        },
      )
    } else this.answer.finished(ctx, o)
  }

  private run(ctx: RequestContext): Outcome | Promise<Outcome> {
    const {s} = this
    const t = admitRequest(ctx, s.config)
    if (t.ok === 'asterisk') return this.answer.options(ctx)
    if (t.ok === false) return this.answer.error(ctx, t.code, t.message)
    const mh = ctx.hooks.forMethod(ctx.method)
    if (mh.onRequest.length === 0) return this.routed(ctx, t, mh)
    const r = runOnRequest(mh.onRequest, ctx)
    if (r === undefined) return this.routed(ctx, t, mh)
    if (r instanceof Promise) return r.then((a) => (a === undefined ? this.routed(ctx, t, mh) : this.answered(ctx, a)))
    return this.answered(ctx, r)
  }

  private routed(ctx: RequestContext, t: AdmittedTarget, mh: MethodHooks): Outcome | Promise<Outcome> {
    const r = routeRequest(this.s, ctx, t, mh)
    if (r === undefined) return this.dispatch(ctx)
    if (r instanceof Promise) return r.then((a) => (a === undefined ? this.dispatch(ctx) : this.answered(ctx, a)))
    return this.answered(ctx, r)
  }

  /** A hook answered the request. */
  private answered(ctx: RequestContext, a: Answer): Outcome | Promise<Outcome> {
    return this.answer.hookAnswer(ctx, a)
  }

  private dispatch(ctx: RequestContext): Outcome | Promise<Outcome> {
    if (!this.s.config.cache.enabled) return this.misses.bypass(ctx, {fwd: 'bypass'})
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return forwardUnsafe(this.s, this.answer, ctx)
    return this.lookups.lookup(ctx)
  }

  /** Fills no client waits for any more may finish; slice fetches stop. */
  async close(): Promise<void> {
    await Promise.all([this.misses.drain(), this.partial.close()])
  }
}
