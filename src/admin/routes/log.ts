import type {OpsServices} from '../../core/services.js'
import {TavernError} from '../../core/errors.js'
import {LiveFilterError, parseLiveFilters} from '../../stats/live-filter.js'
import {MAX_FOLLOWERS} from '../../stats/live-log.js'
import type {AdminRouter} from '../http.js'
import type {LogStart} from '../protocol.js'

/**
 * GET /log/stream?filter=…(&filter=…) → NDJSON: a `start` line, then one `request` line per finished request that
 * matches every filter, as it finishes; a `dropped` line when this reader fell behind by more than the daemon buffers
 * for it. Runs until the client goes away. A bad filter is a 400 before anything streams.
 */
export function mountLog(router: AdminRouter, o: OpsServices): void {
  router.on('GET', '/log/stream', (_req, res, url) => {
    const live = o.liveLog
    if (!live) throw new TavernError('TAVERN_ERR_NOT_FOUND', 'this daemon has no live request log')
    const filters = url.searchParams.getAll('filter')
    let filter
    try {
      filter = parseLiveFilters(filters)
    } catch (error) {
      if (error instanceof LiveFilterError) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', error.message)
      throw error
    }
    const follower = live.follow({write: (text) => res.write(text)}, filter)
    if (!follower) throw new TavernError('TAVERN_ERR_LOG_BUSY', `at most ${MAX_FOLLOWERS} clients may follow the live log at once`)
    res.writeHead(200, {'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-accel-buffering': 'no'})
    res.write(JSON.stringify({type: 'start', filters, followers: live.count} satisfies LogStart) + '\n')
    const onDrain = () => follower.drained()
    res.on('drain', onDrain)
    // An error on the socket ends the follow like a close (a listener, so it is never unhandled).
    res.on('error', () => live.unfollow(follower))
    res.once('close', () => {
      res.off('drain', onDrain)
      live.unfollow(follower)
    })
  })
}
