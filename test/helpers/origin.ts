/**
 * A scriptable origin server for end-to-end tests (node:http on 127.0.0.1, ephemeral port).
 *
 *   const origin = await startOrigin()
 *   const p = uniquePath('fresh')
 *   origin.route(p, {headers: {'cache-control': 'max-age=3600'}, body: 'hello'})
 *   origin.route(p, (req, n) => ({status: n === 1 ? 200 : 304, headers: ['ETag', '"a"']}))
 *   origin.countFor(p)              // requests seen for that path (query ignored)
 *   origin.requestsFor(p)[1]?.header('if-none-match')
 *
 * Every request is recorded (method, url, raw header list, body) as soon as its head arrives, so counts are
 * accurate even while a response is still being delayed or streamed.
 */
import http from 'node:http'
import type {AddressInfo, Socket} from 'node:net'

/** Header input: a flat raw list ['Name', 'v', ...], a list of pairs, or an object (array values = repeated fields). */
export type HeaderInput = string[] | Array<[string, string]> | Record<string, string | number | undefined | Array<string | number>>

export type BodyChunks = Iterable<string | Buffer> | AsyncIterable<string | Buffer>

export interface ResponseSpec {
  status?: number
  statusText?: string
  /** Headers in order; duplicates allowed. Content-Length is added for string/Buffer bodies unless given or `chunked`. */
  headers?: HeaderInput
  /** String / Buffer (sent in one write unless chunkSize is set), or an (async) iterable / generator function of chunks. */
  body?: string | Buffer | BodyChunks | (() => BodyChunks)
  /** Split a string/Buffer body into chunks of this many bytes (useful with chunkDelayMs). */
  chunkSize?: number
  /** Delay between body chunks (ms). */
  chunkDelayMs?: number
  /** Delay before sending the status line and headers (ms). */
  delayMs?: number
  /** Do not add Content-Length (forces chunked transfer coding for HTTP/1.1). */
  chunked?: boolean
  /**
   * Send the headers and part of the body, then destroy the socket. `true` = half of the body;
   * a number = that many bytes. Content-Length (full length) is still announced unless `chunked`.
   */
  destroyMidBody?: boolean | number
  /** Destroy the connection right away without any response (simulates a crashing origin). */
  destroyImmediately?: boolean
  /** Never answer (the request hangs until the client goes away or the origin closes). */
  hang?: boolean
  /** Echo the request body back (streamed); status/headers from the spec still apply. */
  echo?: boolean
  /** Full control: handle the raw request yourself. Everything else in the spec is ignored. */
  raw?: (req: http.IncomingMessage, res: http.ServerResponse) => void
}

export interface RecordedRequest {
  /** 1-based index among requests for the same path. */
  n: number
  method: string
  /** Request target as received (path + query). */
  url: string
  /** Path without the query. */
  path: string
  /** Flat raw header list, as received (order, case and duplicates kept). */
  rawHeaders: string[]
  /** First value of a header (case-insensitive). */
  header(name: string): string | undefined
  /** All values of a header, in order (one entry per field line). */
  headerAll(name: string): string[]
  /** Request body (filled once it has been read completely). */
  body: Buffer
  /** Time (Date.now()) the request head was received. */
  receivedAt: number
  /** Time the response was finished (or destroyed); undefined while in progress. */
  finishedAt?: number
  remoteAddress?: string
  /** The peer's port: requests with the same one came over the same connection. */
  remotePort?: number
  /** Response body bytes written so far (grows while a body streams). */
  bytesSent: number
}

export type RouteHandler = (req: RecordedRequest, n: number) => ResponseSpec | Promise<ResponseSpec>

export interface Origin {
  url: string
  port: number
  host: string
  requests: RecordedRequest[]
  countFor(path: string): number
  requestsFor(path: string): RecordedRequest[]
  /** Install (or replace) the handler for a path (query ignored). */
  route(path: string, handler: RouteHandler | ResponseSpec): void
  /** Stop listening and cut open connections (the port is refused), keeping routes and records. */
  pause(): Promise<void>
  /** Listen again on the same port after pause(). */
  resume(): Promise<void>
  /** Wait until `countFor(path) >= n` (bounded). */
  waitForCount(path: string, n: number, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

let pathCounter = 0
const runId = Math.random().toString(36).slice(2, 8)

/** A path no other test (or earlier run against the same storage) uses. */
export function uniquePath(prefix = 'p'): string {
  pathCounter++
  return `/${prefix.replace(/[^A-Za-z0-9_-]/g, '-')}-${runId}-${pathCounter}`
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Normalise any HeaderInput to a flat raw list. */
export function toRawHeaders(h: HeaderInput | undefined): string[] {
  if (!h) return []
  if (Array.isArray(h)) {
    if (h.length === 0) return []
    if (Array.isArray(h[0])) return (h as Array<[string, string]>).flatMap(([k, v]) => [k, String(v)])
    return (h as string[]).map(String)
  }
  const out: string[] = []
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) out.push(k, String(x))
    else out.push(k, String(v))
  }
  return out
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

/** An HTTP-date for now + offsetSeconds. */
export function httpDate(offsetSeconds = 0): string {
  return new Date(Date.now() + offsetSeconds * 1000).toUTCString()
}

function pathOf(url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

async function* chunksOf(spec: ResponseSpec): AsyncGenerator<Buffer> {
  const b = spec.body
  if (b === undefined) return
  if (typeof b === 'string' || Buffer.isBuffer(b)) {
    const buf = typeof b === 'string' ? Buffer.from(b) : b
    const size = spec.chunkSize && spec.chunkSize > 0 ? spec.chunkSize : buf.length || 1
    for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size)
    return
  }
  const it = typeof b === 'function' ? b() : b
  for await (const c of it as AsyncIterable<string | Buffer>) yield typeof c === 'string' ? Buffer.from(c) : c
}

function fixedBody(spec: ResponseSpec): Buffer | undefined {
  if (typeof spec.body === 'string') return Buffer.from(spec.body)
  if (Buffer.isBuffer(spec.body)) return spec.body
  return undefined
}

function bodyless(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)
}

export interface OriginOptions {
  /**
   * Idle keep-alive timeout of the origin's connections (default 10 s). 0 turns it off, and with it the
   * `Keep-Alive: timeout=` hint, so the client's own keep-alive setting decides when idle connections close.
   */
  keepAliveTimeoutMs?: number
}

export async function startOrigin(opts: OriginOptions = {}): Promise<Origin> {
  const routes = new Map<string, RouteHandler>()
  const requests: RecordedRequest[] = []
  const perPath = new Map<string, number>()
  const sockets = new Set<Socket>()

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? '/'
    const path = pathOf(url)
    const n = (perPath.get(path) ?? 0) + 1
    perPath.set(path, n)
    const rawHeaders = [...req.rawHeaders]
    const rec: RecordedRequest = {
      n,
      method: req.method ?? 'GET',
      url,
      path,
      rawHeaders,
      header: (name) => rawGet(rawHeaders, name),
      headerAll: (name) => rawGetAll(rawHeaders, name),
      body: Buffer.alloc(0),
      receivedAt: Date.now(),
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      bytesSent: 0,
    }
    requests.push(rec)
    res.once('close', () => {
      rec.finishedAt ??= Date.now()
    })

    const handler = routes.get(path)
    let spec: ResponseSpec
    try {
      spec = handler ? await handler(rec, n) : {status: 404, headers: {'Cache-Control': 'no-store', 'Content-Type': 'text/plain'}, body: `no route for ${path}\n`}
    } catch (e) {
      spec = {status: 500, headers: {'Cache-Control': 'no-store'}, body: `origin handler threw: ${String(e)}\n`}
    }

    if (spec.raw) {
      spec.raw(req, res)
      return
    }
    if (spec.destroyImmediately) {
      req.socket.destroy()
      return
    }

    // Read the request body (unless echoing it back as a stream).
    const bodyDone = spec.echo
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const parts: Buffer[] = []
          req.on('data', (c: Buffer) => parts.push(c))
          req.on('end', () => {
            rec.body = Buffer.concat(parts)
            resolve()
          })
          req.on('error', () => resolve())
          req.on('close', () => resolve())
        })

    if (spec.hang) return
    if (spec.delayMs) await sleep(spec.delayMs)
    if (res.destroyed) return

    const status = spec.status ?? 200
    const headers = toRawHeaders(spec.headers)
    const fixed = fixedBody(spec)
    const noBody = bodyless(rec.method, status)
    if (!spec.chunked && !spec.echo && fixed && rawGet(headers, 'content-length') === undefined && !(status === 204 || status === 304 || (status >= 100 && status < 200))) {
      headers.push('Content-Length', String(fixed.length))
    }
    if (spec.echo && !spec.chunked && rawGet(headers, 'content-length') === undefined && req.headers['content-length']) {
      headers.push('Content-Length', req.headers['content-length'])
    }
    if (spec.statusText !== undefined) res.writeHead(status, spec.statusText, headers)
    else res.writeHead(status, headers)

    if (spec.echo) {
      const parts: Buffer[] = []
      req.on('data', (c: Buffer) => {
        parts.push(c)
        if (!res.write(c)) {
          req.pause()
          res.once('drain', () => req.resume())
        }
      })
      req.on('end', () => {
        rec.body = Buffer.concat(parts)
        res.end()
        rec.finishedAt = Date.now()
      })
      return
    }

    if (noBody) {
      res.end()
      await bodyDone
      rec.finishedAt = Date.now()
      return
    }

    if (spec.destroyMidBody !== undefined && spec.destroyMidBody !== false) {
      const all: Buffer[] = []
      for await (const c of chunksOf({...spec, chunkSize: undefined})) all.push(c)
      const full = Buffer.concat(all)
      const cut = typeof spec.destroyMidBody === 'number' ? spec.destroyMidBody : Math.floor(full.length / 2)
      res.flushHeaders()
      if (cut > 0) {
        const size = spec.chunkSize && spec.chunkSize > 0 ? spec.chunkSize : cut
        for (let i = 0; i < cut; i += size) {
          res.write(full.subarray(i, Math.min(cut, i + size)))
          if (spec.chunkDelayMs) await sleep(spec.chunkDelayMs)
        }
      }
      // Give the partial body a moment to reach the peer, then cut the connection.
      await sleep(spec.chunkDelayMs ?? 50)
      rec.finishedAt = Date.now()
      req.socket.destroy()
      return
    }

    let first = true
    for await (const c of chunksOf(spec)) {
      if (res.destroyed) return
      if (!first && spec.chunkDelayMs) await sleep(spec.chunkDelayMs)
      first = false
      if (res.destroyed) return
      rec.bytesSent += c.length
      if (!res.write(c)) {
        await new Promise<void>((r) => {
          const done = () => {
            res.off('drain', done)
            res.off('close', done)
            r()
          }
          res.on('drain', done)
          res.on('close', done)
        })
      }
    }
    res.end()
    await bodyDone
    rec.finishedAt = Date.now()
  }

  const server = http.createServer({joinDuplicateHeaders: false, keepAliveTimeout: opts.keepAliveTimeoutMs ?? 10_000}, (req, res) => {
    handle(req, res).catch(() => {
      res.destroy()
    })
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  server.on('clientError', (_err, socket) => socket.destroy())

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  await listen(0)
  const port = (server.address() as AddressInfo).port

  const closeServer = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve()
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
    })

  const countFor = (path: string) => requests.filter((r) => r.path === path).length
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    host: `127.0.0.1:${port}`,
    requests,
    countFor,
    requestsFor: (path) => requests.filter((r) => r.path === path),
    route(path, handler) {
      routes.set(path, typeof handler === 'function' ? handler : () => handler)
    },
    pause: closeServer,
    resume: () => listen(port),
    async waitForCount(path, n, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs
      while (countFor(path) < n) {
        if (Date.now() > end) throw new Error(`origin saw ${countFor(path)} request(s) for ${path}, expected ${n} within ${timeoutMs} ms`)
        await sleep(20)
      }
    },
    close: closeServer,
  }
}
