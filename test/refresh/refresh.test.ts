// Fuzzy refresh and auto refresh against the built daemon and a real origin: hits start background refreshes before
// expiry, so clients keep getting hits and the origin sees conditional requests, not a miss per expiry.
import http from 'node:http'

import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {parseCacheStatus} from '../helpers/fixture.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'
import {waitFor} from '../helpers/wait.js'

let origin: Origin
let fuzzy: DaemonHandle
let auto: DaemonHandle

beforeAll(async () => {
  origin = await startOrigin()
  ;[fuzzy, auto] = await Promise.all([
    startDaemon({upstream: origin.url, config: {cache: {fuzzy: 0.5}}}),
    startDaemon({upstream: origin.url, config: {cache: {autoRefresh: {enabled: true, minHits: 30}}}}),
  ])
}, 30_000)
afterAll(async () => {
  await Promise.all([fuzzy?.stop(), auto?.stop()])
  await origin?.close()
}, 30_000)

/**
 * max-age `maxAge`, ETag "v"; a conditional request gets a 304 that renews it. Date is set per response: node's
 * cached Date string can lag a busy event loop by a second, which would make a max-age=1 response stale on arrival.
 */
function renewable(p: string, maxAge: number): void {
  origin.route(p, (req) => {
    const headers = {'Cache-Control': `max-age=${maxAge}`, ETag: '"v"', Date: new Date().toUTCString()}
    return req.header('if-none-match') === '"v"' ? {status: 304, headers} : {headers, body: 'payload'}
  })
}

function own(raw: string | undefined): Record<string, string | true> {
  return parseCacheStatus(raw).find((e) => e.cache === 'tavern')?.params ?? {}
}

async function refreshes(d: DaemonHandle): Promise<Record<string, number>> {
  const r = await d.admin('/stats')
  return (JSON.parse(r.text) as {refreshes: Record<string, number>}).refreshes
}

/** GET over a kept-alive connection; resolves with the Cache-Status. */
function get(agent: http.Agent, d: DaemonHandle, p: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = http.get({host: '127.0.0.1', port: d.port, path: p, agent}, (res) => {
      res.resume()
      res.on('end', () => resolve(res.headers['cache-status'] as string | undefined))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

it('fuzzy refresh: hits late in the lifetime revalidate it in the background before it expires; every answer is a hit', async () => {
  const p = uniquePath('fuzzy')
  renewable(p, 2)
  expect((await fuzzy.request(p)).status).toBe(200)
  const storedAt = Date.now()
  const agent = new http.Agent({keepAlive: true, maxSockets: 1})
  const statuses: Array<Record<string, string | true>> = []
  try {
    // Read for 3 s: past the first expiry (2 s), so without a refresh some answer would be a revalidation.
    while (Date.now() - storedAt < 3000) {
      statuses.push(own(await get(agent, fuzzy, p)))
      await sleep(10)
    }
  } finally {
    agent.destroy()
  }
  const conditional = origin.requestsFor(p).filter((r) => r.header('if-none-match') === '"v"')
  expect(conditional.length).toBeGreaterThanOrEqual(1)
  // The first refresh came inside the fuzzy window (the last half of the 2 s lifetime), before expiry.
  expect(conditional[0]!.receivedAt - storedAt).toBeLessThan(2000)
  expect(conditional[0]!.receivedAt - storedAt).toBeGreaterThanOrEqual(700)
  for (const s of statuses) expect(s.hit, JSON.stringify(s)).toBe(true)
  expect((await refreshes(fuzzy)).fuzzy).toBeGreaterThanOrEqual(1)
})

it('fuzzy refresh off (the default): no request to the origin before expiry', async () => {
  const p = uniquePath('nofuzzy')
  renewable(p, 2)
  await auto.request(p)
  const storedAt = Date.now()
  // Below the auto daemon's minHits (30 a minute), so only fuzzy refresh could ask the origin early.
  while (Date.now() - storedAt < 1700) {
    await auto.request(p)
    await sleep(150)
  }
  expect(origin.countFor(p)).toBe(1)
})

it('auto refresh: one hot key with max-age=1 under steady load stays a hit (≥ 99.9 %) at ≤ 1.2 origin requests/s', async () => {
  const p = uniquePath('auto')
  renewable(p, 1)
  expect((await auto.request(p)).status).toBe(200)
  const before = origin.countFor(p)
  const agent = new http.Agent({keepAlive: true, maxSockets: 4})
  let hits = 0
  let total = 0
  const others: string[] = []
  const started = Date.now()
  const durationMs = 10_000
  const loop = async () => {
    while (Date.now() - started < durationMs) {
      const cs = await get(agent, auto, p)
      total++
      if (own(cs).hit === true && own(cs).fwd === undefined) hits++
      else if (others.length < 10) others.push(String(cs))
      // Steady, bounded load: 4 loops of request + 5 ms pause on loopback.
      await sleep(5)
    }
  }
  try {
    await Promise.all([loop(), loop(), loop(), loop()])
  } finally {
    agent.destroy()
  }
  const elapsed = (Date.now() - started) / 1000
  const originRequests = origin.countFor(p) - before
  console.log(`auto refresh: ${total} requests, ${hits} hits, ${originRequests} origin requests in ${elapsed.toFixed(1)} s`)
  expect(total).toBeGreaterThan(1000)
  expect(hits / total, `non-hits: ${others.join(' | ')}`).toBeGreaterThanOrEqual(0.999)
  expect(originRequests / elapsed).toBeLessThanOrEqual(1.2)
  // It did refresh (the object outlived its 1 s many times over), conditionally.
  expect(originRequests).toBeGreaterThanOrEqual(5)
  expect(origin.requestsFor(p).slice(1).every((r) => r.header('if-none-match') === '"v"')).toBe(true)
  expect((await refreshes(auto)).auto).toBeGreaterThanOrEqual(5)
}, 30_000)

it('auto refresh: a key below minHits is not refreshed', async () => {
  const p = uniquePath('cold')
  renewable(p, 1)
  await auto.request(p)
  const storedAt = Date.now()
  // 5 requests in ~1 s: well below 30 a minute.
  while (Date.now() - storedAt < 900) {
    await auto.request(p)
    await sleep(200)
  }
  await sleep(300)
  expect(origin.countFor(p)).toBe(1)
  await waitFor(async () => (await auto.request(p)).status === 200)
})
