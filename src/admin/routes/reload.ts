import {ConfigError} from '../../config/load.js'
import {TavernError} from '../../core/errors.js'
import type {OpsServices} from '../../core/services.js'
import {type AdminRouter, sendJson} from '../http.js'
import type {ReloadReply} from '../protocol.js'

/** POST /reload: apply the re-read config, or 422 with the problems (the running config and plugins stay). */
export function mountReload(router: AdminRouter, o: OpsServices): void {
  router.on('POST', '/reload', async (_req, res) => {
    try {
      sendJson(res, 200, (await o.reload()) satisfies ReloadReply)
    } catch (error) {
      if (error instanceof ConfigError) {
        o.log.warn({problems: error.problems}, 'reload refused; keeping the running config')
        throw new TavernError('TAVERN_ERR_RELOAD_REFUSED', error.message)
      }
      throw error
    }
  })
}
