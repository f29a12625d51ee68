// 6. Index scale: 1,000,000 objects' metadata in the LMDB index (quick: 25,000).
//
// The template record comes from a real fill through Storage (beginFill → write → commit); the bulk is
// written with the index module Storage itself uses (LmdbIndex.putRecordInTxn in 10,000-record
// transactions), because one body file per object would make a million objects a file-system benchmark.
// Keys: http://synth.example/dNN/obj/NNNNNNN, 10 directories interleaved (insertion order ≠ key order, as in a
// real cache). Their body files do not exist (a purge's unlink of them returns ENOENT).
//
// Then: daemon start-up time on that dir vs an empty dir (interleaved); random Storage.get rate; in-process
// Storage.purgePrefix of one directory (delete and expire); and hit-request latency on the daemon while it
// purges another directory (data-plane PURGE, Purge-Type: dir,hard) vs the same load without a purge.
import path from 'node:path'

import {BENCH_DIR, fmt, getUntilHit, latencyStats, makeTmpDir, removeTmpDir, request, sleep, summary} from '../lib/common.mjs'
import {runLoad} from '../lib/load.mjs'
import {startDaemon, startOrigin} from '../lib/servers.mjs'

export const name = 'index'
export const title = 'Index scale (1,000,000 objects; quick: 25,000)'

const DIST = path.join(path.dirname(BENCH_DIR), 'dist')
const HOST = 'synth.example'
const DIRS = 10

const dirName = (d) => `d${String(d).padStart(2, '0')}`
const synthKey = (i) => `http://${HOST}/${dirName(i % DIRS)}/obj/${String(i).padStart(7, '0')}`

function storageOptions(dir) {
  // the schema defaults, minus background maintenance (so in-process timings measure only the call)
  return {dir, maxDiskBytes: 10 * 2 ** 30, diskHighWatermark: 0.95, diskLowWatermark: 0.9, maxMemoryBytes: 256 * 2 ** 20, memoryMaxObjectBytes: 2 ** 20, maxVariants: 32, evictionIntervalMs: 0, gcGraceSeconds: 86_400}
}

function xorshift(seed) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s
  }
}

async function templateRecord(Storage, dir) {
  const st = await Storage.open(storageOptions(dir))
  try {
    const key = `http://${HOST}/template`
    const w = st.beginFill(key, '')
    const body = Buffer.alloc(1024, 97)
    w.write(body)
    const now = Date.now()
    const rec = await w.commit({
      url: key,
      status: 200,
      statusText: 'OK',
      headers: ['Content-Type', 'application/octet-stream', 'Cache-Control', 'public, max-age=3600', 'ETag', '"o1024"', 'Last-Modified', new Date(now - 86_400_000).toUTCString(), 'Date', new Date(now).toUTCString()],
      requestTime: now,
      responseTime: now,
      policy: {lifetime: 3600, lifetimeSource: 'max-age', correctedInitialAge: 0, noCache: false, mustRevalidate: false, etag: '"o1024"', lastModified: new Date(now - 86_400_000).toUTCString(), date: now},
      vary: [],
      expectedLength: 1024,
    })
    if (!rec) throw new Error('template commit refused')
    return structuredClone(rec)
  } finally {
    await st.close()
  }
}

async function purgeViaDaemon(daemon, dir) {
  const t0 = performance.now()
  const r = await request({host: '127.0.0.1', port: daemon.port, method: 'PURGE', path: `/${dir}/`, headers: {Host: HOST, 'Purge-Type': 'dir,hard'}}, {timeoutMs: 120_000})
  const ms = performance.now() - t0
  let body = {}
  try {
    body = JSON.parse(r.body.toString())
  } catch {}
  if (r.status !== 200) throw new Error(`PURGE /${dir}/ answered ${r.status}: ${r.body.toString().slice(0, 200)}`)
  return {ms, matched: body.matched, via: 'PURGE method'}
}

export async function run({quick, log}) {
  const N = quick ? 25_000 : 1_000_000
  const perDir = N / DIRS
  const lookups = quick ? 50_000 : 200_000
  const startReps = quick ? 2 : 3
  const purgeRounds = quick ? 1 : 3
  const loadSeconds = quick ? 2 : 3
  const connections = 16
  const {Storage} = await import(path.join(DIST, 'storage', 'storage.js'))
  const {LmdbIndex} = await import(path.join(DIST, 'storage', 'lmdb-index.js'))
  const {indexKey} = await import(path.join(DIST, 'storage', 'keys.js'))

  const work = makeTmpDir('index')
  const dir = path.join(work, 'storage')
  const emptyDir = path.join(work, 'empty')
  const out = {objects: N}
  try {
    // -- fill ------------------------------------------------------------------------------------
    const tpl = await templateRecord(Storage, dir)
    const idx = LmdbIndex.open(path.join(dir, 'index'))
    const BATCH = 10_000
    const t0 = performance.now()
    for (let b = 0; b < N; b += BATCH) {
      const now = Date.now()
      await idx.transaction(() => {
        const dead = []
        for (let i = b; i < Math.min(N, b + BATCH); i++) {
          const key = synthKey(i)
          idx.putRecordInTxn(indexKey(key, ''), {...tpl, key, url: key, file: `zz/zz/synthetic-${i}`, storedAt: now, lastAccess: now}, dead)
        }
        idx.persistTotalsInTxn()
      })
    }
    const fillS = (performance.now() - t0) / 1000
    await idx.close()
    out.fill = {seconds: fillS, recordsPerSec: N / fillS}
    log(`  filled ${N.toLocaleString('en-US')} records in ${fmt(fillS)} s (${fmt(N / fillS, 0)}/s)`)

    // -- daemon start-up: empty dir vs the big index, interleaved ----------------------------------
    const origin = await startOrigin('origin')
    try {
      const startup = {empty: [], full: []}
      for (let r = 0; r < startReps; r++) {
        for (const [k, d] of r % 2 ? [['full', dir], ['empty', emptyDir]] : [['empty', emptyDir], ['full', dir]]) {
          const daemon = await startDaemon({upstream: origin.url, storageDir: d})
          const st = await daemon.status()
          await daemon.stop()
          startup[k].push(daemon.readyMs)
          if (k === 'full' && st.storage.objects < N) throw new Error(`daemon sees ${st.storage.objects} objects, expected ${N}`)
          log(`  start-up ${k.padEnd(5)} ${fmt(daemon.readyMs, 0)} ms (objects ${st.storage.objects})`)
        }
      }
      out.startup = {emptyMs: summary(startup.empty), fullMs: summary(startup.full), raw: startup}

      // -- in-process: random gets, purgePrefix --------------------------------------------------
      const t1 = performance.now()
      const st = await Storage.open(storageOptions(dir))
      const openMs = performance.now() - t1
      const rnd = xorshift(12345)
      const keys = Array.from({length: lookups}, () => synthKey(rnd() % N))
      const passes = []
      for (let pass = 0; pass < 2; pass++) {
        let found = 0
        const g0 = performance.now()
        for (const k of keys) if (st.get(k, '')) found++
        const ms = performance.now() - g0
        if (found !== lookups) throw new Error(`random get: found ${found} of ${lookups}`)
        passes.push(lookups / (ms / 1000))
      }
      log(`  Storage.open ${fmt(openMs, 1)} ms; random get ${fmt(passes[0], 0)}/s (first pass), ${fmt(passes[1], 0)}/s (same keys again, read cache)`)
      out.lookups = {storageOpenMs: openMs, count: lookups, firstPassPerSec: passes[0], repeatPassPerSec: passes[1]}
      const purges = {}
      for (const [mode, d] of [
        ['delete', 0],
        ['expire', 1],
      ]) {
        const p0 = performance.now()
        const r = await st.purgePrefix(`http://${HOST}/${dirName(d)}/`, mode)
        const ms = performance.now() - p0
        if (r.matched !== perDir) throw new Error(`purgePrefix ${mode}: matched ${r.matched}, expected ${perDir}`)
        purges[mode] = {ms, matched: r.matched, perSec: r.matched / (ms / 1000)}
        log(`  Storage.purgePrefix(${mode}) of ${r.matched.toLocaleString('en-US')} objects: ${fmt(ms, 0)} ms (${fmt(r.matched / (ms / 1000), 0)}/s)`)
      }
      await st.close()
      out.purgeInProcess = purges

      // -- data-plane hit latency while the daemon purges ------------------------------------------
      const daemon = await startDaemon({upstream: origin.url, storageDir: dir})
      try {
        const hot = Array.from({length: 100}, (_, i) => `/obj/1024/h${i}`)
        for (const p of hot) await getUntilHit(daemon.port, p, {size: 1024})
        const rounds = []
        for (let r = 0; r < purgeRounds; r++) {
          // baseline: same load, no purge
          const base = []
          const b0 = performance.now()
          await runLoad({url: daemon.url, paths: hot, connections, duration: loadSeconds, onSample: (t, ms) => t - b0 > 300 && base.push(ms)})
          const bl = latencyStats(base)
          // with purge
          const during = []
          let pStart = Infinity
          let pEnd = Infinity
          const load = runLoad({url: daemon.url, paths: hot, connections, duration: 120, onSample: (t, ms) => t >= pStart && t <= pEnd && during.push(ms)})
          await sleep(500)
          pStart = performance.now()
          const pr = await purgeViaDaemon(daemon, dirName(2 + r))
          pEnd = performance.now()
          await sleep(200)
          load.stop()
          const lr = await load
          const dl = latencyStats(during)
          if (pr.matched !== perDir) throw new Error(`daemon purge matched ${pr.matched}, expected ${perDir}`)
          rounds.push({baseline: bl, duringPurge: dl, purgeMs: pr.ms, matched: pr.matched, rpsDuringRun: lr.rps})
          log(`  round ${r + 1}/${purgeRounds}: purge of ${pr.matched.toLocaleString('en-US')} in ${fmt(pr.ms, 0)} ms; hit p50/p99 ${fmt(dl.p50)}/${fmt(dl.p99)} ms during purge (n=${dl.n}) vs ${fmt(bl.p50)}/${fmt(bl.p99)} ms without (n=${bl.n})`)
        }
        out.purgeUnderLoad = {
          connections,
          rounds,
          purgeMs: summary(rounds.map((x) => x.purgeMs)),
          p99During: summary(rounds.map((x) => x.duringPurge.p99)),
          p99Baseline: summary(rounds.map((x) => x.baseline.p99)),
          p50During: summary(rounds.map((x) => x.duringPurge.p50)),
          p50Baseline: summary(rounds.map((x) => x.baseline.p50)),
        }
        const s = await daemon.status()
        out.objectsAfter = s.storage.objects
      } finally {
        await daemon.stop()
      }
    } finally {
      await origin.stop()
    }
  } finally {
    removeTmpDir(work)
  }
  const pu = out.purgeUnderLoad
  const n = N.toLocaleString('en-US')
  const k = perDir.toLocaleString('en-US')
  out.facts = [
    {name: `index: fill ${n} records (LmdbIndex, 10k/txn)`, value: `${fmt(out.fill.seconds)} s (${fmt(out.fill.recordsPerSec, 0)}/s)`},
    {name: `index: daemon start-up, ${n} objects vs empty (ms)`, value: `${fmtS(out.startup.fullMs, 0)} vs ${fmtS(out.startup.emptyMs, 0)}`},
    {name: `index: random Storage.get over ${n} (first / repeat pass)`, value: `${fmt(out.lookups.firstPassPerSec, 0)}/s / ${fmt(out.lookups.repeatPassPerSec, 0)}/s`},
    {name: `index: purgePrefix ${k} objects, delete / expire (ms)`, value: `${fmt(out.purgeInProcess.delete.ms, 0)} / ${fmt(out.purgeInProcess.expire.ms, 0)}`},
    {name: `index: daemon PURGE dir of ${k} objects under hit load (ms)`, value: fmtS(pu.purgeMs, 0)},
    {name: `index: hit p50 / p99 during purge vs without (ms, ${pu.connections} conns)`, value: `${fmt(pu.p50During.median)} / ${fmtS(pu.p99During)} vs ${fmt(pu.p50Baseline.median)} / ${fmtS(pu.p99Baseline)}`},
  ]
  out.goals = [
    {id: 'index-startup', goal: `start-up on ${n} objects ≈ empty (no scan)`, value: out.startup.fullMs.median, met: null, text: `${fmt(out.startup.fullMs.median, 0)} ms vs ${fmt(out.startup.emptyMs.median, 0)} ms empty`},
  ]
  return out
}

function fmtS(s, d = 2) {
  if (!s || !s.n) return '-'
  return s.n === 1 ? fmt(s.median, d) : `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})`
}
