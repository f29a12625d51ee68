// Serving stale: RFC 5861 stale-while-revalidate / stale-if-error, RFC 9111 §4.2.4 and must-revalidate.
import {expect, it} from 'vitest'

import {describe_, useProxy} from '../helpers/fixture.js'
import {sleep, uniquePath} from '../helpers/origin.js'

const t = useProxy()

it('stale-while-revalidate: stale served immediately, one background request, then fresh', async () => {
  const p = uniquePath('swr')
  t.origin.route(p, (_r, n) =>
    n === 1 ? {headers: {'Cache-Control': 'max-age=1, stale-while-revalidate=3600', Age: '5'}, body: 'old'} : {headers: {'Cache-Control': 'max-age=3600'}, body: 'new', delayMs: 1500},
  )
  await t.get(p)
  const started = Date.now()
  const stale = await t.get(p)
  expect(stale.text, describe_(stale)).toBe('old')
  expect(stale.endedAt - started).toBeLessThan(1200) // did not wait for the 1.5 s origin
  // More requests during the revalidation do not start more background fetches.
  const during = await Promise.all([t.get(p), t.get(p), t.get(p)])
  for (const r of during) expect(r.status).toBe(200)
  await t.origin.waitForCount(p, 2)
  await t.origin.requestsFor(p)[1]!.finishedAt
  // wait for the background fill to land
  const end = Date.now() + 5000
  let fresh = await t.get(p)
  while (fresh.text !== 'new' && Date.now() < end) {
    await sleep(100)
    fresh = await t.get(p)
  }
  expect(fresh.text).toBe('new')
  expect(t.origin.countFor(p)).toBe(2)
})

it('stale-while-revalidate: the background request is conditional when a validator is stored', async () => {
  const p = uniquePath('swr')
  t.origin.route(p, (req, n) =>
    n === 1
      ? {headers: {'Cache-Control': 'max-age=1, stale-while-revalidate=3600', Age: '5', ETag: '"w1"'}, body: 'swr-body'}
      : req.header('if-none-match') === '"w1"'
        ? {status: 304, headers: {'Cache-Control': 'max-age=3600', ETag: '"w1"'}}
        : {headers: {'Cache-Control': 'max-age=3600'}, body: 'unconditional'},
  )
  await t.get(p)
  await t.get(p)
  await t.origin.waitForCount(p, 2)
  expect(t.origin.requestsFor(p)[1]!.header('if-none-match')).toBe('"w1"')
})

it('stale-while-revalidate window exceeded → the client waits for the origin', async () => {
  const p = uniquePath('swr')
  t.origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1, stale-while-revalidate=2', Age: '100'}, body: 'old'} : {headers: {'Cache-Control': 'max-age=3600'}, body: 'new'}))
  await t.get(p)
  const r = await t.get(p)
  expect(r.text).toBe('new')
})

it('stale-if-error: origin answers 500 → the stale response is served', async () => {
  const p = uniquePath('sie')
  t.origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1, stale-if-error=3600', Age: '5'}, body: 'good'} : {status: 500, headers: {'Cache-Control': 'no-store'}, body: 'broken'}))
  await t.get(p)
  const r = await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
  expect(r.status, describe_(r)).toBe(200)
  expect(r.text).toBe('good')
})

it('stale-if-error: origin answers 503 → the stale response is served', async () => {
  const p = uniquePath('sie')
  t.origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1, stale-if-error=3600', Age: '5'}, body: 'good'} : {status: 503, body: 'unavailable'}))
  await t.get(p)
  const r = await t.get(p)
  expect(r.status, describe_(r)).toBe(200)
  expect(r.text).toBe('good')
})

it('stale-if-error: origin down → the stale response is served', async () => {
  const p = uniquePath('sie')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=1, stale-if-error=3600', Age: '5'}, body: 'good'})
  await t.get(p)
  await t.origin.pause()
  try {
    const r = await t.get(p)
    expect(r.status, describe_(r)).toBe(200)
    expect(r.text).toBe('good')
  } finally {
    await t.origin.resume()
  }
})

it('stale-if-error window exceeded → the error is passed on', async () => {
  const p = uniquePath('sie')
  t.origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1, stale-if-error=2', Age: '100'}, body: 'good'} : {status: 500, body: 'broken'}))
  await t.get(p)
  const r = await t.get(p)
  expect(r.status).toBe(500)
})

it('stale-if-error in the request (optional)', async () => {
  const p = uniquePath('sie')
  t.origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1', Age: '5'}, body: 'good'} : {status: 500, body: 'broken'}))
  await t.get(p)
  const r = await t.get(p, {headers: {'Cache-Control': 'stale-if-error=3600'}})
  expect(r.status).toBe(200)
  expect(r.text).toBe('good')
})

it('without stale-if-error and past grace a 500 on revalidation is passed on (no stale served)', async () => {
  const p = uniquePath('sie')
  // Age 7200: stale for longer than the default grace (1h), so nothing allows serving it.
  t.origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1', Age: '7200', ETag: '"e"'}, body: 'good'} : {status: 500, body: 'broken'}))
  await t.get(p)
  const r = await t.get(p)
  expect(r.status).toBe(500)
  expect(r.text).toBe('broken')
})

it('must-revalidate: origin 500 → the stale response is not served', async () => {
  const p = uniquePath('mr')
  t.origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1, must-revalidate', Age: '5', ETag: '"e"'}, body: 'good'} : {status: 500, body: 'broken'}))
  await t.get(p)
  const r = await t.get(p)
  // RFC 9111 §4.3.3: the 5xx of the failed revalidation is forwarded as received.
  expect(r.status, describe_(r)).toBe(500)
  expect(r.text).toBe('broken')
  expect(r.header('cache-status')).toBe('tavern; fwd=stale; fwd-status=500; detail="origin answered 500 while revalidating"')
})

it('must-revalidate wins over stale-if-error', async () => {
  const p = uniquePath('mr')
  t.origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1, must-revalidate, stale-if-error=3600', Age: '5'}, body: 'good'} : {status: 500, body: 'broken'}))
  await t.get(p)
  const r = await t.get(p)
  expect(r.status, describe_(r)).toBe(500)
  expect(r.text).toBe('broken')
  expect(r.header('cache-status')).toBe('tavern; fwd=stale; fwd-status=500; detail="origin answered 500 while revalidating"')
})

it('must-revalidate: origin down → 504 (SHOULD), the stale response is not served', async () => {
  const p = uniquePath('mr')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=1, must-revalidate', Age: '5'}, body: 'good'})
  await t.get(p)
  await t.origin.pause()
  try {
    const r = await t.get(p)
    expect(r.text).not.toBe('good')
    expect(r.status).toBe(504)
  } finally {
    await t.origin.resume()
  }
})

it('origin down, no stale directive and past grace → 504, not the stale body', async () => {
  const p = uniquePath('down')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=1', Age: '7200'}, body: 'good'})
  await t.get(p)
  await t.origin.pause()
  try {
    const r = await t.get(p)
    // RFC 9111 §4.2.4 lets a disconnected cache serve stale; Tavern does so within grace (or stale-if-error), and
    // otherwise answers 504 like a stored response that cannot be revalidated (§5.2.2.2).
    expect(r.status, describe_(r)).toBe(504)
    expect(r.text).not.toContain('good')
    expect(r.header('cache-status')).toBe('tavern; fwd=stale; detail="origin unreachable"')
  } finally {
    await t.origin.resume()
  }
})
