/**
 * Crash consistency ("Hardening I"): kill -9 in the middle of concurrent fills of mixed sizes (1 KiB to 3 MiB, some
 * slow, some partial objects filled by Range requests), restart on the same storage, then
 *   - `tavern verify-crc --all` reports 0 mismatches (exit 0),
 *   - every URL requested again is byte-identical to the origin's (whole, and a range of it),
 *   - after the daemon's orphan reclaim has run (bounded wait), no file under objects/ lacks an index record.
 * Whatever was cut by the kill must be refetched, never served short (RFC 9111 §3.3: an incomplete response is not
 * stored as complete).
 */
import {afterAll, beforeAll, expect, it} from 'vitest'

import {runCli, startDaemon} from '../helpers/daemon.js'
import {describeRaw, rawRequest} from '../helpers/raw-client.js'
import {rangeOrigin, resp, startRawOrigin, type RawOrigin} from '../helpers/raw-origin.js'
import {casePath, expectBytesOf, HOST, objectFiles, payload, waitNoOrphans} from './harness.js'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const KiB = 1024
const MiB = 1024 * KiB

let origin: RawOrigin
beforeAll(async () => {
  origin = await startRawOrigin()
})
afterAll(async () => {
  await origin?.close()
})

interface Obj {
  path: string
  body: Buffer
  /** Filled through a Range request (a partial object). */
  partial: boolean
}

it('kill -9 during concurrent fills: verify-crc --all is clean, every URL is byte-identical, no orphans', async () => {
  const sizes = [1 * KiB, 3 * KiB, 17 * KiB, 64 * KiB, 200 * KiB, 700 * KiB, 1 * MiB + 5, 3 * MiB]
  const objs: Obj[] = []
  for (let i = 0; i < 24; i++) {
    const body = payload(sizes[i % sizes.length]!, 100 + i)
    const o: Obj = {path: casePath('crash'), body, partial: i % 4 === 3}
    const headers = ['Cache-Control', 'max-age=3600', 'ETag', `"c${i}"`]
    const slow = i % 3 === 0
    origin.route(o.path, (req) => {
      const w = (rangeOrigin(body, headers)(req)[0] as {write: Buffer}).write
      // Slow ones drip in 16 KiB pieces; fast ones go in one write.
      return slow ? [{drip: w, size: 16 * KiB, delayMs: 25}] : [{write: w}]
    })
    objs.push(o)
  }
  const first = await startDaemon({upstream: origin.url, config: {cache: {sliceSize: 64 * KiB}}})
  const get = (port: number, o: Obj, headers: string[] = []) => rawRequest(port, 'GET', o.path, ['Host', HOST, ...headers], {timeoutMs: 30_000})
  // Some objects are complete before the crash (they must survive it), the rest are in flight when it comes.
  for (const o of objs.slice(0, 6)) await get(first.port, o, o.partial ? ['Range', 'bytes=0-999'] : [])
  const inflight = objs.map((o) => get(first.port, o, o.partial ? ['Range', `bytes=${Math.floor(o.body.length / 3)}-`] : []))
  // Plus churn that commits and replaces bodies continuously while the kill lands.
  const churn = Array.from({length: 8}, () => casePath('churn'))
  churn.forEach((p, i) => origin.route(p, (req) => [{write: resp(200, ['Cache-Control', 'max-age=0'], payload(2 * KiB + i * 300, req.n))}]))
  let stop = false
  const loops = Array.from({length: 6}, async (_, j) => {
    for (let k = j; !stop; k++) await rawRequest(first.port, 'GET', churn[k % churn.length]!, ['Host', HOST], {timeoutMs: 3000})
  })
  await sleep(900)
  await first.kill9()
  stop = true
  await Promise.allSettled([...inflight, ...loops])
  const filesAfterKill = objectFiles(first.storageDir).length

  const second = await startDaemon({upstream: origin.url, storageDir: first.storageDir, config: {cache: {sliceSize: 64 * KiB}, storage: {evictionInterval: '200ms'}}})
  try {
    const v = await runCli(['verify-crc', '--all', '--socket', second.socket, '--json'], {timeoutMs: 60_000})
    expect(v.code, `verify-crc --all: exit ${v.code}\n${v.stdout}\n${v.stderr}`).toBe(0)
    const summary = (JSON.parse(v.stdout) as {summary?: {mismatches: number}}).summary
    expect(summary?.mismatches, v.stdout).toBe(0)

    for (const o of objs) {
      const whole = await get(second.port, o)
      expect(whole.complete, `${o.path}: ${describeRaw(whole)}`).toBe(true)
      expectBytesOf(whole, o.body, `${o.path} (whole, ${o.body.length} bytes)`)
      const a = Math.floor(o.body.length / 2)
      const part = await get(second.port, o, ['Range', `bytes=${a}-${a + 4999}`])
      expect(part.complete, `${o.path}: ${describeRaw(part)}`).toBe(true)
      expectBytesOf(part, o.body, `${o.path} (range)`)
    }

    const seen = await waitNoOrphans(second, 15_000)
    expect(seen.files, `files under objects/ (${filesAfterKill} right after kill -9) vs index records: ${JSON.stringify(seen)}`).toBe(seen.objects + seen.partials)
  } finally {
    await second.stop()
  }
}, 120_000)
