// RFC 9111 §4.3 validation: no-cache / stale revalidation, 304 handling, client conditionals.
import {expect, it} from 'vitest'

import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'
import {httpDate, uniquePath} from '../helpers/origin.js'

const t = useProxy()

it('no-cache response is stored but revalidated: origin sees If-None-Match, 304 → client gets 200 with the stored body', async () => {
  const p = uniquePath('val')
  t.origin.route(p, (req) =>
    req.header('if-none-match') === '"abc"' ? {status: 304, headers: {ETag: '"abc"', 'Cache-Control': 'no-cache'}} : {headers: {ETag: '"abc"', 'Cache-Control': 'no-cache'}, body: 'stored-body'},
  )
  await t.get(p)
  const r = await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
  expect(t.origin.requestsFor(p)[1]!.header('if-none-match')).toBe('"abc"')
  expect(r.status).toBe(200)
  expect(r.text).toBe('stored-body')
})

it('no-cache with Last-Modified only: origin sees If-Modified-Since with the stored Last-Modified', async () => {
  const p = uniquePath('val')
  const lm = httpDate(-86400)
  t.origin.route(p, (req) => (req.header('if-modified-since') ? {status: 304, headers: {'Last-Modified': lm, 'Cache-Control': 'no-cache'}} : {headers: {'Last-Modified': lm, 'Cache-Control': 'no-cache'}, body: 'lm-body'}))
  await t.get(p)
  const r = await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
  expect(t.origin.requestsFor(p)[1]!.header('if-modified-since')).toBe(lm)
  expect(r.status).toBe(200)
  expect(r.text).toBe('lm-body')
})

it('a stale response with an ETag is revalidated (Cache-Status fwd=stale; fwd-status=304)', async () => {
  const p = uniquePath('val')
  t.origin.route(p, (req) =>
    req.header('if-none-match') === '"s1"' ? {status: 304, headers: {ETag: '"s1"', 'Cache-Control': 'max-age=3600'}} : {headers: {ETag: '"s1"', 'Cache-Control': 'max-age=1', Age: '10'}, body: 'stale-body'},
  )
  await t.get(p)
  const r2 = await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
  expect(r2.text).toBe('stale-body')
  const cs = tavernStatus(r2)
  expect(cs?.params.fwd, describe_(r2)).toBe('stale')
  expect(cs?.params['fwd-status']).toBe('304')
  // The 304 made it fresh for an hour.
  const r3 = await t.get(p)
  expect(t.origin.countFor(p), describe_(r3)).toBe(2)
  expect(r3.text).toBe('stale-body')
})

it('must-revalidate: a stale response is revalidated before reuse', async () => {
  const p = uniquePath('val')
  t.origin.route(p, (req) =>
    req.header('if-none-match') ? {status: 304, headers: {ETag: '"m"', 'Cache-Control': 'max-age=1, must-revalidate'}} : {headers: {ETag: '"m"', 'Cache-Control': 'max-age=1, must-revalidate', Age: '5'}, body: 'mr'},
  )
  await t.get(p)
  const r = await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
  expect(t.origin.requestsFor(p)[1]!.header('if-none-match')).toBe('"m"')
  expect(r.text).toBe('mr')
})

it('304 updates stored headers: a new header value appears on the next hit; Content-Length is not changed', async () => {
  const p = uniquePath('val')
  t.origin.route(p, (req) =>
    req.header('if-none-match') === '"u1"'
      ? {status: 304, headers: ['ETag', '"u1"', 'Cache-Control', 'max-age=3600', 'X-Version', 'two', 'Content-Length', '0']}
      : {headers: {ETag: '"u1"', 'Cache-Control': 'no-cache', 'X-Version': 'one', 'X-Keep': 'kept'}, body: 'abc'},
  )
  const r1 = await t.get(p)
  expect(r1.header('x-version')).toBe('one')
  const r2 = await t.get(p) // revalidated: 304
  expect(t.origin.countFor(p)).toBe(2)
  expect(r2.status).toBe(200)
  expect(r2.text).toBe('abc')
  expect(r2.header('x-version')).toBe('two')
  const r3 = await t.get(p) // fresh now (max-age from the 304)
  expect(t.origin.countFor(p), describe_(r3)).toBe(2)
  expect(r3.header('x-version')).toBe('two')
  expect(r3.headerAll('x-version')).toEqual(['two'])
  expect(r3.header('x-keep')).toBe('kept')
  expect(r3.text).toBe('abc')
  expect(r3.header('content-length')).toBe('3')
})

it('a 200 answering a revalidation replaces the stored response (next revalidation uses the new ETag)', async () => {
  const p = uniquePath('val')
  t.origin.route(p, (req, n) => {
    if (n === 1) return {headers: {ETag: '"a1"', 'Cache-Control': 'no-cache'}, body: 'first'}
    if (n === 2) return {headers: {ETag: '"a2"', 'Cache-Control': 'no-cache'}, body: 'second'}
    return req.header('if-none-match') === '"a2"' ? {status: 304, headers: {ETag: '"a2"'}} : {headers: {ETag: '"a3"'}, body: 'wrong'}
  })
  await t.get(p)
  const r2 = await t.get(p)
  expect(r2.text).toBe('second')
  const r3 = await t.get(p)
  expect(t.origin.countFor(p)).toBe(3)
  expect(t.origin.requestsFor(p)[2]!.header('if-none-match')).toBe('"a2"')
  expect(r3.text).toBe('second')
})

it('the client receives a 304 from the origin unchanged when it sent its own conditional on a stale entry', async () => {
  const p = uniquePath('val')
  t.origin.route(p, (req) => (req.header('if-none-match') ? {status: 304, headers: {ETag: '"c"'}} : {headers: {ETag: '"c"', 'Cache-Control': 'no-cache'}, body: 'cbody'}))
  await t.get(p)
  const r = await t.get(p, {headers: {'If-None-Match': '"c"'}})
  expect(r.status).toBe(304)
  expect(r.body.length).toBe(0)
})

describe_conditional()

function describe_conditional() {
  async function storedWithEtag(etag: string) {
    const p = uniquePath('cond')
    t.origin.route(p, {headers: {ETag: etag, 'Cache-Control': 'max-age=3600', 'Last-Modified': httpDate(-86400)}, body: 'conditional-body'})
    await t.get(p)
    return p
  }

  it('client If-None-Match matching a fresh stored response → 304 from cache, origin not contacted', async () => {
    const p = await storedWithEtag('"abc"')
    const r = await t.get(p, {headers: {'If-None-Match': '"abc"'}})
    expect(r.status, describe_(r)).toBe(304)
    expect(r.body.length).toBe(0)
    expect(r.header('etag')).toBe('"abc"')
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('client If-None-Match uses weak comparison (stored W/"abc", client "abc")', async () => {
    const p = await storedWithEtag('W/"abc"')
    const r = await t.get(p, {headers: {'If-None-Match': '"abc"'}})
    expect(r.status, describe_(r)).toBe(304)
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('client If-None-Match uses weak comparison (stored "abc", client W/"abc")', async () => {
    const p = await storedWithEtag('"abc"')
    const r = await t.get(p, {headers: {'If-None-Match': 'W/"abc"'}})
    expect(r.status, describe_(r)).toBe(304)
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('client If-None-Match with a list containing the tag → 304', async () => {
    const p = await storedWithEtag('"b"')
    const r = await t.get(p, {headers: {'If-None-Match': '"a", "b", "c"'}})
    expect(r.status).toBe(304)
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('client If-None-Match: * on a stored response → 304', async () => {
    const p = await storedWithEtag('"star"')
    const r = await t.get(p, {headers: {'If-None-Match': '*'}})
    expect(r.status).toBe(304)
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('client If-None-Match not matching → full 200 from cache', async () => {
    const p = await storedWithEtag('"abc"')
    const r = await t.get(p, {headers: {'If-None-Match': '"other"'}})
    expect(r.status).toBe(200)
    expect(r.text).toBe('conditional-body')
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('client If-Modified-Since later than Last-Modified → 304 from cache (optional)', async () => {
    const p = await storedWithEtag('"ims"')
    const r = await t.get(p, {headers: {'If-Modified-Since': httpDate(0)}})
    expect(r.status).toBe(304)
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('client If-Modified-Since is ignored when If-None-Match is present (INM not matching → 200)', async () => {
    const p = await storedWithEtag('"x1"')
    const r = await t.get(p, {headers: {'If-None-Match': '"nope"', 'If-Modified-Since': httpDate(0)}})
    expect(r.status).toBe(200)
    expect(t.origin.countFor(p)).toBe(1)
  })
}
