// Crash mid-fill (origin side) and restarts (daemon side): never a truncated response that looks complete,
// never a partial object in the cache, and completed objects survive a restart.
import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'

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
  for (const r of rs) {
    if (r.complete) expect(r.body.equals(full), `complete response with ${r.body.length} bytes`).toBe(true)
  }
  const after = await d.request(p)
  expect(after.body.equals(full)).toBe(true)
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
    await sleep(300)
    expect(await first.stop()).toBe(0)

    const second = await startDaemon({upstream: o.url, storageDir: first.storageDir})
    try {
      for (const {p, body} of objects) {
        const r = await second.request(p, {headers})
        expect(r.body.equals(body), `${p}: ${r.body.length} bytes`).toBe(true)
        expect(o.countFor(p), p).toBe(1)
        expect(r.header('age')).toBeDefined()
      }
    } finally {
      expect(await second.stop()).toBe(0)
    }
  } finally {
    await o.close()
  }
}, 60_000)

it('restart after kill -9: whatever is served afterwards has the right bytes', async () => {
  const o = await startOrigin()
  try {
    const first = await startDaemon({upstream: o.url})
    const p = uniquePath('kill9')
    const body = payload(500_000, 7)
    o.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body, chunkSize: 65_536})
    const headers = {Host: 'kill9.tavern.test'}
    await first.request(p, {headers})
    await sleep(500)
    // A second object being filled while we kill the process.
    const p2 = uniquePath('kill9')
    const body2 = payload(300_000, 8)
    o.route(p2, {headers: {'Cache-Control': 'max-age=3600'}, body: body2, chunkSize: 30_000, chunkDelayMs: 100})
    const inflight = first.request(p2, {headers, allowIncomplete: true}).catch(() => undefined)
    await o.waitForCount(p2, 1)
    await sleep(300)
    await first.kill9()
    await inflight

    const second = await startDaemon({upstream: o.url, storageDir: first.storageDir})
    try {
      const r = await second.request(p, {headers})
      expect(r.body.equals(body)).toBe(true)
      const r2 = await second.request(p2, {headers})
      expect(r2.body.equals(body2)).toBe(true)
    } finally {
      await second.stop()
    }
  } finally {
    await o.close()
  }
}, 60_000)
