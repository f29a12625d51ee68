import {readFileSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {fileURLToPath} from 'node:url'

import {afterEach, describe, expect, it} from 'vitest'

import {SESSION_LIFETIME_SEC} from '../../src/dashboard/auth.js'
import {CONTENT_SECURITY_POLICY, createDashboard, type DashboardHandler, type DashboardOptions} from '../../src/dashboard/server.js'
import {Stats} from '../../src/stats/recorder.js'
import {openSse} from '../helpers/sse-client.js'

const TOKEN = 'correct-horse-battery-staple-42'
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

async function mount(opts: Partial<DashboardOptions> = {}): Promise<{base: string; port: number; d: DashboardHandler; handled: string[]; notHandled: string[]}> {
  const stats = new Stats()
  const d = createDashboard({getSnapshot: () => ({...stats.snapshot(), version: 't', pid: 1, listeners: []}), ...opts})
  const handled: string[] = []
  const notHandled: string[] = []
  const server = http.createServer((req, res) => {
    if (d.handle(req, res)) {
      handled.push(req.url ?? '')
      return
    }
    notHandled.push(req.url ?? '')
    res.writeHead(404, {'content-type': 'text/plain'})
    res.end('outside\n')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  cleanups.push(async () => {
    d.close()
    server.closeAllConnections()
    await new Promise<void>((r) => server.close(() => r()))
  })
  return {base: `http://127.0.0.1:${port}`, port, d, handled, notHandled}
}

/** A request with full control of Host and the raw path (fetch normalises both). */
function raw(port: number, path: string, opts: {method?: string; headers?: Record<string, string>; body?: string} = {}): Promise<{status: number; headers: http.IncomingHttpHeaders; body: string}> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: {host: `127.0.0.1:${port}`, ...opts.headers}}, (res) => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8')}))
      // An SSE answer never ends by itself: the head is all a test of the status needs.
      if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        resolve({status: res.statusCode ?? 0, headers: res.headers, body: ''})
        req.destroy()
      }
    })
    req.on('error', (e) => (e.message === 'socket hang up' ? undefined : reject(e)))
    req.end(opts.body)
  })
}

const ASSETS = fileURLToPath(new URL('../../assets/dashboard/', import.meta.url))

describe('dashboard page and assets', () => {
  it('redirects /dashboard to /dashboard/ and serves the page with a strict CSP and revalidation', async () => {
    const {port} = await mount()
    const r = await raw(port, '/dashboard?x=1')
    expect(r.status).toBe(308)
    expect(r.headers.location).toBe('/dashboard/?x=1')
    const page = await raw(port, '/dashboard/')
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY)
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|\*/)
    expect(page.headers['x-content-type-options']).toBe('nosniff')
    expect(page.headers['x-frame-options']).toBe('DENY')
    expect(page.headers['referrer-policy']).toBe('no-referrer')
    expect(page.headers['cache-control']).toBe('no-cache')
    expect(page.headers.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/)
    expect(Number(page.headers['content-length'])).toBe(Buffer.byteLength(page.body))
    expect(page.body).toContain('<script type="module" src="dashboard.js"></script>')
  })

  it('has nothing inline that the CSP would block (no inline script or style, no style attributes, no handlers)', () => {
    const html = readFileSync(`${ASSETS}index.html`, 'utf8')
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    expect(html).not.toMatch(/<style\b/)
    expect(html).not.toMatch(/\sstyle=/)
    expect(html).not.toMatch(/\son[a-z]+=/)
    const js = readFileSync(`${ASSETS}dashboard.js`, 'utf8')
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|setAttribute\('style'/)
  })

  it('serves the script, style and icon with their content types, 304 on a matching ETag, HEAD without a body', async () => {
    const {port} = await mount()
    const types: Record<string, string> = {
      'dashboard.js': 'text/javascript; charset=utf-8',
      'dashboard.css': 'text/css; charset=utf-8',
      'favicon.svg': 'image/svg+xml',
    }
    for (const [name, type] of Object.entries(types)) {
      const r = await raw(port, `/dashboard/${name}`)
      expect(r.status, name).toBe(200)
      expect(r.headers['content-type'], name).toBe(type)
      expect(r.body, name).toBe(readFileSync(`${ASSETS}${name}`, 'utf8'))
      const again = await raw(port, `/dashboard/${name}`, {headers: {'if-none-match': `W/${r.headers.etag}, "other"`}})
      expect(again.status, name).toBe(304)
      expect(again.body).toBe('')
    }
    const head = await raw(port, '/dashboard/dashboard.js', {method: 'HEAD'})
    expect(head.status).toBe(200)
    expect(Number(head.headers['content-length'])).toBe(readFileSync(`${ASSETS}dashboard.js`).length)
    expect(head.body).toBe('')
  })

  it('answers only its own paths: unknown names 404, traversal never reaches the disk, other paths are left to the caller', async () => {
    const {port, notHandled} = await mount()
    for (const p of ['/dashboard/nope.js', '/dashboard/tsconfig.json', '/dashboard/..%2fpackage.json', '/dashboard/%2e%2e%2fpackage.json', '/dashboard/sub/index.html']) {
      const r = await raw(port, p)
      expect(r.status, p).toBe(404)
      expect(JSON.parse(r.body).error.code, p).toBe('TAVERN_ERR_NOT_FOUND')
    }
    // These normalise out of the prefix (WHATWG URL parsing), so the dashboard does not claim them.
    for (const p of ['/dashboard/../package.json', '/dashboard/%2e%2e/package.json', '/metrics', '/dashboardx', '/']) {
      const r = await raw(port, p)
      expect(r.body, p).toBe('outside\n')
    }
    expect(notHandled).toEqual(['/dashboard/../package.json', '/dashboard/%2e%2e/package.json', '/metrics', '/dashboardx', '/'])
  })

  it('refuses other methods with 405 and Allow', async () => {
    const {port} = await mount()
    const r = await raw(port, '/dashboard/', {method: 'POST'})
    expect(r.status).toBe(405)
    expect(r.headers.allow).toBe('GET, HEAD')
    const e = await raw(port, '/dashboard/events', {method: 'POST'})
    expect(e.status).toBe(405)
    expect(e.headers.allow).toBe('GET')
  })

  it('serves under another prefix too', async () => {
    const {port} = await mount({basePath: '/ops/dash/'})
    expect((await raw(port, '/ops/dash/')).status).toBe(200)
    expect((await raw(port, '/dashboard/')).body).toBe('outside\n')
  })

  it('fails clearly when the assets are missing', async () => {
    const missing = '/nonexistent/tavern-assets/'
    const errors: string[] = []
    const {port, d} = await mount({assetsDir: missing, onError: (e) => errors.push(e.message)})
    await expect(d.ready()).rejects.toThrow(`dashboard assets missing or unreadable in ${missing}`)
    const r = await raw(port, '/dashboard/')
    expect(r.status).toBe(500)
    expect(JSON.parse(r.body).error.code).toBe('TAVERN_ERR_INTERNAL')
    expect(errors.some((m) => m.includes('dashboard assets missing'))).toBe(true)
  })
})

describe('dashboard access', () => {
  it('without a token, serves only Host names a DNS-rebinding page cannot use', async () => {
    const {port} = await mount({allowedHosts: ['dash.internal']})
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'dash.internal', 'DASH.internal:80', 'tavern.localhost']) {
      expect((await raw(port, '/dashboard/', {headers: {host}})).status, host).toBe(200)
    }
    for (const host of ['evil.example', `evil.example:${port}`, 'dash.internal.evil.example']) {
      const r = await raw(port, '/dashboard/events', {headers: {host}})
      expect(r.status, host).toBe(403)
      expect(JSON.parse(r.body).error.code).toBe('TAVERN_ERR_DASHBOARD_HOST')
    }
  })

  it('with a token: the page is public, the data needs the bearer token or a session cookie', async () => {
    const {port} = await mount({token: TOKEN})
    expect((await raw(port, '/dashboard/')).status).toBe(200)
    const anon = await raw(port, '/dashboard/events')
    expect(anon.status).toBe(401)
    expect(anon.headers['www-authenticate']).toBe('Bearer realm="tavern-dashboard"')
    expect(JSON.parse(anon.body).error.code).toBe('TAVERN_ERR_DASHBOARD_AUTH')
    expect((await raw(port, '/dashboard/events', {headers: {authorization: 'Bearer wrong-token-of-some-length'}})).status).toBe(401)
    expect((await raw(port, '/dashboard/events', {headers: {authorization: `Basic ${TOKEN}`}})).status).toBe(401)
    const ok = await raw(port, '/dashboard/events', {headers: {authorization: `Bearer ${TOKEN}`}})
    expect(ok.status).toBe(200)
    expect(ok.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect((await raw(port, '/dashboard/auth')).status).toBe(401)
    expect((await raw(port, '/dashboard/auth', {headers: {authorization: `Bearer ${TOKEN}`}})).status).toBe(204)
    // The token replaces the Host check: a reverse proxy's name works.
    expect((await raw(port, '/dashboard/auth', {headers: {host: 'tavern.example.net', authorization: `Bearer ${TOKEN}`}})).status).toBe(204)
  })

  it('login trades the token for an HttpOnly SameSite=Strict cookie that opens the stream; forged or expired cookies do not', async () => {
    let clock = Date.now()
    const {port, base} = await mount({token: TOKEN, now: () => clock})
    const wrong = await raw(port, '/dashboard/login', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({token: 'not-the-token-at-all'})})
    expect(wrong.status).toBe(401)
    expect(wrong.headers['set-cookie']).toBeUndefined()

    const login = await raw(port, '/dashboard/login', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({token: TOKEN})})
    expect(login.status).toBe(204)
    const setCookie = login.headers['set-cookie']![0]!
    expect(setCookie).toMatch(/^tavern_dashboard=v1\.\d+\.[A-Za-z0-9_-]{43}; Path=\/dashboard\/; Max-Age=43200; HttpOnly; SameSite=Strict$/)
    expect(setCookie).not.toContain(TOKEN)
    const cookie = setCookie.split(';', 1)[0]!

    const stream = await openSse(`${base}/dashboard/events`, {cookie, host: `127.0.0.1:${port}`})
    cleanups.push(() => stream.close())
    expect(stream.status).toBe(200)
    await stream.waitFor(() => stream.events[0], 5000, 'a snapshot over the cookie')
    expect((JSON.parse(stream.events[0]!.data) as {version: string}).version).toBe('t')

    const form = await raw(port, '/dashboard/login', {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: `token=${encodeURIComponent(TOKEN)}`})
    expect(form.status).toBe(204)

    const [name, value] = cookie.split('=') as [string, string]
    const sig = value.slice(-43)
    const forged = `${name}=${value.slice(0, -43)}${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`
    expect((await raw(port, '/dashboard/auth', {headers: {cookie: forged}})).status).toBe(401)
    // A longer expiry than we issue is not ours even with a plausible shape.
    const stretched = value.replace(/^v1\.(\d+)/, (_m, e: string) => `v1.${Number(e) + 10}`)
    expect((await raw(port, '/dashboard/auth', {headers: {cookie: `${name}=${stretched}`}})).status).toBe(401)
    expect((await raw(port, '/dashboard/auth', {headers: {cookie}})).status).toBe(204)
    clock += (SESSION_LIFETIME_SEC + 1) * 1000
    expect((await raw(port, '/dashboard/auth', {headers: {cookie}})).status).toBe(401)
  })

  it('a changed token ends the sessions of the old one; logout clears the cookie', async () => {
    let token = TOKEN
    const {port} = await mount({token: () => token})
    const login = await raw(port, '/dashboard/login', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({token: TOKEN})})
    const cookie = login.headers['set-cookie']![0]!.split(';', 1)[0]!
    expect((await raw(port, '/dashboard/auth', {headers: {cookie}})).status).toBe(204)
    const out = await raw(port, '/dashboard/logout', {method: 'POST', headers: {cookie}})
    expect(out.status).toBe(204)
    expect(out.headers['set-cookie']![0]).toBe('tavern_dashboard=; Path=/dashboard/; Max-Age=0; HttpOnly; SameSite=Strict')
    token = 'a-completely-different-token'
    expect((await raw(port, '/dashboard/auth', {headers: {cookie}})).status).toBe(401)
    expect((await raw(port, '/dashboard/auth', {headers: {authorization: `Bearer ${TOKEN}`}})).status).toBe(401)
  })

  it('rejects tokens that are too short, oversized or mistyped login bodies', async () => {
    expect(() => createDashboard({getSnapshot: () => new Stats().snapshot() as never, token: 'short'})).toThrow('at least 16 characters')
    let token = 'short'
    const {port} = await mount({token: () => token})
    const r = await raw(port, '/dashboard/auth')
    expect(r.status).toBe(503)
    expect(JSON.parse(r.body).error.code).toBe('TAVERN_ERR_DASHBOARD_TOKEN')
    token = TOKEN
    expect((await raw(port, '/dashboard/login', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({token: 'x'.repeat(5000)})})).status).toBe(413)
    expect((await raw(port, '/dashboard/login', {method: 'POST', headers: {'content-type': 'text/plain'}, body: TOKEN})).status).toBe(415)
    expect((await raw(port, '/dashboard/login', {method: 'POST', headers: {'content-type': 'application/json'}, body: '{'})).status).toBe(400)
  })
})
