/**
 * Origin answers that lie about their framing, validators or ranges, or that hog the upstream: the proxy relays or
 * refuses them per RFC 9110/9111/9112, never stores or serves wrong bytes as complete, and keeps answering.
 * The origin is a raw TCP server (net-origin.ts) so it can put anything on the wire.
 */
import zlib from 'node:zlib'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, httpRequest, startDaemon} from '../helpers/daemon.js'
import {tavernStatus} from '../helpers/fixture.js'
import {sleep, startOrigin, uniquePath, type Origin} from '../helpers/origin.js'
import {chunk, fullResponse, LAST_CHUNK, type NetOrigin, responseHead, startNetOrigin} from './net-origin.js'

let origin: NetOrigin
let d: DaemonHandle

beforeAll(async () => {
  origin = await startNetOrigin()
  d = await startDaemon({upstream: origin.url, config: {storage: {maxDiskBytes: '64MiB'}, upstream: {headersTimeout: '3s'}}})
}, 30_000)

afterAll(async () => {
  if (d) {
    const code = await d.stop()
    if (code !== 0) console.warn(d.logs().slice(-4000))
  }
  await origin?.close()
}, 30_000)

/** The daemon is alive and serving: a fresh path answers 200. */
async function expectAlive(): Promise<void> {
  const p = uniquePath('alive')
  origin.route(p, (_req, sock) => void sock.write(fullResponse(200, ['Cache-Control', 'max-age=60'], 'alive')))
  const r = await d.request(p)
  expect(r.status).toBe(200)
  expect(r.text).toBe('alive')
  expect(d.process.exitCode).toBeNull()
}

const BODY = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'.repeat(100))

describe('a body delimited only by the connection closing (RFC 9112 §6.3, §8)', () => {
  it('cut by a connection reset: the client sees a cut body, nothing is stored', async () => {
    const p = uniquePath('reset')
    origin.route(p, async (req, sock) => {
      if (req.n > 1) {
        sock.end(fullResponse(200, ['Cache-Control', 'max-age=60'], BODY))
        return
      }
      sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Connection', 'close']))
      sock.write(BODY.subarray(0, BODY.length / 2))
      await sleep(100)
      sock.resetAndDestroy()
    })
    const r = await d.request(p, {allowIncomplete: true})
    expect(r.complete).toBe(false)
    await expectAlive()
    // Not stored: the next request goes to the origin and gets the whole body.
    const r2 = await d.request(p)
    expect(r2.status).toBe(200)
    expect(r2.body.equals(BODY)).toBe(true)
    expect(origin.countFor(p)).toBe(2)
  })

  it('ended by a clean close: complete, stored and then served as a hit', async () => {
    const p = uniquePath('fin')
    origin.route(p, async (_req, sock) => {
      sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Connection', 'close']))
      sock.write(BODY.subarray(0, 1000))
      await sleep(50)
      sock.end(BODY.subarray(1000))
    })
    const r = await d.request(p)
    expect(r.body.equals(BODY)).toBe(true)
    const r2 = await d.request(p)
    expect(r2.body.equals(BODY)).toBe(true)
    expect(tavernStatus(r2)?.params.hit).toBe(true)
    expect(origin.countFor(p)).toBe(1)
  })

  it('an HTTP/1.0 response without Content-Length reset mid-body is not stored either', async () => {
    const p = uniquePath('reset10')
    origin.route(p, async (req, sock) => {
      if (req.n > 1) {
        sock.end(fullResponse(200, ['Cache-Control', 'max-age=60'], BODY))
        return
      }
      sock.write(`HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\n\r\n`)
      sock.write(BODY.subarray(0, 500))
      await sleep(100)
      sock.resetAndDestroy()
    })
    const r = await d.request(p, {allowIncomplete: true})
    expect(r.complete).toBe(false)
    const r2 = await d.request(p)
    expect(r2.body.equals(BODY)).toBe(true)
    expect(origin.countFor(p)).toBe(2)
  })
})

describe('transfer codings other than chunked (RFC 9112 §7)', () => {
  it('Transfer-Encoding: gzip, chunked is decoded: identity bytes are relayed and stored', async () => {
    const p = uniquePath('tegzip')
    const gz = zlib.gzipSync(BODY)
    origin.route(p, (_req, sock) => {
      sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Content-Type', 'text/plain', 'Transfer-Encoding', 'gzip, chunked']))
      sock.write(Buffer.concat([chunk(gz.subarray(0, 20)), chunk(gz.subarray(20)), Buffer.from(LAST_CHUNK)]))
    })
    const r = await d.request(p)
    expect(r.status).toBe(200)
    expect(r.header('transfer-encoding')).not.toMatch(/gzip/)
    expect(r.body.equals(BODY)).toBe(true)
    const r2 = await d.request(p)
    expect(tavernStatus(r2)?.params.hit).toBe(true)
    expect(r2.body.equals(BODY)).toBe(true)
    expect(r2.header('content-length')).toBe(String(BODY.length))
  })

  it('Transfer-Encoding: deflate, chunked is decoded too', async () => {
    const p = uniquePath('tedeflate')
    origin.route(p, (_req, sock) => {
      sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Transfer-Encoding', 'deflate, chunked']))
      sock.write(Buffer.concat([chunk(zlib.deflateSync(BODY)), Buffer.from(LAST_CHUNK)]))
    })
    const r = await d.request(p)
    expect(r.body.equals(BODY)).toBe(true)
  })

  it('gzip delimited by the connection closing: decoded when it ends cleanly, cut and not stored on a reset', async () => {
    const ok = uniquePath('tegzipclose')
    origin.route(ok, (_req, sock) => {
      sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Transfer-Encoding', 'gzip']))
      sock.end(zlib.gzipSync(BODY))
    })
    expect((await d.request(ok)).body.equals(BODY)).toBe(true)
    const cut = uniquePath('tegzipreset')
    origin.route(cut, async (_req, sock) => {
      sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Transfer-Encoding', 'gzip']))
      sock.write(zlib.gzipSync(BODY).subarray(0, 40))
      await sleep(100)
      sock.resetAndDestroy()
    })
    const r = await d.request(cut, {allowIncomplete: true})
    expect(r.complete).toBe(false)
    await d.request(cut, {allowIncomplete: true})
    expect(origin.countFor(cut)).toBe(2)
  })

  it('Content-Length together with Transfer-Encoding is a 502 (RFC 9112 §6.3: a smuggling attempt)', async () => {
    const p = uniquePath('clte')
    origin.route(p, (_req, sock) => {
      sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Content-Length', '3', 'Transfer-Encoding', 'chunked']))
      sock.write(Buffer.concat([chunk('hello world'), Buffer.from(LAST_CHUNK)]))
    })
    const r = await d.request(p, {allowIncomplete: true})
    expect(r.status).toBe(502)
    await expectAlive()
  })

  it('an unknown transfer coding is a 502, nothing stored', async () => {
    const p = uniquePath('tefoo')
    origin.route(p, (_req, sock) => {
      sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Transfer-Encoding', 'foo, chunked']))
      sock.write(Buffer.concat([chunk('abc'), Buffer.from(LAST_CHUNK)]))
    })
    const r = await d.request(p)
    expect(r.status).toBe(502)
    expect(r.text).not.toContain('abc')
    await expectAlive()
    await d.request(p)
    expect(origin.countFor(p)).toBe(2)
  })

  it('a decompression bomb is cut, not stored, and the daemon keeps answering', async () => {
    const p = uniquePath('bomb')
    // 128 MiB of zeros in ~128 KiB of gzip; the disk budget is 64 MiB.
    const bomb = zlib.gzipSync(Buffer.alloc(128 * 1024 * 1024))
    origin.route(p, (_req, sock) => {
      sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Transfer-Encoding', 'gzip, chunked']))
      sock.write(Buffer.concat([chunk(bomb), Buffer.from(LAST_CHUNK)]))
    })
    const r = await d.request(p, {allowIncomplete: true, timeoutMs: 30_000})
    expect(r.status !== 200 || !r.complete).toBe(true)
    expect(r.body.length).toBeLessThanOrEqual(64 * 1024 * 1024)
    await expectAlive()
  }, 40_000)
})

describe('Content-Length claims that are not lengths', () => {
  for (const cl of ['18014398509481984', '99999999999999999999', '12abc']) {
    it(`Content-Length: ${cl} is a 502 (RFC 9112 §6.3)`, async () => {
      const p = uniquePath('cl')
      origin.route(p, (_req, sock) => {
        sock.write(responseHead(200, ['Cache-Control', 'max-age=60', 'Content-Length', cl]))
        sock.end('short body')
      })
      const r = await d.request(p, {allowIncomplete: true})
      expect(r.status).toBe(502)
      await expectAlive()
    })
  }
})

describe('304 that names another representation (RFC 9111 §4.3.4)', () => {
  it('does not update the stored response; an unconditional refetch answers the request', async () => {
    const p = uniquePath('etag304')
    origin.route(p, (req, sock) => {
      if (req.n === 1) sock.write(fullResponse(200, ['Cache-Control', 'max-age=0, must-revalidate', 'ETag', '"a"'], 'version-a'))
      else if (req.header('if-none-match') !== undefined) sock.write(fullResponse(304, ['Cache-Control', 'max-age=3600', 'ETag', '"b"']))
      else sock.write(fullResponse(200, ['Cache-Control', 'max-age=3600', 'ETag', '"b"'], 'version-b'))
    })
    const r1 = await d.request(p)
    expect(r1.text).toBe('version-a')
    const r2 = await d.request(p)
    expect(r2.status).toBe(200)
    expect(r2.header('etag')).toBe('"b"')
    expect(r2.text).toBe('version-b')
    const reqs = origin.requestsFor(p)
    expect(reqs).toHaveLength(3)
    expect(reqs[1]!.header('if-none-match')).toBe('"a"')
    expect(reqs[2]!.header('if-none-match')).toBeUndefined()
    // The refetched 200 replaced the object: a hit with version-b.
    const r3 = await d.request(p)
    expect(tavernStatus(r3)?.params.hit).toBe(true)
    expect(r3.text).toBe('version-b')
    expect(r3.header('etag')).toBe('"b"')
  })

  it('a matching 304 still refreshes the stored response', async () => {
    const p = uniquePath('etag304ok')
    origin.route(p, (req, sock) => {
      if (req.n === 1) sock.write(fullResponse(200, ['Cache-Control', 'max-age=0, must-revalidate', 'ETag', '"a"'], 'version-a'))
      else sock.write(fullResponse(304, ['Cache-Control', 'max-age=3600', 'ETag', '"a"']))
    })
    await d.request(p)
    const r2 = await d.request(p)
    expect(r2.text).toBe('version-a')
    expect(tavernStatus(r2)?.params['fwd-status']).toBe('304')
    const r3 = await d.request(p)
    expect(tavernStatus(r3)?.params.hit).toBe(true)
    expect(origin.countFor(p)).toBe(2)
  })

  it('when the refetch fails, the stored response is left as it was', async () => {
    const p = uniquePath('etag304fail')
    origin.route(p, (req, sock) => {
      if (req.n === 1) sock.write(fullResponse(200, ['Cache-Control', 'max-age=0, must-revalidate', 'ETag', '"a"'], 'version-a'))
      else if (req.n === 2) sock.write(fullResponse(304, ['Cache-Control', 'max-age=3600', 'ETag', '"b"']))
      else if (req.n === 3) sock.write(fullResponse(500, ['Cache-Control', 'no-store'], 'down'))
      else sock.write(fullResponse(304, ['Cache-Control', 'max-age=3600', 'ETag', '"a"']))
    })
    await d.request(p)
    const r2 = await d.request(p)
    expect(r2.status).toBe(500)
    expect(r2.text).not.toContain('version-a')
    // The record still holds version-a with ETag "a": the next 304 for "a" refreshes it.
    const r3 = await d.request(p)
    expect(r3.text).toBe('version-a')
    expect(r3.header('etag')).toBe('"a"')
  })
})

describe('a stored 200 that carries a Content-Range', () => {
  it('replays it on full answers; a 206 built from it carries only its own Content-Range', async () => {
    const p = uniquePath('cr200')
    origin.route(p, (_req, sock) => void sock.write(fullResponse(200, ['Cache-Control', 'max-age=60', 'Content-Range', 'bytes 0-9/10'], '0123456789')))
    const r1 = await d.request(p)
    expect(r1.header('content-range')).toBe('bytes 0-9/10')
    const r2 = await d.request(p)
    expect(tavernStatus(r2)?.params.hit).toBe(true)
    expect(r2.headerAll('content-range')).toEqual(['bytes 0-9/10'])
    const r3 = await d.request(p, {headers: {range: 'bytes=2-4'}})
    expect(r3.status).toBe(206)
    expect(r3.headerAll('content-range')).toEqual(['bytes 2-4/10'])
    expect(r3.text).toBe('234')
  })

  it('a 200 whose Content-Range says it is only a part is relayed, not stored', async () => {
    const p = uniquePath('cr200part')
    origin.route(p, (_req, sock) => void sock.write(fullResponse(200, ['Cache-Control', 'max-age=60', 'Content-Range', 'bytes 0-4/10'], '01234')))
    const r1 = await d.request(p)
    expect(r1.status).toBe(200)
    expect(r1.text).toBe('01234')
    expect(tavernStatus(r1)?.params.detail).toMatch(/part/)
    await d.request(p)
    expect(origin.countFor(p)).toBe(2)
  })
})

describe('answers that do not fit the request', () => {
  it('a 206 to a request without Range is a 502, not stored', async () => {
    const p = uniquePath('206plain')
    origin.route(p, (_req, sock) => void sock.write(fullResponse(206, ['Cache-Control', 'max-age=60', 'Content-Range', 'bytes 0-4/10'], '01234')))
    const r = await d.request(p)
    expect(r.status).toBe(502)
    await d.request(p)
    expect(origin.countFor(p)).toBe(2)
  })

  it('a 304 to a request without conditions is a 502', async () => {
    const p = uniquePath('304plain')
    origin.route(p, (_req, sock) => void sock.write(fullResponse(304, ['Cache-Control', 'max-age=60', 'ETag', '"x"'])))
    const r = await d.request(p)
    expect(r.status).toBe(502)
    await expectAlive()
  })

  it('a flood of interim responses (more than 1,024) is cut with a 502', async () => {
    const p = uniquePath('flood')
    origin.route(p, async (_req, sock) => {
      for (let i = 0; i < 1100 && !sock.destroyed; i++) {
        sock.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n')
        if (i % 20 === 0) await sleep(5)
      }
      if (!sock.destroyed) sock.write(fullResponse(200, ['Cache-Control', 'no-store'], 'late'))
    })
    const r = await d.request(p, {allowIncomplete: true})
    expect(r.status).toBe(502)
    expect(r.text).toMatch(/interim/)
    await expectAlive()
  })

  it('interim responses dripping past headersTimeout end in a 504: each one does not restart the clock', async () => {
    const p = uniquePath('drip103')
    origin.route(p, async (_req, sock) => {
      // One every 300 ms for up to 9 s: each alone would restart undici's headers timeout.
      for (let i = 0; i < 30 && !sock.destroyed; i++) {
        sock.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n')
        await sleep(300)
      }
      if (!sock.destroyed) sock.write(fullResponse(200, ['Cache-Control', 'no-store'], 'late'))
    })
    const t0 = Date.now()
    const r = await d.request(p, {allowIncomplete: true})
    expect(r.status).toBe(504)
    expect(Date.now() - t0).toBeLessThan(6000)
    await expectAlive()
  })

  it('a reset in the middle of the header section is a 502, for a fill and for a pass-through', async () => {
    const p = uniquePath('headreset')
    origin.route(p, async (_req, sock) => {
      sock.write('HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Ty')
      await sleep(50)
      sock.resetAndDestroy()
    })
    expect((await d.request(p)).status).toBe(502)
    expect((await d.request(p, {method: 'POST', body: 'x'})).status).toBe(502)
    await expectAlive()
  })

  it('a 204 followed by stray bytes: the 204 is relayed without them, the next answer is not corrupted', async () => {
    const p = uniquePath('204body')
    origin.route(p, (req, sock) => {
      if (req.header('x-n') === '1') sock.write(responseHead(204, ['Cache-Control', 'no-store']) + 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL')
      else sock.write(fullResponse(200, ['Cache-Control', 'no-store'], 'good'))
    })
    const r = await d.request(p, {headers: {'x-n': '1'}})
    expect(r.status).toBe(204)
    expect(r.body.length).toBe(0)
    for (let i = 0; i < 5; i++) expect((await d.request(p)).text).toBe('good')
    await expectAlive()
  })

  it('a HEAD answered with a body does not corrupt the next response on that connection', async () => {
    const p = uniquePath('headbody')
    origin.route(p, (req, sock) => {
      if (req.method === 'HEAD') sock.write(fullResponse(200, ['Cache-Control', 'no-store'], 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL'))
      else sock.write(fullResponse(200, ['Cache-Control', 'no-store'], 'good'))
    })
    const h = await d.request(p, {method: 'HEAD'})
    expect(h.status).toBe(200)
    for (let i = 0; i < 5; i++) {
      const r = await d.request(p)
      expect(r.text).toBe('good')
    }
    await expectAlive()
  })
})

describe('one slow URL does not starve the others of upstream connections', () => {
  let slow: Origin
  let sd: DaemonHandle

  beforeAll(async () => {
    slow = await startOrigin()
    sd = await startDaemon({upstream: slow.url, config: {upstream: {headersTimeout: '20s'}}})
  }, 30_000)

  afterAll(async () => {
    await sd?.stop()
    await slow?.close()
  }, 30_000)

  it('160 clients on a slow no-store URL (128 upstream connections); an unrelated GET is answered at once', async () => {
    const p = uniquePath('slow')
    const other = uniquePath('other')
    slow.route(p, {delayMs: 2000, headers: {'Cache-Control': 'no-store'}, body: 'slow'})
    slow.route(other, {headers: {'Cache-Control': 'no-store'}, body: 'quick'})
    const clients = Array.from({length: 160}, () => httpRequest(p, {host: '127.0.0.1', port: sd.port, timeoutMs: 60_000}))
    // The first answer (not storable) releases the followers, who then each go to the origin.
    await slow.waitForCount(p, 20, 10_000)
    await sleep(200)
    const t0 = Date.now()
    const r = await httpRequest(other, {host: '127.0.0.1', port: sd.port, timeoutMs: 15_000})
    const waited = Date.now() - t0
    expect(r.text).toBe('quick')
    expect(waited).toBeLessThan(1500)
    const all = await Promise.all(clients)
    for (const c of all) {
      expect([200, 503]).toContain(c.status)
      if (c.status === 503) expect(c.header('retry-after')).toMatch(/^\d+$/)
      else expect(c.text).toBe('slow')
    }
    // The origin never saw more concurrent requests for the slow URL than its share (25% of 128) plus the first.
    let max = 0
    const events = slow.requestsFor(p).flatMap((q) => [{t: q.receivedAt, d: 1}, {t: q.finishedAt ?? Infinity, d: -1}])
    events.sort((a, b) => a.t - b.t || a.d - b.d)
    let cur = 0
    for (const e of events) max = Math.max(max, (cur += e.d))
    expect(max).toBeLessThanOrEqual(33)
  }, 60_000)
})

describe('origin admission limits answer 503 with Retry-After, never an unbounded wait', () => {
  let slow: Origin
  let sd: DaemonHandle

  beforeAll(async () => {
    slow = await startOrigin()
    sd = await startDaemon({upstream: slow.url, config: {upstream: {connections: 4, keyShare: 0.25, keyQueue: 1, queueTimeout: '500ms'}}})
  }, 30_000)

  afterAll(async () => {
    await sd?.stop()
    await slow?.close()
  }, 30_000)

  const post = (p: string) => httpRequest(p, {host: '127.0.0.1', port: sd.port, method: 'POST', body: 'x', timeoutMs: 10_000})

  it("a key's share (1 of 4): one runs, one waits and times out, the next is refused at once", async () => {
    const p = uniquePath('share')
    slow.route(p, {delayMs: 1500, headers: {'Cache-Control': 'no-store'}, body: 'done'})
    const first = post(p)
    await slow.waitForCount(p, 1)
    const t0 = Date.now()
    const waiting = post(p)
    await sleep(100)
    const refused = await post(p)
    expect(refused.status).toBe(503)
    expect(refused.text).toMatch(/too many requests waiting/)
    const timedOut = await waiting
    expect(timedOut.status).toBe(503)
    expect(timedOut.text).toMatch(/waited 500 ms/)
    expect(timedOut.header('retry-after')).toBe('1')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450)
    expect((await first).text).toBe('done')
    expect(slow.countFor(p)).toBe(1)
  })

  it('every upstream connection taken: a request for another URL waits queueTimeout, then 503', async () => {
    const busy = Array.from({length: 4}, () => uniquePath('busy'))
    for (const p of busy) slow.route(p, {delayMs: 1500, headers: {'Cache-Control': 'no-store'}, body: 'done'})
    const running = busy.map((p) => post(p))
    for (const p of busy) await slow.waitForCount(p, 1)
    const other = uniquePath('other')
    slow.route(other, {headers: {'Cache-Control': 'no-store'}, body: 'quick'})
    const r = await httpRequest(other, {host: '127.0.0.1', port: sd.port, timeoutMs: 10_000})
    expect(r.status).toBe(503)
    expect(r.header('retry-after')).toBe('1')
    for (const x of await Promise.all(running)) expect(x.text).toBe('done')
    // Once they are done, the URL is served.
    expect((await httpRequest(other, {host: '127.0.0.1', port: sd.port})).text).toBe('quick')
  })
})
