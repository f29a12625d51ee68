/**
 * Config-wiring rows for sites, routes, upstream groups and the cache policy keys (#14). One daemon: the policy
 * keys set globally (each only acts on requests that ask for it, except minUses 2, which the rows allow for), and a
 * site with a route on two named groups. Every row fails when its key is dropped (TAVERN_WIRING_DROP=key).
 */
import {expect} from 'vitest'

import type {WiringContext, WiringGroup} from '../../helpers/config-keys.js'
import type {HttpResult} from '../../helpers/daemon.js'
import {tavernStatus} from '../../helpers/fixture.js'
import {sleep, uniquePath} from '../../helpers/origin.js'
import {waitFor} from '../../helpers/wait.js'

const MAX60 = {'Cache-Control': 'max-age=60'}
const hit = (r: HttpResult) => tavernStatus(r)?.params.hit === true
const ttl = (r: HttpResult) => Number(tavernStatus(r)?.params.ttl)

function get(ctx: WiringContext, p: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return ctx.daemon.request(p, {headers})
}

/** Ask until it is a hit (minUses 2 stores from the second request), bounded. */
function stored(ctx: WiringContext, p: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return waitFor(async () => {
    const r = await get(ctx, p, headers)
    return hit(r) ? r : undefined
  })
}

/** A path whose origin answers max-age=60 and counts. */
function cached(ctx: WiringContext, prefix = 'sw', body = 'x'): string {
  const p = uniquePath(prefix)
  ctx.origin.route(p, {headers: MAX60, body})
  return p
}

export const sitesGroup: WiringGroup = {
  name: 'sites, routes, upstream groups and cache policy',
  origins: {g1: {}, g2: {}},
  config: (ctx) => ({
    upstreamGroups: {one: {upstreams: [ctx.origins.g1!.url]}, two: {upstreams: [ctx.origins.g2!.url]}},
    sites: {
      grp: {hosts: ['grp.test'], group: 'one', cache: {ttl: {200: '2h'}}, routes: {r: {prefix: '/r/', group: 'two', cache: {ttl: {200: '3h'}}}}},
      default: {},
    },
    cache: {
      ttl: {200: '1h'},
      forceTtl: true,
      ignoreOrigin: ['vary'],
      setCookie: 'strip',
      cookieBypass: ['sid'],
      bypass: [{header: 'X-Bp', value: 'yes'}, {cookie: 'bp'}, {query: 'bp'}],
      noStore: [{header: 'X-Ns', value: 'yes'}, {cookie: 'ns'}, {query: 'ns'}],
      keyParts: [{header: 'X-Dev', caseSensitive: true}, {cookie: 'cur', caseSensitive: false}],
      maxObjectSize: 1000,
      minUses: 2,
      minUsesWindow: '1s',
    },
  }),
  rows: [
    {
      key: 'cache.ttl',
      expect: 'a 200 without freshness is stored for 1h (default: not stored)',
      async check(ctx) {
        const p = uniquePath('ttl')
        ctx.origin.route(p, {body: 'x'})
        const r = await stored(ctx, p)
        expect(ttl(r)).toBeGreaterThan(3500)
      },
    },
    {
      key: 'cache.forceTtl',
      expect: 'max-age=20 is overridden by the 1h ttl (default: 20 s)',
      async check(ctx) {
        const p = uniquePath('ft')
        ctx.origin.route(p, {headers: {'Cache-Control': 'max-age=20'}, body: 'x'})
        expect(ttl(await stored(ctx, p))).toBeGreaterThan(3500)
      },
    },
    {
      key: 'cache.ignoreOrigin',
      expect: 'vary ignored: X-L: a and X-L: b are one object (default: two)',
      async check(ctx) {
        const p = uniquePath('io')
        ctx.origin.route(p, {headers: {...MAX60, Vary: 'X-L'}, body: 'x'})
        await stored(ctx, p, {'x-l': 'a'})
        expect(hit(await get(ctx, p, {'x-l': 'b'}))).toBe(true)
      },
    },
    {
      key: 'cache.setCookie',
      expect: 'strip: the hit has no Set-Cookie (default store: it replays it)',
      async check(ctx) {
        const p = uniquePath('sc')
        ctx.origin.route(p, {headers: {...MAX60, 'Set-Cookie': 'a=1'}, body: 'x'})
        expect((await get(ctx, p)).headerAll('set-cookie')).toEqual(['a=1'])
        expect((await stored(ctx, p)).headerAll('set-cookie')).toEqual([])
      },
    },
    {
      key: 'cache.cookieBypass',
      expect: 'Cookie sid=… skips the stored object (default: a hit)',
      async check(ctx) {
        const p = cached(ctx)
        await stored(ctx, p)
        expect(hit(await get(ctx, p, {cookie: 'sid=1'}))).toBe(false)
      },
    },
    {
      key: 'cache.bypass[].header',
      expect: 'X-Bp: yes skips the cache',
      async check(ctx) {
        const p = cached(ctx)
        await stored(ctx, p)
        expect(tavernStatus(await get(ctx, p, {'x-bp': 'yes'}))?.params.fwd).toBe('bypass')
      },
    },
    {
      key: 'cache.bypass[].value',
      expect: 'X-Bp: no does not (without value, presence would)',
      async check(ctx) {
        const p = cached(ctx)
        await stored(ctx, p)
        expect(hit(await get(ctx, p, {'x-bp': 'no'}))).toBe(true)
        expect(hit(await get(ctx, p, {'x-bp': 'yes'}))).toBe(false)
      },
    },
    {
      key: 'cache.bypass[].cookie',
      expect: 'Cookie bp=… skips the cache',
      async check(ctx) {
        const p = cached(ctx)
        await stored(ctx, p)
        expect(hit(await get(ctx, p, {cookie: 'bp=1'}))).toBe(false)
      },
    },
    {
      key: 'cache.bypass[].query',
      expect: '?bp skips the cache',
      async check(ctx) {
        const p = cached(ctx)
        await get(ctx, `${p}?bp`)
        await get(ctx, `${p}?bp`)
        expect(hit(await get(ctx, `${p}?bp`))).toBe(false)
        expect(ctx.origin.countFor(p)).toBe(3)
      },
    },
    {
      key: 'cache.noStore[].header',
      expect: 'X-Ns: yes: what it fetches is not stored (default: its fill stores)',
      async check(ctx) {
        const p = cached(ctx)
        await get(ctx, p) // use 1 of minUses 2
        await get(ctx, p, {'x-ns': 'yes'})
        expect(hit(await get(ctx, p))).toBe(false)
      },
    },
    {
      key: 'cache.noStore[].value',
      expect: 'X-Ns: no stores as usual',
      async check(ctx) {
        const p = cached(ctx)
        await get(ctx, p)
        await get(ctx, p, {'x-ns': 'no'})
        expect(hit(await get(ctx, p))).toBe(true)
      },
    },
    {
      key: 'cache.noStore[].cookie',
      expect: 'Cookie ns=…: not stored',
      async check(ctx) {
        const p = cached(ctx)
        await get(ctx, p)
        await get(ctx, p, {cookie: 'ns=1'})
        expect(hit(await get(ctx, p))).toBe(false)
      },
    },
    {
      key: 'cache.noStore[].query',
      expect: '?ns: not stored',
      async check(ctx) {
        const p = cached(ctx)
        await get(ctx, `${p}?ns`)
        await get(ctx, `${p}?ns`)
        expect(hit(await get(ctx, `${p}?ns`))).toBe(false)
        expect(ctx.origin.countFor(p)).toBe(3)
      },
    },
    {
      key: 'cache.keyParts[].header',
      expect: 'X-Dev: A and X-Dev: B are two objects (default: one)',
      async check(ctx) {
        const p = cached(ctx)
        await stored(ctx, p, {'x-dev': 'A'})
        expect(hit(await get(ctx, p, {'x-dev': 'B'}))).toBe(false)
      },
    },
    {
      key: 'cache.keyParts[].caseSensitive',
      expect: 'X-Dev: A and X-Dev: a are two objects (default: lower-cased, one)',
      async check(ctx) {
        const p = cached(ctx)
        await stored(ctx, p, {'x-dev': 'A'})
        expect(hit(await get(ctx, p, {'x-dev': 'a'}))).toBe(false)
      },
    },
    {
      key: 'cache.keyParts[].cookie',
      expect: 'Cookie cur=usd and cur=eur are two objects',
      async check(ctx) {
        const p = cached(ctx)
        await stored(ctx, p, {cookie: 'cur=usd'})
        expect(hit(await get(ctx, p, {cookie: 'cur=eur'}))).toBe(false)
      },
    },
    {
      key: 'cache.maxObjectSize',
      expect: 'a 2000-byte body is not stored (default: no limit)',
      async check(ctx) {
        const p = uniquePath('mo')
        ctx.origin.route(p, {headers: MAX60, body: 'x'.repeat(2000)})
        for (let i = 0; i < 3; i++) expect(hit(await get(ctx, p))).toBe(false)
        expect(ctx.origin.countFor(p)).toBe(3)
      },
    },
    {
      key: 'cache.minUses',
      expect: 'the first request does not store, the second does (default 1: the first)',
      async check(ctx) {
        const p = cached(ctx)
        expect(tavernStatus(await get(ctx, p))?.params.detail).toBe('minUses 2')
      },
    },
    {
      key: 'cache.minUsesWindow',
      expect: 'uses more than 1 s apart do not add up (default 10 min: they do)',
      async check(ctx) {
        const p = cached(ctx)
        await get(ctx, p)
        await sleep(1300)
        expect(tavernStatus(await get(ctx, p))?.params.detail).toBe('minUses 2')
      },
    },
    {
      key: 'upstreamGroups',
      expect: 'grp.test is answered by group "one" (the g1 origin)',
      async check(ctx) {
        const p = uniquePath('ug')
        ctx.origins.g1!.route(p, {headers: MAX60, body: 'g1'})
        ctx.origin.route(p, {headers: MAX60, body: 'main'})
        expect((await get(ctx, p, {host: 'grp.test'})).text).toBe('g1')
      },
    },
    {
      key: 'sites.*.hosts',
      expect: 'grp.test goes to the grp site; other hosts to the default site (main origin)',
      async check(ctx) {
        const p = uniquePath('sh')
        ctx.origins.g1!.route(p, {headers: MAX60, body: 'g1'})
        ctx.origin.route(p, {headers: MAX60, body: 'main'})
        expect((await get(ctx, p, {host: 'grp.test'})).text).toBe('g1')
        expect((await get(ctx, p, {host: 'else.test'})).text).toBe('main')
      },
    },
    {
      key: 'sites.*.group',
      expect: 'the site’s group answers (default: the main upstreams)',
      async check(ctx) {
        const p = uniquePath('sg')
        ctx.origins.g1!.route(p, {headers: MAX60, body: 'g1'})
        ctx.origin.route(p, {headers: MAX60, body: 'main'})
        expect((await get(ctx, p, {host: 'grp.test'})).text).toBe('g1')
      },
    },
    {
      key: 'sites.*.cache',
      expect: 'the site’s ttl 2h (global 1h)',
      async check(ctx) {
        const p = uniquePath('sc')
        ctx.origins.g1!.route(p, {body: 'g1'})
        const t = ttl(await stored(ctx, p, {host: 'grp.test'}))
        expect(t).toBeGreaterThan(7100)
        expect(t).toBeLessThanOrEqual(7200)
      },
    },
    {
      key: 'sites.*.routes.*.prefix',
      expect: '/r/… takes the route (group two, ttl 3h)',
      async check(ctx) {
        const p = `/r${uniquePath('rp')}`
        ctx.origins.g2!.route(p, {body: 'g2'})
        ctx.origins.g1!.route(p, {body: 'g1'})
        expect((await get(ctx, p, {host: 'grp.test'})).text).toBe('g2')
      },
    },
    {
      key: 'sites.*.routes.*.group',
      expect: 'the route’s group two answers (default: the site’s group one)',
      async check(ctx) {
        const p = `/r${uniquePath('rg')}`
        ctx.origins.g2!.route(p, {body: 'g2'})
        ctx.origins.g1!.route(p, {body: 'g1'})
        expect((await get(ctx, p, {host: 'grp.test'})).text).toBe('g2')
      },
    },
    {
      key: 'sites.*.routes.*.cache',
      expect: 'the route’s ttl 3h (site 2h)',
      async check(ctx) {
        const p = `/r${uniquePath('rc')}`
        ctx.origins.g2!.route(p, {body: 'g2'})
        ctx.origins.g1!.route(p, {body: 'g1'})
        const t = ttl(await stored(ctx, p, {host: 'grp.test'}))
        expect(t).toBeGreaterThan(10700)
        expect(t).toBeLessThanOrEqual(10800)
      },
    },
  ],
}
