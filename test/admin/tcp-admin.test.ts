// The admin API over TCP: a bearer token from an owner-only file, 401 (with WWW-Authenticate) for a missing or wrong
// token, a start-up error for a token file others can read; and the CLI side talking to it through the same
// interface as the Unix socket.
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AdminTokenAuth, bearerToken, readAdminToken, TokenFileError} from '../../src/admin/tcp-auth.js'
import {AdminConfigSchema, type AdminTcpListener, isLoopback, startAdminTcpListener} from '../../src/admin/tcp-listener.js'
import {DaemonUnreachableError} from '../../src/client/admin-client.js'
import {AdminAuthError, AdminTargetError, httpTransport, parseAdminUrl, resolveAdminTransport} from '../../src/client/admin-http.js'

const TOKEN = 'c0ffee'.repeat(8)
let dir: string
let tokenFile: string
let listener: AdminTcpListener
let auth: AdminTokenAuth
const seen: Array<{method: string; url: string; auth: string | undefined}> = []

function writeToken(name: string, content: string, mode: number): string {
  const f = path.join(dir, name)
  fs.writeFileSync(f, content, {mode})
  fs.chmodSync(f, mode)
  return f
}

/** A stand-in for the admin router: JSON for /status, NDJSON for /stream. */
function router(req: http.IncomingMessage, res: http.ServerResponse): void {
  seen.push({method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization})
  if (req.url?.endsWith('/stream')) {
    res.writeHead(200, {'content-type': 'application/x-ndjson'})
    res.write('{"n":1}\n{"n":2}\n')
    res.end('{"n":3}')
    return
  }
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const body = JSON.stringify({ok: true, path: req.url, got: Buffer.concat(chunks).toString() || null})
    res.writeHead(200, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)})
    res.end(body)
  })
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-admin-'))
  tokenFile = writeToken('admin.token', `${TOKEN}\n`, 0o600)
  auth = await AdminTokenAuth.open(tokenFile)
  listener = await startAdminTcpListener({address: '127.0.0.1:0', auth, handler: router})
})
afterAll(async () => {
  await listener?.close()
  fs.rmSync(dir, {recursive: true, force: true})
})

function raw(pathName: string, headers: Record<string, string> = {}): Promise<{status: number; headers: http.IncomingHttpHeaders; body: string}> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port: listener.port, path: pathName, headers, agent: false}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body}))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('token file', () => {
  it('accepts an owner-only regular file and trims the line end', async () => {
    expect(await readAdminToken(tokenFile)).toBe(TOKEN)
    expect(await readAdminToken(writeToken('ro.token', TOKEN, 0o400))).toBe(TOKEN)
  })

  it('refuses group/world-readable files, directories, missing, empty and short tokens, with what to do', async () => {
    const refused = async (f: string) => {
      const e = await readAdminToken(f).then(
        () => undefined,
        (error: unknown) => error,
      )
      expect(e).toBeInstanceOf(TokenFileError)
      return (e as Error).message
    }
    expect(await refused(writeToken('world.token', TOKEN, 0o644))).toMatch(/accessible by others \(mode 0644\).*chmod 600/)
    expect(await refused(writeToken('group.token', TOKEN, 0o640))).toMatch(/mode 0640/)
    expect(await refused(dir)).toMatch(/not a regular file/)
    expect(await refused(path.join(dir, 'missing.token'))).toMatch(/no such file/)
    expect(await refused(writeToken('empty.token', '\n', 0o600))).toMatch(/is empty/)
    expect(await refused(writeToken('short.token', 'abc', 0o600))).toMatch(/too short/)
    expect(await refused(writeToken('space.token', `${TOKEN} x`, 0o600))).toMatch(/whitespace/)
    await expect(AdminTokenAuth.open(path.join(dir, 'world.token'))).rejects.toThrow(TokenFileError)
  })

  it('a symlink to an owner-only file is fine (Kubernetes secrets); to a world-readable one it is refused', async () => {
    const link = path.join(dir, 'link.token')
    fs.symlinkSync(tokenFile, link)
    expect(await readAdminToken(link)).toBe(TOKEN)
    const badLink = path.join(dir, 'badlink.token')
    fs.symlinkSync(path.join(dir, 'world.token'), badLink)
    await expect(readAdminToken(badLink)).rejects.toThrow(/accessible by others/)
  })

  it('reload keeps the current token when the file turns bad, takes a new good one', async () => {
    const f = writeToken('rotating.token', TOKEN, 0o600)
    const a = await AdminTokenAuth.open(f)
    fs.chmodSync(f, 0o644)
    expect(await a.reload()).toMatchObject({ok: false, error: expect.stringMatching(/accessible by others/)})
    expect(a.check(`Bearer ${TOKEN}`)).toBe('ok')
    const next = 'beef'.repeat(10)
    fs.writeFileSync(f, next)
    fs.chmodSync(f, 0o600)
    expect(await a.reload()).toEqual({ok: true})
    expect(a.check(`Bearer ${TOKEN}`)).toBe('invalid')
    expect(a.check(`Bearer ${next}`)).toBe('ok')
  })
})

describe('bearer check', () => {
  it('parses the scheme case-insensitively and nothing else', () => {
    expect(bearerToken(`Bearer ${TOKEN}`)).toBe(TOKEN)
    expect(bearerToken(`bearer  ${TOKEN} `)).toBe(TOKEN)
    expect(bearerToken(`Basic ${TOKEN}`)).toBeUndefined()
    expect(bearerToken('Bearer')).toBeUndefined()
    expect(bearerToken(`Bearer ${TOKEN} extra`)).toBeUndefined()
    expect(auth.check(undefined)).toBe('missing')
    expect(auth.check('Basic x')).toBe('invalid')
    expect(auth.check(`Bearer ${TOKEN}x`)).toBe('invalid')
    expect(auth.check(`Bearer ${TOKEN.slice(0, -1)}`)).toBe('invalid')
    expect(auth.check(`Bearer ${TOKEN}`)).toBe('ok')
  })
})

describe('listener', () => {
  it('no token: 401 with WWW-Authenticate: Bearer, not routed', async () => {
    const before = seen.length
    const r = await raw('/status')
    expect(r.status).toBe(401)
    expect(r.headers['www-authenticate']).toBe('Bearer realm="tavern-admin"')
    expect(JSON.parse(r.body)).toMatchObject({error: {code: 'TAVERN_ERR_ADMIN_UNAUTHORIZED'}})
    expect(seen.length).toBe(before)
  })

  it('a wrong token: 401 with error="invalid_token"', async () => {
    const r = await raw('/status', {authorization: `Bearer ${'0'.repeat(48)}`})
    expect(r.status).toBe(401)
    expect(r.headers['www-authenticate']).toBe('Bearer realm="tavern-admin", error="invalid_token"')
  })

  it('the right token: routed', async () => {
    const r = await raw('/status', {authorization: `Bearer ${TOKEN}`})
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body)).toMatchObject({ok: true, path: '/status'})
  })

  it('config: listen needs tokenFile; loopback detection', () => {
    expect(AdminConfigSchema.safeParse({listen: '127.0.0.1:9091'}).success).toBe(false)
    expect(AdminConfigSchema.parse({listen: ':9091', tokenFile: '/x'})).toEqual({listen: ':9091', tokenFile: '/x'})
    expect(AdminConfigSchema.parse(undefined)).toEqual({})
    expect(isLoopback('127.0.0.1')).toBe(true)
    expect(isLoopback('::1')).toBe(true)
    expect(isLoopback('0.0.0.0')).toBe(false)
    expect(isLoopback('10.0.0.1')).toBe(false)
  })

  it('warns when it listens beyond loopback', async () => {
    const warnings: string[] = []
    const l = await startAdminTcpListener({address: '0.0.0.0:0', auth, handler: router, log: {warn: (_f, m) => warnings.push(m), error: () => {}}})
    expect(warnings.join()).toMatch(/crosses the network in clear/)
    await l.close()
  })
})

describe('CLI transport over TCP', () => {
  it('request and stream, with the token, under a path prefix', async () => {
    const t = httpTransport({url: parseAdminUrl(`http://127.0.0.1:${listener.port}/admin/`), token: TOKEN})
    const r = await t.request<{ok: boolean; path: string; got: string}>('POST', '/purge', {url: 'http://x/'})
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ok: true, path: '/admin/purge', got: '{"url":"http://x/"}'})
    expect(seen.at(-1)!.auth).toBe(`Bearer ${TOKEN}`)
    const lines: unknown[] = []
    const s = t.stream('POST', '/stream', {}, (v) => lines.push(v))
    expect(await s.done).toBe(200)
    expect(lines).toEqual([{n: 1}, {n: 2}, {n: 3}])
  })

  it('resolves --admin / --token-file, then TAVERN_ADMIN_URL / TAVERN_TOKEN_FILE, else the Unix socket', async () => {
    const url = `http://127.0.0.1:${listener.port}`
    const viaFlags = await resolveAdminTransport({admin: url, tokenFile}, () => Promise.reject(new Error('not used')), {})
    expect(viaFlags.target).toBe(`${url}/`)
    expect((await viaFlags.request('GET', '/status')).status).toBe(200)
    const viaEnv = await resolveAdminTransport({}, () => Promise.reject(new Error('not used')), {TAVERN_ADMIN_URL: url, TAVERN_TOKEN_FILE: tokenFile})
    expect((await viaEnv.request('GET', '/status')).status).toBe(200)
    const unix = await resolveAdminTransport({}, () => Promise.resolve('/run/x.sock'), {})
    expect(unix.target).toBe('/run/x.sock')
  })

  it('clear errors: no token file, a world-readable one, a bad URL, a refused token, nobody listening', async () => {
    const url = `http://127.0.0.1:${listener.port}`
    await expect(resolveAdminTransport({admin: url}, () => Promise.resolve(''), {})).rejects.toThrow(/needs --token-file/)
    await expect(resolveAdminTransport({admin: url, tokenFile: path.join(dir, 'world.token')}, () => Promise.resolve(''), {})).rejects.toThrow(AdminTargetError)
    expect(() => parseAdminUrl('ftp://x')).toThrow(/only http/)
    expect(() => parseAdminUrl(`http://u:${TOKEN}@h:1`)).toThrow(/not in the URL/)
    const wrong = httpTransport({url: parseAdminUrl(url), token: 'f'.repeat(40)})
    await expect(wrong.request('GET', '/status')).rejects.toThrow(AdminAuthError)
    const closed = await startAdminTcpListener({address: '127.0.0.1:0', auth, handler: router})
    const port = closed.port
    await closed.close()
    await expect(httpTransport({url: parseAdminUrl(`http://127.0.0.1:${port}`), token: TOKEN}).request('GET', '/status')).rejects.toThrow(DaemonUnreachableError)
  })
})
