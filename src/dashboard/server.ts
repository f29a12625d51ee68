/**
 * The web dashboard's request handler, for whatever listener mounts it (the metrics listener's worker thread, or a
 * `dashboard.listen` listener of its own):
 *
 *   GET  /dashboard            → 308 to /dashboard/
 *   GET  /dashboard/           the page (assets/dashboard/index.html); its script, style and icon beside it
 *   GET  /dashboard/events     Server-Sent Events: one snapshot a second (see sse.ts)
 *   GET  /dashboard/auth       204 when the caller may read the data, 401 when a token is needed
 *   POST /dashboard/login      {token} (JSON or form) → 204 + session cookie, or 401
 *   POST /dashboard/logout     204, clears the cookie
 *
 * The page and its assets are public (they hold no data); the events need the token when one is configured.
 * Without a token only requests whose Host is an IP literal, `localhost` or an allowed name are served (see
 * hostAllowed in auth.ts). Every answer carries a strict Content-Security-Policy: scripts, styles and
 * connections from this origin only, no inline code, no framing.
 */
import {createHash} from 'node:crypto'
import {readdir, readFile} from 'node:fs/promises'
import type {IncomingMessage, ServerResponse} from 'node:http'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {cookieOf, hostAllowed, isAuthorised, MIN_TOKEN_LENGTH, safeEqual, SESSION_COOKIE, sessionCookieValue} from './auth.js'
import type {DashboardSnapshot} from './snapshot.js'
import {type BroadcasterStats, SnapshotBroadcaster} from './sse.js'

export interface DashboardOptions {
  /** One snapshot: what `GET /stats` answers (it is called once per tick, whatever the number of viewers). */
  getSnapshot: () => Promise<DashboardSnapshot> | DashboardSnapshot
  /**
   * Bearer token for the data (at least 16 characters). A function is asked on every request, so a reload can
   * change it; returning undefined means no token is configured.
   */
  token?: string | (() => string | undefined)
  /** Host names (besides IP literals and localhost) served without a token, e.g. behind a reverse proxy (a function: asked per request, so a reload can change them). */
  allowedHosts?: readonly string[] | (() => readonly string[])
  /** URL prefix (default `/dashboard`). */
  basePath?: string
  /** Directory of index.html, dashboard.js, dashboard.css (default: the package's assets/dashboard/). */
  assetsDir?: string
  intervalMs?: number
  heartbeatMs?: number
  retryMs?: number
  snapshotTimeoutMs?: number
  maxClients?: number
  maxBlockedMs?: number
  /** ms clock for session expiry (tests). */
  now?: () => number
  /** Failures worth a log line: snapshots that failed, assets that could not be read, handler errors. */
  onError?: (error: Error) => void
}

export interface DashboardHandler {
  /** Answers the request and returns true when its path is under the dashboard's prefix; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean
  /** Reads the assets (clear error when they are missing); call at start so a broken install fails early. */
  ready(): Promise<void>
  /** Ends the open streams; later stream requests get 503. */
  close(): void
  stats(): BroadcasterStats
  /** Publishes a snapshot now (e.g. after a reload), instead of at the next tick. */
  publishNow(): Promise<void>
}

/** Strict policy: nothing inline, nothing from elsewhere, no framing, forms and fetches to this origin only. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const SECURITY_HEADERS: Record<string, string> = Object.freeze({
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
})

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('../../assets/dashboard/', import.meta.url))
const MAX_LOGIN_BODY = 4096

interface Asset {
  body: Buffer
  type: string
  etag: string
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

export function createDashboard(opts: DashboardOptions): DashboardHandler {
  const base = (opts.basePath ?? '/dashboard').replace(/\/+$/, '')
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(base) || base === '') throw new Error(`dashboard basePath must be a path like /dashboard, not ${JSON.stringify(opts.basePath)}`)
  if (typeof opts.token === 'string' && opts.token.length < MIN_TOKEN_LENGTH) throw new Error(`dashboard token must be at least ${MIN_TOKEN_LENGTH} characters`)
  const assetsDir = opts.assetsDir ?? DEFAULT_ASSETS_DIR
  const allowedHostsOf = (): readonly string[] => (typeof opts.allowedHosts === 'function' ? opts.allowedHosts() : (opts.allowedHosts ?? []))
  const now = opts.now ?? Date.now
  const onError = opts.onError ?? (() => {})
  const tokenOf = (): string | undefined => {
    const t = typeof opts.token === 'function' ? opts.token() : opts.token
    return t === undefined || t === '' ? undefined : t
  }

  const broadcaster = new SnapshotBroadcaster<DashboardSnapshot>({
    getSnapshot: opts.getSnapshot,
    intervalMs: opts.intervalMs,
    heartbeatMs: opts.heartbeatMs,
    retryMs: opts.retryMs,
    snapshotTimeoutMs: opts.snapshotTimeoutMs,
    maxClients: opts.maxClients,
    maxBlockedMs: opts.maxBlockedMs,
    headers: SECURITY_HEADERS,
    onError,
  })

  let assets: Promise<Map<string, Asset>> | undefined
  const loadAssets = (): Promise<Map<string, Asset>> => {
    assets ??= readAssets(assetsDir).catch((error: unknown) => {
      assets = undefined // try again on the next request: the files may be back
      throw new Error(`dashboard assets missing or unreadable in ${assetsDir}: ${(error as Error).message}`)
    })
    return assets
  }

  const cookiePath = `${base}/`

  async function serve(req: IncomingMessage, res: ServerResponse, sub: string, url: URL): Promise<void> {
    const method = req.method ?? 'GET'
    const token = tokenOf()
    if (token !== undefined && token.length < MIN_TOKEN_LENGTH) throw new HttpProblem(503, 'TAVERN_ERR_DASHBOARD_TOKEN', `the dashboard token is shorter than ${MIN_TOKEN_LENGTH} characters; the dashboard stays closed`)
    if (token === undefined && !hostAllowed(req.headers.host, allowedHostsOf())) {
      throw new HttpProblem(403, 'TAVERN_ERR_DASHBOARD_HOST', `host ${JSON.stringify(req.headers.host ?? '')} is not allowed without a dashboard token (see dashboard.allowedHosts)`)
    }
    switch (sub) {
      case 'events': {
        allow(method, ['GET'])
        requireAuth(req, token)
        broadcaster.attach(req, res, url)
        return
      }
      case 'auth': {
        allow(method, ['GET', 'HEAD'])
        requireAuth(req, token)
        res.writeHead(204, {...SECURITY_HEADERS, 'cache-control': 'no-store'})
        res.end()
        return
      }
      case 'login': {
        allow(method, ['POST'])
        const given = await readLoginToken(req)
        if (token === undefined) {
          res.writeHead(204, {...SECURITY_HEADERS, 'cache-control': 'no-store'})
          res.end()
          return
        }
        if (given === undefined || !safeEqual(given, token)) throw unauthorised('wrong token')
        const c = sessionCookieValue(token, now())
        res.writeHead(204, {
          ...SECURITY_HEADERS,
          'cache-control': 'no-store',
          'set-cookie': `${SESSION_COOKIE}=${c.value}; Path=${cookiePath}; Max-Age=${c.maxAgeSec}; HttpOnly; SameSite=Strict`,
        })
        res.end()
        return
      }
      case 'logout': {
        allow(method, ['POST'])
        const headers: Record<string, string> = {...SECURITY_HEADERS, 'cache-control': 'no-store'}
        if (cookieOf(req, SESSION_COOKIE) !== undefined) headers['set-cookie'] = `${SESSION_COOKIE}=; Path=${cookiePath}; Max-Age=0; HttpOnly; SameSite=Strict`
        res.writeHead(204, headers)
        res.end()
        return
      }
      default: {
        const name = sub === '' ? 'index.html' : sub
        const asset = (await loadAssets()).get(name)
        if (!asset) throw new HttpProblem(404, 'TAVERN_ERR_NOT_FOUND', `no dashboard resource ${JSON.stringify(sub)}`)
        allow(method, ['GET', 'HEAD'])
        sendAsset(req, res, asset)
      }
    }
  }

  function requireAuth(req: IncomingMessage, token: string | undefined): void {
    if (token !== undefined && !isAuthorised(req, token, now())) throw unauthorised('a dashboard token is required')
  }

  return {
    handle(req, res) {
      let url: URL
      try {
        url = new URL(req.url ?? '/', 'http://dashboard.invalid')
      } catch {
        return false
      }
      const p = url.pathname
      if (p !== base && !p.startsWith(`${base}/`)) return false
      if (p === base) {
        const q = url.search
        res.writeHead(308, {...SECURITY_HEADERS, location: `${base}/${q}`, 'content-length': 0})
        res.end()
        return true
      }
      const sub = p.slice(base.length + 1)
      serve(req, res, sub, url).catch((error: unknown) => answerError(res, error, onError))
      return true
    },
    async ready() {
      await loadAssets()
    },
    close() {
      broadcaster.close()
    },
    stats() {
      return broadcaster.stats()
    },
    publishNow() {
      return broadcaster.publishNow()
    },
  }
}

function unauthorised(message: string): HttpProblem {
  return new HttpProblem(401, 'TAVERN_ERR_DASHBOARD_AUTH', message, {'www-authenticate': 'Bearer realm="tavern-dashboard"'})
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) throw new HttpProblem(405, 'TAVERN_ERR_METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${methods.join(' or ')}`, {allow: methods.join(', ')})
}

function sendAsset(req: IncomingMessage, res: ServerResponse, a: Asset): void {
  const headers: Record<string, string | number> = {
    ...SECURITY_HEADERS,
    'content-type': a.type,
    etag: a.etag,
    // Revalidate every time (a 304 is cheap): an upgraded daemon must not keep serving an old script.
    'cache-control': 'no-cache',
  }
  if (etagMatches(req.headers['if-none-match'], a.etag)) {
    res.writeHead(304, headers)
    res.end()
    return
  }
  headers['content-length'] = a.body.length
  res.writeHead(200, headers)
  res.end(req.method === 'HEAD' ? undefined : a.body)
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false
  if (header.trim() === '*') return true
  // Weak comparison (RFC 9110 §13.1.2): W/ prefixes do not matter for If-None-Match.
  const want = etag.replace(/^W\//, '')
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === want)
}

async function readAssets(dir: string): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>()
  const entries = await readdir(dir, {withFileTypes: true})
  // Only plain files with a known type, by exact name: the request path never reaches the file system.
  for (const e of entries) {
    const type = CONTENT_TYPES[path.extname(e.name)]
    if (!e.isFile() || type === undefined) continue
    const body = await readFile(path.join(dir, e.name))
    out.set(e.name, {body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`})
  }
  if (!out.has('index.html')) throw new Error('index.html not found')
  return out
}

async function readLoginToken(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length
    if (size > MAX_LOGIN_BODY) throw new HttpProblem(413, 'TAVERN_ERR_BODY_TOO_LARGE', `login body over ${MAX_LOGIN_BODY} bytes`)
    chunks.push(c)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase()
  if (type === 'application/x-www-form-urlencoded') return new URLSearchParams(text).get('token') ?? undefined
  if (type !== 'application/json') throw new HttpProblem(415, 'TAVERN_ERR_UNSUPPORTED_MEDIA_TYPE', 'send the token as application/json {"token": "…"} or as a form')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new HttpProblem(400, 'TAVERN_ERR_BAD_JSON', 'login body is not valid JSON')
  }
  const t = body !== null && typeof body === 'object' ? (body as {token?: unknown}).token : undefined
  return typeof t === 'string' ? t : undefined
}

function answerError(res: ServerResponse, error: unknown, onError: (error: Error) => void): void {
  const p = error instanceof HttpProblem ? error : new HttpProblem(500, 'TAVERN_ERR_INTERNAL', (error as Error)?.message ?? String(error))
  if (p.status >= 500) onError(error instanceof Error ? error : new Error(String(error)))
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify({error: {code: p.code, message: p.message}})
  res.writeHead(p.status, {...SECURITY_HEADERS, ...p.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store'})
  res.end(body)
}
