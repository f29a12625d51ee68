// RFC 9111 §3 storing responses: no-store, private, Authorization, methods, header replay.
import {expect, it} from 'vitest'

import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'
import {type ResponseSpec, uniquePath} from '../helpers/origin.js'

const t = useProxy()

async function twice(headers: ResponseSpec['headers'], reqHeaders?: Record<string, string>, extra: Partial<ResponseSpec> = {}) {
  const p = uniquePath('store')
  t.origin.route(p, (_r, n) => ({headers, body: `v${n}`, ...extra}))
  const r1 = await t.get(p, {headers: reqHeaders})
  const r2 = await t.get(p, {headers: reqHeaders})
  return {p, r1, r2, count: t.origin.countFor(p)}
}

it('no-store response is not stored', async () => {
  const {r1, r2, count} = await twice({'Cache-Control': 'no-store'})
  expect(count).toBe(2)
  expect(r2.text).toBe('v2')
  expect(tavernStatus(r1)?.params.stored).toBeUndefined()
})

it('no-store wins over max-age', async () => {
  const {count} = await twice({'Cache-Control': 'max-age=3600, no-store'})
  expect(count).toBe(2)
})

it('no-store in a second Cache-Control field line still applies', async () => {
  const {count} = await twice(['Cache-Control', 'max-age=3600', 'Cache-Control', 'no-store'])
  expect(count).toBe(2)
})

it('private response is not stored by a shared cache', async () => {
  const {count} = await twice({'Cache-Control': 'private, max-age=3600'})
  expect(count).toBe(2)
})

it('Authorization: a max-age response is not reused', async () => {
  const {count} = await twice({'Cache-Control': 'max-age=3600'}, {Authorization: 'Basic dXNlcjpwYXNz'})
  expect(count).toBe(2)
})

it('Authorization: a public response is reused', async () => {
  const {count, r2} = await twice({'Cache-Control': 'public, max-age=3600'}, {Authorization: 'Basic dXNlcjpwYXNz'})
  expect(count, describe_(r2)).toBe(1)
})

it('Authorization: an s-maxage response is reused', async () => {
  const {count, r2} = await twice({'Cache-Control': 's-maxage=3600'}, {Authorization: 'Basic dXNlcjpwYXNz'})
  expect(count, describe_(r2)).toBe(1)
})

it('Authorization: a must-revalidate response is reused while fresh', async () => {
  const {count, r2} = await twice({'Cache-Control': 'max-age=3600, must-revalidate'}, {Authorization: 'Basic dXNlcjpwYXNz'})
  expect(count, describe_(r2)).toBe(1)
})

it('a response to an authorized request is not served to a request without credentials', async () => {
  const p = uniquePath('store')
  t.origin.route(p, (_r, n) => ({headers: {'Cache-Control': 'max-age=3600'}, body: `secret${n}`}))
  await t.get(p, {headers: {Authorization: 'Bearer abc'}})
  const r = await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
  expect(r.text).toBe('secret2')
})

it('POST responses are not reused for later POSTs', async () => {
  const p = uniquePath('store')
  t.origin.route(p, (_r, n) => ({headers: {'Cache-Control': 'max-age=3600'}, body: `v${n}`}))
  const r1 = await t.get(p, {method: 'POST', body: 'a'})
  const r2 = await t.get(p, {method: 'POST', body: 'a'})
  expect(t.origin.countFor(p)).toBe(2)
  expect(r2.text).toBe('v2')
  expect(tavernStatus(r1)?.params.fwd).toBe('method')
})

it('multiple Set-Cookie fields are replayed in order on a hit', async () => {
  const p = uniquePath('store')
  t.origin.route(p, {headers: ['Cache-Control', 'max-age=3600', 'Set-Cookie', 'a=1; Path=/', 'X-Mid', 'm', 'Set-Cookie', 'b=2, c=3; Path=/', 'Set-Cookie', 'd=4'], body: 'cookies'})
  await t.get(p)
  const r = await t.get(p)
  expect(t.origin.countFor(p)).toBe(1)
  expect(r.headerAll('set-cookie')).toEqual(['a=1; Path=/', 'b=2, c=3; Path=/', 'd=4'])
})

it('repeated and custom header fields keep their values and order on a hit', async () => {
  const p = uniquePath('store')
  t.origin.route(p, {headers: ['Cache-Control', 'max-age=3600', 'X-Multi', 'one', 'Link', '</a>; rel=preload', 'X-Multi', 'two', 'Content-Type', 'text/x-test; charset=utf-8'], body: 'h'})
  const r1 = await t.get(p)
  const r2 = await t.get(p)
  expect(t.origin.countFor(p)).toBe(1)
  expect(r2.headerAll('x-multi')).toEqual(['one', 'two'])
  expect(r2.header('link')).toBe('</a>; rel=preload')
  expect(r2.header('content-type')).toBe('text/x-test; charset=utf-8')
  expect(r2.header('date')).toBe(r1.header('date'))
})

it('a binary body is replayed byte for byte', async () => {
  const p = uniquePath('store')
  const body = Buffer.alloc(300_000)
  for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600', 'Content-Type': 'application/octet-stream'}, body, chunkSize: 16384})
  const r1 = await t.get(p)
  const r2 = await t.get(p)
  expect(t.origin.countFor(p)).toBe(1)
  expect(r1.body.equals(body)).toBe(true)
  expect(r2.body.equals(body)).toBe(true)
  expect(r2.header('content-length')).toBe(String(body.length))
})

it('a chunked (no Content-Length) response is stored and replayed', async () => {
  const p = uniquePath('store')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: function* () {
    yield 'part1-'
    yield 'part2-'
    yield 'part3'
  }})
  await t.get(p)
  const r = await t.get(p)
  expect(t.origin.countFor(p)).toBe(1)
  expect(r.text).toBe('part1-part2-part3')
})

it('204 with max-age is stored', async () => {
  const {count, r2} = await twice({'Cache-Control': 'max-age=3600'}, undefined, {status: 204, body: undefined})
  expect(count).toBe(1)
  expect(r2.status).toBe(204)
})

it('HEAD can be answered from a stored GET response (optional)', async () => {
  const p = uniquePath('store')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'head-me'})
  await t.get(p)
  const r = await t.get(p, {method: 'HEAD'})
  expect(t.origin.countFor(p)).toBe(1)
  expect(r.status).toBe(200)
  expect(r.body.length).toBe(0)
  expect(r.header('content-length')).toBe('7')
})

it('a HEAD request does not store a (bodiless) response that a later GET would reuse', async () => {
  const p = uniquePath('store')
  t.origin.route(p, (_r, n) => ({headers: {'Cache-Control': 'max-age=3600'}, body: `get-body-${n}`}))
  await t.get(p, {method: 'HEAD'})
  const r = await t.get(p)
  expect(r.text).toMatch(/^get-body-\d$/)
})
