// Shared helpers for the benchmark scripts: process tracking and cleanup, CPU pinning,
// /proc sampling, statistics and small HTTP helpers. Everything here only talks to 127.0.0.1
// or to Unix sockets the benchmark created itself.
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
export const REPO = path.dirname(BENCH_DIR)
export const RUN_JS = path.join(REPO, 'bin', 'run.js')

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---- cleanup --------------------------------------------------------------------------------------

const children = new Set()
const tmpDirs = new Set()
const cleanups = new Set()

/** Remember a child process so that cleanup() (also on Ctrl-C, errors and the time guard) kills it. */
export function track(child) {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

export function onCleanup(fn) {
  cleanups.add(fn)
  return () => cleanups.delete(fn)
}

export function makeTmpDir(tag) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `tavern-bench-${tag}-`))
  tmpDirs.add(d)
  return d
}

export function removeTmpDir(d) {
  fs.rmSync(d, {recursive: true, force: true})
  tmpDirs.delete(d)
}

/** Stop a child we started: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export function stopChild(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      try {
        child.kill('SIGKILL')
      } catch {}
    }, graceMs)
    child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
    try {
      child.kill('SIGTERM')
    } catch {
      clearTimeout(t)
      resolve()
    }
  })
}

let cleaning
/** Kill every child we started (by pid, one by one) and delete every temp dir we made. */
export function cleanup() {
  cleaning ??= (async () => {
    for (const fn of [...cleanups]) {
      try {
        await fn()
      } catch {}
    }
    await Promise.all([...children].map((c) => stopChild(c, 2000)))
    for (const d of [...tmpDirs]) removeTmpDir(d)
  })()
  return cleaning
}

/** Synchronous last resort (process 'exit' handler): SIGKILL survivors, remove temp dirs. */
export function cleanupSync() {
  for (const c of children) {
    try {
      c.kill('SIGKILL')
    } catch {}
  }
  for (const d of tmpDirs) {
    try {
      fs.rmSync(d, {recursive: true, force: true})
    } catch {}
  }
}

// ---- pinning --------------------------------------------------------------------------------------

let tasksetPath
export function hasTaskset() {
  if (tasksetPath === undefined) {
    const r = spawnSync('sh', ['-c', 'command -v taskset'], {encoding: 'utf8'})
    tasksetPath = r.status === 0 ? r.stdout.trim() : null
  }
  return tasksetPath !== null && os.cpus().length >= 2
}

/** CPU layout: servers (daemon, origin, bare server) on core 0; the load generator (this process) on core 1. */
export const CORES = {server: '0', client: '1'}

/** Pin this process (all its threads) to the client core. Children inherit it unless spawned with pinnedCommand(). */
export function pinSelf() {
  if (!hasTaskset()) return false
  const r = spawnSync(tasksetPath, ['-a', '-p', '-c', CORES.client, String(process.pid)], {encoding: 'utf8'})
  return r.status === 0
}

/** [cmd, args] that runs `args` pinned to `core` when taskset exists. */
export function pinnedCommand(core, cmd, args) {
  if (!hasTaskset() || core === undefined) return [cmd, args]
  return [tasksetPath, ['-c', core, cmd, ...args]]
}

// ---- /proc ----------------------------------------------------------------------------------------

export function loadavg() {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number)
  } catch {
    return null
  }
}

/** VmRSS / VmHWM of a pid in bytes (null when it is gone). */
export function procMem(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(s)?.[1] ?? NaN) * 1024
    return {rss: kb('VmRSS'), hwm: kb('VmHWM')}
  } catch {
    return null
  }
}

const CLK_TCK = 100
/** utime+stime of a pid in seconds (all threads), null when unavailable. */
export function procCpuSeconds(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / CLK_TCK
  } catch {
    return null
  }
}

/** Sample a pid's VmRSS every `everyMs`; stop() returns {maxRss, hwm, samples}. */
export function sampleRss(pid, everyMs = 50) {
  let maxRss = 0
  let samples = 0
  const t = setInterval(() => {
    const m = procMem(pid)
    if (m) {
      samples++
      if (m.rss > maxRss) maxRss = m.rss
    }
  }, everyMs)
  return {
    stop() {
      clearInterval(t)
      const m = procMem(pid)
      if (m && m.rss > maxRss) maxRss = m.rss
      return {maxRss, hwm: m?.hwm ?? null, samples}
    },
  }
}

export function machineInfo() {
  let cpuModel = 'unknown'
  try {
    cpuModel = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel
  } catch {}
  return {
    nproc: os.cpus().length,
    cpuModel,
    memTotalBytes: os.totalmem(),
    memFreeBytes: os.freemem(),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavg: loadavg(),
    taskset: hasTaskset(),
    tmpdir: os.tmpdir(),
  }
}

// ---- statistics -----------------------------------------------------------------------------------

export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i]
}

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** {median, min, max, n} of a list of numbers. */
export function summary(xs) {
  const s = xs.filter((x) => Number.isFinite(x))
  return {median: median(s), min: s.length ? Math.min(...s) : NaN, max: s.length ? Math.max(...s) : NaN, n: s.length}
}

/** Percentiles of a list of latencies (ms). */
export function latencyStats(values) {
  const s = Float64Array.from(values).sort()
  return {n: s.length, p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), max: s.length ? s[s.length - 1] : NaN}
}

export function fmt(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return '-'
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US')
  return Number(x).toFixed(digits)
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '-'
  const u = ['B', 'KiB', 'MiB', 'GiB']
  let i = 0
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024
    i++
  }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`
}

/** "median (min–max)" */
export function spread(s, digits = 2) {
  if (!s || !s.n) return '-'
  return s.n === 1 ? fmt(s.median, digits) : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`
}

// ---- HTTP helpers ---------------------------------------------------------------------------------

/** One request; resolves {status, headers, body (Buffer, unless discard), bytes, ms}. */
export function request(opts, {discard = false, timeoutMs = 60_000, body} = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = http.request({agent: false, ...opts}, (res) => {
      const chunks = []
      let bytes = 0
      res.on('data', (c) => {
        bytes += c.length
        if (!discard) chunks.push(c)
      })
      res.on('end', () => resolve({status: res.statusCode, headers: res.headers, body: discard ? undefined : Buffer.concat(chunks), bytes, ms: performance.now() - t0}))
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timed out after ${timeoutMs} ms: ${opts.path}`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** GET `path` until Cache-Status says hit (a fill commits just after its response ended). */
export async function getUntilHit(port, p, {tries = 50, size} = {}) {
  let r
  for (let i = 0; i < tries; i++) {
    r = await request({host: '127.0.0.1', port, path: p})
    if (/hit/.test(String(r.headers['cache-status'])) && (size === undefined || r.body.length === size)) return r
    await sleep(50)
  }
  throw new Error(`${p} is not a hit after ${tries} tries: ${r?.headers['cache-status']}`)
}

export async function adminGet(socketPath, p) {
  const r = await request({socketPath, path: p, method: 'GET'}, {timeoutMs: 10_000})
  return JSON.parse(r.body.toString('utf8'))
}

/** Run `fn(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function pool(n, concurrency, fn) {
  let next = 0
  const worker = async () => {
    while (next < n) {
      const i = next++
      await fn(i)
    }
  }
  await Promise.all(Array.from({length: Math.min(n, concurrency)}, worker))
}

/** Reject if `p` takes longer than `ms`. */
export function withTimeout(p, ms, what) {
  let t
  return Promise.race([p, new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)))]).finally(() => clearTimeout(t))
}
