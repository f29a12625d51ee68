import {ConfigError} from '../config/load.js'
import {statsSnapshotHandler, statsStreamHandler} from '../stats/admin-routes.js'
import {AdminError, type AdminRouter, sendJson} from './admin-router.js'
import type {Daemon} from './daemon.js'
import {VERSION} from './version.js'

export interface StatusBody {
  version: string
  pid: number
  uptimeSeconds: number
  listeners: {http: string; admin: string}
  upstreams: ReturnType<Daemon['upstreams']['health']>
  config: {source: string}
  storage: {dir: string} & ReturnType<Daemon['storage']['usage']>
  counters: {requests: number; inFlight: number; hits: number; misses: number; originRequests: number; bytesOut: number}
  /** Client connections: open now, the limit (and whether it was derived from the open-file limit), closed for it. */
  connections: {open: number; max: number; derived: boolean; fdLimit: number; rejected: number; evicted: number}
  /** Where the access log goes and how many lines a stalled disk made it drop (null when off). */
  accessLog: {path: string; dropped: number} | null
}

export function statusBody(d: Daemon): StatusBody {
  const s = d.stats.counters()
  return {
    version: VERSION,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - d.startedAt) / 1000),
    listeners: {http: d.listenAddress, admin: d.opts.socketPath},
    upstreams: d.upstreams.health(),
    config: {source: d.configSource ?? 'embedded defaults'},
    storage: {dir: d.config.storage.dir, ...d.storage.usage()},
    counters: {
      requests: s.requests.total,
      inFlight: s.requests.inFlight,
      hits: s.requests.byOutcome.hit,
      misses: s.requests.byOutcome.miss,
      originRequests: s.origin.requests,
      bytesOut: s.requests.bytesOut,
    },
    connections: {
      open: d.dataPlane.openConnections,
      max: d.connectionLimit.max,
      derived: d.connectionLimit.derived,
      fdLimit: d.connectionLimit.fdLimit,
      rejected: d.dataPlane.rejected,
      evicted: d.dataPlane.evicted,
    },
    accessLog: d.accessLog ? {path: d.config.accessLog.path, dropped: d.accessLogDropped()} : null,
  }
}

export function mountAdminRoutes(router: AdminRouter, d: Daemon): void {
  router.on('GET', '/status', (_req, res) => sendJson(res, 200, statusBody(d)))
  router.on('POST', '/reload', async (_req, res) => {
    try {
      sendJson(res, 200, await d.reload())
    } catch (error) {
      if (error instanceof ConfigError) {
        d.log.warn({problems: error.problems}, 'reload refused; keeping the running config')
        throw new AdminError(422, 'invalid_config', error.message)
      }
      throw error
    }
  })
  const withMeta = () => ({version: VERSION, pid: process.pid, listeners: [d.listenAddress]})
  router.on('GET', '/stats', statsSnapshotHandler(d.stats, withMeta))
  router.on('GET', '/stats/stream', statsStreamHandler(d.stats, withMeta))
}
