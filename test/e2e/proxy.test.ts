// The plain reverse proxy (RFC 9110 intermediary rules), independent of caching.
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {upstreamHeadersTimeout} from '../helpers/config.js'
import {makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {useProxy} from '../helpers/fixture.js'
import {sleep, startOrigin, uniquePath} from '../helpers/origin.js'

const t = useProxy({config: upstreamHeadersTimeout(500)})

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('forwarding', () => {
  it('GET: status, headers, body and the request target (path + query) pass through', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {status: 200, headers: {'Content-Type': 'text/plain', 'X-Origin': 'yes'}, body: 'hello'})
    const r = await t.get(`${p}?a=1&b=%20x`)
    expect(r.status).toBe(200)
    expect(r.text).toBe('hello')
    expect(r.header('x-origin')).toBe('yes')
    expect(t.origin.requestsFor(p)[0]!.url).toBe(`${p}?a=1&b=%20x`)
  })

  it('percent-encoded paths are forwarded unchanged', async () => {
    const p = uniquePath('proxy')
    t.origin.route(`${p}/a%2Fb`, {body: 'enc'})
    const r = await t.get(`${p}/a%2Fb`)
    expect(r.text).toBe('enc')
  })

  it('POST with a body reaches the origin intact', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {status: 201, body: 'created'})
    const r = await t.get(p, {method: 'POST', body: 'name=value', headers: {'Content-Type': 'application/x-www-form-urlencoded'}})
    expect(r.status).toBe(201)
    const seen = t.origin.requestsFor(p)[0]!
    expect(seen.method).toBe('POST')
    expect(seen.body.toString()).toBe('name=value')
    expect(seen.header('content-type')).toBe('application/x-www-form-urlencoded')
  })

  it('PUT with a Content-Length body reaches the origin intact', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {status: 204})
    const body = Buffer.alloc(100_000, 0x42)
    const r = await t.get(p, {method: 'PUT', body})
    expect(r.status).toBe(204)
    expect(t.origin.requestsFor(p)[0]!.body.equals(body)).toBe(true)
  })

  it('a 5 MB chunked POST body is streamed to the origin and echoed back with the right length', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {echo: true, headers: {'Content-Type': 'application/octet-stream'}})
    const chunk = Buffer.alloc(64 * 1024)
    for (let i = 0; i < chunk.length; i++) chunk[i] = i & 0xff
    const n = 80 // 5 MiB
    const full = Buffer.concat(Array.from({length: n}, () => chunk))
    const r = await t.get(p, {
      method: 'POST',
      body: (function* () {
        for (let i = 0; i < n; i++) yield chunk
      })(),
      timeoutMs: 30_000,
    })
    expect(r.status).toBe(200)
    expect(r.body.length).toBe(full.length)
    expect(sha(r.body)).toBe(sha(full))
    expect(t.origin.requestsFor(p)[0]!.body.length).toBe(full.length)
  })

  it('a 5 MB POST with Content-Length is echoed with the right Content-Length', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {echo: true})
    const full = Buffer.alloc(5 * 1024 * 1024, 0x37)
    const r = await t.get(p, {method: 'POST', body: full, timeoutMs: 30_000})
    expect(r.header('content-length')).toBe(String(full.length))
    expect(r.body.length).toBe(full.length)
  })

  it('an unusual status code (999) is passed through', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {status: 999, statusText: 'Odd', body: 'odd'})
    const r = await t.get(p)
    expect(r.status).toBe(999)
    expect(r.text).toBe('odd')
  })

  it('an unusual method (M-SEARCH) is passed through', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {body: 'searched'})
    const r = await t.get(p, {method: 'M-SEARCH'})
    expect(r.text).toBe('searched')
    expect(t.origin.requestsFor(p)[0]!.method).toBe('M-SEARCH')
  })

  it('HEAD is forwarded as HEAD and Content-Length passes through', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'twelve bytes'})
    const r = await t.get(p, {method: 'HEAD'})
    expect(r.status).toBe(200)
    expect(r.body.length).toBe(0)
    expect(r.header('content-length')).toBe('12')
    expect(t.origin.requestsFor(p)[0]!.method).toBe('HEAD')
  })
})

describe('intermediary headers', () => {
  it('fields named in Connection are not forwarded (request), nor Connection itself', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {body: 'ok'})
    await t.get(p, {headers: {Connection: 'x-foo, keep-alive', 'X-Foo': 'secret', 'X-Bar': 'kept'}})
    const seen = t.origin.requestsFor(p)[0]!
    expect(seen.header('x-foo')).toBeUndefined()
    expect(seen.header('x-bar')).toBe('kept')
    expect(seen.header('connection') ?? '').not.toMatch(/x-foo/i)
  })

  it('well-known hop-by-hop request fields are not forwarded: Keep-Alive, TE, Upgrade, Proxy-Connection (SHOULD)', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {body: 'ok'})
    await t.get(p, {headers: {'Keep-Alive': 'timeout=99', TE: 'deflate', Upgrade: 'h2c-test', 'Proxy-Connection': 'keep-alive', 'Proxy-Authorization': 'Basic eDp5'}})
    const seen = t.origin.requestsFor(p)[0]!
    expect(seen.header('keep-alive') ?? '').not.toMatch(/99/)
    expect(seen.header('te') ?? '').not.toMatch(/deflate/)
    expect(seen.header('upgrade')).toBeUndefined()
    expect(seen.header('proxy-connection')).toBeUndefined()
  })

  it('fields named in the origin response Connection header are not forwarded to the client', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {headers: ['Connection', 'x-hop', 'X-Hop', 'secret', 'Keep-Alive', 'timeout=99', 'X-End', 'kept'], body: 'ok'})
    const r = await t.get(p)
    expect(r.header('x-hop')).toBeUndefined()
    expect(r.header('x-end')).toBe('kept')
    expect(r.header('connection') ?? '').not.toMatch(/x-hop/i)
    expect(r.header('keep-alive') ?? '').not.toMatch(/99/)
  })

  it('Via is added to the forwarded request (and appended to an existing one)', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {body: 'ok'})
    await t.get(p)
    await t.get(p, {headers: {Via: '1.0 fred'}})
    const [a, b] = t.origin.requestsFor(p)
    expect(a!.headerAll('via').join(', ')).toMatch(/^1\.1 tavern\b/)
    expect(b!.headerAll('via').join(', ')).toMatch(/^1\.0 fred, 1\.1 tavern\b/)
  })

  it('X-Forwarded-For / -Proto / -Host are added; a client (not a trusted proxy) cannot prepend to X-Forwarded-For', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {body: 'ok'})
    await t.get(p, {headers: {Host: 'www.example.test'}})
    await t.get(p, {headers: {'X-Forwarded-For': '203.0.113.9'}})
    const [a, b] = t.origin.requestsFor(p)
    expect(a!.header('x-forwarded-for')).toMatch(/^(::ffff:)?127\.0\.0\.1$/)
    expect(a!.header('x-forwarded-proto')).toBe('http')
    expect(a!.header('x-forwarded-host')).toBe('www.example.test')
    expect(b!.headerAll('x-forwarded-for').join(', ')).toMatch(/^(::ffff:)?127\.0\.0\.1$/)
  })
})

describe('upstream failures', () => {
  it('504 when the origin does not send headers within upstream.headersTimeout', async () => {
    const p = uniquePath('proxy')
    t.origin.route(p, {delayMs: 4000, body: 'too late'})
    const started = Date.now()
    const r = await t.get(p)
    expect(r.status).toBe(504)
    expect(Date.now() - started).toBeLessThan(3500)
  })

  it('502 when the origin port is closed', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const a = s.address() as net.AddressInfo
        s.close(() => resolve(a.port))
      })
    })
    const d = await startDaemon({upstream: `http://127.0.0.1:${port}`})
    try {
      const r = await d.request('/anything')
      expect(r.status).toBe(502)
    } finally {
      expect(await d.stop()).toBe(0)
    }
  })
})

describe('process lifecycle', () => {
  it('SIGTERM with an in-flight slow request: the request completes, exit 0, the socket file is gone', async () => {
    const o = await startOrigin()
    const d = await startDaemon({upstream: o.url})
    try {
      const p = uniquePath('drain')
      const body = 'a'.repeat(6000)
      o.route(p, {headers: {'Cache-Control': 'no-store'}, body, chunkSize: 1000, chunkDelayMs: 250})
      const inflight = d.request(p)
      await o.waitForCount(p, 1)
      await sleep(100)
      const code = d.stop('SIGTERM')
      const r = await inflight
      expect(r.complete).toBe(true)
      expect(r.text).toBe(body)
      expect(await code).toBe(0)
      expect(fs.existsSync(d.socket)).toBe(false)
    } finally {
      await d.stop()
      await o.close()
    }
  })

  it('a second serve on the same socket refuses while the first runs; a stale socket file left by kill -9 is replaced', async () => {
    const first = await startDaemon({upstream: t.origin.url})
    const dir = makeTempDir()
    const second = await runCli(['serve', '--listen', '127.0.0.1:0', '--upstream', t.origin.url, '--storage', path.join(dir, 's2'), '--socket', first.socket], {timeoutMs: 15_000})
    expect(second.code, second.stdout + second.stderr).not.toBe(0)
    expect(second.stderr + second.stdout).toMatch(/socket|in use|running/i)
    // The first one is unaffected.
    const s = await first.status()
    expect(s.pid).toBe(first.pid)

    await first.kill9()
    expect(fs.existsSync(first.socket)).toBe(true) // precondition: kill -9 leaves the file
    const third = await startDaemon({upstream: t.origin.url, socket: first.socket})
    try {
      expect((await third.status()).pid).toBe(third.pid)
    } finally {
      expect(await third.stop()).toBe(0)
    }
  }, 60_000)
})
