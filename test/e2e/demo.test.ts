// `npm run demo`: Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it) stops the origin and
// the daemon gracefully, once: exit 0, no "second signal".
import {spawn} from 'node:child_process'
import net from 'node:net'
import path from 'node:path'

import {expect, it} from 'vitest'

import {makeTempDir, REPO_ROOT} from '../helpers/daemon.js'
import {sleep} from '../helpers/origin.js'

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const {port} = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

it('Ctrl-C stops the demo gracefully, once, with exit 0', async () => {
  const dir = makeTempDir()
  const originPort = await freePort()
  // detached: a process group of its own, so the test can signal the whole group the way a terminal does.
  const demo = spawn(process.execPath, ['scripts/demo.mjs', '--listen', '127.0.0.1:0', '--storage', path.join(dir, 'storage'), '--socket', path.join(dir, 'admin.sock')], {
    cwd: REPO_ROOT,
    env: {...process.env, ORIGIN_PORT: String(originPort), NO_COLOR: '1'},
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let out = ''
  demo.stdout.on('data', (c: Buffer) => (out += c.toString()))
  demo.stderr.on('data', (c: Buffer) => (out += c.toString()))
  const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)))
  try {
    const until = Date.now() + 20_000
    while (!out.includes('"tavern ready"')) {
      if (Date.now() > until) throw new Error(`the demo did not start:\n${out}`)
      await sleep(50)
    }
    process.kill(-demo.pid!, 'SIGINT')
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)])
    expect(code, out).toBe(0)
    expect(out).not.toContain('second signal')
    expect(out).toContain('"msg":"stopped"')
  } finally {
    try {
      process.kill(-demo.pid!, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}, 40_000)
