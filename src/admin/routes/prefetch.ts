import {TavernError} from '../../core/errors.js'
import type {OpsServices} from '../../core/services.js'
import {parsePrefetch, runPrefetch} from '../../ops/prefetch.js'
import {type AdminRouter, readObject} from '../http.js'
import {NdjsonWriter} from '../ndjson.js'
import type {PrefetchRequestBody, PrefetchStart, PrefetchSummary, StreamError} from '../protocol.js'

const MAX_HOT = 100_000

/** `hot: N` instead of `urls`: the N hottest keys. Undefined when the body names URLs. */
async function hotUrls(o: OpsServices, body: PrefetchRequestBody): Promise<string[] | undefined> {
  if (body.hot === undefined || body.hot === null) return undefined
  if (typeof body.hot !== 'number' || !Number.isInteger(body.hot) || body.hot < 1 || body.hot > MAX_HOT) {
    throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', `"hot" must be an integer from 1 to ${MAX_HOT}`)
  }
  if (body.urls !== undefined) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', 'give "urls" or "hot", not both')
  if (!o.hot) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', 'this daemon keeps no hot set')
  return (await o.hot.top(body.hot)).map((e) => e.key)
}

/** POST /prefetch {urls | hot, headers?, force?, concurrency?} → NDJSON start / result… / summary (bad input: 400 before the stream). */
export function mountPrefetch(router: AdminRouter, o: OpsServices): void {
  router.on('POST', '/prefetch', async (req, res) => {
    const body = await readObject<PrefetchRequestBody>(req)
    const hot = await hotUrls(o, body)
    if (hot?.length === 0) {
      // Nothing was asked for yet: an empty run, not an error.
      const out = new NdjsonWriter(res)
      await out.write({type: 'start', total: 0, concurrency: 0} satisfies PrefetchStart)
      await out.write({type: 'summary', total: 0, ok: 0, stored: 0, fresh: 0, revalidated: 0, failed: 0, bytes: 0} satisfies PrefetchSummary)
      return out.end()
    }
    const job = parsePrefetch(o, hot ? {...body, urls: hot} : body)
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
