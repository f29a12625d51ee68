/**
 * `tavern profile` against the built daemon (the admin routes mounted on its socket): a CPU profile under load that
 * names the data plane's functions, `profile top` mapping them to src/….ts lines, a heap snapshot, and one profile
 * at a time (TAVERN_ERR_PROFILE_BUSY, exit 1).
 */
import http from 'node:http'
import {readFileSync, statSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, makeTempDir, REPO_ROOT, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin} from '../helpers/origin.js'

const CLI = {timeoutMs: 60_000}

let origin: Origin
let d: DaemonHandle
let dir: string

beforeAll(async () => {
  origin = await startOrigin()
  for (let i = 0; i < 20; i++) origin.route(`/p/${i}`, {headers: {'cache-control': 'max-age=3600'}, body: Buffer.alloc(2048, 97 + i)})
  d = await startDaemon({upstream: origin.url})
  dir = makeTempDir('tavern-prof-')
}, 60_000)
afterAll(async () => {
  await d?.stop()
  await origin?.close()
})

/** Keeps the data plane busy with hits (8 at a time) until `p` settles. */
async function underLoad<T>(p: Promise<T>): Promise<T> {
  let done = false
  const result = p.finally(() => (done = true))
  const agent = new http.Agent({keepAlive: true, maxSockets: 8})
  const worker = async (w: number): Promise<void> => {
    for (let i = w; !done; i++) {
      await new Promise<void>((resolve) => {
        const req = http.get({host: '127.0.0.1', port: d.port, path: `/p/${i % 20}`, agent}, (res) => {
          res.resume()
          res.on('end', resolve)
          res.on('error', () => resolve())
        })
        req.on('error', () => resolve())
      })
    }
  }
  await Promise.all([result.catch(() => {}), ...Array.from({length: 8}, (_, w) => worker(w))])
  agent.destroy()
  return result
}

interface CpuProfile {
  nodes: Array<{id: number; callFrame: {functionName: string; url: string; lineNumber: number}}>
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

describe('tavern profile against the daemon', () => {
  it('cpu --seconds 1 under load writes a valid .cpuprofile naming the daemon\'s own functions', async () => {
    const file = path.join(dir, 'daemon.cpuprofile')
    const r = await underLoad(runCli(['profile', 'cpu', '--socket', d.socket, '--seconds', '1', '-o', file, '--json'], CLI))
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as {kind: string; file: string; bytes: number; seconds: number; intervalUs: number}
    expect(out).toMatchObject({kind: 'cpu', file, seconds: 1, intervalUs: 1000})
    expect(statSync(file).size).toBe(out.bytes)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
    expect(profile.samples.length).toBe(profile.timeDeltas.length)
    expect(profile.samples.length).toBeGreaterThan(100)
    expect(profile.endTime - profile.startTime).toBeGreaterThanOrEqual(900_000)
    // Frames of the daemon's compiled code (dist/, whose source maps lead to src/): the request path ran.
    const ours = profile.nodes.filter((n) => n.callFrame.url.includes('/dist/'))
    const files = new Set(ours.map((n) => n.callFrame.url.replace(/^.*\/dist\//, '')))
    expect([...files].some((f) => f.startsWith('proxy/')), [...files].join(', ')).toBe(true)
    // Every named frame of ours is a function that exists in the matching src/ file.
    const handler = ours.find((n) => n.callFrame.url.endsWith('/dist/proxy/handler.js') && n.callFrame.functionName !== '')
    expect(handler, 'a frame in dist/proxy/handler.js').toBeDefined()
    expect(readFileSync(path.join(REPO_ROOT, 'src/proxy/handler.ts'), 'utf8')).toContain(handler!.callFrame.functionName)
  }, 120_000)

  it('top names the hit path\'s functions by src/….ts:line', async () => {
    const r = await underLoad(runCli(['profile', 'top', '--socket', d.socket, '--seconds', '1.5', '--top', '60'], CLI))
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^pid \d+, 1\.5 s at 1000 µs: \d+ samples/)
    expect(r.stdout).toContain(`pid ${d.pid}`)
    expect(r.stdout).toMatch(/\s+src\/proxy\/[a-z/-]+\.ts:\d+/)
  }, 120_000)

  it('heap writes a snapshot that parses', async () => {
    const file = path.join(dir, 'daemon.heapsnapshot')
    const r = await runCli(['profile', 'heap', '--socket', d.socket, '-o', file], CLI)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^wrote .*daemon\.heapsnapshot/)
    const snap = JSON.parse(readFileSync(file, 'utf8')) as {snapshot: {meta: {node_fields: string[]}; node_count: number}; strings: string[]}
    expect(snap.snapshot.meta.node_fields).toContain('name')
    expect(snap.snapshot.node_count).toBeGreaterThan(1000)
    expect(snap.strings).toContain('Pipeline')
  }, 120_000)

  it('one profile at a time: a second is refused with TAVERN_ERR_PROFILE_BUSY, exit 1', async () => {
    // A long profile the test ends by going away once the refusal is seen.
    const first = http.request({socketPath: d.socket, method: 'POST', path: '/profile/cpu', headers: {'content-type': 'application/json'}})
    first.on('error', () => {})
    first.end(JSON.stringify({seconds: 100}))
    try {
      let r = await runCli(['profile', 'top', '--socket', d.socket, '--seconds', '1', '--json'], CLI)
      // The first request may not have reached the daemon yet on a busy machine: ask again (bounded).
      for (let i = 0; i < 5 && r.code === 0; i++) r = await runCli(['profile', 'top', '--socket', d.socket, '--seconds', '1', '--json'], CLI)
      expect(r.code, r.stdout + r.stderr).toBe(1)
      const e = JSON.parse(r.stdout) as {error: {code: string; message: string}}
      expect(e.error.code).toBe('TAVERN_ERR_PROFILE_BUSY')
      expect(e.error.message).toMatch(/a cpu profile is already being taken \(started \d+ s ago, \d+ s left\)/)
      const text = await runCli(['profile', 'heap', '--socket', d.socket, '-o', path.join(dir, 'never.heapsnapshot')], CLI)
      expect(text.code).toBe(1)
      expect(text.stderr).toContain('TAVERN_ERR_PROFILE_BUSY')
    } finally {
      first.destroy()
    }
    // The client went away: the slot is free again at once.
    const after = await runCli(['profile', 'top', '--socket', d.socket, '--seconds', '0.2', '--json'], CLI)
    expect(after.code, after.stdout + after.stderr).toBe(0)
    // And the daemon logged the profiles it took.
    expect(d.logLines().some((l) => l.msg === 'profile taken' && l.profile === 'cpu')).toBe(true)
  }, 180_000)
})
