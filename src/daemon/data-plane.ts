import http from 'node:http'
import type {AddressInfo, Socket} from 'node:net'

import type {TavernConfig} from '../config/schema.js'
import {parseHostPort} from '../config/sizes.js'
import {refuseConnect} from '../proxy/admission.js'

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void

export interface DataPlaneOptions {
  /** Client connections open at once; at the limit a waiting connection makes room, or the new one is closed. */
  maxConnections: number
  /** Told (at most every 10 s) that connections were closed for the limit, and of accept errors (EMFILE…). */
  onWarning?: (fields: Record<string, unknown>, msg: string) => void
}

/** Pending requests on a socket (pipelining can have several). */
const PENDING = Symbol('tavern.pendingRequests')
type TrackedSocket = Socket & {[PENDING]?: number}

const WARN_EVERY_MS = 10_000

/**
 * How often Node checks headersTimeout/requestTimeout: within a quarter of the shortest one, at most every second
 * (Node's default, 30 s, let a 5 s headersTimeout run to 30 s), at least every 100 ms.
 */
export function connectionsCheckingInterval(server: Pick<TavernConfig['server'], 'headersTimeout' | 'requestTimeout'>): number {
  const timeouts = [server.headersTimeout, server.requestTimeout].filter((t) => t > 0)
  if (timeouts.length === 0) return 1000
  return Math.max(100, Math.min(1000, Math.floor(Math.min(...timeouts) / 4)))
}

/** The client-facing HTTP/1.1 listener, with the bookkeeping a graceful drain and the connection limit need. */
export class DataPlane {
  readonly server: http.Server
  private inFlight = 0
  private idleWaiters: Array<() => void> = []
  /** Every open client connection. */
  private readonly sockets = new Set<TrackedSocket>()
  /** Connections without a request in progress, longest waiting first (Set order = insertion order). */
  private readonly waiting = new Set<TrackedSocket>()
  /** Connections closed at once because every slot had a request in progress. */
  rejected = 0
  /** Waiting connections closed to make room for a new one. */
  evicted = 0
  private warnedAt = 0
  private listening = false
  private unreported = {rejected: 0, evicted: 0}

  constructor(
    private handler: RequestHandler,
    server: TavernConfig['server'],
    private readonly opts: DataPlaneOptions,
  ) {
    this.server = http.createServer(
      {
        keepAliveTimeout: server.keepAliveTimeout,
        headersTimeout: server.headersTimeout,
        requestTimeout: server.requestTimeout,
        connectionsCheckingInterval: connectionsCheckingInterval(server),
        maxHeaderSize: server.maxHeaderSize,
        // Our own Date/Content-Length handling: replayed responses keep their stored Date.
        joinDuplicateHeaders: false,
      },
      (req, res) => {
        this.inFlight++
        const socket = req.socket as TrackedSocket
        socket[PENDING] = (socket[PENDING] ?? 0) + 1
        this.waiting.delete(socket)
        res.once('close', () => {
          this.inFlight--
          const left = (socket[PENDING] ?? 1) - 1
          socket[PENDING] = left
          if (left === 0 && this.sockets.has(socket)) this.waiting.add(socket)
          if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w()
        })
        this.handler(req, res)
      },
    )
    // Node never hands CONNECT to the request handler; without a listener it drops the connection unanswered.
    this.server.on('connect', (_req, socket: Socket) => refuseConnect(socket))
    this.server.on('connection', (socket: TrackedSocket) => this.admit(socket))
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket))
    // For the server's whole life: an accept error (EMFILE, ENFILE) is an 'error' event, and one without a listener
    // would end the process. Node keeps listening after it.
    // (A listen error is listen()'s to report.)
    this.server.on('error', (err: NodeJS.ErrnoException) => {
      if (this.listening) this.warn({err, code: err.code}, 'data-plane listener error')
    })
  }

  setHandler(handler: RequestHandler): void {
    this.handler = handler
  }

  get activeRequests(): number {
    return this.inFlight
  }

  get openConnections(): number {
    return this.sockets.size
  }

  get maxConnections(): number {
    return this.opts.maxConnections
  }

  /**
   * Count a new connection against maxConnections. At the limit, the connection that has waited longest without a
   * request in progress (an idle keep-alive connection, or one still sending its first request head) is closed to
   * make room, so idle connections cannot lock new clients out; when every connection has a request in progress, the
   * new one is closed at once.
   */
  private admit(socket: TrackedSocket): void {
    if (this.sockets.size >= this.opts.maxConnections) {
      const victim = this.waiting.values().next().value as TrackedSocket | undefined
      if (victim === undefined) {
        this.rejected++
        this.unreported.rejected++
        socket.destroy()
        this.reportLimit()
        return
      }
      this.forget(victim)
      victim.destroy()
      this.evicted++
      this.unreported.evicted++
      this.reportLimit()
    }
    this.sockets.add(socket)
    this.waiting.add(socket)
    socket.once('close', () => this.forget(socket))
  }

  private forget(socket: TrackedSocket): void {
    this.sockets.delete(socket)
    this.waiting.delete(socket)
  }

  private reportLimit(): void {
    const now = Date.now()
    if (now - this.warnedAt < WARN_EVERY_MS) return
    this.warnedAt = now
    const {rejected, evicted} = this.unreported
    this.unreported = {rejected: 0, evicted: 0}
    this.warn({maxConnections: this.opts.maxConnections, open: this.sockets.size, rejected, evicted}, 'connection limit reached (server.maxConnections): closing waiting connections, or new ones when none waits')
  }

  private warn(fields: Record<string, unknown>, msg: string): void {
    try {
      this.opts.onWarning?.(fields, msg)
    } catch {
      // a failing logger must not turn into a listener error
    }
  }

  /**
   * A request Node's parser rejected or timed out. The answer goes out only when no response has started on the
   * connection (a status line in the middle of a body would corrupt it); a connection that never sent a byte and
   * timed out is just closed (no request to answer).
   */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
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

  async listen(listen: string): Promise<AddressInfo> {
    const {host, port} = parseHostPort(listen)!
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        this.listening = true
        resolve()
      })
    })
    return this.server.address() as AddressInfo
  }

  /** Stop accepting, let in-flight requests finish until the deadline, then cut what remains. */
  async drain(deadlineMs: number): Promise<{unfinished: number}> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeIdleConnections()
    // Keep-alive connections that finish a response while draining are closed instead of kept.
    this.server.on('request', (_req, res: http.ServerResponse) => res.setHeader('connection', 'close'))
    const idle = this.inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idleWaiters.push(resolve))
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadlineMs)
    })
    const r = await Promise.race([idle, timedOut])
    clearTimeout(timer)
    const unfinished = r === 'timeout' ? this.inFlight : 0
    this.server.closeAllConnections()
    // Belt and braces: no connection, whatever state Node's parser thinks it is in, may hold the close open.
    for (const s of this.sockets) s.destroy()
    await closed
    return {unfinished}
  }
}
