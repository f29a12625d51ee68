#!/usr/bin/env node
// `npm run demo`: the example origin on 127.0.0.1:3000 plus `tavern serve` in front of it on 127.0.0.1:8080.
// Ctrl-C stops both, gracefully and once. Try: curl -i http://127.0.0.1:8080/ (twice), then `node bin/run.js status`.
import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const originPort = process.env.ORIGIN_PORT ?? '3000'
// Each child in its own process group: Ctrl-C reaches only this script (and npm, which forwards it here once more),
// which passes one SIGTERM on. In the terminal's group, tavern would get the terminal's SIGINT and our SIGTERM: two
// signals, i.e. "second signal: exiting now" and exit 1 instead of the graceful path.
const origin = spawn(process.execPath, ['examples/origin.mjs', '--port', originPort], {cwd: root, stdio: ['ignore', 'inherit', 'inherit'], detached: true})
const tavern = spawn(process.execPath, ['bin/run.js', 'serve', '--upstream', `http://127.0.0.1:${originPort}`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
  detached: true,
})
let stoppedAt = 0
const stop = () => {
  const now = Date.now()
  // The same Ctrl-C often arrives twice (the terminal, and npm forwarding it); a second press a moment later is
  // deliberate and is passed on (tavern then exits at once).
  if (stoppedAt && now - stoppedAt < 1000) return
  tavern.kill(stoppedAt ? 'SIGINT' : 'SIGTERM')
  stoppedAt = now
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
process.on('SIGHUP', stop)
tavern.on('exit', (code, signal) => {
  origin.kill('SIGTERM')
  process.exit(code ?? (signal ? 1 : 0))
})
origin.on('exit', (code) => {
  if (code) {
    console.error(`example origin exited with ${code}`)
    tavern.kill('SIGTERM')
  }
})
