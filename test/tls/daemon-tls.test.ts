// TLS, HTTP/2 and the admin TCP listener through the built daemon: one daemon with a plain, a TLS (SNI) and an h2c
// listener plus admin.listen; certificates from a test CA made at test time.

import fs from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createTestCa, daysAgo, type IssuedCert, type TestCa} from '../helpers/certs.js'
import {type DaemonHandle, httpRequest, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {handshake} from '../helpers/tls-client.js'
import {waitFor} from '../helpers/wait.js'

interface Listener {
  address: string
  scheme: 'http' | 'https'
  http2: boolean
}
interface DataPlaneStatus {
  listeners: Listener[]
  adminTcp: string | null
  certificates: Array<{names: string[]; notAfter: string; secondsLeft: number; fingerprint256: string; listener: string; role: string}>
  tlsHandshakeFailures: number
  http2Floods: Record<string, number>
}

let ca: TestCa
let site: IssuedCert
let api: IssuedCert
let origin: Origin
let d: DaemonHandle
let dir: string
let tokenFile: string
let certFile: string
let keyFile: string
let tlsPort: number
let plainPort: number
let h2cPort: number
let adminUrl: string
const TOKEN = 'a'.repeat(8) + '0123456789abcdef0123456789abcdef'

const port = (l: Listener | undefined) => Number(l!.address.slice(l!.address.lastIndexOf(':') + 1))

async function dataPlane(): Promise<DataPlaneStatus> {
  return (await d.status()).dataPlane as DataPlaneStatus
}

function tlsGet(p: string, opts: {servername?: string; agent?: https.Agent; method?: string; headers?: Record<string, string>} = {}): Promise<{status: number; headers: http.IncomingHttpHeaders; body: string; fingerprint: string}> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {host: '127.0.0.1', port: tlsPort, path: p, method: opts.method ?? 'GET', servername: opts.servername ?? 'cache.test', headers: {host: 'cache.test', ...opts.headers}, ca: ca.certPem, agent: opts.agent ?? false},
      (res) => {
        let body = ''
        const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({status: res.statusCode!, headers: res.headers, body, fingerprint}))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end()
  })
}

function h2Get(session: http2.ClientHttp2Session, p: string, method = 'GET', body?: string): Promise<{status: number; headers: http2.IncomingHttpHeaders; body: string}> {
  return new Promise((resolve, reject) => {
    const s = session.request({':path': p, ':method': method, ':authority': 'cache.test'}, {endStream: body === undefined})
    let h: http2.IncomingHttpHeaders = {}
    let b = ''
    s.setEncoding('utf8')
    s.on('response', (x) => (h = x))
    s.on('data', (c: string) => (b += c))
    s.on('end', () => resolve({status: Number(h[':status']), headers: h, body: b}))
    s.on('error', reject)
    if (body !== undefined) s.end(body)
  })
}

function h2Connect(tls: boolean): Promise<http2.ClientHttp2Session> {
  const s = tls ? http2.connect(`https://127.0.0.1:${tlsPort}`, {ca: ca.certPem, servername: 'cache.test'}) : http2.connect(`http://127.0.0.1:${h2cPort}`)
  s.on('error', () => {})
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

const cacheStatus = (h: http.IncomingHttpHeaders | http2.IncomingHttpHeaders) => String(h['cache-status'] ?? '')

beforeAll(async () => {
  ca = await createTestCa()
  site = await ca.issue({names: ['cache.test', 'www.cache.test']})
  api = await ca.issue({names: ['api.test']})
  origin = await startOrigin()
  dir = makeTempDir('tavern-tls-')
  // The daemon reads the certificate from files the rotation tests replace.
  certFile = path.join(dir, 'site.pem')
  keyFile = path.join(dir, 'site.key')
  fs.copyFileSync(site.chainFile, certFile)
  fs.copyFileSync(site.keyFile, keyFile)
  tokenFile = path.join(dir, 'admin.token')
  fs.writeFileSync(tokenFile, TOKEN + '\n', {mode: 0o600})
  d = await startDaemon({
    bare: true,
    config: {
      listen: ['127.0.0.1:0', {address: '127.0.0.1:0', tls: {cert: certFile, key: keyFile, sni: [{cert: api.chainFile, key: api.keyFile}]}}, {address: '127.0.0.1:0', h2c: true}],
      tls: {watch: false},
      admin: {listen: '127.0.0.1:0', tokenFile},
      metrics: {listen: '127.0.0.1:0'},
      upstreams: [origin.url],
      socket: path.join(dir, 'admin.sock'),
      storage: {dir: path.join(dir, 'storage')},
      log: {level: 'info'},
    },
  })
  const dp = await dataPlane()
  plainPort = port(dp.listeners.find((l) => l.scheme === 'http' && !l.http2))
  tlsPort = port(dp.listeners.find((l) => l.scheme === 'https'))
  h2cPort = port(dp.listeners.find((l) => l.scheme === 'http' && l.http2))
  adminUrl = `http://${dp.adminTcp}`
}, 60_000)

afterAll(async () => {
  await d?.stop()
  await origin?.close()
  await ca?.cleanup()
})

describe('listeners, status and metrics', () => {
  it('status lists every listener, the admin TCP listener and each certificate with its names and expiry', async () => {
    const dp = await dataPlane()
    expect(dp.listeners.map((l) => [l.scheme, l.http2])).toEqual([
      ['http', false],
      ['https', true],
      ['http', true],
    ])
    expect(dp.adminTcp).toMatch(/^127\.0\.0\.1:\d+$/)
    const names = dp.certificates.map((c) => c.names.join(',')).sort()
    expect(names).toEqual(['api.test', 'cache.test,www.cache.test'])
    for (const c of dp.certificates) expect(c.secondsLeft).toBeGreaterThan(20 * 86_400)
    const cli = await runCli(['status', '--socket', d.socket])
    expect(cli.code, cli.stderr).toBe(0)
    expect(cli.stdout).toMatch(/listen\s+https:\/\/127\.0\.0\.1:\d+\s+h2 \+ http\/1\.1/)
    expect(cli.stdout).toMatch(/cert\s+cache\.test, www\.cache\.test/)
  })

  it('/metrics has tavern_tls_certificate_expiry_seconds per certificate', async () => {
    const ready = d.logLines().find((l) => l.msg === 'tavern ready')!
    const [host, p] = String(ready.metrics).split(':')
    const r = await httpRequest('/metrics', {host, port: Number(p)})
    const m = /tavern_tls_certificate_expiry_seconds\{name="cache\.test"\} (-?\d+)/.exec(r.text)
    expect(m, r.text.slice(0, 500)).not.toBeNull()
    expect(Number(m![1])).toBeGreaterThan(20 * 86_400)
    expect(r.text).toMatch(/tavern_tls_certificate_expiry_seconds\{name="api\.test"\}/)
  })

  it('SNI picks the certificate for the name asked for; no name gets the default', async () => {
    const a = await handshake(tlsPort, {servername: 'api.test', ca: ca.certPem})
    const b = await handshake(tlsPort, {servername: 'www.cache.test', ca: ca.certPem})
    const c = await handshake(tlsPort, {ca: ca.certPem})
    expect(a.subjectAltName).toContain('api.test')
    expect(b.subjectAltName).toContain('cache.test')
    expect(c.subjectAltName).toContain('cache.test')
    expect(a.alpn).toBe(false)
    expect((await handshake(tlsPort, {servername: 'cache.test', ALPNProtocols: ['h2', 'http/1.1']})).alpn).toBe('h2')
  })
})

describe('one cache behind every listener, keyed by scheme', () => {
  it('TLS HTTP/1.1 and HTTP/2 share https:// entries; plain HTTP/1.1 and h2c share http:// ones', async () => {
    const p = uniquePath('scheme')
    origin.route(p, {headers: {'Cache-Control': 'max-age=600', 'Content-Type': 'text/plain'}, body: 'shared body'})
    const t1 = await tlsGet(p)
    expect(t1).toMatchObject({status: 200, body: 'shared body'})
    expect(cacheStatus(t1.headers)).toMatch(/fwd=(uri-)?miss/)
    const tls2 = await h2Connect(true)
    const t2 = await h2Get(tls2, p)
    tls2.close()
    expect(t2).toMatchObject({status: 200, body: 'shared body'})
    expect(cacheStatus(t2.headers)).toMatch(/hit/)
    expect(origin.countFor(p)).toBe(1)
    expect(origin.requestsFor(p)[0]!.header('x-forwarded-proto')).toBe('https')
    // Plain: another resource (http://), fetched again, then shared with h2c.
    const h1 = await httpRequest(p, {port: plainPort, headers: {host: 'cache.test'}})
    expect(h1.status).toBe(200)
    expect(h1.header('cache-status')).toMatch(/fwd=(uri-)?miss/)
    expect(origin.countFor(p)).toBe(2)
    expect(origin.requestsFor(p)[1]!.header('x-forwarded-proto')).toBe('http')
    const h2c = await h2Connect(false)
    const c2 = await h2Get(h2c, p)
    h2c.close()
    expect(cacheStatus(c2.headers)).toMatch(/hit/)
    expect(origin.countFor(p)).toBe(2)
  })

  it('purge and inspect-key address https:// and http:// entries apart', async () => {
    const p = uniquePath('purge')
    origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'x'})
    await tlsGet(p)
    await httpRequest(p, {port: plainPort, headers: {host: 'cache.test'}})
    expect(origin.countFor(p)).toBe(2)
    const inspect = await runCli(['inspect-key', `https://cache.test${p}`, '--socket', d.socket, '--json'])
    expect(inspect.code, inspect.stderr).toBe(0)
    expect(JSON.parse(inspect.stdout).key).toBe(`https://cache.test${p}`)
    const purged = await runCli(['purge', `https://cache.test${p}`, '--socket', d.socket])
    expect(purged.code, purged.stderr + purged.stdout).toBe(0)
    expect(cacheStatus((await tlsGet(p)).headers)).toMatch(/fwd=(uri-)?miss/)
    expect(origin.countFor(p)).toBe(3)
    // The http:// entry was not touched.
    expect((await httpRequest(p, {port: plainPort, headers: {host: 'cache.test'}})).header('cache-status')).toMatch(/hit/)
    expect(origin.countFor(p)).toBe(3)
  })

  it('a POST body over HTTP/2 without Content-Length reaches the origin', async () => {
    const p = uniquePath('post')
    origin.route(p, {headers: {'Cache-Control': 'no-store'}, echo: true})
    const s = await h2Connect(true)
    const r = await h2Get(s, p, 'POST', 'posted over h2')
    s.close()
    expect(r).toMatchObject({status: 200, body: 'posted over h2'})
    expect(origin.requestsFor(p)[0]!.body.toString()).toBe('posted over h2')
  })
})

describe('admin API over TCP', () => {
  it('refuses a request without the token or with a wrong one (401), serves one with it', async () => {
    const u = new URL(adminUrl)
    const none = await httpRequest('/status', {host: u.hostname, port: Number(u.port)})
    expect(none.status).toBe(401)
    expect(none.header('www-authenticate')).toBe('Bearer realm="tavern-admin"')
    const wrong = await httpRequest('/status', {host: u.hostname, port: Number(u.port), headers: {authorization: 'Bearer wrongwrongwrongwrongwrongwrong'}})
    expect(wrong.status).toBe(401)
    expect(wrong.header('www-authenticate')).toContain('error="invalid_token"')
    const ok = await httpRequest('/status', {host: u.hostname, port: Number(u.port), headers: {authorization: `Bearer ${TOKEN}`}})
    expect(ok.status).toBe(200)
  })

  it('the CLI reaches it with --admin and --token-file (or the environment); a wrong token is reported, exit 2', async () => {
    const st = await runCli(['status', '--admin', adminUrl, '--token-file', tokenFile, '--json'])
    expect(st.code, st.stderr).toBe(0)
    expect(JSON.parse(st.stdout).pid).toBe(d.pid)
    const env = await runCli(['status', '--json'], {env: {TAVERN_ADMIN_URL: adminUrl, TAVERN_TOKEN_FILE: tokenFile}})
    expect(env.code, env.stderr).toBe(0)
    const other = path.join(dir, 'other.token')
    fs.writeFileSync(other, 'b'.repeat(40), {mode: 0o600})
    const bad = await runCli(['status', '--admin', adminUrl, '--token-file', other])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/refused the request/)
    const loose = path.join(dir, 'loose.token')
    fs.writeFileSync(loose, TOKEN, {mode: 0o644})
    fs.chmodSync(loose, 0o644)
    const refused = await runCli(['status', '--admin', adminUrl, '--token-file', loose])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/accessible by others/)
    const p = uniquePath('tcp-purge')
    origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'x'})
    await tlsGet(p)
    const purge = await runCli(['purge', `https://cache.test${p}`, '--admin', adminUrl, '--token-file', tokenFile])
    expect(purge.code, purge.stderr).toBe(0)
  })
})

describe('certificate rotation on reload', () => {
  it('new handshakes get the new certificate; an open HTTP/2 session and a keep-alive connection keep working', async () => {
    const p = uniquePath('rotate')
    origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'rotating'})
    const session = await h2Connect(true)
    const agent = new https.Agent({keepAlive: true, maxSockets: 1})
    const before = await tlsGet(p, {agent})
    expect(before.fingerprint).toBe((await handshake(tlsPort, {servername: 'cache.test'})).fingerprint256)
    const next = await ca.issue({names: ['cache.test', 'www.cache.test']})
    fs.copyFileSync(next.keyFile, keyFile + '.new')
    fs.copyFileSync(next.chainFile, certFile + '.new')
    fs.renameSync(keyFile + '.new', keyFile)
    fs.renameSync(certFile + '.new', certFile)
    const r = await runCli(['reload', '--socket', d.socket])
    expect(r.code, r.stderr + r.stdout).toBe(0)
    const fresh = await handshake(tlsPort, {servername: 'cache.test'})
    expect(fresh.fingerprint256).not.toBe(before.fingerprint)
    // Established connections were not touched.
    expect((await h2Get(session, p)).status).toBe(200)
    const kept = await tlsGet(p, {agent})
    expect(kept.status).toBe(200)
    expect(kept.fingerprint).toBe(before.fingerprint)
    session.close()
    agent.destroy()
    const certs = (await dataPlane()).certificates
    expect(certs.some((c) => c.fingerprint256 === fresh.fingerprint256)).toBe(true)
  })

  it('a broken certificate on reload is refused naming the key; the current one keeps serving', async () => {
    const serving = (await handshake(tlsPort, {servername: 'cache.test'})).fingerprint256
    const goodCert = fs.readFileSync(certFile)
    const goodKey = fs.readFileSync(keyFile)
    const expired = await ca.issue({names: ['cache.test'], notBefore: daysAgo(30), notAfter: daysAgo(1)})
    const mismatched = await ca.issue({names: ['cache.test'], mismatchedKey: true})
    try {
      for (const bad of [expired, mismatched]) {
        fs.copyFileSync(bad.chainFile, certFile)
        fs.copyFileSync(bad.keyFile, keyFile)
        const r = await runCli(['reload', '--socket', d.socket])
        expect(r.code).not.toBe(0)
        expect(r.stderr + r.stdout).toMatch(/listen\[1\]\.tls/)
        expect((await handshake(tlsPort, {servername: 'cache.test'})).fingerprint256).toBe(serving)
        expect((await tlsGet('/')).status).toBeGreaterThan(0)
      }
      fs.writeFileSync(certFile, 'not a certificate')
      const unreadable = await runCli(['reload', '--socket', d.socket])
      expect(unreadable.code).not.toBe(0)
      expect((await handshake(tlsPort, {servername: 'cache.test'})).fingerprint256).toBe(serving)
    } finally {
      fs.writeFileSync(certFile, goodCert)
      fs.writeFileSync(keyFile, goodKey)
    }
    const again = await runCli(['reload', '--socket', d.socket])
    expect(again.code, again.stderr).toBe(0)
  })
})

describe('start-up refusals', () => {
  it('a world-readable admin token file refuses to start, naming admin.tokenFile', async () => {
    const loose = path.join(dir, 'start-loose.token')
    fs.writeFileSync(loose, TOKEN, {mode: 0o644})
    fs.chmodSync(loose, 0o644)
    const r = await runCli(['serve', '--listen', '127.0.0.1:0', '--upstream', origin.url, '--storage', path.join(dir, 's2'), '--socket', path.join(dir, 's2.sock'), '--config', writeConfig({admin: {listen: '127.0.0.1:0', tokenFile: loose}})], {timeoutMs: 20_000})
    expect(r.code).toBe(2)
    expect(r.stderr + r.stdout).toMatch(/admin\.tokenFile: .*accessible by others/)
  })

  it('an expired or mismatched certificate refuses to start, naming the listener key', async () => {
    const expired = await ca.issue({names: ['cache.test'], notBefore: daysAgo(30), notAfter: daysAgo(1)})
    const r = await runCli(['serve', '--upstream', origin.url, '--storage', path.join(dir, 's3'), '--socket', path.join(dir, 's3.sock'), '--config', writeConfig({listen: [{address: '127.0.0.1:0', tls: {cert: expired.chainFile, key: expired.keyFile}}]})], {timeoutMs: 20_000})
    expect(r.code).toBe(2)
    expect(r.stderr + r.stdout).toMatch(/listen\[0\]\.tls: .*expired/)
  })
})

let configs = 0
function writeConfig(c: Record<string, unknown>): string {
  const f = path.join(dir, `extra-${++configs}.json`)
  fs.writeFileSync(f, JSON.stringify(c))
  return f
}

// Keep waitFor imported for the rotation-by-watch case below.
describe('certificate files watched (tls.watch)', () => {
  it('a certificate replaced on disk is served to new handshakes without a reload', async () => {
    const wdir = makeTempDir('tavern-tls-watch-')
    const cf = path.join(wdir, 'c.pem')
    const kf = path.join(wdir, 'c.key')
    const first = await ca.issue({names: ['watch.test']})
    fs.copyFileSync(first.chainFile, cf)
    fs.copyFileSync(first.keyFile, kf)
    const w = await startDaemon({
      bare: true,
      config: {listen: [{address: '127.0.0.1:0', tls: {cert: cf, key: kf}}], upstreams: [origin.url], socket: path.join(wdir, 'a.sock'), storage: {dir: path.join(wdir, 'st')}},
    })
    try {
      const l = ((await w.status()).dataPlane as DataPlaneStatus).listeners[0]
      const wp = port(l)
      const before = (await handshake(wp, {servername: 'watch.test'})).fingerprint256
      const second = await ca.issue({names: ['watch.test']})
      fs.copyFileSync(second.keyFile, kf + '.tmp')
      fs.copyFileSync(second.chainFile, cf + '.tmp')
      fs.renameSync(kf + '.tmp', kf)
      fs.renameSync(cf + '.tmp', cf)
      await waitFor(async () => (await handshake(wp, {servername: 'watch.test'})).fingerprint256 !== before, {timeoutMs: 10_000})
    } finally {
      await w.stop()
    }
  })
})
