// `tavern top` in a real terminal: the Ink dashboard runs inside a detached tmux session (private server socket),
// its screen is captured with `capture-pane`, and the numbers it shows are checked against `GET /stats`.
// Skipped (with a message) only when tmux is not installed.
import {spawnSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {StatsSnapshot} from '../../src/stats/schema.js'
import {BIN, type DaemonHandle, makeTempDir, REPO_ROOT, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'

const TMUX = spawnSync('sh', ['-c', 'command -v tmux'], {encoding: 'utf8'}).stdout.trim()
const hasTmux = TMUX.length > 0
if (!hasTmux) console.warn('top-tty.test.ts: skipped, tmux is not installed (`which tmux` found nothing)')

const SERVER = `tavern-test-${crypto.randomBytes(4).toString('hex')}`

function tmux(...args: string[]): {code: number | null; stdout: string; stderr: string} {
  const r = spawnSync(TMUX, ['-L', SERVER, ...args], {encoding: 'utf8', timeout: 10_000})
  return {code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? ''}
}

/** The server's socket file (tmux leaves it behind after kill-server); known once a session exists. */
let socketPath: string | undefined

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** Start `tavern top` in a new detached session of the given size; the shell reports the exit code afterwards. */
function startTop(session: string, width: number, height: number, socket: string, conf: string): void {
  const cmd = `cd ${sq(REPO_ROOT)} && ${sq(process.execPath)} ${sq(BIN)} top --socket ${sq(socket)} --interval 500; echo EXITED rc=$? ; sleep 5`
  const r = tmux('-f', conf, 'new-session', '-d', '-s', session, '-x', String(width), '-y', String(height), cmd)
  if (r.code !== 0) throw new Error(`tmux new-session failed (${r.code}): ${r.stderr}`)
  socketPath ??= tmux('display-message', '-p', '-t', session, '#{socket_path}').stdout.trim() || undefined
}

/** The visible screen, wrapped lines joined (-J) so a line wider than the pane shows up as one long line. */
function capture(session: string): string[] {
  const r = tmux('capture-pane', '-p', '-J', '-t', session)
  if (r.code !== 0) throw new Error(`tmux capture-pane failed (${r.code}): ${r.stderr}`)
  return r.stdout.replace(/\n$/, '').split('\n')
}

interface Shown {
  reqPerSec: number
  hitPercent: number
  line: string
}

/** "req/s 12 · hit 91.9% · byte hit …" → numbers; undefined while the dashboard shows no numbers yet. */
function parseBig(lines: string[]): Shown | undefined {
  for (const line of lines) {
    const m = /^req\/s ([\d.]+)(k|M)? · hit ([\d.]+)% ·/.exec(line)
    if (m) return {reqPerSec: Number(m[1]) * (m[2] === 'k' ? 1e3 : m[2] === 'M' ? 1e6 : 1), hitPercent: Number(m[3]), line}
  }
  return undefined
}

async function waitForScreen(session: string, test: (lines: string[]) => boolean, timeoutMs: number, what: string): Promise<string[]> {
  const end = Date.now() + timeoutMs
  let lines: string[] = []
  while (Date.now() < end) {
    lines = capture(session)
    if (test(lines)) return lines
    await sleep(100)
  }
  throw new Error(`${what}: not on screen within ${timeoutMs} ms; screen:\n${lines.join('\n')}`)
}

const chars = (s: string) => [...s].length

describe.skipIf(!hasTmux)('tavern top in a terminal (tmux)', () => {
  let origin: Origin
  let daemon: DaemonHandle
  let conf: string

  beforeAll(async () => {
    origin = await startOrigin()
    daemon = await startDaemon({upstream: origin.url})
    // No user config, no status line: the pane is exactly the session size.
    conf = path.join(makeTempDir('tavern-tmux-'), 'tmux.conf')
    fs.writeFileSync(conf, 'set -g status off\nset -g history-limit 100\n')
  }, 30_000)

  afterAll(async () => {
    if (hasTmux) tmux('kill-server')
    if (socketPath?.includes(SERVER)) fs.rmSync(socketPath, {force: true})
    await daemon?.stop()
    await origin?.close()
  }, 30_000)

  it('100x30: the hit ratio and req/s on screen match GET /stats; q exits 0', async () => {
    // 3 hot keys (filled first), plus a fresh key (a miss) every 8th request: ~87.5% hits in steady state.
    const hot = [uniquePath('top-hot'), uniquePath('top-hot'), uniquePath('top-hot')]
    for (const p of hot) origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: `hot ${p}\n`})
    const cold = Array.from({length: 60}, () => uniquePath('top-cold'))
    for (const p of cold) origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: `cold ${p}\n`})
    for (const p of hot) expect((await daemon.request(p)).status).toBe(200)

    const session = 'big'
    startTop(session, 100, 30, daemon.socket, conf)
    expect(tmux('display-message', '-p', '-t', session, '#{pane_width}x#{pane_height}').stdout.trim()).toBe('100x30')

    // Bounded steady load: ~50 req/s for at most 7 s, paced on absolute times so the rate does not drift.
    const rateHz = 50
    const loadMs = 7000
    let stop = false
    let sent = 0
    let failures = 0
    const load = (async () => {
      const t0 = Date.now()
      let coldIdx = 0
      for (let i = 0; !stop && i < (rateHz * loadMs) / 1000; i++) {
        const due = t0 + (i * 1000) / rateHz
        if (due > Date.now()) await sleep(due - Date.now())
        const p = i % 8 === 7 ? cold[coldIdx++ % cold.length]! : hot[i % hot.length]!
        // Fire and forget (bounded by the loop), so a slow answer does not lower the rate.
        sent++
        void daemon.request(p, {timeoutMs: 5000}).then(
          (r) => {
            if (r.status !== 200) failures++
          },
          () => failures++,
        )
      }
    })()

    try {
      await waitForScreen(session, (l) => parseBig(l) !== undefined, 10_000, 'the req/s · hit line with numbers')
      // Let the 5 s rate window fill with load (the first seconds average in the idle time before the load).
      await sleep(4000)
      let shown: Shown | undefined
      let snap: StatsSnapshot | undefined
      const attempts: string[] = []
      // The screen is at most one poll (500 ms) older than the snapshot; the window moves once a second,
      // so allow a couple of samples to land in the same window.
      for (let attempt = 0; attempt < 3; attempt++) {
        const screen = capture(session)
        const r = await daemon.admin('/stats')
        expect(r.status).toBe(200)
        snap = JSON.parse(r.text) as StatsSnapshot
        shown = parseBig(screen)
        expect(shown, screen.join('\n')).toBeDefined()
        const hitDiff = Math.abs(shown!.hitPercent - (snap.rates.hitRatio ?? NaN) * 100)
        const rateDiff = Math.abs(shown!.reqPerSec - snap.rates.requestsPerSec)
        attempts.push(`screen "${shown!.line}" vs /stats rates.hitRatio=${snap.rates.hitRatio} rates.requestsPerSec=${snap.rates.requestsPerSec}`)
        if (hitDiff <= 2 && rateDiff <= Math.max(10, 0.35 * snap.rates.requestsPerSec)) break
        await sleep(300)
      }
      const detail = attempts.join('\n')
      expect(snap!.rates.hitRatio, detail).not.toBeNull()
      // Sanity: the load is what the dashboard should see.
      expect(snap!.rates.requestsPerSec, detail).toBeGreaterThan(15)
      expect(snap!.rates.hitRatio!, detail).toBeGreaterThan(0.7)
      expect(Math.abs(shown!.hitPercent - snap!.rates.hitRatio! * 100), detail).toBeLessThanOrEqual(2)
      expect(Math.abs(shown!.reqPerSec - snap!.rates.requestsPerSec), detail).toBeLessThanOrEqual(Math.max(10, 0.35 * snap!.rates.requestsPerSec))
    } finally {
      stop = true
      await load
    }
    expect(failures, `${failures} of ${sent} load requests failed`).toBe(0)

    tmux('send-keys', '-t', session, 'q')
    const end = await waitForScreen(session, (l) => l.some((x) => x.startsWith('EXITED rc=')), 5000, 'EXITED after q')
    expect(end.find((x) => x.startsWith('EXITED rc='))).toBe('EXITED rc=0')
  }, 40_000)

  it('80x24: fits the screen without wrapping, header on the first row, one frame only', async () => {
    const p = uniquePath('top-small')
    origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'small\n'})
    for (let i = 0; i < 5; i++) expect((await daemon.request(p)).status).toBe(200)

    const session = 'small'
    startTop(session, 80, 24, daemon.socket, conf)
    expect(tmux('display-message', '-p', '-t', session, '#{pane_width}x#{pane_height}').stdout.trim()).toBe('80x24')
    await waitForScreen(session, (l) => parseBig(l) !== undefined, 10_000, 'the req/s · hit line with numbers')
    // A few redraws (interval 500 ms), so a frame that scrolls or leaves debris would show.
    await sleep(1600)
    const screen = capture(session)
    const dump = screen.map((l, i) => `${String(i).padStart(2)}|${l}`).join('\n')

    expect(screen.length, dump).toBeLessThanOrEqual(24)
    for (const line of screen) expect(chars(line), `line wider than 80 columns:\n${dump}`).toBeLessThanOrEqual(80)
    expect(screen[0], dump).toMatch(/^tavern \d+\.\d+\.\d+\S* +pid \d+ · up /)
    expect(screen[0], dump).toMatch(/\[every 500ms\]$/)
    // Exactly one copy of each fixed row: no half-erased previous frame above or below.
    expect(screen.filter((l) => /^tavern \d/.test(l)).length, dump).toBe(1)
    expect(screen.filter((l) => l.startsWith('req/s ') && l.includes(' · hit ')).length, dump).toBe(1)
    expect(screen.filter((l) => l.startsWith('q quit')).length, dump).toBe(1)
    expect(screen.some((l) => l.startsWith('storage ')), dump).toBe(true)

    tmux('send-keys', '-t', session, 'q')
    const end = await waitForScreen(session, (l) => l.some((x) => x.startsWith('EXITED rc=')), 5000, 'EXITED after q')
    expect(end.find((x) => x.startsWith('EXITED rc='))).toBe('EXITED rc=0')
  }, 30_000)
})
