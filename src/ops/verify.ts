import {TavernError} from '../core/errors.js'
import type {OpsServices} from '../core/services.js'
import type {ObjectRecord} from '../storage/types.js'
import type {NdjsonWriter} from '../admin/ndjson.js'
import type {VerifyMismatch, VerifyProgress, VerifyRequestBody, VerifySummary} from '../admin/protocol.js'
import {resolveTargets} from './targets.js'

interface VerifyJob {
  scope: string
  keys: string[]
  prefix?: string
  purgeBad: boolean
  rate: number
}

const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0')
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r))
const PROGRESS_EVERY_MS = 250
/** Thrown to stop a scan when the admin client went away. */
const ABORTED = new Error('verify cancelled: client went away')

export function parseVerify(d: OpsServices, body: VerifyRequestBody): VerifyJob {
  const {urls, dir} = resolveTargets(d, body)
  const all = body.all === true
  if (!all && urls.length === 0 && !dir) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', 'nothing to verify: give "urls", "dir" or "all": true')
  let rate = 0
  if (body.rateBytesPerSec !== undefined && body.rateBytesPerSec !== null) {
    if (typeof body.rateBytesPerSec !== 'number' || !(body.rateBytesPerSec >= 0) || !Number.isFinite(body.rateBytesPerSec)) {
      throw new TavernError('TAVERN_ERR_BAD_RATE', '"rateBytesPerSec" must be a non-negative number')
    }
    rate = body.rateBytesPerSec
  }
  const scope = all ? 'all' : [...urls.map((u) => u.key), ...(dir ? [dir.prefix + '*'] : [])].join(' ')
  return {scope, keys: all ? [] : urls.map((u) => u.key), prefix: all ? '' : dir?.prefix, purgeBad: body.purgeBad === true, rate}
}

/**
 * POST /verify: re-read stored bodies and compare them with the CRC32C and size recorded at fill time. One object at
 * a time, yielding to the event loop between objects (and sleeping to honour a byte rate), so the data plane is never
 * starved. Streams progress, every mismatch, then a summary.
 */
export async function runVerify(d: OpsServices, job: VerifyJob, out: NdjsonWriter): Promise<VerifySummary> {
  const started = Date.now()
  const s: VerifySummary = {type: 'summary', checked: 0, ok: 0, mismatches: 0, purged: 0, skipped: 0, bytes: 0, durationMs: 0}
  let lastProgress = Date.now()
  await out.write({type: 'start', scope: job.scope})
  const check = async (rec: ObjectRecord) => {
    if (out.aborted) throw ABORTED
    const r = await d.storage.verifyBody(rec)
    s.bytes += r.actualSize
    if (r.ok) {
      s.checked++
      s.ok++
    } else {
      // Changed meanwhile (refilled, purged, evicted)? Then what we read is not this record's body.
      const cur = d.storage.get(rec.key, rec.variant)
      if (!cur || cur.file !== rec.file) s.skipped++
      else {
        s.checked++
        s.mismatches++
        let purged = false
        if (job.purgeBad) {
          await d.storage.purgeKey(rec.key, 'delete')
          purged = true
          s.purged++
        }
        d.log.warn({key: rec.key, variant: rec.variant, file: rec.file, expected: hex(rec.crc32c), actual: hex(r.actualCrc32c), purged}, 'verify: body does not match its CRC32C')
        await out.write({
          type: 'mismatch',
          url: rec.url,
          key: rec.key,
          variant: rec.variant,
          file: rec.file,
          bodyPath: d.storage.bodyPath(rec),
          expectedCrc32c: hex(rec.crc32c),
          actualCrc32c: hex(r.actualCrc32c),
          expectedSize: rec.size,
          actualSize: r.actualSize,
          missing: r.actualSize === 0 && r.actualCrc32c === 0 && rec.size > 0,
          purged,
        } satisfies VerifyMismatch)
      }
    }
    if (job.rate > 0) {
      const due = started + (s.bytes / job.rate) * 1000
      if (due > Date.now()) await sleep(due - Date.now())
    }
    if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = Date.now()
      await out.write({type: 'progress', checked: s.checked, bytes: s.bytes, mismatches: s.mismatches} satisfies VerifyProgress)
    }
    await yieldToLoop()
  }
  try {
    for (const key of job.keys) for (const rec of d.storage.variants(key)) await check(rec)
    if (job.prefix !== undefined) await d.storage.forEach(job.prefix, check)
  } catch (error) {
    if (error !== ABORTED) throw error
  }
  s.durationMs = Date.now() - started
  await out.write(s)
  d.log.info({scope: job.scope, checked: s.checked, mismatches: s.mismatches, purged: s.purged, bytes: s.bytes}, 'verify')
  return s
}
