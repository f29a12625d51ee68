import http from 'node:http'
import type {AddressInfo, Socket} from 'node:net'

import type {TavernConfig} from '../config/schema.js'
import {parseHostPort} from '../config/sizes.js'
import {refuseConnect} from '../proxy/admission.js'

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/** The client-facing HTTP/1.1 listener, with the bookkeeping a graceful drain needs. */
export class DataPlane {
  readonly server: http.Server
  private inFlight = 0
  private idleWaiters: Array<() => void> = []

  constructor(
    private handler: RequestHandler,
    server: TavernConfig['server'],
  ) {
    this.server = http.createServer(
      {
        keepAliveTimeout: server.keepAliveTimeout,
        headersTimeout: server.headersTimeout,
        requestTimeout: server.requestTimeout,
        maxHeaderSize: server.maxHeaderSize,
        // Our own Date/Content-Length handling: replayed responses keep their stored Date.
        joinDuplicateHeaders: false,
      },
      (req, res) => {
        this.inFlight++
        res.once('close', () => {
          this.inFlight--
          if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w()
        })
        this.handler(req, res)
      },
    )
    // Node never hands CONNECT to the request handler; without a listener it drops the connection unanswered.
    this.server.on('connect', (_req, socket: Socket) => refuseConnect(socket))
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (socket.writable && !socket.writableEnded) {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      } else socket.destroy()
    })
  }

  setHandler(handler: RequestHandler): void {
    this.handler = handler
  }

  get activeRequests(): number {
    return this.inFlight
  }

  async listen(listen: string): Promise<AddressInfo> {
    const {host, port} = parseHostPort(listen)!
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    return this.server.address() as AddressInfo
  }

  /** Stop accepting, let in-flight requests finish until the deadline, then cut what remains. */
  async drain(deadlineMs: number): Promise<{unfinished: number}> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeIdleConnections()
    // Keep-alive connections that finish a response while draining are closed instead of kept.
    this.server.on('request', (_req, res: http.ServerResponse) => res.setHeader('connection', 'close'))
    const idle = this.inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idleWaiters.push(resolve))
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadlineMs)
    })
    const r = await Promise.race([idle, timedOut])
    clearTimeout(timer)
    const unfinished = r === 'timeout' ? this.inFlight : 0
    this.server.closeAllConnections()
    await closed
    return {unfinished}
  }
}
