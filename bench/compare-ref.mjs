#!/usr/bin/env node
// Regression guard: this tree's hit path against another build, side by side on one core.
//
//   node bench/compare-ref.mjs --ref <git-ref> [--quick] [--size BYTES] [--pairs N]
//   node bench/compare-ref.mjs --ref none --config-a a.json --config-b b.json   (same build, two configs)
//   node bench/compare-ref.mjs --ref <git-ref> --fill N   (fills instead of hits: N cold 1 KiB objects over 16
//     connections into both daemons at the same time; the ratio is b's time / a's time, > 1 = this tree fills faster)
//   node bench/compare-ref.mjs --ref <git-ref> --grow N   (the hit comparison after N cold 1 KiB objects were stored
//     in both daemons: a hit must not get slower as the cache grows)
//
// "a" is this tree (built: `npm run build` first), "b" is the build of <git-ref> (checked out into a temporary git
// worktree, node_modules linked from this tree when package-lock.json is the same, else `npm ci` there; built with
// its own `npm run build`), or this tree again with `--ref none`. For each of N fresh pairs of daemons (spawn order
// alternating) it fills one object of SIZE bytes in both, then loads both at the same time on the same core
// (autocannon, 32 connections, one instance each) for R rounds and takes the req/s ratio a/b; the figure is the median
// over pairs (a pair of identical daemons differs by 1–4 %, see BENCHMARKS.md). Prints one JSON line at the end
// ({ratio, cpuRatio, pairs: [...]}) for scripts. Everything listens on 127.0.0.1; every process and temp dir is
// cleaned up on exit, on errors and on Ctrl-C.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {REPO, RUN_JS, cleanup, cleanupSync, fmt, getUntilHit, hasTaskset, makeTmpDir, median, onCleanup, pinSelf, pool, procCpuSeconds, request} from './lib/common.mjs'
import {sideBySide} from './lib/ab.mjs'
import {startDaemon, startOrigin} from './lib/servers.mjs'

function parseArgs(argv) {
  const a = {ref: undefined, quick: false, size: 1024, pairs: undefined, configA: undefined, configB: undefined, fill: 0, grow: 0}
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]
    if (x === '--ref') a.ref = argv[++i]
    else if (x === '--quick') a.quick = true
    else if (x === '--size') a.size = Number(argv[++i])
    else if (x === '--pairs') a.pairs = Number(argv[++i])
    else if (x === '--fill') a.fill = Number(argv[++i])
    else if (x === '--grow') a.grow = Number(argv[++i])
    else if (x === '--config-a') a.configA = JSON.parse(fs.readFileSync(argv[++i], 'utf8'))
    else if (x === '--config-b') a.configB = JSON.parse(fs.readFileSync(argv[++i], 'utf8'))
    else {
      process.stderr.write(`unknown argument: ${x}\nusage: node bench/compare-ref.mjs --ref <git-ref|none> [--quick] [--size BYTES] [--pairs N] [--config-a FILE] [--config-b FILE]\n`)
      process.exit(2)
    }
  }
  if (!a.ref) {
    process.stderr.write('bench/compare-ref: --ref <git-ref|none> is required\n')
    process.exit(2)
  }
  return a
}

function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, {cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout.trim()
}

/** Check out and build `ref` in a temporary worktree; returns its bin/run.js. */
function buildRef(ref) {
  const dir = path.join(makeTmpDir('ref'), 'tree')
  const sha = sh('git', ['rev-parse', '--verify', `${ref}^{commit}`], REPO)
  sh('git', ['worktree', 'add', '--detach', dir, sha], REPO)
  onCleanup(() => {
    spawnSync('git', ['worktree', 'remove', '--force', dir], {cwd: REPO})
  })
  const sameLock = fs.existsSync(path.join(dir, 'package-lock.json')) && fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8') === fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')
  if (sameLock) fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
  else sh('npm', ['ci', '--no-audit', '--no-fund'], dir)
  sh('npm', ['run', 'build'], dir)
  return {runJs: path.join(dir, 'bin', 'run.js'), sha}
}

const log = (s) => process.stdout.write(s + '\n')

async function main() {
  const args = parseArgs(process.argv.slice(2))
  if (hasTaskset()) pinSelf()
  const pairs = args.pairs ?? (args.quick ? 1 : 4)
  const rounds = args.quick ? 2 : 2
  const duration = args.quick ? 2 : 4
  const b = args.ref === 'none' ? {runJs: RUN_JS, sha: 'this tree'} : buildRef(args.ref)
  log(args.fill > 0 ? `compare-ref: a = this tree, b = ${args.ref} (${b.sha}); ${args.fill} cold 1 KiB fills each, ${pairs} pair(s), at the same time` : `compare-ref: a = this tree, b = ${args.ref} (${b.sha}); ${args.size}-byte hit, ${pairs} pair(s) × ${rounds} × ${duration} s side by side`)
  const origin = await startOrigin('origin')
  const p = `/obj/${args.size}/hot`
  const out = []
  try {
    for (let i = 0; i < pairs; i++) {
      const specs = [
        {name: 'a', runJs: RUN_JS, config: args.configA},
        {name: 'b', runJs: b.runJs, config: args.configB},
      ]
      const order = i % 2 === 0 ? specs : [...specs].reverse()
      const started = {}
      for (const s of order) started[s.name] = await startDaemon({upstream: origin.url, runJs: s.runJs, config: s.config})
      try {
        if (args.fill > 0) {
          // Both fill at the same time (same origin, same core): each its own key range.
          const t = {}
          await Promise.all(
            ['a', 'b'].map(async (n) => {
              const c0 = procCpuSeconds(started[n].pid)
              const t0 = performance.now()
              await pool(args.fill, 16, (k) => request({host: '127.0.0.1', port: started[n].port, path: `/many/${n}${i}-${k}`}, {discard: true}))
              t[n] = (performance.now() - t0) / 1000
              t[n + 'Cpu'] = procCpuSeconds(started[n].pid) - c0
            }),
          )
          const ratio = t.b / t.a
          const cpuRatio = t.bCpu / t.aCpu
          const us = (c) => fmt((c * 1e6) / args.fill, 0)
          log(`  pair ${i + 1}/${pairs} fill ${args.fill}: a ${fmt(t.a)} s (${fmt(args.fill / t.a, 0)}/s, ${us(t.aCpu)} µs CPU/fill)  b ${fmt(t.b)} s (${fmt(args.fill / t.b, 0)}/s, ${us(t.bCpu)} µs CPU/fill)  b/a time ${fmt(ratio, 3)}, CPU ${fmt(cpuRatio, 3)}`)
          out.push({ratio, cpuRatio, coreBusy: NaN, aSeconds: t.a, bSeconds: t.b, aCpuSeconds: t.aCpu, bCpuSeconds: t.bCpu})
          continue
        }
        if (args.grow > 0) {
          await Promise.all(['a', 'b'].map((n) => pool(args.grow, 16, (k) => request({host: '127.0.0.1', port: started[n].port, path: `/many/${k}`}, {discard: true}))))
          log(`  pair ${i + 1}/${pairs}: ${args.grow} objects stored in each`)
        }
        for (const d of Object.values(started)) await getUntilHit(d.port, p, {size: args.size})
        const variants = ['a', 'b'].map((n) => ({name: n, url: started[n].url, path: p, serverPid: started[n].pid}))
        const r = await sideBySide({variants, rounds, duration, connections: 32, log, label: `pair ${i + 1}/${pairs}`})
        out.push({ratio: r.ratio.median, cpuRatio: r.cpuRatio.median, coreBusy: r.coreBusy.median})
      } finally {
        for (const d of Object.values(started)) await d.stop()
      }
    }
  } finally {
    await origin.stop()
  }
  const ratio = median(out.map((x) => x.ratio))
  const cpuRatio = median(out.map((x) => x.cpuRatio))
  log(`a/b req/s side by side: median ${fmt(ratio, 3)} over ${out.length} pair(s) (${out.map((x) => fmt(x.ratio, 3)).join(', ')}); CPU-cost ratio ${fmt(cpuRatio, 3)}`)
  log(JSON.stringify({ref: args.ref, sha: b.sha, size: args.size, ratio, cpuRatio, pairs: out}))
}

process.on('exit', cleanupSync)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => cleanup().then(() => process.exit(130)))
main().then(
  () => cleanup(),
  async (err) => {
    process.stderr.write(`bench/compare-ref: ${err.stack ?? err}\n`)
    await cleanup()
    process.exit(1)
  },
)
