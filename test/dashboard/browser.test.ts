/**
 * The web dashboard in a real browser: Debian's Chromium driven by playwright-core, against the test harness
 * (real Stats fed by real HTTP traffic through a caching proxy, the dashboard handler on its own listener).
 * A failing step leaves a screenshot in the test's temp dir and names it in the error.
 * Without Chromium (TAVERN_CHROMIUM or /usr/bin/chromium) the file is skipped with a printed reason.
 */
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {type BrowserContext, chromium, type Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {bigNumbers, latencyParts, statusShares, topKeyRows} from '../../src/tui/view-model.js'
import {formatBytes, formatCount, formatPercent} from '../../src/util/format.js'
import {type DashboardHarness, startDashboardHarness} from '../helpers/dashboard-harness.js'
import type {TopSnapshot} from '../../src/admin/protocol.js'
import {type DaemonHandle, makeTempDir, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin} from '../helpers/origin.js'
import fs from 'node:fs'
import net from 'node:net'

// The callbacks given to page.evaluate run in the browser. This file is type-checked without the DOM library (it
// would clash with Node's timer types in src/), so the little of the DOM they use is declared here, module-local.
interface El {
  id: string
  tagName: string
  className: string
  dataset: Record<string, string | undefined>
  textContent: string | null
  scrollWidth: number
  closest(selector: string): El | null
  getBoundingClientRect(): {right: number; width: number; top: number}
  querySelectorAll(selector: string): Iterable<El> & ArrayLike<El>
  getAttribute(name: string): string | null
}
declare const document: {body: El; documentElement: {scrollWidth: number}; activeElement: El | null; querySelector(s: string): El | null; querySelectorAll(s: string): Iterable<El>; cookie: string}
declare const window: {innerWidth: number}
declare function getComputedStyle(e: El): {outlineStyle: string; outlineWidth: string; backgroundColor: string; color: string}

const CHROMIUM = process.env.TAVERN_CHROMIUM ?? '/usr/bin/chromium'
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium) console.log(`[dashboard browser test] skipped: no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium; TAVERN_CHROMIUM names another binary)`)

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const TOKEN = 'dashboard-browser-test-token-1234'

let tmp = ''
let failed = false

async function launch(dir: string): Promise<BrowserContext> {
  // A fresh profile per run (user data dir), so nothing carries over between runs.
  return chromium.launchPersistentContext(dir, {executablePath: CHROMIUM, headless: true, args: ARGS, viewport: {width: 1280, height: 800}})
}

/** Runs a step; on failure writes a full-page screenshot next to the test's temp files and names it. */
async function step<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    failed = true
    const file = path.join(tmp, `${name.replace(/[^a-z0-9]+/gi, '-')}.png`)
    await page.screenshot({path: file, fullPage: true}).catch(() => {})
    if (error instanceof Error) error.message += `\n  screenshot: ${file}`
    throw error
  }
}

const text = (page: Page, metric: string): Promise<string> => page.locator(`[data-metric="${metric}"]`).innerText()
const value = async (page: Page, metric: string): Promise<number | null> => {
  const v = await page.locator(`[data-metric="${metric}"]`).getAttribute('data-value')
  return v === null || v === '' ? null : Number(v)
}
const seq = (page: Page): Promise<string | undefined> => page.evaluate(() => document.body.dataset.seq)
const state = (page: Page): Promise<string | undefined> => page.evaluate(() => document.body.dataset.state)

async function poll<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (error) {
      last = error
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Waits until the page has rendered a snapshot published after this call. */
async function nextRender(page: Page, after = 2): Promise<void> {
  const start = Number((await seq(page)) ?? 0)
  await poll(async () => Number((await seq(page)) ?? 0) >= start + after, `${after} more snapshots rendered`)
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'tavern-dashboard-browser-'))
})
afterAll(() => {
  // Screenshots of a failure stay for the person reading the error.
  if (!failed) rmSync(tmp, {recursive: true, force: true})
  else console.log(`[dashboard browser test] screenshots kept in ${tmp}`)
})

describe.skipIf(!haveChromium)('web dashboard in headless Chromium', () => {
  let h: DashboardHarness
  let ctx: BrowserContext
  let page: Page
  const consoleErrors: string[] = []

  beforeAll(async () => {
    h = await startDashboardHarness({dashboard: {snapshotTimeoutMs: 1500, retryMs: 500}})
    ctx = await launch(path.join(tmp, 'profile'))
    page = ctx.pages()[0] ?? (await ctx.newPage())
    page.on('console', (m) => {
      // A refused connection while the daemon is stopped is expected; script errors are not.
      if (m.type() === 'error' && !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(m.text())) consoleErrors.push(m.text())
    })
    page.on('pageerror', (e) => consoleErrors.push(String(e)))
  }, 60_000)
  afterAll(async () => {
    await ctx?.close()
    await h?.close()
  })

  it('loads, goes live, and the numbers move while traffic flows', async () => {
    await step(page, 'load', async () => {
      await page.goto(h.dashboardUrl)
      await poll(async () => (await state(page)) === 'live', 'the page to go live')
      expect(await value(page, 'requests-total')).toBe(0)
      expect(await page.locator('#title').innerText()).toBe('tavern 0.0.0-harness')
    })
    await step(page, 'numbers-move', async () => {
      const driving = h.drive({durationMs: 5000, concurrency: 4})
      const seen: number[] = []
      let ratePositive = false
      await poll(
        async () => {
          const total = (await value(page, 'requests-total')) ?? 0
          if (seen.length === 0 || total > seen[seen.length - 1]!) seen.push(total)
          if (((await value(page, 'req-per-sec')) ?? 0) > 0) ratePositive = true
          return seen.length >= 4 && ratePositive
        },
        'the request total to rise at least three times and req/s to go above 0',
        15_000,
      )
      const {requests} = await driving
      expect(requests).toBeGreaterThan(50)
      // The requests/s chart has a line now.
      expect(await page.locator('#chart-rps path.s0').getAttribute('d')).toMatch(/L/)
      expect(await page.locator('#top-keys tbody tr').count()).toBeGreaterThan(3)
    })
  }, 60_000)

  it('shows the same figures as /stats (and tavern top), to the rounding of the display', async () => {
    await step(page, 'agree', async () => {
      // Traffic is over; stop the statistics' clock, so every snapshot from now on is the same.
      h.freezeClock()
      await nextRender(page)
      const s = await h.fetchStats()
      expect(await value(page, 'requests-total')).toBe(s.requests.total)
      const big = bigNumbers(s)
      expect(await text(page, 'req-per-sec')).toBe(big.reqPerSec)
      expect(await text(page, 'hit-ratio')).toBe(big.hit)
      expect(await text(page, 'byte-hit-ratio')).toBe(big.byteHit)
      expect(await text(page, 'bytes-out-per-sec')).toBe(big.out)
      expect(await text(page, 'bytes-in-per-sec')).toBe(big.in)
      expect(await text(page, 'in-flight')).toBe(big.inFlight)
      expect(await text(page, 'origin-req-per-sec')).toBe(big.originReqPerSec)
      expect(await text(page, 'requests-total')).toBe(formatCount(s.requests.total))
      expect(await text(page, 'hit-ratio-total')).toBe(formatPercent(s.requests.hitRatio))
      expect(await text(page, 'bytes-out-total')).toBe(formatBytes(s.requests.bytesOut))
      // Raw values agree within floating-point noise too.
      expect(await value(page, 'req-per-sec')).toBeCloseTo(s.rates.requestsPerSec, 9)
      expect(await value(page, 'hit-ratio')).toBeCloseTo(s.rates.hitRatio ?? Number.NaN, 9)

      for (const [row, l] of [['client', s.latency.client], ['origin', s.latency.originTtfb]] as const) {
        const want = latencyParts(l)
        expect(await text(page, `latency-${row}-p50`)).toBe(want.p50)
        expect(await text(page, `latency-${row}-p95`)).toBe(want.p95)
        expect(await text(page, `latency-${row}-p99`)).toBe(want.p99)
      }
      for (const c of statusShares(s)) {
        const cells = await page.locator(`#status-classes tr[data-class="${c.label}"] td`).allInnerTexts()
        expect(cells.slice(1), c.label).toEqual([c.share, formatCount(c.count)])
      }
      expect(s.requests.statusClasses['5xx']).toBeGreaterThan(0)
      for (const o of ['hit', 'miss', 'error', 'bypass'] as const) {
        expect(await page.locator(`#outcomes tr[data-outcome="${o}"] td`).first().innerText(), o).toBe(formatCount(s.requests.byOutcome[o]))
      }

      const keyRows = async (): Promise<string[][]> =>
        page.locator('#top-keys tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from((tr as unknown as El).querySelectorAll('td'), (td) => td.textContent ?? '')))
      const expectRows = (sort: 'requests' | 'bytes'): string[][] => topKeyRows(s, sort, 10).map((k) => [k.key, `${k.approx ? '≈' : ''}${k.requests}`, k.perSec, k.bytes])
      expect(await keyRows()).toEqual(expectRows('requests'))
      // Re-sorting by bytes, from the keyboard.
      await page.locator('[data-sort="bytes"]').focus()
      await page.keyboard.press('Enter')
      expect(await page.locator('[data-sort="bytes"]').getAttribute('aria-pressed')).toBe('true')
      expect(await keyRows()).toEqual(expectRows('bytes'))
      await page.locator('#keys-more').focus()
      await page.keyboard.press('Space')
      expect((await keyRows()).length).toBe(Math.min(20, s.topKeys.byBytes.length))
      expect(await page.locator('#keys-more').getAttribute('aria-expanded')).toBe('true')

      expect(await text(page, 'storage-objects')).toBe(formatCount(s.storage!.objects))
      const up = await page.locator('#upstreams tbody tr').first().innerText()
      expect(up).toContain('origin')
      expect(up).toContain(s.upstreams[0]!.url)
      expect(up).toContain('healthy')
    })
    h.thawClock()
  }, 60_000)

  it('renders breaker state and per-site rates only when the snapshot has them', async () => {
    await step(page, 'optional-panels', async () => {
      await nextRender(page, 1)
      expect(await page.locator('#sites-panel').isHidden()).toBe(true)
      expect(await page.locator('#upstreams th[data-col="breaker"]').isHidden()).toBe(true)
      h.extras.breakers = {origin: {state: 'open', since: Date.now()}}
      h.extras.sites = [{name: 'img.example.com', requestsPerSec: 12.5, hitRatio: 0.875, bytesOutPerSec: 2048, errorsPerSec: 0.4}]
      await nextRender(page)
      expect(await page.locator('#sites-panel').isVisible()).toBe(true)
      expect(await page.locator('#sites tbody tr').first().locator('th, td').allInnerTexts()).toEqual(['img.example.com', '13', '87.5%', '2.00 KiB/s', '0.4'])
      expect(await page.locator('#upstreams th[data-col="breaker"]').isVisible()).toBe(true)
      const breaker = page.locator('#upstreams tbody tr').first().locator('td').nth(1)
      expect(await breaker.innerText()).toBe('open')
      expect(await breaker.getAttribute('class')).toBe('bad')
      h.extras = {}
      await nextRender(page)
      expect(await page.locator('#sites-panel').isHidden()).toBe(true)
      expect(await page.locator('#upstreams th[data-col="breaker"]').isHidden()).toBe(true)
    })
  }, 60_000)

  it('says "stale" when the daemon stops answering, and recovers when it comes back', async () => {
    try {
      await staleAndBack()
    } finally {
      // Whatever failed, the later tests get a running dashboard.
      h.hang = false
      if (!h.dashboard) await h.startDashboard()
    }
  }, 90_000)

  async function staleAndBack(): Promise<void> {
    await step(page, 'stale-stopped', async () => {
      expect(await page.locator('#stale').isHidden()).toBe(true)
      await h.stopDashboard()
      await poll(async () => (await state(page)) === 'stale', 'the page to turn stale', 10_000)
      await poll(async () => /^stale — last update [3-9]s ago/.test(await page.locator('#stale-text').innerText()), '"stale — last update Ns ago" with N ≥ 3', 10_000)
      expect(await page.locator('#announce').innerText()).toMatch(/^Data is stale: no update since /)
      expect(await page.locator('#announce').getAttribute('aria-live')).toBe('polite')
      expect(await page.locator('#conn').innerText()).toBe('stale')
    })
    await step(page, 'recover-restart', async () => {
      const total = await value(page, 'requests-total')
      await h.startDashboard()
      await poll(async () => (await state(page)) === 'live' && (await page.locator('#stale').isHidden()), 'the page to recover', 20_000)
      expect(await page.locator('#announce').innerText()).toBe('Live again.')
      expect(await value(page, 'requests-total')).toBe(total)
    })
    await step(page, 'stale-hung', async () => {
      // The listener stays up but the daemon thread answers nothing: no event for 3 s is stale too.
      h.hang = true
      await poll(async () => (await state(page)) === 'stale', 'stale while snapshots hang', 10_000)
      await poll(async () => /\(no snapshot within 1500 ms\)/.test(await page.locator('#stale-text').innerText()), 'the reason in the banner', 10_000)
      h.hang = false
      await poll(async () => (await state(page)) === 'live', 'live again once snapshots come', 10_000)
    })
  }

  it('fits 1280×800 and a phone width without sideways scrolling', async () => {
    for (const [width, height] of [
      [1280, 800],
      [375, 800],
      [360, 740],
    ] as const) {
      await step(page, `layout-${width}`, async () => {
        await page.setViewportSize({width, height})
        await nextRender(page, 1)
        const m = await page.evaluate(() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth, bodyScroll: document.body.scrollWidth}))
        expect(m.scroll, `${width}px: document width`).toBeLessThanOrEqual(m.inner)
        expect(m.bodyScroll, `${width}px: body width`).toBeLessThanOrEqual(m.inner)
        // No element sticks out to the right, except inside a table region that scrolls on its own.
        const outside = await page.evaluate(() => {
          const w = window.innerWidth
          const bad: string[] = []
          for (const el of document.querySelectorAll('body *')) {
            if (el.closest('.table-wrap, .visually-hidden, [hidden]')) continue
            const r = el.getBoundingClientRect()
            if (r.width > 0 && r.right > w + 0.5) bad.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className} right=${Math.round(r.right)}`)
          }
          return bad
        })
        expect(outside, `${width}px`).toEqual([])
        if (width === 1280) {
          // The headline figures, the charts and the top keys are on the first screen.
          const keysTop = await page.locator('#h-keys').evaluate((e) => (e as unknown as El).getBoundingClientRect().top)
          expect(keysTop).toBeLessThan(height)
        }
      })
    }
    await page.setViewportSize({width: 1280, height: 800})
  }, 60_000)

  it('is keyboard-accessible: a skip link, every control in order, visible focus, no trap', async () => {
    await step(page, 'keyboard', async () => {
      await page.goto(h.dashboardUrl)
      await poll(async () => (await state(page)) === 'live', 'live after reload')
      const stops: Array<{id: string; outline: string}> = []
      for (let i = 0; i < 20; i++) {
        await page.keyboard.press('Tab')
        const s = await page.evaluate(() => {
          const a = document.activeElement
          if (!a || a === document.body) return {id: 'BODY', outline: ''}
          const cs = getComputedStyle(a)
          const label = a.id || a.dataset.sort || a.getAttribute('aria-label') || a.className || a.tagName
          return {id: label, outline: `${cs.outlineStyle} ${cs.outlineWidth}`}
        })
        stops.push(s)
        if (s.id === 'BODY' || (i > 0 && s.id === stops[0]!.id)) break
      }
      const ids = stops.map((s) => s.id)
      expect(ids[0]).toBe('skip')
      expect(ids.slice(1, 7)).toEqual(['pause', 'requests', 'bytes', 'keys-more', 'Top keys table', 'Upstreams table'])
      // Focus leaves the page (or wraps to its start) after the last control: no trap.
      expect(['BODY', 'skip']).toContain(ids[ids.length - 1])
      for (const s of stops.filter((x) => x.id !== 'BODY')) {
        const [style, width] = s.outline.split(' ')
        expect(style, `${s.id} focus outline`).not.toBe('none')
        expect(parseFloat(width ?? '0'), `${s.id} focus outline width`).toBeGreaterThanOrEqual(2)
      }
      // The skip link moves focus to the numbers.
      await page.locator('.skip').focus()
      await page.keyboard.press('Enter')
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('main')
      // Pause from the keyboard freezes the display and says so.
      await page.locator('#pause').focus()
      await page.keyboard.press('Enter')
      expect(await page.locator('#pause').getAttribute('aria-pressed')).toBe('true')
      expect(await page.locator('#conn').innerText()).toBe('paused')
      await page.keyboard.press('Enter')
      expect(await page.locator('#pause').getAttribute('aria-pressed')).toBe('false')
    })
  }, 60_000)

  it('is readable in the dark and the light scheme', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      await step(page, `scheme-${scheme}`, async () => {
        await page.emulateMedia({colorScheme: scheme})
        const c = await page.evaluate(() => {
          const rgb = (s: string): number[] => (s.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map(Number)
          const lum = (s: string): number => {
            const [r, g, b] = rgb(s).map((v) => {
              const x = v / 255
              return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4
            }) as [number, number, number]
            return 0.2126 * r + 0.7152 * g + 0.0722 * b
          }
          const ratio = (a: string, b: string): number => {
            const [l1, l2] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number]
            return (l1 + 0.05) / (l2 + 0.05)
          }
          const style = (sel: string): ReturnType<typeof getComputedStyle> => getComputedStyle(document.querySelector(sel)!)
          const bodyBg = style('body').backgroundColor
          const panelBg = style('.tile').backgroundColor
          return {
            bodyLum: lum(bodyBg),
            text: ratio(style('.tile .value').color, panelBg),
            muted: ratio(style('.tile dt').color, panelBg),
            pill: ratio(style('#conn').color, style('.top').backgroundColor),
            banner: ratio(style('.banner').color, style('.banner').backgroundColor),
          }
        })
        if (scheme === 'dark') expect(c.bodyLum).toBeLessThan(0.05)
        else expect(c.bodyLum).toBeGreaterThan(0.8)
        // WCAG AA: 4.5:1 for text.
        expect(c.text, 'value text').toBeGreaterThanOrEqual(7)
        expect(c.muted, 'muted text').toBeGreaterThanOrEqual(4.5)
        expect(c.pill, 'status pill').toBeGreaterThanOrEqual(4.5)
        expect(c.banner, 'stale banner').toBeGreaterThanOrEqual(4.5)
      })
    }
    await page.emulateMedia({colorScheme: 'light'})
  }, 60_000)

  it('had no script errors', () => {
    expect(consoleErrors).toEqual([])
  })
})

describe.skipIf(!haveChromium)('web dashboard with a token', () => {
  let h: DashboardHarness
  let ctx: BrowserContext
  let page: Page

  beforeAll(async () => {
    h = await startDashboardHarness({dashboard: {token: TOKEN}})
    ctx = await launch(path.join(tmp, 'profile-token'))
    page = ctx.pages()[0] ?? (await ctx.newPage())
  }, 60_000)
  afterAll(async () => {
    await ctx?.close()
    await h?.close()
  })

  it('asks for the token, refuses a wrong one, and streams after the right one', async () => {
    await step(page, 'login', async () => {
      await page.goto(h.dashboardUrl)
      await poll(async () => page.locator('#login').isVisible(), 'the sign-in form')
      expect(await state(page)).toBe('login')
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('token')
      await page.keyboard.type('wrong-token-wrong-token')
      await page.keyboard.press('Enter')
      await poll(async () => (await page.locator('#login-error').innerText()) === 'That token is not right.', 'the wrong-token message')
      await page.locator('#token').fill(TOKEN)
      await page.keyboard.press('Enter')
      await poll(async () => (await state(page)) === 'live', 'live after signing in')
      expect(await page.locator('#login').isHidden()).toBe(true)
      await h.drive({durationMs: 500, concurrency: 2})
      await poll(async () => ((await value(page, 'requests-total')) ?? 0) > 0, 'numbers after signing in')
      // The session cookie is HttpOnly: the page's script cannot read it.
      expect(await page.evaluate(() => document.cookie)).toBe('')
      const cookies = await ctx.cookies()
      expect(cookies.find((c) => c.name === 'tavern_dashboard')?.httpOnly).toBe(true)
    })
  }, 60_000)
})

describe.skipIf(!haveChromium)('web dashboard of the real daemon', () => {
  let origin: Origin
  let d: DaemonHandle
  let ctx: BrowserContext
  let page: Page
  let config: Record<string, unknown>
  let dashPort = 0
  const errors: string[] = []

  const start = (): Promise<DaemonHandle> => startDaemon({config, bare: true})

  beforeAll(async () => {
    origin = await startOrigin()
    for (let i = 0; i < 30; i++) origin.route(`/k/${i}`, {headers: {'cache-control': 'max-age=3600'}, body: Buffer.alloc(300 + i * 997, 97 + (i % 26))})
    origin.route('/boom', {status: 503, headers: {'cache-control': 'no-store'}, body: 'down'})
    const dir = makeTempDir('tavern-dash-browser-')
    const free = async (): Promise<number> => {
      const srv = net.createServer()
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
      const port = (srv.address() as net.AddressInfo).port
      await new Promise<void>((r) => srv.close(() => r()))
      return port
    }
    dashPort = await free()
    // Fixed ports and one storage dir, so the daemon can be stopped and started again where the page looks.
    config = {
      listen: `127.0.0.1:${await free()}`,
      socket: `${dir}/admin.sock`,
      upstreams: [origin.url],
      storage: {dir: `${dir}/store`},
      dashboard: {enabled: true, listen: `127.0.0.1:${dashPort}`},
    }
    fs.mkdirSync(`${dir}/store`)
    d = await start()
    ctx = await launch(path.join(tmp, 'profile-daemon'))
    page = ctx.pages()[0] ?? (await ctx.newPage())
    page.on('console', (m) => {
      if (m.type() === 'error' && !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(m.text())) errors.push(m.text())
    })
    page.on('pageerror', (e) => errors.push(String(e)))
  }, 90_000)
  afterAll(async () => {
    await ctx?.close()
    await d?.stop()
    await origin?.close()
  })

  /** Real requests to the daemon for `ms`, `n` at a time: hits, misses and some 503s. */
  async function drive(ms: number, n = 4): Promise<number> {
    const end = Date.now() + ms
    let count = 0
    await Promise.all(
      Array.from({length: n}, async (_, w) => {
        for (let i = w; Date.now() < end; i += n) {
          const r = await d.request(i % 17 === 0 ? '/boom' : `/k/${i % 30}`)
          expect([200, 503]).toContain(r.status)
          count++
        }
      }),
    )
    return count
  }

  it('goes live, the numbers move while requests flow, and then equal /stats', async () => {
    await step(page, 'daemon-live', async () => {
      await page.goto(`http://127.0.0.1:${dashPort}/`)
      expect(page.url()).toBe(`http://127.0.0.1:${dashPort}/dashboard/`)
      await poll(async () => (await state(page)) === 'live', 'the page to go live', 20_000)
      expect(await page.locator('#title').innerText()).toMatch(/^tavern \d+\.\d+\.\d+/)
    })
    await step(page, 'daemon-numbers-move', async () => {
      const driving = drive(5000)
      const seen: number[] = []
      await poll(
        async () => {
          const total = (await value(page, 'requests-total')) ?? 0
          if (seen.length === 0 || total > seen[seen.length - 1]!) seen.push(total)
          return seen.length >= 4
        },
        'the request total to rise at least three times while requests flow',
        20_000,
      )
      const sent = await driving
      expect(sent).toBeGreaterThan(50)
      // Traffic is over: the page's total settles on what /stats says.
      const stats = JSON.parse((await d.admin('/stats')).text) as TopSnapshot
      expect(stats.requests.total).toBe(sent)
      await poll(async () => (await value(page, 'requests-total')) === stats.requests.total, `the page's total to reach ${stats.requests.total}`, 10_000)
      expect(await text(page, 'requests-total')).toBe(formatCount(stats.requests.total))
      expect(await text(page, 'hit-ratio-total')).toBe(formatPercent(stats.requests.hitRatio))
      expect(await text(page, 'bytes-out-total')).toBe(formatBytes(stats.requests.bytesOut))
      for (const o of ['hit', 'miss', 'error'] as const) {
        expect(await page.locator(`#outcomes tr[data-outcome="${o}"] td`).first().innerText(), o).toBe(formatCount(stats.requests.byOutcome[o]))
      }
      const up = await page.locator('#upstreams tbody tr').first().innerText()
      expect(up).toContain(origin.url)
      // The origin answered 503s on /boom, so its breaker may have opened: the page says what /stats says.
      expect(up).toContain(stats.upstreams[0]!.healthy ? 'healthy' : 'down')
      expect(await page.locator('#top-keys tbody tr').count()).toBeGreaterThan(3)
    })
  }, 90_000)

  it('says "stale" when the daemon stops, and recovers when it is started again', async () => {
    await step(page, 'daemon-stale', async () => {
      expect(await d.stop()).toBe(0)
      await poll(async () => (await state(page)) === 'stale', 'the page to turn stale', 15_000)
      expect(await page.locator('#conn').innerText()).toBe('stale')
    })
    await step(page, 'daemon-back', async () => {
      d = await start()
      await poll(async () => (await state(page)) === 'live' && (await page.locator('#stale').isHidden()), 'the page to recover', 30_000)
      // A new process: its counters start again.
      await drive(300, 1)
      const stats = JSON.parse((await d.admin('/stats')).text) as TopSnapshot
      await poll(async () => (await value(page, 'requests-total')) === stats.requests.total, 'the new daemon\'s numbers', 10_000)
    })
  }, 120_000)

  it('had no script errors', () => {
    expect(errors).toEqual([])
  })
})
