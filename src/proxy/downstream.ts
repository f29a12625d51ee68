/**
 * What the request path needs to know about how a request reached us, whatever listener it came from (plain
 * HTTP/1.1, HTTP/1.1 over TLS, HTTP/2 over TLS, h2c): the scheme it is keyed and forwarded under, the protocol, and
 * whether it carries a body. The listener factories (src/daemon/listeners/) tag their request classes; these
 * readers are a property lookup on the prototype, nothing per request.
 */
import type {IncomingMessage} from 'node:http'

export type Scheme = 'http' | 'https'
export type DownstreamProtocol = 'http/1.1' | 'h2'

/** Set on a listener's request class prototype. */
export const SCHEME = Symbol.for('tavern.scheme')
export const PROTOCOL = Symbol.for('tavern.protocol')
/** Set per HTTP/2 request: whether the client's HEADERS frame ended the stream (no body follows). */
export const H2_NO_BODY = Symbol.for('tavern.h2.noBody')

interface Tagged {
  [SCHEME]?: Scheme
  [PROTOCOL]?: DownstreamProtocol
  [H2_NO_BODY]?: boolean
}

/**
 * `https` for requests that came over TLS, else `http`: the scheme of the cache key (`https://…` keys for TLS
 * listeners) and of X-Forwarded-Proto / Forwarded `proto=`. Requests from an untagged server (a test's own
 * http.Server) fall back to the socket.
 */
export function requestScheme(req: IncomingMessage): Scheme {
  const s = (req as unknown as Tagged)[SCHEME]
  if (s !== undefined) return s
  const socket = req.socket as {encrypted?: boolean} | null
  return socket?.encrypted ? 'https' : 'http'
}

export function requestProtocol(req: IncomingMessage): DownstreamProtocol {
  return (req as unknown as Tagged)[PROTOCOL] ?? (req.httpVersionMajor === 2 ? 'h2' : 'http/1.1')
}

/**
 * Whether the client request carries a body. HTTP/1.1: Transfer-Encoding or a non-zero Content-Length
 * (RFC 9112 §6.3). HTTP/2: the HEADERS frame did not end the stream (RFC 9113 §8.1: Content-Length is optional there,
 * so a POST without it still has a body).
 */
export function requestHasBody(req: IncomingMessage): boolean {
  const noBody = (req as unknown as Tagged)[H2_NO_BODY]
  if (noBody !== undefined) return !noBody
  if (req.headers['transfer-encoding'] !== undefined) return true
  const cl = req.headers['content-length']
  return cl !== undefined && cl !== '0'
}

/**
 * The `received-protocol` of our Via entry (RFC 9110 §7.6.3): `1.1`, `1.0`, and `2` for HTTP/2 (HTTP/2 has no minor
 * version; Node reports `2.0`).
 */
export function viaProtocolVersion(req: IncomingMessage): string {
  return req.httpVersionMajor === 2 ? '2' : `${req.httpVersionMajor}.${req.httpVersionMinor}`
}
