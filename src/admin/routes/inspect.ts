import type {OpsServices} from '../../core/services.js'
import {inspectKey} from '../../ops/inspect.js'
import {operatorRoute} from '../../proxy/request-target.js'
import {describeRoute, routeTable} from '../../proxy/route-table.js'
import {closeKeys} from '../../ops/suggest-keys.js'
import {type AdminRouter, sendJson} from '../http.js'

/** GET /keys/inspect ?url=…[&h=Name: value…] → InspectReply (with why and close keys when nothing is stored). */
export function mountInspect(router: AdminRouter, o: OpsServices): void {
  router.on('GET', '/keys/inspect', async (_req, res, url) => {
    const reply = inspectKey(o, url.searchParams.get('url'), url.searchParams.getAll('h'))
    if (reply.notCached) reply.notCached.suggestions = await closeKeys(o, reply.key)
    // Which site and route decide about the URL, and the policy keys they set (README "Sites, routes and cache policy").
    const table = routeTable(o.config)
    const route = operatorRoute(reply.url, table, o.config.forwardProxy)
    sendJson(res, 200, {...reply, route: route ? describeRoute(table, route) : null})
  })
}
