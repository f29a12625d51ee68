/**
 * The Redis store as several Tavern nodes use it: independent stores (own client each, as three daemons) sharing one
 * limit on a real redis-server; Redis killed or frozen mid-run → each node keeps deciding (its fail mode per rule: local
 * limits, open or closed), quickly, and goes back to Redis once it is back.
 */
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {LocalLimiterStore} from '../../../src/traffic/ratelimit/local-store.js'
import {RedisLimiterStore, type RedisStoreOptions} from '../../../src/traffic/ratelimit/redis-store.js'
import type {StoreDecision} from '../../../src/traffic/ratelimit/store.js'
import type {LimitSpec} from '../../../src/traffic/ratelimit/types.js'
import {waitFor} from '../../helpers/wait.js'
import {type RedisServer, redisServerPath, startRedis} from '../../helpers/redis.js'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

describe.skipIf(!redisServerPath)('redis limiter store', () => {
  let redis: RedisServer
  let stores: RedisLimiterStore[] = []
  beforeAll(async () => {
    redis = (await startRedis())!
  })
  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()))
    stores = []
    if (!redis.running) await redis.start()
    redis.resume()
  })
  afterAll(async () => {
    await redis?.close()
  })

  function node(over: Partial<RedisStoreOptions> = {}): RedisLimiterStore {
    const s = new RedisLimiterStore({
      url: redis.url,
      prefix: `t${Math.random().toString(36).slice(2)}:`,
      commandTimeoutMs: 100,
      connectTimeoutMs: 500,
      retryIntervalMs: 200,
      failMode: 'local',
      fallbackShare: 1 / 3,
      fallback: new LocalLimiterStore({maxKeys: 1000}),
      ...over,
    })
    stores.push(s)
    return s
  }

  /** Each node offers decisions from `workers` loops (a pause of `pauseMs` each) for `ms`; every decision is timed. */
  async function drive(nodes: RedisLimiterStore[], id: string, spec: LimitSpec, ms: number, opts: {workers?: number; pauseMs?: number; during?: (elapsed: number) => void} = {}) {
    const end = Date.now() + ms
    const start = Date.now()
    const log: Array<{at: number; node: number; d: StoreDecision; tookMs: number}> = []
    await Promise.all(
      nodes.flatMap((s, n) =>
        Array.from({length: opts.workers ?? 3}, async () => {
          while (Date.now() < end) {
            const t0 = Date.now()
            const d = await s.decide('rule', id, spec, 1)
            log.push({at: t0 - start, node: n, d, tookMs: Date.now() - t0})
            opts.during?.(Date.now() - start)
            await sleep(opts.pauseMs ?? 4)
          }
        }),
      ),
    )
    return log
  }

  it('three nodes share one limit: the total admitted is the configured rate ±5 %', async () => {
    // The same prefix on every node: one shared key.
    const nodes = [0, 1, 2].map(() => node({prefix: 'shared-rate:'}))
    for (const n of nodes) expect(await n.waitReady(5000)).toBe(true)
    // A burst of 40 (200 ms of refill) absorbs pauses of the load loops on a busy machine: tokens that overflow the
    // bucket while nobody asks would otherwise count against the limiter.
    const spec: LimitSpec = {algorithm: 'token-bucket', limit: 200, windowMs: 1000, burst: 40, maxDelayMs: 0}
    const ms = 4000
    const log = await drive(nodes, 'global', spec, ms)
    const offered = log.length
    const admitted = log.filter((e) => e.d.allowed).length
    expect(log.every((e) => e.d.source === 'redis')).toBe(true)
    // Offered well above the limit, from every node.
    expect(offered).toBeGreaterThan(2 * 200 * (ms / 1000))
    for (const n of [0, 1, 2]) expect(log.filter((e) => e.node === n && e.d.allowed).length).toBeGreaterThan(0)
    // The last decision was offered at ~ms; the bucket started with `burst` tokens.
    const lastAt = Math.max(...log.map((e) => e.at))
    const expected = spec.burst + (200 * lastAt) / 1000
    console.log(`3 nodes, 4 s: offered ${offered}, admitted ${admitted}, expected ${expected.toFixed(0)} (${(((admitted - expected) / expected) * 100).toFixed(2)} %)`)
    expect(Math.abs(admitted - expected) / expected).toBeLessThanOrEqual(0.05)
  })

  it('Redis killed mid-run (failMode local): nodes keep deciding with local limits, then go back to Redis', async () => {
    const changes: string[] = []
    const nodes = [0, 1, 2].map(() => node({prefix: 'shared-open:', onStateChange: (c) => changes.push(c.up ? 'up' : 'down')}))
    for (const n of nodes) expect(await n.waitReady(5000)).toBe(true)
    const spec: LimitSpec = {algorithm: 'sliding-window', limit: 200, windowMs: 1000, burst: 0, maxDelayMs: 0}
    let killed = false
    const log = await drive(nodes, 'k', spec, 2500, {
      during: (elapsed) => {
        if (!killed && elapsed > 800) {
          killed = true
          void redis.stop()
        }
      },
    })
    const after = log.filter((e) => e.at > 1200)
    expect(after.length).toBeGreaterThan(100)
    expect(after.every((e) => e.d.source === 'fallback')).toBe(true)
    // Never stalled: every decision took at most the command timeout plus scheduling slack.
    expect(Math.max(...log.map((e) => e.tookMs))).toBeLessThan(1000)
    // Local limits (each node a third of 200/s) still admit some and refuse the rest.
    const perSecond = after.filter((e) => e.d.allowed).length / ((2500 - 1200) / 1000)
    expect(perSecond).toBeGreaterThan(50)
    expect(perSecond).toBeLessThan(400)
    expect(changes.filter((c) => c === 'down')).toHaveLength(3)

    await redis.start()
    await waitFor(async () => (await nodes[0]!.decide('rule', 'k', spec, 1)).source === 'redis', {timeoutMs: 10_000, message: 'node 0 back on Redis'})
    for (const n of nodes.slice(1)) await waitFor(async () => (await n.decide('rule', 'k', spec, 1)).source === 'redis', {timeoutMs: 10_000})
    expect(changes.filter((c) => c === 'up')).toHaveLength(3)
  })

  it('fail-closed refuses at once while Redis is down, and recovers after a restart', async () => {
    const s = node({failMode: 'closed'})
    expect(await s.waitReady(5000)).toBe(true)
    const spec: LimitSpec = {algorithm: 'fixed-window', limit: 1000, windowMs: 1000, burst: 0, maxDelayMs: 0}
    expect((await s.decide('rule', 'c', spec, 1)).allowed).toBe(true)
    await redis.stop()
    await waitFor(async () => (await s.decide('rule', 'c', spec, 1)).source === 'fail-closed', {timeoutMs: 5000})
    const t0 = Date.now()
    const d = await s.decide('rule', 'c', spec, 1)
    expect(Date.now() - t0).toBeLessThan(500) // no waiting for a dead server
    expect(d).toMatchObject({allowed: false, source: 'fail-closed'})
    expect(d.retryAfterMs).toBeGreaterThanOrEqual(1000)
    await redis.start()
    await waitFor(async () => (await s.decide('rule', 'c', spec, 1)).allowed, {timeoutMs: 10_000, message: 'fail-closed store recovers'})
  })

  it('a frozen Redis (connection open, no answers) costs at most the command timeout, then decisions stay local', async () => {
    const s = node({commandTimeoutMs: 80, retryIntervalMs: 500})
    expect(await s.waitReady(5000)).toBe(true)
    const spec: LimitSpec = {algorithm: 'token-bucket', limit: 100, windowMs: 1000, burst: 100, maxDelayMs: 0}
    expect((await s.decide('rule', 'f', spec, 1)).source).toBe('redis')
    redis.freeze()
    const t0 = Date.now()
    const first = await s.decide('rule', 'f', spec, 1)
    const took = Date.now() - t0
    expect(first.source).toBe('fallback')
    expect(took).toBeGreaterThanOrEqual(70)
    expect(took).toBeLessThan(1000)
    // Within the retry interval the next ones do not wait for Redis at all.
    const t1 = Date.now()
    for (let i = 0; i < 20; i++) expect((await s.decide('rule', 'f', spec, 1)).source).toBe('fallback')
    expect(Date.now() - t1).toBeLessThan(1000) // 20 × the 80 ms timeout would be 1.6 s
    redis.resume()
    await waitFor(async () => (await s.decide('rule', 'f', spec, 1)).source === 'redis', {timeoutMs: 10_000})
    expect(s.stats().errors).toBeGreaterThanOrEqual(1)
  })

  it('per-rule fail modes with Redis killed: local decides on the node, open allows past the limit, closed refuses; none waits', async () => {
    const s = node({failMode: 'local', fallbackShare: 1, failModes: new Map([['opened', 'open'], ['shut', 'closed']])})
    expect(await s.waitReady(5000)).toBe(true)
    const spec: LimitSpec = {algorithm: 'fixed-window', limit: 3, windowMs: 60_000, burst: 0, maxDelayMs: 0}
    for (const rule of ['plain', 'opened', 'shut']) expect((await s.decide(rule, 'k', spec, 1)).source).toBe('redis')
    await redis.stop()
    await waitFor(async () => (await s.decide('probe', 'k', spec, 1)).source !== 'redis', {timeoutMs: 5000, message: 'the store sees Redis gone'})
    const run = async (rule: string, n: number) => {
      const out: StoreDecision[] = []
      for (let i = 0; i < n; i++) {
        const t0 = Date.now()
        out.push(await s.decide(rule, 'k', spec, 1))
        expect(Date.now() - t0, `${rule}: no wait for a dead Redis`).toBeLessThan(500)
      }
      return out
    }
    // The rule without its own mode takes the store's (local): this node alone counts a fresh window of 3.
    const plain = await run('plain', 5)
    expect(plain.map((d) => d.allowed)).toEqual([true, true, true, false, false])
    expect(plain.every((d) => d.source === 'fallback')).toBe(true)
    const opened = await run('opened', 10)
    expect(opened.every((d) => d.allowed && d.source === 'fail-open')).toBe(true)
    const shut = await run('shut', 3)
    expect(shut.every((d) => !d.allowed && d.source === 'fail-closed' && d.retryAfterMs >= 1000)).toBe(true)
    expect(s.stats()).toMatchObject({failOpen: 10, failClosed: 3})
  })

  it('per-rule fail modes with Redis frozen: the first decision of each waits at most the command timeout', async () => {
    const s = node({commandTimeoutMs: 120, retryIntervalMs: 5000, fallbackShare: 1, failMode: 'closed', failModes: new Map([['opened', 'open'], ['near', 'local']])})
    expect(await s.waitReady(5000)).toBe(true)
    const spec: LimitSpec = {algorithm: 'token-bucket', limit: 2, windowMs: 60_000, burst: 2, maxDelayMs: 0}
    for (const rule of ['opened', 'near', 'shut']) expect((await s.decide(rule, 'k', spec, 1)).source).toBe('redis')
    redis.freeze()
    // Three decisions in flight at once when Redis stops answering: each ends at its timeout, by its own mode.
    const t0 = Date.now()
    const [o, n, c] = await Promise.all(['opened', 'near', 'shut'].map((rule) => s.decide(rule, 'k', spec, 1)))
    const took = Date.now() - t0
    expect(took).toBeGreaterThanOrEqual(100)
    expect(took).toBeLessThan(120 + 400)
    expect(o).toMatchObject({allowed: true, source: 'fail-open'})
    expect(n).toMatchObject({allowed: true, source: 'fallback'})
    expect(c).toMatchObject({allowed: false, source: 'fail-closed'})
    // Within retryInterval: decided at once, without asking the frozen server.
    const t1 = Date.now()
    expect((await s.decide('near', 'k', spec, 1)).allowed).toBe(true)
    expect((await s.decide('near', 'k', spec, 1)).allowed, 'the local bucket of 2 is spent').toBe(false)
    expect((await s.decide('opened', 'k', spec, 1)).allowed).toBe(true)
    expect(Date.now() - t1).toBeLessThan(100)
  })
})
