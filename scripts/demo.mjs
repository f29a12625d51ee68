#!/usr/bin/env node
// `npm run demo`: the example origin on 127.0.0.1:3000 plus `tavern serve` in front of it on 127.0.0.1:8080.
// Ctrl-C stops both. Try: curl -i http://127.0.0.1:8080/ (twice), then `node bin/run.js status`.
import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const originPort = process.env.ORIGIN_PORT ?? '3000'
const origin = spawn(process.execPath, ['examples/origin.mjs', '--port', originPort], {cwd: root, stdio: ['ignore', 'inherit', 'inherit']})
const tavern = spawn(process.execPath, ['bin/run.js', 'serve', '--upstream', `http://127.0.0.1:${originPort}`, ...process.argv.slice(2)], {cwd: root, stdio: 'inherit'})
const stop = () => {
  tavern.kill('SIGTERM')
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
tavern.on('exit', (code) => {
  origin.kill('SIGTERM')
  process.exit(code ?? 0)
})
origin.on('exit', (code) => {
  if (code) {
    console.error(`example origin exited with ${code}`)
    tavern.kill('SIGTERM')
  }
})
