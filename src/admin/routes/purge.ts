import type {OpsServices} from '../../core/services.js'
import {MAX_PURGE_BODY_BYTES, runPurge} from '../../ops/purge.js'
import {type AdminRouter, readObject, sendJson} from '../http.js'
import type {PurgeListReply, PurgeRequestBody} from '../protocol.js'

/** POST /purge {url? | urls?, dir?, host?, mode} → PurgeReply. Bad input is rejected before anything changes. */
export function mountPurge(router: AdminRouter, o: OpsServices): void {
  router.on('POST', '/purge', async (req, res) => {
    const body = await readObject<PurgeRequestBody>(req, MAX_PURGE_BODY_BYTES)
    sendJson(res, 200, await runPurge(o, body))
  })
  /** GET /purges → PurgeListReply: the recent purges, newest first. */
  router.on('GET', '/purges', (_req, res) => sendJson(res, 200, o.stats.purges.list() satisfies PurgeListReply))
}
