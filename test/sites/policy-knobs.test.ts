// Every per-route policy knob through the in-process pipeline (real Storage, a real origin, no daemon): one site
// whose routes each turn one knob; paths outside them keep the RFC behaviour, which is what each test contrasts with.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type HttpResult, httpRequest} from '../helpers/daemon.js'
import {tavernStatus} from '../helpers/fixture.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {createTestPipeline, type TestPipeline} from '../helpers/pipeline.js'
import {waitFor} from '../helpers/wait.js'

let origin: Origin
let pipe: TestPipeline
let server: http.Server
let port: number

const routes = {
  ttl: {prefix: '/ttl/', cache: {ttl: {200: '1h', 404: '1m'}}},
  force: {prefix: '/force/', cache: {ttl: {200: '2h'}, forceTtl: true}},
  ignorecc: {prefix: '/ignorecc/', cache: {ignoreOrigin: ['cache-control'], ttl: {200: '10m'}}},
  ignorevary: {prefix: '/ignorevary/', cache: {ignoreOrigin: ['vary']}},
  ignoreexpires: {prefix: '/ignoreexpires/', cache: {ignoreOrigin: ['expires'], ttl: {200: '30m'}}},
  strip: {prefix: '/strip/', cache: {setCookie: 'strip'}},
  cbypass: {prefix: '/cbypass/', cache: {setCookie: 'bypass'}},
  cookies: {prefix: '/cookies/', cache: {cookieBypass: true}},
  named: {prefix: '/named/', cache: {cookieBypass: ['session']}},
  bypass: {prefix: '/bypass/', cache: {bypass: [{header: 'X-Debug'}, {query: 'preview', value: '1'}]}},
  nostore: {prefix: '/nostore/', cache: {noStore: [{cookie: 'cart'}]}},
  keyparts: {prefix: '/keyparts/', cache: {keyParts: [{header: 'X-Device'}]}},
  maxsize: {prefix: '/maxsize/', cache: {maxObjectSize: 1000}},
  minuses: {prefix: '/minuses/', cache: {minUses: 3}},
  off: {prefix: '/off/', cache: {enabled: false}},
}

beforeAll(async () => {
  origin = await startOrigin()
  pipe = await createTestPipeline(origin.url, {sites: {default: {routes}}})
  server = http.createServer(pipe.handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as AddressInfo).port
}, 60_000)
afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()))
  await pipe?.close()
  await origin?.close()
})

function get(p: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpRequest(p, {port, headers: {host: 'site.test', ...headers}})
}

/** Wait until the object is committed (a hit), bounded. */
async function stored(p: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return waitFor(async () => {
    const r = await get(p, headers)
    return tavernStatus(r)?.params.hit === true ? r : undefined
  })
}

const hit = (r: HttpResult) => tavernStatus(r)?.params.hit === true
const ttl = (r: HttpResult) => Number(tavernStatus(r)?.params.ttl)

/** A path under a route prefix (or none) whose origin answers `spec`. */
function path(prefix: string, spec: Parameters<Origin['route']>[1]): string {
  const p = `${prefix}${uniquePath('k').slice(1)}`
  origin.route(p, spec)
  return p
}

describe('ttl and forceTtl', () => {
  it('ttl by status applies when the origin gives no freshness (200 and 404); without it nothing is stored', async () => {
    const plain = path('/', {body: 'x'})
    await get(plain)
    await get(plain)
    expect(origin.countFor(plain)).toBe(2)

    const p = path('/ttl/', {body: 'x'})
    await get(p)
    const r = await stored(p)
    expect(ttl(r)).toBeGreaterThan(3500)
    expect(origin.countFor(p)).toBe(1)

    const nf = path('/ttl/', {status: 404, body: 'gone'})
    await get(nf)
    const r404 = await stored(nf)
    expect(r404.status).toBe(404)
    expect(ttl(r404)).toBeGreaterThan(50)
    expect(ttl(r404)).toBeLessThanOrEqual(60)
  })

  it('ttl does not override the origin’s own freshness; forceTtl does', async () => {
    const p = path('/ttl/', {headers: {'cache-control': 'max-age=20'}, body: 'x'})
    await get(p)
    expect(ttl(await stored(p))).toBeLessThanOrEqual(20)
    const f = path('/force/', {headers: {'cache-control': 'max-age=20'}, body: 'x'})
    await get(f)
    expect(ttl(await stored(f))).toBeGreaterThan(7000)
  })
})

describe('ignoreOrigin', () => {
  it('cache-control: a no-store / private response is stored under the route ttl (and relayed with its Cache-Control)', async () => {
    const plain = path('/', {headers: {'cache-control': 'private, max-age=60'}, body: 'x'})
    await get(plain)
    await get(plain)
    expect(origin.countFor(plain)).toBe(2)
    const p = path('/ignorecc/', {headers: {'cache-control': 'no-store, private'}, body: 'x'})
    const first = await get(p)
    expect(first.header('cache-control')).toBe('no-store, private')
    const r = await stored(p)
    expect(ttl(r)).toBeGreaterThan(500)
    expect(origin.countFor(p)).toBe(1)
  })

  it('vary: one object whatever the varying field says', async () => {
    const p = path('/ignorevary/', {headers: {'cache-control': 'max-age=60', vary: 'X-Lang'}, body: 'x'})
    await get(p, {'x-lang': 'en'})
    await stored(p, {'x-lang': 'en'})
    expect(hit(await get(p, {'x-lang': 'fr'}))).toBe(true)
    expect(origin.countFor(p)).toBe(1)
    const plain = path('/', {headers: {'cache-control': 'max-age=60', vary: 'X-Lang'}, body: 'x'})
    await get(plain, {'x-lang': 'en'})
    await stored(plain, {'x-lang': 'en'})
    expect(hit(await get(plain, {'x-lang': 'fr'}))).toBe(false)
  })

  it('expires: an Expires in the past does not make it stale; the route ttl applies', async () => {
    const p = path('/ignoreexpires/', {headers: {expires: 'Thu, 01 Jan 1970 00:00:00 GMT'}, body: 'x'})
    await get(p)
    expect(ttl(await stored(p))).toBeGreaterThan(1700)
  })
})

describe('setCookie', () => {
  const cookieSpec = (req: {header(n: string): string | undefined}) => ({headers: ['Cache-Control', 'max-age=60', 'Set-Cookie', `session=${req.header('cookie') ?? 'anon'}`], body: 'x'})

  it('store (default): the RFC behaviour — a later client gets the stored Set-Cookie', async () => {
    const p = path('/', cookieSpec)
    await get(p, {cookie: 'user=alice'})
    const r = await stored(p)
    expect(r.headerAll('set-cookie')).toEqual(['session=user=alice'])
  })

  it('strip: the filling client gets its cookie, the stored copy has none', async () => {
    const p = path('/strip/', cookieSpec)
    const first = await get(p, {cookie: 'user=alice'})
    expect(first.headerAll('set-cookie')).toEqual(['session=user=alice'])
    const r = await stored(p)
    expect(r.headerAll('set-cookie')).toEqual([])
    expect(origin.countFor(p)).toBe(1)
  })

  it('bypass: a response with Set-Cookie is not stored; one without is', async () => {
    const p = path('/cbypass/', cookieSpec)
    expect((await get(p, {cookie: 'user=alice'})).headerAll('set-cookie')).toEqual(['session=user=alice'])
    const second = await get(p)
    expect(hit(second)).toBe(false)
    expect(second.headerAll('set-cookie')).toEqual(['session=anon'])
    expect(origin.countFor(p)).toBe(2)
    const q = path('/cbypass/', {headers: {'cache-control': 'max-age=60'}, body: 'x'})
    await get(q)
    await stored(q)
  })
})

describe('cookieBypass, bypass and noStore', () => {
  it('cookieBypass true: a request with any cookie skips the cache (no hit, nothing stored)', async () => {
    const p = path('/cookies/', {headers: {'cache-control': 'max-age=60'}, body: 'x'})
    await get(p)
    await stored(p)
    const r = await get(p, {cookie: 'x=1'})
    expect(hit(r)).toBe(false)
    expect(tavernStatus(r)?.params.fwd).toBe('bypass')
    expect(origin.countFor(p)).toBe(2)
  })

  it('cookieBypass [names]: only those cookies skip the cache', async () => {
    const p = path('/named/', {headers: {'cache-control': 'max-age=60'}, body: 'x'})
    await get(p)
    await stored(p)
    expect(hit(await get(p, {cookie: 'theme=dark'}))).toBe(true)
    expect(hit(await get(p, {cookie: 'theme=dark; session=abc'}))).toBe(false)
  })

  it('bypass conditions: header presence, query value', async () => {
    const p = path('/bypass/', {headers: {'cache-control': 'max-age=60'}, body: 'x'})
    await get(p)
    await stored(p)
    expect(tavernStatus(await get(p, {'x-debug': '1'}))?.params.detail).toBe('bypass: header x-debug')
    expect(hit(await get(`${p}?preview=1`))).toBe(false)
    const n = origin.countFor(p)
    // Bypassed requests stored nothing: the plain URL is still the first stored response.
    expect(hit(await get(p))).toBe(true)
    expect(origin.countFor(p)).toBe(n)
  })

  it('noStore condition: such a request may hit, but what it fetches is not stored', async () => {
    const p = path('/nostore/', {headers: {'cache-control': 'max-age=60'}, body: 'x'})
    const r1 = await get(p, {cookie: 'cart=1'})
    expect(tavernStatus(r1)?.params.detail).toBe('noStore: cookie cart')
    await get(p)
    expect(origin.countFor(p)).toBe(2)
    await stored(p)
    expect(hit(await get(p, {cookie: 'cart=1'}))).toBe(true)
  })
})

describe('keyParts, maxObjectSize, minUses, enabled', () => {
  it('keyParts: one object per normalised header value', async () => {
    const p = path('/keyparts/', (req) => ({headers: {'cache-control': 'max-age=60'}, body: `for ${req.header('x-device') ?? 'none'}`}))
    await get(p, {'x-device': 'Mobile'})
    expect((await stored(p, {'x-device': 'mobile'})).text).toBe('for Mobile')
    await get(p, {'x-device': 'desktop'})
    expect((await stored(p, {'x-device': ' Desktop '})).text).toBe('for desktop')
    expect(origin.countFor(p)).toBe(2)
  })

  it('maxObjectSize: a larger declared body is relayed, not stored; a smaller one is stored', async () => {
    const big = path('/maxsize/', {headers: {'cache-control': 'max-age=60'}, body: 'x'.repeat(2000)})
    expect((await get(big)).body.length).toBe(2000)
    const r = await get(big)
    expect(hit(r)).toBe(false)
    expect(tavernStatus(r)?.params.detail).toBe('recently not storable')
    const small = path('/maxsize/', {headers: {'cache-control': 'max-age=60'}, body: 'x'.repeat(900)})
    await get(small)
    await stored(small)
  })

  it('minUses 3: stored from the third request on', async () => {
    const p = path('/minuses/', {headers: {'cache-control': 'max-age=60'}, body: 'x'})
    expect(tavernStatus(await get(p))?.params.detail).toBe('minUses 3')
    await get(p)
    await get(p)
    expect(origin.countFor(p)).toBe(3)
    await stored(p)
    expect(origin.countFor(p)).toBe(3)
  })

  it('enabled: false on a route: a plain proxy there', async () => {
    const p = path('/off/', {headers: {'cache-control': 'max-age=60'}, body: 'x'})
    await get(p)
    await get(p)
    expect(origin.countFor(p)).toBe(2)
  })
})
