import http from 'node:http'
import net, {type AddressInfo} from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {formatSseComment, formatSseEvent, SnapshotBroadcaster, type SnapshotBroadcasterOptions} from '../../src/dashboard/sse.js'
import {Stats} from '../../src/stats/recorder.js'
import {openSse, type SseConnection} from '../helpers/sse-client.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

async function serve<T>(opts: SnapshotBroadcasterOptions<T>): Promise<{url: string; b: SnapshotBroadcaster<T>; port: number}> {
  const b = new SnapshotBroadcaster(opts)
  const server = http.createServer((req, res) => b.attach(req, res, new URL(req.url ?? '/', 'http://x')))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const conns: SseConnection[] = []
  cleanups.push(async () => {
    for (const c of conns) c.close()
    b.close()
    server.closeAllConnections()
    await new Promise<void>((r) => server.close(() => r()))
  })
  return {url: `http://127.0.0.1:${port}/`, b, port}
}

async function poll<T>(fn: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

function track(c: SseConnection): SseConnection {
  cleanups.push(() => c.close())
  return c
}

describe('SSE wire format', () => {
  it('writes id, event and one data line per line of data; CR/LF/NUL cannot break out of id or event', () => {
    expect(formatSseEvent({id: '7', event: 'snapshot', data: '{"a":1}'})).toBe('id: 7\nevent: snapshot\ndata: {"a":1}\n\n')
    expect(formatSseEvent({data: 'one\ntwo\r\nthree'})).toBe('data: one\ndata: two\ndata: three\n\n')
    expect(formatSseEvent({id: '1\n\ndata: x', event: 'a\rb\0', data: ''})).toBe('id: 1data: x\nevent: ab\ndata: \n\n')
    expect(formatSseComment('keep\nalive')).toBe(': keepalive\n\n')
  })
})

describe('SnapshotBroadcaster', () => {
  it('answers text/event-stream with a retry hint and the first snapshot at once, then one per tick with rising ids', async () => {
    const stats = new Stats()
    stats.requestFinished({outcome: 'hit', status: 200, bytesOut: 10, durationMs: 1, key: 'k'})
    const {url} = await serve({getSnapshot: () => stats.snapshot(), intervalMs: 50, retryMs: 1500})
    const c = track(await openSse(url))
    expect(c.status).toBe(200)
    expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(c.headers['cache-control']).toBe('no-store')
    await c.waitFor(() => c.events.length >= 3, 5000, 'three events')
    expect(c.raw().startsWith('retry: 1500\n\n')).toBe(true)
    expect(c.retry).toBe(1500)
    const ids = c.events.map((e) => Number(e.id))
    expect(ids.slice(0, 3)).toEqual([1, 2, 3])
    expect(c.events.every((e) => e.event === 'snapshot')).toBe(true)
    const snap = JSON.parse(c.events[0]!.data) as ReturnType<Stats['snapshot']>
    expect(snap.requests.total).toBe(1)
    expect(snap.topKeys.byRequests[0]?.key).toBe('k')
  })

  it('takes one snapshot per tick for all clients, and stops ticking when the last one leaves', async () => {
    let calls = 0
    const {url, b} = await serve({getSnapshot: () => ({n: ++calls}), intervalMs: 40})
    const a = track(await openSse(url))
    const c = track(await openSse(url))
    await c.waitFor(() => c.events.length >= 4 && a.events.length >= 4, 5000, 'events on both')
    // Each event's data is the getter's call number: both clients saw the same snapshot under the same id.
    const byIdA = new Map(a.events.map((e) => [e.id, e.data]))
    for (const e of c.events) if (byIdA.has(e.id)) expect(byIdA.get(e.id)).toBe(e.data)
    expect(b.stats().snapshots).toBe(calls)
    expect(b.stats().seq).toBe(calls)
    a.close()
    c.close()
    await poll(() => b.stats().clients === 0, 'clients gone')
    expect(b.stats().ticking).toBe(false)
  })

  it('honours Last-Event-ID: the current snapshot goes out at once unless the client already has it', async () => {
    let calls = 0
    // A tick a minute: nothing happens unless the test says so.
    const {url, b} = await serve({getSnapshot: () => ({n: ++calls}), intervalMs: 60_000})
    const first = track(await openSse(url))
    await first.waitFor(() => first.events[0], 5000, 'first event')
    expect(first.events[0]!.id).toBe('1')

    const behind = track(await openSse(url, {'last-event-id': '0'}))
    await behind.waitFor(() => behind.events[0], 5000, 'current snapshot at once')
    expect(behind.events[0]!.id).toBe('1')

    const current = track(await openSse(url, {'last-event-id': '1'}))
    const viaQuery = track(await openSse(`${url}?lastEventId=1`))
    await b.publishNow()
    await current.waitFor(() => current.events[0], 5000, 'next snapshot')
    await viaQuery.waitFor(() => viaQuery.events[0], 5000, 'next snapshot (query)')
    // They had #1 already: their first event is #2, not a repeat of #1.
    expect(current.events[0]!.id).toBe('2')
    expect(viaQuery.events[0]!.id).toBe('2')
    expect(calls).toBe(2)
  })

  it('sends keep-alive comments while no snapshot comes, reports a hung getter, abandons it and recovers', async () => {
    const errors: string[] = []
    let calls = 0
    let hang = true
    const getSnapshot = (): Promise<{n: number}> | {n: number} => {
      calls++
      return hang ? new Promise<never>(() => {}) : {n: calls}
    }
    const {url, b} = await serve({getSnapshot, heartbeatMs: 100, snapshotTimeoutMs: 300, intervalMs: 50, onError: (e) => errors.push(e.message)})
    const c = track(await openSse(url))
    await c.waitFor(() => c.comments.filter((x) => x === 'keep-alive').length >= 2, 5000, 'two keep-alive comments')
    await c.waitFor(() => c.events.filter((e) => e.event === 'daemon-error').length >= 2, 5000, 'two daemon-errors')
    const e = JSON.parse(c.events.find((x) => x.event === 'daemon-error')!.data) as {message: string}
    expect(e.message).toBe('no snapshot within 300 ms')
    expect(errors[0]).toBe('no snapshot within 300 ms')
    // Ticks every 50 ms, but a hung call is retried only once per timeout: one call per error, plus the current one.
    const s = b.stats()
    expect(calls).toBeGreaterThanOrEqual(s.errors)
    expect(calls).toBeLessThanOrEqual(s.errors + 1)
    expect(s.snapshots).toBe(0)
    hang = false
    await c.waitFor(() => c.events.find((x) => x.event === 'snapshot'), 5000, 'a snapshot once the getter answers again')
  })

  it('reports a failing getter as daemon-error and carries on when it recovers', async () => {
    let fail = true
    const {url} = await serve({getSnapshot: () => (fail ? Promise.reject(new Error('daemon thread busy')) : {ok: true}), intervalMs: 30})
    const c = track(await openSse(url))
    await c.waitFor(() => c.events.find((e) => e.event === 'daemon-error'), 5000, 'daemon-error')
    expect(JSON.parse(c.events[0]!.data).message).toBe('daemon thread busy')
    expect(c.events[0]!.id).toBeUndefined()
    fail = false
    await c.waitFor(() => c.events.find((e) => e.event === 'snapshot'), 5000, 'snapshot after recovery')
    expect(c.events.find((e) => e.event === 'snapshot')!.id).toBe('1')
  })

  it('skips ticks for a client that does not read instead of buffering, serves the others, and drops it when stuck', async () => {
    // 256 KiB snapshots: a client that never reads fills its socket buffers within a few events.
    const big = {pad: 'x'.repeat(256 * 1024)}
    const {b, port, url} = await serve({getSnapshot: () => big, intervalMs: 20, maxBlockedMs: 1500})
    const slow = net.connect(port, '127.0.0.1')
    slow.on('error', () => {})
    cleanups.push(() => void slow.destroy())
    slow.write('GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')
    slow.pause()
    const fast = track(await openSse(url))
    const blocked = await poll(() => b.stats().perClient.find((c) => c.skipped >= 5), 'the slow client skipping ticks')
    const bufferedThen = blocked.buffered
    await fast.waitFor(() => fast.events.length >= 10, 5000, 'the fast client to keep receiving')
    const later = await poll(() => b.stats().perClient.find((c) => c.skipped >= 20), 'more skipped ticks')
    // Skipping means nothing more was queued for it: at most the one event that found the buffer full.
    expect(later.buffered).toBe(bufferedThen)
    expect(later.buffered).toBeLessThanOrEqual(2 * 300 * 1024)
    await poll(() => b.stats().dropped === 1, 'the stuck client dropped', 8000)
    expect(b.stats().clients).toBe(1)
  })

  it('refuses streams beyond maxClients with 503 and a catalogue code, and ends every stream on close()', async () => {
    const {url, b} = await serve({getSnapshot: () => ({}), maxClients: 2, intervalMs: 1000})
    const a = track(await openSse(url))
    const c = track(await openSse(url))
    await poll(() => b.stats().clients === 2, 'two clients')
    const r = await fetch(url)
    expect(r.status).toBe(503)
    expect(r.headers.get('retry-after')).toBe('5')
    expect(((await r.json()) as {error: {code: string}}).error.code).toBe('TAVERN_ERR_DASHBOARD_BUSY')
    b.close()
    await a.waitFor(() => a.ended && c.ended, 5000, 'streams ended')
    const after = await fetch(url)
    expect(after.status).toBe(503)
    await after.arrayBuffer()
  })
})
