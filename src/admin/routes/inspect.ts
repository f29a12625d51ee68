import type {OpsServices} from '../../core/services.js'
import {inspectKey} from '../../ops/inspect.js'
import {operatorRoute} from '../../proxy/request-target.js'
import {describeRoute, routeTable} from '../../proxy/route-table.js'
import {type AdminRouter, sendJson} from '../http.js'

/** GET /keys/inspect ?url=…[&h=Name: value…] → InspectReply. */
export function mountInspect(router: AdminRouter, o: OpsServices): void {
  router.on('GET', '/keys/inspect', (_req, res, url) => {
    const reply = inspectKey(o, url.searchParams.get('url'), url.searchParams.getAll('h'))
    // Which site and route decide about the URL, and the policy keys they set (README "Sites, routes and cache policy").
    const table = routeTable(o.config)
    const route = operatorRoute(reply.url, table)
    sendJson(res, 200, {...reply, route: route ? describeRoute(table, route) : null})
  })
}
