/**
 * The config-wiring table: for every config key, a check against a real daemon started with a NON-default value
 * that would fail if the daemon ignored the key (used the default instead). Rows are grouped per daemon so the
 * suite starts few of them. config-wiring.test.ts checks that every leaf key of ConfigSchema has a row here.
 *
 * Freshness rows read the remaining lifetime from Cache-Status `ttl=` on a hit, with Date/Last-Modified/Age sent
 * by the origin, so they are exact and need no waiting.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {expect} from 'vitest'

import type {WiringContext, WiringGroup} from '../../helpers/config-keys.js'
import {dashboardOnMetricsGroup, dashboardOwnListenerGroup} from './dashboard.js'
import {type HttpResult, httpRequest} from '../../helpers/daemon.js'
import {sleep, uniquePath} from '../../helpers/origin.js'
import {patternBody, rangeRoute} from '../../helpers/range-origin.js'
import {eventually, waitFor} from '../../helpers/wait.js'
import {pluginsGroup} from '../../plugins/wiring-group.js'
import {sitesGroup} from './sites-group.js'
import {startBlackhole} from '../../helpers/blackhole.js'
import {CLUSTER_GROUPS} from './cluster-groups.js'
import {clusterMembershipGroup} from './cluster-membership-group.js'
import {RESILIENCE_GROUPS} from './resilience-groups.js'
import {REFRESH_GROUPS} from './refresh-groups.js'
import {TLS_GROUPS} from './tls-groups.js'
import {FORWARD_PROXY_GROUPS} from './forward-proxy-groups.js'

// ---- helpers ------------------------------------------------------------------------------------

/** The params of the Cache-Status member named `name` (the daemon's own). */
function cacheStatus(r: HttpResult, name: string): Record<string, string | true> | undefined {
  for (const member of r.headerAll('cache-status').join(', ').split(',')) {
    const [n, ...params] = member.split(';').map((s) => s.trim())
    if (n !== name) continue
    const out: Record<string, string | true> = {}
    for (const p of params) {
      const eq = p.indexOf('=')
      if (eq === -1) out[p] = true
      else out[p.slice(0, eq)] = p.slice(eq + 1)
    }
    return out
  }
  return undefined
}

function describeResponse(r: HttpResult): string {
  return `${r.status} cache-status=${r.headerAll('cache-status').join(', ') || '-'} age=${r.header('age') ?? '-'}`
}

/** A hit's remaining freshness (Cache-Status ttl), asserting it was a hit. */
function hitTtl(r: HttpResult, name = 'tavern'): number {
  const cs = cacheStatus(r, name)
  expect(cs?.hit, `expected a hit: ${describeResponse(r)}`).toBe(true)
  return Number(cs!.ttl)
}

/** The current second as an HTTP date base (ms), so Date and Last-Modified differ by exact seconds. */
function nowSecond(): number {
  return Math.floor(Date.now() / 1000) * 1000
}

const httpDate = (ms: number) => new Date(ms).toUTCString()

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** Send raw bytes on a fresh connection; resolves when the server closes it, with what it sent and when. */
function rawUntilClosed(port: number, bytes: string, timeoutMs: number): Promise<{closedAfterMs: number; data: string}> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const c = net.connect(port, '127.0.0.1', () => c.write(bytes))
    let data = ''
    const timer = setTimeout(() => {
      c.destroy()
      reject(new Error(`server kept the connection open for ${timeoutMs} ms (sent ${JSON.stringify(data.slice(0, 80))})`))
    }, timeoutMs)
    c.on('data', (d: Buffer) => (data += d.toString('latin1')))
    c.on('error', () => {})
    c.on('close', () => {
      clearTimeout(timer)
      resolve({closedAfterMs: Date.now() - t0, data})
    })
  })
}

/** Daemon /status storage block. */
async function storage(ctx: WiringContext) {
  return (await ctx.daemon.status()).storage as unknown as {objects: number; diskBytes: number; memoryBytes: number; memoryObjects: number; evictions: number; expiredRemoved: number}
}

/** GET a path twice; the second answer (after the first is stored). */
async function getTwice(ctx: WiringContext, p: string, headers?: Record<string, string>): Promise<HttpResult> {
  const first = await ctx.daemon.request(p, {headers})
  expect(first.status, describeResponse(first)).toBe(200)
  return ctx.daemon.request(p, {headers})
}

// ---- the table ------------------------------------------------------------------------------------

/** One daemon with non-default cache-semantics keys (they do not interfere with one another's checks). */
const cacheGroup: WiringGroup = {
  name: 'cache semantics, names and keys',
  config: () => ({
    server: {via: 'edge-x'},
    cache: {
      heuristicFraction: 0.5,
      heuristicMax: '1h',
      defaultTtl: '77s',
      maxTtl: '5000s',
      targetedFields: ['x-edge-cc'],
      maxVariants: 2,
      collapse: false,
      statusName: 'edge',
      xCache: true,
      query: 'sort',
      ignoreParams: ['utm_source'],
      sites: {'site-q.test': {query: 'ignore'}, 'site-p.test': {ignoreParams: ['sid']}},
      maxRanges: 2,
      sliceSize: '64KiB',
    },
  }),
  rows: [
    {
      key: 'cache.heuristicFraction',
      expect: '0.5 × (Date − Last-Modified = 1000 s) → ttl 500 (default 0.1 → 100)',
      async check(ctx) {
        const p = uniquePath('hf')
        ctx.origin.route(p, () => {
          const d = nowSecond()
          return {headers: {Date: httpDate(d), 'Last-Modified': httpDate(d - 1_000_000)}, body: 'h'}
        })
        const ttl = hitTtl(await getTwice(ctx, p), 'edge')
        expect(ttl).toBeGreaterThanOrEqual(497)
        expect(ttl).toBeLessThanOrEqual(500)
        expect(ctx.origin.countFor(p)).toBe(1)
      },
    },
    {
      key: 'cache.heuristicFraction',
      expect: 'partial objects (range fills) use it too: ttl 500 on a slice hit',
      async check(ctx) {
        const p = uniquePath('hf-range')
        const body = patternBody(200_000)
        const d = nowSecond()
        ctx.origin.route(p, rangeRoute(body, {Date: httpDate(d), 'Last-Modified': httpDate(d - 1_000_000), ETag: '"hf1"'}))
        const first = await ctx.daemon.request(p, {headers: {Range: 'bytes=0-9'}})
        expect(first.status, describeResponse(first)).toBe(206)
        const second = await ctx.daemon.request(p, {headers: {Range: 'bytes=0-9'}})
        expect(second.status).toBe(206)
        const ttl = hitTtl(second, 'edge')
        expect(ttl).toBeGreaterThanOrEqual(497)
        expect(ttl).toBeLessThanOrEqual(500)
        expect(ctx.origin.countFor(p)).toBe(1)
      },
    },
    {
      key: 'cache.heuristicMax',
      expect: '0.5 × 100000 s capped at 1h → ttl 3600 (default cap 1d → 50000)',
      async check(ctx) {
        const p = uniquePath('hmax')
        ctx.origin.route(p, () => {
          const d = nowSecond()
          return {headers: {Date: httpDate(d), 'Last-Modified': httpDate(d - 100_000_000)}, body: 'h'}
        })
        const ttl = hitTtl(await getTwice(ctx, p), 'edge')
        expect(ttl).toBeGreaterThanOrEqual(3597)
        expect(ttl).toBeLessThanOrEqual(3600)
      },
    },
    {
      key: 'cache.defaultTtl',
      expect: 'a 200 without freshness or Last-Modified is fresh for 77 s (default 0: not reused)',
      async check(ctx) {
        const p = uniquePath('dttl')
        ctx.origin.route(p, {headers: {Date: httpDate(Date.now())}, body: 'd'})
        const ttl = hitTtl(await getTwice(ctx, p), 'edge')
        expect(ttl).toBeGreaterThanOrEqual(74)
        expect(ttl).toBeLessThanOrEqual(77)
        expect(ctx.origin.countFor(p)).toBe(1)
      },
    },
    {
      key: 'cache.maxTtl',
      expect: 'max-age=100000 is capped at 5000 s (default: no cap)',
      async check(ctx) {
        const p = uniquePath('maxttl')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=100000'}, body: 'm'})
        const ttl = hitTtl(await getTwice(ctx, p), 'edge')
        expect(ttl).toBeGreaterThanOrEqual(4997)
        expect(ttl).toBeLessThanOrEqual(5000)
      },
    },
    {
      key: 'cache.targetedFields',
      expect: 'X-Edge-CC: max-age=600 overrides Cache-Control: no-store (default fields: not stored)',
      async check(ctx) {
        const p = uniquePath('tf')
        ctx.origin.route(p, {headers: {'Cache-Control': 'no-store', 'X-Edge-CC': 'max-age=600'}, body: 't'})
        const ttl = hitTtl(await getTwice(ctx, p), 'edge')
        expect(ttl).toBeGreaterThanOrEqual(597)
        expect(ttl).toBeLessThanOrEqual(600)
        expect(ctx.origin.countFor(p)).toBe(1)
      },
    },
    {
      key: 'cache.maxVariants',
      expect: 'a third variant replaces the least recently used (default 32 keeps all three)',
      async check(ctx) {
        const p = uniquePath('mv')
        ctx.origin.route(p, (req) => ({headers: {'Cache-Control': 'max-age=3600', Vary: 'Accept-Language'}, body: `lang=${req.header('accept-language')}`}))
        for (const lang of ['en', 'fr', 'de']) expect((await ctx.daemon.request(p, {headers: {'Accept-Language': lang}})).text).toBe(`lang=${lang}`)
        expect(ctx.origin.countFor(p)).toBe(3)
        const de = await ctx.daemon.request(p, {headers: {'Accept-Language': 'de'}})
        expect(cacheStatus(de, 'edge')?.hit, describeResponse(de)).toBe(true)
        const en = await ctx.daemon.request(p, {headers: {'Accept-Language': 'en'}})
        expect(en.text).toBe('lang=en')
        expect(cacheStatus(en, 'edge')?.hit, `en should have been replaced: ${describeResponse(en)}`).toBeUndefined()
        expect(ctx.origin.countFor(p)).toBe(4)
      },
    },
    {
      key: 'cache.collapse',
      expect: 'three concurrent misses make three origin requests (default: one)',
      async check(ctx) {
        const p = uniquePath('collapse')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'c', delayMs: 300})
        const rs = await Promise.all([0, 1, 2].map(() => ctx.daemon.request(p)))
        for (const r of rs) expect(r.status).toBe(200)
        expect(ctx.origin.countFor(p)).toBe(3)
      },
    },
    {
      key: 'cache.statusName',
      expect: 'Cache-Status members are named "edge"',
      async check(ctx) {
        const p = uniquePath('sn')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 's'})
        const r = await ctx.daemon.request(p)
        expect(r.headerAll('cache-status')).toHaveLength(1)
        expect(r.header('cache-status')).toMatch(/^edge; fwd=uri-miss; fwd-status=200; /)
      },
    },
    {
      key: 'cache.xCache',
      expect: 'X-Cache: MISS then HIT (default: no X-Cache)',
      async check(ctx) {
        const p = uniquePath('xc')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'x'})
        expect((await ctx.daemon.request(p)).headerAll('x-cache')).toEqual(['MISS'])
        expect((await ctx.daemon.request(p)).headerAll('x-cache')).toEqual(['HIT'])
      },
    },
    {
      key: 'server.via',
      expect: 'Via names "edge-x" towards the origin and the client',
      async check(ctx) {
        const p = uniquePath('via')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'v'})
        const r = await ctx.daemon.request(p)
        expect(r.header('via')).toBe('1.1 edge-x')
        expect(ctx.origin.requestsFor(p)[0]!.header('via')).toBe('1.1 edge-x')
      },
    },
    {
      key: 'cache.query',
      expect: '"sort": ?b=2&a=1 and ?a=1&b=2 are one object (default keep: two)',
      async check(ctx) {
        const p = uniquePath('qs')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'q'})
        await ctx.daemon.request(`${p}?b=2&a=1`)
        const r = await ctx.daemon.request(`${p}?a=1&b=2`)
        expect(cacheStatus(r, 'edge')?.hit, describeResponse(r)).toBe(true)
        expect(ctx.origin.countFor(p)).toBe(1)
      },
    },
    {
      key: 'cache.ignoreParams',
      expect: 'utm_source is left out of the key (default: part of it)',
      async check(ctx) {
        const p = uniquePath('ip')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'i'})
        await ctx.daemon.request(`${p}?x=1&utm_source=a`)
        const same = await ctx.daemon.request(`${p}?x=1&utm_source=b`)
        expect(cacheStatus(same, 'edge')?.hit, describeResponse(same)).toBe(true)
        await ctx.daemon.request(`${p}?x=2&utm_source=a`)
        expect(ctx.origin.countFor(p)).toBe(2)
      },
    },
    {
      key: 'cache.sites.*.query',
      expect: 'Host site-q.test ignores the query; other hosts keep it',
      async check(ctx) {
        const p = uniquePath('sq')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 's'})
        await ctx.daemon.request(`${p}?a=1`, {headers: {Host: 'site-q.test'}})
        const r = await ctx.daemon.request(`${p}?a=2`, {headers: {Host: 'site-q.test'}})
        expect(cacheStatus(r, 'edge')?.hit, describeResponse(r)).toBe(true)
        expect(ctx.origin.countFor(p)).toBe(1)
        await ctx.daemon.request(`${p}?a=1`, {headers: {Host: 'other.test'}})
        await ctx.daemon.request(`${p}?a=2`, {headers: {Host: 'other.test'}})
        expect(ctx.origin.countFor(p)).toBe(3)
      },
    },
    {
      key: 'cache.sites.*.ignoreParams',
      expect: 'Host site-p.test leaves sid out of the key (the global list does not)',
      async check(ctx) {
        const p = uniquePath('sp')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 's'})
        await ctx.daemon.request(`${p}?x=1&sid=a`, {headers: {Host: 'site-p.test'}})
        const r = await ctx.daemon.request(`${p}?x=1&sid=b`, {headers: {Host: 'site-p.test'}})
        expect(cacheStatus(r, 'edge')?.hit, describeResponse(r)).toBe(true)
        await ctx.daemon.request(`${p}?x=1&sid=a`, {headers: {Host: 'other.test'}})
        await ctx.daemon.request(`${p}?x=1&sid=b`, {headers: {Host: 'other.test'}})
        expect(ctx.origin.countFor(p)).toBe(3)
      },
    },
    {
      key: 'cache.maxRanges',
      expect: 'two ranges → 206, three → the full 200 (default 16: 206)',
      async check(ctx) {
        const p = uniquePath('mr')
        const body = patternBody(1000)
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600', ETag: '"mr"'}, body})
        expect((await ctx.daemon.request(p)).status).toBe(200)
        const two = await ctx.daemon.request(p, {headers: {Range: 'bytes=0-0,10-10'}})
        expect(two.status, describeResponse(two)).toBe(206)
        expect(two.header('content-type')).toMatch(/^multipart\/byteranges/)
        const three = await ctx.daemon.request(p, {headers: {Range: 'bytes=0-0,10-10,20-20'}})
        expect(three.status, describeResponse(three)).toBe(200)
        expect(three.body.equals(body)).toBe(true)
      },
    },
    {
      key: 'cache.sliceSize',
      expect: 'a cold range request fetches the first 64 KiB slice (default 1 MiB)',
      async check(ctx) {
        const p = uniquePath('slice')
        const body = patternBody(300_000)
        ctx.origin.route(p, rangeRoute(body, {'Cache-Control': 'max-age=3600', ETag: '"sl"'}))
        const r = await ctx.daemon.request(p, {headers: {Range: 'bytes=0-9'}})
        expect(r.status).toBe(206)
        expect(r.body.equals(body.subarray(0, 10))).toBe(true)
        expect(ctx.origin.requestsFor(p).map((q) => q.header('range'))).toEqual(['bytes=0-65535'])
      },
    },
  ],
}

const plainGroup: WiringGroup = {
  name: 'cache disabled',
  config: (ctx) => ({cache: {enabled: false}, accessLog: {enabled: true, path: path.join(ctx.dir, 'combined.log'), format: 'combined'}}),
  rows: [
    {
      key: 'accessLog.format',
      expect: 'combined: Apache/nginx combined lines, not JSON (default json)',
      async check(ctx) {
        const p = uniquePath('clf')
        ctx.origin.route(p, {body: 'c'})
        await ctx.daemon.request(p, {headers: {'User-Agent': 'wiring/1', Referer: 'http://r.example/'}})
        const file = path.join(ctx.dir, 'combined.log')
        await eventually(() => {
          const mine = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(p))
          expect(mine).toHaveLength(1)
          expect(mine[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1 - - \\[\\d\\d/\\w{3}/\\d{4}:\\d\\d:\\d\\d:\\d\\d \\+0000\\] "GET ${p} HTTP/1\\.1" 200 1 "http://r\\.example/" "wiring/1"$`))
        })
      },
    },
    {
      key: 'cache.enabled',
      expect: 'false: a max-age=3600 response is fetched every time, Cache-Status fwd=bypass',
      async check(ctx) {
        const p = uniquePath('off')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'o'})
        const a = await ctx.daemon.request(p)
        const b = await ctx.daemon.request(p)
        expect(ctx.origin.countFor(p)).toBe(2)
        for (const r of [a, b]) expect(cacheStatus(r, 'tavern'), describeResponse(r)).toEqual({fwd: 'bypass'})
      },
    },
  ],
}

/** Storage budgets and background maintenance. Rows run in order; the disk rows evict everything before them. */
const evictionScenario = new WeakMap<WiringContext, Promise<{evictionsBefore4th: number; after: Awaited<ReturnType<typeof storage>>}>>()
/** Shared by the three disk rows: fill 60 kB objects until the 4th crosses the high watermark, wait for eviction. */
function diskScenario(ctx: WiringContext) {
  let p = evictionScenario.get(ctx)
  if (!p) {
    p = (async () => {
      // 400 kB budget, high 0.5 (200 kB), low 0.25 (100 kB): three objects fit, the 4th crosses the high mark.
      const base = uniquePath('disk')
      const body = patternBody(60_000)
      for (let i = 1; i <= 4; i++) ctx.origin.route(`${base}-${i}`, {headers: {'Cache-Control': 'max-age=3600', ETag: `"d${i}"`}, body})
      const before = (await storage(ctx)).evictions
      for (let i = 1; i <= 3; i++) {
        expect((await ctx.daemon.request(`${base}-${i}`)).status).toBe(200)
        await waitFor(async () => (await storage(ctx)).diskBytes >= i * 60_000, {message: `object ${i} stored`})
      }
      const evictionsBefore4th = (await storage(ctx)).evictions - before
      expect((await ctx.daemon.request(`${base}-4`)).status).toBe(200)
      const after = await waitFor(async () => {
        const s = await storage(ctx)
        return s.evictions > before && s
      }, {timeoutMs: 4000, message: 'an eviction after the 4th object'})
      return {evictionsBefore4th, after}
    })()
    evictionScenario.set(ctx, p)
  }
  return p
}

/** A response that is already stale by `staleBy` seconds on arrival and has no validators (GC material). */
function staleOnArrival(staleBy: number) {
  return {headers: {'Cache-Control': 'max-age=10', Age: String(10 + staleBy)}, body: 'g'}
}

const storageGroup: WiringGroup = {
  name: 'storage budgets and maintenance',
  config: () => ({
    storage: {memoryBytes: 3000, memoryMaxObjectBytes: 1000, evictionInterval: '200ms', gcGrace: '60s', maxDiskBytes: 400_000, diskHighWatermark: 0.5, diskLowWatermark: 0.25},
  }),
  rows: [
    {
      key: 'storage.memoryMaxObjectBytes',
      expect: 'a 1500-byte body stays on disk, a 900-byte one goes to memory (default 1 MiB: both)',
      async check(ctx) {
        const big = uniquePath('mem-big')
        const small = uniquePath('mem-small')
        ctx.origin.route(big, {headers: {'Cache-Control': 'max-age=3600', ETag: '"b"'}, body: patternBody(1500)})
        ctx.origin.route(small, {headers: {'Cache-Control': 'max-age=3600', ETag: '"s"'}, body: patternBody(900)})
        await getTwice(ctx, big)
        await getTwice(ctx, small)
        await eventually(async () => {
          const s = await storage(ctx)
          expect({memoryObjects: s.memoryObjects, memoryBytes: s.memoryBytes, objects: s.objects}).toEqual({memoryObjects: 1, memoryBytes: 900, objects: 2})
        })
      },
    },
    {
      key: 'storage.memoryBytes',
      expect: 'four 900-byte bodies: the tier keeps three (3000 bytes; default 256 MiB: four)',
      async check(ctx) {
        for (let i = 0; i < 3; i++) {
          const p = uniquePath('mem')
          ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600', ETag: `"m${i}"`}, body: patternBody(900, i)})
          await getTwice(ctx, p)
        }
        await eventually(async () => {
          const s = await storage(ctx)
          expect({memoryObjects: s.memoryObjects, memoryBytes: s.memoryBytes, objects: s.objects}).toEqual({memoryObjects: 3, memoryBytes: 2700, objects: 5})
        })
      },
    },
    {
      key: 'storage.gcGrace',
      expect: '60 s: stale by 90 s without validators is removed, stale by 30 s is kept (default 1 d: both kept)',
      async check(ctx) {
        const kept = uniquePath('gc-kept')
        const gone = uniquePath('gc-gone')
        ctx.origin.route(kept, staleOnArrival(30))
        ctx.origin.route(gone, staleOnArrival(90))
        const before = (await storage(ctx)).expiredRemoved
        await ctx.daemon.request(kept)
        await ctx.daemon.request(gone)
        // One GC pass walks every record (few here), so once `gone` is removed, `kept` was looked at too.
        await waitFor(async () => (await storage(ctx)).expiredRemoved > before, {timeoutMs: 4000, message: 'the GC removing the object stale by 90 s'})
        expect((await storage(ctx)).expiredRemoved - before).toBe(1)
        const r = await ctx.daemon.request(kept, {headers: {'Cache-Control': 'max-stale=1000'}})
        expect(cacheStatus(r, 'tavern')?.hit, `the object stale by 30 s must still be stored: ${describeResponse(r)}`).toBe(true)
        expect(ctx.origin.countFor(kept)).toBe(1)
      },
    },
    {
      key: 'storage.evictionInterval',
      expect: '200 ms: two garbage objects stored one after the other are each collected within 1.5 s (default 5 s)',
      async check(ctx) {
        for (let i = 0; i < 2; i++) {
          const p = uniquePath('gc-tick')
          ctx.origin.route(p, staleOnArrival(100))
          const before = (await storage(ctx)).expiredRemoved
          await ctx.daemon.request(p)
          await waitFor(async () => (await storage(ctx)).expiredRemoved > before, {timeoutMs: 1500, message: `maintenance pass ${i + 1} within 1.5 s`})
        }
      },
    },
    {
      key: 'storage.maxDiskBytes',
      expect: '400 kB budget: 240 kB of bodies trigger eviction (default 10 GiB: none)',
      async check(ctx) {
        const {after} = await diskScenario(ctx)
        expect(after.evictions).toBeGreaterThan(0)
      },
    },
    {
      key: 'storage.diskHighWatermark',
      expect: '0.5: no eviction at 180 kB, eviction at 240 kB (default 0.95: none below 380 kB)',
      async check(ctx) {
        const {evictionsBefore4th, after} = await diskScenario(ctx)
        expect(evictionsBefore4th).toBe(0)
        expect(after.evictions).toBeGreaterThan(0)
      },
    },
    {
      key: 'storage.diskLowWatermark',
      expect: '0.25: eviction goes down to 100 kB or less (default 0.9 would stop at 360 kB)',
      async check(ctx) {
        await diskScenario(ctx)
        // Eviction runs in batches: wait for the pass to finish, then the usage is at or below 0.25 × 400 kB.
        await eventually(async () => {
          const s = await storage(ctx)
          expect(s.diskBytes, JSON.stringify(s)).toBeLessThanOrEqual(100_000)
          expect(s.diskBytes).toBeGreaterThan(0)
        }, {timeoutMs: 2000})
      },
    },
  ],
}

/** Data-plane and upstream timeouts that take effect within a second; an origin without keep-alive hints. */
const edgeGroup: WiringGroup = {
  name: 'connection limits and timeouts',
  origin: {keepAliveTimeoutMs: 0},
  config: () => ({
    server: {keepAliveTimeout: '300ms', maxHeaderSize: 4096, headersTimeout: '1s', requestTimeout: '3s'},
    upstream: {headersTimeout: '400ms', bodyTimeout: '400ms', keepAliveTimeout: '200ms'},
  }),
  rows: [
    {
      key: 'server.headersTimeout',
      expect: '1 s: a client that never finishes its head gets 408 and is cut within 3 s (default 60 s)',
      prepare: (ctx) => rawUntilClosed(ctx.daemon.port, 'GET /never HTTP/1.1\r\nHost: x\r\n', 5000),
      async check(_ctx, prepared) {
        const {closedAfterMs, data} = (await prepared) as {closedAfterMs: number; data: string}
        expect(closedAfterMs).toBeGreaterThanOrEqual(900)
        expect(closedAfterMs).toBeLessThan(3000)
        expect(data).toMatch(/^HTTP\/1\.1 408 /)
      },
    },
    {
      key: 'server.requestTimeout',
      expect: '3 s: a request whose body never completes is cut within 5 s (default 300 s)',
      prepare: (ctx) => {
        ctx.origin.route('/slow-body', {hang: true})
        return rawUntilClosed(ctx.daemon.port, 'POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789', 8000)
      },
      async check(_ctx, prepared) {
        const {closedAfterMs, data} = (await prepared) as {closedAfterMs: number; data: string}
        expect(closedAfterMs).toBeGreaterThanOrEqual(2900)
        expect(closedAfterMs).toBeLessThan(5000)
        if (data) expect(data).toMatch(/^HTTP\/1\.1 4\d\d /)
      },
    },
    {
      key: 'server.maxHeaderSize',
      expect: '4096: a 6000-byte header gets 431, a 3000-byte one passes (default 16 KiB: both pass)',
      async check(ctx) {
        const p = uniquePath('mhs')
        ctx.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'ok'})
        expect((await ctx.daemon.request(p, {headers: {'X-Big': 'a'.repeat(3000)}})).status).toBe(200)
        expect((await ctx.daemon.request(p, {headers: {'X-Big': 'a'.repeat(6000)}})).status).toBe(431)
        expect(ctx.origin.countFor(p)).toBe(1)
      },
    },
    {
      key: 'server.keepAliveTimeout',
      expect: '300 ms: an idle client connection is closed within 2 s (default 5 s)',
      async check(ctx) {
        const {closedAfterMs, data} = await rawUntilClosed(ctx.daemon.port, 'GET /ka-client HTTP/1.1\r\nHost: x\r\n\r\n', 2000)
        expect(data).toMatch(/^HTTP\/1\.1 404 /)
        expect(closedAfterMs).toBeGreaterThanOrEqual(250)
      },
    },
    {
      key: 'upstream.headersTimeout',
      expect: '400 ms: an origin answering after 2.5 s gets the client a 504 (default 30 s: 200)',
      async check(ctx) {
        const p = uniquePath('uht')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'late', delayMs: 2500})
        const r = await ctx.daemon.request(p)
        expect(r.status, describeResponse(r)).toBe(504)
        expect(r.endedAt - r.startedAt).toBeLessThan(2000)
      },
    },
    {
      key: 'upstream.bodyTimeout',
      expect: '400 ms: a body that stalls for 2.5 s is cut (default 60 s: completes)',
      async check(ctx) {
        const p = uniquePath('ubt')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600', 'Content-Length': '4'}, body: 'abcd', chunkSize: 2, chunkDelayMs: 2500})
        const r = await ctx.daemon.request(p, {allowIncomplete: true})
        expect(r.status).toBe(200)
        expect(r.complete).toBe(false)
        expect(r.body.length).toBeLessThan(4)
        expect(r.endedAt - r.startedAt).toBeLessThan(2000)
      },
    },
    {
      key: 'upstream.keepAliveTimeout',
      expect: '200 ms: an upstream connection idle for 700 ms is not reused (default 4 s: reused)',
      async check(ctx) {
        const [a, b, c] = [uniquePath('uka'), uniquePath('uka'), uniquePath('uka')]
        for (const p of [a, b, c]) ctx.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'k'})
        await ctx.daemon.request(a)
        await sleep(700) // the idle gap is the scenario
        await ctx.daemon.request(b)
        await ctx.daemon.request(c)
        const port = (p: string) => ctx.origin.requestsFor(p)[0]!.remotePort
        expect(port(c), 'back-to-back requests share a connection').toBe(port(b))
        expect(port(b), 'the connection idle for 700 ms was closed').not.toBe(port(a))
      },
    },
  ],
}


/** Request admission: what reaches the origin, and how many client connections are kept. */
const admissionGroup: WiringGroup = {
  name: 'request admission: strip list, trusted proxies, connection limit',
  config: () => ({
    server: {stripRequestHeaders: ['x-secret-route'], trustedProxies: ['127.0.0.1/32'], maxConnections: 4},
  }),
  rows: [
    {
      key: 'server.stripRequestHeaders',
      expect: "['x-secret-route']: that field never reaches the origin (default list: it passes)",
      async check(ctx) {
        const p = uniquePath('strip')
        ctx.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 's'})
        expect((await ctx.daemon.request(p, {headers: {'X-Secret-Route': '/admin'}})).status).toBe(200)
        expect(ctx.origin.requestsFor(p)[0]!.header('x-secret-route')).toBeUndefined()
      },
    },
    {
      key: 'server.trustedProxies',
      expect: '127.0.0.1 trusted: its X-Forwarded-For is extended, not replaced (default: replaced)',
      async check(ctx) {
        const p = uniquePath('xff')
        ctx.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x'})
        await ctx.daemon.request(p, {headers: {'X-Forwarded-For': '203.0.113.9'}})
        expect(ctx.origin.requestsFor(p)[0]!.header('x-forwarded-for')).toBe('203.0.113.9, 127.0.0.1')
      },
    },
    {
      key: 'server.maxConnections',
      expect: '4: a fifth idle connection makes the daemon close the one that waited longest (default: thousands)',
      async check(ctx) {
        const socks: net.Socket[] = []
        try {
          const closed: boolean[] = []
          for (let i = 0; i < 4; i++) {
            const s = net.connect(ctx.daemon.port, '127.0.0.1')
            s.on('error', () => {})
            closed.push(false)
            s.once('close', () => (closed[i] = true))
            socks.push(s)
            await new Promise((r) => s.once('connect', r))
          }
          const fifth = net.connect(ctx.daemon.port, '127.0.0.1')
          fifth.on('error', () => {})
          socks.push(fifth)
          await waitFor(() => closed[0], {timeoutMs: 3000, message: 'the oldest idle connection was not closed'})
          expect(closed.slice(1)).toEqual([false, false, false])
        } finally {
          for (const s of socks) s.destroy()
        }
      },
    },
  ],
}

const POST = {method: 'POST', body: 'x'}

/** Upstream admission: a key's share of the upstream connections, its queue, and how long a request may wait. */
const upstreamAdmissionGroup: WiringGroup = {
  name: 'upstream admission: key share, key queue, queue timeout',
  config: () => ({upstream: {connections: 4, keyShare: 0.5, keyQueue: 1, queueTimeout: '1s'}}),
  // POSTs: concurrent GETs of one key would be collapsed into one origin request.
  rows: [
    {
      key: 'upstream.keyShare',
      expect: '0.5 of 4 connections: 2 of 3 concurrent requests for one slow key reach the origin at once, the third after (default 0.25: 1 at a time, the third refused by the 1-long queue)',
      async check(ctx) {
        const p = uniquePath('share')
        ctx.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'k', delayMs: 800})
        const all = Promise.all([0, 1, 2].map(() => ctx.daemon.request(p, POST)))
        // Within the origin's 800 ms answer time, so the two are in flight together.
        await waitFor(() => ctx.origin.countFor(p) >= 2, {timeoutMs: 700, message: 'two requests were not at the origin together'})
        expect(ctx.origin.countFor(p)).toBe(2)
        expect((await all).map((r) => r.status)).toEqual([200, 200, 200])
        expect(ctx.origin.countFor(p)).toBe(3)
      },
    },
    {
      key: 'upstream.keyQueue',
      expect: '1: with the share taken and one waiting, a fourth request for the key gets 503 at once (default 1024: it waits)',
      async check(ctx) {
        const p = uniquePath('queue')
        ctx.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'q', delayMs: 3000})
        const first = [0, 1, 2].map(() => ctx.daemon.request(p, POST))
        await waitFor(() => ctx.origin.countFor(p) >= 2, {timeoutMs: 3000, message: 'two requests did not reach the origin'})
        await sleep(100)
        const t0 = Date.now()
        const r = await ctx.daemon.request(p, POST)
        expect(r.status).toBe(503)
        expect(Date.now() - t0).toBeLessThan(500)
        await Promise.all(first)
      },
    },
    {
      key: 'upstream.queueTimeout',
      expect: '1 s: a request waiting for its key share gets 503 with Retry-After after about 1 s (default 10 s: it waits)',
      async check(ctx) {
        const p = uniquePath('qt')
        ctx.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 't', delayMs: 4000})
        const first = [0, 1].map(() => ctx.daemon.request(p, POST))
        await waitFor(() => ctx.origin.countFor(p) >= 2, {timeoutMs: 3000, message: 'two requests did not reach the origin'})
        const t0 = Date.now()
        const r = await ctx.daemon.request(p, POST)
        const waited = Date.now() - t0
        expect(r.status).toBe(503)
        expect(r.header('retry-after')).toBeDefined()
        expect(waited).toBeGreaterThanOrEqual(900)
        expect(waited).toBeLessThan(3000)
        await Promise.all(first)
      },
    },
  ],
}

const blackholeGroup: WiringGroup = {
  name: 'upstream connect timeout',
  async setup(ctx) {
    ctx.vars.blackhole = await startBlackhole()
  },
  // The blackhole's port is known after setup: the daemon's upstream comes from the config.
  config: (ctx) => ({upstreams: [`http://127.0.0.1:${(ctx.vars.blackhole as {port: number}).port}`], upstream: {connectTimeout: '300ms'}}),
  start: {upstream: false},
  async teardown(ctx) {
    const bh = ctx.vars.blackhole as Awaited<ReturnType<typeof startBlackhole>> | undefined
    for (const s of bh?.fillers ?? []) s.destroy()
    bh?.child.kill('SIGKILL')
  },
  rows: [
    {
      key: 'upstream.connectTimeout',
      expect: '300 ms: an origin that never accepts gets the client a 504 within 2 s (default 5 s)',
      async check(ctx) {
        const r = await ctx.daemon.request('/connect')
        expect(r.status, describeResponse(r)).toBe(504)
        expect(r.endedAt - r.startedAt).toBeLessThan(2000)
      },
    },
  ],
}

const balancingGroup: WiringGroup = {
  name: 'several upstreams',
  origins: {beta: {}},
  config: (ctx) => ({
    upstreams: [
      {url: ctx.origin.url, name: 'alpha', weight: 3},
      {url: ctx.origins.beta!.url, name: 'beta', weight: 1},
    ],
    // One try per request, so a refused connection shows (the retry on the other member would hide it).
    upstream: {failureCooldown: '300ms', retry: {attempts: 1}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.retry.attempts',
      expect: '1: a request sent to a refusing upstream fails with 502 (default 2: retried on the other one)',
      timeoutMs: 15_000,
      async check(ctx) {
        const p = uniquePath('attempts')
        for (const o of [ctx.origin, ctx.origins.beta!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'a'})
        await ctx.origin.pause()
        let refused = false
        for (let i = 0; i < 4 && !refused; i++) refused = (await ctx.daemon.request(p)).status === 502
        await ctx.origin.resume()
        expect(refused).toBe(true)
        // Let the cooldown pass before the next row.
        await new Promise((r) => setTimeout(r, 400))
      },
    },
    {
      key: 'upstreams[].weight',
      expect: 'weights 3:1 split eight requests 6:2 (smooth round-robin; default 1:1 → 4:4)',
      async check(ctx) {
        const p = uniquePath('w')
        for (const o of [ctx.origin, ctx.origins.beta!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'w'})
        for (let i = 0; i < 8; i++) expect((await ctx.daemon.request(p)).status).toBe(200)
        expect([ctx.origin.countFor(p), ctx.origins.beta!.countFor(p)]).toEqual([6, 2])
      },
    },
    {
      key: 'upstreams[].url',
      expect: 'each listed URL is an upstream that gets traffic',
      async check(ctx) {
        const s = await ctx.daemon.status()
        expect((s.upstreams as Array<{url: string}>).map((u) => u.url)).toEqual([ctx.origin.url, ctx.origins.beta!.url])
        const p = uniquePath('u')
        for (const o of [ctx.origin, ctx.origins.beta!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'u'})
        for (let i = 0; i < 4; i++) await ctx.daemon.request(p)
        expect(ctx.origin.countFor(p)).toBeGreaterThan(0)
        expect(ctx.origins.beta!.countFor(p)).toBeGreaterThan(0)
      },
    },
    {
      key: 'upstreams[].name',
      expect: 'status names the upstreams alpha and beta (default: host:port)',
      async check(ctx) {
        const s = await ctx.daemon.status()
        expect((s.upstreams as Array<{name: string}>).map((u) => u.name)).toEqual(['alpha', 'beta'])
      },
    },
    {
      key: 'upstream.failureCooldown',
      expect: '300 ms: a refusing upstream is skipped, then used again within 2.5 s of recovering (default 5 s)',
      timeoutMs: 15_000,
      async check(ctx) {
        const p = uniquePath('cool')
        for (const o of [ctx.origin, ctx.origins.beta!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'c'})
        await ctx.origin.pause()
        let refused = false
        for (let i = 0; i < 4 && !refused; i++) refused = (await ctx.daemon.request(p)).status === 502
        expect(refused, 'a request routed to the stopped upstream fails').toBe(true)
        await ctx.origin.resume()
        const next = await ctx.daemon.request(p)
        expect(next.status, 'the next request skips the cooling-down upstream').toBe(200)
        expect(ctx.origin.countFor(p)).toBe(0)
        const t0 = Date.now()
        await waitFor(async () => {
          await ctx.daemon.request(p)
          return ctx.origin.countFor(p) > 0
        }, {timeoutMs: 2500, intervalMs: 50, message: 'the recovered upstream getting a request again'})
        expect(Date.now() - t0).toBeLessThan(2500)
      },
    },
  ],
}

/** A daemon configured by its config file alone (no flags): listeners, paths, logging, purge, shutdown. */
const lifecycleGroup: WiringGroup = {
  name: 'config file only: listeners, paths, logs, purge, shutdown',
  async setup(ctx) {
    ctx.vars.port = await freePort()
    ctx.vars.metricsPort = await freePort()
  },
  config: (ctx) => ({
    listen: `127.0.0.1:${ctx.vars.port as number}`,
    socket: path.join(ctx.dir, 'admin.sock'),
    upstreams: [ctx.origin.url],
    storage: {dir: path.join(ctx.dir, 'store')},
    log: {level: 'warn'},
    metrics: {listen: `127.0.0.1:${ctx.vars.metricsPort as number}`},
    accessLog: {enabled: true, path: path.join(ctx.dir, 'access.log')},
    purge: {allow: ['127.0.0.2/32'], header: 'X-Purge'},
    // headersTimeout bounds the stuck request of the shutdown row: the process only exits once it is over.
    upstream: {connections: 1, headersTimeout: '3s'},
    server: {shutdownTimeout: '500ms'},
  }),
  start: {bare: true},
  rows: [
    {
      key: 'listen',
      expect: 'the data plane answers on the configured port',
      async check(ctx) {
        expect(ctx.daemon.port).toBe(ctx.vars.port)
        const p = uniquePath('listen')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'l'})
        expect((await httpRequest(p, {port: ctx.vars.port as number})).text).toBe('l')
      },
    },
    {
      key: 'socket',
      expect: 'the admin API answers on the configured socket',
      async check(ctx) {
        const sock = path.join(ctx.dir, 'admin.sock')
        const r = await httpRequest('/status', {socketPath: sock})
        expect(r.status).toBe(200)
        expect(JSON.parse(r.text).listeners.admin).toBe(sock)
      },
    },
    {
      key: 'upstreams[]',
      expect: 'a plain URL string in the list is the upstream',
      async check(ctx) {
        const p = uniquePath('up')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'u'})
        expect((await ctx.daemon.request(p)).text).toBe('u')
        expect(ctx.origin.countFor(p)).toBe(1)
      },
    },
    {
      key: 'storage.dir',
      expect: 'the index and bodies are under the configured directory',
      async check(ctx) {
        const dir = path.join(ctx.dir, 'store')
        expect((await ctx.daemon.status()).storage.dir).toBe(dir)
        const p = uniquePath('sd')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'x'.repeat(5000)})
        await ctx.daemon.request(p)
        await waitFor(async () => (await ctx.daemon.status()).storage.objects > 0)
        const files = fs.readdirSync(dir, {recursive: true, encoding: 'utf8'})
        const sizes = files.map((f) => fs.statSync(path.join(dir, f))).filter((s) => s.isFile() && s.size === 5000)
        expect(sizes.length, `a 5000-byte body file under ${dir}: ${files.join(', ')}`).toBeGreaterThanOrEqual(1)
      },
    },
    {
      key: 'purge.allow',
      expect: 'only 127.0.0.2 may PURGE; 127.0.0.1 gets 403 (default allows 127.0.0.1/8)',
      async check(ctx) {
        const p = uniquePath('pa')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'p'})
        await ctx.daemon.request(p)
        expect((await ctx.daemon.request(p, {method: 'PURGE'})).status).toBe(403)
        expect((await ctx.daemon.request(p, {method: 'PURGE', localAddress: '127.0.0.2'})).status).toBe(200)
      },
    },
    {
      key: 'purge.header',
      expect: 'X-Purge: dir purges a directory (default Purge-Type: X-Purge ignored → a file purge, 404)',
      async check(ctx) {
        const dir = uniquePath('pdir')
        for (const leaf of ['a', 'b']) {
          ctx.origin.route(`${dir}/${leaf}`, {headers: {'Cache-Control': 'max-age=3600'}, body: leaf})
          await ctx.daemon.request(`${dir}/${leaf}`)
        }
        // The request URL names the directory; X-Purge: dir purges everything under it.
        const r = await ctx.daemon.request(`${dir}/`, {method: 'PURGE', localAddress: '127.0.0.2', headers: {'X-Purge': 'dir'}})
        expect(r.status, r.text).toBe(200)
        expect(JSON.parse(r.text).matched).toBe(2)
      },
    },
    {
      key: 'log.level',
      expect: '"warn": the refused PURGE is logged, no info line is (default info: "tavern ready")',
      async check(ctx) {
        const lines = await waitFor(() => {
          const l = ctx.daemon.logLines()
          return l.some((x) => x.msg === 'PURGE refused: peer not in purge.allow') && l
        }, {message: 'the PURGE refused warning'})
        expect(lines.filter((l) => !['warn', 'error', 'fatal'].includes(String(l.level))).map((l) => l.msg)).toEqual([])
      },
    },
    {
      key: 'metrics.listen',
      expect: 'Prometheus /metrics answers on the configured port (default: off)',
      async check(ctx) {
        const r = await httpRequest('/metrics', {port: ctx.vars.metricsPort as number})
        expect(r.status).toBe(200)
        expect(r.text).toMatch(/^tavern_/m)
      },
    },
    {
      key: 'accessLog.enabled',
      expect: 'one JSON line per request (default: none)',
      async check(ctx) {
        const p = uniquePath('al')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'a'})
        await ctx.daemon.request(p)
        const file = path.join(ctx.dir, 'access.log')
        await eventually(() => {
          const mine = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(p))
          expect(mine).toHaveLength(1)
          expect(JSON.parse(mine[0]!)).toMatchObject({status: 200})
        })
      },
    },
    {
      key: 'accessLog.path',
      expect: 'the lines go to the configured file, not stdout',
      async check(ctx) {
        const p = uniquePath('alp')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'a'})
        await ctx.daemon.request(p)
        await waitFor(() => fs.readFileSync(path.join(ctx.dir, 'access.log'), 'utf8').includes(p), {message: `an access line for ${p}`})
        expect(ctx.daemon.logs()).not.toContain(p)
      },
    },
    {
      key: 'upstream.connections',
      expect: '1: two concurrent requests reach the origin one after the other (default 128: together)',
      async check(ctx) {
        const [a, b] = [uniquePath('conn'), uniquePath('conn')]
        for (const p of [a, b]) ctx.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'c', delayMs: 300})
        await Promise.all([ctx.daemon.request(a), ctx.daemon.request(b)])
        const [ra, rb] = [ctx.origin.requestsFor(a)[0]!, ctx.origin.requestsFor(b)[0]!]
        const [first, second] = ra.receivedAt <= rb.receivedAt ? [ra, rb] : [rb, ra]
        expect(second.receivedAt).toBeGreaterThanOrEqual(first.finishedAt!)
      },
    },
    {
      key: 'server.shutdownTimeout',
      expect: '500 ms: SIGTERM cuts a request stuck at the origin after 0.5 s (default 10 s)',
      async check(ctx) {
        const p = uniquePath('stuck')
        ctx.origin.route(p, {hang: true})
        let cutAt = 0
        const stuck = ctx.daemon.request(p, {allowIncomplete: true}).then(
          (r) => ((cutAt = Date.now()), r.status),
          () => ((cutAt = Date.now()), 'cut'),
        )
        await ctx.origin.waitForCount(p, 1)
        const t0 = Date.now()
        const exit = ctx.daemon.stop('SIGTERM', 10_000)
        expect(await stuck).toBe('cut')
        expect(cutAt - t0).toBeGreaterThanOrEqual(400)
        expect(cutAt - t0).toBeLessThan(3000)
        // The process exits when the stuck upstream request ends (upstream.headersTimeout 3 s here), not at the deadline.
        expect(await exit).toBe(0)
      },
    },
  ],
}

/** Groups that finish within seconds (config-wiring.test.ts). */
export const FAST_GROUPS: WiringGroup[] = [cacheGroup, plainGroup, storageGroup, edgeGroup, admissionGroup, upstreamAdmissionGroup, blackholeGroup, balancingGroup, lifecycleGroup, dashboardOwnListenerGroup, dashboardOnMetricsGroup, pluginsGroup, sitesGroup, ...RESILIENCE_GROUPS, ...REFRESH_GROUPS, ...TLS_GROUPS, ...FORWARD_PROXY_GROUPS, ...CLUSTER_GROUPS, clusterMembershipGroup]
