/**
 * The one way the request path asks an origin (fills, revalidations, slice fetches, relays, background refreshes):
 * onOriginRequest hooks, then the plugin set's composed origin call (its interceptors around the route's upstream
 * group), then onOriginResponse hooks — before anything is decided about storing the answer.
 */
import type {OriginRequestHead, OriginResponseHead} from '../../core/hooks.js'
import type {OriginRequest, OriginResponse} from '../../core/origin.js'
import type {DataPlaneServices} from '../../core/services.js'
import type {RequestContext} from '../context.js'
import {HookError, runMutators, runObservers} from '../hooks.js'
import {classifyUpstreamError, discardResponse, UpstreamError} from './upstream.js'

/** A hook failure during an origin call: logged with the plugin, told to onError hooks, answered as a 500. */
function hookFailed(s: DataPlaneServices, ctx: RequestContext, error: HookError): UpstreamError {
  s.log.warn({err: error.cause, plugin: error.plugin, hook: error.hook, reqId: ctx.id}, 'plugin hook failed')
  const onError = ctx.hooks.onError
  if (onError.length > 0) runObservers(onError, 'onError', ctx, error, s.log)
  return new UpstreamError('hook', error.message)
}

export async function callOrigin(s: DataPlaneServices, ctx: RequestContext, req: OriginRequest): Promise<OriginResponse> {
  const hooks = ctx.hooks
  if (hooks.onOriginRequest.length > 0) {
    const head: OriginRequestHead = {method: req.method, path: req.path, reason: req.reason, headers: req.headers}
    try {
      await runMutators(hooks.onOriginRequest, 'onOriginRequest', ctx, head)
    } catch (error) {
      throw error instanceof HookError ? hookFailed(s, ctx, error) : error
    }
    req.headers = head.headers
  }
  // Every request that goes out is counted here, once, with its reason (tavern_origin_requests_total, top's origin
  // req/s); body bytes are counted by whoever reads the body (stats.originBytes).
  const t0 = performance.now()
  let up: OriginResponse
  try {
    up = await hooks.callOrigin(req, {origins: ctx.route?.origins ?? s.upstreams, requestId: ctx.id, client: ctx})
  } catch (error) {
    const e = classifyUpstreamError(error)
    s.stats.originRequest({reason: req.reason, ttfbMs: undefined, bytesIn: 0, status: undefined, error: e.kind})
    throw e
  }
  s.stats.originRequest({reason: req.reason, ttfbMs: performance.now() - t0, bytesIn: 0, status: up.status})
  ctx.upstream = up.upstream
  if (hooks.onOriginResponse.length > 0) {
    const head: OriginResponseHead = {status: up.status, reason: req.reason, headers: up.headers}
    try {
      await runMutators(hooks.onOriginResponse, 'onOriginResponse', ctx, head)
    } catch (error) {
      discardResponse(up)
      throw error instanceof HookError ? hookFailed(s, ctx, error) : error
    }
    up.headers = head.headers
  }
  return up
}
