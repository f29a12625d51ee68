import type {RawHeaders} from '../util/raw-headers.js'
import {sendError} from './error-response.js'
import {pipeBody} from './pipe-body.js'
import {downstreamResponseHeaders, upstreamRequestHeaders} from './forward-headers.js'
import {hasRequestBody, type RequestContext} from './request-context.js'
import {classifyUpstreamError, discardResponse, type UpstreamGroup, type UpstreamResponse} from './upstream.js'

export interface ForwardResult {
  status: number
  bytesOut: number
  /** ms to the upstream's response head, when one came. */
  ttfbMs?: number
  upstreamError?: string
  /** The upstream response headers (hop-by-hop removed), when a response came. */
  headers?: RawHeaders
}

/** Relay interim responses that Node can send (102 Processing, 103 Early Hints). */
export function relayInfo(ctx: RequestContext) {
  return (status: number, headers: RawHeaders): void => {
    if (ctx.res.headersSent) return
    if (status === 102) ctx.res.writeProcessing()
    else if (status === 103) {
      const links: string[] = []
      for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'link') links.push(headers[i + 1]!)
      if (links.length) ctx.res.writeEarlyHints({link: links})
    }
  }
}

/** Send an upstream request for this client request as-is (any method; bodies streamed both ways). `key`: its cache key. */
export function forwardRequest(ctx: RequestContext, upstreams: UpstreamGroup, via: string, headers?: RawHeaders, key?: string): Promise<UpstreamResponse> {
  const {req} = ctx
  return upstreams.request({
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers: headers ?? upstreamRequestHeaders(req, via),
    body: hasRequestBody(req) ? req : null,
    signal: ctx.signal,
    onInfo: relayInfo(ctx),
    key,
  })
}

/** Stream an upstream response to the client with backpressure. Resolves with bytes sent; cuts the connection on a broken body. */
export async function relayResponse(ctx: RequestContext, up: UpstreamResponse, headers: RawHeaders): Promise<number> {
  const {res, req} = ctx
  try {
    res.writeHead(up.status, up.statusText || undefined, headers)
  } catch (error) {
    // A header Node refuses to send: nobody will read this body.
    discardResponse(up)
    throw error
  }
  let bytes = 0
  up.body.on('data', (c: Buffer) => {
    bytes += c.length
  })
  if (req.method === 'HEAD' || up.status === 204 || up.status === 304) {
    discardResponse(up)
    res.end()
    return 0
  }
  try {
    await pipeBody(up.body, res)
  } catch {
    // Upstream body broke or the client left: the client must not take a short body for a complete one.
    res.destroy()
  }
  return bytes
}

/**
 * The plain reverse-proxy path: no cache involvement. `beforeAnswer` runs once the origin's response head is in and
 * before the client sees anything (used to invalidate what an unsafe method changed).
 */
export async function passThrough(
  ctx: RequestContext,
  upstreams: UpstreamGroup,
  via: string,
  extraHeaders: RawHeaders = [],
  beforeAnswer?: (up: UpstreamResponse) => Promise<void>,
  key?: string,
): Promise<ForwardResult> {
  const t0 = performance.now()
  let up: UpstreamResponse
  try {
    up = await forwardRequest(ctx, upstreams, via, undefined, key)
  } catch (error) {
    const e = classifyUpstreamError(error)
    if (e.kind !== 'aborted') sendError(ctx.res, e.status, e.message, [...extraHeaders, ...e.headers])
    return {status: e.status, bytesOut: 0, upstreamError: e.message}
  }
  const ttfbMs = performance.now() - t0
  if (beforeAnswer) {
    try {
      await beforeAnswer(up)
    } catch (error) {
      discardResponse(up)
      throw error
    }
  }
  const headers = downstreamResponseHeaders(up.headers, via)
  headers.push(...extraHeaders)
  const bytesOut = await relayResponse(ctx, up, headers)
  return {status: up.status, bytesOut, ttfbMs, headers: up.headers}
}
