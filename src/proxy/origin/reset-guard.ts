/**
 * A body delimited only by the connection closing (no Content-Length, no chunked: HTTP/1.0 style) is complete when the
 * origin closes cleanly, and incomplete when the connection fails (RFC 9112 §8: "considered complete unless an error
 * was indicated by the underlying connection"). undici finishes such a body on ECONNRESET as if the origin had closed
 * cleanly, so a truncated body would look whole.
 *
 * This pool factory gives every undici Client a connector that notes when its socket is reset, and a dispatch
 * wrapper that turns the end of a response that came in on a reset socket into an error. A body that ends on a clean
 * FIN stays complete (the RFC's rule); one cut by a reset fails, so it is neither stored nor served as complete.
 *
 * Correlating by socket is exact here: with pipelining 1 a Client has one socket and one request on it at a time, and
 * a response framed by Content-Length or chunked has always ended before a reset of its socket is seen.
 */
import type {Socket} from 'node:net'
import type {Duplex} from 'node:stream'

import {Client, type Dispatcher, errors} from 'undici'

const resetSockets = new WeakSet<Socket>()

type Connector = NonNullable<Extract<Client.Options['connect'], (...args: never[]) => unknown>>
type Legacy = Dispatcher.DispatchHandler

/**
 * Passes everything through, except that a response ending on a reset socket ends with an error instead. It speaks
 * undici's handler interface that carries raw header lists: the newer one (onResponseStart…) hands over parsed header
 * objects, which would merge repeated fields (several Set-Cookie lines) and lose their order.
 */
class ResetGuardHandler implements Legacy {
  constructor(
    private readonly handler: Legacy,
    private readonly conn: {socket?: Socket},
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.handler.onConnect?.(abort)
  }

  onResponseStarted(): void {
    this.handler.onResponseStarted?.()
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    this.handler.onUpgrade?.(statusCode, headers, socket)
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    return this.handler.onHeaders?.(statusCode, headers, resume, statusText) ?? true
  }

  onData(chunk: Buffer): boolean {
    return this.handler.onData?.(chunk) ?? true
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.handler.onBodySent?.(chunkSize, totalBytesSent)
  }

  onComplete(trailers: string[] | null): void {
    const s = this.conn.socket
    if (s && resetSockets.has(s)) {
      this.onError(new errors.SocketError('upstream reset the connection before the body (delimited by connection close) was complete'))
      return
    }
    this.handler.onComplete?.(trailers)
  }

  onError(err: Error): void {
    this.handler.onError?.(err)
  }
}

/** A Client whose close-delimited bodies fail when its connection was reset. */
class ResetGuardedClient extends Client {
  constructor(
    origin: URL,
    options: Client.Options,
    private readonly conn: {socket?: Socket},
  ) {
    super(origin, options)
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Legacy): boolean {
    // Through a Pool, handlers arrive in the raw interface (DispatcherBase.dispatch unwraps them); one that only
    // speaks the newer interface cannot be guarded here and is passed on as it is.
    if (typeof handler.onHeaders !== 'function') return super.dispatch(options, handler)
    return super.dispatch(options, new ResetGuardHandler(handler, this.conn))
  }
}

/** undici Pool `factory`: Clients whose close-delimited bodies fail when the connection was reset. */
export function resetGuardedClient(origin: URL, opts: object): Dispatcher {
  const options = opts as Client.Options
  const base = options.connect as Connector | undefined
  const conn: {socket?: Socket} = {}
  const connect: Connector | undefined = base
    ? (o, cb) =>
        base(o, (...args) => {
          const socket = args[1] as Socket | null
          if (socket) {
            conn.socket = socket
            // Before undici's own listener, which completes a close-delimited body on ECONNRESET.
            socket.prependListener('error', (e: NodeJS.ErrnoException) => {
              if (e.code === 'ECONNRESET') resetSockets.add(socket)
            })
          }
          cb(...args)
        })
    : undefined
  return new ResetGuardedClient(origin, connect ? {...options, connect} : options, conn)
}
