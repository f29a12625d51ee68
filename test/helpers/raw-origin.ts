/**
 * A raw-TCP origin that can send anything: per request, a script of byte writes, delays and a way to end.
 *
 *   const o = await startRawOrigin()
 *   o.route('/x', [{write: resp(200, ['Cache-Control', 'max-age=60'], 'hello')}])           // keep-alive, well formed
 *   o.route('/y', [{write: head(200, [])}, {write: 'half'}, {reset: true}])                  // RST mid body
 *   o.route('/z', (req, n) => n === 1 ? [{write: '\r\n\r\n'}, {end: true}] : ok('fine'))   // by request count
 *   o.requestsFor('/x')[0].header('range')
 *
 * It parses just enough of each request (request line, header fields, a Content-Length or chunked body) to record it
 * and pick a script by path (query ignored). Requests on one connection are answered in order (keep-alive, several
 * per connection). A script that does not end with `end`, `reset`, `hang` or `destroy` leaves the connection open for
 * the next request. Nothing is validated or fixed up: whatever the script says goes on the wire.
 */
import net from 'node:net'
import type {AddressInfo} from 'node:net'

export type Step =
  /** Bytes to write as they are. */
  | {write: string | Buffer}
  | {delay: number}
  /** Write `data` in pieces of `size` bytes with `delayMs` between them (a slow drip). */
  | {drip: string | Buffer; size: number; delayMs: number}
  /** Half-close (FIN) after everything written so far; the connection is done. */
  | {end: true}
  /** TCP RST (socket.resetAndDestroy()): the peer sees ECONNRESET. */
  | {reset: true}
  /** Close without RST or FIN ceremony (socket.destroy()). */
  | {destroy: true}
  /** Never write anything more; the connection stays open until the peer closes it or the origin is closed. */
  | {hang: true}

export type Script = Step[] | ((req: RawRequest, n: number) => Step[] | Promise<Step[]>)

export interface RawRequest {
  /** 1-based index among requests for this path. */
  n: number
  method: string
  target: string
  path: string
  version: string
  /** Raw header list [name, value, …] as received. */
  rawHeaders: string[]
  header(name: string): string | undefined
  headerAll(name: string): string[]
  body: Buffer
  /** Connection number (1-based) and the request's index on it. */
  conn: number
  seqOnConn: number
  receivedAt: number
}

export interface RawOrigin {
  url: string
  port: number
  requests: RawRequest[]
  requestsFor(path: string): RawRequest[]
  countFor(path: string): number
  route(path: string, script: Script): void
  /** Connections accepted so far, and open now. */
  readonly connections: number
  readonly openConnections: number
  waitForCount(path: string, n: number, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

const CRLF = '\r\n'
const REASONS: Record<number, string> = {100: 'Continue', 103: 'Early Hints', 200: 'OK', 204: 'No Content', 206: 'Partial Content', 302: 'Found', 304: 'Not Modified', 404: 'Not Found', 416: 'Range Not Satisfiable', 500: 'Internal Server Error'}

/** A status line and header section (ending with the empty line), nothing added. */
export function head(status: number | string, headers: readonly string[] = [], reason?: string): Buffer {
  let s = typeof status === 'string' ? status : `HTTP/1.1 ${status} ${reason ?? REASONS[status] ?? 'Status'}`
  s += CRLF
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}${CRLF}`
  return Buffer.from(s + CRLF, 'latin1')
}

/** A complete response with Content-Length (unless one is among `headers`). */
export function resp(status: number, headers: readonly string[], body: string | Buffer = ''): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body
  const hasCl = headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-length')
  return Buffer.concat([head(status, hasCl ? headers : [...headers, 'Content-Length', String(b.length)]), b])
}

/** One chunk of the chunked transfer coding (RFC 9112 §7.1). */
export function chunk(data: string | Buffer): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data) : data
  return Buffer.concat([Buffer.from(b.length.toString(16) + CRLF), b, Buffer.from(CRLF)])
}

/** The last chunk and the end of the (empty) trailer section. */
export const LAST_CHUNK = '0\r\n\r\n'

/** A complete chunked response, the body cut in pieces of `size` bytes. */
export function chunkedResp(status: number, headers: readonly string[], body: string | Buffer, size = 1024): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body
  const parts: Buffer[] = [head(status, [...headers, 'Transfer-Encoding', 'chunked'])]
  for (let i = 0; i < b.length; i += size) parts.push(chunk(b.subarray(i, i + size)))
  parts.push(Buffer.from(LAST_CHUNK))
  return Buffer.concat(parts)
}

/** A script that answers a well-formed response and keeps the connection open. */
export function ok(body: string | Buffer, headers: readonly string[] = ['Cache-Control', 'max-age=3600']): Step[] {
  return [{write: resp(200, headers, body)}]
}

/**
 * A script that implements single byte ranges (RFC 9110 §14) over `body`, as a well-behaved origin would: 206 with
 * Content-Range, 416 when unsatisfiable, the full 200 without a Range (or for several ranges).
 */
export function rangeOrigin(body: Buffer, headers: readonly string[] = ['Cache-Control', 'max-age=3600', 'ETag', '"r1"']): (req: RawRequest) => Step[] {
  return (req) => {
    const range = req.header('range')
    const m = range === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(range.trim())
    if (!m || (m[1] === '' && m[2] === '')) return [{write: req.method === 'HEAD' ? head(200, [...headers, 'Content-Length', String(body.length)]) : resp(200, headers, body)}]
    let start: number
    let end: number
    if (m[1] === '') {
      start = Math.max(0, body.length - Number(m[2]))
      end = body.length - 1
    } else {
      start = Number(m[1])
      end = m[2] === '' ? body.length - 1 : Math.min(Number(m[2]), body.length - 1)
    }
    if (start >= body.length || end < start) return [{write: resp(416, ['Content-Range', `bytes */${body.length}`], '')}]
    const slice = body.subarray(start, end + 1)
    return [{write: resp(206, [...headers, 'Content-Range', `bytes ${start}-${end}/${body.length}`], req.method === 'HEAD' ? '' : slice)}]
  }
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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Result of trying to parse one request from the front of `buf`: the request and the bytes it used, or undefined (need more). */
function parseRequest(buf: Buffer): {method: string; target: string; version: string; rawHeaders: string[]; body: Buffer; used: number} | undefined | 'bad' {
  const end = buf.indexOf('\r\n\r\n')
  if (end === -1) return buf.length > 1024 * 1024 ? 'bad' : undefined
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n')
  const m = /^(\S+) (\S+) (HTTP\/\d\.\d)$/.exec(lines[0] ?? '')
  if (!m) return 'bad'
  const rawHeaders: string[] = []
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':')
    if (c <= 0) return 'bad'
    rawHeaders.push(l.slice(0, c), l.slice(c + 1).trim())
  }
  let pos = end + 4
  const te = rawGet(rawHeaders, 'transfer-encoding')
  const cl = rawGet(rawHeaders, 'content-length')
  let body = Buffer.alloc(0)
  if (te && /chunked/i.test(te)) {
    const parts: Buffer[] = []
    for (;;) {
      const le = buf.indexOf('\r\n', pos)
      if (le === -1) return undefined
      const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16)
      if (Number.isNaN(size)) return 'bad'
      if (size === 0) {
        // Trailer section: lines until an empty one.
        let p = le + 2
        for (;;) {
          const e = buf.indexOf('\r\n', p)
          if (e === -1) return undefined
          if (e === p) {
            pos = e + 2
            break
          }
          p = e + 2
        }
        break
      }
      if (buf.length < le + 2 + size + 2) return undefined
      parts.push(buf.subarray(le + 2, le + 2 + size))
      pos = le + 2 + size + 2
    }
    body = Buffer.concat(parts)
  } else if (cl !== undefined) {
    const n = Number(cl)
    if (!Number.isSafeInteger(n) || n < 0) return 'bad'
    if (buf.length < pos + n) return undefined
    body = Buffer.from(buf.subarray(pos, pos + n))
    pos += n
  }
  return {method: m[1]!, target: m[2]!, version: m[3]!, rawHeaders, body, used: pos}
}

function pathOf(target: string): string {
  const q = target.indexOf('?')
  return q === -1 ? target : target.slice(0, q)
}

export async function startRawOrigin(): Promise<RawOrigin> {
  const routes = new Map<string, Script>()
  const requests: RawRequest[] = []
  const perPath = new Map<string, number>()
  const sockets = new Set<net.Socket>()
  let connections = 0

  const notFound: Step[] = [{write: resp(404, ['Cache-Control', 'no-store'], 'no route\n')}]

  const serve = (socket: net.Socket) => {
    const conn = ++connections
    sockets.add(socket)
    let seq = 0
    let buf: Buffer = Buffer.alloc(0)
    let busy = false
    let done = false
    socket.on('error', () => {})
    socket.once('close', () => {
      done = true
      sockets.delete(socket)
    })

    const run = async (steps: Step[]): Promise<void> => {
      for (const s of steps) {
        if (done || socket.destroyed) return
        if ('write' in s) socket.write(s.write)
        else if ('delay' in s) await sleep(s.delay)
        else if ('drip' in s) {
          const d = typeof s.drip === 'string' ? Buffer.from(s.drip) : s.drip
          for (let i = 0; i < d.length && !done && !socket.destroyed; i += s.size) {
            socket.write(d.subarray(i, i + s.size))
            if (i + s.size < d.length) await sleep(s.delayMs)
          }
        } else if ('end' in s) {
          done = true
          socket.end()
          return
        } else if ('reset' in s) {
          done = true
          // Let what was written reach the peer first, then RST.
          await new Promise<void>((r) => (socket.writableLength === 0 ? r() : socket.once('drain', () => r())))
          await sleep(20)
          if (!socket.destroyed) socket.resetAndDestroy()
          return
        } else if ('destroy' in s) {
          done = true
          socket.destroy()
          return
        } else if ('hang' in s) {
          done = true
          return
        }
      }
    }

    const pump = async () => {
      if (busy) return
      busy = true
      try {
        while (!done) {
          const p = parseRequest(buf)
          if (p === undefined) break
          if (p === 'bad') {
            done = true
            socket.end(resp(400, ['Connection', 'close'], 'bad request\n'))
            break
          }
          buf = buf.subarray(p.used)
          const path = pathOf(p.target)
          const n = (perPath.get(path) ?? 0) + 1
          perPath.set(path, n)
          const rawHeaders = p.rawHeaders
          const rec: RawRequest = {
            n,
            method: p.method,
            target: p.target,
            path,
            version: p.version,
            rawHeaders,
            header: (name) => rawGet(rawHeaders, name),
            headerAll: (name) => rawGetAll(rawHeaders, name),
            body: p.body,
            conn,
            seqOnConn: ++seq,
            receivedAt: Date.now(),
          }
          requests.push(rec)
          const script = routes.get(path) ?? notFound
          let steps: Step[]
          try {
            steps = typeof script === 'function' ? await script(rec, n) : script
          } catch (e) {
            steps = [{write: resp(500, ['Cache-Control', 'no-store'], `script threw: ${String(e)}\n`)}]
          }
          await run(steps)
        }
      } finally {
        busy = false
      }
      if (!done && buf.length > 0 && parseRequest(buf) !== undefined) void pump()
    }

    socket.on('data', (c: Buffer) => {
      buf = buf.length === 0 ? c : Buffer.concat([buf, c])
      void pump()
    })
  }

  const server = net.createServer(serve)
  server.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const countFor = (path: string) => requests.filter((r) => r.path === path).length

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    requestsFor: (path) => requests.filter((r) => r.path === path),
    countFor,
    route(path, script) {
      routes.set(path, script)
    },
    get connections() {
      return connections
    },
    get openConnections() {
      return sockets.size
    },
    async waitForCount(path, n, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs
      while (countFor(path) < n) {
        if (Date.now() > end) throw new Error(`raw origin saw ${countFor(path)} request(s) for ${path}, expected ${n} within ${timeoutMs} ms`)
        await sleep(10)
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
