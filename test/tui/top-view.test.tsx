import {EventEmitter} from 'node:events'
import {render as inkRender} from 'ink'
import {render} from 'ink-testing-library'
import type {ReactElement} from 'react'
import {afterEach, describe, expect, it} from 'vitest'

import type {TopSnapshot} from '../../src/admin/protocol.js'
import {Stats} from '../../src/stats/recorder.js'
import {formatBytes, formatCount, formatDuration, formatPercent, formatRate, formatUptime, truncateMiddle} from '../../src/util/format.js'
import {renderOnce} from '../../src/tui/once.js'
import {brailleChart, sparkline} from '../../src/tui/sparkline.js'
import {TopView} from '../../src/tui/top-view.js'

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls until `cond` holds (the box running this is loaded; fixed sleeps would be flaky). */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await tick(10)
  }
}
// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\u001B\[[0-9;]*m/g, '')

const HOT = 'http://example.com/static/hot.js'

/** A snapshot as recorded from a Stats object with a fake clock, then pinned to round numbers. */
function recordedSnapshot(): TopSnapshot {
  let t = 1_700_000_000_000
  const stats = new Stats({now: () => t})
  for (let sec = 0; sec < 90; sec++) {
    for (let i = 0; i < 20 + (sec % 10); i++) {
      stats.requestStarted()
      stats.requestFinished({outcome: i % 10 === 0 ? 'miss' : 'hit', status: 200, bytesOut: 2048, durationMs: 1 + (i % 5), key: i % 2 === 0 ? HOT : `http://example.com/p/${i}`})
    }
    stats.originRequest({ttfbMs: 25, bytesIn: 4096, status: 200})
    t += 1000
  }
  stats.setStorageProbe(() => ({objects: 1234, diskBytes: 5 * 1024 ** 3, memoryBytes: 64 * 1024 ** 2, memoryObjects: 321, evictions: 9, expiredRemoved: 4}))
  stats.setUpstreamProbe(() => [
    {name: 'api', url: 'http://10.0.0.1:80', healthy: true, inFlight: 3, failures: 0},
    {name: 'media', url: 'http://10.0.0.2:80', healthy: false, inFlight: 0, failures: 7},
  ])
  const snap = stats.snapshot()
  snap.rates.requestsPerSec = 1234.4
  snap.rates.hitRatio = 0.921
  snap.rates.byteHitRatio = 0.875
  snap.latency.client.p99Ms = 120
  snap.topKeys.byRequests[0] = {key: HOT, requests: 4321, bytes: 3 * 1024 ** 2, error: 0}
  return {...snap, version: '0.1.0', pid: 4242, listeners: ['http://0.0.0.0:8080']}
}

const unmounts: Array<() => void> = []
afterEach(() => {
  for (const u of unmounts.splice(0)) u()
})

function mount(el: ReactElement) {
  const r = render(el)
  unmounts.push(r.unmount)
  return r
}

describe('TopView', () => {
  it('shows hit ratio, req/s, p99 and the top key from the source', async () => {
    const snap = recordedSnapshot()
    let calls = 0
    const source = async () => {
      calls++
      return snap
    }
    const {lastFrame} = mount(<TopView source={source} intervalMs={30} />)
    await waitFor(() => calls >= 2, 'two polls')
    await tick(20)
    const frame = stripAnsi(lastFrame() ?? '')
    expect(calls).toBeGreaterThanOrEqual(2)
    expect(frame).toContain('tavern 0.1.0')
    expect(frame).toContain('pid 4242')
    expect(frame).toContain('http://0.0.0.0:8080')
    expect(frame).toMatch(/req\/s 1\.23k/)
    expect(frame).toContain('hit 92.1%')
    expect(frame).toContain('byte hit 87.5%')
    expect(frame).toMatch(/p99 120ms/)
    expect(frame).toContain(HOT)
    expect(frame).toMatch(new RegExp(`${HOT.replaceAll('.', '\\.')}\\s+4\\.32k\\s+72\\s+3\\.00 MiB`))
    expect(frame).toContain('1.23k objects')
    expect(frame).toContain('media DOWN (7 failures)')
    expect(frame).toMatch(/req\/s  [▁▂▃▄▅▆▇█]{20}/) // sparkline drawn
  })

  it('says the daemon is unreachable, keeps retrying and keeps the last data marked stale', async () => {
    const snap = recordedSnapshot()
    let calls = 0
    let fail = false
    const source = async () => {
      calls++
      if (fail) throw new Error('no tavern daemon answers on /run/t.sock (ECONNREFUSED)')
      return snap
    }
    const {lastFrame} = mount(<TopView source={source} intervalMs={20} />)
    await waitFor(() => (lastFrame() ?? '').includes('hit 92.1%'), 'first frame')
    expect(stripAnsi(lastFrame() ?? '')).not.toContain('unreachable')
    fail = true
    const before = calls
    await waitFor(() => calls - before >= 3, 'three retries')
    await tick(30)
    const frame = stripAnsi(lastFrame() ?? '')
    expect(frame).toContain('daemon unreachable: no tavern daemon answers on /run/t.sock (ECONNREFUSED)')
    expect(frame).toContain('STALE')
    expect(frame).toContain('hit 92.1%') // last data still shown
    fail = false
    await waitFor(() => !(lastFrame() ?? '').includes('unreachable'), 'recovery')
  })

  it('shows the unreachable message when there was never any data', async () => {
    const source = async (): Promise<TopSnapshot> => {
      throw new Error('connect ENOENT /nope.sock')
    }
    const {lastFrame} = mount(<TopView source={source} intervalMs={20} />)
    await waitFor(() => (lastFrame() ?? '').includes('daemon unreachable: connect ENOENT /nope.sock'), 'error line')
  })

  it('handles keys: s sorts by bytes, ? toggles help, p pauses polling, q quits', async () => {
    const snap = recordedSnapshot()
    let calls = 0
    const source = async () => {
      calls++
      return snap
    }
    const {lastFrame, stdin} = mount(<TopView source={source} intervalMs={20} inputActive />)
    const shows = (text: string) => (lastFrame() ?? '').includes(text)
    await waitFor(() => shows('top keys by requests'), 'table')
    stdin.write('s')
    await waitFor(() => shows('top keys by bytes'), 'sort by bytes')
    stdin.write('?')
    await waitFor(() => shows('toggle this help'), 'help')
    stdin.write('?')
    await waitFor(() => !shows('toggle this help'), 'help closed')
    stdin.write('p')
    await waitFor(() => shows('[paused]'), 'paused')
    await tick(30) // let a poll already in flight land
    const paused = calls
    await tick(80)
    expect(calls).toBe(paused)
    stdin.write('p')
    await waitFor(() => calls > paused, 'polling resumed')
    stdin.write('q')
    await tick(50)
    const afterQuit = calls
    await tick(80)
    expect(calls).toBe(afterQuit) // unmounted: polling stopped
  })

  it('shows an initial snapshot at once and fits 80×24', async () => {
    const snap = recordedSnapshot()
    const stdout = Object.assign(new EventEmitter(), {
      columns: 80,
      rows: 24,
      frames: [] as string[],
      write(frame: string) {
        this.frames.push(frame)
        return true
      },
    })
    const stdin = Object.assign(new EventEmitter(), {isTTY: false, setRawMode() {}, setEncoding() {}, resume() {}, pause() {}, ref() {}, unref() {}, read: () => null})
    const app = inkRender(<TopView source={async () => snap} intervalMs={10_000} initial={snap} />, {
      stdout: stdout as unknown as NodeJS.WriteStream,
      stdin: stdin as unknown as NodeJS.ReadStream,
      debug: true,
      patchConsole: false,
      exitOnCtrlC: false,
    })
    unmounts.push(() => app.unmount())
    await waitFor(() => stdout.frames.length > 0, 'first frame')
    const frame = stripAnsi(stdout.frames.at(-1) ?? '')
    const lines = frame.replace(/\n$/, '').split('\n')
    expect(lines.length).toBeLessThanOrEqual(23)
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80)
    expect(frame).toContain('hit 92.1%')
    expect(frame).toContain('p99 120ms')
    expect(frame).toContain(HOT)

    // A taller, wider terminal gets a braille chart and more table rows.
    stdout.columns = 140
    stdout.rows = 50
    stdout.emit('resize')
    // Ink repaints on resize by itself; wait for the frame our state update produces.
    await waitFor(() => /[\u2801-\u28ff]/.test(stdout.frames.at(-1) ?? ''), 'resized frame with a braille chart')
    const big = stripAnsi(stdout.frames.at(-1) ?? '').replace(/\n$/, '').split('\n')
    expect(big.length).toBeGreaterThan(lines.length)
    expect(big.length).toBeLessThanOrEqual(49)
    for (const l of big) expect([...l].length).toBeLessThanOrEqual(140)
    expect(big.join('\n')).toMatch(/[\u2801-\u28ff]/)
  })
})

describe('renderOnce', () => {
  it('prints the numbers as plain text', () => {
    const out = renderOnce(recordedSnapshot())
    // eslint-disable-next-line no-control-regex
    expect(out).not.toMatch(/\u001B/)
    expect(out).toContain('tavern 0.1.0 · pid 4242')
    expect(out).toContain('requests/s    1.23k')
    expect(out).toContain('92.1% by requests, 87.5% by bytes')
    expect(out).toContain('p99 120ms')
    expect(out).toMatch(new RegExp(`${HOT.replaceAll('.', '\\.')}\\s+4\\.32k`))
    expect(out).toContain('top keys by bytes')
    expect(out).toContain('1.23k objects, disk 5.00 GiB')
    expect(out).toContain('DOWN media')
    for (const l of out.split('\n')) expect([...l].length).toBeLessThanOrEqual(80)
  })

  it('copes with an empty snapshot from a fresh daemon', () => {
    const out = renderOnce(new Stats().snapshot())
    expect(out).toContain('requests/s    0')
    expect(out).toContain('(no requests in the window)')
    expect(out).toContain('storage       not reported')
  })
})

describe('format and sparkline helpers', () => {
  it('formats', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1536)).toBe('1.50 KiB')
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.00 GiB')
    expect(formatBytes(1023 * 1024)).toBe('1.00 MiB') // never '1023 KiB'
    expect(formatCount(950)).toBe('950')
    expect(formatCount(1234)).toBe('1.23k')
    expect(formatCount(999_600)).toBe('1.00M')
    expect(formatRate(0)).toBe('0')
    expect(formatRate(4.56)).toBe('4.6')
    expect(formatRate(2)).toBe('2.0')
    expect(formatRate(72.4)).toBe('72')
    expect(formatDuration(99.99)).toBe('100ms')
    expect(formatDuration(999.7)).toBe('1.00s')
    expect(formatPercent(null)).toBe('—')
    expect(formatPercent(0.9214)).toBe('92.1%')
    expect(formatDuration(0.85)).toBe('850µs')
    expect(formatDuration(12.34)).toBe('12.3ms')
    expect(formatDuration(1200)).toBe('1.20s')
    expect(formatDuration(123_000)).toBe('2m03s')
    expect(formatUptime(3 * 3600 + 12 * 60)).toBe('3h12m')
    expect(truncateMiddle('abcdefghij', 5)).toBe('ab…ij')
  })

  it('draws sparklines and braille charts', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█')
    expect(sparkline([5, 5, 5])).toBe('███') // anchored at zero: a steady rate is a full bar
    expect(sparkline([1, null, 1], 5, {min: 0, max: 1})).toBe('  █ █')
    expect(sparkline([1, 2, 3, 4], 2)).toBe('▆█')
    const chart = brailleChart([0, 1, 2, 3, 4, 5, 6, 7], 4, 2)
    expect(chart).toHaveLength(2)
    for (const l of chart) expect(l).toHaveLength(4)
    expect(chart[1]![0]).not.toBe('\u2800') // lowest values are at the bottom left
    expect(chart[0]![3]).not.toBe('\u2800') // highest at the top right
  })
})
