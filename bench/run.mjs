#!/usr/bin/env node
// Tavern benchmarks: `npm run bench` (full, < 10 min) or `npm run bench:quick` (smoke, < 2 min).
//
//   node bench/run.mjs [--quick] [--only hit,many,grow,miss,collapse,large,index,cli,overhead,refresh,cluster] [--list]
//
// Needs a built tree (`npm run build` — the npm scripts do it). Starts its own origin, bare server and
// `tavern serve` processes on 127.0.0.1 (port 0), pins servers to core 0 and this process (the load
// generator) to core 1 when taskset exists, records /proc/loadavg around every scenario, prints a
// table and writes bench/results/<timestamp>.json. Every child is killed and every temp dir removed
// on exit, on errors, on Ctrl-C and when the overall time guard fires.
import fs from 'node:fs'
import path from 'node:path'

import {BENCH_DIR, CORES, RUN_JS, cleanup, cleanupSync, fmt, hasTaskset, loadavg, machineInfo, pinSelf, spread} from './lib/common.mjs'
import {stopLoad} from './lib/load.mjs'

const SCENARIOS = ['hit', 'many', 'grow', 'miss', 'collapse', 'large', 'index', 'cli', 'overhead', 'refresh', 'cluster']
const FILES = {hit: 'hit.mjs', many: 'many-keys.mjs', grow: 'grow.mjs', miss: 'miss.mjs', collapse: 'collapse.mjs', large: 'large.mjs', index: 'index-scale.mjs', cli: 'cli.mjs', overhead: 'overhead.mjs', refresh: 'refresh.mjs', cluster: 'cluster.mjs'}

function parseArgs(argv) {
  const a = {quick: false, only: SCENARIOS, list: false, out: path.join(BENCH_DIR, 'results')}
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]
    if (x === '--quick') a.quick = true
    else if (x === '--list') a.list = true
    else if (x === '--only' || x.startsWith('--only=')) {
      const v = x.includes('=') ? x.slice(7) : argv[++i]
      a.only = String(v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      const bad = a.only.filter((s) => !SCENARIOS.includes(s))
      if (bad.length) usage(`unknown scenario(s): ${bad.join(', ')}`)
    } else if (x === '--out') a.out = path.resolve(argv[++i])
    else if (x === '--help' || x === '-h') usage()
    else usage(`unknown argument: ${x}`)
  }
  return a
}

function usage(err) {
  const text = `usage: node bench/run.mjs [--quick] [--only ${SCENARIOS.join(',')}] [--list] [--out DIR]`
  if (err) {
    process.stderr.write(`${err}\n${text}\n`)
    process.exit(2)
  }
  process.stdout.write(text + '\n')
  process.exit(0)
}

const args = parseArgs(process.argv.slice(2))
if (args.list) {
  for (const s of SCENARIOS) {
    const m = await import(`./scenarios/${FILES[s]}`)
    console.log(`${s.padEnd(9)} ${m.title}`)
  }
  process.exit(0)
}
if (!fs.existsSync(path.join(path.dirname(RUN_JS), '..', 'dist', 'commands', 'serve.js'))) {
  process.stderr.write('bench: dist/ is missing; run `npm run build` first (npm run bench does it)\n')
  process.exit(2)
}

const log = (s) => process.stdout.write(s + '\n')
const startedAt = new Date()
const budgetMs = args.quick ? 120_000 : 600_000
const guardMs = budgetMs - 5_000

// ---- cleanup on every way out ---------------------------------------------------------------------
let exiting = false
async function bail(code, why) {
  if (exiting) return
  exiting = true
  if (why) process.stderr.write(`\nbench: ${why}; stopping everything it started\n`)
  try {
    stopLoad()
  } catch {}
  await cleanup()
  process.exit(code)
}
process.on('SIGINT', () => void bail(130, 'interrupted'))
process.on('SIGTERM', () => void bail(143, 'terminated'))
process.on('exit', cleanupSync)
process.on('uncaughtException', (err) => {
  process.stderr.write(`bench: uncaught ${err?.stack ?? err}\n`)
  void bail(1)
})
process.on('unhandledRejection', (err) => {
  process.stderr.write(`bench: unhandled rejection ${err?.stack ?? err}\n`)
  void bail(1)
})
const guard = setTimeout(() => {
  writeResults(true)
  void bail(3, `time guard: over ${guardMs / 1000} s`)
}, guardMs)
guard.unref()

// ---- run ------------------------------------------------------------------------------------------
const pinned = pinSelf()
const machine = machineInfo()
log(`tavern bench (${args.quick ? 'quick' : 'full'}): ${args.only.join(', ')}`)
log(`machine: ${machine.nproc} cpu × ${machine.cpuModel}, ${fmt(machine.memTotalBytes / 2 ** 30, 1)} GiB, node ${machine.node}, loadavg ${machine.loadavg?.join(' ')}`)
log(
  pinned
    ? `pinning: servers (tavern, origin, bare) on core ${CORES.server}, load generator + CLI on core ${CORES.client} (taskset)`
    : `pinning: none (${hasTaskset() ? 'taskset -p failed' : 'no taskset or < 2 cpus'})`,
)

const report = {
  tool: 'tavern bench',
  mode: args.quick ? 'quick' : 'full',
  startedAt: startedAt.toISOString(),
  machine,
  pinning: pinned ? {server: CORES.server, client: CORES.client} : null,
  scenarios: {},
}

function writeResults(partial = false) {
  try {
    fs.mkdirSync(args.out, {recursive: true})
    const file = path.join(args.out, `${startedAt.toISOString().replace(/[:.]/g, '-')}${args.quick ? '-quick' : ''}.json`)
    report.finishedAt = new Date().toISOString()
    report.partial = partial
    fs.writeFileSync(file, JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n')
    return file
  } catch (err) {
    process.stderr.write(`bench: could not write results: ${err.message}\n`)
    return undefined
  }
}

for (const s of args.only) {
  const mod = await import(`./scenarios/${FILES[s]}`)
  log(`\n== ${s}: ${mod.title}`)
  const entry = {title: mod.title, loadavgBefore: loadavg()}
  const t0 = performance.now()
  try {
    Object.assign(entry, await mod.run({quick: args.quick, log}))
  } catch (err) {
    entry.error = String(err?.stack ?? err)
    log(`  FAILED: ${err?.message ?? err}`)
  }
  entry.seconds = (performance.now() - t0) / 1000
  entry.loadavgAfter = loadavg()
  log(`  (${fmt(entry.seconds, 1)} s; loadavg ${entry.loadavgBefore?.join(' ')} → ${entry.loadavgAfter?.join(' ')})`)
  report.scenarios[s] = entry
}

// ---- table ----------------------------------------------------------------------------------------
const rows = Object.values(report.scenarios).flatMap((e) => e.rows ?? [])
const other = Object.values(report.scenarios).flatMap((e) => e.facts ?? [])
const goals = Object.values(report.scenarios).flatMap((e) => e.goals ?? [])
const pad = (s, n) => String(s).padEnd(n)
log('\nLoad results (median over rounds, range in parentheses; server cpu = share of one core the server got; cpu µs/req = server CPU time per request):')
log(`${pad('scenario', 22)}${pad('variant', 9)}${pad('req/s', 26)}${pad('p50 ms', 22)}${pad('p99 ms', 24)}${pad('server cpu', 16)}cpu µs/req`)
for (const r of rows) {
  const cpu = r.cpu ? spread({...r.cpu, median: r.cpu.median * 100, min: r.cpu.min * 100, max: r.cpu.max * 100}, 0) + '%' : '-'
  log(`${pad(r.scenario, 22)}${pad(r.variant, 9)}${pad(spread(r.rps, 0), 26)}${pad(spread(r.p50), 22)}${pad(spread(r.p99), 24)}${pad(cpu, 16)}${r.us ? spread(r.us, 1) : '-'}`)
}
if (other.length) {
  log('\nOther measurements:')
  for (const f of other) log(`  ${pad(f.name, 58)} ${f.value}`)
}
log('\nGoals:')
for (const g of goals) log(`  ${g.met === true ? 'MET   ' : g.met === false ? 'MISSED' : 'info  '} ${pad(g.goal, 44)} ${g.text}`)
const failed = Object.entries(report.scenarios).filter(([, e]) => e.error)
for (const [s] of failed) log(`  ERROR  scenario ${s} failed (see JSON)`)
report.goals = goals
const file = writeResults(false)
log(`\nresults: ${file ? path.relative(process.cwd(), file) : '(not written)'}  total ${fmt((Date.now() - startedAt.getTime()) / 1000, 1)} s`)
clearTimeout(guard)
await cleanup()
process.exit(failed.length ? 1 : 0)
