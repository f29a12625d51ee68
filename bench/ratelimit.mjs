#!/usr/bin/env node
// Per-decision cost of rate-limit checks, in process: `node bench/ratelimit.mjs [--quick]` (needs `npm run build`).
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

const redisServer = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => fs.existsSync(p))
if (!redisServer) {
  console.log('redis: skipped (redis-server not installed; apt-get install redis-server)')
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-bench-redis-'))
  const port = await new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
  const child = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {stdio: 'ignore'})
  const kill = () => {
    try {
      child.kill('SIGKILL')
    } catch {}
    fs.rmSync(dir, {recursive: true, force: true})
  }
  process.on('exit', kill)
  process.on('SIGINT', () => process.exit(130))
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
    kill()
  }
}

const outDir = path.join(root, 'bench', 'results')
fs.mkdirSync(outDir, {recursive: true})
const file = path.join(outDir, `ratelimit-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
fs.writeFileSync(file, JSON.stringify({node: process.version, cpus: os.cpus().length, quick, runMs: RUN_MS, results}, null, 2))
console.log(`wrote ${path.relative(root, file)}`)
