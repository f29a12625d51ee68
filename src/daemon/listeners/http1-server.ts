/**
 * The HTTP/1.1 engine of every listener: a node:http server with Tavern's timeouts, header limit, error answers and
 * request accounting. A plain listener lets it listen itself; a TLS listener hands it the TLS sockets that
 * negotiated `http/1.1` (or nothing) by ALPN, so HTTP/1.1 over TLS behaves exactly like plain HTTP/1.1.
 */
import http from 'node:http'
import type {Socket} from 'node:net'

import type {TavernConfig} from '../../config/schema.js'
import {refuseConnect} from '../../proxy/admission.js'
import {PROTOCOL, SCHEME, type Scheme} from '../../proxy/downstream.js'
import type {ConnectionTracker} from './connection-tracker.js'

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void

export type Http1Timeouts = Pick<TavernConfig['server'], 'keepAliveTimeout' | 'headersTimeout' | 'requestTimeout' | 'maxHeaderSize'>

/**
 * How often Node checks headersTimeout/requestTimeout: within a quarter of the shortest one, at most every second
 * (Node's default, 30 s, let a 5 s headersTimeout run to 30 s), at least every 100 ms.
 */
export function connectionsCheckingInterval(server: Pick<TavernConfig['server'], 'headersTimeout' | 'requestTimeout'>): number {
  const timeouts = [server.headersTimeout, server.requestTimeout].filter((t) => t > 0)
  if (timeouts.length === 0) return 1000
  return Math.max(100, Math.min(1000, Math.floor(Math.min(...timeouts) / 4)))
}

class HttpRequest extends http.IncomingMessage {}
class HttpsRequest extends http.IncomingMessage {}
Object.defineProperty(HttpRequest.prototype, SCHEME, {value: 'http'})
Object.defineProperty(HttpsRequest.prototype, SCHEME, {value: 'https'})
Object.defineProperty(HttpRequest.prototype, PROTOCOL, {value: 'http/1.1'})
Object.defineProperty(HttpsRequest.prototype, PROTOCOL, {value: 'http/1.1'})

/**
 * A request Node's parser rejected or timed out. The answer goes out only when no response has started on the
 * connection (a status line in the middle of a body would corrupt it); a connection that never sent a byte and
 * timed out is just closed (no request to answer).
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  const inProgress = (socket as Socket & {_httpMessage?: {headersSent?: boolean}})._httpMessage
  if (!socket.writable || socket.writableEnded || inProgress?.headersSent || err.code === 'ECONNRESET') {
    socket.destroy()
    return
  }
  let status: string
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    if (socket.bytesRead === 0) {
      socket.destroy()
      return
    }
    status = '408 Request Timeout'
  } else if (err.code === 'HPE_HEADER_OVERFLOW') status = '431 Request Header Fields Too Large'
  else if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') status = '413 Content Too Large'
  else status = '400 Bad Request'
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  // end() waits for the peer to read; a peer that does not must not keep the connection open.
  socket.setTimeout(5000, () => socket.destroy())
}

export interface Http1ServerOptions {
  timeouts: Http1Timeouts
  scheme: Scheme
  tracker: ConnectionTracker
  /** Current handler (read per request, so setHandler-style swaps need no new server). */
  handler: () => RequestHandler
  /**
   * This server accepts connections itself (a plain listener): count them. A TLS listener admits the TCP socket
   * before the handshake and attaches the TLS socket to it.
   */
  admits: boolean
  onWarning?: (fields: Record<string, unknown>, msg: string) => void
}

export function createHttp1Server(opts: Http1ServerOptions): http.Server {
  const {timeouts, tracker} = opts
  let listening = false
  const server = http.createServer(
    {
      IncomingMessage: opts.scheme === 'https' ? HttpsRequest : HttpRequest,
      keepAliveTimeout: timeouts.keepAliveTimeout,
      headersTimeout: timeouts.headersTimeout,
      requestTimeout: timeouts.requestTimeout,
      connectionsCheckingInterval: connectionsCheckingInterval(timeouts),
      maxHeaderSize: timeouts.maxHeaderSize,
      // Our own Date/Content-Length handling: replayed responses keep their stored Date.
      joinDuplicateHeaders: false,
    },
    (req, res) => {
      const conn = tracker.of(req.socket)
      tracker.requestStarted(conn)
      res.once('close', () => tracker.requestFinished(conn))
      // Keep-alive connections that finish a response while draining are closed instead of kept.
      if (tracker.draining) res.setHeader('connection', 'close')
      opts.handler()(req, res)
    },
  )
  // Node never hands CONNECT to the request handler; without a listener it drops the connection unanswered.
  server.on('connect', (_req, socket: Socket) => refuseConnect(socket))
  server.on('connection', (socket: Socket) => {
    const conn = opts.admits ? tracker.admit(socket) : tracker.of(socket)
    if (conn) {
      conn.http1 = true
      conn.closeIdle = undefined // an idle HTTP/1.1 connection is simply closed
    }
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket))
  server.on('listening', () => (listening = true))
  // For the server's whole life: an accept error (EMFILE, ENFILE) is an 'error' event, and one without a listener
  // would end the process. Node keeps listening after it. (A listen error is listen()'s to report.)
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (!listening) return
    try {
      opts.onWarning?.({err, code: err.code}, 'data-plane listener error')
    } catch {
      // a failing logger must not turn into a listener error
    }
  })
  return server
}

/**
 * Start Node's connection checks (headersTimeout, requestTimeout) on a server that never listens itself: Node starts
 * them on 'listening'. Call once when the listener that feeds it starts listening; `server.close()` stops them.
 */
export function startTimeoutChecks(server: http.Server): void {
  server.emit('listening')
}
