/**
 * A raw-socket HTTP/1.1 client: sends exact bytes, reads the raw answer and parses it strictly enough to tell a
 * complete message from a cut one (RFC 9112 §6.3 framing: Content-Length, chunked, close-delimited, no body).
 *
 *   const r = await rawExchange(port, buildRequest('GET', '/x', ['Host', 'h', 'Range', 'bytes=0-9']))
 *   r.status; r.header('content-range'); r.body; r.complete; r.cut; r.interim.length
 *
 * Never throws for what the server does: a refused connection, a reset, a timeout or garbage all come back as a
 * result (status 0 when no status line arrived).
 */
import net from 'node:net'

export interface RawResponse {
  /** 0 when no parsable status line arrived. */
  status: number
  reason: string
  version: string
  rawHeaders: string[]
  header(name: string): string | undefined
  headerAll(name: string): string[]
  /** The body after removing the transfer coding (chunked), as far as it arrived. */
  body: Buffer
  /** Interim (1xx) responses before the final one. */
  interim: Array<{status: number; rawHeaders: string[]}>
  framing: 'none' | 'length' | 'chunked' | 'close'
  /** The message was complete according to its framing. */
  complete: boolean
  /** The connection ended (FIN, RST or timeout) before the message was complete. */
  cut: boolean
  timedOut: boolean
  /** Socket error code (e.g. ECONNRESET), if any. */
  error?: string
  /** Every byte received. */
  raw: Buffer
  /** Bytes that arrived after the end of the message (should be none). */
  extra: Buffer
  ms: number
}

export interface RawExchangeOptions {
  timeoutMs?: number
  /** The request is a HEAD: the answer has no body whatever its fields say (RFC 9110 §9.3.2). */
  head?: boolean
  /** Keep reading this long after a complete message to catch trailing garbage (default 0: stop at once). */
  lingerMs?: number
  host?: string
}

function rawGet(raw: readonly string[], name: string): string | undefined {
  const n = name.toLowerCase()
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === n) return raw[i + 1]
  return undefined
}
function rawGetAll(raw: readonly string[], name: string): string[] {
  const n = name.toLowerCase()
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === n) out.push(raw[i + 1]!)
  return out
}

/** Request bytes: a request line, the fields as given (nothing added), the empty line and the body. */
export function buildRequest(method: string, target: string, headers: readonly string[], body?: string | Buffer): Buffer {
  let s = `${method} ${target} HTTP/1.1\r\n`
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`
  const b = body === undefined ? Buffer.alloc(0) : typeof body === 'string' ? Buffer.from(body) : body
  return Buffer.concat([Buffer.from(s + '\r\n', 'latin1'), b])
}

interface Parsed {
  status: number
  reason: string
  version: string
  rawHeaders: string[]
  interim: Array<{status: number; rawHeaders: string[]}>
  framing: RawResponse['framing']
  body: Buffer
  complete: boolean
  /** Offset where the message ended (when complete). */
  end: number
}

/** Parse as much of a response as `buf` holds; `eof` says the connection ended cleanly (FIN). */
export function parseResponse(buf: Buffer, opts: {head?: boolean; eof: boolean}): Parsed {
  const interim: Parsed['interim'] = []
  let pos = 0
  for (;;) {
    const hEnd = buf.indexOf('\r\n\r\n', pos)
    const empty: Parsed = {status: 0, reason: '', version: '', rawHeaders: [], interim, framing: 'none', body: Buffer.alloc(0), complete: false, end: 0}
    if (hEnd === -1) return empty
    const lines = buf.subarray(pos, hEnd).toString('latin1').split('\r\n')
    const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '')
    if (!m) return empty
    const rawHeaders: string[] = []
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':')
      if (c > 0) rawHeaders.push(l.slice(0, c), l.slice(c + 1).trim())
    }
    const status = Number(m[2])
    pos = hEnd + 4
    if (status >= 100 && status < 200 && status !== 101) {
      interim.push({status, rawHeaders})
      continue
    }
    const base = {status, reason: m[3] ?? '', version: m[1]!, rawHeaders, interim}
    if (opts.head || status === 204 || status === 304 || status === 101) return {...base, framing: 'none', body: Buffer.alloc(0), complete: true, end: pos}
    const te = rawGet(rawHeaders, 'transfer-encoding')
    if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) {
      const parts: Buffer[] = []
      let p = pos
      for (;;) {
        const le = buf.indexOf('\r\n', p)
        if (le === -1) return {...base, framing: 'chunked', body: Buffer.concat(parts), complete: false, end: 0}
        const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0]!.trim(), 16)
        if (Number.isNaN(size)) return {...base, framing: 'chunked', body: Buffer.concat(parts), complete: false, end: 0}
        if (size === 0) {
          let q = le + 2
          for (;;) {
            const e = buf.indexOf('\r\n', q)
            if (e === -1) return {...base, framing: 'chunked', body: Buffer.concat(parts), complete: false, end: 0}
            if (e === q) return {...base, framing: 'chunked', body: Buffer.concat(parts), complete: true, end: e + 2}
            q = e + 2
          }
        }
        const avail = Math.min(size, buf.length - (le + 2))
        parts.push(buf.subarray(le + 2, le + 2 + Math.max(0, avail)))
        if (avail < size || buf.length < le + 2 + size + 2) return {...base, framing: 'chunked', body: Buffer.concat(parts), complete: false, end: 0}
        p = le + 2 + size + 2
      }
    }
    const cl = rawGet(rawHeaders, 'content-length')
    if (cl !== undefined && /^\d+$/.test(cl.trim())) {
      const n = Number(cl.trim())
      const body = buf.subarray(pos, Math.min(buf.length, pos + n))
      return {...base, framing: 'length', body, complete: body.length === n, end: body.length === n ? pos + n : 0}
    }
    // Close-delimited: complete only when the server closed cleanly.
    return {...base, framing: 'close', body: buf.subarray(pos), complete: opts.eof, end: buf.length}
  }
}

/** Send `bytes` on a fresh connection and read one response. */
export function rawExchange(port: number, bytes: Buffer | string, opts: RawExchangeOptions = {}): Promise<RawResponse> {
  const t0 = Date.now()
  const timeoutMs = opts.timeoutMs ?? 10_000
  return new Promise<RawResponse>((resolve) => {
    const parts: Buffer[] = []
    let settled = false
    let error: string | undefined
    let timedOut = false
    let linger: NodeJS.Timeout | undefined
    const socket = net.connect({port, host: opts.host ?? '127.0.0.1'})
    const finish = (eof: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (linger) clearTimeout(linger)
      socket.destroy()
      const raw = Buffer.concat(parts)
      const p = parseResponse(raw, {head: opts.head, eof})
      const rawHeaders = p.rawHeaders
      resolve({
        status: p.status,
        reason: p.reason,
        version: p.version,
        rawHeaders,
        header: (n) => rawGet(rawHeaders, n),
        headerAll: (n) => rawGetAll(rawHeaders, n),
        body: Buffer.from(p.body),
        interim: p.interim,
        framing: p.framing,
        complete: p.complete,
        cut: !p.complete,
        timedOut,
        error,
        raw,
        extra: p.complete ? raw.subarray(p.end) : Buffer.alloc(0),
        ms: Date.now() - t0,
      })
    }
    const timer = setTimeout(() => {
      timedOut = true
      finish(false)
    }, timeoutMs)
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message
      finish(false)
    })
    socket.on('data', (c: Buffer) => {
      parts.push(c)
      if (linger) return
      const p = parseResponse(Buffer.concat(parts), {head: opts.head, eof: false})
      if (p.complete && p.framing !== 'close') {
        if (opts.lingerMs) linger = setTimeout(() => finish(true), opts.lingerMs)
        else finish(true)
      }
    })
    socket.on('end', () => finish(true))
    socket.on('close', () => finish(false))
    socket.write(bytes)
  })
}

/** A GET (or other method) with `Connection: close` and the given extra fields. */
export function rawRequest(port: number, method: string, target: string, headers: readonly string[], opts: RawExchangeOptions & {body?: string | Buffer} = {}): Promise<RawResponse> {
  const host = rawGet(headers, 'host') === undefined ? ['Host', `127.0.0.1:${port}`] : []
  const conn = rawGet(headers, 'connection') === undefined ? ['Connection', 'close'] : []
  const cl = opts.body !== undefined && rawGet(headers, 'content-length') === undefined ? ['Content-Length', String(Buffer.byteLength(opts.body))] : []
  return rawExchange(port, buildRequest(method, target, [...host, ...headers, ...conn, ...cl], opts.body), {...opts, head: opts.head ?? method === 'HEAD'})
}

/** A one-line summary for assertion messages. */
export function describeRaw(r: RawResponse): string {
  const cs = r.headerAll('cache-status').join(', ')
  return `${r.status || '(no status)'} ${r.framing}${r.complete ? '' : ' INCOMPLETE'}${r.error ? ` err=${r.error}` : ''}${r.timedOut ? ' TIMEOUT' : ''} cache-status=${cs || '-'} body(${r.body.length})=${JSON.stringify(r.body.subarray(0, 60).toString('latin1'))}`
}
