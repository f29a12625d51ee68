#!/usr/bin/env node
// Cost of rate limiting: `node bench/ratelimit.mjs [--quick] [--no-hit] [--hit-only]` (needs `npm run build`).
//
// 1. Per decision, in process (below). 2. On the hit path of the daemon (`--no-hit` skips it): a cached 1 KiB
// object served by `tavern serve` with no rate limits, with one per-IP token-bucket rule in the local store, and the
// same rule with `store: redis` on a real redis-server — each pair (local vs none, redis vs none, and none vs none
// as the method's own noise) measured side by side: both daemons pinned to the server core and loaded at the same
// time, so the shared machine's other load hits both alike; the ratios are req/s and server CPU µs per request.
// Redis round trips per request are counted from the server's INFO commandstats (EVALSHA + EVAL calls ÷ requests).
// redis-server runs on the client core (as a separate host would: its CPU is not charged to the daemon's core).
//
// Local: each algorithm's store decision, and a whole RateLimiter.check() with one and three rules (what the
// onRequest plugin will pay per request). Redis: a real redis-server on a free loopback port in a temp dir (skipped,
// with the reason, when redis-server is missing): one decision at a time (latency: what one request waits) and 32 at
// once (throughput with ioredis auto-pipelining). Bounded: each measurement runs for a fixed time (0.5 s quick, 2 s
// full). The "adds ≤ 3 % to a hit" figure needs the wired plugin and the hit bench; this gives its ingredients.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {pinnedCommand} from './lib/common.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const dist = path.join(root, 'dist', 'traffic', 'ratelimit')
if (!fs.existsSync(path.join(dist, 'limiter.js'))) {
  process.stderr.write('bench/ratelimit: dist/ is missing; run `npm run build` first\n')
  process.exit(1)
}
const {LocalLimiterStore} = await import(path.join(dist, 'local-store.js'))
const {RedisLimiterStore} = await import(path.join(dist, 'redis-store.js'))
const {RateLimiter} = await import(path.join(dist, 'limiter.js'))
const {RateLimitsConfig} = await import(path.join(dist, 'config.js'))

const quick = process.argv.includes('--quick')
const runHit = !process.argv.includes('--no-hit')
const hitOnly = process.argv.includes('--hit-only')
const RUN_MS = quick ? 500 : 2000
const ALGORITHMS = ['token-bucket', 'leaky-bucket', 'sliding-window', 'fixed-window']
const results = []

function report(name, ops, ms, extra = '') {
  const us = (ms * 1000) / ops
  results.push({name, ops, ms: Math.round(ms), usPerDecision: Number(us.toFixed(3))})
  console.log(`${name.padEnd(44)} ${us.toFixed(3).padStart(9)} µs/decision  ${String(Math.round((ops / ms) * 1000)).padStart(9)}/s  ${extra}`)
}

/** Run fn in batches until RUN_MS is spent; returns [ops, ms]. */
function timeSync(fn) {
  for (let i = 0; i < 20_000; i++) fn(i) // warm up
  let ops = 0
  const t0 = performance.now()
  let now = t0
  while (now - t0 < RUN_MS) {
    for (let i = 0; i < 10_000; i++) fn(ops + i)
    ops += 10_000
    now = performance.now()
  }
  return [ops, now - t0]
}

async function timeAsync(fn, concurrency) {
  for (let i = 0; i < 500; i++) await fn(i) // warm up (script loaded, connection hot)
  let ops = 0
  const t0 = performance.now()
  const end = t0 + RUN_MS
  await Promise.all(
    Array.from({length: concurrency}, async () => {
      while (performance.now() < end) await fn(ops++)
    }),
  )
  return [ops, performance.now() - t0]
}

async function decisionCosts() {
  const KEYS = 10_000 // distinct clients, as per-IP limits see
  console.log(`rate-limit decision cost (${quick ? 'quick' : 'full'}: ${RUN_MS} ms per line, ${KEYS} keys)`)
  for (const algorithm of ALGORITHMS) {
    const store = new LocalLimiterStore({maxKeys: 100_000})
    const spec = {algorithm, limit: 1_000_000, windowMs: 1000, burst: algorithm.endsWith('bucket') ? 1_000_000 : 0, maxDelayMs: 0}
    const ids = Array.from({length: KEYS}, (_, i) => `203.0.${(i >> 8) & 255}.${i & 255}`)
    const [ops, ms] = timeSync((i) => store.decide('rule', ids[i % KEYS], spec, 1))
    report(`local ${algorithm}`, ops, ms)
  }

  // Requests built beforehand: the loop measures the check, not the making of test objects.
  const REQS = Array.from({length: KEYS}, (_, i) => ({method: 'GET', target: '/assets/app.js?v=3', headers: ['Host', 'bench.test', 'X-Api-Key', `key-${i % 100}`], clientIp: `198.51.${(i >> 8) & 255}.${i & 255}`}))
  const req = (i) => REQS[i % KEYS]
  for (const rules of [
    [{name: 'per-ip', limit: 1_000_000, window: '1s'}],
    [
      {name: 'per-ip', limit: 1_000_000, window: '1s'},
      {name: 'api', algorithm: 'sliding-window', limit: 1_000_000, window: '1m', key: [{apiKey: {header: 'X-Api-Key'}}]},
      {name: 'assets', algorithm: 'fixed-window', limit: 1_000_000, window: '1s', key: ['ip', 'route'], match: {paths: ['/assets/']}},
    ],
  ]) {
    const limiter = new RateLimiter(RateLimitsConfig.parse({rules}), {local: new LocalLimiterStore({maxKeys: 100_000})})
    const [ops, ms] = timeSync((i) => limiter.check(req(i)))
    report(`local RateLimiter.check, ${rules.length} rule(s)`, ops, ms, '(keys, match, headers included)')
  }

  const redis = startRedisServer()
  if (!redis) {
    console.log('redis: skipped (redis-server not installed; apt-get install redis-server)')
  } else {
    const port = await redis.port
    try {
      const store = new RedisLimiterStore({url: `redis://127.0.0.1:${port}`, prefix: 'bench:', commandTimeoutMs: 1000, connectTimeoutMs: 2000, retryIntervalMs: 1000, failMode: 'closed', fallbackShare: 1, fallback: new LocalLimiterStore({maxKeys: 10})})
      if (!(await store.waitReady(5000))) throw new Error('redis-server did not come up')
      for (const algorithm of ['token-bucket', 'sliding-window']) {
        const spec = {algorithm, limit: 1_000_000, windowMs: 1000, burst: algorithm.endsWith('bucket') ? 1_000_000 : 0, maxDelayMs: 0}
        for (const concurrency of [1, 32]) {
          let wrongSource = 0
          const [ops, ms] = await timeAsync(async (i) => {
            const d = await store.decide('rule', `198.51.${(i >> 8) & 255}.${i & 255}`, spec, 1)
            if (d.source !== 'redis') wrongSource++
          }, concurrency)
          if (wrongSource) throw new Error(`${wrongSource} decisions did not come from Redis`)
          report(`redis ${algorithm}, ${concurrency} at a time`, ops, ms, concurrency === 1 ? '(latency one request waits)' : '(throughput, auto-pipelined)')
        }
      }
      await store.close()
    } finally {
      redis.kill()
    }
  }
}

/** A redis-server on a free loopback port in a temp dir (undefined when not installed); kill() removes it. */
function startRedisServer({core} = {}) {
  const bin = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => fs.existsSync(p))
  if (!bin) return undefined
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-bench-redis-'))
  let child
  const kill = () => {
    try {
      child?.kill('SIGKILL')
    } catch {}
    fs.rmSync(dir, {recursive: true, force: true})
  }
  process.on('exit', kill)
  process.on('SIGINT', () => process.exit(130))
  const port = new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  }).then((p) => {
    const [cmd, argv] = core !== undefined ? pinnedCommand(core, bin, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]) : [bin, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]]
    child = spawn(cmd, argv, {stdio: 'ignore'})
    return p
  })
  return {port, kill}
}

/** EVALSHA + EVAL calls so far, from INFO commandstats (one per rate-limit decision). */
async function scriptCalls(client) {
  const info = await client.info('commandstats')
  let n = 0
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1])
  return n
}

/** The daemon's hit path with no rate limits, a local rule and a Redis rule, side by side (see the header). */
async function hitPath() {
  const {startOrigin, startDaemon} = await import('./lib/servers.mjs')
  const {sideBySide} = await import('./lib/ab.mjs')
  const {cleanup, fmt, loadavg, pinSelf, CORES} = await import('./lib/common.mjs')
  const {Redis} = await import('ioredis')
  pinSelf()
  const rounds = quick ? 2 : 4
  const duration = quick ? 2 : 4
  const connections = 16
  const OBJ = '/obj/1024/rl'
  const log = (l) => console.log(l)
  console.log(`\nhit path: 1 KiB cached object, ${connections} connections per daemon, ${rounds} side-by-side rounds × ${duration} s per pair; loadavg ${loadavg()?.join(' ')}`)
  const redis = startRedisServer({core: CORES.client})
  const started = []
  try {
    const origin = await startOrigin('origin')
    started.push(origin)
    const rule = {name: 'per-ip', algorithm: 'token-bucket', limit: 1_000_000_000, window: '1s'}
    const variants = {none: {}, none2: {}, local: {rateLimits: {rules: [rule]}}}
    let redisUrl
    if (redis) {
      redisUrl = `redis://127.0.0.1:${await redis.port}`
      // Decisions must come from Redis: fail closed, and a timeout a loaded machine does not hit.
      variants.redis = {rateLimits: {redis: {url: redisUrl, prefix: 'bench:', commandTimeout: '2s', failMode: 'closed'}, rules: [{...rule, store: 'redis'}]}}
    } else console.log('  redis: skipped (redis-server not installed)')
    const daemons = {}
    for (const [name, config] of Object.entries(variants)) {
      const d = await startDaemon({upstream: origin.url, config})
      started.push(d)
      daemons[name] = d
      // Fill, then check it is a hit and (for the limited ones) carries the RateLimit fields.
      for (let i = 0; i < 3; i++) await fetch(d.url + OBJ).then((r) => r.arrayBuffer())
      const r = await fetch(d.url + OBJ)
      await r.arrayBuffer()
      if (r.status !== 200 || !/hit/.test(r.headers.get('cache-status') ?? '')) throw new Error(`${name}: not a hit (${r.status} ${r.headers.get('cache-status')})`)
      if (name === 'local' || name === 'redis') {
        if (!r.headers.get('ratelimit-policy')) throw new Error(`${name}: no RateLimit-Policy on the hit`)
      }
    }
    // Warm every daemon up under load first (JIT): a daemon measured cold against a warm one loses by 2× here.
    const {runLoad} = await import('./lib/load.mjs')
    for (const d of Object.values(daemons)) await runLoad({url: d.url, path: OBJ, connections, duration: quick ? 1 : 3})
    const v = (name) => ({name, url: daemons[name].url, path: OBJ, serverPid: daemons[name].pid})
    const pairs = [['none2', 'none'], ['local', 'none']]
    if (daemons.redis) pairs.push(['redis', 'none'])
    const client = redisUrl ? new Redis(redisUrl) : undefined
    const out = {}
    for (const [a, b] of pairs) {
      const before = a === 'redis' ? await scriptCalls(client) : 0
      const sb = await sideBySide({variants: [v(a), v(b)], rounds, duration, connections, log, label: `${a}/${b}`})
      const row = {ratio: sb.ratio, cpuRatio: sb.cpuRatio, coreBusy: sb.coreBusy}
      if (a === 'redis') {
        const calls = (await scriptCalls(client)) - before
        const requests = sb.rounds.reduce((n, r) => n + r.redis.requests, 0)
        row.redisRoundTripsPerRequest = calls / requests
        row.redisP50 = sb.rounds.map((r) => r.redis.latency.p50)
        row.noneP50 = sb.rounds.map((r) => r.none.latency.p50)
      }
      row.cpuUsPerReq = {[a]: sb.rounds.map((r) => r[a].cpuUsPerReq), [b]: sb.rounds.map((r) => r[b].cpuUsPerReq)}
      out[`${a}/${b}`] = row
    }
    await client?.quit()
    console.log('\nhit path, side by side (median over rounds, min–max): req/s ratio, CPU-cost ratio (reference µs/req ÷ this µs/req)')
    for (const [k, row] of Object.entries(out)) {
      const extra = row.redisRoundTripsPerRequest !== undefined ? `   Redis round trips/request ${fmt(row.redisRoundTripsPerRequest, 3)}, p50 ${row.redisP50.map((x) => fmt(x)).join('/')} ms vs ${row.noneP50.map((x) => fmt(x)).join('/')} ms` : ''
      console.log(`  ${k.padEnd(11)} req/s ${fmt(row.ratio.median, 3)} (${fmt(row.ratio.min, 3)}–${fmt(row.ratio.max, 3)})   CPU-cost ${fmt(row.cpuRatio.median, 3)} (${fmt(row.cpuRatio.min, 3)}–${fmt(row.cpuRatio.max, 3)})   core busy ${fmt(row.coreBusy.median * 100, 0)}%${extra}`)
      results.push({name: `hit ${k}`, ...row})
    }
    console.log('  (none2/none is the method’s own noise: two identical daemons. A shared, loaded machine: read the ratios, not the req/s.)')
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => {})
    redis?.kill()
    cleanup?.()
  }
}

if (!hitOnly) await decisionCosts()
if (runHit) await hitPath()

const outDir = path.join(root, 'bench', 'results')
fs.mkdirSync(outDir, {recursive: true})
const file = path.join(outDir, `ratelimit-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
fs.writeFileSync(file, JSON.stringify({node: process.version, cpus: os.cpus().length, quick, runMs: RUN_MS, results}, null, 2))
console.log(`wrote ${path.relative(root, file)}`)
