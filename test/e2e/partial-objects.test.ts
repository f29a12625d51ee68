/**
 * Partial-object caching end to end: a real daemon in front of an origin that implements Range itself, so every
 * Range header that reaches the origin is counted.
 */
import http from 'node:http'

import {describe, expect, it} from 'vitest'

import type {HttpResult} from '../helpers/daemon.js'
import {tavernStatus, useProxy} from '../helpers/fixture.js'
import {type RecordedRequest, type ResponseSpec, sleep, uniquePath} from '../helpers/origin.js'
import {waitFor} from '../helpers/wait.js'

const SLICE = 256 * 1024
const SIZE = 3 * 1024 * 1024 + 1234 // 13 slices, the last one short
const LAST_SLICE_START = 12 * SLICE

function makeBody(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 9) * 7 + seed) & 0xff
  return b
}

const BODY_A = makeBody(SIZE, 1)
const BODY_B = makeBody(SIZE, 99)

interface RangeOriginOptions {
  body: Buffer
  etag?: string
  /** Answer every request with the full 200. */
  ignoreRange?: boolean
  delayMs?: number
  chunkSize?: number
  chunkDelayMs?: number
  cacheControl?: string
}

/** An origin route that implements single byte ranges (RFC 9110 §14) over `body`. */
function rangeRoute(o: RangeOriginOptions | (() => RangeOriginOptions)) {
  return (req: RecordedRequest): ResponseSpec => {
    const opts = typeof o === 'function' ? o() : o
    const {body} = opts
    const headers: Record<string, string> = {
      'Content-Type': 'video/mp4',
      'Cache-Control': opts.cacheControl ?? 'max-age=3600',
      'Last-Modified': 'Mon, 01 Jan 2024 00:00:00 GMT',
    }
    if (opts.etag) headers.ETag = opts.etag
    const timing = {delayMs: opts.delayMs, chunkSize: opts.chunkSize, chunkDelayMs: opts.chunkDelayMs}
    const range = req.header('range')
    if (!range || opts.ignoreRange) return {headers, body, ...timing}
    const m = /^bytes=(\d*)-(\d*)$/.exec(range)
    if (!m || (m[1] === '' && m[2] === '')) return {status: 400, body: 'only single ranges here'}
    let start: number
    let end: number
    if (m[1] === '') {
      start = Math.max(0, body.length - Number(m[2]))
      end = body.length - 1
    } else {
      start = Number(m[1])
      end = m[2] === '' ? body.length - 1 : Math.min(Number(m[2]), body.length - 1)
    }
    if (start >= body.length) return {status: 416, headers: {'Content-Range': `bytes */${body.length}`}, body: 'no'}
    return {status: 206, headers: {...headers, 'Content-Range': `bytes ${start}-${end}/${body.length}`}, body: body.subarray(start, end + 1), ...timing}
  }
}

/** Range headers the origin saw for a path, in order. */
function originRanges(t: ReturnType<typeof useProxy>, p: string): Array<string | undefined> {
  return t.origin.requestsFor(p).map((r) => r.header('range'))
}

function expectSlice(r: HttpResult, body: Buffer, start: number, end: number): void {
  expect(r.status, r.text.slice(0, 200)).toBe(206)
  expect(r.header('content-range')).toBe(`bytes ${start}-${end}/${body.length}`)
  expect(r.header('content-length')).toBe(String(end - start + 1))
  expect(r.body.length).toBe(end - start + 1)
  expect(r.body.equals(body.subarray(start, end + 1))).toBe(true)
}

/** Parse a multipart/byteranges body back into its parts. */
function parseMultipart(r: HttpResult): Array<{contentRange: string; contentType?: string; data: Buffer}> {
  const ct = r.header('content-type') ?? ''
  const m = /^multipart\/byteranges; boundary=(.+)$/.exec(ct)
  if (!m) throw new Error(`not multipart/byteranges: ${ct}`)
  const delim = Buffer.from(`--${m[1]}`)
  const parts: Array<{contentRange: string; contentType?: string; data: Buffer}> = []
  let pos = r.body.indexOf(delim)
  expect(pos).toBe(0)
  for (;;) {
    pos += delim.length
    if (r.body.subarray(pos, pos + 2).toString() === '--') break
    pos += 2 // CRLF after the delimiter
    const headEnd = r.body.indexOf('\r\n\r\n', pos)
    const headers = r.body.subarray(pos, headEnd).toString('latin1').split('\r\n')
    const get = (n: string) => headers.find((h) => h.toLowerCase().startsWith(n + ':'))?.slice(n.length + 1).trim()
    const cr = get('content-range')!
    const [, a, b] = /^bytes (\d+)-(\d+)\//.exec(cr)!
    const dataStart = headEnd + 4
    const len = Number(b) - Number(a) + 1
    parts.push({contentRange: cr, contentType: get('content-type'), data: r.body.subarray(dataStart, dataStart + len)})
    pos = dataStart + len
    expect(r.body.subarray(pos, pos + 2).toString()).toBe('\r\n')
    pos += 2
    expect(r.body.subarray(pos, pos + delim.length).equals(delim)).toBe(true)
  }
  return parts
}

describe('partial objects: range forms and slice fills', () => {
  const t = useProxy({config: {cache: {sliceSize: SLICE}}})

  it('a-b on a cold object fetches only the slices it needs, then only the missing ones, then nothing', async () => {
    const p = uniquePath('ab')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"a1"'}))
    const r1 = await t.get(p, {headers: {range: 'bytes=1000-1999'}})
    expectSlice(r1, BODY_A, 1000, 1999)
    expect(tavernStatus(r1)?.params).toMatchObject({fwd: 'partial', 'fwd-status': '206'})
    expect(r1.header('etag')).toBe('"a1"')
    expect(originRanges(t, p)).toEqual([`bytes=0-${SLICE - 1}`])

    // Slices 0..2: slice 0 is stored, 1..2 are one run.
    const r2 = await t.get(p, {headers: {range: `bytes=200000-${2 * SLICE + 5000}`}})
    expectSlice(r2, BODY_A, 200000, 2 * SLICE + 5000)
    expect(originRanges(t, p)).toEqual([`bytes=0-${SLICE - 1}`, `bytes=${SLICE}-${3 * SLICE - 1}`])

    // Only stored slices: no origin contact.
    const r3 = await t.get(p, {headers: {range: `bytes=100-${3 * SLICE - 1}`}})
    expectSlice(r3, BODY_A, 100, 3 * SLICE - 1)
    expect(tavernStatus(r3)?.params.hit).toBe(true)
    expect(r3.header('age')).toMatch(/^\d+$/)
    expect(t.origin.countFor(p)).toBe(2)

    // Slices 0 and 5 wanted, 0 stored, 5 missing; 3-4 are not needed and not fetched.
    const r4 = await t.get(p, {headers: {range: `bytes=10-20,${5 * SLICE + 1}-${5 * SLICE + 10}`}})
    expect(r4.status).toBe(206)
    const parts = parseMultipart(r4)
    expect(parts.map((x) => x.data.equals(BODY_A.subarray(...(x.contentRange === `bytes 10-20/${SIZE}` ? [10, 21] : [5 * SLICE + 1, 5 * SLICE + 11]))))).toEqual([true, true])
    expect(originRanges(t, p).slice(2)).toEqual([`bytes=${5 * SLICE}-${6 * SLICE - 1}`])
  })

  it('a- (open-ended) is served to the end with the exact length', async () => {
    const p = uniquePath('open')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"o1"'}))
    const start = SIZE - 300000
    const r = await t.get(p, {headers: {range: `bytes=${start}-`}})
    expectSlice(r, BODY_A, start, SIZE - 1)
    const first = Math.floor(start / SLICE) * SLICE
    expect(originRanges(t, p)).toEqual([`bytes=${first}-`])
    // Now the length is known: the tail is stored.
    const again = await t.get(p, {headers: {range: `bytes=${SIZE - 10}-`}})
    expectSlice(again, BODY_A, SIZE - 10, SIZE - 1)
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('-n (suffix) learns the length from the first slice, then fetches the last one', async () => {
    const p = uniquePath('suffix')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"s1"'}))
    const r = await t.get(p, {headers: {range: 'bytes=-500'}})
    expectSlice(r, BODY_A, SIZE - 500, SIZE - 1)
    expect(originRanges(t, p)).toEqual([`bytes=0-${SLICE - 1}`, `bytes=${LAST_SLICE_START}-${SIZE - 1}`])
    // A suffix larger than the object is the whole object (RFC 9110 §14.1.3).
    const big = await t.get(p, {headers: {range: `bytes=-${SIZE + 100}`}})
    expectSlice(big, BODY_A, 0, SIZE - 1)
  })

  it('multiple ranges come back as multipart/byteranges with an exact Content-Length', async () => {
    const p = uniquePath('multi')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"m1"'}))
    const r = await t.get(p, {headers: {range: `bytes=0-99, ${SLICE * 4}-${SLICE * 4 + 99}, -50`}})
    expect(r.status).toBe(206)
    expect(r.header('content-type')).toMatch(/^multipart\/byteranges; boundary=/)
    expect(r.header('content-length')).toBe(String(r.body.length))
    const parts = parseMultipart(r)
    expect(parts.map((x) => x.contentRange)).toEqual([`bytes 0-99/${SIZE}`, `bytes ${SLICE * 4}-${SLICE * 4 + 99}/${SIZE}`, `bytes ${SIZE - 50}-${SIZE - 1}/${SIZE}`])
    expect(parts.every((x) => x.contentType === 'video/mp4')).toBe(true)
    expect(parts[0]!.data.equals(BODY_A.subarray(0, 100))).toBe(true)
    expect(parts[1]!.data.equals(BODY_A.subarray(SLICE * 4, SLICE * 4 + 100))).toBe(true)
    expect(parts[2]!.data.equals(BODY_A.subarray(SIZE - 50))).toBe(true)
    // Probe (slice 0) then one request per missing run, none of them duplicated.
    const ranges = originRanges(t, p)
    expect(ranges[0]).toBe(`bytes=0-${SLICE - 1}`)
    expect(ranges.slice(1).sort()).toEqual([`bytes=${LAST_SLICE_START}-${SIZE - 1}`, `bytes=${SLICE * 4}-${SLICE * 5 - 1}`].sort())
  })

  it('answers 416 with the total length, for a cold and for a known object', async () => {
    const p = uniquePath('416')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"u1"'}))
    const cold = await t.get(p, {headers: {range: `bytes=${SIZE + 10}-`}})
    expect(cold.status).toBe(416)
    expect(cold.header('content-range')).toBe(`bytes */${SIZE}`)
    await t.get(p, {headers: {range: 'bytes=0-10'}})
    const n = t.origin.countFor(p)
    const known = await t.get(p, {headers: {range: `bytes=${SIZE}-${SIZE + 5}`}})
    expect(known.status).toBe(416)
    expect(known.header('content-range')).toBe(`bytes */${SIZE}`)
    expect(t.origin.countFor(p)).toBe(n)
  })

  it('If-Range: a matching validator gets the range, a stale one the full 200', async () => {
    const p = uniquePath('ifrange')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"i1"'}))
    await t.get(p, {headers: {range: 'bytes=0-9'}})
    const match = await t.get(p, {headers: {range: 'bytes=10-19', 'if-range': '"i1"'}})
    expectSlice(match, BODY_A, 10, 19)
    expect(t.origin.countFor(p)).toBe(1)
    const mismatch = await t.get(p, {headers: {range: 'bytes=10-19', 'if-range': '"old"'}})
    expect(mismatch.status).toBe(200)
    expect(mismatch.body.equals(BODY_A)).toBe(true)
    expect(mismatch.header('content-length')).toBe(String(SIZE))
    // That full fill replaced the partial object: a complete hit now, with Accept-Ranges.
    const full = await t.get(p)
    expect(full.status).toBe(200)
    expect(full.body.equals(BODY_A)).toBe(true)
    expect(full.header('accept-ranges')).toBe('bytes')
    expect(tavernStatus(full)?.params.hit).toBe(true)
    expect(t.origin.countFor(p)).toBe(2)
  })

  it('two concurrent requests for the same cold range share one origin request', async () => {
    const p = uniquePath('collapse')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"c1"', delayMs: 300, chunkSize: 64 * 1024, chunkDelayMs: 20}))
    const [a, b] = await Promise.all([t.get(p, {headers: {range: `bytes=5000-${SLICE + 10}`}}), t.get(p, {headers: {range: `bytes=6000-${SLICE + 20}`}})])
    expectSlice(a, BODY_A, 5000, SLICE + 10)
    expectSlice(b, BODY_A, 6000, SLICE + 20)
    expect(originRanges(t, p)).toEqual([`bytes=0-${2 * SLICE - 1}`])
  })

  it('a request joins slices another request is fetching and gets them as they arrive', async () => {
    const p = uniquePath('join')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"j1"', chunkSize: 32 * 1024, chunkDelayMs: 15}))
    await t.get(p, {headers: {range: 'bytes=0-0'}})
    const slow = t.get(p, {headers: {range: `bytes=${SLICE}-${4 * SLICE - 1}`}})
    await t.origin.waitForCount(p, 2)
    // Join while the slow fill is streaming (its response head is in), not before the daemon has seen it.
    const fetching = t.origin.requestsFor(p)[1]!
    await waitFor(() => fetching.bytesSent > 0 && fetching.finishedAt === undefined, {message: 'the slow slice fill streaming'})
    const joiner = await t.get(p, {headers: {range: `bytes=${2 * SLICE + 7}-${5 * SLICE + 3}`}})
    expectSlice(joiner, BODY_A, 2 * SLICE + 7, 5 * SLICE + 3)
    expectSlice(await slow, BODY_A, SLICE, 4 * SLICE - 1)
    expect(originRanges(t, p)).toEqual([`bytes=0-${SLICE - 1}`, `bytes=${SLICE}-${4 * SLICE - 1}`, `bytes=${4 * SLICE}-${5 * SLICE + SLICE - 1}`])
  })

  it('a new ETag between slice fills discards the old slices: no mixed bytes', async () => {
    const p = uniquePath('etag')
    let current: RangeOriginOptions = {body: BODY_A, etag: '"v1"'}
    t.origin.route(p, rangeRoute(() => current))
    expectSlice(await t.get(p, {headers: {range: `bytes=0-${2 * SLICE - 1}`}}), BODY_A, 0, 2 * SLICE - 1)
    current = {body: BODY_B, etag: '"v2"'}
    const start = SLICE + 100
    const end = 3 * SLICE + 100
    const r = await t.get(p, {headers: {range: `bytes=${start}-${end}`}})
    expectSlice(r, BODY_B, start, end)
    expect(r.header('etag')).toBe('"v2"')
    // Slices stored before the change are not served any more.
    const early = await t.get(p, {headers: {range: 'bytes=0-1000'}})
    expectSlice(early, BODY_B, 0, 1000)
    expect(early.header('etag')).toBe('"v2"')
    const head = await t.get(p, {method: 'HEAD'})
    expect(head.header('etag')).toBe('"v2"')
  })

  it('an origin that ignores Range: the full 200 fills the object and the range is served from it', async () => {
    const p = uniquePath('ignore')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"g1"', ignoreRange: true}))
    const r = await t.get(p, {headers: {range: 'bytes=100-199'}})
    expectSlice(r, BODY_A, 100, 199)
    const multi = await t.get(p, {headers: {range: 'bytes=0-9,-10'}})
    expect(parseMultipart(multi).map((x) => x.data.length)).toEqual([10, 10])
    const full = await t.get(p)
    expect(full.status).toBe(200)
    expect(full.body.equals(BODY_A)).toBe(true)
    expect(tavernStatus(full)?.params.hit).toBe(true)
    expect(t.origin.countFor(p)).toBe(1)
  })

  it('HEAD on a partial object answers with the total length, like GET', async () => {
    const p = uniquePath('head')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"h1"'}))
    await t.get(p, {headers: {range: 'bytes=0-10'}})
    const h = await t.get(p, {method: 'HEAD'})
    expect(h.status).toBe(200)
    expect(h.header('content-length')).toBe(String(SIZE))
    expect(h.header('accept-ranges')).toBe('bytes')
    expect(h.header('etag')).toBe('"h1"')
    expect(h.header('content-range')).toBeUndefined()
    expect(tavernStatus(h)?.params.hit).toBe(true)
    expect(t.origin.countFor(p)).toBe(1)
    const cond = await t.get(p, {method: 'HEAD', headers: {'if-none-match': '"h1"'}})
    expect(cond.status).toBe(304)
  })

  it('a client that disconnects mid-transfer: the fill goes on, the next request gets correct bytes', async () => {
    const p = uniquePath('disconnect')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"d1"', chunkSize: 16 * 1024, chunkDelayMs: 10}))
    await new Promise<void>((resolve, reject) => {
      const req = http.request({host: '127.0.0.1', port: t.daemon.port, path: p, headers: {range: `bytes=0-${3 * SLICE - 1}`}, agent: false})
      req.on('response', (res) => {
        res.once('data', () => {
          req.destroy()
          resolve()
        })
      })
      req.on('error', (e) => (e.message.includes('socket hang up') || (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)))
      req.end()
    })
    const r = await t.get(p, {headers: {range: `bytes=${SLICE - 5}-${3 * SLICE - 1}`}})
    expectSlice(r, BODY_A, SLICE - 5, 3 * SLICE - 1)
    expect(t.origin.countFor(p)).toBe(1)
    // A daemon that leaked fds or marked half-written slices present would fail here.
    const again = await t.get(p, {headers: {range: `bytes=0-${3 * SLICE - 1}`}})
    expectSlice(again, BODY_A, 0, 3 * SLICE - 1)
    expect(tavernStatus(again)?.params.hit).toBe(true)
  })

  it('purge removes partial objects', async () => {
    const p = uniquePath('purge')
    t.origin.route(p, rangeRoute({body: BODY_A, etag: '"p1"'}))
    await t.get(p, {headers: {range: 'bytes=0-10'}})
    const before = (await t.daemon.status()).storage as Record<string, number>
    expect(before.partials).toBeGreaterThanOrEqual(1)
    const purge = await t.get(p, {method: 'PURGE'})
    expect(purge.status).toBe(200)
    await t.get(p, {headers: {range: 'bytes=0-10'}})
    expect(t.origin.countFor(p)).toBe(2)
  })
})

describe('partial objects become complete objects', () => {
  const t = useProxy({config: {cache: {sliceSize: 65536}}})

  async function waitComplete(p: string): Promise<void> {
    const end = Date.now() + 5000
    for (;;) {
      const h = await t.get(p, {method: 'HEAD'})
      if (tavernStatus(h)?.params.detail !== 'partial') return
      if (Date.now() > end) throw new Error('partial object never became complete')
      await sleep(50)
    }
  }

  it('all slices filled by ranges → a full GET is a plain hit with the right bytes and CRC', async () => {
    const p = uniquePath('complete')
    const body = makeBody(300_000, 7) // small enough for the memory tier, whose load checks the CRC32C
    t.origin.route(p, rangeRoute({body, etag: '"x1"'}))
    expectSlice(await t.get(p, {headers: {range: 'bytes=70000-140000'}}), body, 70000, 140000)
    expectSlice(await t.get(p, {headers: {range: 'bytes=-1000'}}), body, body.length - 1000, body.length - 1)
    expectSlice(await t.get(p, {headers: {range: 'bytes=0-'}}), body, 0, body.length - 1)
    const n = t.origin.countFor(p)
    await waitComplete(p)
    for (let i = 0; i < 2; i++) {
      const full = await t.get(p)
      expect(full.status).toBe(200)
      expect(full.header('content-length')).toBe(String(body.length))
      expect(full.header('accept-ranges')).toBe('bytes')
      expect(full.body.equals(body)).toBe(true)
      expect(tavernStatus(full)?.params.hit).toBe(true)
    }
    expectSlice(await t.get(p, {headers: {range: 'bytes=5-9'}}), body, 5, 9)
    expect(t.origin.countFor(p)).toBe(n)
    const verify = await t.daemon.admin('/verify', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({url: `${t.daemon.url}${p}`})})
    const summary = verify.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.type === 'summary')
    expect(summary).toMatchObject({checked: 1, ok: 1, mismatches: 0})
    const status = await t.daemon.status()
    expect((status.storage as Record<string, number>).partials).toBe(0)
  })

  it('a stale partial object is discarded and filled again', async () => {
    const p = uniquePath('stale')
    const body = makeBody(200_000, 3)
    t.origin.route(p, rangeRoute({body, etag: '"st"', cacheControl: 'max-age=1'}))
    await t.get(p, {headers: {range: 'bytes=0-10'}})
    await t.get(p, {headers: {range: 'bytes=0-10'}})
    expect(t.origin.countFor(p)).toBe(1)
    await sleep(2100)
    expectSlice(await t.get(p, {headers: {range: 'bytes=0-10'}}), body, 0, 10)
    expect(t.origin.countFor(p)).toBe(2)
  })

  it('responses that may not be stored are forwarded as they are', async () => {
    const p = uniquePath('nostore')
    const body = makeBody(100_000, 5)
    t.origin.route(p, rangeRoute({body, etag: '"ns"', cacheControl: 'no-store'}))
    const r = await t.get(p, {headers: {range: 'bytes=10-20'}})
    expectSlice(r, body, 10, 20)
    const again = await t.get(p, {headers: {range: 'bytes=10-20'}})
    expectSlice(again, body, 10, 20)
    expect(originRanges(t, p).slice(-1)).toEqual(['bytes=10-20'])
  })
})
