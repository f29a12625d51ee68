// Every request Tavern sends to an origin is counted, labelled by why it was sent: the metric, GET /stats and
// `tavern top --once` agree with the origin's own count (issue 19: pass-through and bypass requests were left out,
// so 360 real origin GETs showed as 201).
import net from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, httpRequest, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** `name{a="x",b="y"} 3` lines of one family, as {labels, value}. */
function samples(text: string, name: string): Array<{labels: Record<string, string>; value: number}> {
  const out: Array<{labels: Record<string, string>; value: number}> = []
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const labels: Record<string, string> = {}
    for (const kv of (m[2] ?? '').split(',').filter(Boolean)) {
      const [k, v] = kv.split('=')
      labels[k!] = JSON.parse(v!) as string
    }
    out.push({labels, value: Number(m[3])})
  }
  return out
}

describe('origin request counting', () => {
  let origin: Origin
  let daemon: DaemonHandle
  let metricsPort: number

  beforeAll(async () => {
    origin = await startOrigin()
    metricsPort = await freePort()
    daemon = await startDaemon({upstream: origin.url, args: ['--metrics', `127.0.0.1:${metricsPort}`]})
  }, 30_000)

  afterAll(async () => {
    await daemon?.stop()
    await origin?.close()
  }, 30_000)

  it('counts fills, relays of uncacheable answers, errors and unsafe methods, like the origin does', async () => {
    const cached = uniquePath('cnt-cached')
    const noStore = uniquePath('cnt-nostore')
    const failing = uniquePath('cnt-500')
    const post = uniquePath('cnt-post')
    origin.route(cached, {headers: {'Cache-Control': 'max-age=600'}, body: 'cached'})
    origin.route(noStore, {headers: {'Cache-Control': 'no-store'}, body: 'never stored'})
    origin.route(failing, {status: 500, body: 'boom'})
    origin.route(post, {status: 201, body: 'made'})
    for (let i = 0; i < 10; i++) expect((await daemon.request(cached)).status).toBe(200)
    for (let i = 0; i < 8; i++) expect((await daemon.request(noStore)).status).toBe(200)
    for (let i = 0; i < 4; i++) expect((await daemon.request(failing)).status).toBe(500)
    for (let i = 0; i < 3; i++) expect((await daemon.request(post, {method: 'POST', body: 'x'})).status).toBe(201)
    const sent = origin.requests.length
    expect(sent).toBeGreaterThanOrEqual(1 + 8 + 4 + 3)

    const text = (await httpRequest('/metrics', {host: '127.0.0.1', port: metricsPort})).text
    const rows = samples(text, 'tavern_origin_requests_total')
    const total = rows.reduce((a, r) => a + r.value, 0)
    expect(total).toBe(sent)
    const byReason = (reason: string) => rows.filter((r) => r.labels.reason === reason).reduce((a, r) => a + r.value, 0)
    expect(byReason('pass')).toBe(3)
    expect(rows.filter((r) => r.labels.result === '5xx').reduce((a, r) => a + r.value, 0)).toBe(4)
    // Every sample carries both labels, and only known reasons appear.
    for (const r of rows) {
      expect(['fill', 'revalidate', 'slice', 'pass', 'bypass', 'refresh', 'prefetch']).toContain(r.labels.reason)
      expect(['1xx', '2xx', '3xx', '4xx', '5xx', 'error']).toContain(r.labels.result)
    }

    // GET /stats tells the same story, by reason.
    const stats = JSON.parse((await daemon.admin('/stats')).text) as {origin: {requests: number; byReason: Record<string, number>}}
    expect(stats.origin.requests).toBe(sent)
    expect(Object.values(stats.origin.byReason).reduce((a, n) => a + n, 0)).toBe(sent)
    expect(stats.origin.byReason.pass).toBe(3)

    // And `top` does not hide the origin's 5xx answers behind "0 errors".
    const top = await runCli(['top', '--once', '--socket', daemon.socket])
    expect(top.code).toBe(0)
    expect(top.stdout).toContain(`${sent} total: 4 answered 5xx, 0 without an answer`)
    expect(top.stdout).toMatch(/origin why +fill \d+ .*pass 3/)
  }, 30_000)

  it('counts a request that got no answer (origin down) as an error of its reason', async () => {
    await origin.pause()
    try {
      const p = uniquePath('cnt-down')
      expect((await daemon.request(p)).status).toBe(502)
      expect((await daemon.request(p, {method: 'DELETE'})).status).toBe(502)
      const rows = samples((await httpRequest('/metrics', {host: '127.0.0.1', port: metricsPort})).text, 'tavern_origin_requests_total')
      const errors = (reason: string) => rows.find((r) => r.labels.reason === reason && r.labels.result === 'error')?.value ?? 0
      expect(errors('fill')).toBeGreaterThanOrEqual(1)
      expect(errors('pass')).toBe(1)
    } finally {
      await origin.resume()
    }
  }, 30_000)
})
