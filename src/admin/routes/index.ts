import type {OpsServices} from '../../core/services.js'
import {VERSION} from '../../core/version.js'
import {AdminRouter} from '../http.js'
import type {DaemonInfo} from '../protocol.js'
import {mountProfile} from '../../ops/profile-routes.js'
import {mountInspect} from './inspect.js'
import {mountLog} from './log.js'
import {mountPrefetch} from './prefetch.js'
import {mountPurge} from './purge.js'
import {mountReload} from './reload.js'
import {statsSnapshotHandler, statsStreamHandler} from './stats.js'
import {mountStatus} from './status.js'
import {mountVerify} from './verify.js'

/** The admin API: every endpoint of src/admin/protocol.ts on one router. */
export function adminRouter(o: OpsServices): AdminRouter {
  const router = new AdminRouter()
  mountStatus(router, o)
  mountReload(router, o)
  const info = (): DaemonInfo => {
    const cluster = o.clusterTraffic?.()
    // Only a clustered daemon's snapshot has the field: a plain one's stays as it was.
    return {version: VERSION, pid: process.pid, listeners: o.dataPlane().listeners.map((l) => `${l.scheme}://${l.address}`), ...(cluster ? {cluster} : {})}
  }
  router.on('GET', '/stats', statsSnapshotHandler(o.stats, info))
  router.on('GET', '/stats/stream', statsStreamHandler(o.stats, 1000, info))
  mountPurge(router, o)
  mountPrefetch(router, o)
  mountInspect(router, o)
  mountVerify(router, o)
  mountProfile(router, o)
  mountLog(router, o)
  return router
}
