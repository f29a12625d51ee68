/**
 * Process-level items of "Hardening I": a crash must end the process (2), shutdown must finish when stdout is gone (3)
 * or an origin drips a body (4), kill -9 must not leave body files nobody reclaims (10), one storage directory
 * belongs to one daemon (13), and one slow URL must not starve every other request to its upstream (14).
 * Time bounds are generous (several seconds over the configured budget): they catch "never", not "slow".
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {describeRaw, rawRequest} from '../helpers/raw-client.js'
import {head, rangeOrigin, resp, startRawOrigin, type RawOrigin} from '../helpers/raw-origin.js'
import {alive, casePath, HOST, objectFiles, payload, waitNoOrphans} from './harness.js'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

let origin: RawOrigin
beforeAll(async () => {
  origin = await startRawOrigin()
})
afterAll(async () => {
  await origin?.close()
})

function get(d: DaemonHandle, p: string, headers: string[] = [], timeoutMs = 5000) {
  return rawRequest(d.port, 'GET', p, ['Host', HOST, ...headers], {timeoutMs})
}

/** SIGTERM, then how long until the process exited (Infinity if not within `limitMs`; it is then killed) and how. */
async function term(d: DaemonHandle, limitMs: number): Promise<{ms: number; code: number | null; signal: string | null}> {
  const t0 = Date.now()
  d.process.kill('SIGTERM')
  const exited = await Promise.race([d.exited.then(() => true), sleep(limitMs).then(() => false)])
  const ms = Date.now() - t0
  if (!exited) await d.kill9()
  const e = await d.exited
  return {ms: exited ? ms : Number.POSITIVE_INFINITY, code: exited ? e.code : null, signal: exited ? e.signal : 'SIGKILL (by the test)'}
}


/** An origin body that never ends on its own: one byte every `ms`. */
function drip(p: string, extraHead: string[] = []): void {
  origin.route(p, [{write: head(200, ['Cache-Control', 'max-age=3600', 'Content-Length', '100000', ...extraHead])}, {drip: Buffer.alloc(100_000, 0x61), size: 1, delayMs: 200}])
}

describe('[item 2] a crash with fills in flight ends the process', () => {
  it('after each crash-inducing request the daemon either answers or has exited within 10 s — never alive and deaf', async () => {
    // The crash trigger is item 1 (a cold Range answered 404); once that is fixed the daemon simply keeps answering.
    const wedged: number[] = []
    for (let round = 0; round < 6 && wedged.length === 0; round++) {
      const d = await startDaemon({upstream: origin.url, config: {cache: {sliceSize: 65536}}})
      try {
        // Fills in flight: slow bodies being written, and small ones committing to the index.
        const slow = casePath('inflight-slow')
        drip(slow)
        const inflight = [get(d, slow, [], 15_000)]
        void Promise.allSettled(inflight)
        for (let i = 0; i < 20; i++) {
          const q = casePath('inflight')
          origin.route(q, [{write: resp(200, ['Cache-Control', 'max-age=3600'], payload(20_000 + i * 997, i))}])
          inflight.push(get(d, q, [], 15_000))
        }
        await origin.waitForCount(slow, 1)
        const bad = casePath('crash')
        origin.route(bad, [{write: resp(404, [], 'nope')}])
        void get(d, bad, ['Range', 'bytes=0-4'])
        const end = Date.now() + 10_000
        let ok = false
        while (Date.now() < end) {
          if (!alive(d)) {
            ok = true
            break
          }
          const c = casePath('control')
          origin.route(c, [{write: resp(200, ['Cache-Control', 'no-store'], 'control')}])
          const r = await get(d, c, [], 1000)
          if (r.status === 200 && r.body.toString() === 'control' && Date.now() > end - 8000) {
            ok = true
            break
          }
          await sleep(200)
        }
        if (!ok) wedged.push(round)
      } finally {
        // The dripping fill never ends by itself: the kill ends the in-flight requests.
        if (alive(d)) await d.kill9()
      }
    }
    // Stops at the first wedge (1 in 5–10 crashes on today's code); six clean rounds pass.
    expect(wedged, `rounds where the process stayed alive but did not answer for 10 s: ${wedged.join(', ')}`).toEqual([])
  }, 120_000)
})

describe('[item 3] shutdown when the stdout reader is gone', () => {
  it('SIGTERM after the stdout pipe was closed (serve … | head -1) exits within shutdownTimeout + 5 s', async () => {
    const d = await startDaemon({upstream: origin.url, config: {server: {shutdownTimeout: '1s'}, accessLog: {enabled: true, path: 'stdout'}}})
    // The reader goes away, like `head -1` after the first line.
    d.process.stdout!.destroy()
    for (let i = 0; i < 20; i++) {
      const p = casePath('stdout-gone')
      origin.route(p, [{write: resp(200, ['Cache-Control', 'no-store'], 'x'.repeat(100))}])
      await get(d, p)
    }
    const e = await term(d, 15_000)
    expect(e.ms, 'the daemon did not exit after SIGTERM with its stdout reader gone').toBeLessThan(6000)
    // README: a graceful stop exits 0. (Today it ends with 13, an unsettled top-level await: shutdown never completed.)
    expect(e.code, `exit ${e.code} signal ${e.signal}\n${d.logs().slice(-1500)}`).toBe(0)
  }, 30_000)

  it('SIGTERM after the stdout reader was killed in the middle of traffic (a killed `tee`) exits 0 within shutdownTimeout + 5 s', async () => {
    const d = await startDaemon({upstream: origin.url, config: {server: {shutdownTimeout: '1s'}, accessLog: {enabled: true, path: 'stdout'}}})
    const p = casePath('tee-killed')
    origin.route(p, [{write: resp(200, ['Cache-Control', 'no-store'], 'y'.repeat(100))}])
    let stop = false
    const loops = Array.from({length: 8}, async () => {
      while (!stop) await get(d, p, [], 2000)
    })
    await sleep(300)
    d.process.stdout!.destroy()
    await sleep(500)
    stop = true
    await Promise.all(loops)
    const e = await term(d, 15_000)
    expect(e.ms, 'the daemon did not exit after SIGTERM').toBeLessThan(6000)
    expect(e.code, `exit ${e.code} signal ${e.signal}`).toBe(0)
  }, 30_000)
})

describe('[item 4] SIGTERM while an origin drips a body', () => {
  const shapes: Array<{name: string; start: (d: DaemonHandle, p: string) => void}> = [
    {name: 'a client waits on the dripping fill', start: (d, p) => void get(d, p, [], 30_000)},
    {name: 'the client left; the fill goes on', start: (d, p) => void get(d, p, [], 300)},
    {name: 'a pass-through (no-store) response', start: (d, p) => void get(d, p, ['Cache-Control', 'no-store'], 30_000)},
    {name: 'a Range request whose slice fetch drips', start: (d, p) => void get(d, p, ['Range', 'bytes=0-99'], 30_000)},
  ]
  for (const s of shapes) {
    it(`${s.name}: exits within shutdownTimeout (1 s) + 5 s`, async () => {
      const d = await startDaemon({upstream: origin.url, config: {server: {shutdownTimeout: '1s'}, cache: {sliceSize: 65536}}})
      const p = casePath('drip')
      if (s.name.startsWith('a Range')) origin.route(p, [{write: head(206, ['Cache-Control', 'max-age=3600', 'ETag', '"d"', 'Content-Range', 'bytes 0-65535/200000', 'Content-Length', '65536'])}, {drip: Buffer.alloc(65536, 0x62), size: 1, delayMs: 200}])
      else drip(p)
      s.start(d, p)
      await origin.waitForCount(p, 1)
      await sleep(500)
      const e = await term(d, 10_000)
      expect(e.ms, 'SIGTERM did not end the daemon').toBeLessThan(6000)
      expect(e.code, `exit ${e.code} signal ${e.signal}`).toBe(0)
    }, 40_000)
  }
})

describe('[item 10] kill -9 during fills leaves no orphan body files', () => {
  it('after a restart, every file under objects/ belongs to an index record (bounded wait for reclaim)', async () => {
    const first = await startDaemon({upstream: origin.url, config: {cache: {sliceSize: 65536}}})
    const clients: Array<Promise<unknown>> = []
    // Slow fills of mixed sizes, some of them partial objects (slice fills are written straight into objects/).
    for (let i = 0; i < 8; i++) {
      const p = casePath('orphan')
      const size = [3000, 70_000, 400_000, 1_500_000][i % 4]!
      const body = payload(size, i)
      if (i % 3 === 0) {
        origin.route(p, (req) => {
          const w = rangeOrigin(body, ['Cache-Control', 'max-age=3600', 'ETag', `"o${i}"`])(req)[0] as {write: Buffer}
          return [{drip: w.write, size: 16_384, delayMs: 40}]
        })
        clients.push(get(first, p, ['Range', `bytes=0-${Math.min(size - 1, 200_000)}`], 20_000))
      } else {
        origin.route(p, [{drip: resp(200, ['Cache-Control', 'max-age=3600'], body), size: 32_768, delayMs: 30}])
        clients.push(get(first, p, [], 20_000))
      }
    }
    // And a steady stream of fills that complete and replace each other (max-age=0: every GET stores a new body
    // and drops the old file), so the kill lands between a body file and its index record.
    const churn = Array.from({length: 24}, (_, i) => {
      const p = casePath('churn')
      origin.route(p, (req) => [{write: resp(200, ['Cache-Control', 'max-age=0'], payload(4000 + i * 500, req.n))}])
      return p
    })
    let stop = false
    const loops = Array.from({length: 12}, async (_, j) => {
      for (let k = j; !stop; k++) await get(first, churn[k % churn.length]!, [], 3000)
    })
    await sleep(1200)
    await first.kill9()
    stop = true
    await Promise.allSettled([...clients, ...loops])
    const before = objectFiles(first.storageDir).length
    const second = await startDaemon({upstream: origin.url, storageDir: first.storageDir, config: {storage: {evictionInterval: '200ms'}}})
    try {
      const seen = await waitNoOrphans(second, 15_000)
      expect(seen.files, `files under objects/ (${before} right after kill -9) vs records: ${JSON.stringify(seen)}`).toBe(seen.objects + seen.partials)
    } finally {
      await second.stop()
    }
  }, 60_000)
})

describe('[item 13] one storage directory, one daemon', () => {
  it('a second daemon on the same storage directory refuses to start (exit ≠ 0, says why); the first keeps serving', async () => {
    const a = await startDaemon({upstream: origin.url})
    try {
      let started: DaemonHandle | undefined
      let error: Error | undefined
      try {
        started = await startDaemon({upstream: origin.url, storageDir: a.storageDir, readyTimeoutMs: 10_000})
      } catch (e) {
        error = e as Error
      }
      if (started) await started.kill9()
      expect(started, 'a second daemon was accepted on the same storage directory').toBeUndefined()
      expect(error?.message, 'the refusal should name the storage directory or its lock').toMatch(/storage|lock|in use|already/i)
      const p = casePath('still-a')
      origin.route(p, [{write: resp(200, ['Cache-Control', 'no-store'], 'a')}])
      const r = await get(a, p)
      expect(r.status, describeRaw(r)).toBe(200)
    } finally {
      await a.stop()
    }
  }, 40_000)
})

describe('[item 14] one slow URL does not starve its upstream', () => {
  it('while 130 clients wait on one slow URL, other requests to the same upstream are answered within 3 s', async () => {
    const d = await startDaemon({upstream: origin.url})
    try {
      const slow = casePath('slow')
      // Not storable, so requests for it are not collapsed into one (RFC 9111 §4: each goes to the origin).
      origin.route(slow, [{write: resp(200, ['Cache-Control', 'no-store'], 'slow')}])
      await get(d, slow)
      origin.route(slow, [{delay: 8000}, {write: resp(200, ['Cache-Control', 'no-store'], 'slow')}])
      const waiting = Array.from({length: 130}, () => get(d, slow, [], 20_000))
      await origin.waitForCount(slow, 60, 10_000).catch(() => {})
      await sleep(500)
      const other = casePath('other')
      origin.route(other, [{write: resp(200, ['Cache-Control', 'no-store'], 'other')}])
      const t0 = Date.now()
      const r = await get(d, other, [], 10_000)
      const ms = Date.now() - t0
      expect(r.status, describeRaw(r)).toBe(200)
      expect(ms, `another URL on the same upstream waited ${ms} ms behind the slow one`).toBeLessThan(3000)
      await Promise.allSettled(waiting)
    } finally {
      await d.stop()
    }
  }, 60_000)
})
