#!/usr/bin/env node
// Runs vitest once and ends with a plain "N passed, N failed" line (a closing line CI can read), keeping vitest's exit code.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

const dir = mkdtempSync(path.join(tmpdir(), 'vitest-json-'))
const out = path.join(dir, 'result.json')
const r = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)], {stdio: 'inherit'})
let passed = 0
let failed = 0
let skipped = 0
try {
  const j = JSON.parse(readFileSync(out, 'utf8'))
  passed = j.numPassedTests
  failed = j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0)
  skipped = j.numPendingTests + j.numTodoTests
} catch {
  failed = Math.max(failed, 1)
}
rmSync(dir, {recursive: true, force: true})
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(r.status ?? 1)
