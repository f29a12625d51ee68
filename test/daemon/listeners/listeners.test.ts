// The data-plane listener factories with real clients (Node's https and http2, undici with allowH2, curl): plain
// HTTP/1.1 as before, TLS with HTTP/1.1 and HTTP/2 on one port (ALPN), h2c with prior knowledge next to HTTP/1.1 on a
// plain port. The handler sees the same request shape on every one (Host from :authority, scheme, body presence).
import {execFile} from 'node:child_process'
import {X509Certificate} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import {promisify} from 'node:util'

import {Agent, request as undiciRequest} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {requestHasBody, requestProtocol, requestScheme, viaProtocolVersion} from '../../../src/proxy/downstream.js'
import {createTestCa, type IssuedCert, type TestCa} from '../../helpers/certs.js'
import {startPlane} from '../../helpers/plane.js'
import {waitFor} from '../../helpers/wait.js'

const run = promisify(execFile)

let ca: TestCa
let site: IssuedCert
let api: IssuedCert

beforeAll(async () => {
  ca = await createTestCa()
  site = await ca.issue({names: ['site.test', '*.site.test']})
  api = await ca.issue({names: ['api.test']})
}, 30_000)
afterAll(async () => {
  await ca?.cleanup()
})

interface Seen {
  method: string
  url: string
  rawHeaders: string[]
  scheme: string
  protocol: string
  hasBody: boolean
  via: string
  remote: string | undefined
  body: string
}

/** Reports what the request path would read from the request. */
function echo(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const seen: Seen = {
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: req.rawHeaders,
      scheme: requestScheme(req),
      protocol: requestProtocol(req),
      hasBody: requestHasBody(req),
      via: viaProtocolVersion(req),
      remote: req.socket.remoteAddress,
      body: Buffer.concat(chunks).toString(),
    }
    const body = JSON.stringify(seen)
    res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body))])
    res.end(body)
  })
}

function tlsListen(extra: Record<string, unknown> = {}) {
  return [{address: '127.0.0.1:0', tls: {cert: site.certFile, key: site.keyFile, sni: [{cert: api.certFile, key: api.keyFile}]}, ...extra}]
}

async function h2Get(origin: string, path: string, opts: {headers?: http2.OutgoingHttpHeaders; body?: string; connect?: http2.SecureClientSessionOptions} = {}): Promise<{status: number; headers: http2.IncomingHttpHeaders; body: string; session: http2.ClientHttp2Session}> {
  const session = http2.connect(origin, {ca: ca.certPem, ...opts.connect})
  session.on('error', () => {})
  try {
    return await new Promise((resolve, reject) => {
      const s = session.request({':path': path, ...opts.headers}, {endStream: opts.body === undefined})
      let body = ''
      let headers: http2.IncomingHttpHeaders = {}
      s.setEncoding('utf8')
      s.on('response', (h) => (headers = h))
      s.on('data', (d: string) => (body += d))
      s.on('end', () => resolve({status: Number(headers[':status']), headers, body, session}))
      s.on('error', reject)
      if (opts.body !== undefined) s.end(opts.body)
    })
  } finally {
    session.close()
  }
}

function httpsGet(port: number, path: string, opts: {servername?: string; headers?: http.OutgoingHttpHeaders} = {}): Promise<{status: number; body: string; cert: string; alpn: string | false | null}> {
  return new Promise((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port, path, servername: opts.servername ?? 'site.test', ca: ca.certPem, headers: {host: opts.servername ?? 'site.test', ...opts.headers}, agent: false}, (res) => {
      let body = ''
      const socket = res.socket as tls.TLSSocket
      const cert = socket.getPeerCertificate().fingerprint256
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body, cert, alpn: socket.alpnProtocol}))
    })
    req.on('error', reject)
    req.end()
  })
}

function fp(c: IssuedCert): string {
  return new X509Certificate(c.certPem).fingerprint256
}

describe('plain HTTP/1.1 (as before)', () => {
  it('a plain string listen entry serves HTTP/1.1 with the http scheme', async () => {
    const p = await startPlane('127.0.0.1:0', echo)
    const port = p.bound[0]!.port
    expect(p.bound[0]).toMatchObject({scheme: 'http', http2: false})
    const r = await undiciRequest(`http://127.0.0.1:${port}/a?b=1`, {headers: {host: 'plain.test'}})
    const seen = (await r.body.json()) as Seen
    expect(seen).toMatchObject({method: 'GET', url: '/a?b=1', scheme: 'http', protocol: 'http/1.1', hasBody: false, via: '1.1'})
    expect(seen.rawHeaders).toContain('plain.test')
    await p.close()
  })
})

describe('TLS listener', () => {
  it('HTTP/1.1 over TLS: https scheme, the certificate chosen by SNI', async () => {
    const p = await startPlane(tlsListen(), echo)
    const port = p.bound[0]!.port
    expect(p.bound[0]).toMatchObject({scheme: 'https', http2: true})
    const r = await httpsGet(port, '/x')
    expect(r.status).toBe(200)
    expect(r.cert).toBe(fp(site))
    expect(JSON.parse(r.body)).toMatchObject({scheme: 'https', protocol: 'http/1.1', url: '/x'})
    const a = await httpsGet(port, '/y', {servername: 'api.test'})
    expect(a.cert).toBe(fp(api))
    const w = await httpsGet(port, '/z', {servername: 'img.site.test'})
    expect(w.cert).toBe(fp(site))
    await p.close()
  })

  it('HTTP/2 over TLS (ALPN h2): Host from :authority, no pseudo-headers, cookies joined, same handler', async () => {
    const p = await startPlane(tlsListen(), echo)
    const port = p.bound[0]!.port
    const r = await h2Get(`https://site.test:${port}`, '/h2?q=1', {headers: {cookie: ['a=1', 'b=2'], 'x-test': 'yes'}, connect: {host: '127.0.0.1', servername: 'site.test'} as http2.SecureClientSessionOptions})
    expect(r.status).toBe(200)
    const seen = JSON.parse(r.body) as Seen
    expect(seen).toMatchObject({method: 'GET', url: '/h2?q=1', scheme: 'https', protocol: 'h2', hasBody: false, via: '2'})
    expect(seen.rawHeaders.filter((_, i) => i % 2 === 0 && seen.rawHeaders[i]!.startsWith(':'))).toEqual([])
    expect(seen.rawHeaders.slice(0, 2)).toEqual(['host', `site.test:${port}`])
    expect(seen.rawHeaders.filter((n, i) => i % 2 === 0 && n === 'cookie')).toHaveLength(1)
    expect(seen.rawHeaders[seen.rawHeaders.indexOf('cookie') + 1]).toBe('a=1; b=2')
    expect(seen.remote).toBe('127.0.0.1')
    await p.close()
  })

  it('HTTP/2: a POST body without Content-Length is seen as a body', async () => {
    const p = await startPlane(tlsListen(), echo)
    const r = await h2Get(`https://127.0.0.1:${p.bound[0]!.port}`, '/post', {headers: {':method': 'POST'}, body: 'payload', connect: {servername: 'site.test'} as http2.SecureClientSessionOptions})
    expect(JSON.parse(r.body)).toMatchObject({method: 'POST', hasBody: true, body: 'payload'})
    await p.close()
  })

  it('HTTP/2: Host and :authority that differ are refused (400) before the handler, CONNECT is 405', async () => {
    let calls = 0
    const p = await startPlane(tlsListen(), (req, res) => {
      calls++
      echo(req, res)
    })
    const origin = `https://127.0.0.1:${p.bound[0]!.port}`
    const connect = {servername: 'site.test'} as http2.SecureClientSessionOptions
    const bad = await h2Get(origin, '/x', {headers: {':authority': 'site.test', host: 'evil.test'}, connect})
    expect(bad.status).toBe(400)
    expect(bad.body).toMatch(/Host .* and :authority .* differ/)
    const same = await h2Get(origin, '/x', {headers: {':authority': 'site.test', host: 'SITE.test'}, connect})
    expect(same.status).toBe(200)
    const session = http2.connect(origin, {ca: ca.certPem, servername: 'site.test'})
    session.on('error', () => {})
    const status = await new Promise<number>((resolve, reject) => {
      const s = session.request({':method': 'CONNECT', ':authority': 'target.test:443'})
      s.on('response', (h) => resolve(Number(h[':status'])))
      s.on('error', reject)
    })
    session.destroy()
    expect(status).toBe(405)
    expect(calls).toBe(1)
    await p.close()
  })

  it('undici with allowH2 and curl --http2 / --http1.1 get answers on the same port', async () => {
    const p = await startPlane(tlsListen(), echo)
    const port = p.bound[0]!.port
    const agent = new Agent({allowH2: true, connect: {ca: ca.certPem, servername: 'site.test'}})
    const r = await undiciRequest(`https://127.0.0.1:${port}/undici`, {dispatcher: agent})
    expect(JSON.parse(await r.body.text())).toMatchObject({protocol: 'h2', scheme: 'https', url: '/undici'})
    await agent.close()
    const curl = async (flag: string) =>
      JSON.parse((await run('curl', ['-sS', flag, '--cacert', ca.certFile, '--resolve', `site.test:${port}:127.0.0.1`, `https://site.test:${port}/curl`], {timeout: 10_000})).stdout) as Seen
    expect(await curl('--http2')).toMatchObject({protocol: 'h2', url: '/curl'})
    expect(await curl('--http1.1')).toMatchObject({protocol: 'http/1.1', url: '/curl'})
    await p.close()
  })

  it('http2: false offers only http/1.1 by ALPN', async () => {
    const p = await startPlane(tlsListen({http2: false}), echo)
    const r = await httpsGet(p.bound[0]!.port, '/x')
    expect(JSON.parse(r.body)).toMatchObject({protocol: 'http/1.1'})
    const alpn = await new Promise<string | false | null>((resolve, reject) => {
      const s = tls.connect({port: p.bound[0]!.port, host: '127.0.0.1', servername: 'site.test', ALPNProtocols: ['h2', 'http/1.1'], ca: ca.certPem}, () => {
        resolve(s.alpnProtocol)
        s.destroy()
      })
      s.on('error', reject)
    })
    expect(alpn).toBe('http/1.1')
    await p.close()
  })

  it('TLS 1.1 and older are refused; TLS 1.2 and 1.3 are served', async () => {
    const p = await startPlane(tlsListen(), echo)
    const port = p.bound[0]!.port
    const attempt = (maxVersion: tls.SecureVersion, minVersion: tls.SecureVersion = 'TLSv1') =>
      new Promise<string>((resolve) => {
        const s = tls.connect({port, host: '127.0.0.1', servername: 'site.test', minVersion, maxVersion, rejectUnauthorized: false, ciphers: 'DEFAULT@SECLEVEL=0'}, () => {
          resolve(s.getProtocol() ?? '')
          s.destroy()
        })
        s.on('error', (e) => resolve(`error: ${e.message}`))
      })
    expect(await attempt('TLSv1.1')).toMatch(/^error/)
    expect(await attempt('TLSv1.2', 'TLSv1.2')).toBe('TLSv1.2')
    expect(await attempt('TLSv1.3', 'TLSv1.3')).toBe('TLSv1.3')
    await p.close()
    // tls.minVersion is applied to every context (SNI ones and the default).
    const strict = await startPlane(tlsListen(), echo, {tls: {minVersion: 'TLSv1.3'}})
    const sport = strict.bound[0]!.port
    for (const servername of ['site.test', 'api.test', undefined]) {
      const r = await new Promise<string>((resolve) => {
        const s = tls.connect({port: sport, host: '127.0.0.1', servername, maxVersion: 'TLSv1.2', rejectUnauthorized: false}, () => {
          resolve(s.getProtocol() ?? '')
          s.destroy()
        })
        s.on('error', (e) => resolve(`error: ${e.message}`))
      })
      expect(r).toMatch(/^error/)
    }
    await strict.close()
  })

  it('a TLS request head that does not complete within headersTimeout gets 408; a silent handshake is cut at handshakeTimeout', async () => {
    const p = await startPlane(tlsListen(), echo, {server: {headersTimeout: '1s', requestTimeout: '10s'}, tls: {handshakeTimeout: '500ms'}})
    const port = p.bound[0]!.port
    const s = tls.connect({port, host: '127.0.0.1', servername: 'site.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1']})
    let got = ''
    s.on('data', (d: Buffer) => (got += d.toString('latin1')))
    s.on('error', () => {})
    await new Promise((r) => s.once('secureConnect', r))
    const t0 = Date.now()
    s.write('GET /slow HTTP/1.1\r\nHost: site.test\r\n')
    await new Promise((r) => s.once('close', r))
    expect(got).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
    expect(Date.now() - t0).toBeLessThan(2500)

    const raw = net.connect(port, '127.0.0.1')
    raw.on('error', () => {})
    const rawClosed = new Promise<number>((resolve) => {
      const start = Date.now()
      raw.once('close', () => resolve(Date.now() - start))
    })
    expect(await rawClosed).toBeLessThan(2500)
    await p.close()
  })

  it('connections waiting in the handshake count against maxConnections; idle ones make room for a new client', async () => {
    const p = await startPlane(tlsListen(), echo, {maxConnections: 5})
    const port = p.bound[0]!.port
    const idle = Array.from({length: 20}, () => {
      const s = net.connect(port, '127.0.0.1')
      s.on('error', () => {})
      return s
    })
    await Promise.all(idle.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r) : r(undefined)))))
    await waitFor(() => p.plane.openConnections <= 5 && p.plane.evicted >= 15, {message: 'the limit to hold'})
    const r = await httpsGet(port, '/after-flood')
    expect(r.status).toBe(200)
    for (const s of idle) s.destroy()
    await p.close()
  })

  it('drain: an HTTP/2 session gets GOAWAY, its request in progress finishes; new connections are refused', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    const p = await startPlane(tlsListen(), (req, res) => {
      void gate.then(() => echo(req, res))
    })
    const port = p.bound[0]!.port
    const session = http2.connect(`https://127.0.0.1:${port}`, {ca: ca.certPem, servername: 'site.test'})
    session.on('error', () => {})
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)))
    const pending = new Promise<number>((resolve, reject) => {
      const s = session.request({':path': '/slow'})
      s.on('response', (h) => resolve(Number(h[':status'])))
      s.on('error', reject)
      s.resume()
    })
    await waitFor(() => p.plane.activeRequests === 1, {message: 'the request to arrive'})
    const drained = p.close(5000)
    expect(await goaway).toBe(0)
    release()
    expect(await pending).toBe(200)
    expect(await drained).toEqual({unfinished: 0})
    session.destroy()
  })

  it('refuses to start with a broken certificate, naming the file', async () => {
    const bad = await ca.issue({names: ['bad.test'], mismatchedKey: true})
    await expect(startPlane([{address: '127.0.0.1:0', tls: {cert: bad.certFile, key: bad.keyFile}}], echo)).rejects.toThrow(/does not match the certificate/)
  })

  it('an accept error after listening is a warning, not a crash', async () => {
    const p = await startPlane(tlsListen(), echo)
    const front = (p.plane as unknown as {list: Array<{front: net.Server}>}).list[0]!.front
    const err = Object.assign(new Error('accept EMFILE'), {code: 'EMFILE', syscall: 'accept'})
    expect(() => front.emit('error', err)).not.toThrow()
    expect(p.warnings.map((w) => w.fields.code)).toEqual(['EMFILE'])
    await p.close()
  })
})

describe('h2c (prior knowledge) beside HTTP/1.1 on a plain port', () => {
  it('serves both protocols on one port, http scheme', async () => {
    const p = await startPlane([{address: '127.0.0.1:0', h2c: true}], echo)
    const port = p.bound[0]!.port
    expect(p.bound[0]).toMatchObject({scheme: 'http', http2: true})
    const h2 = await h2Get(`http://127.0.0.1:${port}`, '/h2c', {headers: {':authority': 'plain.test'}})
    expect(JSON.parse(h2.body)).toMatchObject({protocol: 'h2', scheme: 'http', url: '/h2c'})
    const h1 = await undiciRequest(`http://127.0.0.1:${port}/h1`, {headers: {host: 'plain.test'}})
    expect((await h1.body.json()) as Seen).toMatchObject({protocol: 'http/1.1', scheme: 'http', url: '/h1'})
    const curl = JSON.parse((await run('curl', ['-sS', '--http2-prior-knowledge', `http://127.0.0.1:${port}/curl`], {timeout: 10_000})).stdout) as Seen
    expect(curl).toMatchObject({protocol: 'h2', url: '/curl'})
    await p.close()
  })

  it('a preface and a request head split over several writes are still told apart', async () => {
    const p = await startPlane([{address: '127.0.0.1:0', h2c: true}], echo)
    const port = p.bound[0]!.port
    const s = net.connect(port, '127.0.0.1')
    let got = ''
    s.on('data', (d: Buffer) => (got += d.toString('latin1')))
    await new Promise((r) => s.once('connect', r))
    s.write('G')
    await new Promise((r) => setTimeout(r, 20))
    s.write('ET /split HTTP/1.1\r\nHost: split.test\r\n\r\n')
    await waitFor(() => got.includes('"/split"'), {message: 'the split HTTP/1.1 request to be answered'})
    s.destroy()
    // HTTP/2: the preface in two writes (the http2 client writes it whole, so by hand).
    const raw = net.connect(port, '127.0.0.1')
    let frames = Buffer.alloc(0)
    raw.on('data', (d: Buffer) => (frames = Buffer.concat([frames, d])))
    await new Promise((r) => raw.once('connect', r))
    raw.write('PRI * HTTP/2.0\r\n')
    await new Promise((r) => setTimeout(r, 20))
    raw.write('\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00')
    // The server's SETTINGS frame (type 4) is the answer of an HTTP/2 server.
    await waitFor(() => frames.length >= 9 && frames[3] === 4, {message: 'an HTTP/2 SETTINGS frame'})
    raw.destroy()
    await p.close()
  })
})
