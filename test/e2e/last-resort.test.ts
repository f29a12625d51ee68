// The last resort: an exception (or rejection) nobody handles, with cache fills streaming and LMDB writing, ends the
// process within 2–3 s (never wedged with its port open), leaves one fatal JSON line in the log, reports a failure to
// its supervisor, and a restart on the same storage serves complete objects only.
import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'

let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
}, 30_000)
afterAll(async () => {
  await origin?.close()
}, 30_000)

function payload(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed) & 0xff
  return b
}

const HOST = {Host: 'crash.tavern.test'}

async function crashWithWorkInFlight(fault: string, crashPath: string, round: number): Promise<{d: DaemonHandle; objects: Array<{p: string; body: Buffer}>; goneMs: number}> {
  const d = await startDaemon({upstream: origin.url, env: {TAVERN_FAULT: `${fault}:${crashPath}`}})
  const objects: Array<{p: string; body: Buffer}> = []
  // Large fills that are still streaming when the crash comes...
  for (let i = 0; i < 4; i++) {
    const p = uniquePath(`crash-big-${round}`)
    const body = payload(400_000, round * 10 + i)
    origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body, chunkSize: 16_384, chunkDelayMs: 20})
    objects.push({p, body})
  }
  // ...and many small objects committing to LMDB at the same time.
  for (let i = 0; i < 60; i++) {
    const p = uniquePath(`crash-small-${round}`)
    const body = payload(2000 + i, round * 100 + i)
    origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body})
    objects.push({p, body})
  }
  const inflight = objects.map(({p}) => d.request(p, {headers: HOST, allowIncomplete: true, timeoutMs: 20_000}).catch((e: Error) => e))
  for (const {p} of objects.slice(0, 4)) await origin.waitForCount(p, 1)
  await sleep(50)
  const t0 = Date.now()
  await d.request(crashPath, {headers: HOST, allowIncomplete: true, timeoutMs: 5000}).catch(() => undefined)
  const gone = await Promise.race([d.exited.then(() => true), sleep(5000).then(() => false)])
  const goneMs = Date.now() - t0
  if (!gone) await d.kill9()
  expect(gone, `the daemon was still alive 5 s after the crash\n${d.logs()}`).toBe(true)
  await Promise.all(inflight)
  return {d, objects, goneMs}
}

async function assertRestartServesCompleteObjects(storageDir: string, objects: Array<{p: string; body: Buffer}>): Promise<void> {
  const again = await startDaemon({upstream: origin.url, storageDir})
  try {
    for (const {p, body} of objects) {
      const r = await again.request(p, {headers: HOST})
      expect(r.body.equals(body), `${p}: ${r.body.length} bytes, ${r.header('cache-status')}`).toBe(true)
    }
    // A second pass is served from the cache: what the restarted daemon stored is complete too.
    for (const {p, body} of objects) {
      const r = await again.request(p, {headers: HOST})
      expect(r.body.equals(body), `${p} (second pass)`).toBe(true)
    }
  } finally {
    expect(await again.stop()).toBe(0)
  }
}

for (let round = 1; round <= 3; round++) {
  it(`uncaught exception with fills in flight (round ${round}): gone within 3 s, a fatal JSON line, failure status, a clean restart`, async () => {
    const crashPath = `/__crash-${round}`
    const {d, objects, goneMs} = await crashWithWorkInFlight('uncaught-on-request', crashPath, round)
    expect(goneMs, d.logs()).toBeLessThan(3000)
    const {code, signal} = await d.exited
    expect(code === 0 && signal === null, `exit code ${code}, signal ${signal}`).toBe(false)
    expect(signal).toBe('SIGKILL')
    const fatal = d.logLines().filter((l) => l.level === 'fatal')
    expect(fatal.length, d.logs()).toBe(1)
    expect(fatal[0]!.msg).toBe('uncaught exception: ending the process now')
    expect(String((fatal[0]!.err as {message?: string}).message)).toContain(crashPath)
    await assertRestartServesCompleteObjects(d.storageDir, objects)
  }, 60_000)
}

it('unhandled promise rejection: the same last resort', async () => {
  const {d, objects, goneMs} = await crashWithWorkInFlight('rejection-on-request', '/__reject', 9)
  expect(goneMs, d.logs()).toBeLessThan(3000)
  expect((await d.exited).signal).toBe('SIGKILL')
  const fatal = d.logLines().filter((l) => l.level === 'fatal')
  expect(fatal.map((l) => l.msg), d.logs()).toEqual(['unhandled promise rejection: ending the process now'])
  await assertRestartServesCompleteObjects(d.storageDir, objects)
}, 60_000)

it('TAVERN_FAULT with an unknown fault is refused (exit 2)', async () => {
  const e = await startDaemon({upstream: origin.url, env: {TAVERN_FAULT: 'explode'}}).then(
    () => undefined,
    (error: Error) => error,
  )
  expect(e?.message).toMatch(/exited \(code 2[,)][\s\S]*unknown fault "explode"/)
}, 30_000)
