/**
 * A raw HTTP/2 client for abuse tests: hand-built frames over a TLS (ALPN h2) or plain socket, and a reader that
 * records what the server sends back (frame types, GOAWAY code, RST_STREAM codes, bytes).
 *
 *   const c = await rawH2(port, {tls: true})
 *   c.send(c.preface(), settingsFrame())
 *   c.send(headersFrame(1, requestBlock({path: '/'}), {endStream: true}), rstStreamFrame(1, 8))
 *   await c.closed          // or waitFor(() => c.goaway)
 *   c.goaway?.code          // 11 = ENHANCE_YOUR_CALM
 */
import net from 'node:net'
import tls from 'node:tls'

export const FRAME = {DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9} as const
export const FLAG = {END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4} as const
export const ERROR = {NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11} as const

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(streamId & 0x7fffffff, 5)
  return Buffer.concat([h, payload])
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the bits above the prefix. */
function hpackInt(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1
  if (value < max) return Buffer.from([first | value])
  const out = [first | max]
  let v = value - max
  while (v >= 128) {
    out.push((v % 128) + 128)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return Buffer.from(out)
}

function hpackString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s
  return Buffer.concat([hpackInt(b.length, 7, 0), b])
}

/** Literal header field without indexing, new name (RFC 7541 §6.2.2): nothing enters the dynamic table. */
export function literal(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)])
}

/** A request header block: pseudo-headers first, then `extra` fields. */
export function requestBlock(opts: {method?: string; path?: string; authority?: string; scheme?: string; extra?: Array<[string, string]>} = {}): Buffer {
  const parts = [literal(':method', opts.method ?? 'GET'), literal(':scheme', opts.scheme ?? 'https'), literal(':path', opts.path ?? '/'), literal(':authority', opts.authority ?? 'flood.test')]
  for (const [n, v] of opts.extra ?? []) parts.push(literal(n, v))
  return Buffer.concat(parts)
}

export function headersFrame(streamId: number, block: Buffer, opts: {endStream?: boolean; endHeaders?: boolean} = {}): Buffer {
  return frame(FRAME.HEADERS, (opts.endStream ? FLAG.END_STREAM : 0) | (opts.endHeaders === false ? 0 : FLAG.END_HEADERS), streamId, block)
}

export function continuationFrame(streamId: number, block: Buffer, endHeaders = false): Buffer {
  return frame(FRAME.CONTINUATION, endHeaders ? FLAG.END_HEADERS : 0, streamId, block)
}

export function rstStreamFrame(streamId: number, code: number = ERROR.CANCEL): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(code)
  return frame(FRAME.RST_STREAM, 0, streamId, p)
}

export function settingsFrame(settings: Array<[number, number]> = [], ack = false): Buffer {
  const p = Buffer.alloc(settings.length * 6)
  settings.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6)
    p.writeUInt32BE(v, i * 6 + 2)
  })
  return frame(FRAME.SETTINGS, ack ? FLAG.ACK : 0, 0, p)
}

export function pingFrame(ack = false, data: Buffer = Buffer.alloc(8)): Buffer {
  return frame(FRAME.PING, ack ? FLAG.ACK : 0, 0, data)
}

export interface RawH2 {
  socket: net.Socket
  send(...frames: Buffer[]): boolean
  /** Write and wait for the socket to accept more (bounded backpressure). */
  sendAndDrain(...frames: Buffer[]): Promise<void>
  /** Frames received, by type. */
  counts: Map<number, number>
  /** RST_STREAM error codes received. */
  resets: number[]
  /** The first GOAWAY received. */
  goaway: {lastStreamId: number; code: number} | undefined
  /** Every GOAWAY's error code, in order. */
  goawayCodes: number[]
  /** HEADERS frames received (responses), with the stream they were on. */
  responses: number[]
  bytesReceived: number
  closed: Promise<void>
  isClosed(): boolean
  destroy(): void
}

export async function rawH2(port: number, opts: {tls?: boolean; servername?: string; host?: string; /** Acknowledge the server's SETTINGS (default true). */ ackSettings?: boolean} = {}): Promise<RawH2> {
  const host = opts.host ?? '127.0.0.1'
  const socket: net.Socket = await new Promise((resolve, reject) => {
    if (opts.tls) {
      const s = tls.connect({port, host, servername: opts.servername ?? 'flood.test', ALPNProtocols: ['h2'], rejectUnauthorized: false}, () => {
        if (s.alpnProtocol !== 'h2') reject(new Error(`server did not negotiate h2 (got ${String(s.alpnProtocol)})`))
        else resolve(s)
      })
      s.once('error', reject)
    } else {
      const s = net.connect(port, host, () => resolve(s))
      s.once('error', reject)
    }
  })
  socket.on('error', () => {})
  const counts = new Map<number, number>()
  const resets: number[] = []
  const responses: number[] = []
  const goawayCodes: number[] = []
  let goaway: RawH2['goaway']
  let pending: Buffer = Buffer.alloc(0)
  let bytesReceived = 0
  let closed = false
  socket.on('data', (d: Buffer) => {
    bytesReceived += d.length
    pending = pending.length ? Buffer.concat([pending, d]) : d
    while (pending.length >= 9) {
      const len = pending.readUIntBE(0, 3)
      if (pending.length < 9 + len) break
      const type = pending[3]!
      const stream = pending.readUInt32BE(5) & 0x7fffffff
      const payload = pending.subarray(9, 9 + len)
      counts.set(type, (counts.get(type) ?? 0) + 1)
      if (type === FRAME.GOAWAY) {
        goaway ??= {lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4)}
        goawayCodes.push(payload.readUInt32BE(4))
      }
      else if (type === FRAME.RST_STREAM) resets.push(payload.readUInt32BE(0))
      else if (type === FRAME.HEADERS) responses.push(stream)
      // Keep the session usable for clients that play fair: acknowledge the server's SETTINGS.
      else if (type === FRAME.SETTINGS && opts.ackSettings !== false && (pending[4]! & FLAG.ACK) === 0 && !socket.destroyed) socket.write(settingsFrame([], true))
      pending = pending.subarray(9 + len)
    }
  })
  const closedP = new Promise<void>((resolve) => socket.once('close', () => {
    closed = true
    resolve()
  }))
  const c: RawH2 = {
    socket,
    send: (...frames) => (socket.destroyed ? false : socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames))),
    sendAndDrain: async (...frames) => {
      if (socket.destroyed) return
      if (socket.write(Buffer.concat(frames))) return
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000)
        const done = () => {
          clearTimeout(t)
          resolve()
        }
        socket.once('drain', done)
        socket.once('close', done)
      })
    },
    counts,
    resets,
    responses,
    get goaway() {
      return goaway
    },
    goawayCodes,
    get bytesReceived() {
      return bytesReceived
    },
    closed: closedP,
    isClosed: () => closed,
    destroy: () => socket.destroy(),
  }
  c.send(PREFACE, settingsFrame())
  return c
}
