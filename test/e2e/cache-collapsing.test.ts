// Request collapsing: concurrent misses share one origin request, without ever sharing what must not be shared.
import {expect, it} from 'vitest'

import {useProxy} from '../helpers/fixture.js'
import {sleep, uniquePath} from '../helpers/origin.js'

const t = useProxy()

it('50 concurrent requests for a cold slow object → one origin request, 50 identical bodies', async () => {
  const p = uniquePath('collapse')
  const body = Buffer.from('x'.repeat(20_000) + 'end')
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body, delayMs: 300})
  const rs = await Promise.all(Array.from({length: 50}, () => t.get(p)))
  expect(t.origin.countFor(p)).toBe(1)
  for (const r of rs) {
    expect(r.status).toBe(200)
    expect(r.body.equals(body)).toBe(true)
  }
})

it('followers receive bytes before the origin has finished a slowly streamed body', async () => {
  const p = uniquePath('collapse')
  const chunks = ['chunk-1;', 'chunk-2;', 'chunk-3;', 'chunk-4;', 'chunk-5;', 'chunk-6;']
  t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: chunks.join(''), chunkSize: 8, chunkDelayMs: 400}) // ≈ 2 s total
  const leader = t.get(p)
  await t.origin.waitForCount(p, 1)
  await sleep(100)
  const followers = Array.from({length: 5}, () => t.get(p))
  const all = await Promise.all([leader, ...followers])
  expect(t.origin.countFor(p)).toBe(1)
  const originDone = t.origin.requestsFor(p)[0]!.finishedAt!
  for (const r of all) {
    expect(r.text).toBe(chunks.join(''))
    // Streaming, not store-and-forward: first bytes well before the origin finished (generous margin).
    expect(r.firstByteAt!, `first byte ${originDone - r.firstByteAt!} ms before origin end`).toBeLessThan(originDone - 600)
  }
})

it('an uncacheable (no-store) leader response: all followers still get correct, unshared responses', async () => {
  const p = uniquePath('collapse')
  t.origin.route(p, (_r, n) => ({headers: {'Cache-Control': 'no-store'}, body: `private-${n}`, delayMs: 300}))
  const rs = await Promise.all(Array.from({length: 10}, () => t.get(p)))
  for (const r of rs) {
    expect(r.status).toBe(200)
    expect(r.text).toMatch(/^private-\d+$/)
  }
  // no-store responses must not be reused, so every request got its own origin response.
  expect(new Set(rs.map((r) => r.text)).size).toBe(10)
  expect(t.origin.countFor(p)).toBe(10)
})

it('a private leader response is not shared with followers', async () => {
  const p = uniquePath('collapse')
  t.origin.route(p, (_r, n) => ({headers: {'Cache-Control': 'private, max-age=3600'}, body: `mine-${n}`, delayMs: 300}))
  const rs = await Promise.all(Array.from({length: 6}, () => t.get(p)))
  expect(new Set(rs.map((r) => r.text)).size).toBe(6)
})

it('a Vary response is not handed to followers whose request headers differ', async () => {
  const p = uniquePath('collapse')
  t.origin.route(p, (req) => ({headers: {'Cache-Control': 'max-age=3600', Vary: 'Accept-Language'}, body: `lang=${req.header('accept-language')}`, delayMs: 300}))
  const langs = ['en', 'fr', 'en', 'de', 'fr', 'en', 'de', 'en']
  const rs = await Promise.all(langs.map((l) => t.get(p, {headers: {'Accept-Language': l}})))
  rs.forEach((r, i) => expect(r.text).toBe(`lang=${langs[i]}`))
  // One origin request per variant: the leader's, then one collapsed fill each for the other two selections.
  expect(t.origin.countFor(p)).toBe(3)
})

it('followers with Authorization are not served a response to another request (no credential leak)', async () => {
  const p = uniquePath('collapse')
  t.origin.route(p, (req) => ({headers: {'Cache-Control': 'max-age=3600'}, body: `for=${req.header('authorization') ?? 'anon'}`, delayMs: 300}))
  const users = ['Bearer a', 'Bearer b', 'Bearer c']
  const rs = await Promise.all(users.map((u) => t.get(p, {headers: {Authorization: u}})))
  rs.forEach((r, i) => expect(r.text).toBe(`for=${users[i]}`))
})

it('a 500 from the origin for the leader: only the leader gets it; each follower asks the origin itself', async () => {
  const p = uniquePath('collapse')
  t.origin.route(p, (_r, n) => ({status: n === 1 ? 500 : 200, headers: {'Cache-Control': n === 1 ? 'no-store' : 'max-age=3600'}, body: `n=${n}`, delayMs: 300}))
  const rs = await Promise.all(Array.from({length: 8}, () => t.get(p, {timeoutMs: 10_000})))
  // A response that was not storable is never shared (RFC 9111 §4): the 500 reaches one client, the other seven
  // get their own origin answers.
  expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 500])
  expect(rs.find((r) => r.status === 500)!.text).toBe('n=1')
  expect(new Set(rs.filter((r) => r.status === 200).map((r) => r.text)).size).toBe(7)
  expect(t.origin.countFor(p)).toBe(8)
})
