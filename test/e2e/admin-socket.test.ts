// The admin socket: a default path that is the same for cron and a login shell, in a directory only its owner can
// write (a squatted one is refused), created 0600 from the start (even under umask 000), and clients that refuse a
// socket owned by another user (an impostor daemon) unless told otherwise. Client commands find the socket through
// -c / the working directory's config, like serve.
//
// "Another user" is a process started under another uid, which needs root: CI runs as root; elsewhere those tests are
// skipped with the reason printed.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BIN, type DaemonHandle, makeTempDir, REPO_ROOT, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin} from '../helpers/origin.js'

const isRoot = process.getuid?.() === 0
if (!isRoot) console.log('admin-socket.test.ts: not running as root, so the tests that need a second local user (a process under another uid) are skipped')

let origin: Origin
beforeAll(async () => {
  origin = await startOrigin()
}, 30_000)
afterAll(async () => {
  await origin?.close()
}, 30_000)

// Two made-up users (no passwd entry needed to run a process under a uid).
const U = 40_000 + Math.floor(Math.random() * 10_000)
const V = U + 1
const cleanup: string[] = []
afterAll(() => {
  for (const p of cleanup) fs.rmSync(p, {recursive: true, force: true})
})

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** `node bin/run.js ARGS` as `uid`, with exactly `env` (like `env -i`), bounded. */
function runAs(uid: number | undefined, args: string[], env: NodeJS.ProcessEnv, opts: {cwd?: string; timeoutMs?: number} = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], {cwd: opts.cwd ?? REPO_ROOT, env, uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`tavern ${args.join(' ')} did not exit in time\n${stdout}\n${stderr}`))
    }, opts.timeoutMs ?? 20_000)
    p.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({code, signal, stdout, stderr})
    })
  })
}

/** A directory the given uid owns (for storage). */
function dirFor(uid: number): string {
  const parent = makeTempDir('tavern-sock-')
  fs.chmodSync(parent, 0o755)
  const d = path.join(parent, `u${uid}`)
  fs.mkdirSync(d)
  fs.chownSync(d, uid, uid)
  return d
}

/** What cron gives a job: PATH, HOME, SHELL and little else (a made-up uid has no passwd entry to fall back on). */
const cleanEnv = (): NodeJS.ProcessEnv => ({PATH: process.env.PATH, HOME: '/', SHELL: '/bin/sh', NO_COLOR: '1'})

/** Run a script under another uid that serves HTTP on a Unix socket, prints "listening" and then each request line. */
function startImpostor(uid: number, socketPath: string): Promise<{requests: () => string[]; stop: () => void}> {
  const script = `
    const http = require('node:http')
    const s = http.createServer((req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        console.log('REQUEST ' + req.method + ' ' + req.url + ' ' + body.slice(0, 100))
        res.writeHead(200, {'content-type': 'application/json'})
        res.end(JSON.stringify({version: 'impostor', pid: 1, uptimeSeconds: 1, listeners: {http: 'impostor:1', admin: 'x'}, upstreams: [], config: {source: 'impostor'}, storage: {dir: '/x', objects: 0, diskBytes: 0, memoryBytes: 0}, counters: {requests: 0, inFlight: 0, hits: 0, misses: 0, originRequests: 0, bytesOut: 0}}))
      })
    })
    s.listen(${JSON.stringify(socketPath)}, () => { require('node:fs').chmodSync(${JSON.stringify(socketPath)}, 0o777); console.log('listening') })
  `
  const p = spawn(process.execPath, ['-e', script], {uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit']})
  let out = ''
  p.stdout.on('data', (c: Buffer) => (out += c.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`impostor did not start: ${out}`)), 10_000)
    const check = () => {
      if (out.includes('listening')) {
        clearTimeout(timer)
        resolve({requests: () => out.split('\n').filter((l) => l.startsWith('REQUEST')), stop: () => p.kill('SIGKILL')})
      }
    }
    p.stdout.on('data', check)
  })
}

/** A world-writable sticky directory, like /tmp. */
function sharedDir(): string {
  const d = makeTempDir('tavern-shared-')
  fs.chmodSync(d, 0o1777)
  return d
}

describe.skipIf(!isRoot)('default socket path', () => {
  it('a non-root daemon: /tmp/tavern-<uid>/tavern.sock (dir 0700, socket 0600), found by clients under cron (env -i) and from a login shell alike', async () => {
    const storage = dirFor(U)
    const dir = `/tmp/tavern-${U}`
    cleanup.push(dir)
    const d = await startDaemon({upstream: origin.url, storageDir: storage, socket: null, uid: U, gid: U, env: {XDG_RUNTIME_DIR: `/run/user/${U}`, TMPDIR: storage}})
    try {
      expect(d.socket).toBe(`${dir}/tavern.sock`)
      const st = fs.lstatSync(dir)
      expect(st.uid).toBe(U)
      expect(st.mode & 0o777).toBe(0o700)
      const sock = fs.lstatSync(d.socket)
      expect(sock.isSocket()).toBe(true)
      expect(sock.mode & 0o777).toBe(0o600)
      const cron = await runAs(U, ['status', '--json'], cleanEnv())
      expect(cron.code, cron.stderr).toBe(0)
      expect(JSON.parse(cron.stdout).pid).toBe(d.pid)
      const login = await runAs(U, ['status', '--json'], {...cleanEnv(), XDG_RUNTIME_DIR: `/run/user/${U}`, TMPDIR: '/var/tmp', HOME: storage})
      expect(login.code, login.stderr).toBe(0)
      expect(JSON.parse(login.stdout).pid).toBe(d.pid)
    } finally {
      expect(await d.stop()).toBe(0)
    }
  }, 60_000)

  it('root: /run/tavern/tavern.sock, the same under cron and a login shell', async (ctx) => {
    const live = fs.existsSync('/run/tavern/tavern.sock') && (await runAs(undefined, ['status', '--json'], cleanEnv())).code === 0
    if (live) {
      console.log('admin-socket.test.ts: a daemon already answers on /run/tavern/tavern.sock; skipping the root default-path test')
      ctx.skip()
    }
    let d: DaemonHandle | undefined
    try {
      d = await startDaemon({upstream: origin.url, socket: null, env: {XDG_RUNTIME_DIR: '/run/user/0', TAVERN_SOCKET: ''}})
      expect(d.socket).toBe('/run/tavern/tavern.sock')
      const st = fs.lstatSync('/run/tavern')
      expect(st.uid).toBe(0)
      expect(st.mode & 0o077).toBe(0)
      expect(fs.lstatSync(d.socket).mode & 0o777).toBe(0o600)
      for (const env of [cleanEnv(), {...cleanEnv(), XDG_RUNTIME_DIR: '/run/user/0', TMPDIR: '/var/tmp'}]) {
        const r = await runAs(undefined, ['status', '--json'], env)
        expect(r.code, r.stderr).toBe(0)
        expect(JSON.parse(r.stdout).pid).toBe(d.pid)
      }
    } finally {
      if (d) expect(await d.stop()).toBe(0)
    }
  }, 60_000)

  it('a socket directory squatted by another user (or a symlink, or world-writable) is refused with a clear message', async () => {
    const storage = dirFor(U)
    const dir = `/tmp/tavern-${U}`
    cleanup.push(dir)
    const serve = () => runAs(U, ['serve', '--listen', '127.0.0.1:0', '--upstream', origin.url, '--storage', storage], cleanEnv())

    fs.rmSync(dir, {recursive: true, force: true})
    fs.mkdirSync(dir)
    fs.chmodSync(dir, 0o777)
    fs.chownSync(dir, V, V)
    let r = await serve()
    expect(r.code).toBe(2) // found by the start-up checks (as `config check` finds it): exit 2, like a config that cannot start
    expect(r.stderr).toContain(`socket directory ${dir} belongs to uid ${V}, not to us (uid ${U}); refusing to use it`)
    expect(fs.readdirSync(dir)).toEqual([])

    fs.rmSync(dir, {recursive: true, force: true})
    const elsewhere = sharedDir()
    fs.symlinkSync(elsewhere, dir)
    r = await serve()
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('is not a directory (a symlink)')

    fs.rmSync(dir, {recursive: true, force: true})
    fs.mkdirSync(dir)
    fs.chownSync(dir, U, U)
    fs.chmodSync(dir, 0o777)
    r = await serve()
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('is writable by others (mode 777)')
    fs.rmSync(dir, {recursive: true, force: true})
  }, 60_000)
})

describe.skipIf(!isRoot)('clients refuse a socket owned by another user', () => {
  it('root\'s status and purge do not talk to an impostor daemon of another user; --allow-foreign-socket (or the env var) does', async () => {
    const sock = path.join(sharedDir(), 'tavern.sock')
    const impostor = await startImpostor(V, sock)
    try {
      const status = await runCli(['status', '--socket', sock])
      expect(status.code).toBe(3)
      expect(status.stderr).toContain(`refusing to talk to ${sock}: it belongs to uid ${V}`)
      expect(status.stdout).not.toContain('impostor')
      const json = await runCli(['status', '--json', '--socket', sock])
      expect(json.code).toBe(3)
      expect(JSON.parse(json.stdout).error.code).toBe('TAVERN_ERR_FOREIGN_SOCKET')
      const purge = await runCli(['purge', '--socket', sock, 'http://example.com/secret'])
      expect(purge.code).toBe(3)
      expect(impostor.requests()).toEqual([])

      const allowed = await runCli(['status', '--socket', sock, '--allow-foreign-socket'])
      expect(allowed.code, allowed.stderr).toBe(0)
      expect(allowed.stdout).toContain('tavern impostor')
      const byEnv = await runCli(['status', '--json', '--socket', sock], {env: {TAVERN_ALLOW_FOREIGN_SOCKET: '1'}})
      expect(byEnv.code, byEnv.stderr).toBe(0)
      expect(impostor.requests()).toHaveLength(2)
    } finally {
      impostor.stop()
    }
  }, 60_000)
})

describe.skipIf(!isRoot)('socket mode from the start', () => {
  it('under umask 000 the socket is never connectable by another user, not even while the daemon starts', async () => {
    const shared = sharedDir()
    const sock = path.join(shared, 'admin.sock')
    // Another user trying to connect (and looking at the socket's mode) as fast as it can while the daemon starts.
    const watcher = `
      const fs = require('node:fs'), net = require('node:net')
      const p = ${JSON.stringify(sock)}
      let modes = new Set(), connected = 0, attempts = 0, pending = 0
      const until = Date.now() + 15000
      function tick() {
        for (let i = 0; i < 50; i++) {
          try { modes.add((fs.lstatSync(p).mode & 0o777).toString(8)) } catch {}
        }
        if (pending < 20) {
          pending++; attempts++
          const c = net.connect(p)
          c.on('connect', () => { connected++; c.write('POST /purge HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2\\r\\n\\r\\n{}'); c.destroy() })
          c.on('error', () => {})
          c.on('close', () => pending--)
        }
        if (fs.existsSync(p + '.stop') || Date.now() > until) { console.log(JSON.stringify({modes: [...modes], connected, attempts})); process.exit(0) }
        setImmediate(tick)
      }
      tick()
    `
    const w = spawn(process.execPath, ['-e', watcher], {uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit']})
    let out = ''
    w.stdout.on('data', (c: Buffer) => (out += c.toString()))
    const wDone = new Promise<void>((resolve) => w.on('close', () => resolve()))
    await sleep(200)
    const storage = path.join(makeTempDir(), 'storage')
    const d = await startDaemon({upstream: origin.url, storageDir: storage, socket: sock, wrap: ['sh', '-c', 'umask 000; exec "$0" "$@"']})
    try {
      await sleep(500)
      fs.writeFileSync(`${sock}.stop`, '')
      await wDone
      const seen = JSON.parse(out) as {modes: string[]; connected: number; attempts: number}
      expect(seen.attempts).toBeGreaterThan(0)
      expect(seen.modes).toEqual(['600'])
      expect(seen.connected).toBe(0)
      expect(d.logLines().some((l) => l.msg === 'purge')).toBe(false)
    } finally {
      await d.stop()
    }
  }, 60_000)
})

describe('client commands find the daemon through -c and the working directory\'s config', () => {
  let d: DaemonHandle
  let dir: string
  beforeAll(async () => {
    d = await startDaemon({upstream: origin.url})
    dir = makeTempDir('tavern-cfg-')
    // A relative socket path is relative to the config file, as for serve.
    fs.mkdirSync(path.join(dir, 'etc'))
    fs.writeFileSync(path.join(dir, 'etc', 'tavern.yaml'), `socket: ${path.relative(path.join(dir, 'etc'), d.socket)}\n`)
    fs.writeFileSync(path.join(dir, 'tavern.config.yaml'), `socket: ${d.socket}\n`)
  }, 30_000)
  afterAll(async () => {
    await d?.stop()
  }, 30_000)

  const commands: Array<[string, string[]]> = [
    ['status', ['status', '--json']],
    ['reload', ['reload', '--json']],
    ['top', ['top', '--once', '--json']],
    ['purge', ['purge', '--json', 'http://cfg.test/a']],
    ['prefetch', ['prefetch', '--json', `${'http://127.0.0.1:1'}/nothing`]],
    ['inspect-key', ['inspect-key', '--json', 'http://cfg.test/a']],
    ['verify-crc', ['verify-crc', '--json', '--all']],
  ]
  for (const [name, args] of commands) {
    it(`${name} -c FILE, and ${name} in a directory with tavern.config.yaml`, async () => {
      const withC = await runCli([...args, '-c', path.join(dir, 'etc', 'tavern.yaml')], {env: {TAVERN_SOCKET: ''}})
      expect(withC.code, withC.stderr).not.toBe(3)
      expect(withC.code, withC.stderr).not.toBe(2)
      const inCwd = await runCli(args, {cwd: dir, env: {TAVERN_SOCKET: ''}})
      expect(inCwd.code, inCwd.stderr).not.toBe(3)
      expect(inCwd.code, inCwd.stderr).not.toBe(2)
      expect(inCwd.stdout.trim().startsWith('{')).toBe(true)
    }, 60_000)
  }

  it('--socket wins over the config; a bad config is a usage error naming the key', async () => {
    const r = await runCli(['status', '--json', '--socket', d.socket], {cwd: dir})
    expect(r.code).toBe(0)
    const bad = makeTempDir('tavern-cfg-')
    fs.writeFileSync(path.join(bad, 'tavern.config.json'), JSON.stringify({socket: 5}))
    const e = await runCli(['status'], {cwd: bad})
    expect(e.code).toBe(2)
    expect(e.stderr).toMatch(/socket: /)
  }, 30_000)
})
