// SIGTERM ends the daemon within server.shutdownTimeout + a few seconds, whatever origins and stdout do; LMDB is
// flushed on the way (a restart on the same storage serves what was stored); a shutdown that cannot finish is ended by
// the watchdog; a second signal ends it at once.
import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'

let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
}, 30_000)
afterAll(async () => {
  await origin?.close()
}, 30_000)

/** An endless body: a small chunk every 100 ms, forever (the origin never finishes it). */
async function* drip(): AsyncGenerator<Buffer> {
  for (;;) {
    yield Buffer.alloc(512, 0x61)
    await sleep(100)
  }
}

async function stopTimed(d: DaemonHandle, signal: NodeJS.Signals = 'SIGTERM'): Promise<{code: number; ms: number}> {
  const t0 = Date.now()
  const code = await d.stop(signal, 30_000)
  return {code, ms: Date.now() - t0}
}

it('an origin dripping bodies forever: SIGTERM still ends the daemon within shutdownTimeout + a few seconds, exit 0', async () => {
  const d = await startDaemon({upstream: origin.url, config: {server: {shutdownTimeout: '1s'}}})
  const paths = [uniquePath('drip'), uniquePath('drip'), uniquePath('drip')]
  for (const p of paths) origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: drip, chunked: true})
  const clients = paths.map((p) => d.request(p, {allowIncomplete: true, timeoutMs: 30_000}).catch((e: Error) => e))
  for (const p of paths) await origin.waitForCount(p, 1)
  await sleep(300)
  const {code, ms} = await stopTimed(d)
  expect(ms, d.logs()).toBeLessThan(1000 + 4000)
  expect(code, d.logs()).toBe(0)
  const logs = d.logLines().map((l) => l.msg)
  expect(logs).toContain('deadline reached; unfinished cache fills are discarded')
  expect(logs).toContain('stopped')
  for (const r of await Promise.all(clients)) if (!(r instanceof Error)) expect(r.complete).toBe(false)
}, 30_000)

it('stdout reader gone (EPIPE), access log on stdout: the daemon keeps serving, SIGTERM ends it with 0, and what it stored survives', async () => {
  const d = await startDaemon({upstream: origin.url, args: ['--access-log', 'stdout'], config: {server: {shutdownTimeout: '2s'}}})
  const p = uniquePath('epipe')
  origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'kept across the restart'})
  const headers = {Host: 'epipe.tavern.test'}
  // Like `tavern serve | head -1`: the reader goes away, every later write to stdout fails with EPIPE.
  d.process.stdout!.destroy()
  // Every request now writes an access log line (and some a daemon log line) into the broken pipe.
  for (let i = 0; i < 20; i++) {
    const r = await d.request(p, {headers})
    expect(r.text).toBe('kept across the restart')
  }
  expect((await d.status()).pid).toBe(d.pid)
  const {code, ms} = await stopTimed(d)
  expect(ms, d.logs()).toBeLessThan(2000 + 4000)
  expect(code, d.logs()).toBe(0)

  const again = await startDaemon({upstream: origin.url, storageDir: d.storageDir})
  try {
    const r = await again.request(p, {headers})
    expect(r.text).toBe('kept across the restart')
    expect(origin.countFor(p)).toBe(1)
  } finally {
    await again.stop()
  }
}, 40_000)

it('a shutdown that cannot finish is ended by the watchdog at shutdownTimeout + 5 s, logged, and reported as a failure', async () => {
  const d = await startDaemon({upstream: origin.url, config: {server: {shutdownTimeout: '1s'}}, env: {TAVERN_FAULT: 'stall-shutdown'}})
  const {code, ms} = await stopTimed(d)
  expect(ms, d.logs()).toBeGreaterThanOrEqual(1000 + 5000 - 200)
  expect(ms, d.logs()).toBeLessThan(1000 + 5000 + 3000)
  expect(code, d.logs()).not.toBe(0)
  const fatal = d.logLines().find((l) => l.level === 'fatal')
  expect(fatal?.msg, d.logs()).toMatch(/shutdown did not finish within 6000 ms/)
}, 30_000)

it('a second signal ends a shutdown in progress at once', async () => {
  const d = await startDaemon({upstream: origin.url, config: {server: {shutdownTimeout: '20s'}}})
  const p = uniquePath('second')
  origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: drip, chunked: true})
  const client = d.request(p, {allowIncomplete: true, timeoutMs: 30_000}).catch((e: Error) => e)
  await origin.waitForCount(p, 1)
  d.process.kill('SIGTERM')
  await sleep(300)
  const {code, ms} = await stopTimed(d, 'SIGINT')
  expect(ms, d.logs()).toBeLessThan(2000)
  expect(code).not.toBe(0)
  expect(d.logLines().some((l) => l.msg === 'second signal: exiting now'), d.logs()).toBe(true)
  await client
}, 30_000)
