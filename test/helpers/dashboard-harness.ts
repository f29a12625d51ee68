/**
 * A stand-in daemon for the web dashboard tests, until the dashboard is mounted in the real one: a tiny caching
 * proxy (node:http) in front of a real origin (test/helpers/origin.ts) that records every request into the REAL
 * Stats recorder, `GET /stats` served by the real admin route handler, and the dashboard handler on a listener of
 * its own that can be stopped and started again on the same port (the daemon going away and coming back).
 *
 *   const h = await startDashboardHarness()
 *   await h.drive({durationMs: 2000})      // real HTTP traffic: hits, misses, 404s and 503s
 *   h.dashboardUrl                          // http://127.0.0.1:PORT/dashboard/
 *   await h.fetchStats()                    // what GET /stats answers now
 *   h.freezeClock()                         // stop the statistics' clock, so every snapshot after it is the same
 *   await h.stopDashboard(); await h.startDashboard()
 */
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {createDashboard, type DashboardHandler, type DashboardOptions} from '../../src/dashboard/server.js'
import type {DashboardSnapshot} from '../../src/dashboard/snapshot.js'
import type {DaemonInfo, TopSnapshot} from '../../src/admin/protocol.js'
import {statsSnapshotHandler} from '../../src/admin/routes/stats.js'
import {Stats} from '../../src/stats/recorder.js'
import type {CacheOutcome} from '../../src/stats/schema.js'
import {type Origin, startOrigin} from './origin.js'

export interface DashboardHarness {
  stats: Stats
  origin: Origin
  /** The caching proxy's base URL. */
  proxyUrl: string
  /** `GET /stats` (the real admin handler). */
  statsUrl: string
  /** http://127.0.0.1:PORT/dashboard/ */
  dashboardUrl: string
  dashboardPort: number
  /** The handler currently mounted (a new one after each startDashboard, like a restarted daemon). */
  dashboard: DashboardHandler | undefined
  /** Extra snapshot fields the tests add (breaker state, sites) until the features that produce them land. */
  extras: Partial<Pick<DashboardSnapshot, 'sites'>> & {breakers?: Record<string, NonNullable<DashboardSnapshot['upstreams'][number]['breaker']>>}
  /** While true the dashboard's snapshot calls never answer (a wedged daemon thread; the listener stays up). */
  hang: boolean
  snapshot(): DashboardSnapshot
  fetchStats(): Promise<TopSnapshot>
  /** Sends real requests for `durationMs` (bounded: at most `maxRequests`), `concurrency` at a time. */
  drive(opts?: {durationMs?: number; concurrency?: number; maxRequests?: number}): Promise<{requests: number}>
  freezeClock(): void
  thawClock(): void
  stopDashboard(): Promise<void>
  startDashboard(): Promise<void>
  close(): Promise<void>
}

export interface HarnessOptions {
  /** Passed to createDashboard (token, intervals…). */
  dashboard?: Omit<DashboardOptions, 'getSnapshot'>
  /** Keys behind the proxy (default 40). */
  keys?: number
}

const INFO: DaemonInfo = {version: '0.0.0-harness', pid: process.pid, listeners: []}

export async function startDashboardHarness(opts: HarnessOptions = {}): Promise<DashboardHarness> {
  let frozenAt: number | undefined
  const now = (): number => frozenAt ?? Date.now()
  const stats = new Stats({now})
  const origin = await startOrigin()
  const keyCount = opts.keys ?? 40
  for (let i = 0; i < keyCount; i++) {
    // Sizes from 200 B to ~60 KiB so bandwidth and the by-bytes ranking differ from the by-requests one.
    const size = 200 + ((i * 7919) % 61_000)
    origin.route(`/k/${i}`, {headers: {'content-type': 'application/octet-stream', 'cache-control': 'max-age=3600'}, body: Buffer.alloc(size, 97 + (i % 26))})
  }
  origin.route('/boom', {status: 503, headers: {'cache-control': 'no-store'}, body: 'down\n'})

  // The "cache": key → body. A miss goes to the origin (a real request), is stored, and later requests hit.
  const cache = new Map<string, Buffer>()
  const agent = new http.Agent({keepAlive: true, maxSockets: 16})
  let originInFlight = 0
  let originFailures = 0
  stats.setStorageProbe(() => {
    let bytes = 0
    for (const b of cache.values()) bytes += b.length
    return {objects: cache.size, diskBytes: bytes, memoryBytes: bytes, memoryObjects: cache.size, evictions: 0, expiredRemoved: 0}
  })
  stats.setUpstreamProbe(() => [{name: 'origin', url: origin.url, healthy: originFailures === 0, inFlight: originInFlight, failures: originFailures}])

  const fetchOrigin = (path: string): Promise<{status: number; body: Buffer; ttfbMs: number}> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now()
      originInFlight++
      const req = http.get(`${origin.url}${path}`, {agent}, (res) => {
        const ttfbMs = performance.now() - t0
        const parts: Buffer[] = []
        res.on('data', (c: Buffer) => parts.push(c))
        res.on('end', () => {
          originInFlight--
          resolve({status: res.statusCode ?? 0, body: Buffer.concat(parts), ttfbMs})
        })
        res.on('error', (e) => {
          originInFlight--
          reject(e)
        })
      })
      req.on('error', (e) => {
        originInFlight--
        reject(e)
      })
    })

  const proxy = http.createServer((req, res) => {
    const t0 = performance.now()
    const path = (req.url ?? '/').split('?', 1)[0]!
    const key = `http://harness${path}`
    let outcome: CacheOutcome = 'miss'
    let bytes = 0
    stats.requestStarted()
    res.once('close', () => stats.requestFinished({outcome, status: res.statusCode, bytesOut: bytes, durationMs: performance.now() - t0, key}))
    const send = (status: number, body: Buffer): void => {
      bytes = body.length
      res.writeHead(status, {'content-type': 'application/octet-stream', 'content-length': body.length})
      res.end(body)
    }
    const hit = cache.get(key)
    if (hit) {
      outcome = 'hit'
      send(200, hit)
      return
    }
    stats.fillStarted()
    fetchOrigin(path).then(
      (r) => {
        stats.originRequest({ttfbMs: r.ttfbMs, bytesIn: r.body.length, status: r.status})
        const storable = r.status === 200
        if (storable) cache.set(key, r.body)
        stats.fillFinished(storable)
        outcome = r.status >= 500 ? 'error' : storable ? 'miss' : 'bypass'
        send(r.status, r.body)
      },
      (error: Error) => {
        originFailures++
        stats.originRequest({ttfbMs: undefined, bytesIn: 0, status: undefined, error: error.message})
        stats.fillFinished(false)
        outcome = 'error'
        send(502, Buffer.from('bad gateway\n'))
      },
    )
  })
  const proxyPort = await listen(proxy, 0)

  const statsHandler = statsSnapshotHandler(stats, () => INFO)
  const admin = http.createServer((req, res) => {
    if ((req.url ?? '').split('?', 1)[0] === '/stats') statsHandler(req, res)
    else {
      res.writeHead(404)
      res.end()
    }
  })
  const adminPort = await listen(admin, 0)

  const h: DashboardHarness = {
    stats,
    origin,
    proxyUrl: `http://127.0.0.1:${proxyPort}`,
    statsUrl: `http://127.0.0.1:${adminPort}/stats`,
    dashboardUrl: '',
    dashboardPort: 0,
    dashboard: undefined,
    extras: {},
    hang: false,
    snapshot() {
      const snap: DashboardSnapshot = {...stats.snapshot(), ...INFO}
      if (h.extras.breakers) {
        const b = h.extras.breakers
        snap.upstreams = snap.upstreams.map((u) => (b[u.name] ? {...u, breaker: b[u.name]} : u))
      }
      if (h.extras.sites) snap.sites = h.extras.sites
      return snap
    },
    async fetchStats() {
      const r = await fetch(h.statsUrl)
      return (await r.json()) as TopSnapshot
    },
    async drive({durationMs = 2000, concurrency = 4, maxRequests = 20_000} = {}) {
      const end = Date.now() + durationMs
      let sent = 0
      let seed = 12345
      const rnd = (): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        return seed / 0x7fffffff
      }
      const pick = (): string => {
        const r = rnd()
        if (r < 0.02) return '/boom'
        if (r < 0.05) return `/missing/${Math.floor(rnd() * 5)}`
        // Skewed: low key numbers much more often, so the top-keys table has a clear order.
        return `/k/${Math.floor(keyCount * rnd() ** 3)}`
      }
      const worker = async (): Promise<void> => {
        while (Date.now() < end && sent < maxRequests) {
          sent++
          const r = await fetch(`${h.proxyUrl}${pick()}`)
          await r.arrayBuffer()
        }
      }
      await Promise.all(Array.from({length: concurrency}, worker))
      return {requests: sent}
    },
    freezeClock() {
      frozenAt = Date.now()
    },
    thawClock() {
      frozenAt = undefined
    },
    async stopDashboard() {
      h.dashboard?.close()
      h.dashboard = undefined
      if (dashServer) {
        const s = dashServer
        dashServer = undefined
        const closed = new Promise<void>((resolve) => s.close(() => resolve()))
        s.closeAllConnections()
        await closed
      }
    },
    async startDashboard() {
      await h.stopDashboard()
      const d = createDashboard({...opts.dashboard, getSnapshot: () => (h.hang ? new Promise<never>(() => {}) : h.snapshot())})
      await d.ready()
      const server = http.createServer((req, res) => {
        if (d.handle(req, res)) return
        res.writeHead(404, {'content-type': 'text/plain'})
        res.end('not found\n')
      })
      h.dashboardPort = await listen(server, h.dashboardPort)
      h.dashboardUrl = `http://127.0.0.1:${h.dashboardPort}/dashboard/`
      h.dashboard = d
      dashServer = server
    },
    async close() {
      await h.stopDashboard()
      for (const s of [proxy, admin]) {
        s.closeAllConnections()
        await new Promise<void>((resolve) => s.close(() => resolve()))
      }
      agent.destroy()
      await origin.close()
    },
  }
  let dashServer: http.Server | undefined
  await h.startDashboard()
  return h
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.on('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      // Keep a listener for the server's whole life: a late socket error must not be unhandled.
      server.on('error', () => {})
      resolve((server.address() as AddressInfo).port)
    })
  })
}
