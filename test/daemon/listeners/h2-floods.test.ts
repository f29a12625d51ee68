// HTTP/2 flood defences, each attacked over a raw TLS socket with hand-built frames. Where the defence is ours, a
// control run with the limit lifted shows the attack getting through (so the assertion can fail without it); where it
// is Node's (CONTINUATION flood), the start-up check refuses an nghttp2 without it. In every case the abusive session
// ends, the handler's work stays bounded, and a well-behaved client on another connection keeps getting answers.
import type {IncomingMessage, ServerResponse} from 'node:http'
import http2 from 'node:http2'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertHttp2Defences, TokenBucket} from '../../../src/daemon/listeners/h2-flood-guard.js'
import {createTestCa, type IssuedCert, type TestCa} from '../../helpers/certs.js'
import {continuationFrame, ERROR, FRAME, headersFrame, literal, pingFrame, rawH2, requestBlock, rstStreamFrame, settingsFrame} from '../../helpers/h2-frames.js'
import {type Plane, startPlane} from '../../helpers/plane.js'
import {waitFor} from '../../helpers/wait.js'

let ca: TestCa
let cert: IssuedCert

beforeAll(async () => {
  ca = await createTestCa()
  cert = await ca.issue({names: ['flood.test']})
}, 30_000)
afterAll(async () => {
  await ca?.cleanup()
})

/** A plane whose handler answers after a little "origin" work, counting calls (not the well-behaved client's). */
async function target(http2Limits: Record<string, unknown> = {}): Promise<{plane: Plane; port: number; calls: () => number}> {
  let calls = 0
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/ok/')) calls++
    const t = setTimeout(() => {
      if (!res.destroyed) res.end('ok')
    }, 20)
    res.once('close', () => clearTimeout(t))
  }
  const plane = await startPlane([{address: '127.0.0.1:0', tls: {cert: cert.certFile, key: cert.keyFile}}], handler, {http2: http2Limits})
  return {plane, port: plane.bound[0]!.port, calls: () => calls}
}

/** A well-behaved client on its own connection: n sequential requests, each must answer 200. */
async function wellBehaved(port: number, n: number): Promise<number[]> {
  const session = http2.connect(`https://127.0.0.1:${port}`, {ca: ca.certPem, servername: 'flood.test'})
  session.on('error', () => {})
  const statuses: number[] = []
  try {
    for (let i = 0; i < n; i++) {
      statuses.push(
        await new Promise<number>((resolve, reject) => {
          const s = session.request({':path': `/ok/${i}`})
          s.on('response', (h) => resolve(Number(h[':status'])))
          s.on('error', reject)
          s.resume()
        }),
      )
    }
  } finally {
    session.close()
  }
  return statuses
}

/** HEADERS + RST_STREAM pairs, in writes of `batch` pairs. */
async function rapidReset(port: number, pairs: number, batch = 100): Promise<Awaited<ReturnType<typeof rawH2>>> {
  const c = await rawH2(port, {tls: true})
  const block = requestBlock({path: '/reset'})
  for (let i = 0; i < pairs && !c.isClosed(); i += batch) {
    const frames: Buffer[] = []
    for (let j = i; j < Math.min(pairs, i + batch); j++) frames.push(headersFrame(1 + 2 * j, block, {endStream: true}), rstStreamFrame(1 + 2 * j, ERROR.CANCEL))
    await c.sendAndDrain(...frames)
  }
  return c
}

describe('rapid reset (CVE-2023-44487)', () => {
  it('a session resetting streams faster than http2.resets allows gets GOAWAY(ENHANCE_YOUR_CALM); the handler work stays bounded', async () => {
    const {plane, port, calls} = await target({resets: {burst: 100, perSecond: 10}})
    const legit = wellBehaved(port, 20)
    const c = await rapidReset(port, 5000)
    await waitFor(() => c.isClosed(), {message: 'the abusive connection to be closed', timeoutMs: 5000})
    expect(c.goaway?.code).toBe(ERROR.ENHANCE_YOUR_CALM)
    // The burst, plus whatever refilled meanwhile: nowhere near the 5 000 streams sent.
    expect(calls()).toBeLessThan(200)
    expect(plane.plane.floods().resets).toBe(1)
    expect(await legit).toEqual(Array(20).fill(200))
    expect(await wellBehaved(port, 3)).toEqual([200, 200, 200])
    await plane.close()
  })

  it('control: with the limit lifted, Node alone lets thousands of reset streams reach the handler', async () => {
    const {plane, port, calls} = await target({resets: {burst: 1_000_000, perSecond: 1_000_000}})
    const c = await rapidReset(port, 3000)
    await waitFor(() => calls() >= 1000 || c.isClosed(), {message: 'the streams to reach the handler', timeoutMs: 10_000})
    expect(calls()).toBeGreaterThanOrEqual(1000)
    c.destroy()
    await plane.close()
  })

  it('streams our side resets (an origin failure destroying the response) do not count', async () => {
    let calls = 0
    const plane = await startPlane([{address: '127.0.0.1:0', tls: {cert: cert.certFile, key: cert.keyFile}}], (_req, res) => {
      calls++
      setTimeout(() => res.destroy(), 1)
    }, {http2: {resets: {burst: 5, perSecond: 0}}})
    const session = http2.connect(`https://127.0.0.1:${plane.bound[0]!.port}`, {ca: ca.certPem, servername: 'flood.test'})
    session.on('error', () => {})
    for (let i = 0; i < 30; i++) {
      await new Promise<void>((resolve) => {
        const s = session.request({':path': `/fail/${i}`})
        s.on('error', () => {})
        s.on('close', () => resolve())
        s.resume()
      })
    }
    expect(calls).toBe(30)
    expect(session.destroyed).toBe(false)
    expect(plane.plane.floods().resets).toBe(0)
    session.destroy()
    await plane.close()
  })
})

describe('CONTINUATION flood (CVE-2024-27983 / CVE-2024-28182)', () => {
  it('endless CONTINUATION frames close the session before any request reaches the handler', async () => {
    const {plane, port, calls} = await target()
    const legit = wellBehaved(port, 10)
    const c = await rawH2(port, {tls: true})
    c.send(headersFrame(1, requestBlock({path: '/cont'}), {endStream: true, endHeaders: false}))
    let sent = 0
    // Small header fields in each frame, never END_HEADERS: bounded at 20 000 frames.
    for (let i = 0; i < 20_000 && !c.isClosed(); i += 200) {
      const frames: Buffer[] = []
      for (let j = 0; j < 200; j++) frames.push(continuationFrame(1, literal(`x-c${i + j}`, 'v')))
      await c.sendAndDrain(...frames)
      sent += 200
    }
    await waitFor(() => c.isClosed(), {message: 'the session to be closed', timeoutMs: 5000})
    expect(calls()).toBe(0)
    expect(sent).toBeLessThan(20_000)
    expect(await legit).toEqual(Array(10).fill(200))
    await plane.close()
  })

  it('HTTP/2 is refused on an nghttp2 without the CONTINUATION limit', () => {
    expect(() => assertHttp2Defences('1.60.0')).toThrow(/nghttp2 1\.61\.0 or later/)
    expect(() => assertHttp2Defences('1.61.0')).not.toThrow()
    expect(() => assertHttp2Defences('2.0.0')).not.toThrow()
    expect(() => assertHttp2Defences()).not.toThrow()
  })
})

/** Control frames in writes of `batch`, reading the ACKs (so nghttp2's unsent-ACK limit never trips). */
async function controlFlood(port: number, make: () => Buffer, total: number, batch = 25): Promise<Awaited<ReturnType<typeof rawH2>>> {
  const c = await rawH2(port, {tls: true})
  for (let i = 0; i < total && !c.isClosed(); i += batch) {
    await c.sendAndDrain(...Array.from({length: batch}, make))
    // Let the ACKs come back before the next batch, like a client that reads.
    await new Promise((r) => setImmediate(r))
  }
  return c
}

describe('PING and SETTINGS floods', () => {
  it('PINGs beyond http2.pings: GOAWAY(ENHANCE_YOUR_CALM)', async () => {
    const {plane, port} = await target({pings: {burst: 50, perSecond: 10}})
    const legit = wellBehaved(port, 10)
    const c = await controlFlood(port, () => pingFrame(), 3000)
    await waitFor(() => c.isClosed(), {message: 'the ping flooder to be closed', timeoutMs: 5000})
    expect(c.goaway?.code).toBe(ERROR.ENHANCE_YOUR_CALM)
    expect(c.counts.get(FRAME.PING) ?? 0).toBeLessThan(200)
    expect(plane.plane.floods().pings).toBe(1)
    expect(await legit).toEqual(Array(10).fill(200))
    await plane.close()
  })

  it('control: with the limit lifted, a client that reads its ACKs can ping without end', async () => {
    const {plane, port} = await target({pings: {burst: 1_000_000, perSecond: 1_000_000}})
    const c = await controlFlood(port, () => pingFrame(), 3000)
    await waitFor(() => (c.counts.get(FRAME.PING) ?? 0) >= 3000 || c.isClosed(), {message: 'every PING to be acknowledged', timeoutMs: 10_000})
    expect(c.isClosed()).toBe(false)
    expect(c.counts.get(FRAME.PING)).toBe(3000)
    c.destroy()
    await plane.close()
  })

  it('SETTINGS beyond http2.settings: GOAWAY(ENHANCE_YOUR_CALM)', async () => {
    const {plane, port} = await target({settings: {burst: 20, perSecond: 2}})
    const c = await controlFlood(port, () => settingsFrame([[0x4, 65_535]]), 3000)
    await waitFor(() => c.isClosed(), {message: 'the settings flooder to be closed', timeoutMs: 5000})
    expect(c.goaway?.code).toBe(ERROR.ENHANCE_YOUR_CALM)
    expect(plane.plane.floods().settings).toBe(1)
    expect(await wellBehaved(port, 3)).toEqual([200, 200, 200])
    await plane.close()
  })

  it('control: with the limit lifted, SETTINGS frames are acknowledged without end', async () => {
    const {plane, port} = await target({settings: {burst: 1_000_000, perSecond: 1_000_000}})
    const c = await controlFlood(port, () => settingsFrame([[0x4, 65_535]]), 2000)
    // Our SETTINGS + ACK of theirs: every one of the 2000 (+1 initial) is acknowledged.
    await waitFor(() => (c.counts.get(FRAME.SETTINGS) ?? 0) >= 2000 || c.isClosed(), {message: 'the SETTINGS to be acknowledged', timeoutMs: 10_000})
    expect(c.isClosed()).toBe(false)
    c.destroy()
    await plane.close()
  })
})

describe('header list size', () => {
  /** A request whose header list is about `bytes` large, split into CONTINUATION frames of 16 KiB. */
  function bigHeaders(c: Awaited<ReturnType<typeof rawH2>>, streamId: number, bytes: number): void {
    const extra: Array<[string, string]> = []
    for (let i = 0; i * 1000 < bytes; i++) extra.push([`x-big-${i}`, 'v'.repeat(960)])
    const block = requestBlock({path: '/big', extra})
    const chunks: Buffer[] = []
    for (let o = 0; o < block.length; o += 16_000) chunks.push(block.subarray(o, o + 16_000))
    c.send(...chunks.map((ch, i) => (i === 0 ? headersFrame(streamId, ch, {endStream: true, endHeaders: chunks.length === 1}) : continuationFrame(streamId, ch, i === chunks.length - 1))))
  }

  it('over http2.maxHeaderListSize: 431 before the handler, even from a client that never acknowledged our SETTINGS', async () => {
    const {plane, port, calls} = await target({maxHeaderListSize: '16KiB'})
    // Without the ACK, Node still applies its 64 KiB default, not our SETTINGS_MAX_HEADER_LIST_SIZE.
    const c = await rawH2(port, {tls: true, ackSettings: false})
    bigHeaders(c, 1, 40_000)
    await waitFor(() => c.responses.includes(1), {message: 'an answer on stream 1'})
    expect(calls()).toBe(0)
    // A normal request on the same session still goes through.
    c.send(headersFrame(3, requestBlock({path: '/small'}), {endStream: true}))
    await waitFor(() => c.responses.includes(3) && calls() === 1, {message: 'the small request to reach the handler'})
    c.destroy()
    await plane.close()
  })

  it('control: a 40 KB header list reaches the handler when the limit allows it', async () => {
    const {plane, port, calls} = await target({maxHeaderListSize: '64KiB'})
    const c = await rawH2(port, {tls: true, ackSettings: false})
    bigHeaders(c, 1, 40_000)
    await waitFor(() => calls() === 1, {message: 'the request to reach the handler'})
    c.destroy()
    await plane.close()
  })
})

it('a token bucket allows the burst, then the rate', () => {
  const b = new TokenBucket({burst: 3, perSecond: 2}, 0)
  expect([b.take(0), b.take(0), b.take(0), b.take(0)]).toEqual([true, true, true, false])
  expect(b.take(499)).toBe(false)
  expect(b.take(500)).toBe(true)
  expect(b.take(10_000)).toBe(true)
  expect([b.take(10_000), b.take(10_000), b.take(10_000)]).toEqual([true, true, false])
})
