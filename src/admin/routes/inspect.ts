import type {OpsServices} from '../../core/services.js'
import {inspectKey} from '../../ops/inspect.js'
import {type AdminRouter, sendJson} from '../http.js'

/** GET /keys/inspect ?url=…[&h=Name: value…] → InspectReply. */
export function mountInspect(router: AdminRouter, o: OpsServices): void {
  router.on('GET', '/keys/inspect', (_req, res, url) => {
    sendJson(res, 200, inspectKey(o, url.searchParams.get('url'), url.searchParams.getAll('h')))
  })
}
