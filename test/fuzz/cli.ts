/**
 * `npm run fuzz -- --runs N --seed S`: property-based fuzzing of the built daemon (see model.ts). Prints the seed
 * first, progress every 100 runs, then one summary line; on failure the shrunk counterexample, and exits 1.
 */
import {parseArgs} from 'node:util'

import {fuzz} from './model.js'

const {values} = parseArgs({options: {runs: {type: 'string', default: '200'}, seed: {type: 'string'}}, allowPositionals: false})
const runs = Number(values.runs)
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31)
if (!Number.isSafeInteger(runs) || runs < 1 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- [--runs N] [--seed S]\n')
  process.exit(2)
}
process.stdout.write(`fuzz: seed ${seed}, ${runs} runs (npm run build first: this runs dist/)\n`)
const r = await fuzz({runs, seed, log: (s) => process.stdout.write(`fuzz: ${s}\n`)})
const secs = (r.durationMs / 1000).toFixed(1)
const fds = r.fds ? `, fds ${r.fds.baseline} → ${r.fds.end}` : ''
if (r.failed) {
  process.stdout.write(`fuzz: FAILED after ${r.runs} runs in ${secs} s (seed ${seed}, daemon restarts ${r.restarts}${fds})\n`)
  if (r.counterexample) process.stdout.write(`counterexample: ${r.counterexample}\n`)
  process.stdout.write(`error: ${r.error}\n`)
  process.stdout.write(`reproduce: npm run fuzz -- --runs ${runs} --seed ${seed}\n`)
  process.exit(1)
}
process.stdout.write(`fuzz: ${r.runs} runs, 0 failures, seed ${seed}, ${secs} s${fds}\n`)
process.exit(0)
