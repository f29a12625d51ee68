/**
 * The optional admin listener over TCP (`admin.listen`), for CLI runs from another host (cron purges). Same admin
 * API as the Unix socket, behind AdminTokenAuth: a request without the right bearer token gets 401 before it is
 * routed. Plain HTTP: off loopback the token crosses the network in clear, so that is warned about at start (put it
 * behind a TLS terminator or an SSH tunnel, or keep it on loopback).
 *
 *   admin: {listen: "127.0.0.1:9091", tokenFile: /etc/tavern/admin.token}
 */
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import net from 'node:net'

import {z} from 'zod'

import {parseHostPort} from '../config/sizes.js'
import {hostPort} from '../config/zod-units.js'
import type {AdminTokenAuth} from './tcp-auth.js'

export const AdminConfigSchema = z
  .strictObject({
    /** HOST:PORT of the admin API over TCP (":PORT" = 127.0.0.1); unset = Unix socket only. */
    listen: hostPort.optional(),
    /** File holding the bearer token (mode 0600); required with listen. */
    tokenFile: z.string().min(1).optional(),
  })
  .prefault({})
  .refine((a) => a.listen === undefined || a.tokenFile !== undefined, {message: 'admin.listen needs admin.tokenFile (the bearer token clients must send)', path: ['tokenFile']})

export type AdminConfig = z.output<typeof AdminConfigSchema>

export interface AdminTcpListenerOptions {
  address: string
  auth: AdminTokenAuth
  /** The admin router (the same one the Unix socket serves). */
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>
  log?: {warn(fields: Record<string, unknown>, msg: string): void; error(fields: Record<string, unknown>, msg: string): void}
  /** Connections open at once (the admin API is for a few clients). */
  maxConnections?: number
}

export interface AdminTcpListener {
  readonly server: http.Server
  /** host:port bound. */
  readonly address: string
  readonly port: number
  close(): Promise<void>
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  const h = host.replace(/^\[|\]$/g, '')
  if (net.isIPv4(h)) return h.startsWith('127.')
  return h === '::1' || h === '::ffff:127.0.0.1'
}

export async function startAdminTcpListener(opts: AdminTcpListenerOptions): Promise<AdminTcpListener> {
  const {host, port} = parseHostPort(opts.address)!
  const server = http.createServer({headersTimeout: 10_000, requestTimeout: 60_000, keepAliveTimeout: 5000, maxHeaderSize: 16 * 1024}, (req, res) => {
    if (!opts.auth.authorize(req, res)) return
    void Promise.resolve(opts.handler(req, res)).catch((error: unknown) => {
      opts.log?.error({err: error}, 'admin request failed')
      if (!res.headersSent) res.writeHead(500, {'content-type': 'application/json'}).end(JSON.stringify({error: {code: 'internal', message: 'internal error'}}))
      else res.destroy()
    })
  })
  server.maxConnections = opts.maxConnections ?? 64
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  // For the server's whole life (an accept error is an 'error' event; without a listener, a crash).
  server.on('error', (err) => opts.log?.error({err}, 'admin TCP listener error'))
  server.on('clientError', (_err, socket) => socket.destroy())
  const a = server.address() as AddressInfo
  const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
  if (!isLoopback(a.address))
    opts.log?.warn({address}, 'the admin API listens beyond loopback over plain HTTP: the bearer token crosses the network in clear (use a TLS terminator or an SSH tunnel, or listen on 127.0.0.1)')
  return {
    server,
    address,
    port: a.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
