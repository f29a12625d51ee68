#!/usr/bin/env node
// Runs vitest once and ends with a plain "N passed, N failed" line (a closing line CI can read), keeping vitest's exit code.
// The counts come from scripts/summary-reporter.mjs: failed tests, files that failed to load, failing hooks and
// unhandled errors are all failures, and a failing run never prints "0 failed".
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {colourEnv} from './colour-env.mjs'

const reporter = path.join(path.dirname(fileURLToPath(import.meta.url)), 'summary-reporter.mjs')
const dir = mkdtempSync(path.join(tmpdir(), 'vitest-summary-'))
const out = path.join(dir, 'summary.json')
const r = spawnSync('npx', ['vitest', 'run', '--reporter=default', `--reporter=${reporter}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  // `npm test` has just built dist/ (pretest); the global setup only checks that it is current.
  env: {...process.env, ...colourEnv(process.env, process.stdout.isTTY === true), TAVERN_TEST_SUMMARY: out},
})
const code = r.status ?? 1
let passed = 0
let failed = 0
let skipped = 0
const notes = []
try {
  const c = JSON.parse(readFileSync(out, 'utf8'))
  passed = c.passed
  skipped = c.skipped
  failed = c.failedTests + c.loadErrors + c.hookErrors + c.unhandledErrors
  if (c.loadErrors) notes.push(`${c.loadErrors} file(s) failed to load`)
  if (c.hookErrors) notes.push(`${c.hookErrors} failing hook(s)`)
  if (c.unhandledErrors) notes.push(`${c.unhandledErrors} unhandled error(s)`)
  if (c.interrupted) notes.push('run interrupted')
  for (const p of c.problems) console.log(`  ${p.split('\n')[0]}`)
} catch {
  notes.push('vitest ended without a summary (crashed, or a global setup failed)')
}
// Whatever the counts say, a failing exit code is at least one failure.
if (code !== 0 && failed === 0) {
  failed = 1
  if (!notes.length) notes.push(`vitest exited with ${code}`)
}
rmSync(dir, {recursive: true, force: true})
if (notes.length) console.log(`counted as failures: ${notes.join('; ')}`)
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(code)
