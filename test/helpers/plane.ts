/**
 * Data-plane listeners in the test process, around any request handler (no daemon):
 *
 *   const p = await startPlane([{address: '127.0.0.1:0', tls: {cert, key}}], (req, res) => res.end('ok'))
 *   p.bound[0].port; await p.close()
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {afterAll} from 'vitest'

import {ConfigSchema} from '../../src/config/schema.js'
import {Http2LimitsSchema, ListenSchema} from '../../src/config/listeners.js'
import {type BoundListener, DataPlaneListeners, type DataPlaneLog} from '../../src/daemon/listeners/data-plane-listeners.js'
import {TlsGlobalsSchema} from '../../src/tls/config.js'

export interface PlaneOptions {
  server?: Record<string, unknown>
  http2?: Record<string, unknown>
  tls?: Record<string, unknown>
  maxConnections?: number
  log?: DataPlaneLog
}

export interface Plane {
  plane: DataPlaneListeners
  bound: BoundListener[]
  warnings: Array<{fields: Record<string, unknown>; msg: string}>
  close(deadlineMs?: number): Promise<{unfinished: number}>
}

const open = new Set<Plane>()
afterAll(async () => {
  for (const p of [...open]) await p.close()
})

export async function startPlane(listen: unknown, handler: (req: IncomingMessage, res: ServerResponse) => void, opts: PlaneOptions = {}): Promise<Plane> {
  const warnings: Plane['warnings'] = []
  const log: DataPlaneLog = opts.log ?? {info: () => {}, warn: (fields, msg) => warnings.push({fields, msg})}
  const plane = await DataPlaneListeners.create(ListenSchema.parse(listen), {
    server: ConfigSchema.parse({server: opts.server ?? {}}).server,
    http2: Http2LimitsSchema.parse(opts.http2 ?? {}),
    tls: TlsGlobalsSchema.parse({watch: false, ...opts.tls}),
    maxConnections: opts.maxConnections ?? 1000,
    handler,
    log,
  })
  const bound = await plane.listen()
  let closing: Promise<{unfinished: number}> | undefined
  const p: Plane = {
    plane,
    bound,
    warnings,
    close: (deadlineMs = 0) => {
      open.delete(p)
      return (closing ??= plane.drain(deadlineMs))
    },
  }
  open.add(p)
  return p
}
