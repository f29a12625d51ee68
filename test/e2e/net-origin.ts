/**
 * A raw TCP origin for tests of origin misbehaviour: the handler writes whatever bytes it likes on the socket
 * (framing lies, resets, odd transfer codings). Requests on one connection are read in order (keep-alive): the
 * next request is parsed once the handler's promise settled, as long as the socket is still open.
 *
 *   const o = await startNetOrigin()
 *   o.route('/x', (req, sock) => sock.end(responseHead(200, ['Content-Length', '2']) + 'ok'))
 */
import net from 'node:net'
import type {AddressInfo} from 'node:net'

export interface NetRequest {
  /** 1-based index among requests for this path. */
  n: number
  method: string
  target: string
  path: string
  rawHeaders: string[]
  header(name: string): string | undefined
}

export type NetHandler = (req: NetRequest, socket: net.Socket) => void | Promise<void>

export interface NetOrigin {
  url: string
  requests: NetRequest[]
  countFor(path: string): number
  requestsFor(path: string): NetRequest[]
  route(path: string, handler: NetHandler): void
  close(): Promise<void>
}

/** A status line and header block (CRLF-terminated, blank line included). */
export function responseHead(status: number, headers: string[], reason = 'X'): string {
  let s = `HTTP/1.1 ${status} ${reason}\r\n`
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`
  return s + '\r\n'
}

/** A complete response with Content-Length (keep-alive). */
export function fullResponse(status: number, headers: string[], body: string | Buffer = ''): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body
  return Buffer.concat([Buffer.from(responseHead(status, [...headers, 'Content-Length', String(b.length)])), b])
}

/** One chunk of the chunked transfer coding. */
export function chunk(data: Buffer | string): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data) : data
  return Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')])
}

export const LAST_CHUNK = '0\r\n\r\n'

const pathOf = (t: string) => (t.indexOf('?') < 0 ? t : t.slice(0, t.indexOf('?')))

export async function startNetOrigin(): Promise<NetOrigin> {
  const routes = new Map<string, NetHandler>()
  const requests: NetRequest[] = []
  const perPath = new Map<string, number>()
  const sockets = new Set<net.Socket>()

  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => sockets.delete(socket))
    let buf = Buffer.alloc(0)
    let busy = false
    const next = (): void => {
      if (busy || socket.destroyed) return
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const headText = buf.subarray(0, end).toString('latin1')
      buf = buf.subarray(end + 4)
      const [line, ...fields] = headText.split('\r\n')
      const [method = 'GET', target = '/'] = (line ?? '').split(' ')
      const rawHeaders: string[] = []
      for (const f of fields) {
        const c = f.indexOf(':')
        if (c > 0) rawHeaders.push(f.slice(0, c).trim(), f.slice(c + 1).trim())
      }
      const path = pathOf(target)
      const n = (perPath.get(path) ?? 0) + 1
      perPath.set(path, n)
      const req: NetRequest = {
        n,
        method,
        target,
        path,
        rawHeaders,
        header: (name) => {
          for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name.toLowerCase()) return rawHeaders[i + 1]
          return undefined
        },
      }
      requests.push(req)
      const handler = routes.get(path) ?? ((_r, s) => void s.write(fullResponse(404, ['Cache-Control', 'no-store'], 'no route\n')))
      busy = true
      Promise.resolve()
        .then(() => handler(req, socket))
        .catch(() => socket.destroy())
        .finally(() => {
          busy = false
          next()
        })
    }
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      next()
    })
  })
  server.on('error', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const countFor = (p: string) => requests.filter((r) => r.path === p).length
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    countFor,
    requestsFor: (p) => requests.filter((r) => r.path === p),
    route: (p, h) => void routes.set(p, h),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
