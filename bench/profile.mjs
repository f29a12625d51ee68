#!/usr/bin/env node
// Profile the daemon under one benchmark load: `node --cpu-prof bin/run.js serve …`, warm up, apply load,
// stop the daemon gracefully (V8 writes the .cpuprofile on exit) and print the summary.
//
//   node bench/profile.mjs [hit1k|hit100k|many|miss|fill|grow|bare1k|bare100k] [--seconds 10] [--keys 10000] [--config FILE]
//
// fill: profiles the cold fill of --keys 1 KiB objects over 16 connections (the load is the fill itself);
// grow: fills --keys objects first (not measured), then loads one hot 1 KiB key.
//
// bare1k / bare100k profile the bare node:http reference server instead (same load), for comparison.
//
// Profiles go to bench/results/profiles/ (gitignored). Open one in Chrome DevTools (Performance tab) or
// summarise it again with `node bench/cpuprofile-summary.mjs FILE`.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {BENCH_DIR, cleanup, cleanupSync, fmt, getUntilHit, pinSelf, pool, procCpuSeconds, request} from './lib/common.mjs'
import {runLoad, stopLoad} from './lib/load.mjs'
import {startDaemon, startOrigin} from './lib/servers.mjs'

const argv = process.argv.slice(2)
const which = argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--')) ?? 'hit1k'
const opt = (name, def) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : def)
const seconds = opt('--seconds', 10)
const keys = opt('--keys', 10_000)
// A daemon config (JSON) to profile with, e.g. bench/configs/header-rewrite-5.json.
const config = argv.includes('--config') ? JSON.parse(fs.readFileSync(argv[argv.indexOf('--config') + 1], 'utf8')) : undefined
if (!['hit1k', 'hit100k', 'many', 'miss', 'fill', 'grow', 'bare1k', 'bare100k'].includes(which)) {
  process.stderr.write('usage: node bench/profile.mjs [hit1k|hit100k|many|miss|fill|grow|bare1k|bare100k] [--seconds N] [--keys N] [--config FILE]\n')
  process.exit(2)
}
process.on('SIGINT', () => {
  stopLoad()
  void cleanup().then(() => process.exit(130))
})
process.on('exit', cleanupSync)
setTimeout(() => {
  process.stderr.write('profile: time guard\n')
  void cleanup().then(() => process.exit(3))
}, (seconds + 180) * 1000).unref()

pinSelf()
const outDir = path.join(BENCH_DIR, 'results', 'profiles')
fs.mkdirSync(outDir, {recursive: true})
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const profArgs = ['--cpu-prof', '--cpu-prof-dir', outDir, '--cpu-prof-name', `${which}-${stamp}.cpuprofile`]
const isBare = which.startsWith('bare')
const origin = await startOrigin(isBare ? 'bare' : 'origin', {nodeArgs: isBare ? profArgs : []})
const daemon = isBare ? {pid: origin.pid, url: origin.url, port: origin.port, stop: async () => {}} : await startDaemon({upstream: origin.url, nodeArgs: profArgs, config})
let load
try {
  if (isBare) {
    load = {url: origin.url, path: `/obj/${which === 'bare1k' ? 1024 : 100 * 1024}/hot`}
  } else if (which === 'hit1k' || which === 'hit100k') {
    const size = which === 'hit1k' ? 1024 : 100 * 1024
    await getUntilHit(daemon.port, `/obj/${size}/hot`, {size})
    load = {url: daemon.url, path: `/obj/${size}/hot`}
  } else if (which === 'many') {
    await pool(keys, 64, (i) => request({host: '127.0.0.1', port: daemon.port, path: `/many/${i}`}, {discard: true}))
    await getUntilHit(daemon.port, `/many/${keys - 1}`, {size: 1024})
    load = {url: daemon.url, paths: Array.from({length: keys}, (_, i) => `/many/${(i * 7919) % keys}`)}
  } else if (which === 'fill') {
    load = undefined
  } else if (which === 'grow') {
    await pool(keys, 16, (i) => request({host: '127.0.0.1', port: daemon.port, path: `/many/${i}`}, {discard: true}))
    await getUntilHit(daemon.port, '/obj/1024/hot', {size: 1024})
    load = {url: daemon.url, path: '/obj/1024/hot'}
  } else {
    load = {url: daemon.url, path: '/nostore/1024/x'}
  }
  if (load === undefined) {
    const cpu0 = procCpuSeconds(daemon.pid)
    const t0 = performance.now()
    await pool(keys, 16, (i) => request({host: '127.0.0.1', port: daemon.port, path: `/many/${i}`}, {discard: true}))
    const s = (performance.now() - t0) / 1000
    const cpu = procCpuSeconds(daemon.pid) - cpu0
    console.log(`fill: ${keys} cold 1 KiB objects in ${fmt(s)} s (${fmt(keys / s, 0)} fills/s), server cpu ${fmt((cpu / s) * 100, 0)}%, ${fmt((cpu * 1e6) / keys, 1)} µs/fill`)
  } else {
  await runLoad({...load, connections: 32, duration: 2})
  const r = await runLoad({...load, connections: 32, duration: seconds, serverPid: daemon.pid})
  console.log(`${which}: ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.latency.p50)} ms, p99 ${fmt(r.latency.p99)} ms, server cpu ${fmt(r.serverCpu * 100, 0)}%, ${fmt(r.cpuUsPerReq, 1)} µs/req`)
  }
} finally {
  await daemon.stop()
  await origin.stop()
}
const file = path.join(outDir, `${which}-${stamp}.cpuprofile`)
if (!fs.existsSync(file)) {
  console.error(`no profile written at ${file}`)
  process.exit(1)
}
console.log(`profile: ${path.relative(process.cwd(), file)}\n`)
spawnSync(process.execPath, [path.join(BENCH_DIR, 'cpuprofile-summary.mjs'), file, '--top', '30'], {stdio: 'inherit'})
await cleanup()
