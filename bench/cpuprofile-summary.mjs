#!/usr/bin/env node
// Summarise a V8 .cpuprofile (from `node --cpu-prof` or `tavern profile cpu`): top self-time functions, self time
// grouped by source (tavern src/…, node: internals, each node_modules package, GC / idle / program), and inclusive
// time of tavern's functions. The summariser is the daemon's own (src/ops/cpuprofile-summary.ts, built to dist/), so
// this and `tavern profile top` print the same thing.
//
//   node bench/cpuprofile-summary.mjs FILE.cpuprofile [--top 25] [--json]
import fs from 'node:fs'
import path from 'node:path'

const argv = process.argv.slice(2)
const file = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--top')
if (!file) {
  process.stderr.write('usage: node bench/cpuprofile-summary.mjs FILE.cpuprofile [--top N] [--json]\n')
  process.exit(2)
}
const top = Number(argv[argv.indexOf('--top') + 1]) || 25
const asJson = argv.includes('--json')

let mod
let maps
try {
  mod = await import('../dist/ops/cpuprofile-summary.js')
  maps = await import('../dist/ops/source-locations.js')
} catch (error) {
  process.stderr.write(`cpuprofile-summary: cannot load dist/ops/cpuprofile-summary.js (run \`npm run build\`): ${error.message}\n`)
  process.exit(2)
}
const profile = JSON.parse(fs.readFileSync(file, 'utf8'))
// Frames of compiled files are shown at their source lines (src/….ts) where a .js.map is beside them.
const s = mod.summariseCpuProfile(profile, {top, locate: await maps.sourceMapLocator(profile)})
if (asJson) process.stdout.write(JSON.stringify(s, null, 2) + '\n')
else console.log(mod.formatCpuProfileSummary(s, {title: path.basename(file)}))
