import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {REPO_ROOT} from '../helpers/daemon.js'

import {summariseCpuProfile} from '../../src/ops/cpuprofile-summary.js'
import {PROFILE_LIMITS, ProfileError, Profiler} from '../../src/ops/profile.js'
import {Stats} from '../../src/stats/recorder.js'

const dir = mkdtempSync(path.join(tmpdir(), 'tavern-profile-test-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** Pure-JS work under a name the profile must find. */
function busyLoopInProcessProfileTest(n: number): number {
  let acc = 0
  for (let i = 1; i < n; i++) acc = (acc + Math.sqrt(i) * Math.cos(i)) % 1e9
  return acc
}

/** Keeps this thread busy for `ms` in named functions, one of them the real Stats recorder, yielding now and then. */
async function work(ms: number, stats: Stats): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    busyLoopInProcessProfileTest(200_000)
    for (let i = 0; i < 2000; i++) stats.requestFinished({outcome: 'hit', status: 200, bytesOut: 512, durationMs: 1 + (i % 5), key: `k${i % 100}`})
    stats.snapshot()
    await new Promise((r) => setImmediate(r))
  }
}

async function rejection(p: Promise<unknown>): Promise<ProfileError> {
  const e = await p.then(
    () => undefined,
    (error: unknown) => error,
  )
  if (!(e instanceof ProfileError)) throw new Error(`expected a ProfileError, got ${String(e)}`)
  return e
}

describe('Profiler', () => {
  it('takes a CPU profile of real work that names the functions doing it, with file:line', async () => {
    const p = new Profiler()
    const stats = new Stats()
    const [r] = await Promise.all([p.cpu({seconds: 1.5, intervalUs: 500}), work(1300, stats)])
    expect(r.aborted).toBe(false)
    expect(r.seconds).toBe(1.5)
    expect(r.intervalUs).toBe(500)
    // The .cpuprofile shape DevTools and `node --cpu-prof` tools read.
    expect(r.profile.nodes.length).toBeGreaterThan(10)
    expect(r.profile.samples!.length).toBe(r.profile.timeDeltas!.length)
    expect(r.profile.endTime - r.profile.startTime).toBeGreaterThan(1_000_000)
    const s = summariseCpuProfile(r.profile, {top: 50})
    expect(s.samples).toBeGreaterThan(100)
    const busy = s.functions.find((f) => f.function === 'busyLoopInProcessProfileTest')
    expect(busy, JSON.stringify(s.functions.slice(0, 10))).toBeDefined()
    expect(busy!.where).toMatch(/profile\.test\.ts:\d+$/)
    // Tavern's own code is named and placed too (inclusive time, since a snapshot's self time spreads over helpers).
    const snap = s.inclusive.find((f) => f.function === 'snapshot')
    expect(snap, JSON.stringify(s.inclusive.slice(0, 15))).toBeDefined()
    expect(snap!.where).toMatch(/^src\/stats\/recorder\.ts:\d+$/)
    expect(s.groups.some((g) => g.group === 'tavern: stats/recorder.ts')).toBe(true)
  }, 20_000)

  it('names the source lines of compiled code: the built daemon profiled in plain node shows src/….ts:line', () => {
    // The daemon runs dist/; its frames are mapped back through tsc's .js.map files.
    const script = `
      import {Stats} from './dist/stats/recorder.js'
      import {Profiler} from './dist/ops/profile.js'
      import {summariseCpuProfile} from './dist/ops/cpuprofile-summary.js'
      import {sourceMapLocator} from './dist/ops/source-locations.js'
      const stats = new Stats()
      const work = async () => {
        const end = Date.now() + 1000
        while (Date.now() < end) {
          for (let i = 0; i < 3000; i++) stats.requestFinished({outcome: 'hit', status: 200, bytesOut: 100, durationMs: 1, key: 'k' + (i % 500)})
          for (let i = 0; i < 20; i++) stats.snapshot()
          await new Promise((r) => setImmediate(r))
        }
      }
      const [r] = await Promise.all([new Profiler().cpu({seconds: 1.2}), work()])
      const mapped = summariseCpuProfile(r.profile, {top: 200, locate: await sourceMapLocator(r.profile)})
      const plain = summariseCpuProfile(r.profile, {top: 200})
      process.stdout.write(JSON.stringify({mapped: mapped.inclusive, plain: plain.inclusive}))`
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000})
    expect(run.status, run.stderr).toBe(0)
    const out = JSON.parse(run.stdout) as {mapped: Array<{function: string; where: string}>; plain: Array<{function: string; where: string}>}
    const srcLine = readFileSync(path.join(REPO_ROOT, 'src/stats/recorder.ts'), 'utf8').split('\n').findIndex((l) => l.startsWith('  snapshot(): StatsSnapshot {')) + 1
    expect(srcLine).toBeGreaterThan(0)
    expect(out.mapped.find((f) => f.function === 'snapshot')?.where).toBe(`src/stats/recorder.ts:${srcLine}`)
    expect(out.plain.find((f) => f.function === 'snapshot')?.where).toMatch(/^dist\/stats\/recorder\.js:\d+$/)
  }, 40_000)

  it('writes a heap snapshot in chunks to a private file that parses as a V8 heap snapshot', async () => {
    const p = new Profiler()
    // A property name: always a flat (internalised) string, so it shows up as such in the snapshot's string table.
    const marker = `tavern_heap_marker_${Math.random().toString(36).slice(2)}`
    const keep: Record<string, boolean> = {[marker]: true}
    const file = path.join(dir, 'a.heapsnapshot')
    const r = await p.heapSnapshot(file)
    expect(keep[marker]).toBe(true)
    expect(r.bytes).toBe(statSync(file).size)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const snap = JSON.parse(readFileSync(file, 'utf8')) as {snapshot: {meta: {node_fields: string[]}; node_count: number}; nodes: number[]; strings: string[]}
    expect(snap.snapshot.meta.node_fields).toContain('name')
    expect(snap.nodes.length).toBe(snap.snapshot.node_count * snap.snapshot.meta.node_fields.length)
    expect(snap.strings).toContain(marker)
    // It refuses to overwrite.
    const again = await rejection(p.heapSnapshot(file))
    expect(again.code).toBe('TAVERN_ERR_PROFILE_FAILED')
    expect(p.running).toBeUndefined()
  }, 60_000)

  it('takes one profile at a time and says which one is running', async () => {
    const p = new Profiler()
    const running = p.cpu({seconds: 2})
    expect(p.running?.kind).toBe('cpu')
    const busyCpu = await rejection(p.cpu({seconds: 1}))
    expect(busyCpu.code).toBe('TAVERN_ERR_PROFILE_BUSY')
    expect(busyCpu.status).toBe(409)
    expect(busyCpu.message).toMatch(/^a cpu profile is already being taken \(started 0 s ago, 2 s left\); one profile at a time$/)
    const busyHeap = await rejection(p.heapSnapshot(path.join(dir, 'never.heapsnapshot')))
    expect(busyHeap.code).toBe('TAVERN_ERR_PROFILE_BUSY')
    await running
    expect(p.running).toBeUndefined()
  }, 20_000)

  it('bounds the duration and the sampling interval', async () => {
    const p = new Profiler()
    for (const seconds of [0, 0.05, 121, -1, Number.NaN, Infinity, '10' as unknown as number]) {
      const e = await rejection(p.cpu({seconds}))
      expect(e.code, String(seconds)).toBe('TAVERN_ERR_PROFILE_DURATION')
      expect(e.status).toBe(400)
    }
    expect((await rejection(p.cpu({seconds: 1, intervalUs: 10}))).code).toBe('TAVERN_ERR_PROFILE_OPTION')
    expect((await rejection(p.cpu({seconds: 1, intervalUs: 1.5}))).code).toBe('TAVERN_ERR_PROFILE_OPTION')
    expect((await rejection(new Profiler({maxSeconds: 5}).cpu({seconds: 6}))).message).toBe('seconds must be a number from 0.1 to 5, not 6')
    expect(PROFILE_LIMITS.maxSeconds).toBe(120)
    expect(p.running).toBeUndefined()
  })

  it('ends a CPU profile early when its signal aborts, and frees the slot', async () => {
    const p = new Profiler()
    const ac = new AbortController()
    const t0 = Date.now()
    const running = p.cpu({seconds: 60, signal: ac.signal})
    setTimeout(() => ac.abort(), 300)
    const r = await running
    expect(r.aborted).toBe(true)
    expect(Date.now() - t0).toBeLessThan(30_000)
    expect(r.seconds).toBeLessThan(60)
    expect(r.profile.nodes.length).toBeGreaterThan(0)
    expect(p.running).toBeUndefined()
    const next = await p.cpu({seconds: 0.2})
    expect(next.aborted).toBe(false)
  }, 20_000)
})
