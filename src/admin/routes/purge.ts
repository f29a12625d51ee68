import {TavernError} from '../../core/errors.js'
import type {OpsServices} from '../../core/services.js'
import {MAX_PURGE_BODY_BYTES, runPurge} from '../../ops/purge.js'
import {warmKeys} from '../../proxy/refresh/warm.js'
import {type AdminRouter, readObject, sendJson} from '../http.js'
import type {PurgeListReply, PurgeReply, PurgeRequestBody} from '../protocol.js'

/** Hot keys re-fetched after one purge --rewarm, at most. */
const REWARM_MAX = 10_000

/** `rewarm`: re-fetch in the background what was hot under each purged directory; returns how many keys. */
async function rewarm(o: OpsServices, reply: PurgeReply): Promise<number> {
  if (!o.hot) return 0
  const keys = new Set<string>()
  for (const item of reply.results) if (item.dir) for (const e of await o.hot.top(REWARM_MAX, item.key)) keys.add(e.key)
  if (keys.size === 0) return 0
  void o.background.run('rewarm', async () => {
    const s = await warmKeys(o, [...keys], o.config.warm.concurrency)
    o.log.info({keys: s.total, stored: s.stored, revalidated: s.revalidated, failed: s.failed}, 'rewarmed after purge')
  })
  return keys.size
}

/** POST /purge {url? | urls?, dir?, host?, mode, rewarm?} → PurgeReply. Bad input is rejected before anything changes. */
export function mountPurge(router: AdminRouter, o: OpsServices): void {
  router.on('POST', '/purge', async (req, res) => {
    const body = await readObject<PurgeRequestBody>(req, MAX_PURGE_BODY_BYTES)
    if (body.rewarm !== undefined && body.rewarm !== null && typeof body.rewarm !== 'boolean') throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"rewarm" must be true or false')
    if (body.rewarm === true && !body.dir) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"rewarm" needs "dir" (it re-fetches what was hot under the purged prefix)')
    const reply = await runPurge(o, body)
    if (body.rewarm === true) reply.rewarm = {keys: await rewarm(o, reply)}
    sendJson(res, 200, reply)
  })
  /** GET /purges → PurgeListReply: the recent purges, newest first. */
  router.on('GET', '/purges', (_req, res) => sendJson(res, 200, o.stats.purges.list() satisfies PurgeListReply))
}
