// Grace (RFC 9111 §4.2.4, RFC 5861): with the origin gone, stored responses within cache.grace are served stale with
// Cache-Status saying so; must-revalidate / s-maxage / no-cache ones get 504; once the origin is back they are
// revalidated and fresh again. Built daemon, real origin.
import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {parseCacheStatus} from '../helpers/fixture.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {eventually} from '../helpers/wait.js'

let origin: Origin
let daemon: DaemonHandle

beforeAll(async () => {
  origin = await startOrigin()
  daemon = await startDaemon({upstream: origin.url, config: {cache: {grace: '10m'}}})
}, 30_000)
afterAll(async () => {
  await daemon?.stop()
  await origin?.close()
}, 30_000)

function own(r: {header(n: string): string | undefined}): Record<string, string | true> {
  return parseCacheStatus(r.header('cache-status')).find((e) => e.cache === 'tavern')?.params ?? {}
}

/** An object that is stale on arrival (Age 5 > max-age 1), answers 304 to its ETag once the origin is back. */
function staleRoute(p: string, cc: string, extra: Record<string, string> = {}): void {
  origin.route(p, (req) =>
    req.header('if-none-match') === '"v1"'
      ? {status: 304, headers: {'Cache-Control': 'max-age=3600', ETag: '"v1"', ...extra}}
      : {headers: {'Cache-Control': cc, Age: '5', ETag: '"v1"', ...extra}, body: `body of ${p}`},
  )
}

it('origin down: every stored key within grace answers 200 from cache (GET, HEAD, Vary, Range); forbidden ones 504; origin back: fresh again', async () => {
  const plain = uniquePath('grace-plain')
  const head = uniquePath('grace-head')
  const varied = uniquePath('grace-vary')
  const ranged = uniquePath('grace-range')
  const mustRevalidate = uniquePath('grace-mr')
  const proxyRevalidate = uniquePath('grace-pr')
  const sMaxage = uniquePath('grace-smaxage')
  const noCache = uniquePath('grace-nocache')
  staleRoute(plain, 'max-age=1')
  staleRoute(head, 'max-age=1')
  staleRoute(varied, 'max-age=1', {Vary: 'Accept-Language'})
  staleRoute(ranged, 'max-age=1')
  staleRoute(mustRevalidate, 'max-age=1, must-revalidate')
  staleRoute(proxyRevalidate, 'max-age=1, proxy-revalidate')
  staleRoute(sMaxage, 's-maxage=1')
  staleRoute(noCache, 'no-cache')
  const de = {'Accept-Language': 'de'}
  const fr = {'Accept-Language': 'fr'}
  // Store them all (two variants of the Vary'd one).
  for (const p of [plain, head, ranged, mustRevalidate, proxyRevalidate, sMaxage, noCache]) expect((await daemon.request(p)).status).toBe(200)
  expect((await daemon.request(varied, {headers: de})).status).toBe(200)
  expect((await daemon.request(varied, {headers: fr})).status).toBe(200)
  await eventually(async () => expect((await daemon.status()).storage.objects).toBeGreaterThanOrEqual(9))

  await origin.pause()
  try {
    const get = await daemon.request(plain)
    expect(get.status).toBe(200)
    expect(get.text).toBe(`body of ${plain}`)
    expect(get.header('warning')).toBeUndefined()
    const cs = own(get)
    expect(cs.hit).toBe(true)
    expect(cs.fwd).toBe('stale')
    expect(cs['fwd-status']).toBe('502')
    expect(cs.detail).toBe('grace')

    const h = await daemon.request(head, {method: 'HEAD'})
    expect(h.status).toBe(200)
    expect(h.body.length).toBe(0)
    expect(own(h).fwd).toBe('stale')

    for (const [hdr, lang] of [[de, 'de'], [fr, 'fr']] as const) {
      const v = await daemon.request(varied, {headers: hdr})
      expect(v.status, lang).toBe(200)
      expect(v.text).toBe(`body of ${varied}`)
      expect(own(v).fwd).toBe('stale')
    }

    const r = await daemon.request(ranged, {headers: {Range: 'bytes=0-3'}})
    expect(r.status).toBe(206)
    expect(r.text).toBe('body')
    expect(r.header('content-range')).toBe(`bytes 0-3/${`body of ${ranged}`.length}`)
    expect(own(r).fwd).toBe('stale')

    for (const p of [mustRevalidate, proxyRevalidate, sMaxage, noCache]) {
      const x = await daemon.request(p)
      expect(x.status, p).toBe(504)
      expect(x.text, p).toContain('TAVERN_ERR_REVALIDATION_FAILED')
      expect(x.text).not.toContain('body of')
    }

    // In grace now: the next request gets the stale copy at once, without waiting for the origin.
    const again = await daemon.request(plain)
    expect(again.status).toBe(200)
    expect(own(again).detail).toBe('grace (origin failing)')
  } finally {
    await origin.resume()
  }

  // Origin back: a revalidation attempt (at most one per second per object) brings each object back to fresh.
  for (const [p, opts] of [[plain, {}], [head, {method: 'HEAD'}], [varied, {headers: de}], [ranged, {}], [mustRevalidate, {}]] as const) {
    await eventually(
      async () => {
        const x = await daemon.request(p, opts)
        expect(x.status).toBe(200)
        const cs = own(x)
        expect(cs.hit, `${p}: ${x.header('cache-status')}`).toBe(true)
        expect(Number(cs.ttl)).toBeGreaterThan(3000)
      },
      {timeoutMs: 10_000, intervalMs: 200},
    )
  }
  expect(origin.requestsFor(plain).some((q) => q.header('if-none-match') === '"v1"')).toBe(true)
}, 60_000)

it('while in grace, at most one revalidation attempt per object runs at a time', async () => {
  const p = uniquePath('grace-one')
  // Revalidations after the first failed one hang for 4 s: a request that waited for one would show it.
  origin.route(p, (_req, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1', Age: '5', ETag: '"a"'}, body: 'kept'} : n === 2 ? {status: 503, body: 'down'} : {status: 503, body: 'down', delayMs: 4000}))
  expect((await daemon.request(p)).text).toBe('kept')
  // The first revalidation fails (503): stale served, the object is in grace.
  const first = await daemon.request(p)
  expect(first.text).toBe('kept')
  expect(own(first)['fwd-status']).toBe('503')
  const before = origin.countFor(p)
  const burst = await Promise.all(Array.from({length: 20}, () => daemon.request(p)))
  for (const r of burst) {
    expect(r.status).toBe(200)
    expect(r.text).toBe('kept')
    expect(own(r).detail).toBe('grace (origin failing)')
    // Served at once: none waited for the 4 s revalidation attempt.
    expect(r.endedAt - r.startedAt).toBeLessThan(3000)
  }
  // 20 requests, at most one attempt behind them.
  expect(origin.countFor(p) - before).toBeLessThanOrEqual(1)
})

it('stale-if-error from the response narrows grace; from the request it replaces it', async () => {
  const narrow = uniquePath('grace-sie')
  origin.route(narrow, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1, stale-if-error=2', Age: '10'}, body: 'old'} : {status: 500, body: 'broken'}))
  await daemon.request(narrow)
  const r = await daemon.request(narrow)
  expect(r.status).toBe(500) // 9 s stale > the response's 2 s, though within the 10 min grace

  const client = uniquePath('grace-req-sie')
  origin.route(client, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1', Age: '10'}, body: 'old'} : {status: 500, body: 'broken'}))
  await daemon.request(client)
  const strict = await daemon.request(client, {headers: {'Cache-Control': 'stale-if-error=1'}})
  expect(strict.status).toBe(500)
  const relaxed = await daemon.request(client)
  expect(relaxed.status).toBe(200)
  expect(own(relaxed).detail).toBe('grace')
})
