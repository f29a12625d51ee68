/**
 * Hostile "Redis" servers for cluster membership: one that accepts TCP and never answers, one that answers garbage,
 * a real one frozen (SIGSTOP) while nodes run. start() returns within its timeout with this node alone, nothing
 * throws or stays unhandled, the list never empties, close() is prompt. A daemon whose membership Redis never
 * answers starts in bounded time, serves, and stops promptly.
 */
import net from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import type {ClusterStatusBody} from '../../src/admin/protocol.js'
import type {PeerSpec} from '../../src/cluster/peer-ring.js'
import {RedisMembership} from '../../src/cluster/redis-membership.js'
import {startDaemon} from '../helpers/daemon.js'
import {startOrigin, uniquePath} from '../helpers/origin.js'
import {redisServerPath, startRedis} from '../helpers/redis.js'
import {waitFor} from '../helpers/wait.js'

let cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
  cleanup = []
})

/** A TCP server that accepts and then does `onData` (nothing, by default) with what it is sent. */
async function tcpServer(onData: (s: net.Socket) => void = () => {}): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.on('data', () => onData(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  )
  return (server.address() as net.AddressInfo).port
}

function unhandled(): {errors: unknown[]} {
  const errors: unknown[] = []
  const on = (e: unknown) => errors.push(e)
  process.on('unhandledRejection', on)
  process.on('uncaughtException', on)
  cleanup.push(async () => {
    process.off('unhandledRejection', on)
    process.off('uncaughtException', on)
  })
  return {errors}
}

async function startAgainst(url: string) {
  const lists: PeerSpec[][] = []
  const warns: string[] = []
  const m = new RedisMembership({
    url,
    self: {url: 'http://127.0.0.1:9401'},
    heartbeatMs: 100,
    ttlMs: 500,
    commandTimeoutMs: 100,
    connectTimeoutMs: 300,
    startTimeoutMs: 500,
    log: {warn: (_o, msg) => warns.push(msg ?? ''), info: () => {}},
  })
  cleanup.push(() => m.close())
  const t0 = Date.now()
  await m.start((p) => lists.push(p))
  return {m, lists, warns, startMs: Date.now() - t0}
}

describe('hostile Redis for cluster membership', () => {
  it('accepts TCP and never answers: start returns within its timeout with this node alone; close is prompt', async () => {
    const {errors} = unhandled()
    const port = await tcpServer()
    const {m, lists, startMs} = await startAgainst(`redis://127.0.0.1:${port}`)
    expect(startMs).toBeLessThan(1500)
    expect(lists).toEqual([[{url: 'http://127.0.0.1:9401', weight: 1}]])
    // Beats keep failing in the background without piling up or throwing.
    await new Promise((r) => setTimeout(r, 600))
    expect(lists).toHaveLength(1)
    expect(m.healthy).toBe(false)
    const t1 = Date.now()
    await m.close()
    expect(Date.now() - t1).toBeLessThan(1000)
    expect(errors).toEqual([])
  })

  it('answers garbage: no crash, this node alone, the outage logged once', async () => {
    const {errors} = unhandled()
    const port = await tcpServer((s) => s.write(Buffer.from('\x00\xff?garbage\r\n$-7\r\n*x\r\n')))
    const {lists, warns, startMs} = await startAgainst(`redis://127.0.0.1:${port}`)
    expect(startMs).toBeLessThan(1500)
    await new Promise((r) => setTimeout(r, 600))
    expect(lists).toEqual([[{url: 'http://127.0.0.1:9401', weight: 1}]])
    expect(warns.filter((w) => w.includes('unreachable')).length).toBeLessThanOrEqual(1)
    expect(errors).toEqual([])
  })

  it.skipIf(!redisServerPath)('a real Redis frozen while nodes run: the lists stand, close is prompt; thawed, they go on', async () => {
    const redis = (await startRedis())!
    cleanup.push(() => redis.close())
    const a = await startAgainst(redis.url)
    const b = new RedisMembership({url: redis.url, self: {url: 'http://127.0.0.1:9402'}, heartbeatMs: 100, ttlMs: 500, commandTimeoutMs: 100})
    cleanup.push(() => b.close())
    await b.start(() => {})
    await waitFor(() => a.lists.at(-1)?.length === 2, {message: 'both listed'})
    redis.freeze()
    await new Promise((r) => setTimeout(r, 800))
    expect(a.lists.at(-1)?.length).toBe(2)
    const t1 = Date.now()
    await b.close()
    expect(Date.now() - t1).toBeLessThan(1000)
    redis.resume()
    // b could not say goodbye while Redis was frozen: it expires instead.
    await waitFor(() => a.lists.at(-1)?.length === 1, {timeoutMs: 3000, message: 'b expired'})
  })

  it('a daemon whose membership Redis never answers: starts in bounded time, serves alone, stops promptly', async () => {
    const port = await tcpServer()
    const origin = await startOrigin()
    cleanup.push(() => origin.close())
    const t0 = Date.now()
    const d = await startDaemon({
      upstream: origin.url,
      config: {cluster: {self: 'http://127.0.0.1:9501', trust: ['127.0.0.1'], connectTimeout: '300ms', membership: {type: 'redis', url: `redis://127.0.0.1:${port}`, heartbeat: '100ms', ttl: '1s'}}},
    })
    cleanup.push(() => d.stop())
    // The membership waits at most its connect timeout plus one command timeout for a first list.
    expect(Date.now() - t0).toBeLessThan(15_000)
    const p = uniquePath('alone')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'x'})
    expect((await d.request(p, {timeoutMs: 3000})).status).toBe(200)
    const cluster = (JSON.parse((await d.admin('/status/cluster')).text) as ClusterStatusBody).cluster!
    expect(cluster.peers.map((x) => x.id)).toEqual(['http://127.0.0.1:9501'])
    const t1 = Date.now()
    expect(await d.stop()).toBe(0)
    expect(Date.now() - t1).toBeLessThan(5000)
  })
})
