/**
 * Exact request bytes over a plain TCP socket, for requests node:http will not send (absolute-form targets,
 * duplicate Host lines, CONNECT, `*`). The request should carry `Connection: close`: the answer is read until the
 * server closes the connection.
 */
import net from 'node:net'

export interface RawResponse {
  status: number
  /** Flat raw header list as received. */
  rawHeaders: string[]
  header(name: string): string | undefined
  /** The body after removing chunked framing (or cut to Content-Length). */
  body: string
  /** Everything the server sent. */
  raw: string
}

function decodeChunked(s: string): string {
  let out = ''
  let i = 0
  for (;;) {
    const eol = s.indexOf('\r\n', i)
    if (eol < 0) return out
    const size = parseInt(s.slice(i, eol), 16)
    if (!Number.isFinite(size) || size === 0) return out
    out += s.slice(eol + 2, eol + 2 + size)
    i = eol + 2 + size + 2
  }
}

export function parseRawResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(raw.slice(0, 200))}`)
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)
  if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`)
  const rawHeaders: string[] = []
  for (const l of lines) {
    const c = l.indexOf(':')
    rawHeaders.push(l.slice(0, c), l.slice(c + 1).trim())
  }
  const header = (name: string) => {
    const n = name.toLowerCase()
    for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === n) return rawHeaders[i + 1]
    return undefined
  }
  let body = raw.slice(end + 4)
  if (/chunked/i.test(header('transfer-encoding') ?? '')) body = decodeChunked(body)
  else if (header('content-length') !== undefined) body = body.slice(0, Number(header('content-length')))
  return {status: Number(m[1]), rawHeaders, header, body, raw}
}

/** Write `request` (latin1 bytes) to 127.0.0.1:port and parse what comes back before the server closes. */
/** `localAddress`: connect from it (any of 127.0.0.0/8 works on loopback), e.g. to test address allow-lists. */
export function rawRequest(port: number, request: string, timeoutMs = 10_000, localAddress?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({port, host: '127.0.0.1', ...(localAddress ? {localAddress} : {})})
    let data = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(data.slice(0, 300))}`))
    }, timeoutMs)
    socket.setEncoding('latin1')
    socket.on('connect', () => socket.write(Buffer.from(request, 'latin1')))
    socket.on('data', (c: string) => (data += c))
    socket.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      try {
        resolve(parseRawResponse(data))
      } catch (error) {
        reject(error as Error)
      }
    })
  })
}
