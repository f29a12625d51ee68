/**
 * The plain reverse-proxy path: the client's request forwarded as it is (any method, bodies streamed both ways) and
 * the origin's answer relayed, with no cache involvement. Used for unsafe methods, bypasses and answers that may not
 * be shared.
 */
import type {Outcome} from '../../core/hooks.js'
import type {OriginReason, OriginRequest} from '../../core/origin.js'
import type {DataPlaneServices} from '../../core/services.js'
import type {Answerer, Status} from '../answer.js'
import {hasRequestBody, type RequestContext} from '../context.js'
import {callOrigin} from './call.js'
import {downstreamResponseHeaders, upstreamRequestHeaders} from './forward-headers.js'
import {classifyUpstreamError, discardResponse, type UpstreamResponse} from './upstream.js'

/** RFC 9110 §9.2.2: sending these twice does no more harm than once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method)
}

/** The origin request for this client request as it is (its body streamed, when it has one). */
export function forwardedRequest(s: DataPlaneServices, answer: Answerer, ctx: RequestContext, reason: OriginReason, key?: string): OriginRequest {
  const body = hasRequestBody(ctx.req) ? ctx.req : null
  return {
    method: ctx.method,
    path: ctx.target,
    headers: upstreamRequestHeaders(ctx, s.config.server.via),
    body,
    signal: ctx.signal,
    onInfo: answer.interim(ctx),
    key,
    reason,
    idempotent: isIdempotent(ctx.method),
    replayable: body === null,
  }
}

/**
 * Forward the request and relay the answer, labelled `st`. `beforeAnswer` runs once the origin's response head is in
 * and before the client sees anything (used to invalidate what an unsafe method changed). `key`: its cache key.
 */
export async function passThrough(
  s: DataPlaneServices,
  answer: Answerer,
  ctx: RequestContext,
  o: {st: Status; reason: OriginReason; key?: string; beforeAnswer?: (up: UpstreamResponse) => Promise<void>},
): Promise<Outcome> {
  const t0 = performance.now()
  let up: UpstreamResponse
  try {
    up = await callOrigin(s, ctx, forwardedRequest(s, answer, ctx, o.reason, o.key))
  } catch (error) {
    const e = classifyUpstreamError(error)
    if (e.kind !== 'aborted') return answer.error(ctx, e.code, e.message, [...answer.statusHeaders(o.st), ...e.headers], {key: o.key})
    return {outcome: 'error', status: e.status, bytesOut: 0, key: o.key}
  }
  const upstreamMs = performance.now() - t0
  if (o.beforeAnswer) {
    try {
      await o.beforeAnswer(up)
    } catch (error) {
      discardResponse(up)
      throw error
    }
  }
  const headers = downstreamResponseHeaders(up.headers, s.config.server.via)
  headers.push(...answer.statusHeaders(o.st))
  const bytesOut = await answer.relay(ctx, up, headers, o.st)
  // A relay passes the origin's body on as it comes: what was sent is what was received.
  s.stats.originBytes(bytesOut)
  return {outcome: o.st.outcome, status: up.status, bytesOut, key: o.key, upstreamMs}
}
