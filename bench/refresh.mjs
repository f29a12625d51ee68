#!/usr/bin/env node
// Standalone: `node bench/refresh.mjs [--quick]` (after `npm run build`); also part of `npm run bench` (scenario
// `refresh`). See bench/scenarios/refresh.mjs.
import {cleanup} from './lib/common.mjs'
import {run} from './scenarios/refresh.mjs'

const quick = process.argv.includes('--quick')
try {
  await run({quick, log: (s) => process.stdout.write(s + '\n')})
} finally {
  await cleanup()
}
