/**
 * Rate limits through the built daemon: 429 with Retry-After and the RateLimit fields, drop closes the connection,
 * the allowed answers carry RateLimit-Policy / RateLimit; two daemons sharing one limit through a real redis-server;
 * Redis killed mid-test → failMode local applies the limit on each node, closed refuses, neither daemon crashes or
 * hangs; per-rule fail modes with Redis frozen and then killed; a reload changes the limits.
 */
import fs from 'node:fs'
import net from 'node:net'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {type RedisServer, redisServerPath, startRedis} from '../helpers/redis.js'

let origin: Origin
let cleanup: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  origin = await startOrigin()
})
afterAll(async () => {
  await origin?.close()
})
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
  cleanup = []
})

async function daemon(config: Record<string, unknown>): Promise<DaemonHandle> {
  const d = await startDaemon({upstream: origin.url, config})
  cleanup.push(() => d.stop())
  return d
}

function route(): string {
  const p = uniquePath('rl')
  origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'ok'})
  return p
}

/** A raw request whose connection may close without an answer: resolves with what came back ('' = nothing). */
function rawGet(port: number, p: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))
    let got = ''
    s.on('data', (d) => (got += d.toString()))
    s.on('error', () => resolve(got))
    s.on('close', () => resolve(got))
    s.setTimeout(5000, () => s.destroy())
  })
}

describe('rate limits (daemon)', () => {
  it('refuses over the limit with 429, Retry-After and RateLimit fields; allowed answers carry them too; drop closes the connection', async () => {
    const d = await daemon({
      rateLimits: {
        rules: [
          {name: 'per-ip', algorithm: 'token-bucket', limit: 3, window: '10s', match: {paths: ['/rl-']}},
          {name: 'dropper', algorithm: 'fixed-window', limit: 1, window: '1h', action: 'drop', match: {paths: ['/drop']}},
        ],
      },
    })
    const p = route()
    for (let i = 0; i < 3; i++) {
      const r = await d.request(p)
      expect(r.status).toBe(200)
      expect(r.header('ratelimit-policy')).toBe('"per-ip";q=3;w=10')
      expect(r.header('ratelimit')).toMatch(new RegExp(`^"per-ip";r=${2 - i};t=\\d+$`))
    }
    const refused = await d.request(p)
    expect(refused.status).toBe(429)
    expect(Number(refused.header('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(refused.header('ratelimit')).toMatch(/^"per-ip";r=0;t=\d+$/)
    expect(refused.text).toContain('rate limit exceeded (per-ip)')
    // An unmatched path is not limited.
    origin.route('/other', {body: 'free'})
    expect((await d.request('/other')).status).toBe(200)
    origin.route('/drop', {body: 'dropped?'})
    expect(await rawGet(d.port, '/drop')).toContain('200 OK')
    expect(await rawGet(d.port, '/drop'), 'dropped: no answer at all').toBe('')
    expect((await d.request('/other')).status, 'the daemon goes on serving').toBe(200)
  })

  it('a reload that changes rateLimits takes effect for new requests', async () => {
    const d = await daemon({rateLimits: {rules: [{name: 'tight', limit: 1, window: '1m'}]}})
    const p = route()
    expect((await d.request(p)).status).toBe(200)
    expect((await d.request(p)).status).toBe(429)
    const args = d.process.spawnargs
    fs.writeFileSync(args[args.indexOf('--config') + 1]!, JSON.stringify({rateLimits: {rules: [{name: 'loose', limit: 100, window: '1m'}]}}))
    const r = await runCli(['reload', '--socket', d.socket])
    expect(r.code, r.stderr).toBe(0)
    const after = await d.request(p)
    expect(after.status).toBe(200)
    expect(after.header('ratelimit-policy')).toBe('"loose";q=100;w=60')
  })
})

describe.skipIf(!redisServerPath)('rate limits shared through Redis (real redis-server)', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = (await startRedis())!
  })
  afterAll(async () => {
    await redis?.close()
  })

  it('two daemons share one limit; Redis killed → failMode local limits on each node, fail-closed refuses; no crash, no hang', async () => {
    const rule = {name: 'shared', algorithm: 'fixed-window', limit: 6, window: '1m', store: 'redis', match: {paths: ['/rl-']}}
    const redisCfg = {url: redis.url, prefix: `t${Date.now()}:`, commandTimeout: '200ms', retryInterval: '200ms'}
    const open = await daemon({rateLimits: {redis: {...redisCfg, failMode: 'local', fallbackShare: 0.5}, rules: [rule]}})
    const closed = await daemon({rateLimits: {redis: {...redisCfg, failMode: 'closed'}, rules: [rule]}})
    const p = route()
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      statuses.push((await open.request(p)).status)
      statuses.push((await closed.request(p)).status)
    }
    expect(statuses.filter((s) => s === 200), 'six allowed across both nodes').toHaveLength(6)
    expect(statuses.slice(6).every((s) => s === 429)).toBe(true)

    await redis.stop()
    const q = route()
    // failMode local: this node alone allows limit × fallbackShare = 3.
    const openStatuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const r = await open.request(q, {timeoutMs: 3000})
      openStatuses.push(r.status)
    }
    expect(openStatuses).toEqual([200, 200, 200, 429, 429])
    // fail-closed: refused, quickly.
    const t0 = Date.now()
    const r = await closed.request(q, {timeoutMs: 3000})
    expect(r.status).toBe(429)
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(open.logs()).toContain('Redis unreachable, limits applied on this node')
    expect(closed.logs()).toContain('requests under shared limits refused')

    // Redis back: shared limits again (a fresh window key space on the restarted server).
    await redis.start()
    const z = route()
    let shared = false
    for (let i = 0; i < 50 && !shared; i++) {
      const a = await closed.request(z)
      shared = a.status === 200
      if (!shared) await new Promise((res) => setTimeout(res, 100))
    }
    expect(shared, 'the fail-closed node answers again once Redis is back').toBe(true)
    expect(open.process.exitCode).toBeNull()
    expect(closed.process.exitCode).toBeNull()
  })

  it('per-rule failMode: Redis frozen → no request waits past commandTimeout; killed → open allows, closed refuses, local limits', async () => {
    const rule = (name: string, failMode?: string) => ({name, algorithm: 'fixed-window', limit: 2, window: '1h', store: 'redis', match: {paths: [`/${name}-`]}, ...(failMode ? {failMode} : {})})
    const d = await daemon({
      rateLimits: {
        redis: {url: redis.url, prefix: `pr${Date.now()}:`, commandTimeout: '150ms', retryInterval: '100ms', failMode: 'closed'},
        rules: [rule('opened', 'open'), rule('near', 'local'), rule('shut')],
      },
    })
    const paths = Object.fromEntries(['opened', 'near', 'shut'].map((n) => [n, route().replace('/rl-', `/${n}-`)]))
    for (const p of Object.values(paths)) origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'ok'})
    for (const p of Object.values(paths)) expect((await d.request(p)).status, 'Redis up: the shared window').toBe(200)
    const run = async (name: string, n: number, boundMs: number): Promise<number[]> => {
      const out: number[] = []
      for (let i = 0; i < n; i++) {
        const r = await d.request(paths[name]!, {timeoutMs: 5000})
        expect(r.endedAt - r.startedAt, `${name}: held at most about commandTimeout`).toBeLessThan(boundMs)
        out.push(r.status)
      }
      return out
    }
    redis.freeze()
    try {
      // Each request asks the frozen server at most once (retryInterval 100 ms is shorter than a request here):
      // 150 ms of commandTimeout plus a loaded machine's slack.
      expect(await run('opened', 3, 150 + 600)).toEqual([200, 200, 200])
      expect(await run('shut', 2, 150 + 600)).toEqual([429, 429])
      expect(await run('near', 3, 150 + 600)).toEqual([200, 200, 429])
    } finally {
      redis.resume()
    }
    await redis.stop()
    try {
      expect(await run('opened', 4, 600)).toEqual([200, 200, 200, 200])
      expect(await run('shut', 2, 600)).toEqual([429, 429])
      // The fallback window of 'near' kept its count from the freeze: still spent.
      expect(await run('near', 1, 600)).toEqual([429])
    } finally {
      await redis.start()
    }
    expect(d.logs()).toContain('Redis unreachable, per rule: opened open, near local, shut closed')
  })
})
