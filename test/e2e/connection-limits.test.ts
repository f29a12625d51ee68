// Client connections: server.maxConnections (derived from the open-file limit by default) keeps idle connections from
// locking everyone else out, and the connection timeouts are enforced at their configured values (408 for a slow
// request head), not at Node's 30 s check interval.
import net from 'node:net'

import {afterAll, beforeAll, expect, it} from 'vitest'

import {startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'

let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
}, 30_000)
afterAll(async () => {
  await origin?.close()
}, 30_000)

interface RawConnection {
  socket: net.Socket
  /** Everything received so far. */
  received: () => string
  closed: Promise<number>
  connected: Promise<boolean>
}

/** A raw TCP connection that records what comes back and when it closes (ms after open). */
function rawConnect(port: number): RawConnection {
  const socket = net.connect(port, '127.0.0.1')
  const t0 = Date.now()
  let data = ''
  socket.on('data', (c: Buffer) => (data += c.toString('latin1')))
  socket.on('error', () => {})
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - t0)))
  const connected = new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true))
    socket.once('close', () => resolve(false))
  })
  return {socket, received: () => data, closed, connected}
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

it('idle connections beyond server.maxConnections do not lock out a new client', async () => {
  const d = await startDaemon({upstream: origin.url, config: {server: {maxConnections: 20}}})
  const p = uniquePath('limit')
  origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'served'})
  try {
    const idle = Array.from({length: 60}, () => rawConnect(d.port))
    await Promise.all(idle.map((c) => c.connected))
    // At most 20 stay open; the rest were closed to stay within the limit.
    let open = 0
    await waitFor(() => (open = idle.filter((c) => !c.socket.destroyed && c.socket.readyState === 'open').length) <= 20, 5000, 'connections beyond the limit to be closed')
    expect(open).toBeLessThanOrEqual(20)
    for (let i = 0; i < 3; i++) {
      const r = await d.request(p, {timeoutMs: 5000})
      expect(r.text).toBe('served')
    }
    const connections = (await d.status()).connections as {max: number; derived: boolean; open: number; evicted: number; rejected: number}
    expect(connections.max).toBe(20)
    expect(connections.derived).toBe(false)
    expect(connections.open).toBeLessThanOrEqual(20)
    expect(connections.evicted + connections.rejected).toBeGreaterThanOrEqual(40)
    expect(d.logLines().some((l) => String(l.msg).startsWith('connection limit reached'))).toBe(true)
    for (const c of idle) c.socket.destroy()
  } finally {
    await d.stop()
  }
}, 40_000)

it('with a low open-file limit, a flood of idle connections leaves the admin socket, origin fetches and new clients working', async () => {
  // Derived default: floor((256 - 128 - 2 × 8 × 1) / 2) = 56 client connections.
  const d = await startDaemon({upstream: origin.url, config: {upstream: {connections: 8}}, wrap: ['prlimit', '--nofile=256:256', '--']})
  try {
    const flood = Array.from({length: 600}, () => rawConnect(d.port))
    await Promise.all(flood.map((c) => c.connected))
    await sleep(200)
    // The admin socket still accepts.
    expect((await d.status()).pid).toBe(d.pid)
    // New clients are served, including misses that need an origin connection, a temp file and LMDB.
    for (let i = 0; i < 5; i++) {
      const p = uniquePath('flood')
      origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: `object ${i}`})
      const r = await d.request(p, {timeoutMs: 5000})
      expect(r.text).toBe(`object ${i}`)
      expect(r.header('cache-status')).toMatch(/stored/)
    }
    for (const c of flood) c.socket.destroy()
    expect(d.logLines().find((l) => l.msg === 'tavern ready')?.maxConnections).toBe(56)
  } finally {
    await d.stop()
  }
}, 60_000)

it('a request head that does not complete within headersTimeout gets 408 at about that time', async () => {
  const d = await startDaemon({upstream: origin.url, config: {server: {headersTimeout: '1s', requestTimeout: '10s'}}})
  try {
    const c = rawConnect(d.port)
    await c.connected
    c.socket.write('GET /slow HTTP/1.1\r\nHost: slow.test\r\n')
    const ms = await c.closed
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
    expect(ms).toBeGreaterThanOrEqual(800)
    expect(ms).toBeLessThan(2000)
  } finally {
    await d.stop()
  }
}, 30_000)

it('a connection that never sends anything is closed at about headersTimeout, without an answer', async () => {
  const d = await startDaemon({upstream: origin.url, config: {server: {headersTimeout: '1s', requestTimeout: '10s'}}})
  try {
    const c = rawConnect(d.port)
    await c.connected
    const ms = await c.closed
    expect(c.received()).toBe('')
    expect(ms).toBeGreaterThanOrEqual(800)
    expect(ms).toBeLessThan(2000)
  } finally {
    await d.stop()
  }
}, 30_000)

// Node advertises `Keep-Alive: timeout=N` and closes 1 s after N, so a request sent just before N cannot race the close.
it('an idle keep-alive connection is closed at about keepAliveTimeout (+ Node\'s 1 s margin), as advertised', async () => {
  const d = await startDaemon({upstream: origin.url, config: {server: {keepAliveTimeout: '1s'}}})
  const p = uniquePath('keepalive')
  origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'k'})
  try {
    const c = rawConnect(d.port)
    await c.connected
    c.socket.write(`GET ${p} HTTP/1.1\r\nHost: ka.test\r\n\r\n`)
    await waitFor(() => /\r\n\r\nk$/.test(c.received()), 5000, 'the response')
    const answeredAt = Date.now()
    await c.closed
    const idleMs = Date.now() - answeredAt
    expect(c.received()).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i)
    expect(idleMs).toBeGreaterThanOrEqual(800)
    expect(idleMs).toBeLessThan(1000 + 1000 + 500)
  } finally {
    await d.stop()
  }
}, 30_000)

it('headersTimeout longer than requestTimeout is a config error naming the key', async () => {
  const e = await startDaemon({upstream: origin.url, config: {server: {headersTimeout: '20s', requestTimeout: '10s'}}}).then(
    () => undefined,
    (error: Error) => error,
  )
  expect(e?.message).toMatch(/server\.headersTimeout: headersTimeout must not be longer than requestTimeout/)
}, 30_000)
