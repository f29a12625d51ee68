// Hostile TLS and HTTP/2 peers against the built daemon: garbage instead of a ClientHello, a handshake abandoned
// halfway, plain HTTP on the TLS port, and an HTTP/2 rapid-reset flood. The daemon keeps serving, the abusive
// connections end, and the counters say what happened.
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createTestCa, type TestCa} from '../helpers/certs.js'
import {type DaemonHandle, makeTempDir, startDaemon} from '../helpers/daemon.js'
import {ERROR, headersFrame, rawH2, requestBlock, rstStreamFrame} from '../helpers/h2-frames.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {waitFor} from '../helpers/wait.js'

let ca: TestCa
let origin: Origin
let d: DaemonHandle
let port: number

interface DataPlane {
  listeners: Array<{address: string; scheme: string}>
  tlsHandshakeFailures: number
  http2Floods: {resets: number}
}
const dataPlane = async () => (await d.status()).dataPlane as DataPlane

beforeAll(async () => {
  ca = await createTestCa()
  const cert = await ca.issue({names: ['hostile.test']})
  origin = await startOrigin()
  const dir = makeTempDir('tavern-hostile-tls-')
  d = await startDaemon({
    bare: true,
    config: {
      listen: ['127.0.0.1:0', {address: '127.0.0.1:0', tls: {cert: cert.chainFile, key: cert.keyFile}}],
      tls: {handshakeTimeout: '1s'},
      http2: {resets: {burst: 50, perSecond: 10}},
      upstreams: [origin.url],
      socket: path.join(dir, 'admin.sock'),
      storage: {dir: path.join(dir, 'store')},
      log: {level: 'warn'},
    },
  })
  const l = (await dataPlane()).listeners.find((x) => x.scheme === 'https')!
  port = Number(l.address.slice(l.address.lastIndexOf(':') + 1))
}, 60_000)

afterAll(async () => {
  await d?.stop()
  await origin?.close()
  await ca?.cleanup()
})

/** A well-behaved HTTPS request: its status. */
function good(p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({port, host: '127.0.0.1', servername: 'hostile.test', ca: ca.certPem, ALPNProtocols: ['http/1.1']}, () => {
      s.write(`GET ${p} HTTP/1.1\r\nHost: hostile.test\r\nConnection: close\r\n\r\n`)
    })
    let text = ''
    s.setEncoding('latin1')
    s.on('data', (c: string) => (text += c))
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)))
    s.on('error', reject)
  })
}

/** Write `bytes` on a raw TCP connection to the TLS port; resolves when the daemon closes it (ms taken). */
function rawClose(bytes: Buffer | string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const t0 = Date.now()
    const s = net.connect(port, '127.0.0.1', () => {
      if (bytes !== undefined) s.write(bytes)
    })
    s.on('error', () => {})
    s.on('close', () => resolve(Date.now() - t0))
    s.resume()
  })
}

describe('hostile TLS peers', () => {
  it('garbage, plain HTTP and a truncated ClientHello on the TLS port are cut; the daemon keeps serving', async () => {
    const p = uniquePath('ok')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'fine'})
    const before = (await dataPlane()).tlsHandshakeFailures
    const garbage = Buffer.alloc(4096, 0xfe)
    const plain = 'GET / HTTP/1.1\r\nHost: hostile.test\r\n\r\n'
    // A TLS record header announcing a ClientHello, then nothing: the handshake timeout must cut it.
    const truncated = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])
    const times = await Promise.all([rawClose(garbage), rawClose(plain), rawClose(truncated), rawClose(undefined)])
    // Each is closed, the stalled ones by tls.handshakeTimeout (1s), not the default 10 s.
    for (const t of times) expect(t).toBeLessThan(6000)
    expect(await good(p)).toBe(200)
    await waitFor(async () => (await dataPlane()).tlsHandshakeFailures >= before + 2, {timeoutMs: 5000, message: 'handshake failures to be counted'})
  })

  it('many abandoned handshakes at once do not stop new clients', async () => {
    const p = uniquePath('many')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'fine'})
    const pending = Array.from({length: 50}, () => rawClose(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40])))
    expect(await good(p)).toBe(200)
    await Promise.all(pending)
  })

  it('an HTTP/2 rapid-reset flood through the daemon: GOAWAY(ENHANCE_YOUR_CALM), counted, origin work bounded', async () => {
    const p = uniquePath('reset')
    origin.route(p, {headers: {'Cache-Control': 'no-store'}, delayMs: 50, body: 'x'})
    const c = await rawH2(port, {tls: true, servername: 'hostile.test'})
    const block = requestBlock({path: p, authority: 'hostile.test'})
    for (let i = 0; i < 3000 && !c.isClosed(); i += 100) {
      const frames: Buffer[] = []
      for (let j = i; j < i + 100; j++) frames.push(headersFrame(1 + 2 * j, block, {endStream: true}), rstStreamFrame(1 + 2 * j, ERROR.CANCEL))
      await c.sendAndDrain(...frames)
    }
    await waitFor(() => c.isClosed(), {timeoutMs: 5000, message: 'the flooding connection to be closed'})
    expect(c.goawayCodes).toContain(ERROR.ENHANCE_YOUR_CALM)
    // The burst and what refilled, nowhere near the 3 000 streams sent.
    expect(origin.countFor(p)).toBeLessThan(200)
    expect((await dataPlane()).http2Floods.resets).toBe(1)
    const ok = uniquePath('after')
    origin.route(ok, {headers: {'Cache-Control': 'max-age=60'}, body: 'fine'})
    expect(await good(ok)).toBe(200)
  })
})
