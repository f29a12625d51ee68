/**
 * Config-wiring rows of the TLS, HTTP/2 and admin TCP keys (`tls.*`, `http2.*`, `admin.*`, `upstream.http2`,
 * `upstream.tls.*`): each row starts from a non-default value and fails if the daemon ignored the key.
 */
import fs from 'node:fs'
import http2 from 'node:http2'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

import {expect} from 'vitest'

import {createTestCa, daysFromNow, type IssuedCert, type TestCa} from '../../helpers/certs.js'
import type {WiringContext, WiringGroup} from '../../helpers/config-keys.js'
import {httpRequest} from '../../helpers/daemon.js'
import {ERROR, headersFrame, pingFrame, rawH2, requestBlock, rstStreamFrame, settingsFrame} from '../../helpers/h2-frames.js'
import {sleep, uniquePath} from '../../helpers/origin.js'
import {handshake} from '../../helpers/tls-client.js'
import {waitFor} from '../../helpers/wait.js'

const TOKEN = 'wiring-token-0123456789abcdef0123456789'

interface Listener {
  address: string
  scheme: string
  http2: boolean
}

async function listeners(ctx: WiringContext): Promise<Listener[]> {
  return ((await ctx.daemon.status()).dataPlane as {listeners: Listener[]}).listeners
}

const portOf = (l: Listener) => Number(l.address.slice(l.address.lastIndexOf(':') + 1))

async function tlsPort(ctx: WiringContext): Promise<number> {
  return portOf((await listeners(ctx)).find((l) => l.scheme === 'https')!)
}

/** Does a TLS handshake with these client options succeed? */
function connects(port: number, opts: tls.ConnectionOptions): Promise<{ok: boolean; cipher?: string}> {
  return new Promise((resolve) => {
    const s = tls.connect({port, host: '127.0.0.1', servername: 'wiring.test', rejectUnauthorized: false, ...opts}, () => {
      const cipher = s.getCipher().name
      s.destroy()
      resolve({ok: true, cipher})
    })
    s.on('error', () => resolve({ok: false}))
    s.setTimeout(5000, () => {
      s.destroy()
      resolve({ok: false})
    })
  })
}

function h2Session(port: number): Promise<http2.ClientHttp2Session> {
  const s = http2.connect(`https://127.0.0.1:${port}`, {rejectUnauthorized: false, servername: 'wiring.test'})
  s.on('error', () => {})
  return new Promise((resolve, reject) => {
    s.once('remoteSettings', () => resolve(s))
    s.once('error', reject)
  })
}

/** One request on a session: its status, or 'error' when the stream was reset. */
function h2Status(s: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<number | 'error'> {
  return new Promise((resolve) => {
    const st = s.request({':path': '/wiring-ok', ':authority': 'wiring.test', ...headers})
    st.on('response', (h) => resolve(Number(h[':status'])))
    st.on('error', () => resolve('error'))
    st.on('close', () => resolve('error'))
    st.resume()
  })
}

/** `n` HEADERS + RST_STREAM pairs from stream `first` on. */
function resetPairs(first: number, n: number): Buffer[] {
  const block = requestBlock({path: '/reset', authority: 'wiring.test'})
  const out: Buffer[] = []
  for (let i = 0; i < n; i++) out.push(headersFrame(first + 2 * i, block, {endStream: true}), rstStreamFrame(first + 2 * i, ERROR.CANCEL))
  return out
}

/** Send `frames` on a fresh TLS h2 connection; closed with ENHANCE_YOUR_CALM within 3 s? */
async function calmedDown(port: number, batches: Buffer[][], pauseMs = 0): Promise<boolean> {
  const c = await rawH2(port, {tls: true, servername: 'wiring.test'})
  for (const [i, b] of batches.entries()) {
    if (i > 0 && pauseMs) await sleep(pauseMs)
    if (c.isClosed()) break
    await c.sendAndDrain(...b)
  }
  const closed = await waitFor(() => c.isClosed() || undefined, {timeoutMs: 3000}).then(
    () => true,
    () => false,
  )
  c.destroy()
  return closed && c.goawayCodes.includes(ERROR.ENHANCE_YOUR_CALM)
}

async function session(port: number, servername = 'wiring.test'): Promise<Buffer | undefined> {
  return (await handshake(port, {servername})).session
}

let ca: TestCa | undefined
async function testCa(): Promise<TestCa> {
  return (ca ??= await createTestCa('Tavern wiring CA'))
}

/** TLS listener protocol settings, HTTP/2 limits and floods, the admin TCP listener. */
export const tlsListenerGroup: WiringGroup = {
  name: 'TLS listener, HTTP/2 limits, admin over TCP',
  async setup(ctx) {
    const c = await testCa()
    const cert = await c.issue({names: ['wiring.test'], notAfter: daysFromNow(30)})
    const certFile = path.join(ctx.dir, 'site.pem')
    const keyFile = path.join(ctx.dir, 'site.key')
    fs.copyFileSync(cert.chainFile, certFile)
    fs.copyFileSync(cert.keyFile, keyFile)
    const tokenFile = path.join(ctx.dir, 'admin.token')
    fs.writeFileSync(tokenFile, TOKEN, {mode: 0o600})
    Object.assign(ctx.vars, {certFile, keyFile, tokenFile, next: await c.issue({names: ['wiring.test']})})
    ctx.origin.route('/wiring-ok', {headers: {'Cache-Control': 'max-age=600'}, body: 'ok'})
  },
  config: (ctx) => ({
    listen: [{address: '127.0.0.1:0', tls: {cert: ctx.vars.certFile, key: ctx.vars.keyFile}}, '127.0.0.1:0'],
    socket: path.join(ctx.dir, 'admin.sock'),
    upstreams: [ctx.origin.url],
    storage: {dir: path.join(ctx.dir, 'store')},
    log: {level: 'warn'},
    tls: {
      minVersion: 'TLSv1.3',
      ciphers: 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
      // X25519 first: a client's usual key share needs no HelloRetryRequest (after one, Node negotiates no ALPN).
      ecdhCurve: 'X25519:prime256v1',
      honorCipherOrder: true,
      sessionTicketRotation: '1m',
      sessionTimeout: '2s',
      handshakeTimeout: '500ms',
      watch: false,
      expiryWarning: '60d',
    },
    http2: {
      maxConcurrentStreams: 7,
      maxHeaderListSize: '2KiB',
      maxHeaderFields: 16,
      idleTimeout: '3s',
      resets: {burst: 5, perSecond: 0},
      pings: {burst: 5, perSecond: 0},
      settings: {burst: 5, perSecond: 0},
    },
    admin: {listen: '127.0.0.1:0', tokenFile: ctx.vars.tokenFile},
  }),
  start: {bare: true},
  rows: [
    {
      key: 'tls.minVersion',
      expect: 'a TLS 1.2 client is refused (default TLSv1.2: accepted)',
      async check(ctx) {
        const port = await tlsPort(ctx)
        expect((await connects(port, {maxVersion: 'TLSv1.2'})).ok).toBe(false)
        expect((await connects(port, {})).ok).toBe(true)
      },
    },
    {
      key: 'tls.ciphers',
      expect: 'a client offering only TLS_AES_128_GCM_SHA256 is refused (default list: accepted)',
      async check(ctx) {
        const port = await tlsPort(ctx)
        expect((await connects(port, {ciphers: 'TLS_AES_128_GCM_SHA256'})).ok).toBe(false)
      },
    },
    {
      key: 'tls.ecdhCurve',
      expect: 'a client offering only secp384r1 is refused (default groups include it)',
      async check(ctx) {
        const port = await tlsPort(ctx)
        expect((await connects(port, {ecdhCurve: 'secp384r1'})).ok).toBe(false)
        expect((await connects(port, {ecdhCurve: 'prime256v1'})).ok).toBe(true)
      },
    },
    {
      key: 'tls.honorCipherOrder',
      expect: "the server's first suite wins over the client's preference (default: the client's)",
      async check(ctx) {
        const port = await tlsPort(ctx)
        const r = await connects(port, {ciphers: 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384'})
        expect(r.cipher).toBe('TLS_AES_256_GCM_SHA384')
      },
    },
    {
      key: 'tls.sessionTimeout',
      expect: 'a session older than 2s is not resumed (default 1h: it is)',
      async check(ctx) {
        const port = await tlsPort(ctx)
        const s = await session(port)
        expect((await handshake(port, {servername: 'wiring.test', session: s})).reused).toBe(true)
        await sleep(3000)
        expect((await handshake(port, {servername: 'wiring.test', session: s})).reused).toBe(false)
      },
    },
    {
      key: 'tls.handshakeTimeout',
      expect: 'a connection that never sends a ClientHello is cut after 500ms (default 10s)',
      async check(ctx) {
        const port = await tlsPort(ctx)
        const t0 = Date.now()
        await new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1')
          s.on('error', () => {})
          s.on('close', () => resolve())
        })
        expect(Date.now() - t0).toBeLessThan(4000)
      },
    },
    {
      key: 'tls.watch',
      expect: 'a certificate replaced on disk is not picked up without a reload (default: it is, within ~1s)',
      async check(ctx) {
        const port = await tlsPort(ctx)
        const before = (await handshake(port, {servername: 'wiring.test'})).fingerprint256
        const next = ctx.vars.next as IssuedCert
        fs.copyFileSync(next.keyFile, String(ctx.vars.keyFile))
        fs.copyFileSync(next.chainFile, String(ctx.vars.certFile))
        // An absence: give a watcher (0.5 s debounce) well over its time.
        await sleep(2500)
        expect((await handshake(port, {servername: 'wiring.test'})).fingerprint256).toBe(before)
      },
    },
    {
      key: 'tls.expiryWarning',
      expect: 'a certificate with 30 days left is flagged expiringSoon in status (default 14d: not)',
      async check(ctx) {
        const certs = ((await ctx.daemon.status()).dataPlane as {certificates: Array<{expiringSoon: boolean}>}).certificates
        expect(certs.map((c) => c.expiringSoon)).toEqual([true])
      },
    },
    {
      key: 'http2.maxConcurrentStreams',
      expect: 'SETTINGS_MAX_CONCURRENT_STREAMS is 7 (default 100)',
      async check(ctx) {
        const s = await h2Session(await tlsPort(ctx))
        expect(s.remoteSettings.maxConcurrentStreams).toBe(7)
        s.close()
      },
    },
    {
      key: 'http2.maxHeaderListSize',
      expect: 'a 3 KB header list is answered 431 (default 32KiB: served)',
      async check(ctx) {
        const s = await h2Session(await tlsPort(ctx))
        // 431 from us, or a stream reset by nghttp2 once the client has acknowledged our SETTINGS.
        expect([431, 'error']).toContain(await h2Status(s, {'x-big': 'x'.repeat(3000)}))
        expect(await h2Status(s, {'x-small': 'x'.repeat(500)})).toBe(200)
        s.close()
      },
    },
    {
      key: 'http2.maxHeaderFields',
      expect: 'a request with 30 fields is refused (default 128: served)',
      async check(ctx) {
        const s = await h2Session(await tlsPort(ctx))
        const headers: Record<string, string> = {}
        for (let i = 0; i < 30; i++) headers[`x-f${i}`] = 'v'
        expect(await h2Status(s, headers)).not.toBe(200)
        s.close()
        const t = await h2Session(await tlsPort(ctx))
        expect(await h2Status(t, {'x-a': '1', 'x-b': '2'})).toBe(200)
        t.close()
        return
        s.close()
      },
    },
    {
      key: 'http2.idleTimeout',
      expect: 'an HTTP/2 connection without frames is closed after 3s (default 60s)',
      async check(ctx) {
        const c = await rawH2(await tlsPort(ctx), {tls: true, servername: 'wiring.test'})
        await waitFor(() => c.isClosed() || c.goaway !== undefined, {timeoutMs: 5000, message: 'the idle session to get GOAWAY'})
        c.destroy()
      },
    },
    {
      key: 'http2.resets.burst',
      expect: '10 reset streams at once close the session with ENHANCE_YOUR_CALM (default burst 200: not)',
      async check(ctx) {
        expect(await calmedDown(await tlsPort(ctx), [resetPairs(1, 10)])).toBe(true)
      },
    },
    {
      key: 'http2.resets.perSecond',
      expect: '4 resets, a pause, 4 more: nothing refilled, so closed (default 50/s: refilled)',
      async check(ctx) {
        expect(await calmedDown(await tlsPort(ctx), [resetPairs(1, 4), resetPairs(9, 4)], 1500)).toBe(true)
      },
    },
    {
      key: 'http2.pings.burst',
      expect: '10 PINGs at once close the session (default burst 50: not)',
      async check(ctx) {
        expect(await calmedDown(await tlsPort(ctx), [Array.from({length: 10}, () => pingFrame())])).toBe(true)
      },
    },
    {
      key: 'http2.pings.perSecond',
      expect: '4 PINGs, a pause, 4 more: closed (default 10/s: refilled)',
      async check(ctx) {
        const four = () => Array.from({length: 4}, () => pingFrame())
        expect(await calmedDown(await tlsPort(ctx), [four(), four()], 1500)).toBe(true)
      },
    },
    {
      key: 'http2.settings.burst',
      expect: '10 SETTINGS at once close the session (default burst 20: not)',
      async check(ctx) {
        expect(await calmedDown(await tlsPort(ctx), [Array.from({length: 10}, () => settingsFrame([[0x4, 65_535]]))])).toBe(true)
      },
    },
    {
      key: 'http2.settings.perSecond',
      expect: '4 SETTINGS, a pause, 4 more: closed (default 2/s: refilled)',
      async check(ctx) {
        const four = () => Array.from({length: 4}, () => settingsFrame([[0x4, 65_535]]))
        expect(await calmedDown(await tlsPort(ctx), [four(), four()], 2000)).toBe(true)
      },
    },
    {
      key: 'admin.listen',
      expect: 'the admin API answers over TCP (default: socket only)',
      async check(ctx) {
        const a = String(((await ctx.daemon.status()).dataPlane as {adminTcp: string}).adminTcp)
        const r = await httpRequest('/status', {host: '127.0.0.1', port: Number(a.split(':')[1]), headers: {authorization: `Bearer ${TOKEN}`}})
        expect(r.status).toBe(200)
      },
    },
    {
      key: 'admin.tokenFile',
      expect: "the file's token is the one accepted; another gets 401",
      async check(ctx) {
        const a = String(((await ctx.daemon.status()).dataPlane as {adminTcp: string}).adminTcp)
        const port = Number(a.split(':')[1])
        expect((await httpRequest('/status', {host: '127.0.0.1', port, headers: {authorization: `Bearer ${TOKEN}`}})).status).toBe(200)
        expect((await httpRequest('/status', {host: '127.0.0.1', port, headers: {authorization: `Bearer ${TOKEN}x`}})).status).toBe(401)
      },
    },
    {
      // Last: its wait for the rotation overlaps the rows before it (prepare starts with the daemon).
      key: 'tls.sessionTicketRotation',
      expect: 'a session ticket older than the rotation (1m) no longer resumes (default 12h: it does)',
      async prepare(ctx) {
        const port = await tlsPort(ctx)
        return {port, session: await session(port), at: Date.now()}
      },
      async check(_ctx, prepared) {
        const {port, session: s, at} = (await prepared) as {port: number; session: Buffer; at: number}
        expect(s).toBeDefined()
        await sleep(Math.max(0, at + 61_500 - Date.now()))
        // sessionTimeout is 2s here: a fresh ticket resumes, the old one (from before the rotation) does not.
        const fresh = await session(port)
        expect((await handshake(port, {servername: 'wiring.test', session: fresh})).reused).toBe(true)
        expect((await handshake(port, {servername: 'wiring.test', session: s})).reused).toBe(false)
      },
      timeoutMs: 80_000,
    },
  ],
}

interface TlsOrigin {
  url: string
  server: http2.Http2SecureServer
  seen: Array<{servername: string | false; alpn: string | false; clientCn: string | undefined; httpVersion: string}>
}

/** An HTTPS origin (h2 and HTTP/1.1) with a certificate for origin.test only, asking for (not requiring) a client certificate. */
async function tlsOrigin(cert: IssuedCert, c: TestCa): Promise<TlsOrigin> {
  const seen: TlsOrigin['seen'] = []
  const server = http2.createSecureServer({cert: cert.chainPem, key: cert.keyPem, allowHTTP1: true, requestCert: true, rejectUnauthorized: false, ca: c.certPem}, (req, res) => {
    const sock = req.socket as tls.TLSSocket
    const peer = sock.getPeerCertificate?.()
    seen.push({servername: (sock as tls.TLSSocket & {servername?: string | false}).servername ?? false, alpn: sock.alpnProtocol ?? false, clientCn: [peer?.subject?.CN].flat()[0], httpVersion: req.httpVersion})
    res.writeHead(200, {'cache-control': 'no-store', 'content-type': 'text/plain'})
    res.end('tls origin')
  })
  server.on('error', () => {})
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`, server, seen}
}

/** TLS and HTTP/2 towards the origin, plus a TLS listener without session tickets. */
export const originTlsGroup: WiringGroup = {
  name: 'TLS and HTTP/2 to origins',
  async setup(ctx) {
    const c = await testCa()
    const originCert = await c.issue({names: ['origin.test']})
    const client = await c.issue({names: ['tavern.client'], cn: 'tavern.client', clientAuth: true})
    const site = await c.issue({names: ['wiring.test']})
    const o = await tlsOrigin(originCert, c)
    Object.assign(ctx.vars, {o, client, site, caFile: c.certFile})
  },
  config: (ctx) => ({
    listen: ['127.0.0.1:0', {address: '127.0.0.1:0', tls: {cert: (ctx.vars.site as IssuedCert).chainFile, key: (ctx.vars.site as IssuedCert).keyFile}}],
    socket: path.join(ctx.dir, 'admin.sock'),
    upstreams: [(ctx.vars.o as TlsOrigin).url],
    storage: {dir: path.join(ctx.dir, 'store')},
    log: {level: 'warn'},
    tls: {sessionTickets: false},
    upstream: {
      http2: true,
      tls: {ca: ctx.vars.caFile, servername: 'origin.test', cert: (ctx.vars.client as IssuedCert).chainFile, key: (ctx.vars.client as IssuedCert).keyFile},
    },
  }),
  start: {bare: true},
  async teardown(ctx) {
    const o = ctx.vars.o as TlsOrigin | undefined
    await new Promise<void>((r) => (o ? o.server.close(() => r()) : r()))
  },
  rows: [
    {
      key: 'upstream.tls.ca',
      expect: "the origin's certificate from the test CA is trusted (default roots: 502)",
      async check(ctx) {
        const r = await ctx.daemon.request(uniquePath('ca'), {headers: {host: 'site.test'}})
        expect(r.status).toBe(200)
        expect(r.text).toBe('tls origin')
      },
    },
    {
      key: 'upstream.tls.servername',
      expect: 'the origin is asked for origin.test by SNI (default: the URL host 127.0.0.1, not sent, and not in the certificate)',
      async check(ctx) {
        const o = ctx.vars.o as TlsOrigin
        await ctx.daemon.request(uniquePath('sni'), {headers: {host: 'other.test'}})
        expect(o.seen.at(-1)!.servername).toBe('origin.test')
      },
    },
    {
      key: 'upstream.tls.cert',
      expect: 'the origin sees the client certificate (default: none)',
      async check(ctx) {
        const o = ctx.vars.o as TlsOrigin
        await ctx.daemon.request(uniquePath('mtls'), {headers: {host: 'site.test'}})
        expect(o.seen.at(-1)!.clientCn).toBe('tavern.client')
      },
    },
    {
      key: 'upstream.tls.key',
      expect: 'the client certificate is presented with its key (it goes with tls.cert)',
      async check(ctx) {
        const o = ctx.vars.o as TlsOrigin
        await ctx.daemon.request(uniquePath('mtls-key'), {headers: {host: 'site.test'}})
        expect(o.seen.at(-1)!.clientCn).toBe('tavern.client')
      },
    },
    {
      key: 'upstream.http2',
      expect: 'the origin is spoken to over HTTP/2 (default: HTTP/1.1)',
      async check(ctx) {
        const o = ctx.vars.o as TlsOrigin
        await ctx.daemon.request(uniquePath('h2'), {headers: {host: 'site.test'}})
        expect(o.seen.at(-1)!.httpVersion).toBe('2.0')
      },
    },
    {
      key: 'tls.sessionTickets',
      expect: 'a second handshake with the session does not resume (default: it does)',
      async check(ctx) {
        const l = (await listeners(ctx)).find((x) => x.scheme === 'https')!
        const port = portOf(l)
        const s = await session(port)
        const again = await handshake(port, {servername: 'wiring.test', session: s})
        expect(again.reused).toBe(false)
      },
    },
  ],
}

/** An origin whose certificate nothing trusts, reached with upstream.tls.insecure. */
export const originInsecureGroup: WiringGroup = {
  name: 'TLS to an untrusted origin (insecure)',
  async setup(ctx) {
    const other = await createTestCa('Untrusted CA')
    const o = await tlsOrigin(await other.issue({names: ['origin.test']}), other)
    ctx.vars.o = o
    ctx.vars.other = other
  },
  config: (ctx) => ({
    listen: '127.0.0.1:0',
    socket: path.join(ctx.dir, 'admin.sock'),
    upstreams: [(ctx.vars.o as TlsOrigin).url],
    storage: {dir: path.join(ctx.dir, 'store')},
    log: {level: 'warn'},
    upstream: {tls: {insecure: true}},
  }),
  start: {bare: true},
  async teardown(ctx) {
    const o = ctx.vars.o as TlsOrigin | undefined
    await new Promise<void>((r) => (o ? o.server.close(() => r()) : r()))
    await (ctx.vars.other as TestCa | undefined)?.cleanup()
  },
  rows: [
    {
      key: 'upstream.tls.insecure',
      expect: 'an origin certificate from an unknown CA is accepted (default: 502), and the log warns',
      async check(ctx) {
        const r = await ctx.daemon.request(uniquePath('insecure'), {headers: {host: 'site.test'}})
        expect(r.status).toBe(200)
        expect(ctx.daemon.logs()).toMatch(/tls\.insecure is on/)
      },
    },
  ],
}

export const TLS_GROUPS: WiringGroup[] = [tlsListenerGroup, originTlsGroup, originInsecureGroup]
