/**
 * Client connections of every data-plane listener, counted against one `server.maxConnections` (one open-file
 * budget), with the bookkeeping a graceful drain needs.
 *
 * A connection is its TCP socket, admitted when accepted (a TLS handshake in progress counts: it holds a file
 * descriptor). At the limit, the connection that has waited longest without a request in progress (idle keep-alive,
 * idle HTTP/2 session, a handshake or first request head still coming) is closed to make room, so idle connections
 * cannot lock new clients out; when every connection has a request in progress, the new one is closed at once.
 *
 * Requests are counted per connection: HTTP/1.1 requests (pipelining can have several) and HTTP/2 streams alike.
 * The objects a request exposes (the TLS socket, the HTTP/2 session) are attached to their connection with
 * `attach()`, so `of(req.socket)` / `of(session)` finds it.
 */
import type {Socket} from 'node:net'

const CONN = Symbol('tavern.connection')
type Tagged = object & {[CONN]?: Connection}

export interface Connection {
  readonly socket: Socket
  /** Requests (HTTP/1.1) or streams (HTTP/2) in progress. */
  pending: number
  /**
   * How to close the connection when it is idle (or, for HTTP/2, as soon as a drain starts): HTTP/1.1 destroys the
   * socket, HTTP/2 sends GOAWAY (session.close(), which waits for open streams). Set once the protocol is known;
   * until then (handshake, sniffing) the socket is destroyed.
   */
  closeIdle: (() => void) | undefined
  /** HTTP/1.1 on this connection: responses get `Connection: close` while draining. */
  http1: boolean
}

export interface ConnectionTrackerOptions {
  maxConnections: number
  /** Told (at most every 10 s) that connections were closed for the limit. */
  onWarning?: (fields: Record<string, unknown>, msg: string) => void
}

const WARN_EVERY_MS = 10_000

export class ConnectionTracker {
  private readonly conns = new Set<Connection>()
  /** Connections without a request in progress, longest waiting first (Set order = insertion order). */
  private readonly waiting = new Set<Connection>()
  private inFlight = 0
  private idleWaiters: Array<() => void> = []
  private warnedAt = 0
  private unreported = {rejected: 0, evicted: 0}
  private drainingNow = false
  /** Connections closed at once because every slot had a request in progress. */
  rejected = 0
  /** Waiting connections closed to make room for a new one. */
  evicted = 0

  constructor(private readonly opts: ConnectionTrackerOptions) {}

  get maxConnections(): number {
    return this.opts.maxConnections
  }

  get openConnections(): number {
    return this.conns.size
  }

  get activeRequests(): number {
    return this.inFlight
  }

  get draining(): boolean {
    return this.drainingNow
  }

  /** A socket was accepted: count it (or make room, or refuse it: then undefined and the socket is destroyed). */
  admit(socket: Socket): Connection | undefined {
    if (this.drainingNow) {
      socket.destroy()
      return undefined
    }
    if (this.conns.size >= this.opts.maxConnections) {
      const victim = this.waiting.values().next().value as Connection | undefined
      if (victim === undefined) {
        this.rejected++
        this.unreported.rejected++
        socket.destroy()
        this.reportLimit()
        return undefined
      }
      this.forget(victim)
      victim.socket.destroy()
      this.evicted++
      this.unreported.evicted++
      this.reportLimit()
    }
    const conn: Connection = {socket, pending: 0, closeIdle: undefined, http1: false}
    ;(socket as Tagged)[CONN] = conn
    this.conns.add(conn)
    this.waiting.add(conn)
    socket.once('close', () => this.forget(conn))
    return conn
  }

  /** Make `of(obj)` find `conn` (a TLS socket wrapping the connection's socket, an HTTP/2 session on it). */
  attach(obj: object, conn: Connection): void {
    ;(obj as Tagged)[CONN] = conn
  }

  of(obj: object | null | undefined): Connection | undefined {
    return obj ? (obj as Tagged)[CONN] : undefined
  }

  private forget(conn: Connection): void {
    this.conns.delete(conn)
    this.waiting.delete(conn)
  }

  requestStarted(conn: Connection | undefined): void {
    this.inFlight++
    if (!conn) return
    conn.pending++
    this.waiting.delete(conn)
  }

  requestFinished(conn: Connection | undefined): void {
    this.inFlight--
    if (conn) {
      conn.pending = Math.max(0, conn.pending - 1)
      if (conn.pending === 0 && this.conns.has(conn)) {
        if (this.drainingNow) this.closeConnection(conn)
        else this.waiting.add(conn)
      }
    }
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w()
  }

  private closeConnection(conn: Connection): void {
    try {
      if (conn.closeIdle) conn.closeIdle()
      else conn.socket.destroy()
    } catch {
      conn.socket.destroy()
    }
  }

  /**
   * Start a drain: no new connections; idle ones are closed now, busy HTTP/1.1 ones when their last request ends.
   * HTTP/2 sessions get GOAWAY now, busy or not (the client opens no new stream; the open ones finish).
   */
  beginDrain(): void {
    this.drainingNow = true
    for (const c of [...this.conns]) if (c.pending === 0 || (!c.http1 && c.closeIdle)) this.closeConnection(c)
  }

  /** Resolves when no request is in progress. */
  whenIdle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  /** Cut every connection that remains. */
  destroyAll(): void {
    for (const c of [...this.conns]) c.socket.destroy()
  }

  private reportLimit(): void {
    const now = Date.now()
    if (now - this.warnedAt < WARN_EVERY_MS) return
    this.warnedAt = now
    const {rejected, evicted} = this.unreported
    this.unreported = {rejected: 0, evicted: 0}
    try {
      this.opts.onWarning?.({maxConnections: this.opts.maxConnections, open: this.conns.size, rejected, evicted}, 'connection limit reached (server.maxConnections): closing waiting connections, or new ones when none waits')
    } catch {
      // a failing logger must not turn into a listener error
    }
  }
}
