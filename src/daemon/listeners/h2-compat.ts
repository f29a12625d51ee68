/**
 * HTTP/2 requests and responses shaped like node:http's, so the one request handler serves both protocols.
 *
 * Node's compatibility API (Http2ServerRequest / Http2ServerResponse) looks like node:http but differs where the
 * request path relies on it. Each difference and what this module does about it:
 *
 * Requests
 * 1. `rawHeaders` holds the pseudo-headers (`:method`, `:path`, `:scheme`, `:authority`) and no Host: the handler
 *    finds the Host in the raw list. → rawHeaders without pseudo-headers, `Host` first, from `:authority`.
 * 2. `rawHeaders` is a getter only: admission assigns the sanitised list to it (a TypeError in strict mode).
 *    → an own accessor that can be assigned.
 * 3. Both `:authority` and Host, differing: RFC 9113 §8.3.1 says treat as malformed. → `malformed` is set; the
 *    server answers 400 before the handler runs.
 * 4. Cookies may arrive split into several `cookie` fields (RFC 9113 §8.2.3); they MUST be joined with "; " before
 *    going to an HTTP/1.1 origin. → joined into one field where the first one was.
 * 5. No Transfer-Encoding and optional Content-Length: "has a body" from those headers is wrong for HTTP/2.
 *    → H2_NO_BODY (END_STREAM on HEADERS) for requestHasBody() in src/proxy/downstream.ts.
 * 6. `httpVersion` is "2.0" (Via's received-protocol is "2": viaProtocolVersion()).
 * 7. `req.socket` is a proxy of the session's socket: remoteAddress works; per-connection state must live on the
 *    session (see connection-tracker.ts), not on req.socket.
 * 8. CONNECT has no :path and reaches the 'request' handler unless a 'connect' listener exists. → 405 in the server.
 * 9. The scheme is the listener's (https for TLS), never the client's `:scheme` claim. → SCHEME on the prototype.
 *
 * Responses
 * 10. Connection-specific fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE,
 *     HTTP2-Settings) are forbidden in HTTP/2: Node drops `Connection` with a process warning and THROWS for the
 *     others — from writeHead, or later from end() when they were set with setHeader, leaving the stream hanging.
 *     → removed in writeHead / setHeader / appendHeader.
 * 11. Fields Node allows once (Content-Type, Content-Length, ETag, Date, Location, Age…) throw
 *     ERR_HTTP2_HEADER_SINGLE_VALUE when repeated, which a stored origin response can be. → the first value is kept;
 *     the list-valued ones among them (Content-Encoding, Content-Language) are joined with ", ".
 * 12. The status message (reason phrase) does not exist in HTTP/2: passing one prints a process warning.
 *     → dropped.
 * 13. `writeProcessing()` (102) does not exist. → sent as an informational HEADERS frame.
 * 14. `destroyed` does not exist (undefined, so "already gone" checks never fire). → the stream's.
 * 15. `writeEarlyHints`, `flushHeaders`, `writableFinished`, `headersSent`, `req`, raw header arrays in writeHead,
 *     'close' and 'drain', pipe() into the response: present and compatible (tested).
 * 16. Our own destroy() of a response is remembered (`resetByUs`), so the flood guard counts only streams the
 *     client reset.
 */
import http2 from 'node:http2'
import type {ServerHttp2Stream} from 'node:http2'

import {H2_NO_BODY, PROTOCOL, SCHEME} from '../../proxy/downstream.js'

/** Response fields that are about the connection (RFC 9113 §8.2.2); never sent over HTTP/2. */
export const H2_FORBIDDEN_RESPONSE_FIELDS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings'])

/** Node's single-value fields (lib/internal/http2/util.js kSingleValueHeaders) that a response may carry. */
const SINGLE_VALUE: ReadonlySet<string> = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
])
/** Single-value for Node but list-valued in HTTP (RFC 9110 §8.4, §8.5): repeated lines are joined, not dropped. */
const JOINED: ReadonlySet<string> = new Set(['content-encoding', 'content-language'])

/**
 * A response header list as HTTP/2 can carry it: connection-specific fields removed, repeated single-value fields
 * reduced to their first value (list-valued ones joined). Returns the input itself when nothing changes (the usual
 * case: stored headers are already hop-by-hop free).
 */
export function h2ResponseHeaders(raw: readonly string[]): string[] {
  let seen: Map<string, number> | undefined
  let out: string[] | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const n = name.toLowerCase()
    const forbidden = H2_FORBIDDEN_RESPONSE_FIELDS.has(n)
    const single = SINGLE_VALUE.has(n) || JOINED.has(n)
    let drop = forbidden
    if (!forbidden && single) {
      seen ??= new Map()
      const at = seen.get(n)
      if (at === undefined) seen.set(n, out ? out.length : i)
      else {
        drop = true
        if (JOINED.has(n)) {
          out ??= raw.slice(0, i)
          out[at + 1] = `${out[at + 1]}, ${raw[i + 1]}`
        }
      }
    }
    if (drop) {
      out ??= raw.slice(0, i)
      continue
    }
    if (out) out.push(name, raw[i + 1]!)
  }
  return out ?? (raw as string[])
}

type HeaderObject = Record<string, string | number | readonly string[] | undefined>

function objectToRaw(h: HeaderObject): string[] {
  const out: string[] = []
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) out.push(k, String(x))
    else out.push(k, String(v))
  }
  return out
}

export interface H2RequestInfo {
  /** Why the request is malformed (answered 400 before the handler), or undefined. */
  readonly malformed: string | undefined
  /** Bytes of the header list as HTTP/2 counts them (name + value + 32 per field, RFC 9113 §6.5.2). */
  readonly headerListSize: number
}

/** Join cookie lines, drop pseudo-headers, put Host (from :authority) first; see items 1, 3, 4 above. */
export function normalizeH2RequestHeaders(raw: readonly string[]): {headers: string[]; malformed: string | undefined; size: number} {
  let authority: string | undefined
  let host: string | undefined
  let hostCount = 0
  let cookies: string[] | undefined
  const rest: string[] = []
  let size = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const value = raw[i + 1]!
    size += name.length + value.length + 32
    if (name.charCodeAt(0) === 0x3a /* : */) {
      if (name === ':authority') authority = value
      continue
    }
    if (name === 'host') {
      hostCount++
      host ??= value
      continue
    }
    if (name === 'cookie') {
      if (cookies) cookies.push(value)
      else {
        cookies = [value]
        rest.push('cookie', '') // placeholder where the first cookie field stood
      }
      continue
    }
    rest.push(name, value)
  }
  if (cookies) rest[rest.indexOf('cookie') + 1] = cookies.join('; ')
  let malformed: string | undefined
  const headers: string[] = []
  if (authority !== undefined && authority !== '') {
    if (host !== undefined && host.toLowerCase() !== authority.toLowerCase()) malformed = `Host (${host.slice(0, 100)}) and :authority (${authority.slice(0, 100)}) differ`
    else if (hostCount > 1) malformed = 'more than one Host header field'
    headers.push('host', authority)
  } else if (host !== undefined) {
    // Several Host lines stay: admission answers those 400 as for HTTP/1.1.
    for (let i = 0; i < raw.length; i += 2) if (raw[i] === 'host') headers.push('host', raw[i + 1]!)
  }
  for (let i = 0; i < rest.length; i++) headers.push(rest[i]!)
  return {headers, malformed, size}
}

const RAW = Symbol('tavern.h2.raw')
const INFO = Symbol('tavern.h2.info')
const RESET_BY_US = Symbol('tavern.h2.resetByUs')

export class H2Request extends http2.Http2ServerRequest {
  [RAW]: string[]
  private readonly [INFO]: H2RequestInfo

  constructor(stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders, options: object | undefined, rawHeaders: readonly string[]) {
    super(stream, headers, options as never, rawHeaders)
    const n = normalizeH2RequestHeaders(rawHeaders)
    this[RAW] = n.headers
    this[INFO] = {malformed: n.malformed, headerListSize: n.size}
  }

  get [H2_NO_BODY](): boolean {
    return this.stream.endAfterHeaders
  }

  get h2(): H2RequestInfo {
    return this[INFO]
  }
}

export class H2Response extends http2.Http2ServerResponse<H2Request> {
  private [RESET_BY_US] = false

  /** writeHead(status[, reason][, headers]) with node:http's argument forms; see items 10–12 above. */
  override writeHead(statusCode: number, reasonOrHeaders?: string | HeaderObject | readonly string[], headers?: HeaderObject | readonly string[]): this {
    // writeHead(status, undefined, headers) is node:http's form too: the headers are the third argument.
    const h = typeof reasonOrHeaders === 'string' || reasonOrHeaders === undefined ? headers : reasonOrHeaders
    if (h === undefined) return super.writeHead(statusCode)
    const raw = Array.isArray(h) ? (h as readonly string[]) : objectToRaw(h as HeaderObject)
    return super.writeHead(statusCode, h2ResponseHeaders(raw) as unknown as http2.OutgoingHttpHeaders)
  }

  override setHeader(name: string, value: number | string | readonly string[]): void {
    if (H2_FORBIDDEN_RESPONSE_FIELDS.has(name.toLowerCase())) return
    super.setHeader(name, value)
  }

  override appendHeader(name: string, value: string | string[]): void {
    if (H2_FORBIDDEN_RESPONSE_FIELDS.has(name.toLowerCase())) return
    super.appendHeader(name, value)
  }

  /** 102 Processing as an informational HEADERS frame (node:http's writeProcessing). */
  writeProcessing(): void {
    const s = this.stream
    if (s && !s.destroyed && !s.headersSent) s.additionalHeaders({':status': 102})
  }

  override destroy(err?: Error): this {
    this[RESET_BY_US] = true
    return super.destroy(err)
  }

  /** The response was destroyed by our side (not by a client RST_STREAM). */
  get resetByUs(): boolean {
    return this[RESET_BY_US]
  }
}

// Accessors where the base class declares (and types) plain properties: defined on the prototypes.
Object.defineProperty(H2Request.prototype, 'rawHeaders', {
  configurable: true,
  get(this: H2Request) {
    return this[RAW]
  },
  set(this: H2Request, v: string[]) {
    this[RAW] = v
  },
})
Object.defineProperty(H2Response.prototype, 'destroyed', {
  configurable: true,
  get(this: H2Response) {
    const s = this.stream as ServerHttp2Stream | undefined
    return s === undefined || s.destroyed
  },
})

class H2RequestHttp extends H2Request {}
class H2RequestHttps extends H2Request {}
for (const [cls, scheme] of [
  [H2RequestHttp, 'http'],
  [H2RequestHttps, 'https'],
] as const) {
  Object.defineProperty(cls.prototype, SCHEME, {value: scheme})
  Object.defineProperty(cls.prototype, PROTOCOL, {value: 'h2'})
}

/** The request class for an HTTP/2 server of this scheme (TLS: https; h2c: http). */
export function h2RequestClass(scheme: 'http' | 'https'): typeof H2Request {
  return scheme === 'https' ? H2RequestHttps : H2RequestHttp
}
