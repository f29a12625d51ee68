// Origins over TLS and HTTP/2: the group's tls/http2 config mapped onto undici Pool options, used the way Upstream
// uses its pool (raw header lists, the reset-guard factory), against local https and h2 origins with the test CA.
import type {IncomingMessage, ServerResponse} from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import type {TLSSocket} from 'node:tls'

import {type Dispatcher, Pool} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {resetGuardedClient} from '../../src/proxy/origin/reset-guard.js'
import {loadOriginTls, originConnectOptions, OriginTlsSchema, resetInsecureWarnings} from '../../src/proxy/origin/origin-tls.js'
import {createTestCa, type IssuedCert, type TestCa} from '../helpers/certs.js'

let ca: TestCa
let originCert: IssuedCert
let clientCert: IssuedCert
const servers: Array<{close(cb: () => void): void}> = []

beforeAll(async () => {
  ca = await createTestCa()
  originCert = await ca.issue({names: ['origin.test']})
  clientCert = await ca.issue({cn: 'tavern-client', names: ['tavern-client.test'], clientAuth: true})
}, 30_000)
afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()))
  await ca?.cleanup()
})

interface Seen {
  version: string
  host: string | undefined
  via: string | undefined
  clientCn: string | undefined
}

function answer(req: IncomingMessage | http2.Http2ServerRequest, res: ServerResponse | http2.Http2ServerResponse): void {
  const socket = req.socket as TLSSocket
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined
  const seen: Seen = {version: req.httpVersion, host: ((req.headers as Record<string, unknown>)[":authority"] as string | undefined) ?? (req.headers.host as string | undefined), via: req.headers.via as unknown as string | undefined, clientCn: peer?.subject?.CN as string | undefined}
  const body = JSON.stringify(seen)
  res.writeHead(200, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)})
  res.end(body)
}

async function httpsOrigin(opts: {requestCert?: boolean} = {}): Promise<string> {
  const s = https.createServer({cert: originCert.certPem, key: originCert.keyPem, ca: ca.certPem, requestCert: opts.requestCert, rejectUnauthorized: opts.requestCert}, answer)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  servers.push(s)
  return `https://127.0.0.1:${(s.address() as AddressInfo).port}`
}

async function h2Origin(): Promise<string> {
  const s = http2.createSecureServer({cert: originCert.certPem, key: originCert.keyPem, allowHTTP1: true}, answer)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  servers.push(s)
  return `https://127.0.0.1:${(s.address() as AddressInfo).port}`
}

/** The pool as Upstream builds it, with the group's TLS/h2 options. */
async function get(origin: string, tls: unknown, http2 = false, log?: {warn(f: Record<string, unknown>, m: string): void}): Promise<Seen> {
  const loaded = await loadOriginTls(tls === undefined ? undefined : OriginTlsSchema.parse(tls), {http2, urls: [origin]})
  const o = originConnectOptions('origins', origin, loaded, {http2, connectTimeoutMs: 5000, log})
  const pool = new Pool(origin, {connections: 2, pipelining: 1, connect: o.connect, allowH2: o.allowH2, factory: resetGuardedClient})
  try {
    // servername is a dispatch option undici reads but does not declare in its types.
    const res = await pool.request({method: 'GET', path: '/x', headers: ['host', 'site.test', 'via', '1.1 tavern', 'x-forwarded-proto', 'https'], responseHeaders: 'raw', servername: o.servername} as Dispatcher.RequestOptions)
    expect(res.statusCode).toBe(200)
    return (await res.body.json()) as Seen
  } finally {
    await pool.close()
  }
}

describe('origins over TLS', () => {
  it('tls.ca + tls.servername: verified against our CA under the configured name', async () => {
    const origin = await httpsOrigin()
    const seen = await get(origin, {ca: ca.certFile, servername: 'origin.test'})
    expect(seen).toMatchObject({version: '1.1', host: 'site.test', via: '1.1 tavern'})
  })

  it('without the CA, or with the wrong name, the origin is refused', async () => {
    const origin = await httpsOrigin()
    await expect(get(origin, {servername: 'origin.test'})).rejects.toThrow(/self.signed|unable to get local issuer|certificate/i)
    await expect(get(origin, {ca: ca.certFile, servername: 'other.test'})).rejects.toThrow(/altnames|does not match|Hostname/i)
  })

  it('tls.cert / tls.key: a client certificate for an origin that requires one', async () => {
    const origin = await httpsOrigin({requestCert: true})
    await expect(get(origin, {ca: ca.certFile, servername: 'origin.test'})).rejects.toThrow()
    const seen = await get(origin, {ca: ca.certFile, servername: 'origin.test', cert: clientCert.certFile, key: clientCert.keyFile})
    expect(seen.clientCn).toBe('tavern-client')
  })

  it('tls.insecure: no verification, and one warning per group for the process', async () => {
    resetInsecureWarnings()
    const origin = await httpsOrigin()
    const warnings: string[] = []
    const log = {warn: (_f: Record<string, unknown>, m: string) => warnings.push(m)}
    expect((await get(origin, {insecure: true}, false, log)).version).toBe('1.1')
    expect((await get(origin, {insecure: true}, false, log)).version).toBe('1.1')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/tls\.insecure is on/)
  })
})

describe('HTTP/2 to origins', () => {
  it('http2: true speaks h2 to an origin that offers it (raw headers, reset-guard factory), HTTP/1.1 otherwise', async () => {
    const h2 = await h2Origin()
    const seen = await get(h2, {ca: ca.certFile, servername: 'origin.test'}, true)
    expect(seen).toMatchObject({version: '2.0', host: 'site.test', via: '1.1 tavern'})
    const h1only = await httpsOrigin()
    expect((await get(h1only, {ca: ca.certFile, servername: 'origin.test'}, true)).version).toBe('1.1')
    // Off: HTTP/1.1 even where h2 is offered.
    expect((await get(h2, {ca: ca.certFile, servername: 'origin.test'}, false)).version).toBe('1.1')
  })
})

describe('config', () => {
  it('checks files and combinations, naming the key', async () => {
    expect(OriginTlsSchema.safeParse({cert: 'a.pem'}).success).toBe(false)
    expect(OriginTlsSchema.safeParse({servername: '*.x.test'}).success).toBe(false)
    await expect(loadOriginTls(OriginTlsSchema.parse({ca: '/nonexistent/ca.pem'}), {http2: false, urls: ['https://o.test']})).rejects.toThrow(/tls\.ca: cannot read \/nonexistent\/ca\.pem/)
    await expect(loadOriginTls(OriginTlsSchema.parse({ca: originCert.keyFile}), {http2: false, urls: ['https://o.test']})).rejects.toThrow(/holds no PEM certificate/)
    const mismatched = await ca.issue({names: ['c.test'], mismatchedKey: true})
    await expect(loadOriginTls(OriginTlsSchema.parse({cert: mismatched.certFile, key: mismatched.keyFile}), {http2: false, urls: ['https://o.test']})).rejects.toThrow(/tls\.cert \/ tls\.key: .*does not match/)
    await expect(loadOriginTls(OriginTlsSchema.parse({}), {http2: false, urls: ['http://plain.test']})).rejects.toThrow(/applies to https:\/\/ upstreams/)
    await expect(loadOriginTls(undefined, {http2: true, urls: ['http://plain.test']})).rejects.toThrow(/http2 applies to https/)
    expect(await loadOriginTls(undefined, {http2: false, urls: ['http://plain.test']})).toBeUndefined()
  })
})
