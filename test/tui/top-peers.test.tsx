// The cluster panel of `tavern top` (issue #18 item 5): peers with their state, share of the keys and requests
// forwarded each way, as rates between two snapshots; absent for a daemon without a cluster.
import {EventEmitter} from 'node:events'
import {render as inkRender} from 'ink'
import {render} from 'ink-testing-library'
import type {ReactElement} from 'react'
import {afterEach, describe, expect, it} from 'vitest'

import type {ClusterTraffic, TopSnapshot} from '../../src/admin/protocol.js'
import {Stats} from '../../src/stats/recorder.js'
import {renderOnce} from '../../src/tui/once.js'
import {TopView} from '../../src/tui/top-view.js'
import {fitPeerRows, peerRows} from '../../src/tui/view-model.js'

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await tick(10)
  }
}
// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\u001B\[[0-9;]*m/g, '')

const A = 'http://10.0.0.1:8080'
const B = 'http://10.0.0.2:8080'
const C = 'http://10.0.0.3:8080'

/** A daemon's snapshot `n` seconds in: node A forwards 50 req/s to B, B forwards 20 req/s to A, C is down. */
function snapshotAt(n: number, cluster = true): TopSnapshot {
  const t = 1_700_000_000_000 + n * 1000
  const snap = new Stats({now: () => t}).snapshot()
  const c: ClusterTraffic = {
    self: A,
    fallbacks: 3,
    peers: [
      {id: A, self: true, weight: 1, up: true, share: 0.333, liveShare: 0.5, requestsOut: 0, requestsIn: 0},
      {id: B, self: false, weight: 1, up: true, share: 0.333, liveShare: 0.5, requestsOut: 1000 + 50 * n, requestsIn: 400 + 20 * n},
      {id: C, self: false, weight: 1, up: false, share: 0.334, liveShare: 0, requestsOut: 77, requestsIn: 0},
    ],
  }
  return {...snap, version: '0.1.0', pid: 4242, listeners: ['http://0.0.0.0:8080'], ...(cluster ? {cluster: c} : {})}
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

/** Ink on a fake terminal of the given size (ink-testing-library's is fixed at 100 columns). */
function mountSized(el: ReactElement, columns: number, rows: number) {
  const stdout = Object.assign(new EventEmitter(), {
    columns,
    rows,
    frames: [] as string[],
    write(frame: string) {
      this.frames.push(frame)
      return true
    },
  })
  const stdin = Object.assign(new EventEmitter(), {isTTY: false, setRawMode() {}, setEncoding() {}, resume() {}, pause() {}, ref() {}, unref() {}, read: () => null})
  const app = inkRender(el, {stdout: stdout as unknown as NodeJS.WriteStream, stdin: stdin as unknown as NodeJS.ReadStream, debug: true, patchConsole: false, exitOnCtrlC: false})
  unmounts.push(() => app.unmount())
  return {last: () => stripAnsi(stdout.frames.at(-1) ?? '').replace(/\n$/, '').split('\n'), count: () => stdout.frames.length}
}

/** A source whose every poll is one second later than the one before. */
function ticking(cluster = true): {source: () => Promise<TopSnapshot>; calls: () => number} {
  let n = 0
  return {source: async () => snapshotAt(n++, cluster), calls: () => n}
}

describe('tavern top: cluster panel', () => {
  it('shows each peer with its state, share and request rates each way', async () => {
    const src = ticking()
    const {lastFrame} = mount(<TopView source={src.source} intervalMs={20} />)
    await waitFor(() => src.calls() >= 2 && /OUT\/S/.test(lastFrame() ?? ''), 'two polls and the panel')
    await waitFor(() => new RegExp(`${B}\\s+up\\s+50\\.0%\\s+50\\s+20\\b`).test(stripAnsi(lastFrame() ?? '')), 'rates of B')
    const frame = stripAnsi(lastFrame() ?? '')
    expect(frame).toContain('cluster 3 peers · 1 down · fallbacks 3')
    expect(frame).toMatch(new RegExp(`${A}\\s+self\\s+50\\.0%\\s+0\\s+0\\b`))
    // C is down: no keys now, its counter stands still; totals (100 columns is wide enough) next to the rates.
    expect(frame).toMatch(new RegExp(`${C}\\s+DOWN\\s+0\\.0%\\s+0\\s+0\\s+77\\s+0\\b`))
    expect(frame).toMatch(/PEER\s+STATE\s+SHARE\s+OUT\/S\s+IN\/S\s+OUT\s+IN/)
  })

  it('shows — rather than a rate for the first snapshot, and after the counters went back (a cluster reload)', () => {
    const first = peerRows(snapshotAt(5))!
    expect(first.map((r) => r.outPerSec)).toEqual(['—', '—', '—'])
    const reset = snapshotAt(6)
    reset.cluster!.peers[1]!.requestsOut = 3
    const rows = peerRows(reset, snapshotAt(5))!
    expect(rows[1]!.outPerSec).toBe('—')
    expect(rows[1]!.inPerSec).toBe('20') // the other direction still counts on
  })

  it('has no panel without a cluster', async () => {
    const src = ticking(false)
    const {lastFrame} = mount(<TopView source={src.source} intervalMs={20} />)
    await waitFor(() => src.calls() >= 2 && (lastFrame() ?? '').includes('top keys by'), 'two polls')
    const frame = stripAnsi(lastFrame() ?? '')
    expect(frame).not.toMatch(/cluster|PEER|OUT\/S/)
    expect(peerRows(snapshotAt(1, false))).toBeNull()
  })

  it('fits 80×24, 40×24 and 140×50: totals only where there is room, the top-keys table gives way', async () => {
    const snap = snapshotAt(1)
    for (const [cols, rows, totals] of [
      [80, 24, true],
      [40, 24, false],
      [140, 50, true],
    ] as const) {
      const t = mountSized(<TopView source={async () => snap} intervalMs={10_000} initial={snap} />, cols, rows)
      await waitFor(() => t.count() > 0, `first frame at ${cols}×${rows}`)
      const lines = t.last()
      expect(lines.length, `${cols}×${rows}`).toBeLessThanOrEqual(rows - 1)
      for (const l of lines) expect([...l].length, `${cols}×${rows}: ${l}`).toBeLessThanOrEqual(cols)
      const text = lines.join('\n')
      expect(text).toContain('cluster 3 peers')
      expect(text).toMatch(/DOWN/)
      expect(text).toContain('top keys by requests')
      expect(/OUT\/S\s+IN\/S\s+OUT\s+IN/.test(text), `${cols}×${rows} totals`).toBe(totals)
      // The whole URL where it fits, host:port at 40 columns.
      expect(text).toContain(cols >= 80 ? `${C}  ` : `${C.slice('http://'.length)} DOWN`)
      // Every peer has a row at these sizes.
      expect(lines.filter((l) => /\b(self|up|DOWN)\b/.test(l) && /%/.test(l))).toHaveLength(3)
    }
  })

  it('with more peers than rows, keeps the down ones and says how many are left out', async () => {
    const snap = snapshotAt(1)
    const many = Array.from({length: 20}, (_, i) => ({id: `http://10.0.1.${i}:8080`, self: i === 0, weight: 1, up: i !== 17, share: 0.05, liveShare: 0.05, requestsOut: i, requestsIn: i}))
    snap.cluster = {self: many[0]!.id, fallbacks: 0, peers: many}
    const t = mountSized(<TopView source={async () => snap} intervalMs={10_000} initial={snap} />, 80, 24)
    await waitFor(() => t.count() > 0, 'first frame')
    const lines = t.last()
    expect(lines.length).toBeLessThanOrEqual(23)
    const text = lines.join('\n')
    expect(text).toContain('cluster 20 peers · 1 down')
    expect(text).toMatch(/http:\/\/10\.0\.1\.17:8080\s+DOWN/)
    expect(text).toMatch(/… 18 more peers: tavern status --cluster/)
    const fit = fitPeerRows(peerRows(snap)!, 4)
    // The down peer is kept; the rows stay in ring order.
    expect(fit.shown.map((r) => r.id)).toEqual(['http://10.0.1.0:8080', 'http://10.0.1.1:8080', 'http://10.0.1.17:8080'])
    expect(fit).toMatchObject({hidden: 17, hiddenDown: 0})
  })
})

describe('renderOnce: cluster lines', () => {
  it('lists the peers with their totals in a cluster, nothing without one', () => {
    const out = renderOnce(snapshotAt(10))
    expect(out).toContain('cluster       3 peers, 1 down, 3 fallbacks to the origin')
    expect(out).toContain(`peer          up   ${B}  share 50.0%, out 1.50k, in 600`)
    expect(out).toContain(`peer          DOWN ${C}  share 0.0%, out 77, in 0`)
    for (const l of out.split('\n')) expect([...l].length).toBeLessThanOrEqual(80)
    expect(renderOnce(snapshotAt(10, false))).not.toMatch(/^(cluster|peer) /m)
  })
})
