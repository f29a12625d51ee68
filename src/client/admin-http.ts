/**
 * The CLI's way to the daemon's admin API, over either transport behind one interface:
 * - the Unix socket (default; src/client/admin-client.ts), or
 * - TCP with a bearer token: `--admin http://host:9091 --token-file FILE` (or TAVERN_ADMIN_URL / TAVERN_TOKEN_FILE),
 *   for cron jobs on another host. `https://` works too, for an admin listener behind a TLS terminator.
 *
 *   const t = await resolveAdminTransport({admin: flags.admin, tokenFile: flags['token-file']}, () => this.adminSocket(flags))
 *   const r = await t.request('GET', '/status')
 *   const s = t.stream('POST', '/purge', body, (line) => …)
 */
import http from 'node:http'
import https from 'node:https'

import {readAdminToken, TokenFileError} from '../admin/tcp-auth.js'
import {TavernError} from '../core/errors.js'
import {type AdminReply, adminRequest, adminStream, DaemonUnreachableError} from './admin-client.js'
import type {DownloadTarget} from './admin-download.js'

export type AdminMethod = 'GET' | 'POST' | 'DELETE'

export interface AdminTransport {
  /** Where the daemon is, for messages: the socket path or the URL. */
  readonly target: string
  request<T = unknown>(method: AdminMethod, path: string, body?: unknown, timeoutMs?: number): Promise<AdminReply<T>>
  stream(method: 'GET' | 'POST', path: string, body: unknown, onLine: (value: unknown) => void): {done: Promise<number>; cancel: () => void}
  /** Where adminDownload() sends a download (profiles): the socket path, or the TCP target. */
  readonly download: string | DownloadTarget
}

/** The admin listener refused the token (401). */
export class AdminAuthError extends TavernError {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super('TAVERN_ERR_ADMIN_UNAUTHORIZED', `the tavern admin API at ${url} refused the request: ${reason} (check --token-file / TAVERN_TOKEN_FILE: it must hold the daemon's admin.tokenFile token)`)
    this.name = 'AdminAuthError'
  }
}

/** --admin / TAVERN_ADMIN_URL is not usable, or no token file goes with it. */
export class AdminTargetError extends TavernError {
  constructor(message: string) {
    super('TAVERN_ERR_ADMIN_TARGET', message)
    this.name = 'AdminTargetError'
  }
}

/** Socket errors that mean "no daemon there" rather than a failure of a running daemon. */
const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET'])

export function unixTransport(socketPath: string): AdminTransport {
  return {
    target: socketPath,
    request: (method, path, body, timeoutMs) => adminRequest(socketPath, method, path, body, timeoutMs),
    stream: (method, path, body, onLine) => adminStream(socketPath, method, path, body, onLine),
    download: socketPath,
  }
}

/** Parse and check an admin URL: http(s), a host, no credentials, query or fragment; a path prefix is kept. */
export function parseAdminUrl(raw: string): URL {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new AdminTargetError(`--admin ${JSON.stringify(raw)} is not a URL (expected e.g. http://127.0.0.1:9091)`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new AdminTargetError(`--admin ${raw}: only http:// and https:// admin URLs are supported`)
  if (u.username || u.password) throw new AdminTargetError(`--admin ${raw}: put the token in --token-file, not in the URL`)
  if (u.search || u.hash) throw new AdminTargetError(`--admin ${raw}: a query or fragment has no meaning here`)
  return u
}

interface HttpTarget {
  url: URL
  token: string
  /** Extra CA certificates for https:// (default: the system's). */
  ca?: string
}

function requestOptions(t: HttpTarget, method: string, path: string, payload: string | undefined): http.RequestOptions {
  const prefix = t.url.pathname.replace(/\/+$/, '')
  return {
    protocol: t.url.protocol,
    hostname: t.url.hostname.replace(/^\[|\]$/g, ''),
    port: t.url.port || (t.url.protocol === 'https:' ? 443 : 80),
    method,
    path: prefix + path,
    headers: {
      authorization: `Bearer ${t.token}`,
      ...(payload ? {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)} : {}),
    },
    agent: false,
    ...(t.ca ? {ca: t.ca} : {}),
  }
}

function send(t: HttpTarget, opts: http.RequestOptions, onResponse: (res: http.IncomingMessage) => void, reject: (e: Error) => void): http.ClientRequest {
  const lib = t.url.protocol === 'https:' ? https : http
  const req = lib.request(opts, (res) => {
    if (res.statusCode === 401) {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c.slice(0, 1000)))
      res.on('end', () => {
        let reason = 'not authorized (401)'
        try {
          reason = `${(JSON.parse(text) as {error?: {message?: string}}).error?.message ?? 'not authorized'} (401)`
        } catch {
          // not our JSON: keep the generic reason
        }
        reject(new AdminAuthError(t.url.href, reason))
      })
      res.on('error', reject)
      return
    }
    onResponse(res)
  })
  req.on('error', (err: NodeJS.ErrnoException) => {
    if (UNREACHABLE.has(err.code ?? '')) reject(new DaemonUnreachableError(t.url.href, err))
    else reject(err)
  })
  return req
}

export function httpTransport(t: HttpTarget): AdminTransport {
  return {
    target: t.url.href,
    download: {
      label: t.url.href,
      request: ({method, path, headers}) => {
        const base = requestOptions(t, method, path, undefined)
        const lib = t.url.protocol === 'https:' ? https : http
        return lib.request({...base, headers: {...base.headers, ...headers}})
      },
    },
    request<T>(method: AdminMethod, path: string, body?: unknown, timeoutMs = 30_000): Promise<AdminReply<T>> {
      return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body)
        const req = send(
          t,
          requestOptions(t, method, path, payload),
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8')
              try {
                resolve({status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : null) as T})
              } catch {
                reject(new Error(`daemon answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`))
              }
            })
            res.on('error', reject)
          },
          reject,
        )
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`daemon did not answer within ${timeoutMs} ms`)))
        req.end(payload)
      })
    },
    stream(method, path, body, onLine) {
      let request: http.ClientRequest | undefined
      const done = new Promise<number>((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body)
        request = send(
          t,
          requestOptions(t, method, path, payload),
          (res) => {
            let buf = ''
            res.setEncoding('utf8')
            res.on('data', (c: string) => {
              buf += c
              let nl: number
              while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl).trim()
                buf = buf.slice(nl + 1)
                if (line) onLine(JSON.parse(line))
              }
            })
            res.on('end', () => {
              if (buf.trim()) onLine(JSON.parse(buf))
              resolve(res.statusCode ?? 0)
            })
            res.on('error', reject)
          },
          reject,
        )
        request.end(payload)
      })
      return {done, cancel: () => request?.destroy()}
    },
  }
}

export interface AdminTargetFlags {
  /** --admin URL */
  admin?: string
  /** --token-file FILE */
  tokenFile?: string
  /** --admin-ca FILE: extra CA for an https:// admin URL. */
  caFile?: string
}

/**
 * --admin (else TAVERN_ADMIN_URL) → HTTP with the token of --token-file (else TAVERN_TOKEN_FILE), checked like the
 * daemon checks its own (owner-only regular file); otherwise the Unix socket that `socket()` resolves.
 */
export async function resolveAdminTransport(flags: AdminTargetFlags, socket: () => Promise<string>, env: NodeJS.ProcessEnv = process.env): Promise<AdminTransport> {
  const raw = flags.admin ?? (env.TAVERN_ADMIN_URL || undefined)
  if (raw === undefined) return unixTransport(await socket())
  const url = parseAdminUrl(raw)
  const tokenFile = flags.tokenFile ?? (env.TAVERN_TOKEN_FILE || undefined)
  if (tokenFile === undefined) throw new AdminTargetError(`--admin ${url.href} needs --token-file FILE (or TAVERN_TOKEN_FILE): the file holding the daemon's admin token`)
  let token: string
  try {
    token = await readAdminToken(tokenFile)
  } catch (error) {
    if (error instanceof TokenFileError) throw new AdminTargetError(error.message)
    throw error
  }
  let ca: string | undefined
  if (flags.caFile) {
    const {readFile} = await import('node:fs/promises')
    ca = await readFile(flags.caFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new AdminTargetError(`cannot read --admin-ca ${flags.caFile}: ${e.code ?? e.message}`)
    })
  }
  return httpTransport({url, token, ca})
}
