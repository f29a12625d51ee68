#!/usr/bin/env node
// Observability overhead on the hit path: the same build, a 1 KiB cached object, measured with
//   (a) defaults       — stats always on, no metrics listener, access log off
//   (b) observability  — `--metrics 127.0.0.1:0` + `--access-log <tmpfile>`, and a Prometheus-like scraper
//                        fetching /metrics every second while (b) is under load
// first in interleaved rounds (a b, b a, a b, …: 3 per variant in full mode, 1 in --quick), reporting the median
// req/s and p99 per variant, then side by side: a and b pinned to the same core and loaded at the same time
// (4 pairs of daemon processes × 2 rounds × 4 s; 1 × 2 × 2 s in --quick), so whatever else the machine does hits
// both alike. The goal (b/a req/s ≥ 0.95) is judged on the side-by-side median over pairs: on this shared box,
// interleaved rounds seconds apart drift by ±10 %.
//
//   node bench/overhead.mjs [--quick] [--json] [--b metrics,access-log|none]
//   import {run} from './overhead.mjs'; const result = await run({quick: true})
//
// `--b metrics` or `--b access-log` (run({b: ['metrics']})) measures one feature alone, to attribute a regression;
// `--b none` runs b as a second copy of a (the null comparison: the method's own noise and bias).
//
// Needs a built tree (`npm run build`). Load generator: autocannon (programmatic API) when node_modules/autocannon
// exists, else a built-in keep-alive node:http loop. Everything listens on 127.0.0.1; every process it starts is
// killed (by pid) and every temp dir removed when it ends, fails, is interrupted or hits its time guard.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import readline from 'node:readline'
import {pathToFileURL} from 'node:url'

import {CORES, REPO, RUN_JS, cleanupSync, fmt, hasTaskset, loadavg, makeTmpDir, median, pinSelf, pinnedCommand, procCpuSeconds, quantile, removeTmpDir, sleep, stopChild, track} from './lib/common.mjs'

process.on('exit', cleanupSync)

const SIZE = 1024
const OBJ_PATH = '/obj/1k'


// ---- processes and temp dirs we own ---------------------------------------------------------------



// ---- CPU pinning (servers on core 0, the load generator elsewhere) when taskset exists -------------


// ---- origin (in process: it serves one fill per daemon, then idles) --------------------------------

async function startOrigin() {
  const body = Buffer.alloc(SIZE, 'a')
  let requests = 0
  const server = http.createServer((req, res) => {
    requests++
    if (req.url !== OBJ_PATH) {
      res.writeHead(404, {'cache-control': 'no-store', 'content-length': 0})
      res.end()
      return
    }
    res.writeHead(200, {'content-type': 'application/octet-stream', 'cache-control': 'max-age=86400', 'content-length': SIZE, etag: '"obj-1k"'})
    res.end(body)
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests: () => requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

// ---- the daemon --------------------------------------------------------------------------------------

async function startDaemon({name, upstream, extraArgs = (_dir) => [], readyTimeoutMs = 30_000}) {
  const dir = makeTmpDir(`overhead-${name}`)
  const args = [RUN_JS, 'serve', '--listen', '127.0.0.1:0', '--upstream', upstream, '--storage', path.join(dir, 'storage'), '--socket', path.join(dir, 'admin.sock'), ...extraArgs(dir)]
  const [cmd, a] = pinnedCommand(CORES.server, process.execPath, args)
  const child = track(spawn(cmd, a, {cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NO_COLOR: '1'}}))
  let stderr = ''
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)))
  const ready = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({input: child.stdout})
    let done = false
    const t = setTimeout(() => finish(new Error(`tavern serve (${name}) not ready within ${readyTimeoutMs} ms\n${stderr}`)), readyTimeoutMs)
    function finish(err, v) {
      if (done) return
      done = true
      clearTimeout(t)
      if (err) reject(err)
      else resolve(v)
    }
    // Keep draining stdout after the ready line so the daemon never blocks on a full pipe.
    rl.on('line', (l) => {
      if (!done && l.includes('"tavern ready"')) finish(null, JSON.parse(l))
    })
    child.once('exit', (code, sig) => finish(new Error(`tavern serve (${name}) exited (${code ?? sig}) before it was ready\n${stderr}`)))
  }).catch(async (e) => {
    await stopChild(child, 5000)
    throw e
  })
  const port = Number(String(ready.listen).slice(String(ready.listen).lastIndexOf(':') + 1))
  const metricsPort = ready.metrics ? Number(String(ready.metrics).slice(String(ready.metrics).lastIndexOf(':') + 1)) : undefined
  return {
    name,
    child,
    pid: child.pid,
    port,
    metricsPort,
    dir,
    url: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    async stop() {
      await stopChild(child, 5000)
      removeTmpDir(dir)
    },
  }
}

function get(port, p, {timeoutMs = 10_000, agent = false} = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({host: '127.0.0.1', port, path: p, agent}, (res) => {
      const parts = []
      res.on('data', (c) => parts.push(c))
      res.on('end', () => resolve({status: res.statusCode, headers: res.headers, body: Buffer.concat(parts)}))
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${p} timed out after ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

async function warmUntilHit(d) {
  let last
  for (let i = 0; i < 50; i++) {
    last = await get(d.port, OBJ_PATH)
    if (last.status === 200 && /hit/.test(String(last.headers['cache-status'])) && last.body.length === SIZE) return
    await sleep(50)
  }
  throw new Error(`${d.name}: ${OBJ_PATH} is not a ${SIZE}-byte hit after 50 tries (cache-status: ${last?.headers['cache-status']})`)
}

// ---- /proc helpers ------------------------------------------------------------------------------------



// ---- statistics ---------------------------------------------------------------------------------------




// ---- load generators ----------------------------------------------------------------------------------

let autocannonMod
async function loadAutocannon() {
  if (autocannonMod !== undefined) return autocannonMod
  autocannonMod = null
  // TAVERN_BENCH_BUILTIN_LOAD=1 forces the built-in generator (to compare, or to test that path).
  if (process.env.TAVERN_BENCH_BUILTIN_LOAD !== '1' && fs.existsSync(path.join(REPO, 'node_modules', 'autocannon'))) {
    try {
      autocannonMod = (await import('autocannon')).default
    } catch {
      autocannonMod = null
    }
  }
  return autocannonMod
}

/** Stop functions of the loads under way (two at once in the side-by-side phase). */
const runningLoads = new Set()
const stopAllLoads = () => {
  for (const stop of runningLoads) stop()
}

/** autocannon; per-response latencies from its 'response' event (its histogram rounds to whole ms). */
function autocannonLoad(autocannon, {port, connections, durationS}) {
  return new Promise((resolve, reject) => {
    const lat = []
    const stop = () => inst.stop()
    const inst = autocannon({url: `http://127.0.0.1:${port}${OBJ_PATH}`, connections, pipelining: 1, duration: durationS, timeout: 10}, (err, result) => {
      runningLoads.delete(stop)
      if (err) return reject(err)
      resolve({requests: result.requests.total, durationS: result.duration || durationS, latencies: lat, errors: result.errors + result.timeouts, non2xx: result.non2xx})
    })
    runningLoads.add(stop)
    inst.on('response', (_client, _status, _bytes, ms) => lat.push(ms))
  })
}

/** Built-in: `connections` keep-alive workers doing back-to-back GETs until the deadline. */
async function builtinLoad({port, connections, durationS}) {
  const agent = new http.Agent({keepAlive: true, maxSockets: connections})
  const lat = []
  let requests = 0
  let errors = 0
  let non2xx = 0
  let stopped = false
  const stop = () => (stopped = true)
  runningLoads.add(stop)
  const t0 = performance.now()
  const deadline = t0 + durationS * 1000
  const one = () =>
    new Promise((resolve) => {
      const s = performance.now()
      const req = http.get({host: '127.0.0.1', port, path: OBJ_PATH, agent}, (res) => {
        res.on('data', () => {})
        res.on('end', () => {
          lat.push(performance.now() - s)
          requests++
          if (res.statusCode < 200 || res.statusCode > 299) non2xx++
          resolve()
        })
        res.on('error', () => {
          errors++
          resolve()
        })
      })
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
      req.on('error', () => {
        errors++
        resolve()
      })
    })
  const worker = async () => {
    while (!stopped && performance.now() < deadline) await one()
  }
  await Promise.all(Array.from({length: connections}, worker))
  runningLoads.delete(stop)
  agent.destroy()
  return {requests, durationS: (performance.now() - t0) / 1000, latencies: lat, errors, non2xx}
}

async function measure(d, opts) {
  return (await measureTogether([d], opts))[0]
}

/** Load every daemon in `ds` at the same time (one generator each) and measure each. */
async function measureTogether(ds, {connections, durationS}) {
  const ac = await loadAutocannon()
  const cpu0 = ds.map((d) => procCpuSeconds(d.pid))
  const t0 = performance.now()
  const rs = await Promise.all(ds.map((d) => (ac ? autocannonLoad(ac, {port: d.port, connections, durationS}) : builtinLoad({port: d.port, connections, durationS}))))
  const wall = (performance.now() - t0) / 1000
  return ds.map((d, i) => summarize(rs[i], cpu0[i], procCpuSeconds(d.pid), wall))
}

function summarize(r, cpu0, cpu1, wall) {
  const sorted = Float64Array.from(r.latencies).sort()
  return {
    rps: r.requests / r.durationS,
    requests: r.requests,
    durationS: r.durationS,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    errors: r.errors,
    non2xx: r.non2xx,
    serverCpu: cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / wall : null,
    cpuUsPerReq: cpu0 !== null && cpu1 !== null && r.requests > 0 ? ((cpu1 - cpu0) * 1e6) / r.requests : null,
  }
}

/** A Prometheus-like scraper: GET /metrics every `everyMs` on a kept-alive connection. */
function startScraper(port, everyMs = 1000) {
  const agent = new http.Agent({keepAlive: true, maxSockets: 1})
  const stats = {scrapes: 0, failures: 0, bytes: 0, maxMs: 0}
  let busy = false
  const tick = async () => {
    if (busy) return
    busy = true
    const t0 = performance.now()
    try {
      const r = await get(port, '/metrics', {agent, timeoutMs: 5000})
      if (r.status === 200 && r.body.includes('tavern_requests_total')) {
        stats.scrapes++
        stats.bytes = r.body.length
      } else stats.failures++
    } catch {
      stats.failures++
    }
    stats.maxMs = Math.max(stats.maxMs, performance.now() - t0)
    busy = false
  }
  void tick()
  const t = setInterval(tick, everyMs)
  return {
    stop() {
      clearInterval(t)
      agent.destroy()
      return stats
    },
  }
}

// ---- the benchmark ------------------------------------------------------------------------------------

/**
 * Run the comparison. Resolves a result object:
 * {params, variants: {a: {rps, p99, ...}, b: {...}}, ratio, goal, met, rounds, scraper, accessLogLines}.
 */
export async function run({quick = false, log = (s) => process.stdout.write(s + '\n'), b: bParts = ['metrics', 'access-log']} = {}) {
  const withMetrics = bParts.includes('metrics')
  const withLog = bParts.includes('access-log')
  // `none` makes b a second copy of a: the null comparison that shows the method's own noise and bias.
  if (!withMetrics && !withLog && !(bParts.length === 1 && bParts[0] === 'none')) throw new Error('variant b needs metrics and/or access-log (or none)')
  if (!fs.existsSync(path.join(REPO, 'dist', 'commands', 'serve.js'))) throw new Error('dist/ is missing: run `npm run build` first')
  const rounds = quick ? 1 : 3
  const durationS = quick ? 2 : 5
  const warmupS = quick ? 0.5 : 1
  const connections = 32
  const guardMs = quick ? 60_000 : 240_000
  const generator = (await loadAutocannon()) ? 'autocannon' : 'built-in node:http'

  let guard
  const guardP = new Promise((_, reject) => {
    guard = setTimeout(() => {
      stopAllLoads()
      reject(new Error(`overhead benchmark exceeded its ${guardMs / 1000} s time guard`))
    }, guardMs)
  })

  const origin = await startOrigin()
  const started = []
  const body = async () => {
    const a = await startDaemon({name: 'a', upstream: origin.url})
    started.push(a)
    const b = await startDaemon({
      name: 'b',
      upstream: origin.url,
      extraArgs: (dir) => [...(withMetrics ? ['--metrics', '127.0.0.1:0'] : []), ...(withLog ? ['--access-log', path.join(dir, 'access.log')] : [])],
    })
    started.push(b)
    if (withMetrics && !b.metricsPort) throw new Error('daemon b did not report a metrics listener in its ready line')
    await warmUntilHit(a)
    await warmUntilHit(b)
    const originBefore = origin.requests()

    log(`overhead: hit path, ${SIZE} B object, ${connections} connections, ${rounds} round(s) × ${durationS} s per variant (+${warmupS} s warm-up), load: ${generator}${hasTaskset() ? ', daemons pinned to core 0' : ''}`)
    const perRound = []
    let scraper = {scrapes: 0, failures: 0, bytes: 0, maxMs: 0}
    const addScrapes = (s) => (scraper = {scrapes: scraper.scrapes + s.scrapes, failures: scraper.failures + s.failures, bytes: s.bytes || scraper.bytes, maxMs: Math.max(scraper.maxMs, s.maxMs)})
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [a, b] : [b, a]
      const row = {loadavg: loadavg()}
      for (const d of order) {
        const sc = d === b && withMetrics ? startScraper(b.metricsPort, 1000) : undefined
        try {
          await measure(d, {connections, durationS: warmupS})
          row[d.name] = await measure(d, {connections, durationS})
        } finally {
          if (sc) addScrapes(sc.stop())
        }
        const x = row[d.name]
        log(`  round ${r + 1}/${rounds} ${(d.name === 'a' ? 'a defaults' : `b ${bParts.join('+')}`).padEnd(22)} ${fmt(x.rps, 0).padStart(8)} req/s  p50 ${fmt(x.p50)} ms  p99 ${fmt(x.p99)} ms  cpu ${fmt(x.cpuUsPerReq ?? NaN, 1)} µs/req${x.errors || x.non2xx ? `  errors ${x.errors} non2xx ${x.non2xx}` : ''}`)
      }
      perRound.push(row)
    }

    // Origin requests during the interleaved rounds (0: all hits); fresh pairs below each fill their object once.
    const originDuring = origin.requests() - originBefore

    // Side by side: both daemons on the same core at once, each under its own load generator. Whatever else this
    // shared machine does hits both alike, so the ratio of their throughputs is the ratio of their per-request
    // costs; the interleaved rounds above compare runs seconds apart and drift with the machine's load. One pair of
    // processes is not enough: identical daemons (the `--b none` null comparison) differed by 1–4 %, the same way in
    // every round of a pair, so each pair after the first is a fresh one (spawn order alternating) and the result is
    // the median over pairs.
    const pairs = quick ? 1 : 4
    const roundsPerPair = 2
    const sideS = quick ? 2 : 4
    const bArgs = (dir) => [...(withMetrics ? ['--metrics', '127.0.0.1:0'] : []), ...(withLog ? ['--access-log', path.join(dir, 'access.log')] : [])]
    log(`side by side (a and b on the same core at the same time): ${pairs} pair(s) of daemons × ${roundsPerPair} rounds × ${sideS} s`)
    const side = []
    const pairRatios = []
    for (let p = 0; p < pairs; p++) {
      let pa = a
      let pb = b
      if (p > 0) {
        const makeA = () => startDaemon({name: `a${p}`, upstream: origin.url})
        const makeB = () => startDaemon({name: `b${p}`, upstream: origin.url, extraArgs: bArgs})
        if (p % 2 === 1) {
          pb = await makeB()
          started.push(pb)
          pa = await makeA()
          started.push(pa)
        } else {
          pa = await makeA()
          started.push(pa)
          pb = await makeB()
          started.push(pb)
        }
        await warmUntilHit(pa)
        await warmUntilHit(pb)
        await measureTogether([pa, pb], {connections, durationS: warmupS})
      }
      const ratios = []
      for (let r = 0; r < roundsPerPair; r++) {
        const order = r % 2 === 0 ? [pa, pb] : [pb, pa]
        const sc = withMetrics ? startScraper(pb.metricsPort, 1000) : undefined
        let res
        try {
          res = await measureTogether(order, {connections, durationS: sideS})
        } finally {
          if (sc) addScrapes(sc.stop())
        }
        const x = {pair: p, a: res[order.indexOf(pa)], b: res[order.indexOf(pb)]}
        x.ratio = x.b.rps / x.a.rps
        x.cpuRatio = x.a.cpuUsPerReq / x.b.cpuUsPerReq
        x.coreBusy = x.a.serverCpu + x.b.serverCpu
        log(`  pair ${p + 1}/${pairs} round ${r + 1}/${roundsPerPair}  a ${fmt(x.a.rps, 0).padStart(7)} req/s  b ${fmt(x.b.rps, 0).padStart(7)} req/s  b/a ${fmt(x.ratio, 3)}  CPU-cost ratio ${fmt(x.cpuRatio, 3)}  core busy ${fmt(x.coreBusy * 100, 0)}%`)
        side.push(x)
        ratios.push(x.ratio)
      }
      pairRatios.push(median(ratios))
      if (p > 0) {
        for (const d of [pa, pb]) {
          await d.stop()
          started.splice(started.indexOf(d), 1)
        }
      }
    }
    const sideBySide = {
      rounds: side,
      durationS: sideS,
      pairRatios,
      ratio: median(pairRatios),
      cpuRatio: median(side.map((x) => x.cpuRatio)),
      coreBusy: median(side.map((x) => x.coreBusy)),
    }

    // Sanity: everything was a hit, and (b) really logged and served metrics.
    // Give the asynchronous access log a moment, then stop (b) so it flushes before counting lines.
    const accessLog = path.join(b.dir, 'access.log')
    await sleep(200)
    const bChild = b.child
    await stopChild(bChild)
    let accessLogLines = null
    if (withLog) try {
      const buf = fs.readFileSync(accessLog)
      let n = 0
      for (let i = 0; i < buf.length; i++) if (buf[i] === 10) n++
      accessLogLines = n
    } catch {}
    const bRequests = perRound.reduce((s, row) => s + row.b.requests, 0) + sideBySide.rounds.filter((x) => x.pair === 0).reduce((s, x) => s + x.b.requests, 0)

    const pick = (name, k) => perRound.map((row) => row[name][k])
    const variant = (name) => ({
      rps: median(pick(name, 'rps')),
      p50: median(pick(name, 'p50')),
      p99: median(pick(name, 'p99')),
      cpuUsPerReq: median(pick(name, 'cpuUsPerReq')),
      requests: pick(name, 'requests').reduce((s, x) => s + x, 0),
      errors: perRound.reduce((s, row) => s + row[name].errors + row[name].non2xx, 0),
    })
    const va = variant('a')
    const vb = variant('b')
    const ratio = vb.rps / va.rps
    const pairedRatios = perRound.map((row) => row.b.rps / row.a.rps)
    const goal = 0.95
    return {
      name: 'overhead',
      title: 'Observability overhead on the hit path (metrics listener + access log vs defaults)',
      params: {quick, rounds, durationS, warmupS, connections, sizeBytes: SIZE, generator, pinned: hasTaskset(), scrapeEveryMs: withMetrics ? 1000 : null, b: bParts},
      variants: {a: {label: 'defaults', ...va}, b: {label: [withMetrics && '--metrics + 1 s scrapes', withLog && '--access-log'].filter(Boolean).join(' + ') || 'defaults (null comparison)', ...vb}},
      ratio,
      pairedRatios,
      p99Ratio: vb.p99 / va.p99,
      cpuRatio: va.cpuUsPerReq / vb.cpuUsPerReq,
      sideBySide,
      goal,
      // Judged on the side-by-side ratio: the one figure here that the machine's other load cannot skew.
      met: sideBySide.ratio >= goal,
      rounds: perRound,
      scraper,
      originRequestsDuringRuns: originDuring,
      accessLogLines,
      accessLogExpectedAtLeast: bRequests,
    }
  }
  try {
    return await Promise.race([body(), guardP])
  } finally {
    clearTimeout(guard)
    stopAllLoads()
    for (const d of started) await d.stop()
    await origin.close()
  }
}

export function printTable(res, log = (s) => process.stdout.write(s + '\n')) {
  const {a, b} = res.variants
  const rows = [
    ['variant', 'req/s (median)', 'p50 ms', 'p99 ms', 'µs CPU/req', 'requests', 'errors'],
    ['a defaults', fmt(a.rps, 0), fmt(a.p50), fmt(a.p99), fmt(a.cpuUsPerReq, 1), String(a.requests), String(a.errors)],
    [`b ${res.params.b.join('+')}`, fmt(b.rps, 0), fmt(b.p50), fmt(b.p99), fmt(b.cpuUsPerReq, 1), String(b.requests), String(b.errors)],
  ]
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  for (const r of rows) log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '))
  log(`interleaved: ratio b/a req/s ${fmt(res.ratio, 3)} (per round ${res.pairedRatios.map((x) => fmt(x, 3)).join(', ')}) · p99 b/a ${fmt(res.p99Ratio, 3)} · CPU-cost ratio ${fmt(res.cpuRatio, 3)}`)
  const sb = res.sideBySide
  log(
    `side by side: ratio b/a req/s ${fmt(sb.ratio, 3)} (median of ${sb.pairRatios.length} daemon pairs: ${sb.pairRatios.map((x) => fmt(x, 3)).join(', ')}) · CPU-cost ratio ${fmt(sb.cpuRatio, 3)} · core busy ${fmt(sb.coreBusy * 100, 0)}% · goal ≥ ${res.goal}: ${res.met ? 'met' : 'NOT met'}`,
  )
  log(
    `scrapes during b: ${res.scraper.scrapes} ok, ${res.scraper.failures} failed, ${res.scraper.bytes} B each, slowest ${fmt(res.scraper.maxMs)} ms · access log lines ${res.accessLogLines ?? '-'} (b served ≥ ${res.accessLogExpectedAtLeast}) · origin requests during runs ${res.originRequestsDuringRuns}`,
  )
}

// ---- executed directly ---------------------------------------------------------------------------------

const direct = process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url
if (direct) {
  const argv = process.argv.slice(2)
  let bArg = ['metrics', 'access-log']
  const bi = argv.indexOf('--b')
  if (bi !== -1) {
    bArg = String(argv[bi + 1] ?? '').split(',').filter(Boolean)
    argv.splice(bi, 2)
  }
  const bad = argv.filter((x) => !['--quick', '--json'].includes(x))
  if (bad.length || bArg.length === 0 || bArg.some((x) => !['metrics', 'access-log', 'none'].includes(x)) || (bArg.includes('none') && bArg.length > 1)) {
    process.stderr.write(`usage: node bench/overhead.mjs [--quick] [--json] [--b metrics,access-log|none]\n`)
    process.exit(2)
  }
  const quick = argv.includes('--quick')
  const jsonOnly = argv.includes('--json')
  const log = jsonOnly ? () => {} : (s) => process.stdout.write(s + '\n')
  const onSignal = (sig) => {
    process.stderr.write(`\noverhead: ${sig}; stopping everything it started\n`)
    stopAllLoads()
    cleanupSync()
    process.exit(130)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const pinned = pinSelf()
  try {
    const res = await run({quick, log, b: bArg})
    res.params.loadGeneratorPinned = pinned
    if (!jsonOnly) printTable(res, log)
    process.stdout.write(JSON.stringify(res, null, jsonOnly ? 2 : 0) + '\n')
    process.exit(0)
  } catch (error) {
    process.stderr.write(`overhead: ${error instanceof Error ? error.stack : String(error)}\n`)
    cleanupSync()
    process.exit(1)
  }
}
