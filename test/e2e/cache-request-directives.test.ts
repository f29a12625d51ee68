// RFC 9111 §5.2.1 request directives: max-age, max-stale, min-fresh, no-cache, no-store, only-if-cached; Pragma.
import {expect, it} from 'vitest'

import {describe_, useProxy} from '../helpers/fixture.js'
import {type ResponseSpec, uniquePath} from '../helpers/origin.js'

const t = useProxy()

/** A path whose responses are "v<n>" with the given headers; the first GET (plain) stores it. */
async function stored(headers: ResponseSpec['headers']) {
  const p = uniquePath('reqcc')
  t.origin.route(p, (_r, n) => ({headers, body: `v${n}`}))
  const r1 = await t.get(p)
  expect(r1.text).toBe('v1')
  return p
}

it('request max-age=0 → the origin is contacted', async () => {
  const p = await stored({'Cache-Control': 'max-age=3600'})
  const r = await t.get(p, {headers: {'Cache-Control': 'max-age=0'}})
  expect(t.origin.countFor(p)).toBe(2)
  expect(r.text).toBe('v2')
})

it('request max-age smaller than the current age → the origin is contacted', async () => {
  const p = await stored({'Cache-Control': 'max-age=3600', Age: '100'})
  const r = await t.get(p, {headers: {'Cache-Control': 'max-age=50'}})
  expect(t.origin.countFor(p)).toBe(2)
  expect(r.text).toBe('v2')
})

it('request max-age larger than the current age → reused', async () => {
  const p = await stored({'Cache-Control': 'max-age=3600', Age: '100'})
  const r = await t.get(p, {headers: {'Cache-Control': 'max-age=1000'}})
  expect(t.origin.countFor(p), describe_(r)).toBe(1)
  expect(r.text).toBe('v1')
})

it('request no-cache → the origin is contacted', async () => {
  const p = await stored({'Cache-Control': 'max-age=3600'})
  const r = await t.get(p, {headers: {'Cache-Control': 'no-cache'}})
  expect(t.origin.countFor(p)).toBe(2)
  expect(r.text).toBe('v2')
})

it('request no-cache with a validator → the origin sees a conditional request or a plain one, never skipped', async () => {
  const p = uniquePath('reqcc')
  t.origin.route(p, (req, n) =>
    req.header('if-none-match') === '"e1"' ? {status: 304, headers: {ETag: '"e1"', 'Cache-Control': 'max-age=3600'}} : {headers: {ETag: '"e1"', 'Cache-Control': 'max-age=3600'}, body: `v${n}`},
  )
  await t.get(p)
  const r = await t.get(p, {headers: {'Cache-Control': 'no-cache'}})
  expect(t.origin.countFor(p)).toBe(2)
  expect(r.status).toBe(200)
  expect(r.text).toBe('v1')
})

it('Pragma: no-cache without Cache-Control → the origin is contacted (optional; deprecated in RFC 9111)', async () => {
  const p = await stored({'Cache-Control': 'max-age=3600'})
  await t.get(p, {headers: {Pragma: 'no-cache'}})
  expect(t.origin.countFor(p)).toBe(2)
})

it('Pragma: no-cache is ignored when Cache-Control is present', async () => {
  const p = await stored({'Cache-Control': 'max-age=3600'})
  const r = await t.get(p, {headers: {Pragma: 'no-cache', 'Cache-Control': 'max-age=3600'}})
  expect(t.origin.countFor(p), describe_(r)).toBe(1)
})

it('request no-store → the response is not stored', async () => {
  const p = uniquePath('reqcc')
  t.origin.route(p, (_r, n) => ({headers: {'Cache-Control': 'max-age=3600'}, body: `v${n}`}))
  const r1 = await t.get(p, {headers: {'Cache-Control': 'no-store'}})
  expect(r1.text).toBe('v1')
  const r2 = await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
  expect(r2.text).toBe('v2')
})

it('max-stale (with value) accepts a stale stored response', async () => {
  const p = await stored({'Cache-Control': 'max-age=1', Age: '10'}) // stale by 9 s on arrival
  const r = await t.get(p, {headers: {'Cache-Control': 'max-stale=3600'}})
  expect(t.origin.countFor(p), describe_(r)).toBe(1)
  expect(r.text).toBe('v1')
})

it('max-stale (no value) accepts a stale stored response', async () => {
  const p = await stored({'Cache-Control': 'max-age=1', Age: '10'})
  const r = await t.get(p, {headers: {'Cache-Control': 'max-stale'}})
  expect(t.origin.countFor(p), describe_(r)).toBe(1)
  expect(r.text).toBe('v1')
})

it('max-stale too small for the staleness → the origin is contacted', async () => {
  const p = await stored({'Cache-Control': 'max-age=1', Age: '100'})
  const r = await t.get(p, {headers: {'Cache-Control': 'max-stale=5'}})
  expect(t.origin.countFor(p)).toBe(2)
  expect(r.text).toBe('v2')
})

it('max-stale does not override a response must-revalidate', async () => {
  const p = await stored({'Cache-Control': 'max-age=1, must-revalidate', Age: '10'})
  await t.get(p, {headers: {'Cache-Control': 'max-stale=3600'}})
  expect(t.origin.countFor(p)).toBe(2)
})

it('min-fresh larger than the remaining lifetime → the origin is contacted', async () => {
  const p = await stored({'Cache-Control': 'max-age=3600'})
  const r = await t.get(p, {headers: {'Cache-Control': 'min-fresh=7200'}})
  expect(t.origin.countFor(p)).toBe(2)
  expect(r.text).toBe('v2')
})

it('min-fresh within the remaining lifetime → reused', async () => {
  const p = await stored({'Cache-Control': 'max-age=3600'})
  const r = await t.get(p, {headers: {'Cache-Control': 'min-fresh=60'}})
  expect(t.origin.countFor(p), describe_(r)).toBe(1)
})

it('only-if-cached on a URL not in cache → 504 without contacting the origin', async () => {
  const p = uniquePath('reqcc')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'x'})
  const r = await t.get(p, {headers: {'Cache-Control': 'only-if-cached'}})
  expect(r.status).toBe(504)
  expect(t.origin.countFor(p)).toBe(0)
})

it('only-if-cached on a fresh stored response → served from cache', async () => {
  const p = await stored({'Cache-Control': 'max-age=3600'})
  const r = await t.get(p, {headers: {'Cache-Control': 'only-if-cached'}})
  expect(r.status).toBe(200)
  expect(r.text).toBe('v1')
  expect(t.origin.countFor(p)).toBe(1)
})

it('only-if-cached on a stale stored response → 504 without contacting the origin', async () => {
  const p = await stored({'Cache-Control': 'max-age=1', Age: '10', ETag: '"x"'})
  const r = await t.get(p, {headers: {'Cache-Control': 'only-if-cached'}})
  expect(r.status).toBe(504)
  expect(t.origin.countFor(p)).toBe(1)
})

it('only-if-cached with max-stale on a stale stored response → served from cache', async () => {
  const p = await stored({'Cache-Control': 'max-age=1', Age: '10'})
  const r = await t.get(p, {headers: {'Cache-Control': 'only-if-cached, max-stale=3600'}})
  expect(r.status).toBe(200)
  expect(r.text).toBe('v1')
  expect(t.origin.countFor(p)).toBe(1)
})
