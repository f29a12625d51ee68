import {AdminError, readJson, sendJson, type AdminRouter} from '../daemon/admin-router.js'
import type {Daemon} from '../daemon/daemon.js'
import {inspectKey} from './inspect.js'
import {NdjsonWriter} from './ndjson.js'
import {parsePrefetch, runPrefetch, type PrefetchRequestBody} from './prefetch.js'
import {MAX_PURGE_BODY_BYTES, runPurge, type PurgeRequestBody} from './purge.js'
import {parseVerify, runVerify, type VerifyRequestBody} from './verify.js'

/**
 * Admin endpoints of the ops commands:
 *   POST /purge          {url? | urls?, dir?, host?, mode}     → {mode, matched, purged, bytesFreed, results}
 *   POST /prefetch       {urls, headers?, force?, concurrency?} → NDJSON start / result… / summary
 *   GET  /keys/inspect   ?url=…[&h=Name: value…]                → InspectReply
 *   POST /verify         {url? | urls?, dir?, host?, all?, purgeBad?, rateBytesPerSec?} → NDJSON start / progress / mismatch… / summary
 * Bad input is rejected with 400 {error: {code, message}} before anything changes or any stream starts.
 */
export function mountOpsRoutes(router: AdminRouter, d: Daemon): void {
  router.on('POST', '/purge', async (req, res) => {
    const body = await readJson<PurgeRequestBody>(req, MAX_PURGE_BODY_BYTES)
    sendJson(res, 200, await runPurge(d, objectBody(body)))
  })

  router.on('POST', '/prefetch', async (req, res) => {
    const job = parsePrefetch(d, objectBody(await readJson<PrefetchRequestBody>(req)))
    const out = new NdjsonWriter(res)
    try {
      await runPrefetch(d, job, out)
    } catch (error) {
      d.log.error({err: error}, 'prefetch failed')
      await out.write({type: 'error', error: {code: 'internal', message: (error as Error).message}})
    }
    out.end()
  })

  router.on('GET', '/keys/inspect', (_req, res, url) => {
    sendJson(res, 200, inspectKey(d, url.searchParams.get('url'), url.searchParams.getAll('h')))
  })

  router.on('POST', '/verify', async (req, res) => {
    const job = parseVerify(d, objectBody(await readJson<VerifyRequestBody>(req)))
    const out = new NdjsonWriter(res)
    try {
      await runVerify(d, job, out)
    } catch (error) {
      d.log.error({err: error}, 'verify failed')
      await out.write({type: 'error', error: {code: 'internal', message: (error as Error).message}})
    }
    out.end()
  })
}

function objectBody<T extends object>(body: T): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new AdminError(400, 'bad_request', 'request body must be a JSON object')
  return body
}
