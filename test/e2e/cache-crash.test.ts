// Crash mid-fill (origin side) and restarts (daemon side): never a truncated response that looks complete,
// never a partial object in the cache, and completed objects survive a restart.
import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {tavernStatus} from '../helpers/fixture.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'
import {waitFor} from '../helpers/wait.js'

let origin: Origin
let d: DaemonHandle

beforeAll(async () => {
  origin = await startOrigin()
  d = await startDaemon({upstream: origin.url})
}, 30_000)
afterAll(async () => {
  await d?.stop()
  await origin?.close()
}, 30_000)

function payload(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

it('origin destroys the socket mid-body (Content-Length): the client connection is cut and nothing is stored', async () => {
  const p = uniquePath('crash')
  const full = payload(200_000, 1)
  origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=3600'}, body: full, chunkSize: 16_384, destroyMidBody: 100_000} : {headers: {'Cache-Control': 'max-age=3600'}, body: full}))
  const r1 = await d.request(p, {allowIncomplete: true})
  expect(r1.complete, `got ${r1.body.length} bytes, status ${r1.status}`).toBe(false)
  expect(r1.body.length).toBeLessThan(full.length)
  const r2 = await d.request(p)
  expect(origin.countFor(p), `second: ${r2.status}, ${r2.body.length} bytes, ${r2.headerAll('cache-status')}`).toBe(2)
  expect(r2.body.equals(full)).toBe(true)
})

it('origin destroys the socket mid-body (chunked): the client sees no terminating chunk and nothing is stored', async () => {
  const p = uniquePath('crash')
  const full = payload(100_000, 2)
  origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=3600'}, body: full, chunked: true, chunkSize: 8192, destroyMidBody: 40_000} : {headers: {'Cache-Control': 'max-age=3600'}, body: full}))
  const r1 = await d.request(p, {allowIncomplete: true})
  expect(r1.complete, `status ${r1.status}, ${r1.body.length} bytes, ${r1.headerAll('cache-status')}`).toBe(false)
  const r2 = await d.request(p)
  expect(origin.countFor(p), `second: ${r2.status}, ${r2.body.length} bytes, ${r2.headerAll('cache-status')}`).toBe(2)
  expect(r2.body.equals(full)).toBe(true)
})

it('collapsed followers of a fill that crashes never get a short body that looks complete', async () => {
  const p = uniquePath('crash')
  const full = payload(150_000, 3)
  origin.route(p, (_r, n) =>
    n === 1 ? {headers: {'Cache-Control': 'max-age=3600'}, body: full, chunkSize: 10_000, chunkDelayMs: 30, destroyMidBody: 60_000} : {headers: {'Cache-Control': 'max-age=3600'}, body: full},
  )
  const rs = await Promise.all(Array.from({length: 6}, () => d.request(p, {allowIncomplete: true})))
  // All six joined the one fill (they arrive long before its crash at 60 kB): each is cut, with correct bytes so far.
  expect(origin.countFor(p)).toBe(1)
  for (const r of rs) {
    expect(r.status).toBe(200)
    expect(r.complete, `a cut fill must not end as a complete response (${r.body.length} bytes)`).toBe(false)
    expect(r.body.length).toBeLessThan(full.length)
    expect(r.body.equals(full.subarray(0, r.body.length)), 'the bytes sent before the cut are the origin\'s').toBe(true)
  }
  const after = await d.request(p)
  expect(after.body.equals(full)).toBe(true)
  expect(origin.countFor(p), 'nothing of the cut fill was stored').toBe(2)
})

it('origin resets the connection before any response: 502 and nothing stored', async () => {
  const p = uniquePath('crash')
  origin.route(p, (_r, n) => (n === 1 ? {destroyImmediately: true} : {headers: {'Cache-Control': 'max-age=3600'}, body: 'fine'}))
  const r1 = await d.request(p)
  expect(r1.status).toBe(502)
  const r2 = await d.request(p)
  expect(r2.text).toBe('fine')
})

it('restart (SIGTERM): a new daemon on the same storage dir serves previously cached objects as hits with the same bytes', async () => {
  const o = await startOrigin()
  try {
    const first = await startDaemon({upstream: o.url})
    const objects = [
      {p: uniquePath('restart'), body: payload(50, 4)},
      {p: uniquePath('restart'), body: payload(70_000, 5)},
      {p: uniquePath('restart'), body: payload(2_500_000, 6)},
    ]
    for (const {p, body} of objects) o.route(p, {headers: {'Cache-Control': 'max-age=3600', ETag: '"r"'}, body, chunkSize: 65_536})
    // The cache key includes the authority, and each daemon listens on a fresh port: send one fixed Host to both.
    const headers = {Host: 'restart.tavern.test'}
    for (const {p} of objects) await first.request(p, {headers})
    await waitFor(async () => (await first.status()).storage.objects === objects.length, {message: 'all three objects stored'})
    expect(await first.stop()).toBe(0)

    const second = await startDaemon({upstream: o.url, storageDir: first.storageDir})
    try {
      for (const {p, body} of objects) {
        const r = await second.request(p, {headers})
        expect(r.body.equals(body), `${p}: ${r.body.length} bytes`).toBe(true)
        expect(o.countFor(p), p).toBe(1)
        expect(tavernStatus(r)?.params.hit, p).toBe(true)
        expect(r.header('age')).toMatch(/^\d+$/)
      }
    } finally {
      expect(await second.stop()).toBe(0)
    }
  } finally {
    await o.close()
  }
}, 60_000)

it('restart after kill -9: committed objects survive as hits; the fill cut by the kill is fetched again', async () => {
  const o = await startOrigin()
  try {
    const first = await startDaemon({upstream: o.url})
    const p = uniquePath('kill9')
    const body = payload(500_000, 7)
    o.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body, chunkSize: 65_536})
    const headers = {Host: 'kill9.tavern.test'}
    await first.request(p, {headers})
    // Committed (in the index) before the kill: it must survive it.
    await waitFor(async () => (await first.status()).storage.objects === 1, {message: 'the first object committed'})
    // A second object being filled while we kill the process.
    const p2 = uniquePath('kill9')
    const body2 = payload(300_000, 8)
    o.route(p2, {headers: {'Cache-Control': 'max-age=3600'}, body: body2, chunkSize: 30_000, chunkDelayMs: 100})
    const inflight = first.request(p2, {headers, allowIncomplete: true}).catch(() => undefined)
    await o.waitForCount(p2, 1)
    await sleep(300) // the scenario: kill while the 1 s body is still streaming
    await first.kill9()
    await inflight

    const second = await startDaemon({upstream: o.url, storageDir: first.storageDir})
    try {
      expect((await second.status()).storage.objects).toBe(1)
      const r = await second.request(p, {headers})
      expect(r.body.equals(body)).toBe(true)
      expect(tavernStatus(r)?.params.hit, 'the object committed before the kill is a hit').toBe(true)
      expect(o.countFor(p)).toBe(1)
      const r2 = await second.request(p2, {headers})
      expect(r2.body.equals(body2)).toBe(true)
      expect(tavernStatus(r2)?.params.hit, 'the fill cut by the kill was not stored').toBeUndefined()
      expect(o.countFor(p2)).toBe(2)
    } finally {
      await second.stop()
    }
  } finally {
    await o.close()
  }
}, 60_000)
