/**
 * `tavern profile` (the built CLI) against a small server that mounts the profile routes on a real AdminRouter over a
 * Unix socket, in its own process (test/helpers/profile-server.ts). The daemon end-to-end test comes once the routes
 * are mounted in the daemon.
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import http from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {adminRequest} from '../../src/client/admin-client.js'
import {AdminRouter} from '../../src/admin/http.js'
import type {CpuProfileSummary} from '../../src/ops/cpuprofile-summary.js'
import type {RunningProfile} from '../../src/ops/profile.js'
import {REPO_ROOT, runCli} from '../helpers/daemon.js'

/** A CLI start is slow on a loaded machine (oclif + TypeScript under test): bound generously, never rely on speed. */
const CLI = {timeoutMs: 45_000}
let dir = ''
let sock = ''
let server: ChildProcess | undefined

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tavern-profile-cli-'))
  sock = path.join(dir, 'admin.sock')
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/helpers/profile-server.ts'), sock], {cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe']})
  server = child
  let err = ''
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`profile server did not start: ${err}`)), 60_000)
    child.stdout!.on('data', (c: Buffer) => {
      if (c.toString().includes('ready')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => reject(new Error(`profile server exited (${code}): ${err}`)))
  })
}, 180_000)

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r))
    server.kill('SIGTERM')
    await exited
  }
  rmSync(dir, {recursive: true, force: true})
})

/** Keeps the server busy (in chunks) until `until` settles, so a profile taken meanwhile has work in it. */
async function busyWhile<T>(until: Promise<T>): Promise<T> {
  let done = false
  const result = until.finally(() => {
    done = true
  })
  while (!done) await adminRequest(sock, 'POST', '/test/spin', {ms: 300})
  return result
}

/** A CPU profile request that the test ends by going away (destroy()). */
function startProfile(seconds: number): http.ClientRequest {
  const req = http.request({socketPath: sock, method: 'POST', path: '/profile/cpu', headers: {'content-type': 'application/json'}})
  req.on('error', () => {})
  req.end(JSON.stringify({seconds}))
  return req
}

async function running(): Promise<RunningProfile | null> {
  return (await adminRequest<{running: RunningProfile | null}>(sock, 'GET', '/test/running')).body.running
}

async function waitRunning(kind: 'cpu' | 'heap' | null): Promise<void> {
  const end = Date.now() + 10_000
  while (((await running())?.kind ?? null) !== kind) {
    if (Date.now() > end) throw new Error(`profile server: running never became ${kind}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('tavern profile', () => {
  it('cpu under load writes a .cpuprofile that --cpu-prof tools open, naming the functions that ran', async () => {
    const file = path.join(dir, 'out.cpuprofile')
    const r = await busyWhile(runCli(['profile', 'cpu', '--socket', sock, '--seconds', '2', '-o', file], CLI))
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^wrote .*out\.cpuprofile \(\d+\.\d MiB, 2\.0 s of samples every 1000 µs\): open it in Chrome DevTools/)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const profile = JSON.parse(readFileSync(file, 'utf8')) as {nodes: unknown[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number}
    expect(profile.nodes.length).toBeGreaterThan(10)
    expect(profile.samples.length).toBe(profile.timeDeltas.length)
    expect(profile.endTime - profile.startTime).toBeGreaterThanOrEqual(1_900_000)
    // No partial file left behind.
    expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([])
    // The bench's summariser (the `node --cpu-prof` workflow) reads it.
    const sum = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bench/cpuprofile-summary.mjs'), file, '--json', '--top', '40'], {encoding: 'utf8'})
    expect(sum.status, sum.stderr).toBe(0)
    const s = JSON.parse(sum.stdout) as CpuProfileSummary
    expect(s.functions.map((f) => f.function)).toContain('hotLoopForProfileTest')
  }, 180_000)

  it('top names the hottest functions with file:line, as text and as JSON', async () => {
    const text = await busyWhile(runCli(['profile', 'top', '--socket', sock, '--seconds', '1.5', '--top', '40'], CLI))
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^pid \d+, 1\.5 s at 1000 µs: \d+ samples, \d+ ms profiled, \d+ ms not idle/)
    expect(text.stdout).toMatch(/\ntop \d+ functions by self time:\n/)
    expect(text.stdout).toMatch(/hotLoopForProfileTest\s+test\/helpers\/profile-server\.ts:\d+/)
    // The real Stats recorder the server drives, by its source file.
    expect(text.stdout).toMatch(/(requestFinished|snapshot)\s+src\/stats\/recorder\.ts:\d+/)

    const json = await busyWhile(runCli(['profile', 'top', '--socket', sock, '--seconds', '1', '--top', '5', '--json'], CLI))
    expect(json.code, json.stderr).toBe(0)
    const s = JSON.parse(json.stdout) as CpuProfileSummary & {pid: number; seconds: number}
    expect(s.functions).toHaveLength(5)
    expect(s.seconds).toBe(1)
    expect(s.pid).toBe(server!.pid)
    expect(s.functions[0]).toMatchObject({function: expect.any(String), where: expect.any(String), selfMs: expect.any(Number)})
  }, 180_000)

  it('heap writes a snapshot that parses, under the name the daemon suggests when -o is not given', async () => {
    const r = await runCli(['profile', 'heap', '--socket', sock, '--json'], {...CLI, cwd: dir})
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as {kind: string; file: string; bytes: number}
    expect(out.kind).toBe('heap')
    expect(path.dirname(out.file)).toBe(dir)
    expect(path.basename(out.file)).toMatch(new RegExp(`^tavern-${server!.pid}-\\d{8}T\\d{6}Z\\.heapsnapshot$`))
    expect(statSync(out.file).size).toBe(out.bytes)
    expect(statSync(out.file).mode & 0o777).toBe(0o600)
    const snap = JSON.parse(readFileSync(out.file, 'utf8')) as {snapshot: {meta: {node_fields: string[]}}; strings: string[]}
    expect(snap.snapshot.meta.node_fields).toContain('name')
    expect(snap.strings).toContain('hotLoopForProfileTest')
    rmSync(out.file)
  }, 180_000)

  it('takes one profile at a time: another is refused with the catalogue code and exit 1', async () => {
    // Long enough to outlast two slow CLI starts on a busy machine; cancelled (client gone) once they are done.
    const first = startProfile(100)
    await waitRunning('cpu')
    const busy = await runCli(['profile', 'heap', '--socket', sock, '-o', path.join(dir, 'no.heapsnapshot')], CLI)
    expect(busy.code).toBe(1)
    expect(busy.stderr).toMatch(/^tavern: a cpu profile is already being taken \(started \d+ s ago, \d+ s left\); one profile at a time \(TAVERN_ERR_PROFILE_BUSY\)\n$/)
    const busyJson = await runCli(['profile', 'top', '--socket', sock, '--seconds', '1', '--json'], CLI)
    expect(busyJson.code).toBe(1)
    expect(JSON.parse(busyJson.stdout)).toEqual({error: {code: 'TAVERN_ERR_PROFILE_BUSY', message: expect.stringMatching(/^a cpu profile is already being taken/)}})
    // Nothing was written for the refused one.
    expect(readdirSync(dir).filter((f) => f.startsWith('no.heapsnapshot'))).toEqual([])
    first.destroy()
    await waitRunning(null)
  }, 180_000)

  it('a client that goes away ends its CPU profile at once', async () => {
    const req = startProfile(100)
    await waitRunning('cpu')
    req.destroy()
    await waitRunning(null)
  }, 180_000)

  it('a daemon without the profile endpoints gets a clear message, exit 1', async () => {
    // The real admin router with nothing mounted: what an older daemon answers.
    const oldSock = path.join(dir, 'old.sock')
    const router = new AdminRouter()
    const old = http.createServer((req, res) => void router.handle(req, res))
    await new Promise<void>((r) => old.listen(oldSock, r))
    try {
      const r = await runCli(['profile', 'heap', '--socket', oldSock], CLI)
      expect(r.code).toBe(1)
      expect(r.stderr).toBe('tavern: this daemon has no profiling endpoints (no admin endpoint /profile/heap); it is older than this tavern command (TAVERN_ERR_NOT_FOUND)\n')
    } finally {
      await new Promise<void>((r) => old.close(() => r()))
    }
  }, 180_000)

  it('bounds: duration, options and flag combinations are usage errors (exit 2); no daemon is exit 3', async () => {
    const long = await runCli(['profile', 'cpu', '--socket', sock, '--seconds', '500'], CLI)
    expect(long.code).toBe(2)
    expect(long.stderr).toBe('tavern: --seconds must be a number from 0.1 to 120, not 500\n')
    expect((await runCli(['profile', 'top', '--socket', sock, '--seconds', 'soon'], CLI)).stderr).toBe('tavern: --seconds must be a number from 0.1 to 120\n')
    const api = await adminRequest<{error: {code: string; message: string}}>(sock, 'POST', '/profile/cpu', {seconds: 500})
    expect(api.status).toBe(400)
    expect(api.body.error).toEqual({code: 'TAVERN_ERR_PROFILE_DURATION', message: 'seconds must be a number from 0.1 to 120, not 500'})
    const unknown = await adminRequest<{error: {code: string; message: string}}>(sock, 'POST', '/profile/top', {seconds: 1, depth: 3})
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.code).toBe('TAVERN_ERR_PROFILE_OPTION')
    const badTop = await adminRequest<{error: {code: string}}>(sock, 'POST', '/profile/top', {top: 0})
    expect(badTop.body.error.code).toBe('TAVERN_ERR_PROFILE_OPTION')
    expect((await runCli(['profile', 'heap', '--socket', sock, '--seconds', '5'], CLI)).code).toBe(2)
    expect((await runCli(['profile', 'top', '--socket', sock, '-o', 'x'], CLI)).code).toBe(2)
    expect((await runCli(['profile', 'cpu', '--socket', sock, '-o', '-', '--json'], CLI)).code).toBe(2)
    expect((await runCli(['profile', 'flame', '--socket', sock], CLI)).code).toBe(2)
    const gone = await runCli(['profile', 'cpu', '--socket', path.join(dir, 'nobody.sock'), '--seconds', '1'], CLI)
    expect(gone.code).toBe(3)
    expect(gone.stderr).toContain('no tavern daemon answers on')
    expect(await running()).toBeNull()
  }, 180_000)
})
