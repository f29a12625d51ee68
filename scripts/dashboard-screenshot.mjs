#!/usr/bin/env node
// Screenshot of the web dashboard with live traffic, for the docs (docs/dashboard.png): the test harness
// (test/helpers/dashboard-harness.ts: real Stats, a real caching proxy and origin, the dashboard handler) is driven for
// a while, then headless Chromium takes the picture.
//
//   node scripts/dashboard-screenshot.mjs [--out docs/dashboard.png] [--width 1280] [--height 800] [--dark]
//        [--seconds 20] [--full] [--chromium /usr/bin/chromium]
import {mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {chromium} from 'playwright-core'
import {tsImport} from 'tsx/esm/api'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback
}
const out = path.resolve(opt('out', path.join(root, 'docs/dashboard.png')))
const width = Number(opt('width', '1280'))
const height = Number(opt('height', '800'))
const seconds = Math.min(60, Number(opt('seconds', '20')))
const executablePath = opt('chromium', process.env.TAVERN_CHROMIUM ?? '/usr/bin/chromium')
const dark = argv.includes('--dark')
const fullPage = argv.includes('--full')

const {startDashboardHarness} = await tsImport('../test/helpers/dashboard-harness.ts', import.meta.url)
const h = await startDashboardHarness()
// Sample breaker state and sites, so the picture shows those panels as they will look once the features land.
h.extras.breakers = {origin: {state: 'closed'}}
h.extras.sites = [
  {name: 'www.example.com', requestsPerSec: 0, hitRatio: null, bytesOutPerSec: 0, errorsPerSec: 0},
  {name: 'img.example.com', requestsPerSec: 0, hitRatio: null, bytesOutPerSec: 0, errorsPerSec: 0},
]
const profile = mkdtempSync(path.join(tmpdir(), 'tavern-shot-'))
let context
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: {width, height},
    colorScheme: dark ? 'dark' : 'light',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  const page = await context.newPage()
  await page.goto(h.dashboardUrl)
  // Traffic in waves so the charts have some shape; the sites follow the live rates.
  const end = Date.now() + seconds * 1000
  let wave = 0
  while (Date.now() < end) {
    wave++
    await h.drive({durationMs: 1500, concurrency: 1 + (wave % 4)})
    const s = h.stats.snapshot()
    h.extras.sites = [
      {name: 'www.example.com', requestsPerSec: s.rates.requestsPerSec * 0.7, hitRatio: s.rates.hitRatio, bytesOutPerSec: s.rates.bytesOutPerSec * 0.6, errorsPerSec: 0.2},
      {name: 'img.example.com', requestsPerSec: s.rates.requestsPerSec * 0.3, hitRatio: s.rates.hitRatio === null ? null : Math.min(1, s.rates.hitRatio * 1.05), bytesOutPerSec: s.rates.bytesOutPerSec * 0.4, errorsPerSec: 0},
    ]
    await new Promise((r) => setTimeout(r, 400 * (wave % 3)))
  }
  await page.waitForFunction(() => document.body.dataset.state === 'live', undefined, {timeout: 10_000})
  await page.screenshot({path: out, fullPage})
  console.log(`wrote ${path.relative(process.cwd(), out)} (${Math.round(statSync(out).size / 1024)} KiB, ${width}×${height}${dark ? ', dark' : ''})`)
} finally {
  await context?.close()
  await h.close()
  rmSync(profile, {recursive: true, force: true})
}
