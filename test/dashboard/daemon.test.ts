/**
 * The web dashboard in the built daemon (served by the metrics worker thread): on the metrics listener and on its
 * own, with and without a token, live snapshots while requests flow, slow readers, reload of the token file and of
 * the listener keys, and start-up refusals that name the key.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import type {TopSnapshot} from '../../src/admin/protocol.js'
import {type DaemonHandle, httpRequest, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {openSse, type SseConnection} from '../helpers/sse-client.js'

const TOKEN = 'e2e-dashboard-token-0123456789abcdef'

async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

function writeToken(dir: string, token: string, mode = 0o600): string {
  const file = path.join(dir, `token-${Math.random().toString(36).slice(2)}`)
  fs.writeFileSync(file, `${token}\n`, {mode})
  fs.chmodSync(file, mode)
  return file
}

function snapshotsOf(c: SseConnection): TopSnapshot[] {
  return c.events.filter((e) => e.event === 'snapshot').map((e) => JSON.parse(e.data) as TopSnapshot)
}

/** Starts a daemon from a config file of ours (so a test can rewrite it and reload). */
async function daemonWith(origin: Origin, dashboard: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{d: DaemonHandle; file: string; config: Record<string, unknown>}> {
  const dir = makeTempDir('tavern-dash-')
  const file = path.join(dir, 'tavern.json')
  const config = {dashboard, ...extra}
  fs.writeFileSync(file, JSON.stringify(config))
  const d = await startDaemon({upstream: origin.url, args: ['--config', file]})
  return {d, file, config}
}

describe('dashboard in the daemon', () => {
  it('is served on /dashboard/ of the metrics listener; without a token only to allowed Hosts', async () => {
    const origin = await startOrigin()
    const metricsPort = await freePort()
    const {d} = await daemonWith(origin, {enabled: true, allowedHosts: ['dash.example']}, {metrics: {listen: `127.0.0.1:${metricsPort}`}})
    try {
      const page = await httpRequest('/dashboard/', {port: metricsPort})
      expect(page.status).toBe(200)
      expect(page.header('content-type')).toBe('text/html; charset=utf-8')
      expect(page.header('content-security-policy')).toContain("default-src 'none'")
      expect(page.text).toContain('dashboard.js')
      expect((await httpRequest('/dashboard', {port: metricsPort})).header('location')).toBe('/dashboard/')
      // Prometheus is still there, beside it.
      expect((await httpRequest('/metrics', {port: metricsPort})).text).toMatch(/^tavern_/m)
      // No token: IP literals, localhost and allowedHosts only (DNS rebinding).
      expect((await httpRequest('/dashboard/auth', {port: metricsPort})).status).toBe(204)
      expect((await httpRequest('/dashboard/auth', {port: metricsPort, headers: {host: 'dash.example'}})).status).toBe(204)
      const other = await httpRequest('/dashboard/auth', {port: metricsPort, headers: {host: 'evil.example'}})
      expect(other.status).toBe(403)
      expect(JSON.parse(other.text).error.code).toBe('TAVERN_ERR_DASHBOARD_HOST')
      // The data plane does not serve it.
      origin.route('/dashboard/', {status: 404, body: 'origin'})
      expect((await d.request('/dashboard/')).text).toBe('origin')
    } finally {
      await d.stop()
      await origin.close()
    }
  }, 60_000)

  it('streams live snapshots on its own listener with a token, agreeing with GET /stats', async () => {
    const origin = await startOrigin()
    const dir = makeTempDir('tavern-dash-')
    const port = await freePort()
    const {d} = await daemonWith(origin, {enabled: true, listen: `127.0.0.1:${port}`, tokenFile: writeToken(dir, TOKEN)})
    const base = `http://127.0.0.1:${port}`
    let sse: SseConnection | undefined
    try {
      expect((await httpRequest('/', {port})).header('location')).toBe('/dashboard/')
      // The page is public; the data is not.
      expect((await httpRequest('/dashboard/', {port})).status).toBe(200)
      const refused = await httpRequest('/dashboard/events', {port})
      expect(refused.status).toBe(401)
      expect(JSON.parse(refused.text).error.code).toBe('TAVERN_ERR_DASHBOARD_AUTH')
      expect((await httpRequest('/dashboard/events', {port, headers: {authorization: 'Bearer wrong-token-wrong-token-wrong'}})).status).toBe(401)

      // A browser signs in and gets a cookie that opens the stream.
      const login = await httpRequest('/dashboard/login', {port, method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({token: TOKEN})})
      expect(login.status).toBe(204)
      const cookie = login.header('set-cookie')!.split(';', 1)[0]!
      expect((await httpRequest('/dashboard/auth', {port, headers: {cookie}})).status).toBe(204)

      sse = await openSse(`${base}/dashboard/events`, {authorization: `Bearer ${TOKEN}`})
      expect(sse.status).toBe(200)
      expect(sse.headers['content-type']).toBe('text/event-stream; charset=utf-8')
      await sse.waitFor(() => snapshotsOf(sse!).length >= 1, 10_000, 'the first snapshot')
      const first = snapshotsOf(sse)[0]!
      expect(first.pid).toBe(d.pid)
      expect(first.listeners).toEqual([d.host])

      // Requests flow: the totals in the stream move with them.
      for (let i = 0; i < 5; i++) origin.route(`/live/${i}`, {headers: {'cache-control': 'max-age=600'}, body: `body ${i}`})
      let sent = 0
      const until = Date.now() + 3500
      while (Date.now() < until) {
        const r = await d.request(`/live/${sent % 5}`)
        expect(r.status).toBe(200)
        sent++
      }
      const totals = await sse.waitFor(
        () => {
          const t = snapshotsOf(sse!).map((s) => s.requests.total)
          return t[t.length - 1]! >= sent && new Set(t).size >= 3 && t
        },
        10_000,
        `snapshots counting all ${sent} requests, with at least three different totals`,
      )
      // Monotonic, and the ids are the sequence.
      expect([...totals].sort((a, b) => a - b)).toEqual(totals)
      const ids = sse.events.filter((e) => e.event === 'snapshot').map((e) => Number(e.id))
      expect(ids).toEqual(ids.map((_, i) => ids[0]! + i))
      // The same figures as GET /stats once traffic is over.
      const stats = JSON.parse((await d.admin('/stats')).text) as TopSnapshot
      const last = snapshotsOf(sse).at(-1)!
      expect(last.requests.total).toBe(stats.requests.total)
      expect(last.requests.byOutcome).toEqual(stats.requests.byOutcome)
      expect(last.upstreams.map((u) => u.url)).toEqual(stats.upstreams.map((u) => u.url))
      expect(last.upstreams[0]).toMatchObject({healthy: true, url: origin.url})
      expect(last.topKeys.byRequests.map((k) => k.key)).toContain(`http://${d.host}/live/0`)
      // Not served on the data plane's port.
      expect((await d.request('/dashboard/events')).status).not.toBe(200)
    } finally {
      sse?.close()
      await d.stop()
      await origin.close()
    }
  }, 60_000)

  it('readers that do not read hold neither the stream of others nor the data plane up', async () => {
    const origin = await startOrigin()
    const port = await freePort()
    const {d} = await daemonWith(origin, {enabled: true, listen: `127.0.0.1:${port}`})
    const stalled: net.Socket[] = []
    let reader: SseConnection | undefined
    try {
      // Ten clients that open the stream and never read a byte of it.
      for (let i = 0; i < 10; i++) {
        const s = net.connect(port, '127.0.0.1')
        s.on('error', () => {})
        await new Promise<void>((r) => s.once('connect', () => r()))
        s.write(`GET /dashboard/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`)
        s.pause()
        stalled.push(s)
      }
      reader = await openSse(`http://127.0.0.1:${port}/dashboard/events`)
      await reader.waitFor(() => snapshotsOf(reader!).length >= 1, 10_000, 'a snapshot for the reading client')
      const p = uniquePath('slow')
      origin.route(p, {headers: {'cache-control': 'max-age=600'}, body: Buffer.alloc(4096, 120)})
      const done: number[] = []
      const worker = async (): Promise<void> => {
        for (let i = 0; i < 60; i++) done.push((await d.request(p, {timeoutMs: 5000})).status)
      }
      await Promise.all([worker(), worker(), worker(), worker()])
      expect(done).toHaveLength(240)
      expect(done.every((s) => s === 200)).toBe(true)
      const before = snapshotsOf(reader).length
      await reader.waitFor(() => snapshotsOf(reader!).length >= before + 2 && snapshotsOf(reader!).at(-1)!.requests.total >= 240, 10_000, 'the reading client to keep getting snapshots')
    } finally {
      for (const s of stalled) s.destroy()
      reader?.close()
      await d.stop()
      await origin.close()
    }
  }, 60_000)

  it('reload re-reads the token file (the old token stops working), refuses an unusable one, and reports listener keys as restart-only', async () => {
    const origin = await startOrigin()
    const dir = makeTempDir('tavern-dash-')
    const port = await freePort()
    const tokenFile = writeToken(dir, TOKEN)
    const dashboard = {enabled: true, listen: `127.0.0.1:${port}`, tokenFile}
    const {d, file, config} = await daemonWith(origin, dashboard)
    const auth = (token: string): Promise<number> => httpRequest('/dashboard/auth', {port, headers: {authorization: `Bearer ${token}`}}).then((r) => r.status)
    try {
      expect(await auth(TOKEN)).toBe(204)
      const login = await httpRequest('/dashboard/login', {port, method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({token: TOKEN})})
      const cookie = login.header('set-cookie')!.split(';', 1)[0]!
      expect((await httpRequest('/dashboard/auth', {port, headers: {cookie}})).status).toBe(204)
      const NEW = 'e2e-dashboard-second-token-abcdef0123'
      fs.writeFileSync(tokenFile, `${NEW}\n`)
      const ok = await runCli(['reload', '--socket', d.socket])
      expect(ok.code, ok.stderr).toBe(0)
      expect(await auth(NEW)).toBe(204)
      expect(await auth(TOKEN)).toBe(401)
      // The browser session of the old token ends with it.
      expect((await httpRequest('/dashboard/auth', {port, headers: {cookie}})).status).toBe(401)

      // Too short: the reload is refused naming the key, and the running token stays.
      fs.writeFileSync(tokenFile, 'short\n')
      const bad = await runCli(['reload', '--socket', d.socket])
      expect(bad.code).toBe(1)
      expect(bad.stderr).toContain('dashboard.tokenFile')
      expect(bad.stderr).toContain('too short')
      expect(await auth(NEW)).toBe(204)

      // A new listen address needs a restart: said so, and the running listener keeps serving.
      fs.writeFileSync(tokenFile, `${NEW}\n`)
      const other = await freePort()
      fs.writeFileSync(file, JSON.stringify({...config, dashboard: {...dashboard, listen: `127.0.0.1:${other}`}}))
      const moved = await runCli(['reload', '--json', '--socket', d.socket])
      expect(moved.code, moved.stderr).toBe(0)
      expect(JSON.parse(moved.stdout).restartRequired).toEqual(['dashboard.listen'])
      expect(await auth(NEW)).toBe(204)
    } finally {
      await d.stop()
      await origin.close()
    }
  }, 60_000)

  it('refuses to start with an unusable token file or no listener, naming the key', async () => {
    const dir = makeTempDir('tavern-dash-')
    const port = await freePort()
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{dashboard: {enabled: true, listen: `127.0.0.1:${port}`, tokenFile: path.join(dir, 'missing')}}, /dashboard\.tokenFile: cannot read .*missing: no such file/],
      [{dashboard: {enabled: true, listen: `127.0.0.1:${port}`, tokenFile: writeToken(dir, 'abc')}}, /dashboard\.tokenFile: the dashboard token in .* is too short/],
      [{dashboard: {enabled: true, listen: `127.0.0.1:${port}`, tokenFile: writeToken(dir, TOKEN, 0o644)}}, /dashboard\.tokenFile: .* is accessible by others \(mode 0644\)/],
      [{dashboard: {enabled: true}}, /dashboard\.enabled: the dashboard needs a listener/],
      [{dashboard: {enabled: true, listen: `0.0.0.0:${port}`}}, /dashboard\.listen: dashboard\.listen 0\.0\.0\.0:\d+ is not a loopback address/],
      [{dashboard: {enabled: true, listen: 'nope'}}, /dashboard\.listen: expected HOST:PORT/],
    ]
    for (const [config, want] of cases) {
      const file = path.join(dir, `c-${Math.random().toString(36).slice(2)}.json`)
      fs.writeFileSync(file, JSON.stringify(config))
      const r = await runCli(['serve', '--config', file, '--listen', '127.0.0.1:0', '--upstream', 'http://127.0.0.1:9', '--storage', path.join(dir, 'st'), '--socket', path.join(dir, 'a.sock')], {timeoutMs: 20_000})
      expect(r.code, `${JSON.stringify(config)}\n${r.stdout}${r.stderr}`).not.toBe(0)
      expect(`${r.stdout}${r.stderr}`).toMatch(want)
    }
    // `tavern config check` finds the cross-key problem too.
    const file = path.join(dir, 'check.json')
    fs.writeFileSync(file, JSON.stringify({dashboard: {enabled: true}}))
    const check = await runCli(['config', 'check', '--config', file])
    expect(check.code).not.toBe(0)
    expect(`${check.stdout}${check.stderr}`).toContain('dashboard.enabled')
    // ... and an unusable token file (the same check serve makes).
    fs.writeFileSync(file, JSON.stringify({dashboard: {enabled: true, listen: `127.0.0.1:${port}`, tokenFile: writeToken(dir, 'short')}}))
    const token = await runCli(['config', 'check', '--config', file, '--upstream', 'http://127.0.0.1:9', '--storage', path.join(dir, 'st2')])
    expect(token.code).toBe(2)
    expect(`${token.stdout}${token.stderr}`).toMatch(/dashboard\.tokenFile: the dashboard token in .* is too short/)
  }, 120_000)

  it('a dashboard listener whose port is taken refuses the start with a clear error', async () => {
    const blocker = net.createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    const port = (blocker.address() as net.AddressInfo).port
    const dir = makeTempDir('tavern-dash-')
    try {
      const file = path.join(dir, 'c.json')
      fs.writeFileSync(file, JSON.stringify({dashboard: {enabled: true, listen: `127.0.0.1:${port}`}}))
      const r = await runCli(['serve', '--config', file, '--listen', '127.0.0.1:0', '--upstream', 'http://127.0.0.1:9', '--storage', path.join(dir, 'st'), '--socket', path.join(dir, 'a.sock')], {timeoutMs: 20_000})
      expect(r.code).not.toBe(0)
      expect(`${r.stdout}${r.stderr}`).toMatch(new RegExp(`dashboard listener on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`))
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()))
    }
  }, 60_000)
})
