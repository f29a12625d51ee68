// RFC 9211 Cache-Status and RFC 9111 §5.1 Age on responses served by the cache; admin counters.
import {expect, it} from 'vitest'

import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'
import {waitFor} from '../helpers/wait.js'
import {uniquePath} from '../helpers/origin.js'

const t = useProxy()

/** Until the object at `p` is committed: an only-if-cached request is answered from the cache (else 504). */
async function committed(p: string): Promise<void> {
  await waitFor(async () => (await t.daemon.request(p, {headers: {'Cache-Control': 'only-if-cached'}})).status === 200, {message: `${p} stored`})
}

it('a miss that is stored: "tavern; fwd=uri-miss; stored"', async () => {
  const p = uniquePath('cs')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'x'})
  const r = await t.get(p)
  const cs = tavernStatus(r)
  expect(r.header('cache-status')).toMatch(/^tavern(;|$)/)
  expect(cs?.params.fwd).toBe('uri-miss')
  expect(cs?.params.stored).toBe(true)
  expect(cs?.params.hit).toBeUndefined()
})

it('a hit: "tavern; hit; ttl=N" with 0 < N ≤ max-age, and an Age header', async () => {
  const p = uniquePath('cs')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'x'})
  await t.get(p)
  // Wait for the fill's commit so this is a plain hit (not a request collapsed onto the fill).
  await committed(p)
  const r = await t.get(p)
  const cs = tavernStatus(r)
  expect(cs?.params.hit, describe_(r)).toBe(true)
  expect(cs?.params.fwd).toBeUndefined()
  const ttl = Number(cs?.params.ttl)
  expect(ttl).toBeGreaterThan(0)
  expect(ttl).toBeLessThanOrEqual(600)
  expect(r.header('age')).toMatch(/^\d+$/)
})

it('a hit immediately after the fill completes is reported as a hit', async () => {
  const p = uniquePath('cs')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'x'})
  await t.get(p)
  const r = await t.get(p)
  expect(t.origin.countFor(p)).toBe(1)
  expect(tavernStatus(r)?.params.hit, describe_(r)).toBe(true)
})

it('a POST: fwd=method', async () => {
  const p = uniquePath('cs')
  t.origin.route(p, {status: 201, body: 'created'})
  const r = await t.get(p, {method: 'POST', body: 'x'})
  expect(tavernStatus(r)?.params.fwd).toBe('method')
})

it('a no-store response: forwarded, not "stored"', async () => {
  const p = uniquePath('cs')
  t.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x'})
  const r = await t.get(p)
  expect(r.header('cache-status')).toBe('tavern; fwd=uri-miss; fwd-status=200; detail="response Cache-Control: no-store"')
  expect(r.header('age')).toBeUndefined()
})

it('fwd-status carries the origin status', async () => {
  const p = uniquePath('cs')
  t.origin.route(p, {status: 404, headers: {'Cache-Control': 'no-store'}, body: 'nope'})
  const r = await t.get(p)
  expect(tavernStatus(r)?.params['fwd-status']).toBe('404')
})

it('a request with Cache-Control: no-cache is forwarded with fwd=request (optional)', async () => {
  const p = uniquePath('cs')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'x'})
  await t.get(p)
  await committed(p)
  const r = await t.get(p, {headers: {'Cache-Control': 'no-cache'}})
  expect(tavernStatus(r)?.params.fwd).toBe('request')
})

it('an upstream Cache-Status is kept and ours is appended last (SHOULD)', async () => {
  const p = uniquePath('cs')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600', 'Cache-Status': 'origin-cache; hit'}, body: 'x'})
  const r = await t.get(p)
  const all = r.headerAll('cache-status').join(', ')
  expect(all, all).toMatch(/^origin-cache; hit, tavern/)
})

it('Age is not added to responses that were not served from cache', async () => {
  const p = uniquePath('cs')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'x'})
  const r = await t.get(p)
  expect(r.header('age')).toBeUndefined()
})

it('/status counters move: requests, hits, originRequests', async () => {
  const before = await t.daemon.status()
  const p = uniquePath('cs')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'counted'})
  await t.get(p)
  await committed(p)
  await t.get(p)
  await t.get(p)
  const after = await t.daemon.status()
  expect(after.counters.requests - before.counters.requests).toBeGreaterThanOrEqual(3)
  expect(after.counters.hits - before.counters.hits).toBeGreaterThanOrEqual(2)
  expect(after.counters.originRequests - before.counters.originRequests).toBe(1)
  expect(after.counters.bytesOut).toBeGreaterThan(before.counters.bytesOut)
  expect(after.storage.objects).toBeGreaterThanOrEqual(1)
  expect(after.pid).toBe(t.daemon.pid)
})
