import type {OpsServices} from '../../core/services.js'
import {parseVerify, runVerify} from '../../ops/verify.js'
import {type AdminRouter, readObject} from '../http.js'
import {NdjsonWriter} from '../ndjson.js'
import type {StreamError, VerifyRequestBody} from '../protocol.js'

/** POST /verify {url? | urls?, dir?, host?, all?, purgeBad?, rateBytesPerSec?} → NDJSON start / progress / mismatch… / summary. */
export function mountVerify(router: AdminRouter, o: OpsServices): void {
  router.on('POST', '/verify', async (req, res) => {
    const job = parseVerify(o, await readObject<VerifyRequestBody>(req))
    const out = new NdjsonWriter(res)
    try {
      await runVerify(o, job, out)
    } catch (error) {
      o.log.error({err: error}, 'verify failed')
      await out.write({type: 'error', error: {code: 'TAVERN_ERR_INTERNAL', message: (error as Error).message}} satisfies StreamError)
    }
    out.end()
  })
}
