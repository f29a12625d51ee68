// Forward-proxy mode (issue #18 item 3): trusted clients send absolute-form targets over plain HTTP; Tavern fetches
// the URI's own origin (HTTPS with full verification, SNI = host) and caches under the URI's own key. One daemon,
// real sockets: an HTTPS origin with a test CA's certificate (the CA given to Tavern), one whose CA is not given,
// a plain HTTP origin, and the daemon's configured upstream for origin-form requests.
import {execFile} from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import type {TLSSocket} from 'node:tls'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createTestCa, type IssuedCert, type TestCa} from '../helpers/certs.js'
import {type DaemonHandle, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'
import {rawRequest} from '../helpers/raw-http.js'

interface HttpsOrigin {
  port: number
  /** Requests per path, with the SNI each came with. */
  seen: Array<{path: string; servername: string | false; host: string | undefined; inm?: string | undefined}>
  close(): Promise<void>
}

/** An HTTPS origin: every path answers a cacheable body naming it; `/nostore` is not cacheable. */
async function httpsOrigin(cert: IssuedCert): Promise<HttpsOrigin> {
  const seen: HttpsOrigin['seen'] = []
  const server = https.createServer({cert: cert.chainPem, key: cert.keyPem}, (req, res) => {
    const sock = req.socket as TLSSocket & {servername?: string | false}
    seen.push({path: req.url ?? '', servername: sock.servername ?? false, host: req.headers.host, inm: req.headers['if-none-match']})
    const url = req.url ?? ''
    if (url.includes('etag')) {
      // Stale at once, with a validator: every reuse is a revalidation.
      if (req.headers['if-none-match'] === '"v1"') res.writeHead(304, {'cache-control': 'max-age=0', etag: '"v1"'}).end()
      else res.writeHead(200, {'cache-control': 'max-age=0', etag: '"v1"', 'content-type': 'text/plain'}).end(`secure ${url}`)
      return
    }
    const send = () => {
      res.writeHead(200, {'cache-control': 'max-age=3600', 'content-type': 'text/plain'})
      res.end(`secure ${url}`)
    }
    if (url.includes('slow')) setTimeout(send, 300)
    else send()
  })
  server.on('error', () => {})
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

let ca: TestCa
let other: TestCa
let good: HttpsOrigin
let untrusted: HttpsOrigin
let plain: Origin
let upstream: Origin
let d: DaemonHandle
let configFile: string
let config: Record<string, unknown>

const get = (target: string, host: string, localAddress?: string) =>
  rawRequest(d.port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 10_000, localAddress)

async function inspect(url: string): Promise<{key: string; stored: boolean}> {
  const r = await d.admin(`/keys/inspect?url=${encodeURIComponent(url)}`)
  expect(r.status, r.text).toBe(200)
  return JSON.parse(r.text) as {key: string; stored: boolean}
}

/** GET the absolute URL until it is a hit (the first fill commits just after its answer ends); fails after ~1 s. */
async function untilHit(url: string, host: string): Promise<void> {
  for (let i = 0; ; i++) {
    const r = await get(url, host)
    const cs = r.header('cache-status') ?? ''
    if (/;\s*hit/.test(cs)) return
    if (i > 50) expect.fail(`never became a hit: ${r.status} ${cs}`)
    await sleep(20)
  }
}

beforeAll(async () => {
  ca = await createTestCa()
  other = await createTestCa('Untrusted CA')
  good = await httpsOrigin(await ca.issue({names: ['localhost'], ips: ['127.0.0.1']}))
  untrusted = await httpsOrigin(await other.issue({names: ['localhost']}))
  plain = await startOrigin()
  upstream = await startOrigin()
  const dir = makeTempDir('tavern-fwd-')
  configFile = path.join(dir, 'tavern.json')
  config = {
    forwardProxy: {
      enabled: true,
      clients: ['127.0.0.1/32'],
      destinations: [`localhost:${good.port}`, `localhost:${untrusted.port}`, `localhost:${plain.port}`],
      tls: {ca: ca.certFile},
    },
  }
  fs.writeFileSync(configFile, JSON.stringify(config))
  d = await startDaemon({upstream: upstream.url, args: ['--config', configFile]})
}, 60_000)

afterAll(async () => {
  await d?.stop()
  await Promise.all([good?.close(), untrusted?.close(), plain?.close(), upstream?.close()])
  await Promise.all([ca?.cleanup(), other?.cleanup()])
})

describe('forward-proxy mode', () => {
  it('an https:// target over plain HTTP is fetched from that origin (SNI = host, certificate verified) and cached under its https:// key', async () => {
    const p = uniquePath('sec')
    const url = `https://localhost:${good.port}${p}`
    const first = await get(url, 'ignored.test')
    expect(first.status, first.raw.slice(0, 300)).toBe(200)
    expect(first.body).toBe(`secure ${p}`)
    await untilHit(url, 'ignored.test')
    const hit = await get(url, 'ignored.test')
    expect(hit.body).toBe(`secure ${p}`)
    const asked = good.seen.filter((s) => s.path === p)
    expect(asked).toEqual([{path: p, servername: 'localhost', host: `localhost:${good.port}`, inm: undefined}])
    // Operators name it naturally: the https:// URL is the key, though the daemon has no TLS listener.
    expect(await inspect(url)).toMatchObject({key: url, stored: true})
    // The configured upstream was never asked.
    expect(upstream.requests.some((r) => r.path === p)).toBe(false)
  })

  it('concurrent misses for one forward URL collapse into one origin request', async () => {
    const p = uniquePath('slow')
    const url = `https://localhost:${good.port}${p}`
    const all = await Promise.all(Array.from({length: 5}, () => get(url, 'x.test')))
    expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    expect(all.every((r) => r.body === `secure ${p}`)).toBe(true)
    expect(good.seen.filter((s) => s.path === p)).toHaveLength(1)
  })

  it('a stale forward object is revalidated with its validator (304 from the origin, the stored body served)', async () => {
    const p = uniquePath('etag')
    const url = `https://localhost:${good.port}${p}`
    expect((await get(url, 'x.test')).body).toBe(`secure ${p}`)
    await sleep(100)
    const again = await get(url, 'x.test')
    expect(again.body).toBe(`secure ${p}`)
    expect(again.header('cache-status')).toMatch(/fwd=stale/)
    expect(good.seen.filter((s) => s.path === p).map((s) => s.inm)).toEqual([undefined, '"v1"'])
  })

  it('curl --request-target sends such a request (the README example)', async () => {
    const p = uniquePath('curl')
    const out = await new Promise<string>((resolve, reject) =>
      execFile('curl', ['-sS', '--request-target', `https://localhost:${good.port}${p}`, `http://127.0.0.1:${d.port}`], {timeout: 10_000}, (e, stdout) => (e ? reject(e) : resolve(stdout))),
    )
    expect(out).toBe(`secure ${p}`)
  })

  it('https://host:443-style default ports and case are normalised like any key', async () => {
    const p = uniquePath('case')
    const r = await get(`HTTPS://LOCALHOST:${good.port}${p}`, 'x.test')
    expect(r.status).toBe(200)
    expect(await inspect(`https://localhost:${good.port}${p}`)).toMatchObject({key: `https://localhost:${good.port}${p}`, stored: true})
  })

  it('an http:// target works too, keyed http://', async () => {
    const p = uniquePath('plain')
    plain.route(p, () => ({headers: {'Cache-Control': 'max-age=3600'}, body: 'plain body'}))
    const url = `http://localhost:${plain.port}${p}`
    const r = await get(url, 'x.test')
    expect(r.status).toBe(200)
    expect(r.body).toBe('plain body')
    await untilHit(url, 'x.test')
    expect(plain.requests.filter((q) => q.path === p).map((q) => [q.url, q.header('host')])).toEqual([[p, `localhost:${plain.port}`]])
    expect(await inspect(url)).toMatchObject({key: url, stored: true})
  })

  it('a destination not on forwardProxy.destinations is 403 and nothing is contacted', async () => {
    const p = uniquePath('deny')
    const r = await get(`https://127.0.0.1:${good.port}${p}`, 'x.test')
    expect(r.status).toBe(403)
    expect(r.body).toMatch(/TAVERN_ERR_FORWARD_DESTINATION/)
    expect(r.body).toMatch(/forwardProxy\.destinations/)
    // Another port of an allowed host is another destination.
    const port = await get(`https://localhost:1${p}`, 'x.test')
    expect(port.status).toBe(403)
    expect(good.seen.some((s) => s.path === p)).toBe(false)
  })

  it('a client outside forwardProxy.clients gets 403 for an absolute-form target no site claims, allowed destination or not', async () => {
    const p = uniquePath('client')
    const r = await get(`https://localhost:${good.port}${p}`, 'x.test', '127.0.0.2')
    expect(r.status).toBe(403)
    expect(r.body).toMatch(/TAVERN_ERR_FORWARD_CLIENT/)
    const elsewhere = await get(`http://example.test${p}`, 'x.test', '127.0.0.2')
    expect(elsewhere.status).toBe(403)
    expect(elsewhere.body).toMatch(/TAVERN_ERR_FORWARD_CLIENT/)
    expect(good.seen.some((s) => s.path === p)).toBe(false)
    expect(upstream.requests.some((q) => q.path === p)).toBe(false)
  })

  it('origin-form requests keep working as before (any client, the configured upstream)', async () => {
    const p = uniquePath('rev')
    upstream.route(p, () => ({headers: {'Cache-Control': 'max-age=3600'}, body: 'reverse'}))
    const r = await get(p, 'site.test', '127.0.0.2')
    expect(r.status).toBe(200)
    expect(r.body).toBe('reverse')
  })

  it('an origin-form request whose Host is a forward destination is 421 (its keys belong to forward fills)', async () => {
    const r = await get('/x', `localhost:${plain.port}`)
    expect(r.status).toBe(421)
    expect(r.body).toMatch(/forward-proxy destination/)
  })

  it('CONNECT is 405 with Allow and a message saying why (a tunnel cannot be cached)', async () => {
    const r = await rawRequest(d.port, `CONNECT localhost:${good.port} HTTP/1.1\r\nHost: localhost:${good.port}\r\n\r\n`)
    expect(r.status).toBe(405)
    expect(r.header('allow')).toBe('')
    expect(r.body).toMatch(/tunnel cannot be cached/)
    expect(r.body).toMatch(/TAVERN_ERR_METHOD_NOT_ALLOWED/)
  })

  it('a certificate that does not verify (its CA not given) is 502 with a clear error, and nothing is stored', async () => {
    const p = uniquePath('untrusted')
    const url = `https://localhost:${untrusted.port}${p}`
    const r = await get(url, 'x.test')
    expect(r.status).toBe(502)
    expect(r.body).toMatch(/TAVERN_ERR_UPSTREAM_TLS/)
    expect(r.body).toMatch(/certificate did not verify/)
    expect(untrusted.seen.some((s) => s.path === p)).toBe(false)
    expect(await inspect(url)).toMatchObject({key: url, stored: false})
    // And once more: it is not retried into success, nor served from anything.
    const again = await get(url, 'x.test')
    expect(again.status).toBe(502)
  })

  it('purge names https:// forward keys naturally (url and --dir)', async () => {
    const base = uniquePath('pg')
    const url = `https://localhost:${good.port}${base}/a`
    expect((await get(url, 'x.test')).status).toBe(200)
    await untilHit(url, 'x.test')
    const one = await d.admin('/purge', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({urls: [url]})})
    expect(one.status, one.text).toBe(200)
    expect(JSON.parse(one.text)).toMatchObject({matched: 1})
    expect(await inspect(url)).toMatchObject({stored: false})
    expect((await get(url, 'x.test')).status).toBe(200)
    await untilHit(url, 'x.test')
    const dir = await d.admin('/purge', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({dir: `https://localhost:${good.port}${base}/`})})
    expect(dir.status, dir.text).toBe(200)
    expect(JSON.parse(dir.text)).toMatchObject({matched: 1})
  })

  it('prefetch fetches a forward URL through the data plane (loopback is a forwardProxy client here) under its https:// key', async () => {
    const p = uniquePath('pre')
    const url = `https://localhost:${good.port}${p}`
    const r = await runCli(['prefetch', '--socket', d.socket, url])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/1 stored/)
    expect(good.seen.filter((s) => s.path === p)).toHaveLength(1)
    expect(await inspect(url)).toMatchObject({key: url, stored: true})
  })

  it('a reload with an unreadable forwardProxy.tls.ca is refused naming the key; the running config keeps serving', async () => {
    fs.writeFileSync(configFile, JSON.stringify({...config, forwardProxy: {...(config.forwardProxy as object), tls: {ca: '/nonexistent/ca.pem'}}}))
    const r = await runCli(['reload', '--socket', d.socket])
    expect(r.code, r.stdout + r.stderr).not.toBe(0)
    expect(r.stderr).toMatch(/forwardProxy\.tls\.ca: cannot read \/nonexistent\/ca\.pem/)
    fs.writeFileSync(configFile, JSON.stringify(config))
    const p = uniquePath('kept')
    expect((await get(`https://localhost:${good.port}${p}`, 'x.test')).status).toBe(200)
  })

  it('a reload applies forwardProxy: a destination removed is 403 from then on', async () => {
    const p = uniquePath('reload')
    const url = `http://localhost:${plain.port}${p}`
    plain.route(p, () => ({headers: {'Cache-Control': 'no-store'}, body: 'x'}))
    expect((await get(url, 'x.test')).status).toBe(200)
    const fp = config.forwardProxy as {destinations: string[]}
    fs.writeFileSync(configFile, JSON.stringify({...config, forwardProxy: {...fp, destinations: fp.destinations.filter((x) => !x.endsWith(`:${plain.port}`))}}))
    const r = await d.admin('/reload', {method: 'POST'})
    expect(r.status, r.text).toBe(200)
    const after = await get(url, 'x.test')
    expect(after.status).toBe(403)
    expect(after.body).toMatch(/TAVERN_ERR_FORWARD_DESTINATION/)
  })
})
