// Hostile forward-proxy destinations: a destination that resets mid-body (announced length, and close-delimited),
// and HTTPS destinations whose certificate does not fit (a name the certificate does not carry, an expired one).
// Nothing of theirs may be stored, the client must see the cut or a 502, and the daemon keeps serving.
import https from 'node:https'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createTestCa, daysAgo, type IssuedCert, type TestCa} from '../helpers/certs.js'
import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {startOrigin, type Origin} from '../helpers/origin.js'
import {describeRaw, rawRequest} from '../helpers/raw-client.js'
import {head, resp, type RawOrigin, startRawOrigin} from '../helpers/raw-origin.js'
import {casePath} from './harness.js'

interface TlsOrigin {
  port: number
  requests: number
  close(): Promise<void>
}

async function tlsOrigin(cert: IssuedCert): Promise<TlsOrigin> {
  const o = {port: 0, requests: 0, close: async () => {}}
  const server = https.createServer({cert: cert.chainPem, key: cert.keyPem}, (_req, res) => {
    o.requests++
    res.writeHead(200, {'cache-control': 'max-age=3600'})
    res.end('should never be stored')
  })
  server.on('error', () => {})
  // Handshakes the client aborts end in socket errors on our side: expected here.
  server.on('tlsClientError', () => {})
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  o.port = (server.address() as AddressInfo).port
  o.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    })
  return o
}

let ca: TestCa
let raw: RawOrigin
let wrongName: TlsOrigin
let expired: TlsOrigin
let control: Origin
let d: DaemonHandle

beforeAll(async () => {
  ca = await createTestCa()
  raw = await startRawOrigin()
  wrongName = await tlsOrigin(await ca.issue({names: ['other.test']}))
  expired = await tlsOrigin(await ca.issue({names: ['localhost'], notBefore: daysAgo(10), notAfter: daysAgo(1)}))
  control = await startOrigin()
  control.route('/control', () => ({headers: {'Cache-Control': 'no-store'}, body: 'alive'}))
  d = await startDaemon({
    upstream: control.url,
    config: {forwardProxy: {enabled: true, clients: ['127.0.0.1'], destinations: [`localhost:${raw.port}`, `localhost:${wrongName.port}`, `localhost:${expired.port}`], tls: {ca: ca.certFile}}},
  })
}, 60_000)

afterAll(async () => {
  await d?.stop()
  await Promise.all([raw?.close(), wrongName?.close(), expired?.close(), control?.close()])
  await ca?.cleanup()
})

const forward = (url: string) => rawRequest(d.port, 'GET', url, ['Host', 'x.test', 'Connection', 'close'], {timeoutMs: 10_000})

async function stored(url: string): Promise<boolean> {
  const r = await d.admin(`/keys/inspect?url=${encodeURIComponent(url)}`)
  expect(r.status, r.text).toBe(200)
  return (JSON.parse(r.text) as {stored: boolean}).stored
}

async function stillServing(): Promise<void> {
  const r = await d.request('/control', {headers: {host: 'site.test'}, timeoutMs: 3000})
  expect(r.text).toBe('alive')
}

describe('hostile forward-proxy destinations', () => {
  it('a destination that resets mid-body (Content-Length announced): the client sees the cut, nothing is stored, the next request asks again', async () => {
    const p = casePath('fwd-reset-length')
    raw.route(p, [{write: head(200, ['Cache-Control', 'max-age=3600', 'Content-Length', '10000'])}, {write: 'x'.repeat(3000)}, {reset: true}])
    const url = `http://localhost:${raw.port}${p}`
    const r = await forward(url)
    expect(r.complete, describeRaw(r)).toBe(false)
    expect(await stored(url)).toBe(false)
    raw.route(p, [{write: resp(200, ['Cache-Control', 'max-age=3600'], 'whole')}])
    const again = await forward(url)
    expect(again.body.toString()).toBe('whole')
    expect(raw.countFor(p)).toBe(2)
    await stillServing()
  })

  it('a close-delimited body cut by a reset is not taken for a complete one (the reset guard)', async () => {
    const p = casePath('fwd-reset-close')
    raw.route(p, [{write: head(200, ['Cache-Control', 'max-age=3600', 'Connection', 'close'])}, {write: 'y'.repeat(2000)}, {reset: true}])
    const url = `http://localhost:${raw.port}${p}`
    const r = await forward(url)
    expect(r.complete, describeRaw(r)).toBe(false)
    expect(await stored(url)).toBe(false)
    await stillServing()
  })

  it('a certificate whose names do not include the host is 502 TAVERN_ERR_UPSTREAM_TLS; nothing is asked or stored', async () => {
    const p = casePath('fwd-wrong-name')
    const url = `https://localhost:${wrongName.port}${p}`
    const r = await forward(url)
    expect(r.status, describeRaw(r)).toBe(502)
    expect(r.body.toString()).toMatch(/TAVERN_ERR_UPSTREAM_TLS/)
    expect(r.body.toString()).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/)
    expect(wrongName.requests).toBe(0)
    expect(await stored(url)).toBe(false)
    await stillServing()
  })

  it('an expired certificate is 502 TAVERN_ERR_UPSTREAM_TLS too', async () => {
    const p = casePath('fwd-expired')
    const r = await forward(`https://localhost:${expired.port}${p}`)
    expect(r.status, describeRaw(r)).toBe(502)
    expect(r.body.toString()).toMatch(/CERT_HAS_EXPIRED/)
    expect(expired.requests).toBe(0)
    await stillServing()
  })
})
