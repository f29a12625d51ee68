/**
 * Admission: the first stage of the request path (ARCHITECTURE.md "Request path"). It decides whether a request may
 * be served and turns it into the one request every later stage sees and the origin is asked for, so that the cache
 * key and the upstream request always name the same resource:
 * - exactly one valid Host field (RFC 9112 §3.2), else 400 without contacting the origin;
 * - the target resolved by resolveRequestTarget (absolute-form → its authority replaces Host, userinfo → 400, a host
 *   no site claims and no default site → 421, `OPTIONS *` answered here); `ctx.target` becomes the normalised origin-form target;
 * - routing-override fields removed, forwarding fields from untrusted peers removed, Host set to the key's authority
 *   (`ctx.headers`); the client's own `req.url` / `req.rawHeaders` are left as sent.
 * Admission only decides; the handler answers refusals through the answer path.
 */
import type {Socket} from 'node:net'

import {peerTrust} from '../cluster/trust.js'
import type {TavernConfig} from '../config/schema.js'
import type {RequestContext} from './context.js'
import {requestPolicy, sanitizeRequestHeaders} from './origin/forward-headers.js'
import {type AdmittedTarget, resolveRequestTarget} from './request-target.js'
import {routeTable} from './route-table.js'

/** Why a request is answered without being served: a refusal (400/421), or `OPTIONS *` (200, about the server). */
export type Refusal = {ok: false; status: 400 | 421; message: string} | {ok: 'asterisk'}

const DUPLICATE_HOST: Refusal = {ok: false, status: 400, message: 'more than one Host header field'}

export function admitRequest(ctx: RequestContext, config: TavernConfig): AdmittedTarget | Refusal {
  const {flags} = ctx
  if (flags.duplicateHost) return DUPLICATE_HOST
  // A cluster peer forwarding a request it does not own names the scheme in its absolute-form target.
  const hop = flags.peerHop && config.cluster !== undefined && peerTrust(config.cluster).allows(ctx.client)
  const r = resolveRequestTarget(flags.host, ctx.target, ctx.method, config.cache, routeTable(config), ctx.scheme, hop)
  if (r.ok !== true) return r
  if (hop) ctx.scheme = r.scheme
  const policy = requestPolicy(config.server)
  ctx.trustedProxies = policy.trustedProxies
  ctx.headers = sanitizeRequestHeaders(ctx.headers, policy, ctx.peerTrusted, r.authority)
  ctx.target = r.target
  ctx.host = r.authority
  return r
}

const CONNECT_BODY = '405 Method Not Allowed: CONNECT is not supported (Tavern is a reverse proxy, not a tunnel) [TAVERN_ERR_METHOD_NOT_ALLOWED]\n'

/**
 * Answer a CONNECT (authority-form target; Node hands it to the server's 'connect' event, not to the request handler)
 * with 405 and close. The empty Allow says the authority has no methods here (RFC 9110 §10.2.1). There is no
 * request object to answer through the answer path: this writes the socket.
 */
export function refuseConnect(socket: Socket): void {
  socket.on('error', () => socket.destroy())
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\nAllow: \r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(CONNECT_BODY)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${CONNECT_BODY}`,
  )
}
