// Predictive warming: the hot set persists in the storage directory; after a restart warm.onStart re-fetches the
// hottest keys before any client asks; prefetch --hot N and purge --dir --rewarm use the same set.
import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, makeTempDir, startDaemon} from '../helpers/daemon.js'
import {parseCacheStatus} from '../helpers/fixture.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {waitFor} from '../helpers/wait.js'

let origin: Origin
const daemons: DaemonHandle[] = []

beforeAll(async () => {
  origin = await startOrigin()
}, 30_000)
afterAll(async () => {
  for (const d of daemons) if (d.process.exitCode === null) await d.stop()
  await origin?.close()
}, 30_000)

async function start(storageDir: string, warm: Record<string, unknown>): Promise<DaemonHandle> {
  const d = await startDaemon({upstream: origin.url, storageDir, config: {warm}})
  daemons.push(d)
  return d
}

/** Until `long` is set: max-age=1 (stale soon after), also on a 304. Then a revalidation makes it fresh for an hour. */
let long = false
function shortThenLong(p: string): void {
  origin.route(p, (req) =>
    req.header('if-none-match') === '"w"'
      ? {status: 304, headers: {'Cache-Control': long ? 'max-age=3600' : 'max-age=1', ETag: '"w"'}}
      : {headers: {'Cache-Control': 'max-age=1', ETag: '"w"'}, body: `body ${p}`},
  )
}

function isHit(r: {header(n: string): string | undefined}): boolean {
  const own = parseCacheStatus(r.header('cache-status')).find((e) => e.cache === 'tavern')?.params ?? {}
  return own.hit === true && own.fwd === undefined
}

it('after a restart with warm.onStart, the hot set of the last run answers as hits before the first client asks', async () => {
  const dir = makeTempDir('tavern-warm-')
  const hot1 = uniquePath('hot1')
  const hot2 = uniquePath('hot2')
  const cold = uniquePath('cold')
  for (const p of [hot1, hot2, cold]) shortThenLong(p)
  // A site name, as in production: keys name the Host, and the restarted daemon listens on another port.
  const site = {headers: {Host: 'www.example.com'}}
  const a = await start(dir, {saveInterval: '1s', onStart: 2})
  for (let i = 0; i < 6; i++) await Promise.all([a.request(hot1, site), a.request(hot2, site)])
  await a.request(cold, site)
  long = true
  const storedAt = Date.now()
  expect(await a.stop()).toBe(0) // saves the hot set at shutdown
  // Let the objects go stale (max-age=1), so only warming can make them fresh again.
  await waitFor(() => Date.now() - storedAt > 1100, {timeoutMs: 3000})
  const countsBefore = [hot1, hot2, cold].map((p) => origin.countFor(p))

  const b = await start(dir, {onStart: 2})
  // Warming revalidates the two hottest keys on its own; the cold one is not asked for.
  await waitFor(() => origin.countFor(hot1) > countsBefore[0]! && origin.countFor(hot2) > countsBefore[1]!, {timeoutMs: 10_000, message: 'warm requests'}).catch((e: unknown) => {
    throw new Error(`${String(e)}\n${a.logs().slice(-3000)}\n----\n${b.logs().slice(-3000)}`)
  })
  expect(origin.requestsFor(hot1).at(-1)!.header('if-none-match')).toBe('"w"')
  await waitFor(() => b.logs().includes('warmed the hot set of the last run'), {timeoutMs: 10_000, message: 'warming done'})
  // The very first client request for each hot key is a hit.
  const first = await b.request(hot1, site)
  expect(isHit(first), first.header('cache-status')).toBe(true)
  expect(first.text).toBe(`body ${hot1}`)
  expect(isHit(await b.request(hot2, site))).toBe(true)
  expect(origin.countFor(cold)).toBe(countsBefore[2])
}, 60_000)

it('prefetch --hot N re-fetches the N hottest keys; purge --dir --rewarm re-fetches what was hot under the prefix', async () => {
  const dir = makeTempDir('tavern-warm-')
  const prefix = uniquePath('rw')
  const inDir = `${prefix}/a`
  const outside = uniquePath('other')
  for (const p of [inDir, outside]) shortThenLong(p)
  const d = await start(dir, {})
  for (let i = 0; i < 5; i++) await d.request(inDir)
  for (let i = 0; i < 3; i++) await d.request(outside)

  const pf = await d.admin('/prefetch', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({hot: 1})})
  expect(pf.status).toBe(200)
  const lines = pf.text.trim().split('\n').map((l) => JSON.parse(l) as {type: string; url?: string; total?: number})
  const results = lines.filter((l) => l.type === 'result')
  expect(results.length).toBe(1)
  expect(results[0]!.url).toContain(inDir) // the hottest one

  const before = origin.countFor(inDir)
  const purge = await d.admin('/purge', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({dir: `http://${d.host}${prefix}/`, rewarm: true})})
  expect(purge.status, purge.text).toBe(200)
  const reply = JSON.parse(purge.text) as {purged: number; rewarm?: {keys: number}}
  expect(reply.purged).toBe(1)
  expect(reply.rewarm).toEqual({keys: 1})
  // Deleted, then fetched again in the background: the next client request is a hit.
  await waitFor(() => origin.countFor(inDir) > before, {timeoutMs: 10_000, message: 'rewarm fetch'})
  const r = await waitFor(async () => {
    const x = await d.request(inDir)
    return isHit(x) && x
  })
  expect(r.text).toBe(`body ${inDir}`)

  const bad = await d.admin('/purge', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({urls: [`http://${d.host}${outside}`], rewarm: true})})
  expect(bad.status).toBe(400)
}, 60_000)
