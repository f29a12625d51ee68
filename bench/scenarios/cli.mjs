// 7. CLI latency: wall time of one-shot commands against a running daemon (median of 10, interleaved),
// with bare `node -e 0` as the floor. `tavern purge URL` is included when dist/commands/purge.js exists.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {REPO, RUN_JS, fmt, getUntilHit, summary} from '../lib/common.mjs'
import {startDaemon, startOrigin} from '../lib/servers.mjs'

export const name = 'cli'
export const title = 'CLI one-shot latency'

export async function run({quick, log}) {
  const reps = quick ? 5 : 10
  const origin = await startOrigin('origin')
  const daemon = await startDaemon({upstream: origin.url})
  const hasPurge = fs.existsSync(path.join(REPO, 'dist', 'commands', 'purge.js'))
  const cmds = [
    {name: 'node -e 0', args: ['-e', '0']},
    {name: 'tavern --version', args: [RUN_JS, '--version']},
    {name: 'tavern status', args: [RUN_JS, 'status', '--socket', daemon.socket]},
  ]
  if (hasPurge) cmds.push({name: 'tavern purge URL', args: [RUN_JS, 'purge', `${daemon.url}/obj/1024/cli`, '--socket', daemon.socket], before: () => getUntilHit(daemon.port, '/obj/1024/cli', {size: 1024})})
  const times = Object.fromEntries(cmds.map((c) => [c.name, []]))
  const failures = {}
  try {
    for (let r = 0; r < reps; r++) {
      for (const c of r % 2 ? [...cmds].reverse() : cmds) {
        if (c.before) await c.before()
        const t0 = performance.now()
        const res = spawnSync(process.execPath, c.args, {cwd: REPO, encoding: 'utf8', timeout: 20_000, env: {...process.env, TAVERN_SOCKET: daemon.socket}})
        const ms = performance.now() - t0
        if (res.status !== 0) {
          failures[c.name] = `exit ${res.status ?? res.signal}: ${(res.stderr || res.stdout).trim().slice(0, 300)}`
          continue
        }
        times[c.name].push(ms)
      }
    }
  } finally {
    await daemon.stop()
    await origin.stop()
  }
  const res = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, summary(v)]))
  for (const [k, s] of Object.entries(res)) log(`  ${k.padEnd(18)} median ${fmt(s.median, 0)} ms (${fmt(s.min, 0)}–${fmt(s.max, 0)}, n=${s.n})${failures[k] ? `  FAILED: ${failures[k]}` : ''}`)
  if (!hasPurge) log('  tavern purge: dist/commands/purge.js not present yet, skipped')
  const floor = res['node -e 0'].median
  return {
    reps,
    results: res,
    raw: times,
    failures,
    purgeCommandPresent: hasPurge,
    facts: Object.entries(res).map(([k, s]) => ({name: `cli: ${k} (ms, median of ${s.n})`, value: `${fmt(s.median, 0)} (${fmt(s.min, 0)}–${fmt(s.max, 0)})${k !== 'node -e 0' ? `; +${fmt(s.median - floor, 0)} over node -e 0` : ''}${failures[k] ? ` FAILED: ${failures[k]}` : ''}`})),
    goals: [],
  }
}
