/**
 * Admission: the first stage of the request path (ARCHITECTURE.md "Request path"). It decides whether a request may
 * be served and turns it into the one request every later stage sees and the origin is asked for, so that the cache
 * key and the upstream request always name the same resource:
 * - exactly one valid Host field (RFC 9112 §3.2), else 400 without contacting the origin;
 * - the target resolved by resolveRequestTarget (absolute-form → its authority replaces Host, userinfo → 400, a host
 *   no site claims and no default site → 421, `OPTIONS *` answered here); `ctx.target` becomes the normalised origin-form target;
 * - forward-proxy mode (forwardProxy): absolute-form targets for hosts no site claims only from forwardProxy.clients
 *   (else 403), only to forwardProxy.destinations (else 403);
 * - routing-override fields removed, forwarding fields from untrusted peers removed, Host set to the key's authority
 *   (`ctx.headers`); the client's own `req.url` / `req.rawHeaders` are left as sent.
 * Admission only decides; the handler answers refusals through the answer path.
 */
import type {Socket} from 'node:net'

import {peerTrust} from '../cluster/trust.js'
import type {TavernConfig} from '../config/schema.js'
import type {ErrorCode} from '../core/errors.js'
import {allowListFor} from '../util/cidr.js'
import type {RequestContext} from './context.js'
import {requestPolicy, sanitizeRequestHeaders} from './origin/forward-headers.js'
import {type AdmittedTarget, type RefusedTarget, resolveRequestTarget, type TargetReading, type TargetResolution} from './request-target.js'
import {routeTable} from './route-table.js'

/** Why a request is answered without being served: a refusal (400/403/421, with its code), or `OPTIONS *` (200, about the server). */
export type Refusal = {ok: false; status: 400 | 403 | 421; code: ErrorCode; message: string} | {ok: 'asterisk'}

const DUPLICATE_HOST: Refusal = {ok: false, status: 400, code: 'TAVERN_ERR_BAD_REQUEST', message: 'more than one Host header field'}

const REFUSAL_CODES: Record<RefusedTarget['status'], ErrorCode> = {400: 'TAVERN_ERR_BAD_REQUEST', 403: 'TAVERN_ERR_FORWARD_DESTINATION', 421: 'TAVERN_ERR_MISDIRECTED'}

/**
 * Forward-proxy mode: a target that would be forwarded (or refused for its destination) is only for clients in
 * forwardProxy.clients (the socket peer, as for purge.allow); anyone else gets 403 and learns nothing about the
 * destinations. Never an open proxy.
 */
function forwardClientRefusal(ctx: RequestContext, config: TavernConfig, r: TargetResolution): Refusal | undefined {
  const forwarding = r.ok === true ? r.forward !== undefined : r.ok === false && r.status === 403
  if (!forwarding || allowListFor(config.forwardProxy.clients).allows(ctx.client)) return undefined
  return {ok: false, status: 403, code: 'TAVERN_ERR_FORWARD_CLIENT', message: `forward proxying is not allowed from ${ctx.client ?? 'this address'} (forwardProxy.clients)`}
}

const readings = new WeakMap<TavernConfig['forwardProxy'], Record<'http' | 'https', TargetReading>>()

/** The forward-mode readings of one config, made once (not per request). */
function forwardReading(fp: TavernConfig['forwardProxy'], scheme: 'http' | 'https'): TargetReading {
  let r = readings.get(fp)
  if (!r) {
    r = {http: {scheme: 'http', forward: fp}, https: {scheme: 'https', forward: fp}}
    readings.set(fp, r)
  }
  return r[scheme]
}

const peerReadings = new WeakMap<TavernConfig['forwardProxy'], Record<'http' | 'https', TargetReading>>()

/** How a trusted cluster peer's request is read: its absolute-form URI's scheme is believed. */
function peerReading(fp: TavernConfig['forwardProxy'], scheme: 'http' | 'https'): TargetReading {
  let r = peerReadings.get(fp)
  if (!r) {
    const forward = fp.enabled ? fp : undefined
    r = {http: {scheme: 'http', believeUri: true, forward}, https: {scheme: 'https', believeUri: true, forward}}
    peerReadings.set(fp, r)
  }
  return r[scheme]
}

export function admitRequest(ctx: RequestContext, config: TavernConfig): AdmittedTarget | Refusal {
  const {flags} = ctx
  if (flags.duplicateHost) return DUPLICATE_HOST
  const fp = config.forwardProxy
  // A cluster peer forwarding a request it does not own names the scheme in its absolute-form target; it checked its
  // own client (forwardProxy.clients included) where the request came in.
  const hop = flags.peerHop && config.cluster !== undefined && peerTrust(config.cluster).allows(ctx.client)
  const reading = hop ? peerReading(fp, ctx.scheme) : fp.enabled ? forwardReading(fp, ctx.scheme) : ctx.scheme
  const r = resolveRequestTarget(flags.host, ctx.target, ctx.method, config.cache, routeTable(config), reading)
  if (fp.enabled && !hop) {
    const refused = forwardClientRefusal(ctx, config, r)
    if (refused) return refused
  }
  if (r.ok === false) return {...r, code: REFUSAL_CODES[r.status]}
  if (r.ok !== true) return r
  if (hop) ctx.scheme = r.scheme
  const policy = requestPolicy(config.server)
  ctx.trustedProxies = policy.trustedProxies
  ctx.headers = sanitizeRequestHeaders(ctx.headers, policy, ctx.peerTrusted, r.authority)
  ctx.target = r.target
  ctx.host = r.authority
  return r
}

/** Also what HTTP/2 CONNECT is told (h2-server.ts). */
export const CONNECT_REFUSED = 'CONNECT is not supported: a tunnel cannot be cached (forward-proxy clients send the absolute URL instead, e.g. GET https://host/path over plain HTTP)'
const CONNECT_BODY = `405 Method Not Allowed: ${CONNECT_REFUSED} [TAVERN_ERR_METHOD_NOT_ALLOWED]\n`

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
