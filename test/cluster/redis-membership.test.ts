/**
 * Cluster membership through a real redis-server: nodes see each other, a node that closes is gone at once, a node
 * that dies (a killed process) is gone after ttl, a member written without a notice is found by the polls, and a Redis
 * outage (killed, restarted empty) never shrinks a node's list — it is logged once and the lists recover after.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {Redis} from 'ioredis'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import type {PeerSpec} from '../../src/cluster/peer-ring.js'
import {type MembershipLog, RedisMembership, type RedisMembershipOptions} from '../../src/cluster/redis-membership.js'
import {type RedisServer, redisServerPath, startRedis} from '../helpers/redis.js'
import {waitFor} from '../helpers/wait.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const HEARTBEAT = 100
const TTL = 600
const LONG_TTL = 5000

interface Node {
  m: RedisMembership
  /** Every list reported, in order. */
  lists: string[][]
  last(): string[]
  warns: string[]
  infos: string[]
}

describe.skipIf(!redisServerPath)('redis membership', () => {
  let redis: RedisServer
  let nodes: Node[] = []
  let children: ChildProcess[] = []
  beforeAll(async () => {
    redis = (await startRedis())!
  })
  afterEach(async () => {
    if (!redis.running) await redis.start()
    await Promise.all(nodes.map((n) => n.m.close()))
    nodes = []
    for (const c of children) c.kill('SIGKILL')
    children = []
  })
  afterAll(async () => {
    await redis?.close()
  })

  const prefix = () => `t${Math.random().toString(36).slice(2)}:`

  async function node(port: number, over: Partial<RedisMembershipOptions> = {}): Promise<Node> {
    const warns: string[] = []
    const infos: string[] = []
    const log: MembershipLog = {warn: (_o, msg) => warns.push(msg ?? ''), info: (_o, msg) => infos.push(msg ?? '')}
    const m = new RedisMembership({url: redis.url, self: {url: `http://127.0.0.1:${port}`}, heartbeatMs: HEARTBEAT, ttlMs: TTL, commandTimeoutMs: 200, log, ...over})
    const lists: string[][] = []
    const n: Node = {m, lists, last: () => lists.at(-1) ?? [], warns, infos}
    nodes.push(n)
    await m.start((peers: PeerSpec[]) => lists.push(peers.map((p) => `${p.url}*${p.weight}`)))
    return n
  }

  const ids = (...ports: number[]) => ports.map((p) => `http://127.0.0.1:${p}*1`)

  it('three nodes see each other (sorted, with weights); one that closes is gone from the others at once', async () => {
    const p = prefix()
    // Generous ttl and command timeout: this test is about the goodbye, and a loaded CI box can stall a command
    // past its timeout (an "unreachable" warning, and then one ttl in which the list may only grow, so b would stay
    // listed) or a heartbeat past a short ttl.
    const slack = {prefix: p, ttlMs: LONG_TTL, commandTimeoutMs: 3000}
    const a = await node(9001, slack)
    const b = await node(9002, {...slack, self: {url: 'http://127.0.0.1:9002', weight: 2}})
    const c = await node(9003, slack)
    const all = ['http://127.0.0.1:9001*1', 'http://127.0.0.1:9002*2', 'http://127.0.0.1:9003*1']
    for (const n of [a, b, c]) await waitFor(() => n.last().join() === all.join(), {message: 'all three listed'})
    // The first list a node reports is never empty: itself at least.
    expect(a.lists[0]).toContain('http://127.0.0.1:9001*1')

    const t0 = Date.now()
    await b.m.close()
    for (const n of [a, c]) await waitFor(() => n.last().join() === ids(9001, 9003).join(), {message: 'b gone'})
    // Deregistered and announced: well before its registration would have expired.
    expect(Date.now() - t0).toBeLessThan(LONG_TTL)
    expect(a.warns).toEqual([])
  })

  it('a node that dies without a goodbye (its process killed) drops out after ttl, not before', async () => {
    const p = prefix()
    const a = await node(9101, {prefix: p})
    const script = `
      const {RedisMembership} = await import(${JSON.stringify(path.join(ROOT, 'dist/cluster/redis-membership.js'))})
      const m = new RedisMembership({url: ${JSON.stringify(redis.url)}, self: {url: 'http://127.0.0.1:9102'}, prefix: ${JSON.stringify(p)}, heartbeatMs: ${HEARTBEAT}, ttlMs: ${TTL}})
      await m.start(() => {})
      console.log('started')
      setInterval(() => {}, 1000)`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
    children.push(child)
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('started') && resolve())
      child.once('exit', (code) => reject(new Error(`child exited ${code}`)))
    })
    await waitFor(() => a.last().join() === ids(9101, 9102).join(), {message: 'child listed'})
    const t0 = Date.now()
    child.kill('SIGKILL')
    await waitFor(() => a.last().join() === ids(9101).join(), {timeoutMs: TTL + 3000, message: 'child gone'})
    const took = Date.now() - t0
    // Its last refresh was at most one heartbeat before the kill.
    expect(took).toBeGreaterThanOrEqual(TTL - HEARTBEAT - 50)
    expect(took).toBeLessThan(TTL + 4 * HEARTBEAT + 1000)
  })

  it('a member written without a notice (a lost message) is found by the next poll; entries that are not peers are ignored, once', async () => {
    const p = prefix()
    const a = await node(9201, {prefix: p})
    const raw = new Redis(redis.url)
    try {
      const [sec] = await raw.time()
      const far = Number(sec) * 1000 + 60_000
      await raw.zadd(`${p}members`, far, 'http://127.0.0.1:9202', far, 'not a url', far, 'http://127.0.0.1:9203')
      await raw.hset(`${p}weights`, 'http://127.0.0.1:9202', '3', 'http://127.0.0.1:9203', '-1')
    } finally {
      raw.disconnect()
    }
    await waitFor(() => a.last().join() === ['http://127.0.0.1:9201*1', 'http://127.0.0.1:9202*3'].join(), {timeoutMs: 3000, message: 'polled'})
    await new Promise((r) => setTimeout(r, 3 * HEARTBEAT))
    expect(a.warns.filter((w) => w.includes('not a peer'))).toHaveLength(2)
  })

  it('Redis killed: every list stays as it was (logged once per outage); restarted empty: the lists recover, joins and leaves work again', async () => {
    const p = prefix()
    const [a, b, c] = [await node(9301, {prefix: p}), await node(9302, {prefix: p}), await node(9303, {prefix: p})]
    const all = ids(9301, 9302, 9303)
    for (const n of [a, b, c]) await waitFor(() => n.last().join() === all.join(), {message: 'all listed'})
    const before = [a, b, c].map((n) => n.lists.length)

    await redis.stop()
    // Several beats and reconnection attempts, and longer than ttl: nothing drops.
    await new Promise((r) => setTimeout(r, TTL + 5 * HEARTBEAT))
    for (const n of [a, b, c]) expect(n.last()).toEqual(all)
    await redis.start()
    // Restarted with nothing in it: the nodes register again; no list ever lost a member meanwhile.
    await waitFor(
      async () => {
        const raw = new Redis(redis.url)
        try {
          return (await raw.zcard(`${p}members`)) === 3
        } finally {
          raw.disconnect()
        }
      },
      {timeoutMs: 8000, message: 're-registered'},
    )
    await new Promise((r) => setTimeout(r, TTL + 2 * HEARTBEAT))
    ;[a, b, c].forEach((n, i) => {
      expect(n.lists.length).toBe(before[i])
      expect(n.warns.filter((w) => w.includes('unreachable'))).toHaveLength(1)
      expect(n.infos.filter((w) => w.includes('reachable again'))).toHaveLength(1)
    })

    // Working again: a join and a leave.
    const d = await node(9304, {prefix: p})
    for (const n of [a, b, c, d]) await waitFor(() => n.last().join() === ids(9301, 9302, 9303, 9304).join(), {timeoutMs: 3000, message: 'd joined'})
    await c.m.close()
    for (const n of [a, b, d]) await waitFor(() => n.last().join() === ids(9301, 9302, 9304).join(), {timeoutMs: 3000, message: 'c left'})
  })

  it('refuses a ttl not longer than the heartbeat, and a bad self URL', () => {
    expect(() => new RedisMembership({url: redis.url, self: {url: 'http://127.0.0.1:1'}, heartbeatMs: 1000, ttlMs: 1000})).toThrow(/ttl must be longer than heartbeat/)
    expect(() => new RedisMembership({url: redis.url, self: {url: 'http://127.0.0.1:1/x'}, heartbeatMs: 100, ttlMs: 1000})).toThrow(/no path/)
  })
})
