/**
 * The HTTP/2 engine: a node:http2 server (no TLS of its own) that a TLS listener hands the sockets that negotiated
 * `h2`, or that listens itself / gets sniffed sockets for h2c. Requests reach the same handler as HTTP/1.1, as
 * node:http-shaped compat objects (h2-compat.ts), after the checks HTTP/2 needs first:
 * - flood limits per session (h2-flood-guard.ts); a flagged session's new streams are refused;
 * - header list size (431), malformed Host/:authority (400), CONNECT (405);
 * - a request body that does not arrive within server.requestTimeout is cut (408 when nothing was answered yet).
 */
import type {IncomingMessage, ServerResponse} from 'node:http'
import http2, {type ServerHttp2Session} from 'node:http2'
import type {Socket} from 'node:net'

import {CONNECT_REFUSED} from '../../proxy/admission.js'
import type {Scheme} from '../../proxy/downstream.js'
import type {Http2Limits} from '../../config/listeners.js'
import type {ConnectionTracker} from './connection-tracker.js'
import {type H2Request, h2RequestClass, H2Response} from './h2-compat.js'
import {type FloodCounters, type FloodKind, SessionGuard} from './h2-flood-guard.js'
import type {RequestHandler} from './http1-server.js'


export interface H2ServerOptions {
  limits: Http2Limits
  scheme: Scheme
  tracker: ConnectionTracker
  handler: () => RequestHandler
  /** Longest time to receive a request body (server.requestTimeout; 0 = none). */
  requestTimeoutMs: number
  /** The server listens itself (plain h2c-only) and must count its connections. */
  admits: boolean
  /** Told when a session is closed for a flood (rate-limited by the caller if needed). */
  onFlood?: (kind: FloodKind, fields: Record<string, unknown>) => void
}

export type TavernHttp2Server = http2.Http2Server<typeof IncomingMessage, typeof ServerResponse, typeof H2Request, typeof H2Response>

export interface H2Engine {
  readonly server: TavernHttp2Server
  /** Sessions closed per flood kind. */
  readonly floods: FloodCounters
  /** Sessions open now. */
  readonly sessions: number
}

/** A plain answer for requests refused before the handler (HTTP/2 has no reason phrase or Connection to care about). */
function refuse(res: H2Response, status: number, message: string, extra: string[] = []): void {
  const body = `${status} ${message}\n`
  try {
    res.writeHead(status, [...extra, 'content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store'])
    if (res.req.method === 'HEAD') res.end()
    else res.end(body)
  } catch {
    res.destroy()
  }
}

export function createH2Server(opts: H2ServerOptions): H2Engine {
  const {limits, tracker} = opts
  const floods: FloodCounters = {resets: 0, pings: 0, settings: 0}
  let sessions = 0
  const server = http2.createServer({
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderListSize,
      enablePush: false,
      enableConnectProtocol: false,
    },
    // nghttp2's memory per session (MiB; Node's default): not a config key, since nothing outside can tell it was set.
    maxSessionMemory: 10,
    maxHeaderListPairs: limits.maxHeaderFields,
    Http2ServerRequest: h2RequestClass(opts.scheme),
    Http2ServerResponse: H2Response,
  })

  if (opts.admits) {
    // Before Node's own connection listener (which creates the session): the session must find its connection.
    server.prependListener('connection', (socket: Socket) => {
      tracker.admit(socket)
    })
  }

  server.on('session', (session: ServerHttp2Session) => {
    sessions++
    // session.socket is a proxy of the socket the connection was admitted (or attached) as.
    const conn = tracker.of(session.socket)
    if (conn) {
      tracker.attach(session, conn)
      conn.http1 = false
      // Idle while draining, or at the idle timeout: GOAWAY, then Node closes once the streams are done.
      conn.closeIdle = () => session.close()
      if (tracker.draining) session.close()
    }
    new SessionGuard(session, {resets: limits.resets, pings: limits.pings, settings: limits.settings}, (kind) => {
      floods[kind]++
      opts.onFlood?.(kind, {remoteAddress: session.socket?.remoteAddress, kind})
    })
    if (limits.idleTimeout > 0) {
      const idle = () => {
        if (session.closed || session.destroyed) return
        if ((conn?.pending ?? 0) === 0) session.close()
        else session.setTimeout(limits.idleTimeout, idle)
      }
      session.setTimeout(limits.idleTimeout, idle)
    }
    session.once('close', () => sessions--)
  })
  // Session errors (floods nghttp2 caught, protocol errors, resets) end that session; nothing to crash over.
  server.on('sessionError', () => {})

  server.on('request', (request: unknown, response: unknown) => {
    const req = request as H2Request
    const res = response as H2Response
    const session = req.stream.session as ServerHttp2Session | undefined
    const guard = session ? SessionGuard.of(session) : undefined
    if (!session || guard?.flagged !== undefined) {
      // Streams of a session being closed for abuse never reach the handler.
      req.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
      return
    }
    const conn = tracker.of(session)
    tracker.requestStarted(conn)
    res.once('close', () => tracker.requestFinished(conn))
    req.once('aborted', () => {
      if (!res.resetByUs && !res.writableFinished) guard?.streamReset()
    })
    // Errors on a stream (client reset, write after close) are the stream's end, never the process's.
    req.stream.on('error', () => {})

    if (req.h2.headerListSize > limits.maxHeaderListSize) return refuse(res, 431, `Request Header Fields Too Large (over ${limits.maxHeaderListSize} bytes)`)
    if (req.h2.malformed) return refuse(res, 400, `Bad Request: ${req.h2.malformed}`)
    if (req.method === 'CONNECT') return refuse(res, 405, `Method Not Allowed: ${CONNECT_REFUSED}`, ['allow', ''])

    if (opts.requestTimeoutMs > 0 && !req.stream.endAfterHeaders) {
      const timer = setTimeout(() => {
        if (res.headersSent) res.destroy()
        else refuse(res, 408, 'Request Timeout')
      }, opts.requestTimeoutMs)
      timer.unref()
      const clear = () => clearTimeout(timer)
      req.once('end', clear)
      res.once('close', clear)
    }
    opts.handler()(req as unknown as IncomingMessage, res as unknown as ServerResponse)
  })

  return {
    server,
    floods,
    get sessions() {
      return sessions
    },
  }
}
