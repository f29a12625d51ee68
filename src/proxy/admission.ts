/**
 * Admission: the first stage of the request path (ARCHITECTURE.md "Request path" 1). It decides whether a request may
 * be served and turns it into the one request every later stage sees and the origin is asked for, so that the cache
 * key and the upstream request always name the same resource:
 * - exactly one valid Host field (RFC 9112 §3.2), else 400 without contacting the origin;
 * - the target resolved by resolveRequestTarget (absolute-form → its authority replaces Host, userinfo → 400, a host
 *   no site claims → 421, `OPTIONS *` answered here); `req.url` becomes the normalised origin-form target;
 * - routing-override fields removed, forwarding fields from untrusted peers removed, Host set to the key's authority.
 */
import type {Socket} from 'node:net'

import type {TavernConfig} from '../config/schema.js'
import {sendError} from './error-response.js'
import {requestPolicy, sanitizeRequestHeaders} from './forward-headers.js'
import {resolveRequestTarget} from './keys.js'
import type {RequestContext} from './request-context.js'

/** The cache key of an admitted request, or the status of the answer already sent to the client. */
export type Admission = string | {answered: number}

export function admitRequest(ctx: RequestContext, config: TavernConfig): Admission {
  const {req, res, flags} = ctx
  if (flags.duplicateHost) {
    sendError(res, 400, 'more than one Host header field')
    return {answered: 400}
  }
  const r = resolveRequestTarget(flags.host, req.url ?? '/', req.method ?? 'GET', config.cache)
  if (r.ok === false) {
    sendError(res, r.status, r.message)
    return {answered: r.status}
  }
  if (r.ok === 'asterisk') {
    // OPTIONS * asks about the server in general (RFC 9110 §9.3.7): a no-op answer, never forwarded or cached.
    req.resume()
    res.writeHead(200, ['Content-Length', '0'])
    res.end()
    return {answered: 200}
  }
  const policy = requestPolicy(config.server)
  ctx.trustedProxies = policy.trustedProxies
  const headers = sanitizeRequestHeaders(req.rawHeaders, policy, ctx.peerTrusted, r.authority)
  if (headers !== req.rawHeaders) req.rawHeaders = headers
  if (req.url !== r.target) req.url = r.target
  flags.host = r.authority
  return r.key
}

const CONNECT_BODY = '405 Method Not Allowed: CONNECT is not supported (Tavern is a reverse proxy, not a tunnel)\n'

/**
 * Answer a CONNECT (authority-form target; Node hands it to the server's 'connect' event, not to the request handler)
 * with 405 and close. The empty Allow says the authority has no methods here (RFC 9110 §10.2.1).
 */
export function refuseConnect(socket: Socket): void {
  socket.on('error', () => socket.destroy())
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\nAllow: \r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(CONNECT_BODY)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${CONNECT_BODY}`,
  )
}
