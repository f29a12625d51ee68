/**
 * A body delimited only by the connection closing (no Content-Length, no chunked: HTTP/1.0 style) is complete when the
 * origin closes cleanly, and incomplete when the connection fails (RFC 9112 §8: "considered complete unless an error
 * was indicated by the underlying connection"). undici finishes such a body on ECONNRESET as if the origin had closed
 * cleanly, so a truncated body would look whole.
 *
 * This pool factory gives every undici Client a connector that notes when its socket is reset, and an interceptor that
 * turns the end of a response that came in on a reset socket into an error. A body that ends on a clean FIN stays
 * complete (the RFC's rule); one cut by a reset fails, so it is neither stored nor served as complete.
 *
 * Correlating by socket is exact here: with pipelining 1 a Client has one socket and one request on it at a time, and
 * a response framed by Content-Length or chunked has always ended before a reset of its socket is seen.
 */
import type {Socket} from 'node:net'

import {Client, type Dispatcher, errors} from 'undici'

const resetSockets = new WeakSet<Socket>()

type Connector = NonNullable<Extract<Client.Options['connect'], (...args: never[]) => unknown>>

/** Passes everything through, except that a response ending on a reset socket ends with an error instead. */
class ResetGuardHandler implements Dispatcher.DispatchHandler {
  constructor(
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly conn: {socket?: Socket},
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.handler.onRequestStart?.(controller, context)
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[2], socket: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[3]): void {
    this.handler.onRequestUpgrade?.(controller, statusCode, headers, socket)
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2], statusMessage?: string): void {
    this.handler.onResponseStart?.(controller, statusCode, headers, statusMessage)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.handler.onResponseData?.(controller, chunk)
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseEnd']>>[1]): void {
    const s = this.conn.socket
    if (s && resetSockets.has(s)) {
      this.handler.onResponseError?.(controller, new errors.SocketError('upstream reset the connection before the body (delimited by connection close) was complete'))
      return
    }
    this.handler.onResponseEnd?.(controller, trailers)
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.handler.onResponseError?.(controller, error)
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
  const client = new Client(origin, connect ? {...options, connect} : options)
  return client.compose((dispatch) => (o, handler) => dispatch(o, new ResetGuardHandler(handler, conn)))
}
