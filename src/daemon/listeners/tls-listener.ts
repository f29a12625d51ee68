/**
 * A TLS listener: one tls.Server doing the handshake (certificate by SNI from the CertStore, ALPN `h2` then
 * `http/1.1`, session tickets, handshake timeout), handing each established TLS socket to the HTTP/2 engine when
 * it negotiated `h2`, else to the HTTP/1.1 engine. The engines are the same ones plain listeners use, so limits,
 * timeouts and error answers are the same on every port.
 *
 * (Not http2.createSecureServer({allowHTTP1}): its HTTP/1.1 side is node:http's connection listener with the
 * HTTP/2 server's settings — fixed 60 s / 300 s timeouts, no maxHeaderSize, no clientError answers, no
 * per-connection accounting — so HTTP/1.1 over TLS would behave differently from plain HTTP/1.1.)
 *
 * The TCP socket is admitted against the connection limit when accepted, before the handshake (a handshake in
 * progress holds a file descriptor); the TLS socket made from it is attached to the same connection.
 */
import type http from 'node:http'
import type {Socket} from 'node:net'
import tls from 'node:tls'

import type {CertStore} from '../../tls/cert-store.js'
import type {TlsGlobals} from '../../tls/config.js'
import type {Connection, ConnectionTracker} from './connection-tracker.js'
import type {H2Engine} from './h2-server.js'

export interface TlsListenerOptions {
  store: CertStore
  globals: TlsGlobals
  http1: http.Server
  /** Present when the listener offers HTTP/2. */
  h2: H2Engine | undefined
  tracker: ConnectionTracker
  onWarning?: (fields: Record<string, unknown>, msg: string) => void
}

export interface TlsServer {
  readonly server: tls.Server
  /** Handshakes that failed (bad client hello, no common cipher/protocol, timeout, reset). */
  readonly handshakeFailures: number
}

/** Same TCP connection as seen from its TLS socket (TLSSocket forwards the peer address of the socket it wraps). */
function peerKey(s: Socket): string {
  return `${s.remoteAddress}|${s.remotePort}`
}

export function createTlsServer(opts: TlsListenerOptions): TlsServer {
  const {store, tracker} = opts
  let handshakeFailures = 0
  let listening = false
  /** TCP connections admitted and not yet past the handshake, by peer address. */
  const handshaking = new Map<string, Connection>()
  const server = tls.createServer({
    ...store.defaultContextOptions,
    SNICallback: store.sniCallback,
    ALPNProtocols: opts.h2 ? ['h2', 'http/1.1'] : ['http/1.1'],
    handshakeTimeout: opts.globals.handshakeTimeout,
  })
  // Clients without SNI get the default pair of the current set.
  const unsubscribe = store.onSwap(() => server.setSecureContext(store.defaultContextOptions))
  server.once('close', unsubscribe)

  // Admission first, before tls.Server's own listener wraps the socket.
  server.prependListener('connection', (raw: Socket) => {
    const conn = tracker.admit(raw)
    if (!conn) return
    const key = peerKey(raw)
    handshaking.set(key, conn)
    raw.once('close', () => {
      if (handshaking.get(key) === conn) handshaking.delete(key)
    })
  })

  server.on('secureConnection', (socket: tls.TLSSocket) => {
    const key = peerKey(socket)
    const conn = handshaking.get(key)
    handshaking.delete(key)
    if (conn) tracker.attach(socket, conn)
    if (socket.alpnProtocol === 'h2' && opts.h2) opts.h2.server.emit('connection', socket)
    else opts.http1.emit('connection', socket)
  })

  server.on('tlsClientError', (_err: Error, socket: tls.TLSSocket) => {
    handshakeFailures++
    socket.destroy()
  })
  server.on('listening', () => (listening = true))
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (!listening) return // listen()'s to report
    try {
      opts.onWarning?.({err, code: err.code}, 'data-plane TLS listener error')
    } catch {
      // a failing logger must not turn into a listener error
    }
  })
  return {
    server,
    get handshakeFailures() {
      return handshakeFailures
    },
  }
}
