/**
 * Config-wiring rows for grace, fuzzy / auto refresh and warming (src/config/refresh.ts): each check would fail if
 * the daemon used the key's default instead of the group's value.
 */
import {expect} from 'vitest'

import type {WiringContext, WiringGroup} from '../../helpers/config-keys.js'
import {type DaemonHandle, type HttpResult, makeTempDir, startDaemon} from '../../helpers/daemon.js'
import {parseCacheStatus} from '../../helpers/fixture.js'
import {type Origin, sleep, uniquePath} from '../../helpers/origin.js'
import {waitFor} from '../../helpers/wait.js'

function own(r: HttpResult): Record<string, string | true> {
  return parseCacheStatus(r.header('cache-status')).find((e) => e.cache === 'tavern')?.params ?? {}
}

/** max-age `maxAge`, ETag "v", explicit Date; a conditional request gets a 304 (after `delayMs`) that renews it. */
function renewable(origin: Origin, p: string, maxAge: number, delayMs = 0): void {
  origin.route(p, (req) => {
    const headers = {'Cache-Control': `max-age=${maxAge}`, ETag: '"v"', Date: new Date().toUTCString()}
    return req.header('if-none-match') === '"v"' ? {status: 304, headers, delayMs} : {headers, body: 'r'}
  })
}

const conditional = (origin: Origin, p: string) => origin.requestsFor(p).filter((r) => r.header('if-none-match') === '"v"')

/** Store `paths` together, make them hot (`hits` requests each), and return when they were stored. */
async function storeHot(ctx: WiringContext, paths: string[], hits: number): Promise<number> {
  // The origin's Date has whole seconds, and the daemon rightly counts the part of a second it lost as age (RFC 9111
  // §4.2.3): start just after a second begins, so the object's expiry is storedAt + max-age within a few ms.
  await sleep(1005 - (Date.now() % 1000))
  await Promise.all(paths.map((p) => ctx.daemon.request(p)))
  const storedAt = Date.now()
  for (let i = 0; i < hits; i++) await Promise.all(paths.map((p) => ctx.daemon.request(p)))
  return storedAt
}

export const graceFuzzyGroup: WiringGroup = {
  name: 'grace and fuzzy refresh',
  config: () => ({cache: {grace: '30s', fuzzy: 0.9}}),
  rows: [
    {
      key: 'cache.grace',
      expect: '30s: stale 99 s and the origin 500 → the 500 (default 1h would serve it stale); stale 9 s → served with detail=grace',
      async check(ctx) {
        for (const [age, want] of [['100', 500], ['10', 200]] as const) {
          const p = uniquePath('grace')
          ctx.origin.route(p, (_r, n) => (n === 1 ? {headers: {'Cache-Control': 'max-age=1', Age: age, ETag: '"g"'}, body: 'old'} : {status: 500, body: 'broken'}))
          await ctx.daemon.request(p)
          const r = await ctx.daemon.request(p)
          expect(r.status, r.header('cache-status')).toBe(want)
          if (want === 200) expect(own(r).detail).toBe('grace')
        }
      },
    },
    {
      key: 'cache.fuzzy',
      expect: '0.9: hits in the last 90 % of a 2 s lifetime revalidate it before expiry (default 0: never)',
      async check(ctx) {
        const p = uniquePath('fuzzy')
        renewable(ctx.origin, p, 2)
        await ctx.daemon.request(p)
        const storedAt = Date.now()
        while (Date.now() - storedAt < 1800 && conditional(ctx.origin, p).length === 0) {
          await ctx.daemon.request(p)
          await sleep(40)
        }
        const c = conditional(ctx.origin, p)
        expect(c.length).toBeGreaterThanOrEqual(1)
        expect(c[0]!.receivedAt - storedAt).toBeLessThan(2000)
      },
    },
  ],
}

/** One hot key (8 hits), max-age=4: when did the auto refresh come (ms after storing)? */
const autoScenario = new WeakMap<WiringContext, Promise<number>>()
function autoRefreshAt(ctx: WiringContext): Promise<number> {
  let p = autoScenario.get(ctx)
  if (!p) {
    p = (async () => {
      const path = uniquePath('auto')
      renewable(ctx.origin, path, 4)
      const storedAt = await storeHot(ctx, [path], 8)
      const c = await waitFor(() => conditional(ctx.origin, path)[0], {timeoutMs: 8000, message: 'an auto refresh'})
      return c.receivedAt - storedAt
    })()
    autoScenario.set(ctx, p)
  }
  return p
}

/** Two hot keys stored together, max-age=3: how many were refreshed (conditionally) before they expired? */
async function refreshedBeforeExpiry(ctx: WiringContext, delayMs: number): Promise<number> {
  const a = uniquePath('pair')
  const b = uniquePath('pair')
  renewable(ctx.origin, a, 3, delayMs)
  renewable(ctx.origin, b, 3, delayMs)
  const storedAt = await storeHot(ctx, [a, b], 8)
  await sleep(Math.max(0, storedAt + 3300 - Date.now()))
  return [a, b].filter((p) => conditional(ctx.origin, p).some((r) => r.receivedAt < storedAt + 3000)).length
}

export const autoRefreshGroup: WiringGroup = {
  name: 'auto refresh',
  config: () => ({cache: {autoRefresh: {enabled: true, minHits: 5, before: '100ms', concurrency: 1}}}),
  rows: [
    {
      key: 'cache.autoRefresh.enabled',
      expect: 'true: a hot key is refreshed before it expires, with no client request (default false: never)',
      prepare: autoRefreshAt,
      async check(_ctx, prepared) {
        expect(await (prepared as Promise<number>)).toBeLessThan(4000)
      },
      timeoutMs: 20_000,
    },
    {
      key: 'cache.autoRefresh.minHits',
      expect: '5: 8 hits make a key hot (default 60: not hot, never refreshed)',
      prepare: autoRefreshAt,
      async check(_ctx, prepared) {
        expect(await (prepared as Promise<number>)).toBeGreaterThan(0)
      },
      timeoutMs: 20_000,
    },
    {
      key: 'cache.autoRefresh.before',
      expect: '100ms: the refresh of a 4 s object comes in its last ~100 ms (default 2s → 600 ms before)',
      prepare: autoRefreshAt,
      async check(_ctx, prepared) {
        expect(await (prepared as Promise<number>)).toBeGreaterThanOrEqual(3650)
      },
      timeoutMs: 20_000,
    },
    {
      key: 'cache.autoRefresh.concurrency',
      expect: '1: of two hot keys expiring together, with a 700 ms origin, one is refreshed in time (default 8: both)',
      async check(ctx) {
        expect(await refreshedBeforeExpiry(ctx, 700)).toBe(1)
      },
      timeoutMs: 20_000,
    },
  ],
}

export const autoRateGroup: WiringGroup = {
  name: 'auto refresh rate',
  config: () => ({cache: {autoRefresh: {enabled: true, minHits: 5, perOriginRate: 1}}}),
  rows: [
    {
      key: 'cache.autoRefresh.perOriginRate',
      expect: '1/s: of two hot keys expiring together one is refreshed in time (default 20/s: both)',
      async check(ctx) {
        expect(await refreshedBeforeExpiry(ctx, 0)).toBe(1)
      },
      timeoutMs: 20_000,
    },
  ],
}

/**
 * Warming across a crash: a first daemon saves the hot set every second and is killed (no shutdown save); a second
 * one on the same storage warms the hottest keys at start. Four keys of decreasing hotness, hotSetSize 3, the
 * origin's 304s take 400 ms: which keys were warmed, and how many warm requests overlapped.
 */
const warmScenario = new WeakMap<WiringContext, Promise<{warmed: boolean[]; maxOverlap: number}>>()
function warmResult(ctx: WiringContext): Promise<{warmed: boolean[]; maxOverlap: number}> {
  let p = warmScenario.get(ctx)
  if (!p) {
    p = (async () => {
      const dir = makeTempDir('tavern-wiring-warm-')
      const config = {warm: {saveInterval: '1s', hotSetSize: 3, onStart: 10, concurrency: 2}}
      const site = {headers: {Host: 'warm.example'}}
      const paths = [uniquePath('w1'), uniquePath('w2'), uniquePath('w3'), uniquePath('w4')]
      for (const x of paths) renewable(ctx.origin, x, 1, 400)
      const daemons: DaemonHandle[] = []
      try {
        const a = await startDaemon({upstream: ctx.origin.url, storageDir: dir, config})
        daemons.push(a)
        for (const [i, x] of paths.entries()) for (let n = 0; n < 8 - 2 * i; n++) await a.request(x, site)
        // Two saves after the last request, then a crash: only the periodic save can have kept the set.
        await sleep(2200)
        await a.kill9()
        const before = paths.map((x) => conditional(ctx.origin, x).length)
        const b = await startDaemon({upstream: ctx.origin.url, storageDir: dir, config})
        daemons.push(b)
        await waitFor(() => b.logs().includes('warmed the hot set of the last run'), {timeoutMs: 10_000, message: 'warming done'})
        const warmReqs = paths.flatMap((x, i) => conditional(ctx.origin, x).slice(before[i]))
        let maxOverlap = 0
        for (const r of warmReqs) maxOverlap = Math.max(maxOverlap, warmReqs.filter((q) => q.receivedAt <= r.receivedAt && (q.finishedAt ?? Infinity) > r.receivedAt).length)
        return {warmed: paths.map((x, i) => conditional(ctx.origin, x).length > before[i]!), maxOverlap}
      } finally {
        for (const d of daemons) if (d.process.exitCode === null && d.process.signalCode === null) await d.stop()
      }
    })()
    warmScenario.set(ctx, p)
  }
  return p
}

export const warmGroup: WiringGroup = {
  name: 'warming',
  config: () => ({}),
  rows: [
    {
      key: 'warm.onStart',
      expect: '10: after a restart the hot keys are re-fetched before any client asks (default 0: none)',
      prepare: warmResult,
      async check(_ctx, prepared) {
        expect((await (prepared as ReturnType<typeof warmResult>)).warmed[0]).toBe(true)
      },
      timeoutMs: 40_000,
    },
    {
      key: 'warm.saveInterval',
      expect: '1s: a daemon killed 2 s after the traffic had saved its hot set (default 60s: nothing to warm)',
      prepare: warmResult,
      async check(_ctx, prepared) {
        expect((await (prepared as ReturnType<typeof warmResult>)).warmed.some(Boolean)).toBe(true)
      },
      timeoutMs: 40_000,
    },
    {
      key: 'warm.hotSetSize',
      expect: '3: of four hot keys the coldest is not kept, so not warmed (default 1000: all four)',
      prepare: warmResult,
      async check(_ctx, prepared) {
        expect((await (prepared as ReturnType<typeof warmResult>)).warmed).toEqual([true, true, true, false])
      },
      timeoutMs: 40_000,
    },
    {
      key: 'warm.concurrency',
      expect: '2: at most two warm requests at once against a 400 ms origin (default 4: three)',
      prepare: warmResult,
      async check(_ctx, prepared) {
        expect((await (prepared as ReturnType<typeof warmResult>)).maxOverlap).toBe(2)
      },
      timeoutMs: 40_000,
    },
  ],
}

export const REFRESH_GROUPS: WiringGroup[] = [graceFuzzyGroup, autoRefreshGroup, autoRateGroup, warmGroup]
