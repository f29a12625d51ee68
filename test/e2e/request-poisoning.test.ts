// Cache poisoning through the request (issue "Hardening II"): the cache key and what the origin is asked for must
// name the same resource. Raw sockets send what node:http would not (absolute-form targets, duplicate Host lines).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'
import {rawRequest} from '../helpers/raw-http.js'

const t = useProxy()

/** A cacheable answer that says which Host and target the origin saw, and how many times it was asked. */
function echoRoute(o: Origin, path: string): void {
  o.route(path, (r, n) => ({headers: {'Cache-Control': 'max-age=3600', 'Content-Type': 'text/plain'}, body: `host=${r.header('host')} url=${r.url} n=${n}`}))
}

const get = (port: number, target: string, host: string, extra = '') => rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`)

/** Wait until a GET (by node:http, Host given) answers as a hit; fails after ~1 s. */
async function untilHit(d: DaemonHandle, path: string, host: string): Promise<void> {
  for (let i = 0; ; i++) {
    const r = await d.request(path, {headers: {Host: host}})
    if (tavernStatus(r)?.params.hit === true) return
    if (i > 50) expect.fail(`never became a hit: ${describe_(r)}`)
    await sleep(20)
  }
}

describe('absolute-form request targets (RFC 9112 §3.2.2)', () => {
  it('the target authority replaces Host: key and origin agree, and a normal request is not served the attacker page', async () => {
    const p = uniquePath('abs')
    echoRoute(t.origin, p)
    // An origin that routed absolute targets verbatim would have answered this path for the attacker's Host.
    echoRoute(t.origin, `http://victim.test${p}`)
    const a = await get(t.daemon.port, `http://victim.test${p}`, 'attacker.test')
    expect(a.status).toBe(200)
    const seen = t.origin.requests.filter((r) => r.path === p || r.path === `http://victim.test${p}`)
    expect(seen.map((r) => [r.url, r.header('host')])).toEqual([[p, 'victim.test']])
    await untilHit(t.daemon, p, 'victim.test')
    const normal = await t.daemon.request(p, {headers: {Host: 'victim.test'}})
    expect(normal.text).toBe(`host=victim.test url=${p} n=1`)
    // And the attacker's Host names its own, separate object.
    const own = await t.daemon.request(p, {headers: {Host: 'attacker.test'}})
    expect(own.text).toBe(`host=attacker.test url=${p} n=2`)
  })

  it('the origin gets origin-form, never the absolute URL (no GET http://169.254.169.254/… upstream)', async () => {
    const p = uniquePath('meta')
    echoRoute(t.origin, p)
    const r = await get(t.daemon.port, `http://169.254.169.254${p}?x=1`, 'example.test')
    expect(r.status).toBe(200)
    expect(t.origin.requests.filter((q) => q.url.includes(p)).map((q) => [q.url, q.header('host')])).toEqual([[`${p}?x=1`, '169.254.169.254']])
  })

  it('userinfo in the target is refused with 400 and nothing reaches the origin', async () => {
    const p = uniquePath('userinfo')
    echoRoute(t.origin, p)
    const r = await get(t.daemon.port, `http://user:secret@victim.test${p}`, 'victim.test')
    expect(r.status).toBe(400)
    expect(r.body).toMatch(/userinfo/)
    expect(t.origin.countFor(p)).toBe(0)
  })

  it('an https:// target on the plain listener is keyed and forwarded as the listener scheme (http)', async () => {
    const p = uniquePath('https')
    echoRoute(t.origin, p)
    const r = await get(t.daemon.port, `https://victim.test${p}`, 'victim.test')
    expect(r.status).toBe(200)
    const seen = t.origin.requestsFor(p)
    expect(seen.map((q) => [q.url, q.header('host'), q.header('x-forwarded-proto')])).toEqual([[p, 'victim.test', 'http']])
    await untilHit(t.daemon, p, 'victim.test')
    const inspect = await t.daemon.admin(`/keys/inspect?url=${encodeURIComponent(`http://victim.test${p}`)}`)
    expect(JSON.parse(inspect.text)).toMatchObject({key: `http://victim.test${p}`, stored: true})
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('other schemes and malformed authorities are 400', async () => {
    const p = uniquePath('scheme')
    echoRoute(t.origin, p)
    expect((await get(t.daemon.port, `ftp://victim.test${p}`, 'victim.test')).status).toBe(400)
    expect((await get(t.daemon.port, `http://${p}`, 'victim.test')).status).toBe(400)
    expect((await get(t.daemon.port, `http://bad_host!${p}`, 'victim.test')).status).toBe(400)
    expect(t.origin.countFor(p)).toBe(0)
  })

  it('OPTIONS * is answered by Tavern itself; * with another method is 400; CONNECT is 405', async () => {
    const before = t.origin.requests.length
    const o = await rawRequest(t.daemon.port, 'OPTIONS * HTTP/1.1\r\nHost: victim.test\r\nConnection: close\r\n\r\n')
    expect(o.status).toBe(200)
    expect(o.header('content-length')).toBe('0')
    const g = await rawRequest(t.daemon.port, 'GET * HTTP/1.1\r\nHost: victim.test\r\nConnection: close\r\n\r\n')
    expect(g.status).toBe(400)
    const c = await rawRequest(t.daemon.port, 'CONNECT victim.test:443 HTTP/1.1\r\nHost: victim.test:443\r\n\r\n')
    expect(c.status).toBe(405)
    expect(c.body).toMatch(/CONNECT/)
    expect(t.origin.requests.length).toBe(before)
  })
})

describe('routing-override headers are stripped (server.stripRequestHeaders)', () => {
  it('X-Original-URL, X-Rewrite-URL, method overrides and host/scheme/prefix overrides never reach the origin', async () => {
    const p = uniquePath('strip')
    echoRoute(t.origin, p)
    const names = [
      'X-Original-URL',
      'X-Rewrite-URL',
      'X-Override-URL',
      'X-Original-URI',
      'X-Forwarded-URI',
      'X-Forwarded-Path',
      'X-Forwarded-Prefix',
      'X-HTTP-Method-Override',
      'X-HTTP-Method',
      'X-Method-Override',
      'X-Host',
      'X-Forwarded-Server',
      'X-Original-Host',
      'X-HTTP-Host-Override',
      'X-Forwarded-Scheme',
      'X-Forwarded-SSL',
      'Front-End-Https',
    ]
    const extra = names.map((n) => `${n}: /admin\r\n`).join('')
    const r = await get(t.daemon.port, p, 'victim.test', `${extra}X-Kept: yes\r\n`)
    expect(r.status).toBe(200)
    const seen = t.origin.requestsFor(p)[0]!
    for (const n of names) expect(seen.header(n), n).toBeUndefined()
    expect(seen.header('x-kept')).toBe('yes')
  })
})

describe('forwarding headers from clients that are not trusted proxies are replaced (server.trustedProxies)', () => {
  it('X-Forwarded-For/-Proto/-Host, Forwarded and client-IP claims are replaced with our own values', async () => {
    const p = uniquePath('xff')
    echoRoute(t.origin, p)
    const claims = 'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-Port: 443\r\nForwarded: for=6.6.6.6;proto=https\r\nX-Real-IP: 6.6.6.6\r\nTrue-Client-IP: 6.6.6.6\r\nX-Client-IP: 6.6.6.6\r\n'
    await get(t.daemon.port, p, 'victim.test', claims)
    const seen = t.origin.requestsFor(p)[0]!
    expect(seen.headerAll('x-forwarded-for')).toHaveLength(1)
    expect(seen.header('x-forwarded-for')).toMatch(/^(::ffff:)?127\.0\.0\.1$/)
    expect(seen.header('x-forwarded-proto')).toBe('http')
    expect(seen.header('x-forwarded-host')).toBe('victim.test')
    expect(seen.headerAll('forwarded')).toEqual([expect.stringMatching(/^for="?\[?(::ffff:)?127\.0\.0\.1\]?"?;host=victim\.test;proto=http$/)])
    for (const n of ['x-forwarded-port', 'x-real-ip', 'true-client-ip', 'x-client-ip']) expect(seen.header(n), n).toBeUndefined()
  })
})

describe('Host header validity (RFC 9112 §3.2)', () => {
  it('two Host lines: 400 without contacting the origin (also with an absolute-form target, also when equal)', async () => {
    const p = uniquePath('dup-host')
    echoRoute(t.origin, p)
    const two = await rawRequest(t.daemon.port, `GET ${p} HTTP/1.1\r\nHost: victim.test\r\nHost: attacker.test\r\nConnection: close\r\n\r\n`)
    expect(two.status).toBe(400)
    expect(two.body).toMatch(/Host/)
    const same = await rawRequest(t.daemon.port, `GET ${p} HTTP/1.1\r\nHost: victim.test\r\nHost: victim.test\r\nConnection: close\r\n\r\n`)
    expect(same.status).toBe(400)
    const abs = await rawRequest(t.daemon.port, `GET http://victim.test${p} HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n`)
    expect(abs.status).toBe(400)
    expect(t.origin.countFor(p)).toBe(0)
  })

  it('an invalid Host value (a list, a path, an invalid Host beside an absolute-form target) is 400', async () => {
    const p = uniquePath('bad-host')
    echoRoute(t.origin, p)
    expect((await get(t.daemon.port, p, 'victim.test, attacker.test')).status).toBe(400)
    expect((await get(t.daemon.port, p, 'victim.test/x')).status).toBe(400)
    expect((await get(t.daemon.port, `http://victim.test${p}`, 'a b')).status).toBe(400)
    expect(t.origin.countFor(p)).toBe(0)
  })
})

describe('key normalisation (RFC 3986 §6): requests, purge and PURGE agree', () => {
  /** The same content under its real path and an alias, as an origin that normalises paths itself would serve. */
  function objectWithAlias(real: string, alias: string): void {
    const route = (r: {url: string}, n: number) => ({headers: {'Cache-Control': 'max-age=3600'}, body: `content n=${n} url=${r.url}`})
    t.origin.route(real, (r) => route(r, t.origin.countFor(real) + t.origin.countFor(alias)))
    t.origin.route(alias, (r) => route(r, t.origin.countFor(real) + t.origin.countFor(alias)))
  }

  it('a dot-segment alias is the same object: one origin fetch, normalised path upstream, and purge --dir removes it', async () => {
    const base = uniquePath('obj')
    const real = `${base}/other/z`
    const alias = `${base}/static/../other/z`
    objectWithAlias(real, alias)
    await t.get(real)
    await untilHit(t.daemon, real, t.daemon.host)
    const viaAlias = await t.get(alias)
    expect(tavernStatus(viaAlias)?.params.hit, describe_(viaAlias)).toBe(true)
    const p = await t.daemon.admin('/purge', {method: 'POST', body: JSON.stringify({dir: `${base}/other/`, host: t.daemon.host}), headers: {'Content-Type': 'application/json'}})
    expect(p.status, p.text).toBe(200)
    expect(JSON.parse(p.text)).toMatchObject({matched: 1})
    const after = await t.get(alias)
    expect(tavernStatus(after)?.params.hit, describe_(after)).not.toBe(true)
    expect(t.origin.requests.filter((r) => r.path.startsWith(base)).map((r) => r.url)).toEqual([real, real])
  })

  it('%2e%2e is a dot-segment too; %7e is ~; %2F stays distinct from /', async () => {
    const base = uniquePath('enc')
    objectWithAlias(`${base}/b`, `${base}/a/%2e%2E/b`)
    await t.get(`${base}/b`)
    await untilHit(t.daemon, `${base}/b`, t.daemon.host)
    expect(tavernStatus(await t.get(`${base}/a/%2e%2E/b`))?.params.hit).toBe(true)

    objectWithAlias(`${base}/~u`, `${base}/%7eu`)
    await t.get(`${base}/%7eu`)
    await untilHit(t.daemon, `${base}/~u`, t.daemon.host)
    expect(t.origin.requestsFor(`${base}/~u`).map((r) => r.url)).toEqual([`${base}/~u`])

    t.origin.route(`${base}/x%2Fy`, {headers: {'Cache-Control': 'max-age=3600'}, body: 'encoded'})
    t.origin.route(`${base}/x/y`, {headers: {'Cache-Control': 'max-age=3600'}, body: 'two segments'})
    expect((await t.get(`${base}/x%2fy`)).text).toBe('encoded')
    expect((await t.get(`${base}/x/y`)).text).toBe('two segments')
    expect(t.origin.requestsFor(`${base}/x%2Fy`).map((r) => r.url)).toEqual([`${base}/x%2Fy`])
  })

  it('inspect-key and HTTP PURGE of an alias URL name the stored object', async () => {
    const base = uniquePath('alias')
    const real = `${base}/a/c~d`
    const alias = `${base}/a/./b/../c%7Ed`
    objectWithAlias(real, alias)
    await t.get(real)
    await untilHit(t.daemon, real, t.daemon.host)
    const inspect = await t.daemon.admin(`/keys/inspect?url=${encodeURIComponent(`${t.daemon.url}${alias}`)}`)
    expect(JSON.parse(inspect.text)).toMatchObject({key: `${t.daemon.url}${real}`, stored: true})
    const purge = await t.daemon.request(alias, {method: 'PURGE', headers: {'Purge-Type': 'file,hard'}})
    expect(purge.status, purge.text).toBe(200)
    const gone = await t.daemon.admin(`/keys/inspect?url=${encodeURIComponent(`${t.daemon.url}${real}`)}`)
    expect(JSON.parse(gone.text)).toMatchObject({stored: false})
  })

  it('an unsafe method on an alias invalidates the stored object', async () => {
    const base = uniquePath('unsafe')
    const real = `${base}/doc`
    const alias = `${base}/x/../doc`
    t.origin.route(real, (r, n) => (r.method === 'POST' ? {status: 204} : {headers: {'Cache-Control': 'max-age=3600'}, body: `v${n}`}))
    await t.get(real)
    await untilHit(t.daemon, real, t.daemon.host)
    const post = await t.get(alias, {method: 'POST', body: 'x'})
    expect(post.status).toBe(204)
    expect(t.origin.requestsFor(real).map((r) => `${r.method} ${r.url}`)).toEqual([`GET ${real}`, `POST ${real}`])
    expect(tavernStatus(await t.get(real))?.params.hit).not.toBe(true)
  })
})

describe('with cache.sites, server.trustedProxies and server.stripRequestHeaders configured', () => {
  let origin: Origin
  let d: DaemonHandle
  beforeAll(async () => {
    origin = await startOrigin()
    d = await startDaemon({
      upstream: origin.url,
      config: {
        cache: {sites: {'victim.test': {}, 'other.test:8080': {query: 'ignore'}}},
        server: {trustedProxies: ['127.0.0.0/8', '::1/128'], stripRequestHeaders: ['X-Internal-Route']},
      },
    })
  }, 30_000)
  afterAll(async () => {
    if (d) expect(await d.stop()).toBe(0)
    await origin?.close()
  }, 30_000)

  it('an absolute-form target for a host no site claims is 421 Misdirected Request; claimed hosts are served', async () => {
    const p = uniquePath('sites')
    echoRoute(origin, p)
    const r = await get(d.port, `http://unclaimed.test${p}`, 'victim.test')
    expect(r.status).toBe(421)
    expect(origin.countFor(p)).toBe(0)
    const ok = await get(d.port, `http://Victim.test:80${p}`, 'anything.test')
    expect(ok.status).toBe(200)
    const port = await get(d.port, `http://other.test:8080${p}?q=1`, 'anything.test')
    expect(port.status).toBe(200)
    expect(origin.requestsFor(p).map((q) => [q.url, q.header('host')])).toEqual([
      [p, 'victim.test'],
      [`${p}?q=1`, 'other.test:8080'],
    ])
    // Origin-form requests are keyed under their Host as before.
    expect((await get(d.port, p, 'unclaimed.test')).status).toBe(200)
  })

  it('from a trusted proxy, X-Forwarded-For is extended and -Proto/-Host and Forwarded are kept', async () => {
    const p = uniquePath('trusted')
    echoRoute(origin, p)
    await get(d.port, p, 'victim.test', 'X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: www.victim.test\r\nForwarded: for=203.0.113.7;proto=https\r\nX-Real-IP: 203.0.113.7\r\n')
    const seen = origin.requestsFor(p)[0]!
    expect(seen.header('x-forwarded-for')).toMatch(/^203\.0\.113\.7, (::ffff:)?127\.0\.0\.1$/)
    expect(seen.header('x-forwarded-proto')).toBe('https')
    expect(seen.header('x-forwarded-host')).toBe('www.victim.test')
    expect(seen.header('forwarded')).toMatch(/^for=203\.0\.113\.7;proto=https, for="?\[?(::ffff:)?127\.0\.0\.1\]?"?;host=victim\.test;proto=http$/)
    expect(seen.header('x-real-ip')).toBe('203.0.113.7')
  })

  it('the strip list is the configured one', async () => {
    const p = uniquePath('custom-strip')
    echoRoute(origin, p)
    await get(d.port, p, 'victim.test', 'X-Internal-Route: /admin\r\nX-Original-URL: /kept\r\n')
    const seen = origin.requestsFor(p)[0]!
    expect(seen.header('x-internal-route')).toBeUndefined()
    expect(seen.header('x-original-url')).toBe('/kept')
  })
})
