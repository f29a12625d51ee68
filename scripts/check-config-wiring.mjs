#!/usr/bin/env node
// Mutation check of test/e2e/config-wiring: for each config key (or the keys given as arguments), run its rows
// with the key removed from the daemon's config, and report any row that still PASSES (it would not notice the
// key being ignored). Slow: one daemon start per key. Not part of `npm test`; run it after editing the table.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

const keysOut = spawnSync('npx', ['tsx', '-e', "import('./src/config/schema.ts').then(async (s) => { const {leafKeys} = await import('./test/helpers/config-keys.ts'); console.log(JSON.stringify(leafKeys(s.ConfigSchema))) })"], {encoding: 'utf8'})
const keys = process.argv.length > 2 ? process.argv.slice(2) : JSON.parse(keysOut.stdout.trim().split('\n').at(-1))
const dir = mkdtempSync(path.join(tmpdir(), 'wiring-'))
let bad = 0
for (const key of keys) {
  const out = path.join(dir, 'r.json')
  spawnSync('npx', ['vitest', 'run', 'test/e2e/config-wiring.test.ts', '--reporter=json', `--outputFile.json=${out}`], {env: {...process.env, TAVERN_WIRING_DROP: key}, stdio: 'ignore'})
  let rows = []
  try {
    rows = JSON.parse(readFileSync(out, 'utf8')).testResults.flatMap((f) => f.assertionResults).filter((a) => a.title.startsWith(`${key}: `))
  } catch {}
  const passed = rows.filter((r) => r.status === 'passed')
  const verdict = rows.length === 0 ? 'NO ROWS RAN' : passed.length ? `STILL PASSES: ${passed.map((r) => r.title).join(' | ')}` : `ok (${rows.length} row(s) fail without it)`
  if (rows.length === 0 || passed.length) bad++
  console.log(`${key}: ${verdict}`)
  rmSync(out, {force: true})
}
rmSync(dir, {recursive: true, force: true})
process.exit(bad ? 1 : 0)
