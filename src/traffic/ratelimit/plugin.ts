/**
 * Rate limiting as a built-in plugin (`tavern:rate-limit`): the request-phase rules are checked in `onRequest` (in
 * `onRoute` when a rule matches or keys by route, so the route is known), before the cache: a refused request costs
 * no lookup. A refusal is an Answer (429/503 with Retry-After and the RateLimit fields) through the one answer path;
 * `drop` closes the connection without one; `delay` holds the request (bounded by maxDelay and maxQueue) and goes
 * on. Allowed requests get RateLimit-Policy / RateLimit in `onSend`. Rules with `exemptCacheHits` are checked by an
 * origin interceptor, i.e. only for requests that go to the origin.
 */
import type {Answer, HookContext, Hooks} from '../../core/hooks.js'
import type {OriginClient, OriginInterceptor} from '../../core/origin.js'
import {contextKey, type HookRegistration} from '../../proxy/hooks.js'
import {UpstreamError} from '../../proxy/origin/upstream.js'
import type {RawHeaders} from '../../util/raw-headers.js'
import {type RateLimiter, type RateLimitPhase, type RateLimitRequest, type RateLimitVerdict, rejectAnswer} from './limiter.js'

export const RATE_LIMIT_PLUGIN = 'tavern:rate-limit'

/**
 * RateLimit header lines to add to a request's answer. The request phase (every hit) keeps them in the request's
 * own slot: a WeakMap entry per request cost ~3–5 µs of GC work each (ephemerons), more than the decision. The origin
 * phase, which sees the request as an OriginClient (no slots), uses the WeakMap: once per origin call, not per hit.
 */
const HEADERS = contextKey<string[]>('tavern:rate-limit:headers')
type Pending = WeakMap<OriginClient, string[]>

/** A refusal of an origin-phase rule: the request fails with the rule's status and fields instead of reaching the origin. */
export class RateLimitedError extends UpstreamError {
  constructor(private readonly verdict: RateLimitVerdict) {
    super('limited', `rate limit exceeded (${verdict.rule ?? 'limit'})`)
  }

  override get status(): number {
    return this.verdict.status
  }

  override get headers(): RawHeaders {
    return this.verdict.headers
  }
}

function limitRequest(ctx: OriginClient): RateLimitRequest {
  return {clientIp: ctx.clientIp ?? ctx.client ?? '', target: ctx.target, headers: ctx.headers, method: ctx.method, route: ctx.route?.site}
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const t = setTimeout(done, ms)
    signal.addEventListener('abort', done, {once: true})
  })
}

/** `lines` is the verdict's own array (built per decision), kept as is. */
function addHeaders(ctx: HookContext, lines: string[]): void {
  if (lines.length === 0) return
  const had = ctx.locals.get(HEADERS)
  ctx.locals.set(HEADERS, had ? had.concat(lines) : lines)
}

function addOriginHeaders(pending: Pending, ctx: OriginClient, lines: readonly string[]): void {
  if (lines.length === 0) return
  const had = pending.get(ctx)
  pending.set(ctx, had ? had.concat(lines) : [...lines])
}

/** What the request phase does with a verdict: nothing (go on), an answer, or a wait first. */
function apply(ctx: HookContext, v: RateLimitVerdict): Answer | undefined | Promise<Answer | undefined> {
  switch (v.action) {
    case 'allow':
      addHeaders(ctx, v.headers)
      return undefined
    case 'reject':
      return rejectAnswer(v)
    case 'drop':
      // No answer at all: the connection goes. The answer below only gives the access log and stats a status;
      // nothing of it reaches the client.
      ctx.req.socket.destroy()
      return {status: v.status}
    case 'delay':
      addHeaders(ctx, v.headers)
      return sleep(v.delayMs, ctx.signal).then(() => {
        v.release()
        return undefined
      })
  }
}

function check(limiter: RateLimiter, ctx: HookContext, phase: RateLimitPhase): Answer | undefined | Promise<Answer | undefined> {
  const v = limiter.check(limitRequest(ctx), phase)
  return v instanceof Promise ? v.then((x) => apply(ctx, x)) : apply(ctx, v)
}

export function rateLimitPlugin(limiter: RateLimiter): HookRegistration {
  const hooks: Hooks = {}
  const pending: Pending = new WeakMap()
  if (limiter.has('request')) {
    if (limiter.needsRoute()) hooks.onRoute = (ctx) => check(limiter, ctx, 'request')
    else hooks.onRequest = (ctx) => check(limiter, ctx, 'request')
  }
  const originRules = limiter.has('origin')
  hooks.onSend = (ctx, head) => {
    if (head.status === 429) return
    const lines = ctx.locals.get(HEADERS)
    if (lines !== undefined) head.headers = head.headers.concat(lines)
    const later = originRules ? pending.get(ctx) : undefined
    if (later !== undefined) head.headers = head.headers.concat(later)
  }
  const interceptors: OriginInterceptor[] = []
  if (originRules) {
    interceptors.push((next) => async (req, octx) => {
      const ctx = octx.client
      // Background work (refresh, prefetch) has no client to count.
      if (ctx === undefined) return await next(req, octx)
      let v = limiter.check(limitRequest(ctx), 'origin')
      if (v instanceof Promise) v = await v
      if (v.action === 'reject' || v.action === 'drop') throw new RateLimitedError(v)
      if (v.action === 'delay') {
        await sleep(v.delayMs, ctx.signal)
        v.release()
      }
      addOriginHeaders(pending, ctx, v.headers)
      return await next(req, octx)
    })
  }
  return {plugin: RATE_LIMIT_PLUGIN, hooks, interceptors}
}
