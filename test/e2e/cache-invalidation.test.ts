// RFC 9111 §4.4 invalidation by unsafe methods (target URI, Location, Content-Location).
import {expect, it} from 'vitest'

import {describe_, useProxy} from '../helpers/fixture.js'
import {type ResponseSpec, uniquePath} from '../helpers/origin.js'

const t = useProxy()

/** A cached GET resource (body "v<n>") plus a handler for other methods. */
async function cachedResource(other: (method: string) => ResponseSpec = () => ({status: 200, headers: {'Cache-Control': 'no-store'}, body: 'done'})) {
  const p = uniquePath('inval')
  let gets = 0
  t.origin.route(p, (req) => {
    if (req.method === 'GET' || req.method === 'HEAD') return {headers: {'Cache-Control': 'max-age=3600'}, body: `v${++gets}`}
    return other(req.method)
  })
  const r1 = await t.get(p)
  const r2 = await t.get(p)
  expect(r2.text, describe_(r2)).toBe(r1.text)
  expect(t.origin.countFor(p)).toBe(1)
  return p
}

for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
  it(`${method} with a 2xx response invalidates the stored GET response`, async () => {
    const p = await cachedResource()
    const u = await t.get(p, {method, body: method === 'DELETE' ? undefined : 'payload'})
    expect(u.status).toBe(200)
    expect(t.origin.countFor(p)).toBe(2)
    const g = await t.get(p)
    expect(t.origin.countFor(p)).toBe(3)
    expect(g.text).toBe('v2')
  })
}

it('an unsafe method of unknown safety (M-SEARCH) invalidates too', async () => {
  const p = await cachedResource()
  await t.get(p, {method: 'M-SEARCH'})
  await t.get(p)
  expect(t.origin.countFor(p)).toBe(3)
})

it('a 3xx response to POST invalidates', async () => {
  const p = await cachedResource(() => ({status: 303, headers: {Location: '/somewhere'}}))
  await t.get(p, {method: 'POST', body: 'x'})
  await t.get(p)
  expect(t.origin.countFor(p)).toBe(3)
})

it('an error response to POST need not invalidate (optional: kept)', async () => {
  const p = await cachedResource(() => ({status: 500, headers: {'Cache-Control': 'no-store'}, body: 'oops'}))
  await t.get(p, {method: 'POST', body: 'x'})
  await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
})

it('safe methods (HEAD, OPTIONS) do not invalidate', async () => {
  const p = await cachedResource(() => ({status: 204, headers: {Allow: 'GET'}}))
  await t.get(p, {method: 'OPTIONS'})
  await t.get(p, {method: 'HEAD'})
  const g = await t.get(p)
  expect(g.text).toBe('v1')
  expect(t.origin.requestsFor(p).filter((r) => r.method === 'GET').length).toBe(1)
})

it('POST elsewhere with a relative Location invalidates that URI', async () => {
  const target = await cachedResource()
  const poster = uniquePath('inval-post')
  t.origin.route(poster, {status: 201, headers: {Location: target, 'Cache-Control': 'no-store'}, body: 'created'})
  await t.get(poster, {method: 'POST', body: 'x'})
  const g = await t.get(target)
  expect(t.origin.countFor(target)).toBe(2)
  expect(g.text).toBe('v2')
})

it('POST elsewhere with an absolute same-origin Location invalidates that URI', async () => {
  const target = await cachedResource()
  const poster = uniquePath('inval-post')
  t.origin.route(poster, () => ({status: 201, headers: {Location: `${t.daemon.url}${target}`, 'Cache-Control': 'no-store'}, body: 'created'}))
  await t.get(poster, {method: 'POST', body: 'x'})
  await t.get(target)
  expect(t.origin.countFor(target)).toBe(2)
})

it('POST elsewhere with a Content-Location invalidates that URI', async () => {
  const target = await cachedResource()
  const poster = uniquePath('inval-post')
  t.origin.route(poster, {status: 200, headers: {'Content-Location': target, 'Cache-Control': 'no-store'}, body: 'ok'})
  await t.get(poster, {method: 'POST', body: 'x'})
  await t.get(target)
  expect(t.origin.countFor(target)).toBe(2)
})

it('a cross-origin Location does not invalidate', async () => {
  const target = await cachedResource()
  const poster = uniquePath('inval-post')
  t.origin.route(poster, {status: 201, headers: {Location: `http://other.example${target}`, 'Cache-Control': 'no-store'}, body: 'created'})
  await t.get(poster, {method: 'POST', body: 'x'})
  const g = await t.get(target)
  expect(t.origin.countFor(target)).toBe(1)
  expect(g.text).toBe('v1')
})

it('a cross-origin Content-Location does not invalidate', async () => {
  const target = await cachedResource()
  const poster = uniquePath('inval-post')
  t.origin.route(poster, {status: 200, headers: {'Content-Location': `http://other.example${target}`, 'Cache-Control': 'no-store'}, body: 'ok'})
  await t.get(poster, {method: 'POST', body: 'x'})
  await t.get(target)
  expect(t.origin.countFor(target)).toBe(1)
})

it('invalidation covers every Vary variant of the URI', async () => {
  const p = uniquePath('inval')
  t.origin.route(p, (req, n) =>
    req.method === 'GET' ? {headers: {'Cache-Control': 'max-age=3600', Vary: 'Accept-Language'}, body: `${req.header('accept-language')}-${n}`} : {status: 204},
  )
  await t.get(p, {headers: {'Accept-Language': 'en'}})
  await t.get(p, {headers: {'Accept-Language': 'fr'}})
  await t.get(p, {method: 'POST', body: 'x'})
  await t.get(p, {headers: {'Accept-Language': 'en'}})
  await t.get(p, {headers: {'Accept-Language': 'fr'}})
  expect(t.origin.requestsFor(p).filter((r) => r.method === 'GET').length).toBe(4)
})

it('a query string is part of the key: invalidating /x does not touch /x?a=1 (optional)', async () => {
  const p = uniquePath('inval')
  t.origin.route(p, (req, n) => (req.method === 'GET' ? {headers: {'Cache-Control': 'max-age=3600'}, body: `${req.url}-${n}`} : {status: 204}))
  await t.get(`${p}?a=1`)
  await t.get(p)
  await t.get(p, {method: 'POST', body: 'x'})
  const q = await t.get(`${p}?a=1`)
  expect(q.text).toBe(`${p}?a=1-1`)
})
