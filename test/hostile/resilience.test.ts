/**
 * Hostile peers of the resilience and rate-limit code: a "Redis" that answers garbage, a "Redis" that accepts the
 * connection and never says a word, a Redis that stops answering (SIGSTOP) mid-run, a health endpoint that never
 * answers. The daemon keeps serving, answers in bounded time, never
 * crashes, and shuts down promptly.
 */
import net from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {redisServerPath, startRedis} from '../helpers/redis.js'
import {waitFor} from '../helpers/wait.js'

let cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
  cleanup = []
})

async function origin(): Promise<Origin> {
  const o = await startOrigin()
  cleanup.push(() => o.close())
  return o
}

async function daemon(upstream: string | undefined, config: Record<string, unknown>): Promise<DaemonHandle> {
  const d = await startDaemon({upstream, config})
  cleanup.push(() => d.stop())
  return d
}

/** A TCP server that answers every chunk with bytes that are not RESP. */
async function garbageServer(): Promise<{port: number; close(): Promise<void>}> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.on('data', () => s.write(Buffer.from('\x00\xff?garbage\r\n$-7\r\n*x\r\n')))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}

/** A TCP server that accepts and reads everything and never writes a byte (not even to the ready check). */
async function silentServer(): Promise<{port: number; bytesRead(): number; close(): Promise<void>}> {
  const sockets = new Set<net.Socket>()
  let read = 0
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.on('data', (b) => (read += b.length))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as net.AddressInfo).port,
    bytesRead: () => read,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}

const sharedRule = {name: 'shared', limit: 1000, window: '1s', store: 'redis'}

describe('hostile Redis and health endpoints', () => {
  it('a "Redis" answering garbage: requests are decided on the node (failMode local), answered quickly, no crash', async () => {
    const o = await origin()
    const g = await garbageServer()
    cleanup.push(() => g.close())
    const d = await daemon(o.url, {rateLimits: {redis: {url: `redis://127.0.0.1:${g.port}`, commandTimeout: '100ms', connectTimeout: '300ms'}, rules: [sharedRule]}})
    const p = uniquePath('garbage')
    o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'ok'})
    for (let i = 0; i < 10; i++) {
      const r = await d.request(p, {timeoutMs: 3000})
      expect(r.status).toBe(200)
      expect(r.endedAt - r.startedAt).toBeLessThan(1500)
    }
    expect(d.process.exitCode).toBeNull()
  })

  it('a "Redis" that accepts and never answers: each rule fails by its own failMode, no request waits past commandTimeout', async () => {
    const o = await origin()
    const silent = await silentServer()
    cleanup.push(() => silent.close())
    const d = await daemon(o.url, {
      rateLimits: {
        redis: {url: `redis://127.0.0.1:${silent.port}`, commandTimeout: '150ms', connectTimeout: '300ms', failMode: 'local'},
        rules: [
          {name: 'opened', algorithm: 'fixed-window', limit: 2, window: '1h', store: 'redis', failMode: 'open', match: {paths: ['/opened-']}},
          {name: 'shut', algorithm: 'fixed-window', limit: 2, window: '1h', store: 'redis', failMode: 'closed', status: 503, match: {paths: ['/shut-']}},
          {name: 'near', algorithm: 'fixed-window', limit: 2, window: '1h', store: 'redis', match: {paths: ['/near-']}},
        ],
      },
    })
    expect(silent.bytesRead(), 'the daemon did talk to it').toBeGreaterThan(0)
    const answers = async (prefix: string): Promise<number[]> => {
      const p = uniquePath(prefix)
      o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'ok'})
      const out: number[] = []
      for (let i = 0; i < 4; i++) {
        const r = await d.request(p, {timeoutMs: 3000})
        // 150 ms of commandTimeout plus a busy machine's slack; a request held for the silent server would take longer.
        expect(r.endedAt - r.startedAt, `${prefix}: not held for the silent server`).toBeLessThan(150 + 600)
        out.push(r.status)
      }
      return out
    }
    expect(await answers('opened')).toEqual([200, 200, 200, 200])
    expect(await answers('shut')).toEqual([503, 503, 503, 503])
    expect(await answers('near')).toEqual([200, 200, 429, 429])
    expect(d.logs()).toContain('Redis unreachable, per rule: opened open, shut closed, near local')
    expect(d.process.exitCode).toBeNull()
  })

  it.skipIf(!redisServerPath)('Redis frozen mid-run (SIGSTOP): each request waits at most about commandTimeout, then Redis answers again', async () => {
    const redis = (await startRedis())!
    cleanup.push(() => redis.close())
    const o = await origin()
    const d = await daemon(o.url, {rateLimits: {redis: {url: redis.url, commandTimeout: '100ms', retryInterval: '300ms', failMode: 'local'}, rules: [sharedRule]}})
    const p = uniquePath('frozen')
    o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'ok'})
    expect((await d.request(p)).status).toBe(200)
    redis.freeze()
    try {
      for (let i = 0; i < 8; i++) {
        const r = await d.request(p, {timeoutMs: 3000})
        expect(r.status).toBe(200)
        expect(r.endedAt - r.startedAt, 'no request is held for the frozen Redis').toBeLessThan(1500)
      }
    } finally {
      redis.resume()
    }
    expect(d.logs()).toContain('Redis unreachable')
    await waitFor(async () => {
      await d.request(p)
      return d.logs().includes('Redis answering again')
    }, {timeoutMs: 8000, intervalMs: 100, message: 'shared limits restored after the thaw'})
  })

  it('a health endpoint that never answers takes its member out; the others serve; shutdown is prompt', async () => {
    const hung = await origin()
    const fine = await origin()
    hung.route('/health', {hang: true})
    fine.route('/health', {body: 'ok'})
    const d = await daemon(undefined, {
      upstreams: [{url: hung.url, name: 'hung'}, {url: fine.url, name: 'fine'}],
      upstream: {healthCheck: {path: '/health', interval: '300ms', timeout: '200ms', fall: 1, rise: 1}},
    })
    await waitFor(async () => ((await d.status()).upstreams as Array<{name: string; probeUp?: boolean}>).find((u) => u.name === 'hung')?.probeUp === false, {timeoutMs: 5000, message: 'hung member down'})
    const p = uniquePath('hc')
    for (const x of [hung, fine]) x.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'ok'})
    for (let i = 0; i < 6; i++) expect((await d.request(p)).status).toBe(200)
    expect(hung.countFor(p)).toBe(0)
    const t0 = Date.now()
    expect(await d.stop()).toBe(0)
    expect(Date.now() - t0).toBeLessThan(5000)
  })
})
