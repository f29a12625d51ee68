// Today's request pipeline (real Storage on a temp dir, a real origin, UpstreamGroup, Stats; no daemon) behind the new
// listeners: the same cache semantics over HTTP/2 (TLS and h2c) and HTTP/1.1 over TLS — miss then hit, range,
// conditional, PURGE — through the compat normaliser, with nothing in src/proxy changed.

import http2 from 'node:http2'
import https from 'node:https'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createTestCa, type IssuedCert, type TestCa} from '../../helpers/certs.js'
import {type Origin, startOrigin, uniquePath} from '../../helpers/origin.js'
import {createTestPipeline, type TestPipeline} from '../../helpers/pipeline.js'
import {type Plane, startPlane} from '../../helpers/plane.js'

let ca: TestCa
let cert: IssuedCert
let origin: Origin
let pipe: TestPipeline
let tlsPlane: Plane
let h2cPlane: Plane

beforeAll(async () => {
  ca = await createTestCa()
  cert = await ca.issue({names: ['cache.test']})
  origin = await startOrigin()
  pipe = await createTestPipeline(origin.url)
  const handler = pipe.handler
  tlsPlane = await startPlane([{address: '127.0.0.1:0', tls: {cert: cert.certFile, key: cert.keyFile}}], handler)
  h2cPlane = await startPlane([{address: '127.0.0.1:0', h2c: true}], handler)
}, 60_000)
afterAll(async () => {
  await tlsPlane?.close()
  await h2cPlane?.close()
  await pipe?.close()
  await origin?.close()
  await ca?.cleanup()
})

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

type Client = (p: string, headers?: Record<string, string>, method?: string) => Promise<Answer>

function h2Client(url: () => string, tls: boolean): Client {
  return async (p, headers = {}, method = 'GET') => {
    const session = http2.connect(url(), tls ? {ca: ca.certPem, servername: 'cache.test'} : {})
    session.on('error', () => {})
    try {
      return await new Promise<Answer>((resolve, reject) => {
        const s = session.request({':path': p, ':method': method, ':authority': 'cache.test', ...headers})
        let h: http2.IncomingHttpHeaders = {}
        let body = ''
        s.setEncoding('latin1')
        s.on('response', (x) => (h = x))
        s.on('data', (d: string) => (body += d))
        s.on('end', () => resolve({status: Number(h[':status']), headers: h, body}))
        s.on('error', reject)
      })
    } finally {
      session.close()
    }
  }
}

const tlsH1: Client = (p, headers = {}, method = 'GET') =>
  new Promise((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port: tlsPlane.bound[0]!.port, path: p, method, servername: 'cache.test', ca: ca.certPem, headers: {host: 'cache.test', ...headers}, agent: false}, (res) => {
      let body = ''
      res.setEncoding('latin1')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body}))
    })
    req.on('error', reject)
    req.end()
  })

const clients: Array<[string, Client]> = [
  ['HTTP/2 over TLS', h2Client(() => `https://127.0.0.1:${tlsPlane.bound[0]!.port}`, true)],
  ['HTTP/1.1 over TLS', tlsH1],
  ['h2c', h2Client(() => `http://127.0.0.1:${h2cPlane.bound[0]!.port}`, false)],
]

describe.each(clients)('%s', (_name, get) => {
  it('miss, then hit from the cache', async () => {
    const p = uniquePath('hit')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60', 'Content-Type': 'text/plain'}, body: 'cached body'})
    const a = await get(p)
    expect(a.status).toBe(200)
    expect(a.body).toBe('cached body')
    expect(String(a.headers['cache-status'])).toMatch(/fwd=uri-miss/)
    const b = await get(p)
    expect(b.body).toBe('cached body')
    expect(String(b.headers['cache-status'])).toMatch(/hit/)
    expect(origin.countFor(p)).toBe(1)
  })

  it('range request answered 206 from the stored object', async () => {
    const p = uniquePath('range')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: '0123456789'})
    await get(p)
    const r = await get(p, {range: 'bytes=2-5'})
    expect(r.status).toBe(206)
    expect(r.body).toBe('2345')
    expect(r.headers['content-range']).toBe('bytes 2-5/10')
  })

  it('conditional request answered 304 from the cache', async () => {
    const p = uniquePath('cond')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60', ETag: '"v1"'}, body: 'etagged'})
    await get(p)
    const r = await get(p, {'if-none-match': '"v1"'})
    expect(r.status).toBe(304)
    expect(r.body).toBe('')
    expect(origin.countFor(p)).toBe(1)
  })

  it('PURGE from an allowed address removes the object', async () => {
    const p = uniquePath('purge')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'to purge'})
    await get(p)
    const purge = await get(p, {}, 'PURGE')
    expect(purge.status).toBe(200)
    const after = await get(p)
    expect(after.body).toBe('to purge')
    expect(origin.countFor(p)).toBe(2)
  })

  it('origin response fields HTTP/2 cannot carry do not break the answer', async () => {
    const p = uniquePath('dups')
    origin.route(p, {headers: ['Cache-Control', 'max-age=60', 'Content-Type', 'text/plain', 'Content-Type', 'text/html', 'Keep-Alive', 'timeout=5'], body: 'dup fields'})
    const a = await get(p)
    expect(a).toMatchObject({status: 200, body: 'dup fields'})
    const b = await get(p)
    expect(b).toMatchObject({status: 200, body: 'dup fields'})
  })
})

describe('what reaches the origin from HTTP/2 and TLS requests', () => {
  it('a POST body over HTTP/2 without Content-Length reaches the origin (requestHasBody: END_STREAM, not framing fields)', async () => {
    const p = uniquePath('post')
    origin.route(p, {status: 200, headers: {'Cache-Control': 'no-store'}, echo: true})
    const session = http2.connect(`https://127.0.0.1:${tlsPlane.bound[0]!.port}`, {ca: ca.certPem, servername: 'cache.test'})
    session.on('error', () => {})
    const body = await new Promise<string>((resolve, reject) => {
      const s = session.request({':path': p, ':method': 'POST', ':authority': 'cache.test'}, {endStream: false})
      let b = ''
      s.setEncoding('utf8')
      s.on('data', (d: string) => (b += d))
      s.on('end', () => resolve(b))
      s.on('error', reject)
      s.end('posted')
    })
    session.close()
    expect(body).toBe('posted')
  })

  it('the origin is told https for TLS requests (HTTP/2 and HTTP/1.1), http for h2c', async () => {
    for (const [i, proto] of [
      [0, 'https'],
      [1, 'https'],
      [2, 'http'],
    ] as const) {
      const p = uniquePath('proto')
      origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x'})
      await clients[i]![1](p)
      expect(origin.requestsFor(p)[0]!.header('x-forwarded-proto')).toBe(proto)
      expect(origin.requestsFor(p)[0]!.header('forwarded')).toMatch(new RegExp(`proto=${proto}$`))
    }
  })
})
