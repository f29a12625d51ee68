/**
 * ALPN on the contexts SNI switches to. Node 20 registers its ALPN select callback only on the SSL_CTX a server
 * connection starts with (the listener's default context), not on the one `SNICallback` returns. Without a
 * HelloRetryRequest that does not show; with one (a TLS 1.3 client whose key share is for a group the server does not
 * take), the second ClientHello is processed under the SNI context, finds no callback, and no protocol is agreed: the
 * client falls back to HTTP/1.1, or gives up when it speaks h2 only (test/tls/alpn-after-hrr.test.ts).
 *
 * A server-side TLSSocket that sets its ALPN protocols registers the callback on its current context for good, and the
 * callback reads the protocols of the connection being negotiated (not of the socket that registered it). So one
 * throwaway server-side socket per context is enough; it never handshakes and is gone at once.
 */
import {Duplex} from 'node:stream'
import tls from 'node:tls'

export function registerAlpnSelect(context: tls.SecureContext): void {
  const nowhere = new Duplex({
    read() {},
    write(_chunk, _encoding, done) {
      done()
    },
  })
  const socket = new tls.TLSSocket(nowhere, {isServer: true, secureContext: context, ALPNProtocols: ['http/1.1']})
  socket.on('error', () => {})
  socket.destroy()
  nowhere.destroy()
}
