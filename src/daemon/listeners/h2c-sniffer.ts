/**
 * HTTP/1.1 and h2c (HTTP/2 with prior knowledge, RFC 9113 §3.3) on one plain port: the first bytes tell them apart.
 * An HTTP/2 client starts with the 24-byte preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, which no HTTP/1.1 request
 * can start with; anything else goes to HTTP/1.1 as soon as it differs from the preface (for `GET …`, at the first
 * byte). The bytes read are put back before the engine gets the socket.
 */
import type {EventEmitter} from 'node:events'
import type {Socket} from 'node:net'

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export interface SniffTargets {
  http1: EventEmitter
  h2: EventEmitter
  /** A client that sends nothing (or not enough to decide) within this is closed. */
  timeoutMs: number
}

export function sniffProtocol(socket: Socket, targets: SniffTargets): void {
  let buf: Buffer | undefined
  const done = (to: EventEmitter) => {
    socket.off('data', onData)
    socket.off('error', onError)
    socket.setTimeout(0)
    socket.pause()
    if (buf) socket.unshift(buf)
    to.emit('connection', socket)
    // The engine attached its readers; let the data (the bytes put back first) flow.
    process.nextTick(() => socket.resume())
  }
  const onData = (chunk: Buffer) => {
    buf = buf ? Buffer.concat([buf, chunk]) : chunk
    const n = Math.min(buf.length, H2_PREFACE.length)
    if (buf.compare(H2_PREFACE, 0, n, 0, n) !== 0) return done(targets.http1)
    if (buf.length >= H2_PREFACE.length) done(targets.h2)
  }
  const onError = () => socket.destroy()
  socket.on('data', onData)
  socket.on('error', onError)
  socket.setTimeout(targets.timeoutMs, () => socket.destroy())
}
