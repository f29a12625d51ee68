#!/usr/bin/env node
// The access log writer in isolation: CPU per line for pino (asynchronous SonicBoom destination, as the issue first
// proposed) against Tavern's batched column writer (src/daemon/access-log.ts), writing the same fields to a temp file.
// Why the access log does not go through pino: see README "Access log".
//
//   node bench/access-log-writer.mjs [--lines N]      (needs `npm run build`)
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {pino} from 'pino'

import {REPO} from './lib/common.mjs'

const argv = process.argv.slice(2)
const N = argv.includes('--lines') ? Number(argv[argv.indexOf('--lines') + 1]) : 300_000
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-alw-'))
const entry = {reqId: 'aaaaaaaa00000001', client: '127.0.0.1', method: 'GET', host: '127.0.0.1:8080', path: '/obj/1k', status: 200, bytes: 1024, durationMs: 0.123, cache: 'hit'}
const yieldEvery = 1000 // let the asynchronous writes run, as a daemon's event loop would

async function measure(label, write, finish) {
  for (let i = 0; i < 20_000; i++) write(i) // warm-up (JIT)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < N; i++) {
    write(i)
    if (i % yieldEvery === 0) await new Promise((r) => setImmediate(r))
  }
  await finish()
  const c = process.cpuUsage(c0)
  const cpuUs = (c.user + c.system) / N
  console.log(`${label.padEnd(44)} ${cpuUs.toFixed(2).padStart(6)} µs CPU/line  ${((performance.now() - t0) * 1000 / N).toFixed(2).padStart(6)} µs wall/line`)
  return cpuUs
}

try {
  const dest = pino.destination({dest: path.join(dir, 'pino.log'), sync: false})
  const log = pino({base: null, timestamp: pino.stdTimeFunctions.isoTime}, dest)
  const p = await measure('pino + asynchronous destination (SonicBoom)', (i) => log.info({...entry, bytes: i}), () => new Promise((r) => dest.flush(() => r())))

  const {AccessLog} = await import(path.join(REPO, 'dist', 'daemon', 'access-log.js'))
  const own = new AccessLog(path.join(dir, 'own.log'))
  await own.ready()
  const e = entry
  const t = await measure('tavern AccessLog (batched columns)', (i) => own.record(e.reqId, e.client, e.method, e.host, e.path, e.status, i, e.durationMs, e.cache, undefined, performance.now()), () => own.close())
  console.log(`pino / tavern CPU per line: ${(p / t).toFixed(1)}×  (${N} lines each)`)
} finally {
  fs.rmSync(dir, {recursive: true, force: true})
}
