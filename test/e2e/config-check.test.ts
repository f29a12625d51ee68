// `tavern config check` runs every check `serve` runs short of binding ports (one function, src/config/preflight.ts),
// so it no longer says "config ok" for a config serve then rejects; both exit 2 naming the key. Storage errors name
// storage.dir (checked as a non-root user against a read-only directory: CI runs as root, where permission bits do
// not stop anything; elsewhere that test is skipped with the reason printed).
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {expect, it} from 'vitest'

import {BIN, makeTempDir, REPO_ROOT, runCli, startDaemon} from '../helpers/daemon.js'
import {startOrigin} from '../helpers/origin.js'

const isRoot = process.getuid?.() === 0
const NOBODY = 65534
if (!isRoot) console.log('config-check.test.ts: not running as root, so the read-only storage test (run as nobody) is skipped')

function configFile(content: Record<string, unknown> | string, name = 'tavern.config.json'): string {
  const f = path.join(makeTempDir('tavern-cc-'), name)
  fs.writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content))
  fs.chmodSync(path.dirname(f), 0o755)
  fs.chmodSync(f, 0o644)
  return f
}

/** serve with a socket and port of its own; it must refuse before it listens. */
function serve(args: string[]) {
  return runCli(['serve', '--listen', '127.0.0.1:0', '--socket', path.join(makeTempDir(), 's.sock'), ...args], {timeoutMs: 20_000})
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function runAs(uid: number, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], {cwd: REPO_ROOT, uid, gid: uid, env: {PATH: process.env.PATH, HOME: '/', NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`tavern ${args.join(' ')} did not exit in time\n${stdout}\n${stderr}`))
    }, 20_000)
    p.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr})
    })
  })
}

it.concurrent('no upstreams: config check fails like serve (exit 2, naming upstreams); --upstream satisfies both', async () => {
  const f = configFile({listen: '127.0.0.1:0'})
  const check = await runCli(['config', 'check', '-c', f])
  expect(check.code, check.stdout + check.stderr).toBe(2)
  expect(check.stdout).not.toContain('config ok')
  expect(check.stderr).toContain('upstreams: no upstream configured')
  const s = await serve(['-c', f])
  expect(s.code).toBe(2)
  expect(s.stderr).toContain('upstreams: no upstream configured')
  const ok = await runCli(['config', 'check', '-c', f, '--upstream', 'http://127.0.0.1:3000'])
  expect(ok.code, ok.stderr).toBe(0)
  expect(ok.stdout).toContain(`config ok: ${f}`)
}, 60_000)

it.concurrent('storage.dir: /proc/nope is refused by config check and by serve, naming storage.dir', async () => {
  const f = configFile({upstreams: ['http://127.0.0.1:3000'], storage: {dir: '/proc/nope'}})
  const check = await runCli(['config', 'check', '-c', f, '--json'])
  expect(check.code).toBe(2)
  expect(JSON.parse(check.stdout)).toEqual({ok: false, source: f, problems: ['storage.dir: cannot create /proc/nope: ENOENT (no such file or directory)']})
  const s = await serve(['-c', f])
  expect(s.code).toBe(2)
  expect(s.stderr).toContain('storage.dir: cannot create /proc/nope: ENOENT (no such file or directory)')
  expect(s.stdout).not.toContain('tavern ready')
}, 60_000)

it.concurrent('an access log in a missing directory is refused by both, before anything starts', async () => {
  const base = makeTempDir()
  const log = path.join(base, 'missing', 'access.log')
  const storage = path.join(base, 'storage')
  const f = configFile({upstreams: ['http://127.0.0.1:3000'], storage: {dir: storage}, accessLog: {enabled: true, path: log}})
  const check = await runCli(['config', 'check', '-c', f])
  expect(check.code).toBe(2)
  expect(check.stderr).toContain(`accessLog.path: the directory ${path.dirname(log)} does not exist`)
  const s = await serve(['-c', f])
  expect(s.code).toBe(2)
  expect(s.stderr).toContain(`accessLog.path: the directory ${path.dirname(log)} does not exist`)
  // Refused before the store was opened: nothing was created.
  expect(fs.existsSync(storage)).toBe(false)
  // The flag is checked the same way.
  const flag = await runCli(['config', 'check', '-c', configFile({upstreams: ['http://127.0.0.1:3000'], storage: {dir: storage}}), '--access-log', log])
  expect(flag.code).toBe(2)
  expect(flag.stderr).toContain('accessLog.path: the directory')
}, 60_000)

it.concurrent('a YAML syntax error shows the parser\'s reason; a mistyped key says what was meant', async () => {
  const yaml = await runCli(['config', 'check', '-c', configFile('listen: 127.0.0.1:8080\nstorage:\n  dir: /tmp/x\n maxDiskBytes: 1GiB\n', 'bad.yaml')])
  expect(yaml.code).toBe(2)
  expect(yaml.stderr).toContain('cannot read config: bad indentation of a mapping entry (4:2)')
  const typo = await runCli(['config', 'check', '-c', configFile({upstream: ['http://127.0.0.1:3000'], storage: {maxDiskByte: '1GiB'}})])
  expect(typo.code).toBe(2)
  expect(typo.stderr).toContain('storage.maxDiskByte: unknown key; did you mean storage.maxDiskBytes?')
  expect(typo.stderr).toContain('did you mean upstreams (the list of origin servers)?')
}, 60_000)

it.skipIf(!isRoot)('a read-only storage directory (as a non-root user): config check and serve name storage.dir and the errno', async () => {
  const ro = makeTempDir('tavern-ro-')
  fs.chmodSync(ro, 0o755) // root's: nobody may enter but not write
  const sockDir = makeTempDir('tavern-ro-sock-')
  fs.chownSync(sockDir, NOBODY, NOBODY)
  const f = configFile({upstreams: ['http://127.0.0.1:3000'], storage: {dir: ro}, socket: path.join(sockDir, 's.sock'), listen: '127.0.0.1:0'})
  const expected = `storage.dir: cannot create ${path.join(ro, 'objects')}: EACCES (permission denied)`
  const check = await runAs(NOBODY, ['config', 'check', '-c', f])
  expect(check.code, check.stdout + check.stderr).toBe(2)
  expect(check.stderr).toContain(expected)
  const s = await runAs(NOBODY, ['serve', '-c', f])
  expect(s.code, s.stdout + s.stderr).toBe(2)
  expect(s.stderr).toContain(expected)
  expect(s.stderr).not.toMatch(/EACCES: permission denied, mkdir/)
  expect(fs.readdirSync(ro)).toEqual([])
}, 45_000)

it('a reload is held to the same checks: a config without upstreams is refused and the running one stays', async () => {
  const origin = await startOrigin()
  origin.route('/kept', {body: 'still here'})
  const d = await startDaemon({config: {upstreams: [origin.url]}})
  try {
    const file = path.join(path.dirname(d.storageDir), 'tavern.config.json')
    fs.writeFileSync(file, JSON.stringify({upstreams: []}))
    const r = await runCli(['reload', '--socket', d.socket])
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.stderr).toContain('upstreams: no upstream configured')
    expect((await d.request('/kept')).text).toBe('still here')
  } finally {
    await d.stop()
    await origin.close()
  }
}, 60_000)
