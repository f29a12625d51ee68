import type {OpsServices} from '../../core/services.js'
import {VERSION} from '../../core/version.js'
import {describeSites, routeTable} from '../../proxy/route-table.js'
import {type AdminRouter, sendJson} from '../http.js'
import type {ClusterStatusBody, StatusBody} from '../protocol.js'

export function statusBody(o: OpsServices): StatusBody {
  const s = o.stats.counters()
  return {
    version: VERSION,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - o.startedAt) / 1000),
    listeners: {http: o.listenAddress, admin: o.socketPath, metrics: o.metricsAddress ?? null},
    upstreams: o.upstreamHealth(),
    config: {source: o.configSource ?? 'embedded defaults'},
    storage: {dir: o.config.storage.dir, ...o.storage.usage()},
    counters: {
      requests: s.requests.total,
      inFlight: s.requests.inFlight,
      hits: s.requests.byOutcome.hit,
      misses: s.requests.byOutcome.miss,
      originRequests: s.origin.requests,
      bytesOut: s.requests.bytesOut,
    },
    connections: o.connections(),
    accessLog: o.accessLogInfo(),
    plugins: [...o.hooks.plugins],
    sites: describeSites(routeTable(o.config)),
    groups: Object.keys(o.config.upstreamGroups).map((name) => ({name, upstreams: o.upstreamGroup(name)?.health() ?? []})),
    dataPlane: o.dataPlane(),
  }
}

/** GET /status. */
export function mountStatus(router: AdminRouter, o: OpsServices): void {
  router.on('GET', '/status', (_req, res) => sendJson(res, 200, statusBody(o)))
  router.on('GET', '/status/cluster', (_req, res) => sendJson(res, 200, {cluster: o.clusterStatus?.() ?? null} satisfies ClusterStatusBody))
}
