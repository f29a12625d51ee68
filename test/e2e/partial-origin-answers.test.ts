/**
 * Cold range requests whose origin answer does not fit what was asked (RFC 9110 §14, §15.3.7, §15.5.17): every odd
 * answer is relayed or refetched whole, never stored as a slice, never trusted for allocation sizes, and the daemon
 * keeps answering. The origin is a raw TCP server so it can say anything.
 */
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, type HttpResult, startDaemon} from '../helpers/daemon.js'
import {tavernStatus} from '../helpers/fixture.js'
import {uniquePath} from '../helpers/origin.js'
import {fullResponse, type NetOrigin, type NetRequest, startNetOrigin} from '../e2e/net-origin.js'

const SLICE = 64 * 1024
const BODY = Buffer.from('0123456789')

let origin: NetOrigin
let d: DaemonHandle

beforeAll(async () => {
  origin = await startNetOrigin()
  d = await startDaemon({upstream: origin.url, config: {cache: {sliceSize: SLICE}}})
}, 30_000)

afterAll(async () => {
  if (d) {
    const code = await d.stop()
    if (code !== 0) console.warn(d.logs().slice(-4000))
  }
  await origin?.close()
}, 30_000)

const CACHEABLE = ['Cache-Control', 'max-age=3600', 'ETag', '"v1"', 'Content-Type', 'text/plain']

/** A route whose whole answer (no Range) is a correct 200 of BODY, and whose range answers are `onRange`. */
function route(p: string, onRange: (req: NetRequest) => Buffer): void {
  origin.route(p, (req, sock) => {
    sock.write(req.header('range') === undefined ? fullResponse(200, CACHEABLE, BODY) : onRange(req))
  })
}

/** The daemon is alive and serving: a fresh path answers 200. */
async function expectAlive(): Promise<void> {
  const p = uniquePath('alive')
  origin.route(p, (_req, sock) => void sock.write(fullResponse(200, ['Cache-Control', 'max-age=60'], 'alive')))
  const r = await d.request(p)
  expect(r.status).toBe(200)
  expect(r.text).toBe('alive')
  expect(d.process.exitCode).toBeNull()
}

function expectPart(r: HttpResult, start: number, end: number): void {
  expect(r.status, r.text.slice(0, 200)).toBe(206)
  expect(r.header('content-range')).toBe(`bytes ${start}-${end}/${BODY.length}`)
  expect(r.body.equals(BODY.subarray(start, end + 1))).toBe(true)
}

describe('a slice whose answer is delimited by the connection closing (RFC 9112 §6.3 ¶8)', () => {
  it('a full slice in one read followed by FIN: the slice is stored and the daemon lives (undici paused-at-EOF assertion)', async () => {
    // A 64 KiB slice arrives in one read and fills undici's body buffer while the slice writer is busy, so its parser
    // pauses at the very end of the data; the FIN then made undici 7 assert "!paused" in the socket's 'end' handler,
    // an uncaught exception that ended the process (patches/undici+7.30.2.patch backports undici 8's fix).
    const total = 70_000
    const big = Buffer.alloc(total)
    for (let i = 0; i < total; i++) big[i] = i % 251
    for (let round = 0; round < 3; round++) {
      const p = uniquePath('eofslice')
      origin.route(p, (req, sock) => {
        const m = /^bytes=(\d+)-(\d*)$/.exec(req.header('range') ?? '')
        if (!m) return void sock.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nETag: "big"\r\nConnection: close\r\n\r\n`), big]))
        const start = Number(m[1])
        const end = m[2] === '' ? total - 1 : Math.min(Number(m[2]), total - 1)
        sock.end(Buffer.concat([Buffer.from(`HTTP/1.1 206 Partial Content\r\nCache-Control: max-age=3600\r\nETag: "big"\r\nContent-Range: bytes ${start}-${end}/${total}\r\nConnection: close\r\n\r\n`), big.subarray(start, end + 1)]))
      })
      const r = await d.request(p, {headers: {range: 'bytes=-1'}})
      expect(r.status).toBe(206)
      expect(r.body.equals(big.subarray(total - 1))).toBe(true)
      expect(d.process.exitCode).toBeNull()
    }
    await expectAlive()
  })
})

describe('a cold Range GET whose origin answer is an error or a redirect', () => {
  for (const [status, extra, body] of [
    [404, ['Cache-Control', 'max-age=60'], 'not here'],
    [500, [], 'broken'],
    [302, ['Location', '/elsewhere'], 'moved'],
    [503, ['Retry-After', '7'], 'busy'],
  ] as const) {
    it(`${status}: relayed as is, nothing stored as a partial, the daemon keeps answering`, async () => {
      const p = uniquePath(`s${status}`)
      origin.route(p, (_req, sock) => void sock.write(fullResponse(status, [...extra, 'Content-Type', 'text/plain'], body)))
      const r = await d.request(p, {headers: {range: 'bytes=0-3'}})
      expect(r.status).toBe(status)
      expect(r.text).toBe(body)
      for (let i = 0; i < extra.length; i += 2) expect(r.header(extra[i]!)).toBe(extra[i + 1])
      expect(r.header('content-range')).toBeUndefined()
      await expectAlive()
      const again = await d.request(p, {headers: {range: 'bytes=0-3'}})
      expect(again.status).toBe(status)
      expect(origin.countFor(p)).toBe(2)
    })
  }
})

describe('a cold Range GET answered 416', () => {
  it('with the complete length: answered 416 for an unsatisfiable range', async () => {
    const p = uniquePath('416')
    origin.route(p, (_req, sock) => void sock.write(fullResponse(416, ['Content-Range', 'bytes */10'], 'no')))
    const r = await d.request(p, {headers: {range: 'bytes=20-'}})
    expect(r.status).toBe(416)
    expect(r.header('content-range')).toBe('bytes */10')
    await expectAlive()
  })

  it('without a Content-Range: the representation is fetched whole and the range answered from it', async () => {
    const p = uniquePath('416bare')
    route(p, () => fullResponse(416, [], 'no'))
    const r = await d.request(p, {headers: {range: 'bytes=2-4'}})
    expectPart(r, 2, 4)
    await expectAlive()
    expectPart(await d.request(p, {headers: {range: 'bytes=5-6'}}), 5, 6)
    expect(origin.requestsFor(p).map((q) => q.header('range'))).toEqual([`bytes=0-${SLICE - 1}`, undefined])
  })
})

describe('a cold Range GET answered with a 206 that does not match the request', () => {
  it('a wrong Content-Range (bytes=-5 answered 4-9/10): refetched whole, the client gets the bytes it asked for', async () => {
    const p = uniquePath('wrongcr')
    route(p, () => fullResponse(206, [...CACHEABLE, 'Content-Range', 'bytes 4-9/10'], BODY.subarray(4)))
    const r = await d.request(p, {headers: {range: 'bytes=-5'}})
    expectPart(r, 5, 9)
    await expectAlive()
    // Stored whole: the next range is a hit with the right bytes.
    const r2 = await d.request(p, {headers: {range: 'bytes=0-1'}})
    expectPart(r2, 0, 1)
    expect(tavernStatus(r2)?.params.hit).toBe(true)
  })

  for (const cr of ['bytes 0-4/x', 'bytes 0-4', 'bytes 0-4/*', 'items 0-4/10', 'bytes 5-4/10', 'bytes 0-10/10']) {
    it(`a malformed or unusable Content-Range (${cr}): never stored as a slice`, async () => {
      const p = uniquePath('badcr')
      route(p, () => fullResponse(206, [...CACHEABLE, 'Content-Range', cr], BODY.subarray(0, 5)))
      const r = await d.request(p, {headers: {range: 'bytes=1-3'}})
      expectPart(r, 1, 3)
      await expectAlive()
      expectPart(await d.request(p, {headers: {range: 'bytes=6-8'}}), 6, 8)
    })
  }

  it('a multipart/byteranges 206 to a single-range request: not parsed or stored, refetched whole', async () => {
    const p = uniquePath('multi')
    const mp = Buffer.from('--XX\r\nContent-Range: bytes 0-1/10\r\n\r\n01\r\n--XX\r\nContent-Range: bytes 5-6/10\r\n\r\n56\r\n--XX--\r\n')
    route(p, () => fullResponse(206, ['Cache-Control', 'max-age=3600', 'ETag', '"v1"', 'Content-Type', 'multipart/byteranges; boundary=XX'], mp))
    const r = await d.request(p, {headers: {range: 'bytes=0-1'}})
    expectPart(r, 0, 1)
    await expectAlive()
  })

  it('a no-store 206: relayed as the origin answers it, every time, nothing stored', async () => {
    const p = uniquePath('nostore')
    origin.route(p, (req, sock) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.header('range') ?? '')
      const [s, e] = m ? [Number(m[1]), Math.min(Number(m[2]), 9)] : [0, 9]
      sock.write(fullResponse(206, ['Cache-Control', 'no-store', 'Content-Range', `bytes ${s}-${e}/10`], BODY.subarray(s, e + 1)))
    })
    for (let i = 0; i < 5; i++) {
      const r = await d.request(p, {headers: {range: 'bytes=2-4'}})
      expectPart(r, 2, 4)
    }
    await expectAlive()
  })
})

describe('a 206 whose complete length is huge is never trusted for allocation', () => {
  /** The daemon's resident set size (Linux). */
  function rssBytes(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${d.pid}/status`, 'utf8'))
    return Number(m![1]) * 1024
  }

  for (const total of [2 ** 50, Number.MAX_SAFE_INTEGER]) {
    it(`total ${total}: relayed, no partial object, memory and index stay small`, async () => {
      const p = uniquePath('huge')
      origin.route(p, (req, sock) => {
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.header('range') ?? '')
        const [s, e] = m ? [Number(m[1]), Number(m[2])] : [0, 99]
        const part = Buffer.alloc(e - s + 1, 0x61)
        sock.write(fullResponse(206, [...CACHEABLE, 'Content-Range', `bytes ${s}-${e}/${total}`], part))
      })
      const before = rssBytes()
      const r = await d.request(p, {headers: {range: 'bytes=0-99'}})
      expect(r.status).toBe(206)
      expect(r.header('content-range')).toBe(`bytes 0-99/${total}`)
      expect(r.body.length).toBe(100)
      await expectAlive()
      expect(rssBytes() - before).toBeLessThan(64 * 1024 * 1024)
      const mdb = path.join(d.storageDir, 'index', 'data.mdb')
      if (fs.existsSync(mdb)) expect(fs.statSync(mdb).size).toBeLessThan(64 * 1024 * 1024)
      // Not a partial object: the next request goes to the origin again.
      const n = origin.countFor(p)
      await d.request(p, {headers: {range: 'bytes=0-99'}})
      expect(origin.countFor(p)).toBe(n + 1)
    })
  }
})

describe('odd answers for an object already partly stored, and for requests sharing one fetch', () => {
  const BIG = Buffer.alloc(5 * SLICE, 0)
  for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7 + 3) & 0xff

  /** A route implementing single ranges over BIG, unless `mode` says to answer otherwise. */
  function bigRoute(p: string, mode: {status?: number; delayMs?: number}): void {
    origin.route(p, async (req, sock) => {
      if (mode.delayMs) await new Promise((r) => setTimeout(r, mode.delayMs))
      if (mode.status) {
        sock.write(fullResponse(mode.status, ['Cache-Control', 'no-store', 'Retry-After', '3'], `status ${mode.status}`))
        return
      }
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.header('range') ?? '')
      if (!m) {
        sock.write(fullResponse(200, CACHEABLE, BIG))
        return
      }
      const s = Number(m[1])
      const e = m[2] === '' ? BIG.length - 1 : Math.min(Number(m[2]), BIG.length - 1)
      sock.write(fullResponse(206, [...CACHEABLE, 'Content-Range', `bytes ${s}-${e}/${BIG.length}`], BIG.subarray(s, e + 1)))
    })
  }

  const part = (r: HttpResult, s: number, e: number) => {
    expect(r.status, r.text.slice(0, 100)).toBe(206)
    expect(r.header('content-range')).toBe(`bytes ${s}-${e}/${BIG.length}`)
    expect(r.body.equals(BIG.subarray(s, e + 1))).toBe(true)
  }

  it('a 404 for a missing slice is relayed and drops the partial object', async () => {
    const p = uniquePath('known404')
    const mode: {status?: number} = {}
    bigRoute(p, mode)
    part(await d.request(p, {headers: {range: 'bytes=0-99'}}), 0, 99)
    mode.status = 404
    const r = await d.request(p, {headers: {range: `bytes=${3 * SLICE}-${3 * SLICE + 9}`}})
    expect(r.status).toBe(404)
    expect(r.text).toBe('status 404')
    mode.status = undefined
    const n = origin.countFor(p)
    part(await d.request(p, {headers: {range: 'bytes=0-99'}}), 0, 99)
    expect(origin.countFor(p)).toBe(n + 1)
  })

  it('a 503 for a missing slice is relayed with its Retry-After and keeps the slices already stored', async () => {
    const p = uniquePath('known503')
    const mode: {status?: number} = {}
    bigRoute(p, mode)
    part(await d.request(p, {headers: {range: 'bytes=0-99'}}), 0, 99)
    mode.status = 503
    const r = await d.request(p, {headers: {range: `bytes=${3 * SLICE}-${3 * SLICE + 9}`}})
    expect(r.status).toBe(503)
    expect(r.header('retry-after')).toBe('3')
    mode.status = undefined
    const n = origin.countFor(p)
    const hit = await d.request(p, {headers: {range: 'bytes=10-19'}})
    part(hit, 10, 19)
    expect(tavernStatus(hit)?.params.hit).toBe(true)
    expect(origin.countFor(p)).toBe(n)
  })

  it('concurrent cold requests sharing a fetch answered 404 all get the 404', async () => {
    const p = uniquePath('shared404')
    bigRoute(p, {status: 404, delayMs: 200})
    const rs = await Promise.all(Array.from({length: 4}, () => d.request(p, {headers: {range: 'bytes=0-9'}})))
    for (const r of rs) {
      expect(r.status).toBe(404)
      expect(r.text).toBe('status 404')
    }
    await expectAlive()
  })
})
