// node:http2's compatibility objects, made to behave like node:http's where the request path relies on them
// (src/daemon/listeners/h2-compat.ts lists each difference). Every case here fails (throws, hangs, or differs) on the
// plain Http2ServerRequest / Http2ServerResponse.
import type {IncomingMessage, ServerResponse} from 'node:http'
import http2 from 'node:http2'
import {Readable} from 'node:stream'

import {describe, expect, it} from 'vitest'

import {h2ResponseHeaders, normalizeH2RequestHeaders} from '../../../src/daemon/listeners/h2-compat.js'
import {startPlane} from '../../helpers/plane.js'

interface H2Answer {
  status: number
  headers: http2.IncomingHttpHeaders
  informational: http2.IncomingHttpHeaders[]
  body: string
}

async function h2c(handler: (req: IncomingMessage, res: ServerResponse) => void, path = '/', method = 'GET'): Promise<H2Answer> {
  const p = await startPlane([{address: '127.0.0.1:0', h2c: true}], handler)
  const session = http2.connect(`http://127.0.0.1:${p.bound[0]!.port}`)
  session.on('error', () => {})
  try {
    return await new Promise<H2Answer>((resolve, reject) => {
      const s = session.request({':path': path, ':method': method})
      const informational: http2.IncomingHttpHeaders[] = []
      let headers: http2.IncomingHttpHeaders = {}
      let body = ''
      s.setEncoding('utf8')
      s.on('headers', (h) => informational.push(h))
      s.on('response', (h) => (headers = h))
      s.on('data', (d: string) => (body += d))
      s.on('end', () => resolve({status: Number(headers[':status']), headers, informational, body}))
      s.on('error', reject)
      const t = setTimeout(() => reject(new Error('no answer within 5 s (the stream hangs)')), 5000)
      s.on('close', () => clearTimeout(t))
    })
  } finally {
    session.destroy()
    await p.close()
  }
}

describe('responses', () => {
  it('connection-specific fields in writeHead are removed (Node throws for Transfer-Encoding, Upgrade, Keep-Alive…)', async () => {
    const r = await h2c((_req, res) => {
      res.writeHead(200, ['Connection', 'close', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Connection', 'keep-alive', 'TE', 'trailers', 'X-Kept', 'yes'])
      res.end('ok')
    })
    expect(r.status).toBe(200)
    expect(r.body).toBe('ok')
    expect(r.headers['x-kept']).toBe('yes')
    for (const n of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te']) expect(r.headers[n]).toBeUndefined()
  })

  it('connection-specific fields set with setHeader (e.g. Connection: close while draining) are ignored', async () => {
    const r = await h2c((_req, res) => {
      res.setHeader('connection', 'close')
      res.setHeader('transfer-encoding', 'chunked')
      res.appendHeader('keep-alive', 'timeout=1')
      res.end('ok')
    })
    expect(r).toMatchObject({status: 200, body: 'ok'})
  })

  it('repeated single-value fields keep their first value; Content-Encoding lines are joined; Set-Cookie stays repeated', async () => {
    const r = await h2c((_req, res) => {
      res.writeHead(200, 'OK', ['Content-Type', 'text/plain', 'content-type', 'text/html', 'ETag', '"a"', 'ETag', '"b"', 'Content-Encoding', 'identity', 'Content-Encoding', 'identity', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'])
      res.end('body')
    })
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('text/plain')
    expect(r.headers.etag).toBe('"a"')
    expect(r.headers['content-encoding']).toBe('identity, identity')
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2'])
  })

  it('writeHead with a header object and a reason phrase works (the phrase is dropped)', async () => {
    const r = await h2c((_req, res) => {
      res.writeHead(201, 'Created', {'Content-Type': 'application/json', 'X-Multi': ['1', '2'], Connection: 'keep-alive'})
      res.end('{}')
    })
    expect(r).toMatchObject({status: 201, body: '{}'})
    expect(r.headers['x-multi']).toBe('1, 2')
    expect(r.headers.connection).toBeUndefined()
  })

  it('writeProcessing (102) and writeEarlyHints (103) arrive as informational responses; flushHeaders sends the head', async () => {
    const r = await h2c((_req, res) => {
      ;(res as ServerResponse & {writeProcessing(): void}).writeProcessing()
      res.writeEarlyHints({link: ['</style.css>; rel=preload; as=style']})
      res.writeHead(200, ['Content-Type', 'text/plain'])
      res.flushHeaders()
      setTimeout(() => res.end('later'), 20)
    })
    expect(r.informational.map((h) => Number(h[':status']))).toEqual([102, 103])
    expect(r.informational[1]!.link).toBe('</style.css>; rel=preload; as=style')
    expect(r).toMatchObject({status: 200, body: 'later'})
  })

  it('destroyed reflects the stream, writableFinished and close behave as in node:http, a body pipes in', async () => {
    const states: unknown[] = []
    const r = await h2c((_req, res) => {
      states.push(res.destroyed)
      res.once('close', () => states.push(res.writableFinished, res.destroyed))
      res.writeHead(200, ['Content-Type', 'text/plain'])
      Readable.from(['a', 'b', 'c']).pipe(res)
    })
    expect(r.body).toBe('abc')
    expect(states).toEqual([false, true, true])
  })

  it('HEAD: the head only', async () => {
    const r = await h2c(
      (req, res) => {
        res.writeHead(200, ['Content-Length', '5'])
        res.end(req.method === 'HEAD' ? undefined : 'hello')
      },
      '/',
      'HEAD',
    )
    expect(r).toMatchObject({status: 200, body: ''})
    expect(r.headers['content-length']).toBe('5')
  })
})

describe('requests', () => {
  it('rawHeaders can be replaced (admission does), and the handler gets node:http-like fields', async () => {
    let seen: unknown
    const r = await h2c((req, res) => {
      req.rawHeaders = ['host', 'rewritten.test']
      req.url = '/normalised'
      seen = {raw: req.rawHeaders, url: req.url, method: req.method, version: req.httpVersion}
      res.end('ok')
    }, '/orig')
    expect(r.status).toBe(200)
    expect(seen).toEqual({raw: ['host', 'rewritten.test'], url: '/normalised', method: 'GET', version: '2.0'})
  })

  it('normalising the header list: pseudo-headers out, Host from :authority first, cookies joined, header list size counted', () => {
    const n = normalizeH2RequestHeaders([':method', 'GET', ':path', '/', 'cookie', 'a=1', ':authority', 'Example.test', 'accept', '*/*', 'cookie', 'b=2', ':scheme', 'https'])
    expect(n.headers).toEqual(['host', 'Example.test', 'cookie', 'a=1; b=2', 'accept', '*/*'])
    expect(n.malformed).toBeUndefined()
    expect(n.size).toBe(7 + 3 + 32 + (5 + 1 + 32) + (6 + 3 + 32) + (10 + 12 + 32) + (6 + 3 + 32) + (6 + 3 + 32) + (7 + 5 + 32))
    expect(normalizeH2RequestHeaders([':authority', 'a.test', 'host', 'b.test']).malformed).toMatch(/differ/)
    expect(normalizeH2RequestHeaders([':authority', 'a.test', 'host', 'A.TEST']).malformed).toBeUndefined()
    // No :authority: the Host lines as sent (two of them → admission answers 400 as for HTTP/1.1).
    expect(normalizeH2RequestHeaders([':path', '/', 'host', 'a.test', 'host', 'b.test']).headers).toEqual(['host', 'a.test', 'host', 'b.test'])
  })

  it('h2ResponseHeaders returns the same array when nothing changes (no copy on the hot path)', () => {
    const h = ['Content-Type', 'text/plain', 'Cache-Control', 'max-age=60', 'Set-Cookie', 'a', 'Set-Cookie', 'b']
    expect(h2ResponseHeaders(h)).toBe(h)
    expect(h2ResponseHeaders(['Connection', 'close', 'A', '1'])).toEqual(['A', '1'])
    expect(h2ResponseHeaders(['Content-Language', 'en', 'X', '1', 'content-language', 'de'])).toEqual(['Content-Language', 'en, de', 'X', '1'])
  })
})
