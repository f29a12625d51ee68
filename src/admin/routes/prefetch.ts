import type {OpsServices} from '../../core/services.js'
import {parsePrefetch, runPrefetch} from '../../ops/prefetch.js'
import {type AdminRouter, readObject} from '../http.js'
import {NdjsonWriter} from '../ndjson.js'
import type {PrefetchRequestBody, StreamError} from '../protocol.js'

/** POST /prefetch {urls, headers?, force?, concurrency?} → NDJSON start / result… / summary (bad input: 400 before the stream). */
export function mountPrefetch(router: AdminRouter, o: OpsServices): void {
  router.on('POST', '/prefetch', async (req, res) => {
    const job = parsePrefetch(o, await readObject<PrefetchRequestBody>(req))
    const out = new NdjsonWriter(res)
    try {
      await runPrefetch(o, job, out)
    } catch (error) {
      o.log.error({err: error}, 'prefetch failed')
      await out.write({type: 'error', error: {code: 'TAVERN_ERR_INTERNAL', message: (error as Error).message}} satisfies StreamError)
    }
    out.end()
  })
}
